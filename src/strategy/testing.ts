/**
 * Running strategies without the network: the in-memory `StrategyHarness` (a manual clock, a
 * simulated venue with pre-trade checks and simple fills, recorded actions, restarts), built on
 * the `StrategyRuntime` of runtime.ts (re-exported here, so `testing.ts` stays the one import
 * for tests).
 *
 * Who uses what:
 *   - strategy authors' tests and ours: `StrategyHarness`;
 *   - the backtester: `StrategyRuntime` driven by archived ticks and the matching engine (or the
 *     harness itself for quick runs);
 *   - the host (`triquant strategy`): `StrategyRuntime` driven by Redis entries and gRPC
 *     execution reports (instance.ts).
 */
import { TradingCalendar } from '../core/calendar.ts';
import { chinaDate, chinaInstant, ManualClock, MICROS_PER_DAY, type Clock, type Micros, type TradingDate } from '../core/clock.ts';
import { computeFees, computeFeesOnNotional, DEFAULT_FEE_SCHEDULE, type FeeSchedule } from '../core/fees.ts';
import type { Side } from '../core/instruments.ts';
import { checkLot, checkMaxOrderQty, DEFAULT_LOT_SETTINGS, type LotSettings } from '../core/lot-rules.ts';
import { createOrder, type Order } from '../core/order.ts';
import { isTerminal } from '../core/order-state.ts';
import { checkTickGrid, checkWithinLimit, limitBandFromClose, limitPpmFor, TICK } from '../core/price-rules.ts';
import { DEFAULT_MARKET_SESSIONS, phaseAtInstant, type MarketSessions } from '../core/sessions.ts';
import type { Money, Price, Qty } from '../core/units.ts';
import type { Logger, LogLevel } from '../obs/log.ts';
import type { TradingPhase } from '../protocol/feed/frames.ts';
import {
  phaseAllowsCancels,
  phaseAllowsOrders,
  StrategyApiError,
  type BookLevel,
  type CashView,
  type ExecutionEvent,
  type ExecutionReportEvent,
  type ExecType,
  type InstrumentInfo,
  type Intent,
  type JsonObject,
  type OrderDeniedEvent,
  type OrderView,
  type PortfolioSeed,
  type PositionSeed,
  type PositionView,
  type StepResult,
  type StrategyCheckpoint,
  type StrategyDefinition,
  type SubmitIntent,
  type Tick,
} from './api.ts';

import { canonicalSymbol, instrumentInfo, Portfolio, StrategyRuntime, type InstrumentSeed, type Reservation, type StatusRecord } from './runtime.ts';

// The runtime lived here before the host arrived; existing imports keep working.
export { MAX_CHECKPOINT_DONE_ORDERS, Portfolio, StrategyHookError, StrategyRuntime, type InstrumentSeed, type Reservation, type RuntimeOptions } from './runtime.ts';

// ---------------------------------------------------------------------------------------------
// Recording logger

export interface LogEntry {
  readonly time: Micros;
  readonly level: LogLevel;
  readonly component: string;
  readonly message: string;
  readonly fields: Readonly<Record<string, unknown>> | undefined;
}

function recordingLogger(entries: LogEntry[], clock: Clock, component: string, print: boolean): Logger {
  const emit = (level: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    entries.push({ time: clock.nowMicros(), level, component, message, fields });
    if (print) console.error(`${level.toUpperCase().padEnd(5)} ${component}: ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`);
  };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (name) => recordingLogger(entries, clock, `${component}.${name}`, print),
  };
}

// ---------------------------------------------------------------------------------------------
// The simulated venue: pre-trade checks, acks, simple fills. Stands in for execution + exchange.

export interface VenueOptions {
  /** 'auto' (default): submits are checked and acknowledged, cancels confirmed, at once. 'manual': the test answers. */
  readonly respond?: 'auto' | 'manual';
  /**
   * 'touch' (default): a marketable order fills in full at the opposite best price when it
   * arrives; a resting limit order fills in full at its price when a later tick's opposite best
   * reaches it (or the last price trades through it). 'manual': only `harness.fill()` fills.
   */
  readonly fills?: 'touch' | 'manual';
  /** Pre-trade checks with the core rules (phase, tick grid, lots, sellable, max qty, limits, cash). Default true. */
  readonly risk?: boolean;
}

interface VenueOrder extends Reservation {
  readonly order: Order;
  cumFees: Money;
  cancelWanted: boolean;
}

/** Error codes the harness venue uses beyond the core rule reasons. */
export const HARNESS_DENY_CODES = ['MARKET_CLOSED', 'INSTRUMENT_HALTED', 'INSUFFICIENT_CASH', 'UNKNOWN_INSTRUMENT', 'EXPIRED_BEFORE_SEND'] as const;

