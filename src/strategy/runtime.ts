/**
 * The event-driven `StrategyRuntime`: the one piece of code that turns events into hook calls
 * and hook actions into intents, shared by the host (`triquant strategy`, see instance.ts), the
 * backtester and the in-memory harness (testing.ts). Pure and in-memory: no I/O, an injected clock.
 *
 * The host persists `runtime.checkpoint()` with each handled batch of market data (one Redis
 * transaction with the acknowledgement) before it sends the batch's intents, and restarts from
 * it (instance.ts explains why that gives exactly-once handling).
 *
 * Runtime guarantees: one event at a time (calls queue up; an async hook is awaited); a hook
 * that throws fails the runtime (no further events; restart from the last checkpoint) and the
 * intents of the failed step are dropped; execution reports with a seq already processed, and
 * fills with a known fill id, are ignored; client order ids are `<strategy>.<instance>-<date>-<seq>`
 * with the seq checkpointed, so replaying the same input from a checkpoint reproduces the same
 * ids and a resubmission is recognised by the execution service as a duplicate.
 */
import { TradingCalendar } from '../core/calendar.ts';
import { chinaDate, chinaInstant, MICROS_PER_DAY, type Clock, type Micros, type TradingDate } from '../core/clock.ts';
import { computeFees, DEFAULT_FEE_SCHEDULE, type FeeSchedule } from '../core/fees.ts';
import { parseSymbol, type Side } from '../core/instruments.ts';
import { DEFAULT_LOT_SETTINGS, type LotSettings } from '../core/lot-rules.ts';
import { ORDER_TYPES, type OrderType } from '../core/order.ts';
import { isTerminal, type OrderStatus } from '../core/order-state.ts';
import { TICK } from '../core/price-rules.ts';
import { DEFAULT_MARKET_SESSIONS, phaseAtInstant, type MarketSessions } from '../core/sessions.ts';
import { divRoundHalfUp, type Money, type Price, type Qty } from '../core/units.ts';
import { silentLogger, type Logger } from '../obs/log.ts';
import type { TradingPhase } from '../protocol/feed/frames.ts';
import {
  INSTANCE_ID_PATTERN,
  jsonProblem,
  MAX_STATE_BYTES,
  parseParams,
  StrategyApiError,
  type CashView,
  type ExecutionEvent,
  type ExecutionReportEvent,
  type ExecType,
  type Fill,
  type InstrumentInfo,
  type Intent,
  type JsonObject,
  type MarketTrade,
  type OrderDeniedEvent,
  type OrderOptions,
  type OrderPrice,
  type OrderRecordJson,
  type OrderUpdate,
  type OrderUpdateKind,
  type OrderView,
  type PortfolioSeed,
  type PositionRecordJson,
  type PositionSeed,
  type PositionView,
  type SessionInterval,
  type StepResult,
  type StrategyCheckpoint,
  type StrategyContext,
  type StrategyDefinition,
  type StrategyHooks,
  type Tick,
  type TimerSchedule,
} from './api.ts';

export type StatusRecord = Record<string, string | number | boolean>;

/** A hook threw (or rejected). The runtime is failed afterwards: restart it from the last checkpoint. */
export class StrategyHookError extends StrategyApiError {
  readonly hook: string;
  override readonly cause: unknown;
  constructor(strategy: string, hook: string, cause: unknown) {
    super(`strategy ${strategy}: ${hook} threw: ${cause instanceof Error ? cause.message : String(cause)}`, 'STRATEGY_HOOK_FAILED');
    this.hook = hook;
    this.cause = cause;
  }
}

/** x × num / den rounded half up, exact for any safe integers (the product may exceed 2^53). */
function mulDivRound(x: number, num: number, den: number): number {
  const b = BigInt(x) * BigInt(num) * 2n + BigInt(den);
  return Number(b / (2n * BigInt(den)));
}

// ---------------------------------------------------------------------------------------------
// Portfolio: cash, positions, T+1, freezes. Used by the runtime (the strategy's view) and by the
// harness venue (the broker's view), each its own instance.

interface PositionRecord {
  symbol: string;
  settled: Qty;
  boughtToday: Qty;
  frozenSell: Qty;
  costBasis: Money;
  realizedPnl: Money;
}

/** The money and share reservations of one order. */
export interface Reservation {
  readonly side: Side;
  readonly symbol: string;
  /** Price the buy's cash was reserved at (its limit, or an estimate for a market order). */
  readonly reservePrice: Price;
  frozenCash: Money;
  frozenQty: Qty;
}

export class Portfolio {
  date: TradingDate;
  available: Money;
  frozen: Money;
  readonly #positions = new Map<string, PositionRecord>();

  constructor(date: TradingDate, seed: PortfolioSeed = { cash: 0 }) {
    if (!Number.isSafeInteger(seed.cash)) throw new RangeError(`cash must be integer money units, got ${seed.cash}`);
    this.date = date;
    this.available = seed.cash;
    this.frozen = 0;
    for (const p of seed.positions ?? []) this.#seed(p);
  }

  static fromJson(json: StrategyCheckpoint['portfolio']): Portfolio {
    const portfolio = new Portfolio(json.date, { cash: json.available });
    portfolio.frozen = json.frozen;
    for (const p of json.positions) portfolio.#positions.set(p.symbol, { ...p });
    return portfolio;
  }

