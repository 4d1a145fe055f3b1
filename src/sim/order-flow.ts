/**
 * Synthetic background order flow: for each symbol a fair value follows a random walk and
 * orders arrive as a Poisson process around it — mostly passive limits that build the book,
 * some marketable limits and best-five market orders that trade, and cancels of resting
 * orders. Deterministic for a given seed, so a simulated day can be replayed exactly.
 */
import type { Instrument, Side } from '../core/instruments.ts';
import type { OrderType } from '../core/order.ts';
import type { PriceBand } from '../core/price-rules.ts';
import { TICK } from '../core/price-rules.ts';
import type { Micros } from '../core/clock.ts';
import type { Price, Qty } from '../core/units.ts';
import { SeededRandom } from './random.ts';

export interface OrderFlowSettings {
  /** Mean order arrivals per second per symbol (new orders and cancels together). */
  arrivalsPerSecond: number;
  /** Daily volatility of the fair value, in ppm of price (20_000 = 2%). */
  dailyVolatilityPpm: number;
  /** Shares of arrivals by kind (the remainder are passive limits). */
  aggressiveShare: number;
  marketShare: number;
  cancelShare: number;
  /** Mean distance, in ticks, of passive orders from the fair value. */
  meanTicksAway: number;
  /** Mean order size in board lots. */
  meanLots: number;
  /** Resting synthetic orders kept per symbol before the oldest are cancelled first. */
  maxRestingPerSymbol: number;
}

export const DEFAULT_ORDER_FLOW: OrderFlowSettings = {
  arrivalsPerSecond: 20,
  dailyVolatilityPpm: 20_000,
  aggressiveShare: 0.12,
  marketShare: 0.03,
  cancelShare: 0.3,
  meanTicksAway: 4,
  meanLots: 3,
  maxRestingPerSymbol: 400,
};

export type FlowIntent =
  | { kind: 'new'; id: string; symbol: string; side: Side; orderType: OrderType; price: Price; qty: Qty }
  | { kind: 'cancel'; id: string; symbol: string };

/** Seconds of continuous trading in an A-share day: the horizon of "daily" volatility. */
const TRADING_SECONDS_PER_DAY = 4 * 3600;

interface SymbolFlow {
  readonly instrument: Instrument;
  readonly lower: Price;
  readonly upper: Price;
  /** Fair value in price units (fractional while it walks; orders round to the tick). */
  fair: number;
  /** Resting synthetic orders, oldest first (swap-free: cancels take from the front). */
  readonly resting: string[];
  restingHead: number;
  /** Seconds until the next arrival. */
  untilNext: number;
}

export class SyntheticOrderFlow {
  private readonly settings: OrderFlowSettings;
  private readonly random: SeededRandom;
  private readonly symbols: SymbolFlow[];
  private readonly idPrefix: string;
  private nextId = 0;

  constructor(
    instruments: ReadonlyArray<{ instrument: Instrument; band: PriceBand | null }>,
    settings: OrderFlowSettings = DEFAULT_ORDER_FLOW,
    seed = 1,
    idPrefix = 'SYN',
  ) {
    if (!(settings.arrivalsPerSecond > 0)) throw new RangeError('arrivalsPerSecond must be positive');
    this.settings = settings;
    this.random = new SeededRandom(seed);
    this.idPrefix = idPrefix;
    this.symbols = instruments.map(({ instrument, band }) => {
      const close = instrument.previousClose;
      // Without a limit (IPO days) keep the walk within ±50% so the book stays plausible.
      const lower = band?.lower ?? Math.max(TICK, Math.round(close / 2 / TICK) * TICK);
      const upper = band?.upper ?? Math.round((close * 3) / 2 / TICK) * TICK;
      return {
        instrument, lower, upper, fair: close, resting: [], restingHead: 0,
        untilNext: this.random.exponential(1 / settings.arrivalsPerSecond),
      };
    });
  }