class SimVenue {
  readonly portfolio: Portfolio;
  readonly reports: ExecutionEvent[] = [];
  readonly quotes = new Map<string, Tick>();
  duplicateSubmits = 0;
  readonly #orders = new Map<string, VenueOrder>();
  readonly #o: Required<VenueOptions>;
  readonly #instrument: (symbol: string) => InstrumentInfo;
  readonly #calendar: TradingCalendar;
  readonly #sessions: MarketSessions;
  readonly #lots: LotSettings;
  readonly #fees: FeeSchedule;
  readonly #strategyTag: string;
  #seq = 0;
  #fillSeq = 0;
  #venueSeq = 0;

  constructor(init: {
    portfolio: Portfolio;
    options: VenueOptions | undefined;
    instrument: (symbol: string) => InstrumentInfo;
    calendar: TradingCalendar;
    sessions: MarketSessions;
    lots: LotSettings;
    fees: FeeSchedule;
    strategyTag: string;
  }) {
    this.portfolio = init.portfolio;
    this.#o = { respond: init.options?.respond ?? 'auto', fills: init.options?.fills ?? 'touch', risk: init.options?.risk ?? true };
    this.#instrument = init.instrument;
    this.#calendar = init.calendar;
    this.#sessions = init.sessions;
    this.#lots = init.lots;
    this.#fees = init.fees;
    this.#strategyTag = init.strategyTag;
  }

  get openOrderIds(): string[] {
    return [...this.#orders.entries()].filter(([, v]) => !isTerminal(v.order.status)).map(([id]) => id);
  }

  reportsAfter(seq: number): ExecutionEvent[] {
    return this.reports.filter((r) => r.seq > seq);
  }

  #phase(symbol: string, now: Micros): TradingPhase {
    const quote = this.quotes.get(symbol);
    if (quote?.phase === 'HALTED' && chinaDate(quote.time) === chinaDate(now)) return 'HALTED';
    return phaseAtInstant(now, this.#calendar, this.#instrument(symbol).board, this.#sessions);
  }

  #entry(id: string): VenueOrder {
    const entry = this.#orders.get(id);
    if (entry === undefined) throw new StrategyApiError(`harness: no order ${id} at the venue`);
    return entry;
  }