  toJson(): StrategyCheckpoint['portfolio'] {
    return {
      date: this.date,
      available: this.available,
      frozen: this.frozen,
      positions: [...this.#positions.values()].map((p): PositionRecordJson => ({ ...p })),
    };
  }

  #seed(p: PositionSeed): void {
    if (!Number.isSafeInteger(p.quantity) || p.quantity < 0) throw new RangeError(`${p.symbol}: quantity must be a whole number of shares`);
    const today = p.boughtToday ?? 0;
    this.#positions.set(p.symbol, {
      symbol: p.symbol,
      settled: p.quantity - today,
      boughtToday: today,
      frozenSell: 0,
      costBasis: (p.avgCost ?? 0) * p.quantity,
      realizedPnl: 0,
    });
  }

  #get(symbol: string): PositionRecord {
    let p = this.#positions.get(symbol);
    if (p === undefined) {
      p = { symbol, settled: 0, boughtToday: 0, frozenSell: 0, costBasis: 0, realizedPnl: 0 };
      this.#positions.set(symbol, p);
    }
    return p;
  }

  /** A new trading date: what was bought before it becomes sellable (T+1). */
  roll(date: TradingDate): boolean {
    if (date <= this.date) return false;
    this.date = date;
    for (const p of this.#positions.values()) {
      p.settled += p.boughtToday;
      p.boughtToday = 0;
    }
    return true;
  }

  sellable(symbol: string): Qty {
    const p = this.#positions.get(symbol);
    return p === undefined ? 0 : Math.max(0, p.settled - p.frozenSell);
  }

  position(symbol: string): PositionView {
    const p = this.#positions.get(symbol);
    if (p === undefined) {
      return Object.freeze({ symbol, quantity: 0, sellable: 0, frozen: 0, boughtToday: 0, avgCost: undefined, costBasis: 0, realizedPnl: 0 });
    }
    const quantity = p.settled + p.boughtToday;
    return Object.freeze({
      symbol,
      quantity,
      sellable: Math.max(0, p.settled - p.frozenSell),
      frozen: p.frozenSell,
      boughtToday: p.boughtToday,
      avgCost: quantity > 0 ? divRoundHalfUp(p.costBasis, quantity) : undefined,
      costBasis: p.costBasis,
      realizedPnl: p.realizedPnl,
    });
  }

  positions(): PositionView[] {
    return [...this.#positions.values()].filter((p) => p.settled + p.boughtToday > 0).map((p) => this.position(p.symbol));
  }

  cash(): CashView {
    return Object.freeze({ available: this.available, frozen: this.frozen });
  }

  /** Reserves cash for a buy; never more than is available. Returns the amount reserved. */
  reserveCash(amount: Money): Money {
    const reserved = Math.max(0, Math.min(amount, this.available));
    this.available -= reserved;
    this.frozen += reserved;
    return reserved;
  }

  /** Freezes shares for a sell; never more than is sellable. Returns the quantity frozen. */
  reserveShares(symbol: string, qty: Qty): Qty {
    const frozen = Math.max(0, Math.min(qty, this.sellable(symbol)));
    if (frozen > 0) this.#get(symbol).frozenSell += frozen;
    return frozen;
  }

  /** Opens the reservations of a new order. */
  reserve(side: Side, symbol: string, qty: Qty, reservePrice: Price, fees: FeeSchedule): Reservation {
    if (side === 'BUY') {
      const estimate = reservePrice > 0 ? reservePrice * qty + computeFees('BUY', reservePrice, qty, fees).total : 0;
      return { side, symbol, reservePrice, frozenCash: this.reserveCash(estimate), frozenQty: 0 };
    }
    return { side, symbol, reservePrice, frozenCash: 0, frozenQty: this.reserveShares(symbol, qty) };
  }

  /** Releases whatever an order still holds (it is done). */
  release(r: Reservation): void {
    if (r.frozenCash > 0) {
      this.frozen -= r.frozenCash;
      this.available += r.frozenCash;
      r.frozenCash = 0;
    }
    if (r.frozenQty > 0) {
      const p = this.#get(r.symbol);
      p.frozenSell = Math.max(0, p.frozenSell - r.frozenQty);
      r.frozenQty = 0;
    }
  }

  /** Books a fill of `qty` at `price` with `fees`; `done` = the order has nothing left (release the rest). */
  fill(r: Reservation, qty: Qty, price: Price, fees: Money, done: boolean): void {
    const amount = price * qty;
    const p = this.#get(r.symbol);
    if (r.side === 'BUY') {
      const released = done ? r.frozenCash : Math.min(r.frozenCash, r.reservePrice * qty);
      r.frozenCash -= released;
      this.frozen -= released;
      this.available += released - amount - fees;
      p.boughtToday += qty;
      p.costBasis += amount + fees;
    } else {
      const used = Math.min(r.frozenQty, qty);
      r.frozenQty -= used;
      p.frozenSell = Math.max(0, p.frozenSell - used);
      const held = p.settled + p.boughtToday;
      const sold = Math.min(qty, held);
      const costRemoved = sold >= held ? p.costBasis : mulDivRound(p.costBasis, sold, held);
      const fromSettled = Math.min(sold, p.settled);
      p.settled -= fromSettled;
      p.boughtToday -= sold - fromSettled;
      p.costBasis -= costRemoved;
      p.realizedPnl += amount - fees - costRemoved;
      this.available += amount - fees;
    }
    if (done) this.release(r);
  }
}

// ---------------------------------------------------------------------------------------------
// Instruments

/** Reference data the runner knows about a symbol beyond what its code says. */
export interface InstrumentSeed {
  readonly symbol: string;
  readonly name?: string;
  readonly isST?: boolean;
  /** Previous close (harness: the default for ticks' prevClose and price limits). */
  readonly prevClose?: Price;
}

export function instrumentInfo(symbol: string, seed: InstrumentSeed | undefined, lots: LotSettings): InstrumentInfo {
  const parsed = parseSymbol(symbol);
  if (!parsed.ok) throw new StrategyApiError(`unknown instrument "${symbol}": ${parsed.detail}`, 'UNKNOWN_INSTRUMENT');
  const { board } = parsed.value;
  return Object.freeze({
    symbol: parsed.value.symbol,
    code: parsed.value.code,
    exchange: parsed.value.exchange,
    board,
    name: seed?.name ?? parsed.value.symbol,
    isST: seed?.isST ?? false,
    lot: lots.lots[board],
    maxOrderQty: lots.maxOrderQty[board],
    tick: TICK,
  });
}

