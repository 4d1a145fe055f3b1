/**
 * Real redis-server processes for integration tests: each on a free 127.0.0.1 port in its own
 * temporary directory, without RDB snapshots, with AOF only when asked. `kill()` is SIGKILL
 * (a crash), `restart()` starts it again on the same port and directory (so an AOF survives).
 * Also a Sentinel (`startSentinel`) and a small Redis Cluster of masters (`RedisTestCluster`).
 * Every process started here is SIGKILLed when the test process exits, whatever happens.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_SERVER_BIN = process.env.REDIS_SERVER_BIN ?? 'redis-server';
export const REDIS_CLI_BIN = process.env.REDIS_CLI_BIN ?? 'redis-cli';

/** True when redis-server can be run here (tests skip otherwise, saying why). */
export function redisServerAvailable(): boolean {
  const r = spawnSync(REDIS_SERVER_BIN, ['--version'], { encoding: 'utf8' });
  return r.status === 0 && /Redis server v=/.test(r.stdout);
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** A port that was free a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Sends one inline command and returns the first reply line (e.g. "+PONG", "-LOADING …"). */
export async function rawCommand(port: number, command: string, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no reply from 127.0.0.1:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('data', (chunk: string) => {
      data += chunk;
      const end = data.indexOf('\r\n');
      if (end >= 0) {
        clearTimeout(timer);
        socket.destroy();
        resolve(data.slice(0, end));
      }
    });
    socket.once('connect', () => socket.write(`${command}\r\n`));
  });
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

export interface RedisServerOptions {
  /** Default: a free port. */
  port?: number;
  /** Append-only file (default false). With `appendfsync everysec` (the default) every write acknowledged before a SIGKILL survives it. */
  appendonly?: boolean;
  appendfsync?: 'always' | 'everysec' | 'no';
  /** Redis Cluster node (cluster-enabled yes). */
  cluster?: boolean;
  /** Run as a Sentinel monitoring `master` (quorum 1) instead of a data server. */
  sentinel?: { master: { host: string; port: number }; masterName: string };
  /** Extra `--name value` arguments. */
  args?: string[];
  /** How long to wait for the server to answer PING (default 10 s). */
  startTimeoutMs?: number;
}

export class RedisTestServer {
  readonly dir: string;
  readonly options: RedisServerOptions;
  port: number;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private output = '';

  private constructor(options: RedisServerOptions, port: number, dir: string) {
    this.options = options;
    this.port = port;
    this.dir = dir;
  }

