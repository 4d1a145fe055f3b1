/**
 * `triquant bench risk`: the pre-trade risk engine on one core.
 *
 * An account with 20 working orders over four symbols (SSE main, SZSE main, ChiNext, STAR) in
 * continuous trading, and a pre-built set of 1,024 distinct orders (buys and sells at varied
 * prices and sizes, all of which pass every rule), checked round-robin with `checkNew` — the
 * full rule pass: state, profile, restricted list, reference, session, lots, tick, band,
 * cage, notional, duplicates, open-order scan (self-trade, working buys), cash or sellable,
 * position, exposure, daily loss, rate bucket, daily count.
 *
 * Results:
 * - checks_per_sec: approved checks per second of wall time (batches of 1,024, timer outside
 *   the loop); checks_per_cpu_sec: the same per second of process CPU time (all threads,
 *   warm-up included: conservative), which a busy shared machine distorts less;
 * - p50_us / p99_us / p999_us: single checks timed one by one (includes ~30–50 ns of timer);
 * - gc_during_checks: garbage collections while measuring throughput — the approve path
 *   allocates nothing, so this stays at (or very near) 0;
 * - deny_checks_per_sec: checks that end in a denial (off-tick price: a fresh denial object
 *   and its detail string each time), for comparison; gc_during_deny_checks shows that the
 *   GC count above would see allocation;
 * - check_and_accept_per_sec: checkNew + onNewAccepted per order (rate and daily limits set
 *   out of the way), the cost of the whole pre-trade step.
 */
import { performance } from 'node:perf_hooks';
import { GCProfiler } from 'node:v8';
import type { BenchDefinition } from './harness.ts';
import { latencySummary, measureThroughput } from './harness.ts';
import { chinaInstant } from '../src/core/clock.ts';
import { makeInstrument, type Instrument } from '../src/core/instruments.ts';
import { limitBandFromClose, limitPpmFor } from '../src/core/price-rules.ts';
import {
  DEFAULT_RISK_LIMITS,
  DEFAULT_RISK_SETTINGS,
  RiskEngine,
  type AccountView,
  type MarketReference,
  type RestingOrder,
  type RiskContext,
  type RiskOrder,
} from '../src/core/risk/index.ts';

const DATE = 20261124;
const NOW = chinaInstant(DATE, 10, 15);
const ORDERS = 1_024;

const UNIVERSE: readonly Instrument[] = [
  makeInstrument({ symbol: '600036.SH', name: 'CMB', previousClose: 386_000, listingDate: 20020409 }),
  makeInstrument({ symbol: '000001.SZ', name: 'PAB', previousClose: 115_200, listingDate: 19910403 }),
  makeInstrument({ symbol: '300750.SZ', name: 'CATL', previousClose: 2_528_000, listingDate: 20180611 }),
  makeInstrument({ symbol: '688981.SH', name: 'SMIC', previousClose: 889_000, listingDate: 20200716 }),
];

const MARKETS = new Map<string, MarketReference>(
  UNIVERSE.map((instrument) => {
    const band = limitBandFromClose(instrument.previousClose, limitPpmFor(instrument, DATE));
    const mid = instrument.previousClose;
    return [
      instrument.symbol,
      Object.freeze({
        instrument,
        phase: 'CONTINUOUS',
        prevClose: mid,
        upperLimit: band.upper,
        lowerLimit: band.lower,
        last: mid,
        bid: mid - 100,
        ask: mid,
        updatedAt: NOW - 200_000,
        halted: false,
      }) as MarketReference,
    ];
  }),
);

// 20 working orders far from the touch (no self-trade), 5 per symbol, both sides. Plain
// objects, as an OMS keeps them (frozen ones measured ~20% slower to scan on Node 24).
const OPEN: readonly RestingOrder[] = UNIVERSE.flatMap((instrument, s) =>
  [0, 1, 2, 3, 4].map((i) => ({
    clientOrderId: `w${s}-${i}`,
    symbol: instrument.symbol,
    side: i % 2 === 0 ? ('BUY' as const) : ('SELL' as const),
    orderType: 'LIMIT' as const,
    price: i % 2 === 0 ? instrument.previousClose - 3_000 - i * 100 : instrument.previousClose + 3_000 + i * 100,
    leavesQty: 200,
  })),
);

const ACCOUNT: AccountView = Object.freeze({
  account: 'A1',
  availableCash: () => 10_000_000_000_000,
  sellableQty: () => 50_000,
  positionQty: () => 60_000,
  openOrders: () => OPEN,
  dayPnl: () => -1_000_000,
  grossExposure: () => 100_000_000_000,
});

const CTX: RiskContext = Object.freeze({ account: ACCOUNT, market: undefined, tradingState: 'ACTIVE', tradingDate: DATE, now: NOW });
const CONTEXTS = new Map<string, RiskContext>(UNIVERSE.map((i) => [i.symbol, Object.freeze({ ...CTX, market: MARKETS.get(i.symbol) })]));

