/**
 * `triquant bench matching`: the matching engine on one core.
 *
 * A pre-built, seeded order stream (so generation costs nothing during measurement) over four
 * symbols of different price ranges in continuous trading, with a fair value that walks
 * (mean-reverting) around the previous close:
 *   45% passive limits 1–12 ticks behind the fair value (they build the book),
 *   18% aggressive limits 0–3 ticks through it (they trade, often across levels),
 *    4% best-five market orders (MARKET_BEST5_IOC),
 *   33% cancels of old orders: once the books hold 20,000 working orders (5,000 a symbol)
 *       mostly of the oldest still-working order (a member refreshing its quotes), otherwise
 *       of the oldest accepted order whatever its state (many are cancel rejects: already
 *       filled — work the engine must do too).
 * Sizes are 1–10 lots, a few large. Every event goes to a counting sink, so the callbacks'
 * cost is part of the figure. When the stream is used up a fresh engine starts it again.
 *
 * Results:
 * - orders_per_sec: new orders processed per second (cancels are processed in the same time
 *   but not counted: the conservative figure);
 * - messages_per_sec: new orders + cancels per second;
 * - trades_per_sec: executions per second in the same run;
 * - submit latency percentiles (ns) of single calls, timed one by one (includes ~30 ns of
 *   timer overhead);
 * - auction_uncross_ms: uncrossing one call-auction book of 100,000 orders.
 */
import type { BenchDefinition } from './harness.ts';
import { latencySummary, measureThroughput } from './harness.ts';
import { ManualClock } from '../src/core/clock.ts';
import { makeInstrument, type Instrument } from '../src/core/instruments.ts';
import { limitBandFromClose, TICK } from '../src/core/price-rules.ts';
import type { OrderType } from '../src/core/order.ts';
import { MatchingEngine } from '../src/matching/engine.ts';
import type { MatchingEvents } from '../src/matching/events.ts';
import type { OrderRequest } from '../src/matching/types.ts';

const STREAM_LENGTH = 1_000_000;
const BATCH = 10_000;
const RING = 1 << 16;
/** Working orders (all symbols) the cancels aim to keep: deep, realistic books. */
const TARGET_WORKING = 20_000;

/** mulberry32: a tiny seeded PRNG for the stream. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const UNIVERSE: readonly Instrument[] = [
  makeInstrument({ symbol: '600036.SH', name: 'CMB', previousClose: 386_000, listingDate: 20020409 }),
  makeInstrument({ symbol: '000001.SZ', name: 'PAB', previousClose: 115_200, listingDate: 19910403 }),
  makeInstrument({ symbol: '300750.SZ', name: 'CATL', previousClose: 2_528_000, listingDate: 20180611 }),
  makeInstrument({ symbol: '688981.SH', name: 'SMIC', previousClose: 889_000, listingDate: 20200716 }),
];

/** One stream entry: a new order, or a cancel (`cancelBack` 1: of the oldest working order; 2: of the oldest accepted one). */
interface StreamOp {
  readonly request: OrderRequest | null;
  readonly cancelBack: number;
}

