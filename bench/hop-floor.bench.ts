/**
 * `triquant bench hop-floor`: the machine's floor for the tick-to-order topology — the same
 * processes and the same hops as `bench tick-to-order`, doing no application work, so that
 * tick-to-order's latency can be split into "the machine" (process wake-ups, loopback TCP, a
 * real redis-server hop) and "ours" (libraries, decoding, risk, journal, batching choices).
 *
 * No libraries on purpose: plain `node:net` sockets, a hand-written length-prefixed binary
 * frame and minimal hand-written RESP (no ioredis, no gRPC, no FIX) — see
 * bench/support/hop-floor-node.ts. Each role is its own OS process, as under `triquant up`:
 * - child `venue`: every 1 ms, one write to the gateway of the messages due at
 *   TRIQUANT_BENCH_FLOOR_RATE messages/s (default 10,000: ~10 a burst, 100–300 bytes each,
 *   each with an id); after each TRIQUANT_BENCH_FLOOR_MARK_MS (default 50) the last message of
 *   the burst is "marked" and its emit time kept. Also accepts execution's order connection.
 * - child `gateway`: per feed read, ONE `XADD <key> MAXLEN ~ 10000 * d <the read's complete
 *   messages>` (per read rather than per message, as our gateway batches), pipelined: the next
 *   write does not wait for earlier replies, which are consumed in order.
 * - child `strategy`: `XREAD BLOCK 0 STREAMS <key> $`, then from the last id seen; for each
 *   marked message read, a 150-byte order to execution over TCP.
 * - child `execution`: forwards each order to the venue as a 200-byte message over TCP.
 * - a private redis-server (test/support/redis-server.ts); this process only orchestrates.
 * Every socket has TCP_NODELAY; no timer is faster than 1 ms.
 *
 * Two modes:
 * - TRIQUANT_BENCH_FLOOR_RATE=10000 (default): the floor under tick-to-order's background load.
 * - TRIQUANT_BENCH_FLOOR_RATE=0: only the marked messages (one per mark interval), so every
 *   process is asleep in epoll when one arrives: the idle wake-up floor.
 *
 * Stamps: CLOCK_MONOTONIC µs (`process.hrtime`), one clock for all processes. Latency = the
 * venue receiving the order − the venue writing the marked message; hops (they add up to it):
 * feed_to_gateway (venue write → gateway read), gateway_to_strategy_read (gateway read → XADD
 * → redis → the strategy's XREAD reply parsed), strategy_to_execution (→ execution read),
 * execution_to_venue (→ venue read). `in_process` gives the non-additive extras.
 */
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchDefinition } from './harness.ts';
import { summarize } from './support/order-path.ts';
import { forkChildNode, monoMicros, processCpuSeconds, type ChildNode, type CountersMessage } from './support/child-node.ts';
import type { FloorRole, FloorSettings } from './support/hop-floor-node.ts';
import { RedisTestServer } from '../test/support/redis-server.ts';

const NODE_FILE = fileURLToPath(new URL('./support/hop-floor-node.ts', import.meta.url));

/** Every answer of a hop-floor child also names the connections that broke. */
type Counters = CountersMessage & { broken: string[] };
type Stamps = Array<[number, number, number]>;

interface FloorNode extends Omit<ChildNode<FloorRole>, 'counters' | 'collect'> {
  counters(): Promise<Counters>;
  collect<T>(): Promise<{ data: T; broken: string[] }>;
}

async function startNode(settings: FloorSettings): Promise<FloorNode> {
  const node = await forkChildNode(NODE_FILE, 'TRIQUANT_BENCH_FLOOR_NODE', settings, { killAfterMs: 5_000 });
  return { ...node, counters: () => node.counters<Counters>(), collect: <T>() => node.collect<{ data: T; broken: string[] }>() };
}