  /** Lets time pass: moves fair values and emits the arrivals due within `elapsed`. */
  advance(elapsed: Micros, sink: (intent: FlowIntent) => void): number {
    const seconds = elapsed / 1_000_000;
    const meanGap = 1 / this.settings.arrivalsPerSecond;
    let emitted = 0;
    for (const flow of this.symbols) {
      let left = seconds;
      while (flow.untilNext <= left) {
        left -= flow.untilNext;
        this.walk(flow, flow.untilNext);
        sink(this.arrival(flow));
        emitted += 1;
        flow.untilNext = this.random.exponential(meanGap);
      }
      flow.untilNext -= left;
      this.walk(flow, left);
    }
    return emitted;
  }

  /** Emits exactly `count` arrivals as fast as possible, round-robin over symbols (load mode). */
  generate(count: number, sink: (intent: FlowIntent) => void): void {
    const step = 1 / this.settings.arrivalsPerSecond;
    for (let i = 0; i < count; i++) {
      const flow = this.symbols[i % this.symbols.length]!;
      this.walk(flow, step);
      sink(this.arrival(flow));
    }
  }

  /** The venue says an order is done (filled, cancelled, rejected): stop tracking it. */
  forget(_id: string): void {
    // Cheap by design: resting ids are cancelled oldest first, and a cancel of an order that
    // already finished is simply cancel-rejected by the venue, as on a real exchange.
  }

  fairValue(symbol: string): number | undefined {
    return this.symbols.find((flow) => flow.instrument.symbol === symbol)?.fair;
  }

  private walk(flow: SymbolFlow, seconds: number): void {
    if (seconds <= 0) return;
    const sigma = (this.settings.dailyVolatilityPpm / 1_000_000) * Math.sqrt(seconds / TRADING_SECONDS_PER_DAY);
    const next = flow.fair * Math.exp(sigma * this.random.normal());
    // Stay a few ticks inside the limits so both sides can keep quoting.
    flow.fair = Math.min(flow.upper - 5 * TICK, Math.max(flow.lower + 5 * TICK, next));
  }

  private arrival(flow: SymbolFlow): FlowIntent {
    const s = this.settings;
    const symbol = flow.instrument.symbol;
    const live = flow.resting.length - flow.restingHead;
    const roll = this.random.next();
    if ((roll < s.cancelShare && live > 0) || live >= s.maxRestingPerSymbol) {
      const id = flow.resting[flow.restingHead]!;
      flow.restingHead += 1;
      if (flow.restingHead > 1024 && flow.restingHead * 2 > flow.resting.length) {
        flow.resting.splice(0, flow.restingHead);
        flow.restingHead = 0;
      }
      return { kind: 'cancel', id, symbol };
    }
    const side: Side = this.random.next() < 0.5 ? 'BUY' : 'SELL';
    const id = `${this.idPrefix}${++this.nextId}`;
    const qty = this.quantity(flow);
    const fairTick = Math.round(flow.fair / TICK);
    const direction = side === 'BUY' ? 1 : -1;
    const kindRoll = this.random.next();
    if (kindRoll < s.marketShare) {
      return { kind: 'new', id, symbol, side, orderType: 'MARKET_BEST5_IOC', price: 0, qty };
    }
    let ticksFromFair: number;
    if (kindRoll < s.marketShare + s.aggressiveShare) {
      ticksFromFair = direction * this.random.int(0, 3); // marketable: at or through the fair value
    } else {
      ticksFromFair = -direction * (1 + this.random.geometric(1 / s.meanTicksAway));
      flow.resting.push(id);
    }
    const price = Math.min(flow.upper, Math.max(flow.lower, (fairTick + ticksFromFair) * TICK));
    return { kind: 'new', id, symbol, side, orderType: 'LIMIT', price, qty };
  }

  private quantity(flow: SymbolFlow): Qty {
    const lots = 1 + this.random.geometric(1 / this.settings.meanLots);
    // STAR needs at least 200 shares; 100-share steps keep every board's rules satisfied.
    return flow.instrument.board === 'STAR' ? 100 * (lots + 1) : 100 * lots;
  }
}
