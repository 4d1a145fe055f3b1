/**
 * `triquant bench tick-to-order`: from the simulator emitting a tick to the simulator
 * receiving the order it caused — feed → gateway → Redis → strategy → gRPC → risk/OMS/journal
 * → FIX → simulator — under a steady background load of market data.
 *
 * Which ran where (2 cores shared by all; each service its own process, as `triquant up`):
 * - child `venue`: the simulator in load mode (continuous trading, TRIQUANT_BENCH_T2O_LOAD
 *   synthetic orders per second, default 10,000: about as many ticks per second over the 10
 *   symbols), its feed server and FIX acceptor; the flow is generated and published every
 *   TRIQUANT_BENCH_T2O_STEP_MS (default 1 ms: a steady load of ~10 ticks per millisecond,
 *   not the simulator's default 10 ms step, whose bursts of ~100 ticks a tick would queue behind);
 * - child `gateway`: feed client → Redis Streams publisher;
 * - child `execution`: ExecutionService (risk, OMS, SQLite journal `sync: normal` or
 *   TRIQUANT_BENCH_SYNC=full, FIX broker, gRPC), reference prices tailed from Redis;
 * - child `strategy`: a StrategyInstance with a tiny strategy, fed by the real Redis group
 *   consumer (600036.SH only), sending through the real GrpcOrderChannel;
 * - a private redis-server; this process only orchestrates.
 *
 * The strategy buys 100 shares at the lower limit (the order rests: ACCEPTED) on the first
 * 600036.SH snapshot after each TRIQUANT_BENCH_T2O_INTERVAL_MS (default 50 ms: 20 orders a
 * second, so the rate limiter is not the measure), tagged with the snapshot's venue time.
 * Stamps (CLOCK_MONOTONIC µs, comparable between the processes; production code unchanged,
 * the bench wraps methods of the real objects):
 *   emit      venue: FeedServer.publishBatch called with the snapshot
 *   gw_recv   gateway: the feed client's batch callback
 *   gw_ack    gateway: the Redis flush (one script call) carrying it resolved
 *   read      strategy: the group consumer's next() returned the batch
 *   decide    strategy: onTick placed the order
 *   submit    strategy: GrpcOrderChannel.submit (before the batch's checkpoint commit)
 *   oms_in    execution: Oms.submit entered (gRPC decode and validation before it)
 *   fix_out   execution: the broker adapter's send of the NewOrderSingle returned (risk and
 *             journal done before it; journal time apart; the strategy's SENT report after it)
 *   arrive    venue: FixApplication.onNewOrderSingle
 * Result: p50/p99/p999 of arrive − emit, ticks_per_sec actually delivered (stored by the
 * gateway), the median / p99 of each hop, CPU per process, and each process's garbage
 * collection pauses in the window (`gc`: a pause stops that process's event loop, so the
 * longest ones show up in the tails; TRIQUANT_BENCH_NODE_FLAGS passes V8 flags to every child).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchDefinition } from './harness.ts';
import { monoMicros } from './support/order-path-node.ts';
import { cpuWindow, startOrderPathStack, summarize } from './support/order-path.ts';

const LOAD = Number(process.env.TRIQUANT_BENCH_T2O_LOAD ?? 10_000);
const INTERVAL_MS = Number(process.env.TRIQUANT_BENCH_T2O_INTERVAL_MS ?? 50);
const STEP_MS = Number(process.env.TRIQUANT_BENCH_T2O_STEP_MS ?? 1);
const SYNC = process.env.TRIQUANT_BENCH_SYNC === 'full' ? 'full' : 'normal';
const SYMBOL = '600036.SH';

type Counters = { counters: Record<string, number>; at: number };

function rate(before: Counters, after: Counters, key: string): number {
  return Math.round(((after.counters[key] ?? 0) - (before.counters[key] ?? 0)) / ((after.at - before.at) / 1e6));
}

const bench: BenchDefinition = {
  name: 'tick-to-order',
  description: 'tick emitted by the simulator → the order it caused received by the simulator, at ~10,000 ticks/s: p50/p99/p999 µs, per-hop breakdown',
  defaultDurationMs: 10_000,
  async run(ctx) {
    const stack = await startOrderPathStack({ markSymbol: SYMBOL, loadOrdersPerSecond: LOAD, stepIntervalMs: STEP_MS, sync: SYNC });
    try {
      const strategy = await stack.add({ role: 'strategy', grpcTarget: stack.grpcTarget(), orderIntervalMs: INTERVAL_MS });
      await sleep(2_000); // warm-up
      const from = monoMicros();
      const venue0 = await stack.venue.counters();
      const gw0 = await stack.gateway.counters();
      const st0 = await strategy.counters();
      const ex0 = await stack.execution.counters();
      const cpu = cpuWindow(stack);
      await sleep(ctx.durationMs);
      const venue1 = await stack.venue.counters();
      const gw1 = await stack.gateway.counters();
      const st1 = await strategy.counters();
      const ex1 = await stack.execution.counters();
      const to = monoMicros();
      const cpuUsed = cpu();
      await sleep(1_000); // let the last orders arrive

      const v = await stack.venue.collect<{ emitted: Array<[number, number]>; arrivals: Array<[string, number]>; duplicateEventTimes: number }>();
      const g = await stack.gateway.collect<{ ticks: Array<[number, number, number]> }>();
      const s = await strategy.collect<{ sent: Array<[string, string, number, number, number]>; reports: Array<[string, number]> }>();
      const e = await stack.execution.collect<{ orders: Array<[string, string, string, number, number, number, number]> }>();
      const emitted = new Map(v.emitted);
      const arrived = new Map(v.arrivals);
      const gateway = new Map(g.ticks.map(([eventTime, recv, ack]) => [eventTime, { recv, ack }]));
      const exec = new Map(e.orders.map(([id, , venueId, omsIn, , journalUs, fixOut]) => [id, { venueId, omsIn, fixOut, journalUs }]));
      const hops: Record<string, number[]> = {
        feed_to_gateway: [], gateway_to_redis_ack: [], redis_to_strategy_read: [], strategy_read_to_decide: [], decide_to_grpc_submit: [],
        grpc_to_execution: [], execution_risk_journal_fix_write: [], of_which_journal: [], fix_to_sim: [],
      };
      const total: number[] = [];
      let incomplete = 0;
      for (const [clientOrderId, tag, read, decide, submit] of s.sent) {
        const eventTime = parseInt(tag, 36);
        const emit = emitted.get(eventTime);
        const gw = gateway.get(eventTime);
        const ex = exec.get(clientOrderId);
        const arrive = ex === undefined ? undefined : arrived.get(ex.venueId);
        if (emit === undefined || gw === undefined || ex === undefined || arrive === undefined) {
          incomplete++;
          continue;
        }
        if (emit < from || emit >= to) continue;
        total.push(arrive - emit);
        hops.feed_to_gateway!.push(gw.recv - emit);
        hops.gateway_to_redis_ack!.push(gw.ack - gw.recv);
        hops.redis_to_strategy_read!.push(read - gw.ack);
        hops.strategy_read_to_decide!.push(decide - read);
        hops.decide_to_grpc_submit!.push(submit - decide);
        hops.grpc_to_execution!.push(ex.omsIn - submit);
        hops.execution_risk_journal_fix_write!.push(ex.fixOut - ex.omsIn);
        hops.of_which_journal!.push(ex.journalUs);
        hops.fix_to_sim!.push(arrive - ex.fixOut);
      }
      if (total.length === 0) throw new Error(`no complete tick-to-order sample (strategy sent ${s.sent.length}, incomplete ${incomplete}, venue arrivals ${v.arrivals.length})`);
      const t = summarize(total);
      const breakdown = Object.fromEntries(Object.entries(hops).map(([name, samples]) => {
        const h = summarize(samples);
        return [name, { p50_us: h.p50, p99_us: h.p99, max_us: h.max }];
      }));
      const ticksPerSec = rate(gw0, gw1, 'ticksOut');
      ctx.progress({ phase: 'hops', breakdown });
      return {
        p50_us: t.p50,
        p99_us: t.p99,
        p999_us: t.p999,
        ticks_per_sec: ticksPerSec,
        max_us: t.max,
        orders: t.count,
        goal: 'p50 <= 200 us, p99 <= 1000 us at 10,000 ticks/s',
        venue_ticks_per_sec: rate(venue0, venue1, 'published'),
        gateway_ticks_in_per_sec: rate(gw0, gw1, 'ticksIn'),
        gateway_flushes_per_sec: rate(gw0, gw1, 'flushes'),
        strategy_ticks_per_sec: rate(st0, st1, 'ticks'),
        strategy_batches_per_sec: rate(st0, st1, 'batches'),
        sim_load_orders_per_sec: LOAD,
        order_interval_ms: INTERVAL_MS,
        sim_step_ms: STEP_MS,
        incomplete_samples: incomplete,
        duplicate_event_times: v.duplicateEventTimes,
        breakdown,
        journal_sync: SYNC,
        cpu: cpuUsed,
        gc: Object.fromEntries(([['venue', venue0, venue1], ['gateway', gw0, gw1], ['strategy', st0, st1], ['execution', ex0, ex1]] as const).map(([role, a, b]) => [role, {
          pauses: (b.counters.gcPauses ?? 0) - (a.counters.gcPauses ?? 0),
          pause_ms: Math.round(((b.counters.gcPauseUs ?? 0) - (a.counters.gcPauseUs ?? 0)) / 1000),
          minor_pauses: (b.counters.gcMinorPauses ?? 0) - (a.counters.gcMinorPauses ?? 0),
          minor_pause_ms: Math.round(((b.counters.gcMinorPauseUs ?? 0) - (a.counters.gcMinorPauseUs ?? 0)) / 1000),
          max_pause_us: b.counters.gcMaxPauseUs ?? 0,
        }])),
        where: {
          venue: 'child process: simulator (load mode) + feed server + FIX acceptor',
          gateway: 'child process: gateway',
          execution: `child process: ExecutionService (journal sync ${SYNC})`,
          strategy: 'child process: StrategyInstance + Redis group consumer + GrpcOrderChannel',
          redis: 'redis-server',
          bench: 'bench process: orchestration only',
        },
      };
    } finally {
      await stack.close();
    }
  },
};

export default bench;
