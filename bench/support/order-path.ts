/**
 * Starts and stops the real pieces of the order path for the order-roundtrip and tick-to-order
 * benches: a private redis-server, and each service as its own child process
 * (bench/support/order-path-node.ts), as `triquant up` runs them. Everything started here is
 * stopped (and SIGKILLed if it does not stop) and the temp directory removed, even on failure.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { latencySummary } from '../harness.ts';
import { RedisTestServer } from '../../test/support/redis-server.ts';
import type { NodeRole, NodeSettings } from './order-path-node.ts';

const NODE_FILE = fileURLToPath(new URL('./order-path-node.ts', import.meta.url));

export interface ComponentNode {
  readonly role: NodeRole;
  readonly child: ChildProcess;
  readonly info: Record<string, unknown>;
  counters(): Promise<{ counters: Record<string, number>; at: number }>;
  collect<T>(): Promise<T>;
  stop(): Promise<void>;
  /** utime + stime of the process so far, seconds (Linux /proc). */
  cpuSeconds(): number;
}

/** utime + stime of a process in seconds (Linux /proc; 0 where unavailable). */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

function request<T>(child: ChildProcess, message: { type: string }, answer: string, timeoutMs = 15_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`no ${answer} from the child within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (m: { type: string }) => {
      if (m.type !== answer) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(m as T);
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

async function startNode(settings: NodeSettings): Promise<ComponentNode> {
  const child = fork(NODE_FILE, [], {
    execPath: process.execPath,
    // TRIQUANT_BENCH_PROF=<role>[,<role>]: a V8 CPU profile of those children in TRIQUANT_BENCH_PROF_DIR (default /tmp).
    execArgv: (process.env.TRIQUANT_BENCH_PROF ?? '').split(',').includes(settings.role)
      ? ['--cpu-prof', '--cpu-prof-dir', process.env.TRIQUANT_BENCH_PROF_DIR ?? tmpdir()]
      : [],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, TRIQUANT_BENCH_NODE: JSON.stringify(settings) },
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
  const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${settings.role} did not start within 30 s: ${stderr}`)), 30_000);
    child.once('message', (m: { type: string; info: Record<string, unknown> }) => {
      clearTimeout(timer);
      if (m.type === 'ready') resolve(m.info);
      else reject(new Error(`${settings.role}: unexpected first message ${m.type}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${settings.role} exited with ${code} before it was ready: ${stderr}`));
    });
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  let stopped: Promise<void> | undefined;
  return {
    role: settings.role,
    child,
    info,
    counters: () => request(child, { type: 'counters' }, 'counters'),
    collect: async <T>() => (await request<{ data: T }>(child, { type: 'collect' }, 'collected', 30_000)).data,
    cpuSeconds: () => processCpuSeconds(child.pid),
    stop: () => {
      stopped ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 8_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        if (child.connected) child.send({ type: 'stop' });
        else child.kill('SIGKILL');
      });
      return stopped;
    },
  };
}

export interface OrderPathStack {
  readonly redis: RedisTestServer;
  readonly dir: string;
  readonly nodes: ComponentNode[];
  readonly venue: ComponentNode;
  readonly gateway: ComponentNode;
  readonly execution: ComponentNode;
  grpcTarget(): string;
  add(settings: Omit<NodeSettings, 'redisUrl' | 'keyPrefix' | 'markSymbol'>): Promise<ComponentNode>;
  close(): Promise<void>;
}

export interface StackOptions {
  markSymbol: string;
  loadOrdersPerSecond?: number;
  arrivalsPerSecond?: number;
  stepIntervalMs?: number;
  sync: 'normal' | 'full';
}

/** Redis, then venue → gateway → execution (each a child process, in start order). */
export async function startOrderPathStack(options: StackOptions): Promise<OrderPathStack> {
  const redis = await RedisTestServer.start();
  const dir = mkdtempSync(join(tmpdir(), 'tq-bench-order-path-'));
  const keyPrefix = `bench${process.pid}`;
  const nodes: ComponentNode[] = [];
  const common = { redisUrl: redis.url, keyPrefix, markSymbol: options.markSymbol };
  const add = async (settings: Omit<NodeSettings, 'redisUrl' | 'keyPrefix' | 'markSymbol'>) => {
    const node = await startNode({ ...common, ...settings });
    nodes.push(node);
    return node;
  };
  const close = async () => {
    // Reverse start order: clients before the services they talk to.
    for (const node of [...nodes].reverse()) await node.stop().catch(() => undefined);
    await redis.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  const killAll = () => {
    for (const node of nodes) node.child.kill('SIGKILL');
  };
  process.once('exit', killAll);
  try {
    const venue = await add({
      role: 'venue',
      ...(options.loadOrdersPerSecond ? { loadOrdersPerSecond: options.loadOrdersPerSecond } : {}),
      ...(options.arrivalsPerSecond ? { arrivalsPerSecond: options.arrivalsPerSecond } : {}),
      ...(options.stepIntervalMs ? { stepIntervalMs: options.stepIntervalMs } : {}),
    });
    const gateway = await add({ role: 'gateway', feedPort: venue.info.feedPort as number });
    const execution = await add({ role: 'execution', dataDir: join(dir, 'data'), fixPort: venue.info.fixPort as number, sync: options.sync });
    return {
      redis, dir, nodes, venue, gateway, execution, add,
      grpcTarget: () => `127.0.0.1:${execution.info.grpcPort as number}`,
      close: async () => {
        await close();
        process.off('exit', killAll);
      },
    };
  } catch (error) {
    await close();
    process.off('exit', killAll);
    throw error;
  }
}

/** CPU (cores = CPU seconds per wall second) of each child and of redis-server over a window. */
export function cpuWindow(stack: OrderPathStack): () => Record<string, number> {
  const started = performance.now();
  const before = new Map(stack.nodes.map((n) => [n.role, n.cpuSeconds()]));
  const redisBefore = processCpuSeconds(stack.redis.pid);
  const selfBefore = process.cpuUsage();
  return () => {
    const seconds = (performance.now() - started) / 1000;
    const out: Record<string, number> = {};
    for (const n of stack.nodes) out[`${n.role}_cores`] = Number(((n.cpuSeconds() - (before.get(n.role) ?? 0)) / seconds).toFixed(2));
    out.redis_cores = Number(((processCpuSeconds(stack.redis.pid) - redisBefore) / seconds).toFixed(2));
    const self = process.cpuUsage(selfBefore);
    out.bench_process_cores = Number(((self.user + self.system) / 1e6 / seconds).toFixed(2));
    return out;
  };
}

/** p50/p99/p999/max of µs samples, rounded. */
export function summarize(samples: number[]): { p50: number; p99: number; p999: number; max: number; count: number } {
  const l = latencySummary(samples);
  return { p50: Math.round(l.p50), p99: Math.round(l.p99), p999: Math.round(l.p999), max: Math.round(l.max), count: l.count };
}