  #report(entry: VenueOrder, execType: ExecType, now: Micros, extra: Partial<Pick<ExecutionReportEvent, 'fillId' | 'lastQty' | 'lastPrice' | 'lastFees' | 'text'>> = {}): ExecutionReportEvent {
    const o = entry.order;
    const report: ExecutionReportEvent = Object.freeze({
      type: 'executionReport',
      seq: ++this.#seq,
      clientOrderId: o.clientOrderId,
      venueOrderId: o.venueOrderId ?? '',
      symbol: o.symbol,
      side: o.side,
      orderType: o.orderType,
      price: o.price,
      quantity: o.quantity,
      execType,
      status: o.status,
      fillId: extra.fillId ?? '',
      lastQty: extra.lastQty ?? 0,
      lastPrice: extra.lastPrice ?? 0,
      cumQty: o.filledQty,
      leavesQty: o.leavesQty,
      avgPrice: o.avgPrice ?? 0,
      lastFees: extra.lastFees ?? 0,
      cumFees: entry.cumFees,
      text: extra.text ?? '',
      time: now,
    });
    this.reports.push(report);
    return report;
  }

  #denied(id: string, code: string, detail: string, now: Micros): OrderDeniedEvent {
    const event: OrderDeniedEvent = Object.freeze({ type: 'orderDenied', seq: ++this.#seq, clientOrderId: id, reasonCode: code, detail, time: now });
    this.reports.push(event);
    return event;
  }

  #check(intent: SubmitIntent, now: Micros): { code: string; detail: string } | undefined {
    let info: InstrumentInfo;
    try {
      info = this.#instrument(intent.symbol);
    } catch (error) {
      return { code: 'UNKNOWN_INSTRUMENT', detail: (error as Error).message };
    }
    const phase = this.#phase(intent.symbol, now);
    if (phase === 'HALTED') return { code: 'INSTRUMENT_HALTED', detail: `${intent.symbol} is halted` };
    if (!phaseAllowsOrders(phase)) return { code: 'MARKET_CLOSED', detail: `orders are not accepted in phase ${phase}` };
    if (intent.orderType === 'LIMIT') {
      const tick = checkTickGrid(intent.price);
      if (!tick.ok) return { code: tick.reason, detail: tick.detail };
    }
    const lot = checkLot(info.board, intent.side, intent.quantity, intent.side === 'SELL' ? this.portfolio.sellable(intent.symbol) : undefined, this.#lots);
    if (!lot.ok) return { code: lot.reason, detail: lot.detail };
    const max = checkMaxOrderQty(info.board, intent.orderType, intent.quantity, this.#lots);
    if (!max.ok) return { code: max.reason, detail: max.detail };
    const quote = this.quotes.get(intent.symbol);
    if (intent.orderType === 'LIMIT' && quote?.upperLimit !== undefined && quote.lowerLimit !== undefined) {
      const band = checkWithinLimit(intent.price, { lower: quote.lowerLimit, upper: quote.upperLimit });
      if (!band.ok) return { code: band.reason, detail: band.detail };
    }
    if (intent.side === 'BUY') {
      const price = this.#reservePrice(intent);
      const need = price * intent.quantity + computeFees('BUY', price, intent.quantity, this.#fees).total;
      if (need > this.portfolio.available) return { code: 'INSUFFICIENT_CASH', detail: `needs ${need} units, ${this.portfolio.available} available` };
    }
    return undefined;
  }

  #reservePrice(intent: Pick<SubmitIntent, 'side' | 'symbol' | 'orderType' | 'price'>): Price {
    if (intent.orderType === 'LIMIT' || intent.price > 0 || intent.side === 'SELL') return intent.price;
    const q = this.quotes.get(intent.symbol);
    return q?.upperLimit ?? q?.ask ?? q?.last ?? 0;
  }

  submit(intent: SubmitIntent, now: Micros): ExecutionEvent[] {
    if (this.#orders.has(intent.clientOrderId)) {
      this.duplicateSubmits += 1; // idempotent resubmission: ignored, as the execution service does
      return [];
    }
    const order = createOrder({
      clientOrderId: intent.clientOrderId,
      account: intent.account,
      strategy: this.#strategyTag,
      symbol: intent.symbol,
      side: intent.side,
      orderType: intent.orderType,
      price: intent.price,
      quantity: intent.quantity,
      createdAt: now,
    });
    const entry: VenueOrder = { order, cumFees: 0, cancelWanted: false, side: intent.side, symbol: intent.symbol, reservePrice: 0, frozenCash: 0, frozenQty: 0 };
    this.#orders.set(intent.clientOrderId, entry);
    if (this.#o.respond === 'manual') return [];
    if (this.#o.risk) {
      const problem = this.#check(intent, now);
      if (problem !== undefined) return this.deny(intent.clientOrderId, problem.code, problem.detail, now);
    }
    return this.accept(intent.clientOrderId, now);
  }

  accept(id: string, now: Micros): ExecutionEvent[] {
    const entry = this.#entry(id);
    const o = entry.order;
    if (o.status !== 'PENDING_NEW') return [];
    Object.assign(entry, this.portfolio.reserve(o.side, o.symbol, o.quantity, this.#reservePrice(o), this.#fees));
    o.apply({ type: 'OrderSent', ts: now });
    const events: ExecutionEvent[] = [this.#report(entry, 'SENT', now)];
    o.apply({ type: 'OrderAccepted', ts: now, venueOrderId: `V${++this.#venueSeq}` });
    events.push(this.#report(entry, 'ACCEPTED', now));
    if (this.#o.fills === 'touch') events.push(...this.#matchOnArrival(entry, now));
    return events;
  }

  deny(id: string, code: string, detail: string, now: Micros): ExecutionEvent[] {
    const o = this.#entry(id).order;
    if (o.status !== 'PENDING_NEW') throw new StrategyApiError(`harness: only a PENDING_NEW order can be denied (${id} is ${o.status})`);
    o.apply({ type: 'OrderDenied', ts: now, reason: code });
    return [this.#denied(id, code, detail, now)];
  }

  reject(id: string, text: string, now: Micros): ExecutionEvent[] {
    const entry = this.#entry(id);
    const o = entry.order;
    if (o.status === 'PENDING_NEW') {
      Object.assign(entry, this.portfolio.reserve(o.side, o.symbol, o.quantity, this.#reservePrice(o), this.#fees));
      o.apply({ type: 'OrderSent', ts: now });
    }
    o.apply({ type: 'OrderRejected', ts: now, reason: text });
    this.portfolio.release(entry);
    return [this.#report(entry, 'REJECTED', now, { text })];
  }

  #matchOnArrival(entry: VenueOrder, now: Micros): ExecutionEvent[] {
    const o = entry.order;
    const q = this.quotes.get(o.symbol);
    const opposite = o.side === 'BUY' ? q?.ask : q?.bid;
    if (o.orderType === 'LIMIT') {
      if (opposite !== undefined && (o.side === 'BUY' ? opposite <= o.price : opposite >= o.price)) return this.fill(o.clientOrderId, o.leavesQty, opposite, now);
      return [];
    }
    const protectionOk = o.price === 0 || opposite === undefined || (o.side === 'BUY' ? opposite <= o.price : opposite >= o.price);
    if (opposite !== undefined && protectionOk) return this.fill(o.clientOrderId, o.leavesQty, opposite, now);
    o.apply({ type: 'OrderCancelled', ts: now, reason: 'no liquidity for the market order' });
    this.portfolio.release(entry);
    return [this.#report(entry, 'CANCELLED', now, { text: 'no liquidity for the market order' })];
  }

  /** Resting limit orders of `symbol` that the latest quote reaches fill at their price. */
  matchResting(symbol: string, now: Micros): ExecutionEvent[] {
    if (this.#o.fills !== 'touch') return [];
    const q = this.quotes.get(symbol);
    if (q === undefined || q.phase === 'HALTED') return [];
    const events: ExecutionEvent[] = [];
    for (const entry of this.#orders.values()) {
      const o = entry.order;
      if (o.symbol !== symbol || o.orderType !== 'LIMIT' || (o.status !== 'ACCEPTED' && o.status !== 'PARTIALLY_FILLED')) continue;
      const reached =
        o.side === 'BUY'
          ? (q.ask !== undefined && q.ask <= o.price) || (q.last !== undefined && q.last < o.price)
          : (q.bid !== undefined && q.bid >= o.price) || (q.last !== undefined && q.last > o.price);
      if (reached) events.push(...this.fill(o.clientOrderId, o.leavesQty, o.price, now));
    }
    return events;
  }

  fill(id: string, qty: Qty, price: Price, now: Micros): ExecutionEvent[] {
    const entry = this.#entry(id);
    const o = entry.order;
    const events: ExecutionEvent[] = o.status === 'PENDING_NEW' ? this.accept(id, now).filter((e) => e.type === 'executionReport' && e.execType !== 'TRADE') : [];
    // Late fills after a cancel or expiry are real (they traded before it); nothing fills after these.
    if (o.status === 'DENIED' || o.status === 'REJECTED' || o.status === 'FILLED') return events;
    o.apply({ type: 'OrderFilled', ts: now, fillId: `F${++this.#fillSeq}`, qty, price });
    const cumFees = computeFeesOnNotional(o.side, o.notional, this.#fees).total;
    const lastFees = cumFees - entry.cumFees;
    entry.cumFees = cumFees;
    this.portfolio.fill(entry, qty, price, lastFees, isTerminal(o.status));
    events.push(this.#report(entry, 'TRADE', now, { fillId: `F${this.#fillSeq}`, lastQty: qty, lastPrice: price, lastFees }));
    return events;
  }

  cancel(id: string, now: Micros): ExecutionEvent[] {
    const entry = this.#orders.get(id);
    if (entry === undefined) {
      const event: ExecutionReportEvent = Object.freeze({
        type: 'executionReport', seq: ++this.#seq, clientOrderId: id, venueOrderId: '', symbol: '', side: 'BUY', orderType: 'LIMIT', price: 0, quantity: 0,
        execType: 'CANCEL_REJECTED', status: undefined, fillId: '', lastQty: 0, lastPrice: 0, cumQty: 0, leavesQty: 0, avgPrice: 0, lastFees: 0, cumFees: 0,
        text: 'unknown order', time: now,
      });
      this.reports.push(event);
      return [event];
    }
    const o = entry.order;
    if (isTerminal(o.status)) return [this.#report(entry, 'CANCEL_REJECTED', now, { text: `order is ${o.status}` })];
    if (this.#o.respond === 'manual') {
      entry.cancelWanted = true;
      return [];
    }
    const phase = this.#phase(o.symbol, now);
    if (!phaseAllowsCancels(phase)) return [this.#report(entry, 'CANCEL_REJECTED', now, { text: `cancels are not accepted in phase ${phase}` })];
    return this.confirmCancel(id, now);
  }

  confirmCancel(id: string, now: Micros): ExecutionEvent[] {
    const entry = this.#entry(id);
    const o = entry.order;
    const events: ExecutionEvent[] = o.status === 'PENDING_NEW' ? this.accept(id, now) : [];
    if (isTerminal(o.status)) return events;
    entry.cancelWanted = false;
    o.apply({ type: 'OrderCancelRequested', ts: now });
    events.push(this.#report(entry, 'PENDING_CANCEL', now));
    o.apply({ type: 'OrderCancelled', ts: now });
    this.portfolio.release(entry);
    events.push(this.#report(entry, 'CANCELLED', now));
    return events;
  }

  rejectCancel(id: string, text: string, now: Micros): ExecutionEvent[] {
    const entry = this.#entry(id);
    entry.cancelWanted = false;
    return [this.#report(entry, 'CANCEL_REJECTED', now, { text })];
  }

  /** Unsolicited cancel by the venue (or the OMS), e.g. a broker purge. */
  venueCancel(id: string, text: string, now: Micros): ExecutionEvent[] {
    const entry = this.#entry(id);
    const o = entry.order;
    if (isTerminal(o.status) || o.status === 'PENDING_NEW') return [];
    o.apply({ type: 'OrderCancelled', ts: now, reason: text });
    this.portfolio.release(entry);
    return [this.#report(entry, 'CANCELLED', now, { text })];
  }

  expire(id: string, now: Micros): ExecutionEvent[] {
    const entry = this.#entry(id);
    const o = entry.order;
    if (isTerminal(o.status)) return [];
    if (o.status === 'PENDING_NEW') {
      o.apply({ type: 'OrderDenied', ts: now, reason: 'EXPIRED_BEFORE_SEND' });
      return [this.#denied(id, 'EXPIRED_BEFORE_SEND', 'the trading day ended before the order was sent', now)];
    }
    o.apply({ type: 'OrderExpired', ts: now, reason: 'end of day' });
    this.portfolio.release(entry);
    return [this.#report(entry, 'EXPIRED', now, { text: 'end of day' })];
  }

  /** End of a trading day: every open order expires; positions settle (T+1). */
  dayRoll(now: Micros): ExecutionEvent[] {
    const events = this.openOrderIds.flatMap((id) => this.expire(id, now));
    this.portfolio.roll(chinaDate(now));
    return events;
  }
}

// ---------------------------------------------------------------------------------------------
// The harness

/** Fields of a tick to feed; everything is optional (defaults below). */
export interface TickInput {
  /** Venue time; the clock advances to it first (firing due timers). Default: now. */
  readonly time?: Micros;
  readonly last?: Price;
  /** Default: `last` (pass undefined explicitly for an empty side). */
  readonly bid?: Price | undefined;
  /** Default: `last` + one tick. */
  readonly ask?: Price | undefined;
  readonly bidQty?: Qty;
  readonly askQty?: Qty;
  readonly bids?: readonly BookLevel[];
  readonly asks?: readonly BookLevel[];
  /** Default: the session phase at the tick's time. */
  readonly phase?: TradingPhase;
  /** Default: the instrument seed's prevClose, else the first last price seen. */
  readonly prevClose?: Price;
  /** Default: computed from prevClose and the board's limit. */
  readonly upperLimit?: Price | undefined;
  readonly lowerLimit?: Price | undefined;
  readonly volume?: Qty;
  readonly turnover?: Money;
  /** Default: the day's first / highest / lowest last price so far. */
  readonly open?: Price;
  readonly high?: Price;
  readonly low?: Price;
}

export interface HarnessOptions {
  /** Raw parameters (validated with the strategy's schema, as config would be). */
  readonly params?: unknown;
  readonly symbols?: readonly string[];
  readonly instanceId?: string;
  readonly account?: string;
  /** Start time; default 2026-01-05 (a Monday) 09:30 China time. */
  readonly start?: Micros;
  /** Starting cash, default 1,000,000 CNY. */
  readonly cash?: Money;
  /** Starting positions (settled, i.e. sellable today, unless boughtToday says otherwise). */
  readonly positions?: readonly PositionSeed[];
  readonly instruments?: readonly InstrumentSeed[];
  readonly calendar?: TradingCalendar;
  readonly sessions?: MarketSessions;
  readonly lotSettings?: LotSettings;
  readonly fees?: FeeSchedule;
  readonly venue?: VenueOptions;
  /** Print the strategy's log lines to stderr (they are always recorded in `harness.logs`). */
  readonly printLogs?: boolean;
  /** Safety valve against strategies that answer every event with another order. Default 100,000. */
  readonly maxCascade?: number;
}

export const HARNESS_DEFAULT_START: Micros = chinaInstant(20260105, 9, 30);

/**
 * Drives one strategy in memory: feed ticks, move a manual clock (timers fire in order), answer
 * or auto-answer its orders through a simulated venue, restart it from a checkpoint, and
 * inspect what it did. Every method that delivers something resolves after the strategy and the
 * venue have nothing left to say (acks, fills and the orders they trigger).
 */
export class StrategyHarness<P = unknown, S extends object = JsonObject> {
  readonly clock: ManualClock;
  /** Every intent the strategy produced, in order (submits, cancels, subscriptions). */
  readonly actions: Intent[] = [];
  readonly logs: LogEntry[] = [];
  /** Every status record the strategy published, in order. */
  readonly statusHistory: Readonly<StatusRecord>[] = [];
  readonly #definition: StrategyDefinition<P, S>;
  readonly #options: HarnessOptions;
  readonly #venue: SimVenue;
  readonly #calendar: TradingCalendar;
  readonly #sessions: MarketSessions;
  readonly #lots: LotSettings;
  readonly #seeds = new Map<string, InstrumentSeed>();
  readonly #prevClose = new Map<string, Price>();
  readonly #session = new Map<string, { date: TradingDate; open: Price; high: Price; low: Price }>();
  #runtime: StrategyRuntime<P, S>;
  #lastCheckpoint: StrategyCheckpoint | undefined;

  private constructor(definition: StrategyDefinition<P, S>, options: HarnessOptions) {
    this.#definition = definition;
    this.#options = options;
    this.clock = new ManualClock(options.start ?? HARNESS_DEFAULT_START);
    this.#calendar = options.calendar ?? new TradingCalendar();
    this.#sessions = options.sessions ?? DEFAULT_MARKET_SESSIONS;
    this.#lots = options.lotSettings ?? DEFAULT_LOT_SETTINGS;
    for (const seed of options.instruments ?? []) this.#seeds.set(canonicalSymbol(seed.symbol), seed);
    const portfolio: PortfolioSeed = { cash: options.cash ?? 10_000_000_000, positions: options.positions ?? [] };
    const instanceId = options.instanceId ?? 'test';
    this.#venue = new SimVenue({
      portfolio: new Portfolio(chinaDate(this.clock.nowMicros()), portfolio),
      options: options.venue,
      instrument: (symbol) => instrumentInfo(symbol, this.#seeds.get(symbol), this.#lots),
      calendar: this.#calendar,
      sessions: this.#sessions,
      lots: this.#lots,
      fees: options.fees ?? DEFAULT_FEE_SCHEDULE,
      strategyTag: `${definition.name}.${instanceId}`,
    });
    this.#runtime = this.#makeRuntime(undefined);
  }

  /** Creates the harness and runs `onStart`. */
  static async start<P, S extends object>(definition: StrategyDefinition<P, S>, options: HarnessOptions = {}): Promise<StrategyHarness<P, S>> {
    const harness = new StrategyHarness(definition, options);
    await harness.#run(() => harness.#runtime.start());
    return harness;
  }

  #makeRuntime(checkpoint: StrategyCheckpoint | undefined): StrategyRuntime<P, S> {
    const o = this.#options;
    const instanceId = o.instanceId ?? 'test';
    return new StrategyRuntime(this.#definition, {
      instanceId,
      account: o.account ?? 'SIM',
      params: o.params,
      symbols: o.symbols ?? [],
      clock: this.clock,
      log: recordingLogger(this.logs, this.clock, `strategy.${this.#definition.name}.${instanceId}`, o.printLogs ?? false),
      calendar: this.#calendar,
      sessions: this.#sessions,
      lotSettings: this.#lots,
      fees: o.fees ?? DEFAULT_FEE_SCHEDULE,
      instruments: o.instruments ?? [],
      portfolio: { cash: o.cash ?? 10_000_000_000, positions: o.positions ?? [] },
      ...(checkpoint === undefined ? {} : { checkpoint }),
    });
  }

  // --- driving -------------------------------------------------------------------------------

  /** The instant of a China wall-clock time today ("10:30" or "10:30:15"). */
  at(hhmm: string, date: TradingDate = chinaDate(this.clock.nowMicros())): Micros {
    const m = /^(\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(hhmm);
    if (!m) throw new RangeError(`time must be HH:MM[:SS], got "${hhmm}"`);
    return chinaInstant(date, Number(m[1]), Number(m[2]), Number(m[3] ?? 0));
  }

  now(): Micros {
    return this.clock.nowMicros();
  }

  /** Delivers one tick (and lets resting orders fill against it). */
  async tick(symbolIn: string, input: TickInput = {}): Promise<void> {
    const symbol = canonicalSymbol(symbolIn);
    if (input.time !== undefined) await this.advanceTo(input.time);
    const tick = this.#makeTick(symbol, input);
    this.#venue.quotes.set(symbol, tick);
    await this.#run(() => this.#runtime.deliverTick(tick));
    await this.#deliverAll(this.#venue.matchResting(symbol, this.now()));
    this.#save();
  }

  /** One tick per last price, `everyMs` apart (the first at the current time). */
  async ticks(symbol: string, lastPrices: readonly Price[], options: { everyMs?: number } & Omit<TickInput, 'last' | 'time'> = {}): Promise<void> {
    const { everyMs = 3_000, ...rest } = options;
    for (let i = 0; i < lastPrices.length; i += 1) {
      if (i > 0) await this.advance(everyMs);
      await this.tick(symbol, { ...rest, last: lastPrices[i] as Price });
    }
  }

  /** Delivers a market trade print. */
  async trade(symbolIn: string, price: Price, qty: Qty, aggressor: Side | 'NONE' = 'NONE'): Promise<void> {
    const symbol = canonicalSymbol(symbolIn);
    const now = this.now();
    await this.#run(() => this.#runtime.deliverTrade(Object.freeze({ symbol, time: now, receivedAt: now, price, qty, aggressor })));
    this.#save();
  }

  /** Moves the clock forward by `ms`, firing timers (and day rolls) on the way, in time order. */
  advance(ms: number): Promise<void> {
    return this.advanceTo(this.now() + ms * 1000);
  }

  async advanceTo(target: Micros): Promise<void> {
    if (target < this.now()) throw new RangeError(`the harness clock never goes backwards (${target} < ${this.now()})`);
    for (let guard = 0; ; guard += 1) {
      if (guard > 10_000_000) throw new Error('harness: too many timer firings while advancing (a timer re-arming itself at the same instant?)');
      const now = this.now();
      const timerAt = this.#runtime.phase === 'running' ? this.#runtime.nextTimerAt() : undefined;
      const midnight = chinaInstant(chinaDate(now), 0, 0) + MICROS_PER_DAY;
      if (midnight <= target && (timerAt === undefined || midnight <= timerAt)) {
        this.clock.set(midnight);
        await this.#deliverAll(this.#venue.dayRoll(midnight));
        this.#save();
        continue;
      }
      if (timerAt === undefined || timerAt > target) break;
      this.clock.set(Math.max(now, timerAt));
      await this.#run(() => this.#runtime.fireDueTimers());
      this.#save();
    }
    this.clock.set(target);
  }

  /** Fills (part of) an order at the venue: default the whole remainder at the order's limit (or the quote). */
  async fill(clientOrderId: string, options: { qty?: Qty; price?: Price } = {}): Promise<void> {
    const snapshot = this.#venueOrder(clientOrderId);
    const quote = this.#venue.quotes.get(snapshot.symbol);
    const price = options.price ?? (snapshot.price > 0 ? snapshot.price : ((snapshot.side === 'BUY' ? quote?.ask : quote?.bid) ?? quote?.last));
    if (price === undefined) throw new StrategyApiError(`harness: give a fill price for ${clientOrderId} (no limit price and no quote)`);
    await this.#deliverAll(this.#venue.fill(clientOrderId, options.qty ?? snapshot.leaves, price, this.now()));
    this.#save();
  }

  /** Manual venue: acknowledge (SENT + ACCEPTED). */
  async accept(clientOrderId: string): Promise<void> {
    await this.#deliverAll(this.#venue.accept(clientOrderId, this.now()));
    this.#save();
  }
  /** Manual venue: pre-trade denial with a reason code. */
  async deny(clientOrderId: string, reasonCode: string, detail = ''): Promise<void> {
    await this.#deliverAll(this.#venue.deny(clientOrderId, reasonCode, detail, this.now()));
    this.#save();
  }
  /** Venue reject (废单). */
  async reject(clientOrderId: string, text = 'rejected by the venue'): Promise<void> {
    await this.#deliverAll(this.#venue.reject(clientOrderId, text, this.now()));
    this.#save();
  }
  /** Manual venue: confirm a requested cancel (PENDING_CANCEL + CANCELLED). */
  async confirmCancel(clientOrderId: string): Promise<void> {
    await this.#deliverAll(this.#venue.confirmCancel(clientOrderId, this.now()));
    this.#save();
  }
  async rejectCancel(clientOrderId: string, text = 'cancel rejected'): Promise<void> {
    await this.#deliverAll(this.#venue.rejectCancel(clientOrderId, text, this.now()));
    this.#save();
  }
  /** Unsolicited cancel (IOC remainder, broker purge). */
  async venueCancel(clientOrderId: string, text = 'cancelled by the venue'): Promise<void> {
    await this.#deliverAll(this.#venue.venueCancel(clientOrderId, text, this.now()));
    this.#save();
  }
  async expire(clientOrderId: string): Promise<void> {
    await this.#deliverAll(this.#venue.expire(clientOrderId, this.now()));
    this.#save();
  }

  /**
   * Simulates a crash and restart: a new runtime from a checkpoint (default: the one saved after
   * the last completed operation, as the host saves after each batch), `onStart` with
   * `ctx.restored`, then every execution report after the checkpoint's seq, as a resumed gRPC
   * stream replays them. Orders at the venue live on.
   */
  async restart(options: { from?: StrategyCheckpoint } = {}): Promise<void> {
    const checkpoint = options.from ?? this.#lastCheckpoint;
    if (checkpoint === undefined) throw new StrategyApiError('harness: no checkpoint to restart from');
    this.#runtime = this.#makeRuntime(structuredClone(checkpoint));
    await this.#run(() => this.#runtime.start());
    await this.#deliverAll(this.#venue.reportsAfter(checkpoint.lastReportSeq));
    this.#save();
  }

  /** Graceful stop (onStop; its orders are still sent and answered). */
  async stop(): Promise<void> {
    await this.#run(() => this.#runtime.stop());
    this.#save();
  }

  // --- inspection ----------------------------------------------------------------------------

  get runtime(): StrategyRuntime<P, S> {
    return this.#runtime;
  }
  get state(): S {
    return this.#runtime.state;
  }
  /** The latest status record. */
  get status(): Readonly<StatusRecord> {
    return this.#runtime.statusRecord;
  }
  /** Submitted orders, in order. */
  get submitted(): SubmitIntent[] {
    return this.actions.filter((a): a is SubmitIntent => a.type === 'submit');
  }
  /** Ids of the orders the strategy asked to cancel, in order. */
  get cancelled(): string[] {
    return this.actions.flatMap((a) => (a.type === 'cancel' ? [a.clientOrderId] : []));
  }
  /** Every execution event the venue produced (seq order). */
  get reports(): readonly ExecutionEvent[] {
    return this.#venue.reports;
  }
  /** Submits the venue ignored because the client order id was known (idempotent retries). */
  get duplicateSubmits(): number {
    return this.#venue.duplicateSubmits;
  }
  position(symbol: string): PositionView {
    return this.#runtime.position(canonicalSymbol(symbol));
  }
  cash(): CashView {
    return this.#runtime.cash();
  }
  openOrders(symbol?: string): readonly OrderView[] {
    return this.#runtime.openOrders(symbol === undefined ? undefined : canonicalSymbol(symbol));
  }
  order(clientOrderId: string): OrderView | undefined {
    return this.#runtime.order(clientOrderId);
  }
  /** The venue's (broker's) own view of the account, to compare with the strategy's. */
  broker(): { position: (symbol: string) => PositionView; cash: () => CashView; openOrderIds: () => string[] } {
    return {
      position: (symbol) => this.#venue.portfolio.position(canonicalSymbol(symbol)),
      cash: () => this.#venue.portfolio.cash(),
      openOrderIds: () => this.#venue.openOrderIds,
    };
  }
  /** A checkpoint of the strategy now (what the host would persist). */
  checkpoint(): StrategyCheckpoint {
    return this.#runtime.checkpoint();
  }
  /** The checkpoint saved after the last completed operation. */
  get lastCheckpoint(): StrategyCheckpoint | undefined {
    return this.#lastCheckpoint;
  }

  // --- internals -----------------------------------------------------------------------------

  #venueOrder(id: string): { symbol: string; side: Side; price: Price; leaves: Qty } {
    const report = [...this.#venue.reports].reverse().find((r): r is ExecutionReportEvent => r.type === 'executionReport' && r.clientOrderId === id && r.status !== undefined);
    if (report !== undefined) return { symbol: report.symbol, side: report.side, price: report.price, leaves: report.leavesQty };
    const intent = this.submitted.find((s) => s.clientOrderId === id);
    if (intent === undefined) throw new StrategyApiError(`harness: unknown order ${id}`);
    return { symbol: intent.symbol, side: intent.side, price: intent.price, leaves: intent.quantity };
  }

  #makeTick(symbol: string, input: TickInput): Tick {
    const now = this.now();
    const seed = this.#seeds.get(symbol);
    const info = instrumentInfo(symbol, seed, this.#lots);
    if (input.last !== undefined && !this.#prevClose.has(symbol)) this.#prevClose.set(symbol, seed?.prevClose ?? input.last);
    const prevClose = input.prevClose ?? seed?.prevClose ?? this.#prevClose.get(symbol) ?? 0;
    const last = input.last;
    const bid = 'bid' in input ? input.bid : last;
    const ask = 'ask' in input ? input.ask : last === undefined ? undefined : last + TICK;
    let upper = input.upperLimit;
    let lower = input.lowerLimit;
    if (!('upperLimit' in input) && !('lowerLimit' in input) && prevClose > 0) {
      const band = limitBandFromClose(prevClose, limitPpmFor({ board: info.board, isST: info.isST }, chinaDate(now)));
      upper = band.upper;
      lower = band.lower;
    }
    const date = chinaDate(now);
    let day = this.#session.get(symbol);
    if (last !== undefined) {
      if (day === undefined || day.date !== date) {
        day = { date, open: last, high: last, low: last };
        this.#session.set(symbol, day);
      }
      day.high = Math.max(day.high, last);
      day.low = Math.min(day.low, last);
    }
    const today = day?.date === date ? day : undefined;
    const bids = input.bids ?? (bid === undefined ? [] : [{ price: bid, qty: input.bidQty ?? 10_000, orders: 1 }]);
    const asks = input.asks ?? (ask === undefined ? [] : [{ price: ask, qty: input.askQty ?? 10_000, orders: 1 }]);
    return Object.freeze({
      symbol,
      time: now,
      receivedAt: now,
      phase: input.phase ?? phaseAtInstant(now, this.#calendar, info.board, this.#sessions),
      last,
      open: input.open ?? today?.open,
      high: input.high ?? today?.high,
      low: input.low ?? today?.low,
      prevClose,
      upperLimit: upper,
      lowerLimit: lower,
      volume: input.volume ?? 0,
      turnover: input.turnover ?? 0,
      bid: bids[0]?.price,
      ask: asks[0]?.price,
      bidQty: bids[0]?.qty ?? 0,
      askQty: asks[0]?.qty ?? 0,
      bids: Object.freeze(bids.map((l) => Object.freeze({ ...l }))),
      asks: Object.freeze(asks.map((l) => Object.freeze({ ...l }))),
    });
  }

  /** Runs one runtime step and everything it sets off. */
  async #run(step: () => Promise<StepResult>): Promise<void> {
    await this.#settle([await step()]);
  }

  async #deliverAll(events: readonly ExecutionEvent[]): Promise<void> {
    const results: StepResult[] = [];
    for (const event of events) results.push(await this.#runtime.deliverExecution(event));
    await this.#settle(results);
  }

  /** Sends intents to the venue and delivers its answers until nothing is left (breadth first). */
  async #settle(initial: StepResult[]): Promise<void> {
    const queue: Intent[] = [];
    const take = (r: StepResult) => {
      if (r.status !== undefined) this.statusHistory.push(r.status);
      queue.push(...r.intents);
    };
    initial.forEach(take);
    const limit = this.#options.maxCascade ?? 100_000;
    for (let n = 0; queue.length > 0; n += 1) {
      if (n > limit) throw new Error(`harness: more than ${limit} intents in one cascade (does the strategy answer every event with a new order?)`);
      const intent = queue.shift() as Intent;
      this.actions.push(intent);
      const now = this.now();
      const events = intent.type === 'submit' ? this.#venue.submit(intent, now) : intent.type === 'cancel' ? this.#venue.cancel(intent.clientOrderId, now) : [];
      for (const event of events) take(await this.#runtime.deliverExecution(event));
    }
  }

  #save(): void {
    if (this.#runtime.phase === 'failed') return;
    this.#lastCheckpoint = this.#runtime.checkpoint();
  }
}