  /** Starts a server (retrying on another free port if the chosen one was taken meanwhile). */
  static async start(options: RedisServerOptions = {}): Promise<RedisTestServer> {
    const dir = mkdtempSync(join(tmpdir(), 'tq-redis-'));
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const server = new RedisTestServer(options, options.port ?? (await freePort()), dir);
      try {
        await server.launch();
        return server;
      } catch (error) {
        lastError = error;
        await server.kill();
        if (options.port !== undefined) break;
      }
    }
    rmSync(dir, { recursive: true, force: true });
    throw lastError;
  }

  get host(): string {
    return '127.0.0.1';
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** SIGKILL: no shutdown, no final fsync (a crash). Resolves once the process is gone. */
  async kill(): Promise<void> {
    if (!this.child) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Starts again on the same port and directory (an AOF, if any, is loaded). */
  async restart(): Promise<void> {
    await this.kill();
    const deadline = Date.now() + 5_000;
    for (;;) {
      try {
        await this.launch();
        return;
      } catch (error) {
        // The port may need a moment after a kill; anything else is fatal.
        if (Date.now() > deadline) throw error;
        await sleep(100);
      }
    }
  }

  /** Stops the server (SIGTERM, SIGKILL after 2 s) and removes its directory. */
  async stop(): Promise<void> {
    if (this.child) {
      const child = this.child;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** One command through redis-cli (for tests' own checks); returns stdout. */
  cli(...args: string[]): string {
    const r = spawnSync(REDIS_CLI_BIN, ['-h', '127.0.0.1', '-p', String(this.port), ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`redis-cli ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout.trim();
  }

  private async launch(): Promise<void> {
    const o = this.options;
    if (o.sentinel) {
      const conf = join(this.dir, 'sentinel.conf');
      const { master, masterName } = o.sentinel;
      if (!existsSync(conf)) {
        writeFileSync(
          conf,
          [
            `port ${this.port}`,
            'bind 127.0.0.1',
            'protected-mode no',
            `dir ${this.dir}`,
            `sentinel monitor ${masterName} ${master.host} ${master.port} 1`,
            `sentinel down-after-milliseconds ${masterName} 1000`,
            `sentinel failover-timeout ${masterName} 5000`,
            '',
          ].join('\n'),
        );
      }
      await this.spawnAndWait(REDIS_SERVER_BIN, [conf, '--sentinel']);
      return;
    }
    const args = [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      '--save', '',
      '--appendonly', o.appendonly ? 'yes' : 'no',
      '--appendfsync', o.appendfsync ?? 'everysec',
      '--protected-mode', 'no',
      '--daemonize', 'no',
      '--logfile', '',
      '--loglevel', 'warning',
      ...(o.cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', join(this.dir, 'nodes.conf'), '--cluster-node-timeout', '2000'] : []),
      ...(o.args ?? []),
    ];
    await this.spawnAndWait(REDIS_SERVER_BIN, args);
  }

  /** Spawns `bin args`, waits until the port answers PING with PONG (not LOADING). */
  private async spawnAndWait(bin: string, args: string[]): Promise<void> {
    this.output = '';
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(child);
    let exitCode: number | null | undefined;
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code) => {
        exitCode = code;
        live.delete(child);
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
    const keep = (chunk: Buffer) => {
      if (this.output.length < 20_000) this.output += chunk.toString('utf8');
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const deadline = Date.now() + (this.options.startTimeoutMs ?? 10_000);
    for (;;) {
      if (exitCode !== undefined) throw new Error(`${bin} exited (${exitCode}) on port ${this.port}: ${this.output.trim().slice(-2_000)}`);
      try {
        if ((await rawCommand(this.port, 'PING', 500)) === '+PONG') return;
      } catch {
        // Not listening yet.
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`${bin} did not answer PING on port ${this.port}: ${this.output.trim().slice(-2_000)}`);
      }
      await sleep(20);
    }
  }
}

/** Starts a Sentinel watching one master (quorum 1). Failover is possible but not needed by the tests. */
export async function startSentinel(master: { host: string; port: number }, masterName = 'mymaster'): Promise<RedisTestServer> {
  return RedisTestServer.start({ sentinel: { master, masterName } });
}

/** A Redis Cluster of `masters` nodes (no replicas), slots spread by `redis-cli --cluster create`. */
export class RedisTestCluster {
  readonly nodes: RedisTestServer[];

  private constructor(nodes: RedisTestServer[]) {
    this.nodes = nodes;
  }

  static async start(masters = 3): Promise<RedisTestCluster> {
    const nodes: RedisTestServer[] = [];
    try {
      for (let i = 0; i < masters; i++) nodes.push(await RedisTestServer.start({ cluster: true }));
      const create = spawnSync(
        REDIS_CLI_BIN,
        ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
        { encoding: 'utf8', timeout: 30_000 },
      );
      if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}\n${create.stderr}`);
      const deadline = Date.now() + 15_000;
      for (;;) {
        const ok = nodes.every((n) => /cluster_state:ok/.test(n.cli('cluster', 'info')));
        if (ok) break;
        if (Date.now() > deadline) throw new Error('the test cluster did not reach cluster_state:ok');
        await sleep(100);
      }
      return new RedisTestCluster(nodes);
    } catch (error) {
      await Promise.all(nodes.map((n) => n.stop()));
      throw error;
    }
  }

  get seeds(): { host: string; port: number }[] {
    return this.nodes.map((n) => ({ host: n.host, port: n.port }));
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }
}
