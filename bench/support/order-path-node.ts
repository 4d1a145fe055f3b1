/**
 * One component of the order-path benches (order-roundtrip, tick-to-order), run as its own OS
 * process, as `triquant up` runs the services: `venue` (the simulator with its feed server and
 * FIX acceptor), `gateway` (feed client → Redis Streams), `execution` (the ExecutionService:
 * risk, OMS, SQLite journal, FIX broker, gRPC) or `strategy` (a StrategyInstance fed by the
 * Redis group consumer, sending through GrpcOrderChannel).
 *
 * Production code is not changed: the bench wraps a few methods of the real objects to take
 * time stamps. Stamps are `process.hrtime` (CLOCK_MONOTONIC, the same clock in every process
 * on the machine) in microseconds, so hops measured in different processes can be subtracted.
 *
 * Protocol with the parent: bench/support/child-node.ts.
 */
import { mkdirSync } from 'node:fs';
import { TradingCalendar } from '../../src/core/calendar.ts';
import { LiveClock, MarketTimeClock } from '../../src/core/clock.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { silentLogger } from '../../src/obs/log.ts';
import { Registry } from '../../src/obs/metrics.ts';
import { RedisConnection } from '../../src/bus/redis-connection.ts';
import { createGroupConsumer } from '../../src/bus/group-consumer.ts';
import type { MarketDataBatch } from '../../src/bus/market-data-source.ts';
import { FEED_CHANNEL, Simulator } from '../../src/sim/simulator.ts';
import { buildUniverse } from '../../src/sim/universe.ts';
import { DEFAULT_ORDER_FLOW } from '../../src/sim/order-flow.ts';
import { FixAcceptor } from '../../src/sim/fix-acceptor.ts';
import { FixVenue } from '../../src/sim/fix-venue.ts';
import type { PublishableMessage } from '../../src/protocol/feed/codec.ts';
import { dataFrameEventTime } from '../../src/protocol/feed/codec.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import type { TickBatch } from '../../src/gateway/types.ts';
import { ExecutionService } from '../../src/execution/service.ts';
import type { SessionIdentity, SubmitOrderCommand } from '../../src/execution/ports.ts';
import { defineStrategy, param, z, type SubmitIntent } from '../../src/strategy/api.ts';
import { StrategyInstance } from '../../src/strategy/instance.ts';
import { GrpcOrderChannel } from '../../src/strategy/order-client.ts';
import { monoMicros, serveParent, type ChildHandlers } from './child-node.ts';

export type NodeRole = 'venue' | 'gateway' | 'execution' | 'strategy';

export interface NodeSettings {
  role: NodeRole;
  redisUrl: string;
  keyPrefix: string;
  /** The symbol whose snapshots are stamped and traded on (tick-to-order). */
  markSymbol: string;
  // venue
  loadOrdersPerSecond?: number;
  arrivalsPerSecond?: number;
  /** The simulator's step (ms): load-mode flow is generated and published once per step. */
  stepIntervalMs?: number;
  // gateway
  feedPort?: number;
  // execution
  dataDir?: string;
  fixPort?: number;
  sync?: 'normal' | 'full';
  account?: string;
  // strategy
  grpcTarget?: string;
  orderIntervalMs?: number;
}

export { monoMicros } from './child-node.ts';

export const BENCH_ACCOUNT = 'BENCH';
export const BENCH_TOKEN = 'bench-token';

/**
 * The configuration of the bench: defaults, with a BENCH account whose limits are raised so
 * the rate limiter is not what is measured (documented in docs/benchmarks.md), a large cash
 * balance and 1,000,000 settled shares of every symbol (so sells pass the sellable check).
 */
export function benchConfig(s: NodeSettings): Config {
  const base = loadConfig({ env: {} });
  const unlimited = {
    ...base.execution.risk.limits,
    maxOrdersPerSecond: 1_000_000, orderBurst: 1_000_000, maxDailyOrders: 1_000_000_000, dailyCancelReserve: 0,
    orderRateSpikePerSecond: 0, duplicateWindowMs: 0, maxOpenOrders: 1_000_000, maxPositionQty: 1_000_000_000,
    maxGrossExposure: 1e15, maxDailyLoss: 1e15, fastCancelAlertCount: 1_000_000_000, cancelRatioMinOrders: 1_000_000_000,
  };
  return {
    ...base,
    dataDir: s.dataDir ?? base.dataDir,
    logLevel: 'error',
    redis: { ...base.redis, mode: 'standalone', url: s.redisUrl, keyPrefix: s.keyPrefix },
    execution: {
      ...base.execution,
      strategies: [{ id: '*', token: BENCH_TOKEN, accounts: [BENCH_ACCOUNT] }],
      accounts: [{
        id: BENCH_ACCOUNT,
        cash: 1e14, // 10,000,000,000 CNY in 0.0001 units
        positions: buildUniverse().map((i) => ({ symbol: i.symbol, quantity: 1_000_000, avgCost: i.previousClose })),
        profile: { strategyType: 'bench', maxOrdersPerSecond: 1_000_000, maxDailyOrders: 1_000_000_000, softwareName: 'triquant', softwareVersion: 'bench', responsiblePerson: 'bench' },
      }],
      risk: { ...base.execution.risk, limits: unlimited },
      audit: { ...base.execution.audit, sync: s.sync ?? 'normal' },
      shutdownGraceMs: 1_000,
    },
  };
}