/** CPU (cores = CPU seconds per wall second) of each child, redis-server and this process over a window. */
function cpuWindow(nodes: readonly FloorNode[], redisPid: number | undefined): () => Record<string, number> {
  const started = performance.now();
  const before = new Map(nodes.map((n) => [n.role, n.cpuSeconds()]));
  const redisBefore = processCpuSeconds(redisPid);
  const selfBefore = process.cpuUsage();
  return () => {
    const seconds = (performance.now() - started) / 1000;
    const cores = (used: number) => Number((used / seconds).toFixed(2));
    const out: Record<string, number> = {};
    for (const n of nodes) out[`${n.role}_cores`] = cores(n.cpuSeconds() - (before.get(n.role) ?? 0));
    out.redis_cores = cores(processCpuSeconds(redisPid) - redisBefore);
    const self = process.cpuUsage(selfBefore);
    out.bench_process_cores = cores((self.user + self.system) / 1e6);
    return out;
  };
}

function perSecond(before: Counters, after: Counters, key: string): number {
  return Math.round(((after.counters[key] ?? 0) - (before.counters[key] ?? 0)) / ((after.at - before.at) / 1e6));
}

function envCount(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got "${raw}"`);
  return value;
}

const bench: BenchDefinition = {
  name: 'hop-floor',
  description: 'the machine floor of tick-to-order: same processes and hops (TCP, real redis XADD/XREAD) with no application work: p50/p99 µs, per-hop',
  defaultDurationMs: 10_000,
  async run(ctx) {
    const rate = envCount('TRIQUANT_BENCH_FLOOR_RATE', 10_000);
    const markMs = envCount('TRIQUANT_BENCH_FLOOR_MARK_MS', 50);
    if (markMs < 1) throw new Error('TRIQUANT_BENCH_FLOOR_MARK_MS must be at least 1');
    const redis = await RedisTestServer.start();
    const nodes: FloorNode[] = [];
    const killAll = () => {
      for (const node of nodes) node.child.kill('SIGKILL');
    };
    process.once('exit', killAll);
    try {
      const streamKey = `floor:${process.pid}`;
      const add = async (settings: FloorSettings) => {
        const node = await startNode(settings);
        nodes.push(node);
        return node;
      };
      // Start order: the venue emits once the gateway (last) connects, so everything is listening by then.
      const venue = await add({ role: 'venue', ratePerSecond: rate, markIntervalMs: markMs });
      const execution = await add({ role: 'execution', venueOrderPort: venue.info.orderPort as number });
      const strategy = await add({ role: 'strategy', redisPort: redis.port, streamKey, executionPort: execution.info.port as number });
      const gateway = await add({ role: 'gateway', redisPort: redis.port, streamKey, feedPort: venue.info.feedPort as number });
      await sleep(1_000); // warm-up

      const from = monoMicros();
      const v0 = await venue.counters();
      const g0 = await gateway.counters();
      const s0 = await strategy.counters();
      const cpu = cpuWindow(nodes, redis.pid);
      await sleep(ctx.durationMs);
      const v1 = await venue.counters();
      const g1 = await gateway.counters();
      const s1 = await strategy.counters();
      const to = monoMicros();
      const cpuUsed = cpu();
      await sleep(500); // let the last orders arrive

      const v = await venue.collect<{ emitted: Array<[number, number]>; arrivals: Array<[number, number]> }>();
      const g = await gateway.collect<{ stamps: Stamps; firstError: string }>();
      const s = await strategy.collect<{ stamps: Stamps }>();
      const e = await execution.collect<{ stamps: Stamps }>();
      const broken = [...v.broken, ...g.broken, ...s.broken, ...e.broken];
      if (broken.length > 0) throw new Error(`a connection broke during the run: ${broken.join('; ')}`);
      if (g.data.firstError) throw new Error(`redis refused an XADD: ${g.data.firstError}`);

      const arrived = new Map(v.data.arrivals);
      const atGateway = new Map(g.data.stamps.map(([id, recv, ack]) => [id, { recv, ack }]));
      const atStrategy = new Map(s.data.stamps.map(([id, read, sent]) => [id, { read, sent }]));
      const atExecution = new Map(e.data.stamps.map(([id, recv, sent]) => [id, { recv, sent }]));
      const hops: Record<string, number[]> = { feed_to_gateway: [], gateway_to_strategy_read: [], strategy_to_execution: [], execution_to_venue: [] };
      const inProcess: Record<string, number[]> = { gateway_xadd_round_trip: [], strategy_read_to_order_written: [], execution_read_to_forward_written: [] };
      const total: number[] = [];
      let incomplete = 0;
      for (const [id, emit] of v.data.emitted) {
        if (emit < from || emit >= to) continue;
        const gw = atGateway.get(id);
        const st = atStrategy.get(id);
        const ex = atExecution.get(id);
        const arrive = arrived.get(id);
        if (gw === undefined || st === undefined || ex === undefined || arrive === undefined) {
          incomplete++;
          continue;
        }
        total.push(arrive - emit);
        hops.feed_to_gateway!.push(gw.recv - emit);
        hops.gateway_to_strategy_read!.push(st.read - gw.recv);
        hops.strategy_to_execution!.push(ex.recv - st.read);
        hops.execution_to_venue!.push(arrive - ex.recv);
        inProcess.gateway_xadd_round_trip!.push(gw.ack - gw.recv);
        inProcess.strategy_read_to_order_written!.push(st.sent - st.read);
        inProcess.execution_read_to_forward_written!.push(ex.sent - ex.recv);
      }
      if (total.length === 0) throw new Error(`no complete sample (venue marked ${v.data.emitted.length}, arrivals ${v.data.arrivals.length}, incomplete ${incomplete})`);
      const breakdown = (groups: Record<string, number[]>) => Object.fromEntries(Object.entries(groups).map(([name, samples]) => {
        const h = summarize(samples);
        return [name, { p50_us: h.p50, p99_us: h.p99, max_us: h.max }];
      }));
      const t = summarize(total);
      const xreadReplies = (s1.counters.reads ?? 0) - (s0.counters.reads ?? 0);
      const entriesRead = (s1.counters.entries ?? 0) - (s0.counters.entries ?? 0);
      const result = {
        p50_us: t.p50,
        p99_us: t.p99,
        p999_us: t.p999,
        max_us: t.max,
        samples: t.count,
        messages_per_sec: perSecond(s0, s1, 'messages'),
        rate_per_sec: rate,
        mark_interval_ms: markMs,
        hops: breakdown(hops),
        in_process: breakdown(inProcess),
        venue_messages_per_sec: perSecond(v0, v1, 'messages'),
        venue_writes_per_sec: perSecond(v0, v1, 'bursts'),
        gateway_messages_acked_per_sec: perSecond(g0, g1, 'messagesAcked'),
        gateway_xadds_per_sec: perSecond(g0, g1, 'xadds'),
        strategy_xread_replies_per_sec: perSecond(s0, s1, 'reads'),
        strategy_entries_per_xread: xreadReplies > 0 ? Number((entriesRead / xreadReplies).toFixed(2)) : 0,
        incomplete_samples: incomplete,
        cpu: cpuUsed,
        compare_with: 'bench tick-to-order (goal p50 <= 200 us, p99 <= 1000 us at 10,000 ticks/s)',
        where: {
          venue: `child process: node:net, one write per 1 ms burst (${rate === 0 ? `marked messages only, one per ${markMs} ms` : `${rate} messages/s`})`,
          gateway: 'child process: node:net feed reader, one pipelined XADD per read, hand-written RESP',
          redis: 'redis-server (private, no persistence)',
          strategy: 'child process: hand-written RESP XREAD BLOCK 0 loop, order over node:net',
          execution: 'child process: node:net forwarder',
          bench: 'bench process: orchestration only',
        },
      };
      ctx.progress({ phase: 'hops', hops: result.hops, in_process: result.in_process });
      return result;
    } finally {
      // Reverse start order: clients before the services they talk to.
      for (const node of [...nodes].reverse()) await node.stop().catch(() => undefined);
      await redis.stop().catch(() => undefined);
      process.off('exit', killAll);
    }
  },
};

export default bench;
