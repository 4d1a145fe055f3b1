/**
 * Starts and stops the real pieces of the order path for the order-roundtrip and tick-to-order
 * benches: a private redis-server, and each service as its own child process
 * (bench/support/order-path-node.ts), as `triquant up` runs them. Everything started here is
 * stopped (and SIGKILLed if it does not stop) and the temp directory removed, even on failure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { latencySummary } from '../harness.ts';
import { RedisTestServer } from '../../test/support/redis-server.ts';
import { forkChildNode, processCpuSeconds, type ChildNode } from './child-node.ts';
import type { NodeRole, NodeSettings } from './order-path-node.ts';

export { processCpuSeconds } from './child-node.ts';

const NODE_FILE = fileURLToPath(new URL('./order-path-node.ts', import.meta.url));

export interface ComponentNode extends Omit<ChildNode<NodeRole>, 'collect'> {
  /** The data the child collected. */
  collect<T>(): Promise<T>;
}

async function startNode(settings: NodeSettings): Promise<ComponentNode> {
  const node = await forkChildNode(NODE_FILE, 'TRIQUANT_BENCH_NODE', settings);
  return { ...node, collect: async <T>() => (await node.collect<{ data: T }>()).data };
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