type Handlers = ChildHandlers;

async function startVenue(s: NodeSettings): Promise<{ info: Record<string, unknown>; handlers: Handlers }> {
  const clock = new LiveClock();
  const sim = new Simulator({
    clock, calendar: new TradingCalendar(), instruments: buildUniverse(), seed: 7, timeMode: { kind: 'continuous' },
    flow: { ...DEFAULT_ORDER_FLOW, arrivalsPerSecond: s.arrivalsPerSecond ?? DEFAULT_ORDER_FLOW.arrivalsPerSecond },
    ...(s.loadOrdersPerSecond ? { loadOrdersPerSecond: s.loadOrdersPerSecond } : {}),
    ...(s.stepIntervalMs ? { stepIntervalMs: s.stepIntervalMs } : {}),
  });
  const venue = new FixVenue(sim, clock, silentLogger);
  sim.setMemberEvents(venue.events);
  // Emission: the first publish of each snapshot of the marked symbol, by its venue time.
  const emitted = new Map<number, number>();
  let duplicateEventTimes = 0;
  let published = 0;
  const publishBatch = sim.feed.publishBatch.bind(sim.feed);
  sim.feed.publishBatch = (messages: readonly PublishableMessage[]): number => {
    const at = monoMicros();
    for (const m of messages) {
      if (m.type === 'snapshot' && m.symbol === s.markSymbol) {
        if (emitted.has(m.eventTime)) duplicateEventTimes++;
        else emitted.set(m.eventTime, at);
      }
    }
    published += messages.length;
    return publishBatch(messages);
  };
  const arrivals: Array<[string, number]> = [];
  venue.onOrderReceived = (order) => arrivals.push([order.clOrdId, monoMicros()]);
  const acceptor = new FixAcceptor({ application: venue, compId: 'SIM', sessions: [{ targetCompId: 'TRIQUANT' }], clock, logger: silentLogger, closeGraceMs: 300 });
  const { feedPort } = await sim.start(0, '127.0.0.1');
  const { port: fixPort } = await acceptor.start({ port: 0, host: '127.0.0.1' });
  return {
    info: { feedPort, fixPort },
    handlers: {
      counters: () => ({ published, memberOrders: sim.stats().memberOrders, trades: sim.stats().trades }),
      collect: () => ({ emitted: [...emitted], arrivals, duplicateEventTimes }),
      stop: async () => {
        await acceptor.close();
        await sim.close();
      },
    },
  };
}