function buildOrders(offTick: boolean): { orders: RiskOrder[]; contexts: RiskContext[] } {
  const orders: RiskOrder[] = [];
  const contexts: RiskContext[] = [];
  for (let i = 0; i < ORDERS; i += 1) {
    const instrument = UNIVERSE[i % UNIVERSE.length] as Instrument;
    const side = (i >> 2) % 2 === 0 ? ('BUY' as const) : ('SELL' as const);
    const ticks = (i >> 3) % 15; // inside the 2% cage for every symbol here
    const price = side === 'BUY' ? instrument.previousClose - 100 * (1 + ticks) : instrument.previousClose + 100 * ticks;
    const lots = 1 + ((i >> 4) % 20);
    orders.push(
      Object.freeze({
        clientOrderId: `o${i}`,
        account: 'A1',
        strategy: 'bench',
        symbol: instrument.symbol,
        side,
        orderType: 'LIMIT' as const,
        price: offTick ? price + 1 : price,
        quantity: instrument.board === 'STAR' ? 200 + lots : lots * 100,
        receivedAt: NOW,
      }),
    );
    contexts.push(CONTEXTS.get(instrument.symbol) as RiskContext);
  }
  return { orders, contexts };
}

function newEngine(fastDynamic: boolean): RiskEngine {
  return new RiskEngine({
    ...DEFAULT_RISK_SETTINGS,
    limits: fastDynamic
      ? { ...DEFAULT_RISK_LIMITS, maxOrdersPerSecond: 1_000_000, orderBurst: 1_000_000, maxDailyOrders: 1_000_000_000, duplicateWindowMs: 0, orderRateSpikePerSecond: 0 }
      : DEFAULT_RISK_LIMITS,
    profiles: {
      A1: {
        strategyType: 'bench',
        maxOrdersPerSecond: fastDynamic ? 1_000_000 : 250,
        maxDailyOrders: fastDynamic ? 1_000_000_000 : 19_000,
        softwareName: 'triquant',
        softwareVersion: 'bench',
        responsiblePerson: 'bench',
      },
    },
  });
}

let sink = 0;

function countGcs<T>(fn: () => T): { value: T; gcs: number } {
  // v8.GCProfiler reports synchronously on stop(); a PerformanceObserver would only see GCs
  // after the event loop turns.
  const profiler = new GCProfiler();
  profiler.start();
  const value = fn();
  const gcs = profiler.stop()?.statistics.length ?? Number.NaN;
  return { value, gcs };
}

const bench: BenchDefinition = {
  name: 'risk',
  description: 'pre-trade risk: full checkNew passes per second, single-check latency percentiles',
  defaultDurationMs: 2_000,
  async run(ctx) {
    const engine = newEngine(false);
    const good = buildOrders(false);
    for (let i = 0; i < ORDERS; i += 1) {
      const decision = engine.checkNew(good.orders[i] as RiskOrder, good.contexts[i] as RiskContext);
      if (!decision.ok) throw new Error(`bench order ${i} denied: ${decision.reason} ${decision.detail}`);
    }

    const approveBatch = () => {
      const { orders, contexts } = good;
      for (let i = 0; i < ORDERS; i += 1) {
        if (engine.checkNew(orders[i] as RiskOrder, contexts[i] as RiskContext).ok) sink += 1;
      }
    };
    const cpuBefore = process.cpuUsage();
    const { value: approve, gcs } = countGcs(() => measureThroughput(approveBatch, ORDERS, ctx.durationMs));
    const cpu = process.cpuUsage(cpuBefore);
    // Includes the warm-up's CPU but not its checks: a conservative per-core figure that other
    // processes on a busy machine do not distort the way they distort wall time.
    const perCpuSec = Math.round(approve.ops / ((cpu.user + cpu.system) / 1e6));
    ctx.progress({ phase: 'approve', checks_per_sec: approve.opsPerSec, checks_per_cpu_sec: perCpuSec, gc_during_checks: gcs });

    const samples = new Float64Array(500_000);
    for (let s = 0; s < samples.length; s += 1) {
      const i = s & (ORDERS - 1);
      const start = performance.now();
      const decision = engine.checkNew(good.orders[i] as RiskOrder, good.contexts[i] as RiskContext);
      samples[s] = (performance.now() - start) * 1000;
      if (decision.ok) sink += 1;
    }
    const latency = latencySummary(samples);
    ctx.progress({ phase: 'latency', p50_us: latency.p50, p99_us: latency.p99 });

    const bad = buildOrders(true);
    const { value: deny, gcs: denyGcs } = countGcs(() =>
      measureThroughput(
        () => {
          for (let i = 0; i < ORDERS; i += 1) {
            if (!engine.checkNew(bad.orders[i] as RiskOrder, bad.contexts[i] as RiskContext).ok) sink += 1;
          }
        },
        ORDERS,
        Math.max(200, ctx.durationMs / 2),
      ),
    );
    ctx.progress({ phase: 'deny', checks_per_sec: deny.opsPerSec, gc_during_checks: denyGcs });

    const open = newEngine(true);
    const accept = measureThroughput(
      () => {
        for (let i = 0; i < ORDERS; i += 1) {
          const order = good.orders[i] as RiskOrder;
          if (open.checkNew(order, good.contexts[i] as RiskContext).ok) open.onNewAccepted(order);
        }
      },
      ORDERS,
      Math.max(200, ctx.durationMs / 2),
    );
    ctx.progress({ phase: 'check_and_accept', ops_per_sec: accept.opsPerSec });

    const round = (us: number) => Math.round(us * 1000) / 1000;
    return {
      checks_per_sec: approve.opsPerSec,
      check_ns: Math.round(1e9 / approve.opsPerSec),
      checks_per_cpu_sec: perCpuSec,
      p50_us: round(latency.p50),
      p99_us: round(latency.p99),
      p999_us: round(latency.p999),
      gc_during_checks: gcs,
      deny_checks_per_sec: deny.opsPerSec,
      gc_during_deny_checks: denyGcs,
      check_and_accept_per_sec: accept.opsPerSec,
      sink: sink & 1,
    };
  },
};

export default bench;