export function canonicalSymbol(symbol: string): string {
  if (typeof symbol !== 'string') throw new StrategyApiError(`symbol must be a string like "600000.SH", got ${String(symbol)}`);
  const parsed = parseSymbol(symbol);
  if (!parsed.ok) throw new StrategyApiError(`bad symbol "${symbol}": ${parsed.detail}`, 'BAD_SYMBOL');
  return parsed.value.symbol;
}

// ---------------------------------------------------------------------------------------------
// The runtime

interface OrderRecord extends Reservation {
  readonly clientOrderId: string;
  symbol: string;
  side: Side;
  orderType: OrderType;
  price: Price;
  quantity: Qty;
  tag: string;
  status: OrderStatus;
  filledQty: Qty;
  notional: Money;
  fees: Money;
  cancelRequested: boolean;
  reason: string | undefined;
  detail: string | undefined;
  createdAt: Micros;
  updatedAt: Micros;
  reservePrice: Price;
  fillIds: Set<string>;
}

/** A new order's record (PENDING_NEW, nothing filled): submitted by the strategy or adopted from the execution service. Symbol and side come with the reservation. */
function newOrderRecord(
  reservation: Reservation,
  order: Pick<OrderRecord, 'clientOrderId' | 'orderType' | 'price' | 'quantity' | 'tag'>,
  at: Micros,
): OrderRecord {
  return {
    ...reservation,
    clientOrderId: order.clientOrderId,
    orderType: order.orderType,
    price: order.price,
    quantity: order.quantity,
    tag: order.tag,
    status: 'PENDING_NEW',
    filledQty: 0,
    notional: 0,
    fees: 0,
    cancelRequested: false,
    reason: undefined,
    detail: undefined,
    createdAt: at,
    updatedAt: at,
    fillIds: new Set(),
  };
}

interface TimerEntry {
  due: Micros;
  everyMicros: Micros | undefined;
  order: number;
}

export interface RuntimeOptions {
  readonly instanceId: string;
  readonly account: string;
  /** Raw parameters from config; validated with the definition's schema. */
  readonly params?: unknown;
  /** Symbols subscribed from the start (config). */
  readonly symbols?: readonly string[];
  readonly clock: Clock;
  readonly log?: Logger;
  readonly calendar?: TradingCalendar;
  readonly sessions?: MarketSessions;
  readonly lotSettings?: LotSettings;
  readonly fees?: FeeSchedule;
  readonly instruments?: readonly InstrumentSeed[];
  /** Cash and positions of a fresh start (ignored when resuming from a checkpoint). */
  readonly portfolio?: PortfolioSeed;
  /** Resume from this checkpoint (a restart). */
  readonly checkpoint?: StrategyCheckpoint;
  /**
   * Latest quotes to start with (e.g. from the gateway's latest-quote tap), so `ctx.lastTick()`
   * answers before the first tick arrives. Ticks are not part of checkpoints.
   */
  readonly lastTicks?: readonly Tick[];
  readonly maxStateBytes?: number;
}

type RuntimePhase = 'new' | 'running' | 'stopped' | 'failed';

/** Finished orders kept in a checkpoint (all open ones are always kept). */
export const MAX_CHECKPOINT_DONE_ORDERS = 1_000;

const EMPTY_STEP: StepResult = Object.freeze({ intents: Object.freeze([]) as readonly Intent[], status: undefined });
const MARKET_TYPES = new Set<string>(ORDER_TYPES.filter((t) => t !== 'LIMIT'));

/**
 * Drives one strategy instance: deliver events, collect intents, take checkpoints. Pure and
 * in-memory; every call returns the intents the strategy produced while handling it.
 */
export class StrategyRuntime<P = unknown, S extends object = JsonObject> {
  readonly definition: StrategyDefinition<P, S>;
  readonly instanceId: string;
  readonly account: string;
  readonly params: P;
  readonly restored: boolean;
  readonly #hooks: StrategyHooks<P, S>;
  readonly #ctx: StrategyContext<P, S>;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #calendar: TradingCalendar;
  readonly #sessions: MarketSessions;
  readonly #lots: LotSettings;
  readonly #fees: FeeSchedule;
  readonly #maxStateBytes: number;
  readonly #instrumentSeeds = new Map<string, InstrumentSeed>();
  readonly #instruments = new Map<string, InstrumentInfo>();
  readonly #orders = new Map<string, OrderRecord>();
  readonly #subscriptions = new Set<string>();
  readonly #timers = new Map<string, TimerEntry>();
  readonly #lastTicks = new Map<string, Tick>();
  #portfolio: Portfolio;
  #state: S;
  #ids: { date: TradingDate; lastSeq: number };
  #lastReportSeq = 0;
  #status: StatusRecord = {};
  #statusDirty = false;
  #outbox: Intent[] = [];
  #inHook = false;
  #phase: RuntimePhase = 'new';
  #timerOrder = 0;
  #chain: Promise<unknown> = Promise.resolve();