function buildStream(length: number, seed: number): StreamOp[] {
  const random = prng(seed);
  const fair = UNIVERSE.map((instrument) => instrument.previousClose);
  const ops: StreamOp[] = [];
  const lotOf = (instrument: Instrument) => (instrument.board === 'STAR' ? 200 : 100);
  for (let i = 0; i < length; i += 1) {
    const k = Math.floor(random() * UNIVERSE.length);
    const instrument = UNIVERSE[k]!;
    const close = instrument.previousClose;
    // Mean-reverting walk of the fair value, kept within ±3% of the previous close.
    let f = fair[k]! + (random() < 0.5 ? -1 : 1) * TICK * (random() < 0.2 ? 1 : 0);
    f += Math.round((close - f) / 2000);
    f = Math.min(close * 1.03, Math.max(close * 0.97, f));
    fair[k] = f;
    const mid = Math.round(f / TICK) * TICK;
    const roll = random();
    if (roll < 0.33) {
      // cancelBack 1: the oldest working order; 2: whatever is oldest, even if already done.
      ops.push({ request: null, cancelBack: random() < 0.8 ? 1 : 2 });
      continue;
    }
    const side = random() < 0.5 ? 'BUY' : 'SELL';
    const sign = side === 'BUY' ? 1 : -1;
    const lots = random() < 0.05 ? 20 + Math.floor(random() * 30) : 1 + Math.floor(random() * 10);
    let orderType: OrderType = 'LIMIT';
    let price: number;
    if (roll < 0.78) price = mid - sign * TICK * (1 + Math.floor(random() * 12));
    else if (roll < 0.96) price = mid + sign * TICK * Math.floor(random() * 4);
    else {
      orderType = 'MARKET_BEST5_IOC';
      price = 0;
    }
    ops.push({
      request: {
        symbol: instrument.symbol,
        side,
        orderType,
        price,
        quantity: lots * lotOf(instrument),
        account: `acct${Math.floor(random() * 50)}`,
      },
      cancelBack: 0,
    });
  }
  return ops;
}

class CountingSink implements MatchingEvents {
  accepted = 0;
  rejected = 0;
  trades = 0;
  fills = 0;
  cancelled = 0;
  cancelRejects = 0;
  held = 0;
  volume = 0;
  orderAccepted(): void {
    this.accepted += 1;
  }
  orderRejected(): void {
    this.rejected += 1;
  }
  orderHeld(): void {
    this.held += 1;
  }
  orderReleased(): void {}
  tradeExecuted(trade: { qty: number }): void {
    this.trades += 1;
    this.volume += trade.qty;
  }
  orderFilled(): void {
    this.fills += 1;
  }
  orderCancelled(): void {
    this.cancelled += 1;
  }
  cancelRejected(): void {
    this.cancelRejects += 1;
  }
}

function newEngine(sink: MatchingEvents): MatchingEngine {
  const engine = new MatchingEngine({ clock: new ManualClock(1_000_000), events: sink, phase: 'CONTINUOUS' });
  for (const instrument of UNIVERSE) {
    engine.addInstrument(instrument, { band: limitBandFromClose(instrument.previousClose, instrument.board === 'SSE_MAIN' || instrument.board === 'SZSE_MAIN' ? 100_000 : 200_000) });
  }
  return engine;
}


/** Replays the stream in batches against an engine, restarting with a fresh engine at its end. */
class Runner {
  readonly sink = new CountingSink();
  engine: MatchingEngine;
  private readonly stream: StreamOp[];
  private cursor = 0;
  private readonly ids = new Float64Array(RING);
  private head = 0;
  private tail = 0;
  newOrders = 0;
  cancels = 0;
  maxWorking = 0;

  constructor(stream: StreamOp[]) {
    this.stream = stream;
    this.engine = newEngine(this.sink);
  }

  /** One operation. A cancel takes the oldest order still working (older ids that already traded away are skipped). */
  step(): void {
    if (this.cursor === this.stream.length) {
      if (this.engine.workingOrders > this.maxWorking) this.maxWorking = this.engine.workingOrders;
      this.cursor = 0;
      this.tail = this.head;
      this.engine = newEngine(this.sink);
    }
    const op = this.stream[this.cursor]!;
    this.cursor += 1;
    if (op.request === null) {
      this.cancels += 1;
      const engine = this.engine;
      // Below the target book size the oldest accepted id is cancelled whatever its state
      // (often a cancel reject); above it, the oldest order still working.
      const skipDone = op.cancelBack === 1 && engine.workingOrders > TARGET_WORKING;
      let id = 0;
      while (this.tail < this.head) {
        id = this.ids[this.tail & (RING - 1)]!;
        this.tail += 1;
        if (!skipDone || engine.order(id) !== undefined) break;
      }
      engine.cancel(id);
    } else {
      this.newOrders += 1;
      const id = this.engine.submit(op.request);
      if (id !== 0) {
        if (this.head - this.tail === RING) this.tail += 1;
        this.ids[this.head & (RING - 1)] = id;
        this.head += 1;
      }
    }
  }