async function startGateway(s: NodeSettings): Promise<{ info: Record<string, unknown>; handlers: Handlers }> {
  const config = benchConfig(s);
  const g = config.gateway;
  const connection = new RedisConnection({ mode: 'standalone', url: s.redisUrl, keyPrefix: s.keyPrefix });
  await connection.whenReady(5_000);
  const gateway = new Gateway({
    feeds: [{ name: 'sim', host: '127.0.0.1', port: s.feedPort!, channels: [FEED_CHANNEL.SSE, FEED_CHANNEL.SZSE] }],
    clientId: 'bench', startAt: 'live', connection, slotGroups: g.slotGroups, streamMaxLen: g.streamMaxLen, compression: g.compression,
    bufferMaxTicks: g.bufferMaxTicks, overflowPolicy: g.overflowPolicy, clock: new LiveClock(), registry: new Registry(), logger: silentLogger,
  });
  // Receive: the gateway's own callback from its feed clients (read before start() hands it out).
  const marked = new Map<number, { eventTime: number; receivedAt: number; ackedAt: number }>(); // by seq on the marked channel
  const bySeq: Array<[number, number, number]> = [];
  const gw = gateway as unknown as { receive: (batch: TickBatch) => void };
  const receive = gw.receive;
  gw.receive = (batch: TickBatch) => {
    const at = monoMicros();
    for (const frame of batch.frames ?? []) {
      if (frame.type === 'snapshot' && frame.symbol === s.markSymbol) marked.set(frame.seq, { eventTime: dataFrameEventTime(frame), receivedAt: at, ackedAt: 0 });
    }
    receive(batch);
  };
  // Redis acknowledgement: the publisher's flush (one MULTI/EXEC) resolving, per tick it carried.
  type Pending = { count: number; seqs: Float64Array; trades: Uint8Array; streams: Array<{ symbol: string }> };
  const pub = gateway.publisher as unknown as { write: (take: readonly Pending[]) => Promise<unknown> };
  const write = pub.write.bind(gateway.publisher);
  let flushes = 0;
  pub.write = async (take) => {
    const result = await write(take);
    const at = monoMicros();
    flushes++;
    for (const p of take) {
      for (let i = 0; i < p.count; i++) {
        if (p.trades[i] !== 0 || p.streams[i]?.symbol !== s.markSymbol) continue;
        const m = marked.get(p.seqs[i]!);
        if (m !== undefined && m.ackedAt === 0) {
          m.ackedAt = at;
          bySeq.push([m.eventTime, m.receivedAt, at]);
          marked.delete(p.seqs[i]!);
        }
      }
    }
    return result;
  };
  await gateway.start();
  return {
    info: {},
    handlers: {
      counters: () => {
        const st = gateway.stats();
        return { ticksIn: st.ticksIn, ticksOut: st.publisher.ticksOut, flushes, entriesOut: st.publisher.entriesOut, dropped: st.publisher.dropped };
      },
      collect: () => ({ ticks: bySeq }),
      stop: async () => {
        await gateway.close();
        await connection.close();
      },
    },
  };
}