  constructor(definition: StrategyDefinition<P, S>, options: RuntimeOptions) {
    if (!INSTANCE_ID_PATTERN.test(options.instanceId)) {
      throw new StrategyApiError(`instance id must match ${INSTANCE_ID_PATTERN} (it is part of client order ids): "${options.instanceId}"`);
    }
    this.definition = definition;
    this.instanceId = options.instanceId;
    this.account = options.account;
    this.#clock = options.clock;
    this.#log = options.log ?? silentLogger;
    this.#calendar = options.calendar ?? new TradingCalendar();
    this.#sessions = options.sessions ?? DEFAULT_MARKET_SESSIONS;
    this.#lots = options.lotSettings ?? DEFAULT_LOT_SETTINGS;
    this.#fees = options.fees ?? DEFAULT_FEE_SCHEDULE;
    this.#maxStateBytes = options.maxStateBytes ?? MAX_STATE_BYTES;
    for (const seed of options.instruments ?? []) this.#instrumentSeeds.set(canonicalSymbol(seed.symbol), seed);
    this.params = parseParams(definition as unknown as StrategyDefinition<P, JsonObject>, options.params);
    const today = chinaDate(this.#clock.nowMicros());
    const cp = options.checkpoint;
    this.restored = cp !== undefined;
    if (cp === undefined) {
      this.#state = definition.initialState();
      this.#ids = { date: today, lastSeq: 0 };
      this.#portfolio = new Portfolio(today, options.portfolio);
      for (const s of options.symbols ?? []) this.#subscriptions.add(canonicalSymbol(s));
    } else {
      if (cp.format !== 1) throw new StrategyApiError(`checkpoint format ${String(cp.format)} is not supported`);
      if (cp.strategy !== definition.name || cp.instanceId !== options.instanceId) {
        throw new StrategyApiError(`checkpoint belongs to ${cp.strategy}.${cp.instanceId}, not ${definition.name}.${options.instanceId}`);
      }
      if (cp.version !== definition.version) {
        this.#log.warn('resuming a checkpoint written by another strategy version', { checkpointVersion: cp.version, version: definition.version });
      }
      this.#state = { ...definition.initialState(), ...(structuredClone(cp.state) as S) };
      this.#ids = { ...cp.ids };
      this.#lastReportSeq = cp.lastReportSeq;
      this.#portfolio = Portfolio.fromJson(cp.portfolio);
      this.#status = { ...cp.status };
      for (const s of cp.subscriptions) this.#subscriptions.add(s);
      for (const t of cp.timers) this.#timers.set(t.name, { due: t.due, everyMicros: t.everyMicros ?? undefined, order: ++this.#timerOrder });
      for (const o of cp.orders) {
        this.#orders.set(o.clientOrderId, { ...o, reason: o.reason ?? undefined, detail: o.detail ?? undefined, fillIds: new Set(o.fillIds) });
      }
      for (const s of options.symbols ?? []) this.#subscriptions.add(canonicalSymbol(s));
    }
    for (const tick of options.lastTicks ?? []) this.#lastTicks.set(tick.symbol, tick);
    this.#hooks = definition.create(this.params);
    this.#ctx = this.#makeContext();
  }

  /** new → running (after start) → stopped; failed after a hook threw. */
  get phase(): RuntimePhase {
    return this.#phase;
  }
  get lastReportSeq(): number {
    return this.#lastReportSeq;
  }
  /** The strategy's state object (live; do not mutate from outside). */
  get state(): S {
    return this.#state;
  }
  get statusRecord(): Readonly<StatusRecord> {
    return { ...this.#status };
  }
  subscriptions(): readonly string[] {
    return [...this.#subscriptions];
  }
  // Reads from outside a step settle the date first, so T+1 is current at any clock time.
  position(symbol: string): PositionView {
    this.#rollDate();
    return this.#portfolio.position(symbol);
  }
  positions(): readonly PositionView[] {
    this.#rollDate();
    return this.#portfolio.positions();
  }
  cash(): CashView {
    this.#rollDate();
    return this.#portfolio.cash();
  }
  openOrders(symbol?: string): readonly OrderView[] {
    this.#rollDate();
    return this.#openOrders(symbol);
  }
  order(clientOrderId: string): OrderView | undefined {
    const rec = this.#orders.get(clientOrderId);
    return rec === undefined ? undefined : viewOf(rec);
  }
  /** When the next timer is due (the host sets a real timer for it; harness/backtest advance to it). */
  nextTimerAt(): Micros | undefined {
    let next: Micros | undefined;
    for (const t of this.#timers.values()) if (next === undefined || t.due < next) next = t.due;
    return next;
  }

  // --- events --------------------------------------------------------------------------------

  start(): Promise<StepResult> {
    return this.#step('start', async () => {
      if (this.#phase !== 'new') throw new StrategyApiError('start() was already called');
      this.#phase = 'running';
      this.#log.info(this.restored ? 'strategy restarted from checkpoint' : 'strategy started', {
        version: this.definition.version,
        instance: this.instanceId,
      });
      await this.#call('onStart', (h, c) => h.onStart?.(c));
    }, ['new']);
  }

  deliverTick(tick: Tick): Promise<StepResult> {
    return this.#step('onTick', async () => {
      if (!this.#subscriptions.has(tick.symbol)) return;
      this.#lastTicks.set(tick.symbol, tick);
      await this.#call('onTick', (h, c) => h.onTick?.(c, tick));
    });
  }

