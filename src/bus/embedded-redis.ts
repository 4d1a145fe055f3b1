/**
 * A private redis-server for `triquant up` in paper mode (`redis.mode: embedded`): started on a
 * free loopback port with its data (append-only file) under `<dataDir>/redis`, so market data
 * and strategy checkpoints survive a restart of the whole system, and stopped with SIGTERM,
 * which makes Redis flush the AOF and exit cleanly.
 *
 * Hand-written because it is a process launcher, not infrastructure: no library starts a
 * system-installed redis-server for us.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { join, resolve } from 'node:path';
import { TriquantError } from '../core/errors.ts';

export const REDIS_INSTALL_HINT =
  'redis-server is not installed: install it with `sudo apt-get install redis-server` (Debian/Ubuntu) or `npm run provision`, or set redis.mode/redis.url to use an existing Redis';

export class EmbeddedRedisError extends TriquantError {
  constructor(message: string, cause?: unknown) {
    super('EMBEDDED_REDIS', message, cause === undefined ? undefined : { cause });
  }
}

export interface EmbeddedRedisOptions {
  /** Directory for the AOF and the log (created if missing). */
  dir: string;
  /** Default: a free port chosen by the OS. */
  port?: number;
  /** Default: `redis-server` on PATH (env REDIS_SERVER_BIN overrides). */
  binary?: string;
  /** How long to wait for PING → PONG (default 10 s). */
  startTimeoutMs?: number;
}

export function redisServerInstalled(binary = process.env.REDIS_SERVER_BIN ?? 'redis-server'): boolean {
  const r = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return r.status === 0 && /Redis server v=/.test(r.stdout);
}

/** A loopback TCP port that was free a moment ago (the OS picks it). */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

async function ping(port: number): Promise<boolean> {
  return new Promise((resolvePing) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let data = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolvePing(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (data.includes('\r\n')) done(data.startsWith('+PONG'));
    });
    socket.once('connect', () => socket.write('PING\r\n'));
  });
}

const PID_FILE = 'redis.pid';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops the redis-server named by a leftover pid file (only if it is one: /proc says so). */
async function stopStaleServer(pidFile: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  if (!Number.isSafeInteger(pid) || pid <= 1 || !alive(pid)) return;
  let command: string;
  try {
    command = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return; // no /proc: leave it alone rather than signal a stranger
  }
  if (!command.includes('redis-server')) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(pid); i++) await sleep(50);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

export class EmbeddedRedis {
  readonly dir: string;
  #port = 0;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #stderr = '';

  constructor(dir: string) {
    this.dir = resolve(dir);
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.#port}`;
  }

  /** Starts redis-server and resolves once it answers PING. */
  static async start(options: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
    const binary = options.binary ?? process.env.REDIS_SERVER_BIN ?? 'redis-server';
    if (!redisServerInstalled(binary)) throw new EmbeddedRedisError(REDIS_INSTALL_HINT);
    const redis = new EmbeddedRedis(options.dir);
    mkdirSync(redis.dir, { recursive: true });
    // A server left running by an owner that was killed (SIGKILL gives it no chance to stop
    // Redis) must not share this directory's append-only file with a new one.
    await stopStaleServer(join(redis.dir, PID_FILE));
    redis.#port = options.port ?? (await freeLoopbackPort());
    const args = [
      '--port', String(redis.#port),
      '--bind', '127.0.0.1',
      '--dir', redis.dir,
      '--appendonly', 'yes',
      '--appendfsync', 'everysec',
      '--save', '',
      '--logfile', 'redis.log',
      '--pidfile', join(redis.dir, PID_FILE),
      '--daemonize', 'no',
    ];
    // Its own process group, so a Ctrl-C at the terminal does not stop Redis before the
    // services that write to it have drained (the owner stops it last, with SIGTERM).
    const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    redis.#child = child;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      redis.#stderr = (redis.#stderr + chunk).slice(-4_000);
    });
    redis.#exited = new Promise((done) => child.once('exit', () => done()));
    let exitedEarly = false;
    void redis.#exited.then(() => (exitedEarly = true));
    const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
    while (Date.now() < deadline) {
      if (exitedEarly) {
        throw new EmbeddedRedisError(`redis-server exited at start (port ${redis.#port}, dir ${redis.dir}); see ${redis.dir}/redis.log. ${redis.#stderr.trim()}`);
      }
      if (await ping(redis.#port)) return redis;
      await sleep(50);
    }
    child.kill('SIGKILL');
    throw new EmbeddedRedisError(`redis-server did not answer PING on port ${redis.#port} within ${options.startTimeoutMs ?? 10_000} ms`);
  }

  /** SIGTERM (Redis flushes its AOF and exits); SIGKILL after `graceMs`. Idempotent. */
  async stop(graceMs = 5_000): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }
}