async function startExecution(s: NodeSettings): Promise<{ info: Record<string, unknown>; handlers: Handlers }> {
  mkdirSync(s.dataDir!, { recursive: true });
  const config = benchConfig(s);
  const service = await ExecutionService.start({
    config, logger: silentLogger, brokerHost: '127.0.0.1', brokerPort: s.fixPort!, grpcPort: 0, metricsPort: 0,
    redis: { mode: 'standalone', url: s.redisUrl, keyPrefix: s.keyPrefix }, instruments: buildUniverse(),
  });
  // Per order: OMS entry, the FIX write and the return (risk, journal, FIX send, then the SENT
  // report to the strategy all happen synchronously inside).
  const orders: Array<[string, string, string, number, number, number, number]> = []; // clientOrderId, tag, venueClOrdId, in, out, journal µs, FIX written
  let current: { venueId: string; journalUs: number; fixAt: number } | undefined;
  const oms = service.oms as unknown as { submit(identity: SessionIdentity, cmd: SubmitOrderCommand): void };
  const submit = oms.submit.bind(service.oms);
  oms.submit = (identity, cmd) => {
    const at = monoMicros();
    current = { venueId: '', journalUs: 0, fixAt: 0 };
    try {
      submit(identity, cmd);
    } finally {
      orders.push([cmd.clientOrderId, cmd.tag, current.venueId, at, monoMicros(), current.journalUs, current.fixAt]);
      current = undefined;
    }
  };
  const journal = service.journal as unknown as { append(records: readonly unknown[]): unknown };
  const append = journal.append.bind(service.journal);
  journal.append = (records) => {
    const at = monoMicros();
    try {
      return append(records);
    } finally {
      if (current) current.journalUs += monoMicros() - at;
    }
  };
  const broker = service.broker as unknown as { submit(order: { clientOrderId: string }): Promise<void> };
  const brokerSubmit = broker.submit.bind(service.broker);
  broker.submit = (order) => {
    try {
      return brokerSubmit(order);
    } finally {
      // The NewOrderSingle is on the socket once the adapter's (synchronous) send returned.
      if (current) {
        current.venueId = order.clientOrderId;
        current.fixAt = monoMicros();
      }
    }
  };
  const symbols = buildUniverse().map((i) => i.symbol);
  const deadline = Date.now() + 20_000;
  while (!(service.oms.ready && symbols.every((sym) => service.references.reference(sym)?.ask !== undefined))) {
    if (Date.now() > deadline) throw new Error(`execution not ready: mode ${service.oms.mode}, broker ${service.broker.state}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    info: { grpcPort: service.grpcPort },
    handlers: {
      counters: () => ({ orders: orders.length }),
      collect: () => ({ orders }),
      stop: () => service.close(),
    },
  };
}

/** The bench strategy: one resting buy per marked tick at most every `intervalMs`, tagged with the tick's venue time. */
function benchStrategy(stamp: { lastRead: number; decided: Map<string, [number, number]> }) {
  return defineStrategy({
    name: 'bench_t2o',
    version: '1.0.0',
    params: z.strictObject({ symbol: param.symbol(), intervalMs: z.number().int().min(1) }),
    create: (p) => {
      let last = 0;
      return {
        onTick(ctx, tick) {
          if (tick.symbol !== p.symbol || tick.lowerLimit === undefined || tick.phase !== 'CONTINUOUS') return;
          const now = monoMicros();
          if (now - last < p.intervalMs * 1000) return;
          last = now;
          const tag = tick.time.toString(36);
          // Far below the touch: the order rests (ACCEPTED), never trades, and stays cheap to check.
          ctx.buy(tick.symbol, 100, tick.lowerLimit, { tag });
          stamp.decided.set(tag, [stamp.lastRead, now]);
        },
      };
    },
  });
}

async function startStrategy(s: NodeSettings): Promise<{ info: Record<string, unknown>; handlers: Handlers }> {
  const config = benchConfig(s);
  const md = config.strategies.marketData;
  const wall = new LiveClock();
  const clock = new MarketTimeClock(wall);
  const source = createGroupConsumer({
    redis: { mode: 'standalone', url: s.redisUrl, keyPrefix: s.keyPrefix }, keyPrefix: s.keyPrefix, slotGroups: config.gateway.slotGroups,
    group: 'bench_t2o', consumer: 'i1', symbols: [s.markSymbol], startAt: 'live', blockMs: md.blockMs, count: md.count,
    claimIdleMs: md.claimIdleMs, maxDeliveries: md.maxDeliveries, clock: wall,
  });
  const stamp = { lastRead: 0, decided: new Map<string, [number, number]>() };
  let batches = 0;
  let entries = 0;
  const next = source.next.bind(source);
  source.next = async (): Promise<MarketDataBatch | undefined> => {
    const batch = await next();
    stamp.lastRead = monoMicros();
    if (batch) {
      batches++;
      entries += batch.entries.length;
    }
    return batch;
  };
  const channel = new GrpcOrderChannel({
    target: s.grpcTarget!, strategyId: 'bench_t2o', instanceId: 'i1', token: BENCH_TOKEN, accounts: [BENCH_ACCOUNT], clock: wall, log: silentLogger,
  });
  const sent: Array<[string, string, number, number, number]> = []; // clientOrderId, tag, read, decided, submitted
  const channelSubmit = channel.submit.bind(channel);
  channel.submit = (intent: SubmitIntent) => {
    const at = monoMicros();
    channelSubmit(intent);
    const d = stamp.decided.get(intent.tag);
    if (d) sent.push([intent.clientOrderId, intent.tag, d[0], d[1], at]);
  };
  const reports: Array<[string, number]> = [];
  channel.onEvent((e) => {
    if (e.type === 'executionReport' && (e.execType === 'ACCEPTED' || e.execType === 'TRADE')) reports.push([e.clientOrderId, monoMicros()]);
  });
  const instance = new StrategyInstance({
    definition: benchStrategy(stamp) as never, instanceId: 'i1', account: BENCH_ACCOUNT,
    params: { symbol: s.markSymbol, intervalMs: s.orderIntervalMs ?? 50 }, symbols: [s.markSymbol], source, channel, clock, marketTime: clock,
    checkpointIntervalMs: config.strategies.checkpointIntervalMs,
    commitIntervalMs: md.commitIntervalMs,
    runtime: { calendar: new TradingCalendar(config.market.holidays), fees: config.fees, portfolio: { cash: 1e14 } },
  });
  await instance.start();
  const running = instance.run().catch((error: unknown) => process.stderr.write(`strategy failed: ${String(error)}\n`));
  return {
    info: {},
    handlers: {
      counters: () => {
        const st = instance.stats();
        return { ticks: st.ticks, batches, entries, ordersSent: st.ordersSent, commits: st.commits };
      },
      collect: () => ({ sent, reports }),
      stop: async () => {
        await instance.stop();
        await running;
      },
    },
  };
}

async function main(): Promise<void> {
  const settings = JSON.parse(process.env.TRIQUANT_BENCH_NODE ?? '{}') as NodeSettings;
  const start = { venue: startVenue, gateway: startGateway, execution: startExecution, strategy: startStrategy }[settings.role];
  const { info, handlers } = await start(settings);
  serveParent(info, handlers);
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    process.stderr.write(`order-path node failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