  batch = (): void => {
    for (let i = 0; i < BATCH; i += 1) this.step();
  };
}

function auctionUncrossMs(): { ms: number; trades: number } {
  const sink = new CountingSink();
  const engine = newEngine(sink);
  engine.setPhase('OPENING_CALL');
  const random = prng(7);
  const instrument = UNIVERSE[0]!;
  const close = instrument.previousClose;
  for (let i = 0; i < 100_000; i += 1) {
    const side = random() < 0.5 ? 'BUY' : 'SELL';
    const offset = Math.floor(random() * 41) - 20; // ±20 ticks around the close: a crossed book
    engine.submit({
      symbol: instrument.symbol,
      side,
      orderType: 'LIMIT',
      price: close + offset * TICK,
      quantity: 100 * (1 + Math.floor(random() * 10)),
      account: 'a',
    });
  }
  const start = performance.now();
  engine.uncross(instrument.symbol);
  return { ms: performance.now() - start, trades: sink.trades };
}

const bench: BenchDefinition = {
  name: 'matching',
  description: 'matching engine: orders processed per second on one core (continuous trading, 4 symbols)',
  defaultDurationMs: 3_000,
  async run(ctx) {
    const stream = buildStream(STREAM_LENGTH, 42);
    const runner = new Runner(stream);

    const throughput = measureThroughput(runner.batch, BATCH, ctx.durationMs);
    const sink = runner.sink;
    const totalOps = runner.newOrders + runner.cancels;
    const newShare = runner.newOrders / totalOps;
    const messagesPerSec = throughput.opsPerSec;
    const ordersPerSec = Math.round(messagesPerSec * newShare);
    const tradesPerSec = Math.round((sink.trades / totalOps) * messagesPerSec);
    ctx.progress({ phase: 'continuous', orders_per_sec: ordersPerSec, messages_per_sec: messagesPerSec, trades_per_sec: tradesPerSec });

    // Single-call latency of the same stream on a fresh engine (sampled, timer overhead included).
    const latencyRunner = new Runner(stream);
    const samples = new Float64Array(200_000);
    for (let i = 0; i < 50_000; i += 1) latencyRunner.step(); // warm the book
    for (let i = 0; i < samples.length; i += 1) {
      const t0 = process.hrtime.bigint();
      latencyRunner.step();
      samples[i] = Number(process.hrtime.bigint() - t0);
    }
    const latency = latencySummary(samples);
    ctx.progress({ phase: 'latency', p50_ns: latency.p50, p99_ns: latency.p99 });

    const auction = auctionUncrossMs();
    return {
      orders_per_sec: ordersPerSec,
      messages_per_sec: messagesPerSec,
      trades_per_sec: tradesPerSec,
      cancels_per_sec: Math.round(messagesPerSec - ordersPerSec),
      ns_per_message: Math.round(1e9 / messagesPerSec),
      rejects: sink.rejected,
      cancel_rejects: sink.cancelRejects,
      trades_per_new_order: Number((sink.trades / runner.newOrders).toFixed(3)),
      max_working_orders: Math.max(runner.maxWorking, runner.engine.workingOrders),
      latency_ns_p50: latency.p50,
      latency_ns_p99: latency.p99,
      latency_ns_p999: latency.p999,
      auction_orders: 100_000,
      auction_uncross_ms: Number(auction.ms.toFixed(2)),
      auction_trades: auction.trades,
      measured_seconds: Number(throughput.seconds.toFixed(2)),
    };
  },
};

export default bench;