  deliverTrade(trade: MarketTrade): Promise<StepResult> {
    return this.#step('onTrade', async () => {
      if (!this.#subscriptions.has(trade.symbol)) return;
      await this.#call('onTrade', (h, c) => h.onTrade?.(c, trade));
    });
  }

  /** After stop() the answers to onStop's orders are still booked, without calling hooks. */
  deliverExecution(event: ExecutionEvent): Promise<StepResult> {
    return this.#step('execution', async () => {
      if (event.seq > 0) {
        if (event.seq <= this.#lastReportSeq) return; // a replayed message already processed
        this.#lastReportSeq = event.seq;
      }
      if (event.type === 'orderDenied') await this.#onDenied(event);
      else await this.#onReport(event);
    }, ['running', 'stopped']);
  }

  /** Fires every timer due at the clock's current time, in due order. */
  fireDueTimers(): Promise<StepResult> {
    return this.#step('onTimer', async () => {
      const now = this.#clock.nowMicros();
      const due = [...this.#timers.entries()].filter(([, t]) => t.due <= now).sort((a, b) => a[1].due - b[1].due || a[1].order - b[1].order);
      for (const [name, entry] of due) {
        if (this.#timers.get(name) !== entry) continue; // cleared or replaced by an earlier timer's hook
        if (entry.everyMicros === undefined) {
          this.#timers.delete(name);
        } else {
          entry.due += entry.everyMicros;
          if (entry.due <= now) entry.due += Math.ceil((now - entry.due + 1) / entry.everyMicros) * entry.everyMicros; // late: skip missed beats
        }
        await this.#call('onTimer', (h, c) => h.onTimer?.(c, name));
      }
    });
  }

  /** Graceful stop: onStop, then no more events. Intents from onStop are returned. */
  stop(): Promise<StepResult> {
    return this.#step('stop', async () => {
      await this.#call('onStop', (h, c) => h.onStop?.(c));
      this.#phase = 'stopped';
      this.#log.info('strategy stopped');
    });
  }

  /** The resumable snapshot (plain JSON). Throws if the state is not JSON or too large. */
  checkpoint(): StrategyCheckpoint {
    const problem = jsonProblem(this.#state, 'ctx.state');
    if (problem !== undefined) throw new StrategyApiError(`strategy ${this.definition.name}: ${problem}`, 'STRATEGY_STATE_INVALID');
    const text = JSON.stringify(this.#state);
    if (text.length > this.#maxStateBytes) {
      throw new StrategyApiError(`strategy ${this.definition.name}: ctx.state is ${text.length} bytes, above the ${this.#maxStateBytes} limit`, 'STRATEGY_STATE_INVALID');
    }
    return {
      format: 1,
      strategy: this.definition.name,
      version: this.definition.version,
      instanceId: this.instanceId,
      account: this.account,
      savedAt: this.#clock.nowMicros(),
      state: JSON.parse(text) as JsonObject,
      ids: { ...this.#ids },
      lastReportSeq: this.#lastReportSeq,
      subscriptions: [...this.#subscriptions],
      timers: [...this.#timers.entries()].map(([name, t]) => ({ name, due: t.due, everyMicros: t.everyMicros ?? null })),
      status: { ...this.#status },
      portfolio: this.#portfolio.toJson(),
      orders: this.#checkpointOrders().map(
        (o): OrderRecordJson => ({
          clientOrderId: o.clientOrderId,
          symbol: o.symbol,
          side: o.side,
          orderType: o.orderType,
          price: o.price,
          quantity: o.quantity,
          tag: o.tag,
          status: o.status,
          filledQty: o.filledQty,
          notional: o.notional,
          fees: o.fees,
          cancelRequested: o.cancelRequested,
          reason: o.reason ?? null,
          detail: o.detail ?? null,
          createdAt: o.createdAt,
          updatedAt: o.updatedAt,
          reservePrice: o.reservePrice,
          frozenCash: o.frozenCash,
          frozenQty: o.frozenQty,
          fillIds: [...o.fillIds],
        }),
      ),
    };
  }

  // --- internals -----------------------------------------------------------------------------

  /** Open orders, plus today's most recently updated finished ones (bounded, for lookups and id-reuse checks). */
  #checkpointOrders(): OrderRecord[] {
    const all = [...this.#orders.values()];
    const done = all.filter((o) => isTerminal(o.status));
    if (done.length <= MAX_CHECKPOINT_DONE_ORDERS) return all;
    const keep = new Set(done.sort((a, b) => b.updatedAt - a.updatedAt).slice(0, MAX_CHECKPOINT_DONE_ORDERS));
    return all.filter((o) => !isTerminal(o.status) || keep.has(o));
  }

  #step(label: string, body: () => Promise<void>, allowed: readonly RuntimePhase[] = ['running']): Promise<StepResult> {
    const run = this.#chain.then(async (): Promise<StepResult> => {
      if (this.#phase === 'failed') throw new StrategyApiError(`strategy ${this.definition.name} has failed; restart it from its last checkpoint`, 'STRATEGY_FAILED');
      if (!allowed.includes(this.#phase)) {
        throw new StrategyApiError(`cannot deliver ${label}: the strategy is ${this.#phase === 'new' ? 'not started' : this.#phase}`);
      }
      this.#rollDate();
      await body();
      const intents = this.#outbox;
      this.#outbox = [];
      const status = this.#statusDirty ? Object.freeze({ ...this.#status }) : undefined;
      this.#statusDirty = false;
      return intents.length === 0 && status === undefined ? EMPTY_STEP : { intents, status };
    });
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #call(hook: string, invoke: (hooks: StrategyHooks<P, S>, ctx: StrategyContext<P, S>) => void | Promise<void>): Promise<void> {
    if (this.#phase === 'stopped') return;
    this.#inHook = true;
    try {
      await invoke(this.#hooks, this.#ctx);
    } catch (error) {
      this.#phase = 'failed';
      this.#outbox = [];
      this.#log.error('strategy hook threw; the instance must restart from its last checkpoint', { hook, error });
      throw new StrategyHookError(this.definition.name, hook, error);
    } finally {
      this.#inHook = false;
    }
  }

  #rollDate(): void {
    const today = chinaDate(this.#clock.nowMicros());
    if (this.#portfolio.roll(today)) {
      for (const [id, o] of this.#orders) if (isTerminal(o.status)) this.#orders.delete(id);
      this.#log.info('new trading day', { date: today });
    }
    if (today > this.#ids.date) this.#ids = { date: today, lastSeq: 0 };
  }

  #openOrders(symbol?: string): OrderView[] {
    const out: OrderView[] = [];
    for (const o of this.#orders.values()) if (!isTerminal(o.status) && (symbol === undefined || o.symbol === symbol)) out.push(viewOf(o));
    return out;
  }

  #instrument(symbol: string): InstrumentInfo {
    let info = this.#instruments.get(symbol);
    if (info === undefined) {
      const canonical = canonicalSymbol(symbol);
      info = instrumentInfo(canonical, this.#instrumentSeeds.get(canonical), this.#lots);
      this.#instruments.set(symbol, info);
    }
    return info;
  }

  #assertInHook(action: string): void {
    if (!this.#inHook) {
      throw new StrategyApiError(`ctx.${action}() called outside a hook (from a stray callback?): actions are only accepted while a hook runs`);
    }
    if (this.#phase !== 'running') throw new StrategyApiError(`ctx.${action}(): the strategy is ${this.#phase}`);
  }

  #submit(side: Side, symbolIn: string, qty: Qty, price: OrderPrice, options: OrderOptions | undefined): string {
    this.#assertInHook(side === 'BUY' ? 'buy' : 'sell');
    const symbol = canonicalSymbol(symbolIn);
    if (!Number.isSafeInteger(qty) || qty <= 0) throw new StrategyApiError(`${side} ${symbol}: quantity must be a positive whole number of shares, got ${qty}`);
    let orderType: OrderType;
    let limit: Price;
    if (typeof price === 'number') {
      if (!Number.isSafeInteger(price) || price <= 0) {
        throw new StrategyApiError(
          `${side} ${symbol}: price must be a positive integer of 0.0001 CNY units (10.05 CNY = 100500; use yuan(10.05)), got ${price}`,
        );
      }
      orderType = 'LIMIT';
      limit = price;
    } else if (typeof price === 'object' && price !== null && MARKET_TYPES.has(price.type)) {
      const protection = price.protection ?? 0;
      if (!Number.isSafeInteger(protection) || protection < 0) throw new StrategyApiError(`${side} ${symbol}: protection price must be an integer ≥ 0 units, got ${protection}`);
      orderType = price.type;
      limit = protection;
    } else {
      throw new StrategyApiError(`${side} ${symbol}: price must be an integer limit price or { type: 'MARKET_…', protection? }, got ${JSON.stringify(price)}`);
    }
    const tag = options?.tag ?? '';
    if (typeof tag !== 'string' || tag.length > 32) throw new StrategyApiError(`${side} ${symbol}: tag must be a string of at most 32 characters`);
    this.#instrument(symbol);

    const now = this.#clock.nowMicros();
    const prefix = `${this.definition.name}.${this.instanceId}-${this.#ids.date}-`;
    for (;;) {
      this.#ids.lastSeq += 1;
      const id = `${prefix}${this.#ids.lastSeq}`;
      const existing = this.#orders.get(id);
      if (existing === undefined) {
        const reservePrice = side === 'BUY' ? (limit > 0 ? limit : this.#marketReservePrice(symbol)) : limit;
        const reservation = this.#portfolio.reserve(side, symbol, qty, reservePrice, this.#fees);
        const rec = newOrderRecord(reservation, { clientOrderId: id, orderType, price: limit, quantity: qty, tag }, now);
        this.#orders.set(id, rec);
        this.#outbox.push(
          Object.freeze({ type: 'submit', clientOrderId: id, account: this.account, symbol, side, orderType, price: limit, quantity: qty, tag, createdAt: now }),
        );
        return id;
      }
      // The id is known already: after a restart from an older checkpoint, the execution service
      // told us about this order before the strategy re-made its decision. Same order: it is
      // that order (nothing to send). Different order: skip the id, never reuse it.
      if (existing.symbol === symbol && existing.side === side && existing.orderType === orderType && existing.price === limit && existing.quantity === qty) {
        this.#log.info('order re-decided after a restart matches a known order; not resubmitted', { clientOrderId: id });
        return id;
      }
      this.#log.warn('client order id already used by a different order (restart from an older checkpoint); skipping it', { clientOrderId: id });
    }
  }

  #marketReservePrice(symbol: string): Price {
    const t = this.#lastTicks.get(symbol);
    return t?.upperLimit ?? t?.ask ?? t?.last ?? 0;
  }

  #cancel(clientOrderId: string): boolean {
    this.#assertInHook('cancel');
    const rec = this.#orders.get(clientOrderId);
    if (rec === undefined || isTerminal(rec.status) || rec.cancelRequested || rec.status === 'PENDING_CANCEL') return false;
    rec.cancelRequested = true;
    this.#outbox.push(Object.freeze({ type: 'cancel', clientOrderId, account: this.account, createdAt: this.#clock.nowMicros() }));
    return true;
  }

  #subscribe(kind: 'subscribe' | 'unsubscribe', symbols: string | readonly string[]): void {
    this.#assertInHook(kind);
    const list = (typeof symbols === 'string' ? [symbols] : [...symbols]).map(canonicalSymbol);
    const changed = list.filter((s) => (kind === 'subscribe' ? !this.#subscriptions.has(s) : this.#subscriptions.has(s)));
    if (changed.length === 0) return;
    for (const s of changed) {
      if (kind === 'subscribe') this.#subscriptions.add(s);
      else this.#subscriptions.delete(s);
    }
    this.#outbox.push(Object.freeze({ type: kind, symbols: Object.freeze(changed), createdAt: this.#clock.nowMicros() }));
  }

  #setTimer(name: string, schedule: TimerSchedule): void {
    this.#assertInHook('setTimer');
    if (typeof name !== 'string' || name.length === 0 || name.length > 64) throw new StrategyApiError('timer name must be a non-empty string of at most 64 characters');
    const now = this.#clock.nowMicros();
    let entry: TimerEntry;
    const every = typeof schedule === 'number' ? schedule : 'everyMs' in schedule ? schedule.everyMs : undefined;
    if (every !== undefined) {
      if (!Number.isSafeInteger(every) || every <= 0) throw new StrategyApiError(`timer ${name}: everyMs must be a positive integer of milliseconds, got ${every}`);
      entry = { due: now + every * 1000, everyMicros: every * 1000, order: ++this.#timerOrder };
    } else {
      const at = (schedule as { at: Micros }).at;
      if (!Number.isSafeInteger(at)) throw new StrategyApiError(`timer ${name}: at must be integer microseconds since the epoch, got ${at}`);
      entry = { due: at, everyMicros: undefined, order: ++this.#timerOrder };
    }
    this.#timers.set(name, entry);
  }

  #setStatus(fields: Readonly<StatusRecord>): void {
    this.#assertInHook('status');
    for (const [key, value] of Object.entries(fields)) {
      if (!['string', 'number', 'boolean'].includes(typeof value) || (typeof value === 'number' && !Number.isFinite(value))) {
        throw new StrategyApiError(`status field ${key} must be a string, finite number or boolean`);
      }
      this.#status[key] = value;
    }
    this.#statusDirty = true;
  }

  #phaseOf(symbol: string | undefined): TradingPhase {
    const now = this.#clock.nowMicros();
    if (symbol === undefined) return phaseAtInstant(now, this.#calendar, undefined, this.#sessions);
    const info = this.#instrument(symbol);
    const last = this.#lastTicks.get(info.symbol);
    if (last?.phase === 'HALTED' && chinaDate(last.time) === chinaDate(now)) return 'HALTED';
    return phaseAtInstant(now, this.#calendar, info.board, this.#sessions);
  }

  #sessionsOf(symbol: string | undefined): SessionInterval[] {
    const today = chinaDate(this.#clock.nowMicros());
    const midnight = chinaInstant(today, 0, 0);
    if (!this.#calendar.isTradingDay(today)) return [Object.freeze({ phase: 'CLOSED', from: midnight, to: midnight + MICROS_PER_DAY })];
    const table = symbol === undefined ? this.#sessions.regular : this.#sessions.byBoard[this.#instrument(symbol).board];
    return table.map((row, i) => Object.freeze({ phase: row.phase, from: midnight + row.from, to: midnight + (table[i + 1]?.from ?? MICROS_PER_DAY) }));
  }

  #makeContext(): StrategyContext<P, S> {
    const definition = this.definition;
    const getState = (): S => this.#state;
    const setState = (value: S): void => {
      this.#state = value;
    };
    const ctx: StrategyContext<P, S> = {
      strategy: definition.name,
      version: definition.version,
      instanceId: this.instanceId,
      account: this.account,
      params: this.params,
      get state(): S {
        return getState();
      },
      set state(value: S) {
        setState(value);
      },
      log: this.#log,
      restored: this.restored,
      now: () => this.#clock.nowMicros(),
      today: () => chinaDate(this.#clock.nowMicros()),
      phase: (symbol) => this.#phaseOf(symbol),
      sessions: (symbol) => this.#sessionsOf(symbol),
      instrument: (symbol) => this.#instrument(symbol),
      lastTick: (symbol) => this.#lastTicks.get(this.#instrument(symbol).symbol),
      symbols: () => [...this.#subscriptions],
      position: (symbol) => this.#portfolio.position(this.#instrument(symbol).symbol),
      positions: () => this.#portfolio.positions(),
      cash: () => this.#portfolio.cash(),
      openOrders: (symbol) => this.#openOrders(symbol === undefined ? undefined : this.#instrument(symbol).symbol),
      order: (id) => this.order(id),
      buy: (symbol, qty, price, options) => this.#submit('BUY', symbol, qty, price, options),
      sell: (symbol, qty, price, options) => this.#submit('SELL', symbol, qty, price, options),
      cancel: (id) => this.#cancel(id),
      cancelAll: (symbol) => {
        this.#assertInHook('cancelAll');
        let n = 0;
        for (const o of this.#openOrders(symbol)) if (this.#cancel(o.clientOrderId)) n += 1;
        return n;
      },
      subscribe: (symbols) => this.#subscribe('subscribe', symbols),
      unsubscribe: (symbols) => this.#subscribe('unsubscribe', symbols),
      setTimer: (name, schedule) => this.#setTimer(name, schedule),
      clearTimer: (name) => {
        this.#assertInHook('clearTimer');
        return this.#timers.delete(name);
      },
      status: (fields) => this.#setStatus(fields),
    };
    return Object.seal(ctx);
  }

  async #onDenied(event: OrderDeniedEvent): Promise<void> {
    const rec = this.#orders.get(event.clientOrderId);
    if (rec === undefined) {
      this.#log.warn('denial for an unknown order ignored', { clientOrderId: event.clientOrderId, reason: event.reasonCode });
      return;
    }
    if (isTerminal(rec.status)) return;
    rec.status = 'DENIED';
    rec.reason = event.reasonCode;
    rec.detail = event.detail;
    rec.cancelRequested = false;
    rec.updatedAt = event.time;
    this.#portfolio.release(rec);
    this.#log.warn('order denied', { clientOrderId: rec.clientOrderId, reason: event.reasonCode, detail: event.detail });
    await this.#update('DENIED', rec, event.reasonCode, event.detail, event.time);
  }

  async #onReport(event: ExecutionReportEvent): Promise<void> {
    let rec = this.#orders.get(event.clientOrderId);
    if (rec === undefined) {
      if (event.status === undefined) {
        this.#log.warn('cancel reject for an unknown order ignored', { clientOrderId: event.clientOrderId, text: event.text });
        return;
      }
      rec = this.#adopt(event);
    } else if (
      rec.symbol !== event.symbol ||
      rec.side !== event.side ||
      rec.orderType !== event.orderType ||
      rec.price !== event.price ||
      rec.quantity !== event.quantity
    ) {
      this.#log.warn('execution report disagrees with the local order; taking the report', { clientOrderId: rec.clientOrderId });
      this.#portfolio.release(rec);
      Object.assign(rec, { symbol: event.symbol, side: event.side, orderType: event.orderType, price: event.price, quantity: event.quantity });
      Object.assign(rec, this.#portfolio.reserve(rec.side, rec.symbol, rec.quantity - rec.filledQty, event.price, this.#fees));
    }
    const before = rec.status;
    rec.updatedAt = event.time;
    const kind = UPDATE_KIND[event.execType];

    if (event.execType === 'TRADE') {
      if (event.fillId !== '' && rec.fillIds.has(event.fillId)) return;
      if (event.fillId !== '') rec.fillIds.add(event.fillId);
      const qty = Math.min(event.lastQty, rec.quantity - rec.filledQty);
      rec.filledQty += qty;
      rec.notional += qty * event.lastPrice;
      rec.fees += event.lastFees;
      if (event.status !== undefined) rec.status = event.status;
      if (rec.status === 'FILLED' || isTerminal(rec.status)) rec.cancelRequested = false;
      this.#portfolio.fill(rec, qty, event.lastPrice, event.lastFees, isTerminal(rec.status));
      const view = viewOf(rec);
      const fill: Fill = Object.freeze({
        clientOrderId: rec.clientOrderId,
        fillId: event.fillId,
        symbol: rec.symbol,
        side: rec.side,
        qty,
        price: event.lastPrice,
        fees: event.lastFees,
        time: event.time,
        order: view,
      });
      await this.#call('onFill', (h, c) => h.onFill?.(c, fill));
      await this.#call('onOrderUpdate', (h, c) => h.onOrderUpdate?.(c, Object.freeze({ kind: 'FILL', order: view, reason: undefined, detail: undefined, time: event.time })));
      return;
    }

    if (event.execType === 'RESTATED') {
      // A resume could not replay everything: reconcile with the order's current state.
      if (event.cumQty > rec.filledQty) {
        const qty = event.cumQty - rec.filledQty;
        const missingNotional = Math.max(0, event.avgPrice * event.cumQty - rec.notional);
        const price = divRoundHalfUp(missingNotional, qty);
        const fees = Math.max(0, event.cumFees - rec.fees);
        rec.filledQty = event.cumQty;
        rec.notional += price * qty;
        rec.fees += fees;
        if (event.status !== undefined) rec.status = event.status;
        this.#portfolio.fill(rec, qty, price, fees, isTerminal(rec.status));
      }
    }
    if (event.execType === 'CANCEL_REJECTED') rec.cancelRequested = false;
    if (event.status !== undefined) rec.status = event.status;
    if (isTerminal(rec.status)) {
      rec.cancelRequested = false;
      this.#portfolio.release(rec);
    }
    if (event.text !== '' && event.execType !== 'SENT' && event.execType !== 'ACCEPTED' && event.execType !== 'PENDING_NEW') rec.reason = event.text;
    if (kind === undefined || (rec.status === before && (event.execType === 'SENT' || event.execType === 'ACCEPTED'))) return; // nothing new
    await this.#update(kind, rec, event.text === '' ? undefined : event.text, undefined, event.time);
  }

  #adopt(event: ExecutionReportEvent): OrderRecord {
    const reservation = this.#portfolio.reserve(event.side, event.symbol, event.quantity, event.price, this.#fees);
    const rec = newOrderRecord(
      reservation,
      { clientOrderId: event.clientOrderId, orderType: event.orderType, price: event.price, quantity: event.quantity, tag: '' },
      event.time,
    );
    this.#orders.set(rec.clientOrderId, rec);
    this.#log.info('adopted an order known to the execution service', { clientOrderId: rec.clientOrderId });
    return rec;
  }

  async #update(kind: OrderUpdateKind, rec: OrderRecord, reason: string | undefined, detail: string | undefined, time: Micros): Promise<void> {
    const update: OrderUpdate = Object.freeze({ kind, order: viewOf(rec), reason, detail, time });
    await this.#call('onOrderUpdate', (h, c) => h.onOrderUpdate?.(c, update));
  }
}

const UPDATE_KIND: Readonly<Record<ExecType, OrderUpdateKind | undefined>> = {
  PENDING_NEW: undefined,
  SENT: 'SENT',
  ACCEPTED: 'ACCEPTED',
  REJECTED: 'REJECTED',
  TRADE: 'FILL',
  PENDING_CANCEL: 'PENDING_CANCEL',
  CANCELLED: 'CANCELLED',
  CANCEL_REJECTED: 'CANCEL_REJECTED',
  RESTATED: 'RESTATED',
  EXPIRED: 'EXPIRED',
};

function viewOf(o: OrderRecord): OrderView {
  const done = isTerminal(o.status);
  return Object.freeze({
    clientOrderId: o.clientOrderId,
    symbol: o.symbol,
    side: o.side,
    type: o.orderType,
    price: o.price,
    quantity: o.quantity,
    filledQty: o.filledQty,
    leavesQty: done ? 0 : o.quantity - o.filledQty,
    avgPrice: o.filledQty > 0 ? divRoundHalfUp(o.notional, o.filledQty) : undefined,
    fees: o.fees,
    status: o.status,
    cancelRequested: o.cancelRequested,
    tag: o.tag,
    reason: o.reason,
    detail: o.detail,
    createdAt: o.createdAt,
    updatedAt: o.updatedAt,
  });
}

