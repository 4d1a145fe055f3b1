/**
 * The public Strategy API: everything a strategy module imports.
 *
 * A strategy is a plain object made by `defineStrategy({ name, version, params, state, create })`
 * and exported as the module's default export. The host (`triquant strategy`), the backtester
 * and the test harness (`./testing.ts`) all load the same object and drive it the same way:
 *
 *   - hooks are called one at a time, never concurrently (an async hook is awaited before the
 *     next event is delivered);
 *   - actions on the context (`buy`, `sell`, `cancel`, `subscribe`, timers) are **intents**:
 *     they are recorded, and the runner sends them after the hook returns; outcomes come back
 *     through `onOrderUpdate` / `onFill`;
 *   - time is `ctx.now()` (the runner's injected clock), never `Date.now()`;
 *   - prices and money are integers of 0.0001 CNY (`yuan(10.05)` = 100_500), quantities shares.
 *
 * The file has two parts: the strategy-facing API (types, `defineStrategy`, helpers) and, at
 * the end, the runner-facing contract (intents, execution events, checkpoints) that the host,
 * the backtester and the harness share. Strategy code never needs the second part.
 */
import { z } from 'zod';
import type { Micros, TradingDate } from '../core/clock.ts';
import { chinaInstant, MICROS_PER_MINUTE, MICROS_PER_SECOND } from '../core/clock.ts';
import { ConfigError } from '../core/errors.ts';
import type { OrderId } from '../core/ids.ts';
import type { Board, Exchange, Instrument, Side } from '../core/instruments.ts';
import { parseSymbol } from '../core/instruments.ts';
import { DEFAULT_LOT_SETTINGS, oddLotPart, type LotRule } from '../core/lot-rules.ts';
import type { OrderType } from '../core/order.ts';
import { isTerminal, type OrderStatus } from '../core/order-state.ts';
import { TICK } from '../core/price-rules.ts';
import { PHASE_RULES } from '../core/sessions.ts';
import { parseYuan, type Money, type Price, type Qty } from '../core/units.ts';
import { STRATEGY_NAME_PATTERN } from '../config/strategies-schema.ts';
import type { Logger } from '../obs/log.ts';
import type { SnapshotMessage, TradeMessage, TradingPhase } from '../protocol/feed/frames.ts';
import { AGGRESSOR_BY_CODE, PHASE_BY_CODE } from '../protocol/feed/frames.ts';
import type { Level as ProtoLevel, Tick as ProtoTick, Trade as ProtoTrade } from '../protocol/gen/triquant/v1/market_data.ts';
import { snapshotToTick, TickCodecError, tradeToProto } from '../bus/tick-codec.ts';

// ---------------------------------------------------------------------------------------------
// Re-exports: the vocabulary a strategy needs, so strategies import this one module.

export { z };
export type { Board, Exchange, Side, OrderType, OrderStatus, LotRule, Logger, Micros, TradingDate, OrderId, TradingPhase };
export type { Price, Money, Qty };
export { TICK, isTerminal };
export { yuan, parseYuan, formatYuan, UNITS_PER_YUAN } from '../core/units.ts';
export { chinaDate, chinaTimeOfDay, chinaInstant, MICROS_PER_SECOND, MICROS_PER_MINUTE, MICROS_PER_DAY } from '../core/clock.ts';

/** The API version a definition was written against; the host refuses an unknown one. */
export const STRATEGY_API_VERSION = 1;

// ---------------------------------------------------------------------------------------------
// Persistent state

/** What `ctx.state` may hold: JSON values only (no undefined, Map, Date, class instances, NaN). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Largest serialised `ctx.state` (it is checkpointed after every batch; keep it small). */
export const MAX_STATE_BYTES = 256 * 1024;

// ---------------------------------------------------------------------------------------------
// Market data as strategies see it

export interface BookLevel {
  readonly price: Price;
  readonly qty: Qty;
  /** Orders at the level; 0 when the feed does not say. */
  readonly orders: number;
}

/**
 * A level-2 snapshot of one instrument. Absent values are `undefined` (never 0), so the type
 * checker makes you handle "no ask" (limit up) or "no trade yet".
 */
export interface Tick {
  readonly symbol: string;
  /** Venue time of the snapshot. */
  readonly time: Micros;
  /** When the gateway received it. */
  readonly receivedAt: Micros;
  readonly phase: TradingPhase;
  readonly last: Price | undefined;
  readonly open: Price | undefined;
  readonly high: Price | undefined;
  readonly low: Price | undefined;
  readonly prevClose: Price;
  /** Daily limits; undefined = no limit (first days of a registration-system listing). */
  readonly upperLimit: Price | undefined;
  readonly lowerLimit: Price | undefined;
  /** Cumulative today. */
  readonly volume: Qty;
  readonly turnover: Money;
  /** Best bid / ask; undefined when that side is empty. */
  readonly bid: Price | undefined;
  readonly ask: Price | undefined;
  readonly bidQty: Qty;
  readonly askQty: Qty;
  /** Non-empty levels, best first (up to 10). */
  readonly bids: readonly BookLevel[];
  readonly asks: readonly BookLevel[];
}

/** One trade printed by the venue (tick-by-tick), for strategies with an `onTrade` hook. */
export interface MarketTrade {
  readonly symbol: string;
  readonly time: Micros;
  readonly receivedAt: Micros;
  readonly price: Price;
  readonly qty: Qty;
  /** Side of the incoming order; NONE for call-auction matches. */
  readonly aggressor: Side | 'NONE';
}

// ---------------------------------------------------------------------------------------------
// Orders, fills, positions, cash

/** Order types other than LIMIT: priced by the venue, optionally with a protection price. */
export type MarketOrderType = Exclude<OrderType, 'LIMIT'>;

/** The price argument of buy/sell: a limit price in units, or a market order. */
export type OrderPrice = Price | { readonly type: MarketOrderType; readonly protection?: Price };

export interface OrderOptions {
  /** Free label echoed in order listings and reports (signal name, basket id). ≤ 32 chars. */
  readonly tag?: string;
}

/** A strategy's view of one of its orders. */
export interface OrderView {
  readonly clientOrderId: OrderId;
  readonly symbol: string;
  readonly side: Side;
  readonly type: OrderType;
  /** Limit price, or the protection price (0 = none) of a market order. */
  readonly price: Price;
  readonly quantity: Qty;
  readonly filledQty: Qty;
  /** quantity − filledQty while working, 0 once done. */
  readonly leavesQty: Qty;
  /** Volume-weighted fill price, rounded half up; undefined before the first fill. */
  readonly avgPrice: Price | undefined;
  /** Fees paid so far (commission, stamp duty, transfer fee), whole fen. */
  readonly fees: Money;
  /**
   * PENDING_NEW from the moment you call buy/sell until the execution service answers; see
   * src/core/order-state.ts for the rest.
   */
  readonly status: OrderStatus;
  /** You asked to cancel it and no answer has come yet. */
  readonly cancelRequested: boolean;
  readonly tag: string;
  /** Reason code of a denial (e.g. NOT_LOT_MULTIPLE), or the venue's text for a reject / cancel. */
  readonly reason: string | undefined;
  readonly detail: string | undefined;
  readonly createdAt: Micros;
  readonly updatedAt: Micros;
}

/** What happened to an order (one per execution event). */
export type OrderUpdateKind =
  | 'SENT'
  | 'ACCEPTED'
  | 'DENIED'
  | 'REJECTED'
  | 'FILL'
  | 'PENDING_CANCEL'
  | 'CANCELLED'
  | 'CANCEL_REJECTED'
  | 'EXPIRED'
  | 'RESTATED';

export interface OrderUpdate {
  readonly kind: OrderUpdateKind;
  /** The order after the event. */
  readonly order: OrderView;
  /** DENIED: the stable reason code (e.g. EXCEEDS_SELLABLE_POSITION); others: venue text if any. */
  readonly reason: string | undefined;
  readonly detail: string | undefined;
  readonly time: Micros;
}

export interface Fill {
  readonly clientOrderId: OrderId;
  readonly fillId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly qty: Qty;
  readonly price: Price;
  /** Fees of this fill, whole fen. */
  readonly fees: Money;
  readonly time: Micros;
  /** The order after the fill. */
  readonly order: OrderView;
}

/**
 * A position as this strategy instance sees it. `sellable` is what may be sold today:
 * shares bought today settle on the next trading day (T+1), and shares in open sell orders
 * are frozen.
 */
export interface PositionView {
  readonly symbol: string;
  /** All shares held (settled + bought today). */
  readonly quantity: Qty;
  /** quantity − boughtToday − frozen. */
  readonly sellable: Qty;
  /** Shares held by open sell orders. */
  readonly frozen: Qty;
  readonly boughtToday: Qty;
  /** Cost per share including buy fees (成本价), rounded half up; undefined when flat. */
  readonly avgCost: Price | undefined;
  /** Total cost of the shares held, including buy fees. */
  readonly costBasis: Money;
  /** Realised profit of sells (proceeds − fees − cost of the shares sold), since the runner started tracking. */
  readonly realizedPnl: Money;
}

export interface CashView {
  /** Free to spend on new buys (sell proceeds count at once, as in A-share accounts). */
  readonly available: Money;
  /** Reserved by open buy orders (limit price × quantity + estimated fees). */
  readonly frozen: Money;
}

/** Static reference data of an instrument plus its board's trading rules. */
export interface InstrumentInfo extends Pick<Instrument, 'symbol' | 'code' | 'exchange' | 'board' | 'name' | 'isST'> {
  /** Lot rule of the board: at least minQty, then in steps of step. */
  readonly lot: LotRule;
  /** Largest single order, by pricing. */
  readonly maxOrderQty: { readonly limit: Qty; readonly market: Qty };
  readonly tick: Price;
}

/** One interval of today's trading schedule, as instants. */
export interface SessionInterval {
  readonly phase: TradingPhase;
  readonly from: Micros;
  /** Exclusive. */
  readonly to: Micros;
}

/** `everyMs` (a number) repeats; `{ at }` fires once. */
export type TimerSchedule = number | { readonly everyMs: number } | { readonly at: Micros };

// ---------------------------------------------------------------------------------------------
// The context

/**
 * What a hook receives. Read methods return frozen copies; action methods record intents and
 * return at once. Call actions only from inside a hook (including after an `await` in an async
 * hook): a call from a stray callback after the hook has returned throws.
 */
export interface StrategyContext<P = unknown, S extends object = JsonObject> {
  /** Definition name and version (part of every order's compliance record). */
  readonly strategy: string;
  readonly version: string;
  /** This instance's id (unique per strategy) and the account it trades. */
  readonly instanceId: string;
  readonly account: string;
  /** Validated parameters (the definition's schema applied to the instance config). */
  readonly params: Readonly<P>;
  /**
   * Persistent state: mutate it (or assign a new object); the runner checkpoints it after each
   * batch and restores it after a restart. JSON values only, at most MAX_STATE_BYTES.
   */
  state: S;
  readonly log: Logger;
  /** True when this run resumed from a checkpoint (a restart), false on a fresh start. */
  readonly restored: boolean;

  /** Current time from the runner's clock (event time in a backtest). */
  now(): Micros;
  /** Today's date (China time), YYYYMMDD. */
  today(): TradingDate;
  /**
   * The trading phase of the symbol's board now, from the exchange calendar and session table,
   * or HALTED if the latest tick today said so. Without a symbol: the regular session.
   */
  phase(symbol?: string): TradingPhase;
  /** Today's schedule for the symbol's board (a whole-day CLOSED interval on a holiday). */
  sessions(symbol?: string): readonly SessionInterval[];
  instrument(symbol: string): InstrumentInfo;
  /** The latest tick of a subscribed symbol (undefined before the first one since start). */
  lastTick(symbol: string): Tick | undefined;
  /** Symbols whose ticks this instance receives (configured + subscribed). */
  symbols(): readonly string[];

  position(symbol: string): PositionView;
  /** Non-flat positions. */
  positions(): readonly PositionView[];
  cash(): CashView;
  /** Orders not yet done (PENDING_NEW, SENT, ACCEPTED, PARTIALLY_FILLED, PENDING_CANCEL). */
  openOrders(symbol?: string): readonly OrderView[];
  /** Any order of today by id (done ones included). */
  order(clientOrderId: OrderId): OrderView | undefined;

  /**
   * Buys `qty` shares at a limit price (integer units) or as a market order. Returns the client
   * order id. Throws only for programming errors (non-integer price or quantity, bad symbol);
   * rule violations (lots, tick grid, cash) come back as a DENIED update.
   */
  buy(symbol: string, qty: Qty, price: OrderPrice, options?: OrderOptions): OrderId;
  sell(symbol: string, qty: Qty, price: OrderPrice, options?: OrderOptions): OrderId;
  /** Requests a cancel; false (and nothing sent) if the order is unknown, done or already being cancelled. */
  cancel(clientOrderId: OrderId): boolean;
  /** Cancels every open order (of one symbol); returns how many cancels were requested. */
  cancelAll(symbol?: string): number;
  subscribe(symbols: string | readonly string[]): void;
  unsubscribe(symbols: string | readonly string[]): void;
  /** Sets (or replaces) a named timer; `onTimer(ctx, name)` fires when it is due. Timers are checkpointed. */
  setTimer(name: string, schedule: TimerSchedule): void;
  clearTimer(name: string): boolean;
  /** Publishes progress fields (merged, latest wins) for the monitor and the harness. */
  status(fields: Readonly<Record<string, string | number | boolean>>): void;
}

// ---------------------------------------------------------------------------------------------
// Hooks and definitions

type HookResult = void | Promise<void>;

/** Life-cycle hooks; all optional, sync or async. Method syntax on purpose (see StrategyDefinition). */
export interface StrategyHooks<P = unknown, S extends object = JsonObject> {
  /** Once per run, before any other hook; after a restart `ctx.restored` is true. */
  onStart?(ctx: StrategyContext<P, S>): HookResult;
  onTick?(ctx: StrategyContext<P, S>, tick: Tick): HookResult;
  onTrade?(ctx: StrategyContext<P, S>, trade: MarketTrade): HookResult;
  /** Every execution event of one of this instance's orders (a fill: after `onFill`). */
  onOrderUpdate?(ctx: StrategyContext<P, S>, update: OrderUpdate): HookResult;
  onFill?(ctx: StrategyContext<P, S>, fill: Fill): HookResult;
  onTimer?(ctx: StrategyContext<P, S>, name: string): HookResult;
  /** Graceful stop (not called on a crash). Orders placed here are still sent. */
  onStop?(ctx: StrategyContext<P, S>): HookResult;
}

/** What `defineStrategy` returns and a strategy module exports by default. */
export interface StrategyDefinition<P = unknown, S extends object = JsonObject> {
  readonly kind: 'triquant.strategy';
  readonly apiVersion: number;
  /** Lower-case identifier, part of client order ids: [a-z][a-z0-9_]{0,23}. */
  readonly name: string;
  /** Semantic version, recorded with every order (compliance). */
  readonly version: string;
  readonly description: string;
  /** Validates and converts raw config parameters. */
  readonly params: z.ZodType<P>;
  /** A fresh state; a restored checkpoint is merged over it (new fields get their defaults). */
  initialState(): S;
  /** Called once per run with the validated parameters; returns the hooks (closures may keep run-local memory). */
  create(params: P): StrategyHooks<P, S>;
}

export interface StrategySpec<Schema extends z.ZodType, S extends object> {
  name: string;
  version: string;
  description?: string;
  params: Schema;
  state?: () => S;
  create: (params: z.output<Schema>) => StrategyHooks<z.output<Schema>, S>;
}

export { STRATEGY_NAME_PATTERN };
export const INSTANCE_ID_PATTERN = /^[A-Za-z0-9_]{1,16}$/;
const VERSION_PATTERN = /^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/;

/** A strategy module or its parameters are wrong (a programming or configuration mistake). */
export class StrategyApiError extends Error {
  readonly code: string;
  constructor(message: string, code = 'STRATEGY_API') {
    super(message);
    this.name = 'StrategyApiError';
    this.code = code;
  }
}

export function defineStrategy<Schema extends z.ZodType, S extends object = JsonObject>(
  spec: StrategySpec<Schema, S>,
): StrategyDefinition<z.output<Schema>, S> {
  if (!STRATEGY_NAME_PATTERN.test(spec.name)) {
    throw new StrategyApiError(`strategy name must match ${STRATEGY_NAME_PATTERN} (it is part of client order ids): "${spec.name}"`);
  }
  if (!VERSION_PATTERN.test(spec.version)) {
    throw new StrategyApiError(`strategy ${spec.name}: version must be semantic (1.2.3): "${spec.version}"`);
  }
  if (typeof spec.create !== 'function') throw new StrategyApiError(`strategy ${spec.name}: create must be a function`);
  const stateFactory = spec.state ?? (() => ({}) as S);
  const probe = stateFactory();
  const problem = jsonProblem(probe, 'state');
  if (problem !== undefined) throw new StrategyApiError(`strategy ${spec.name}: initial ${problem}`);
  return Object.freeze({
    kind: 'triquant.strategy' as const,
    apiVersion: STRATEGY_API_VERSION,
    name: spec.name,
    version: spec.version,
    description: spec.description ?? '',
    params: spec.params as z.ZodType<z.output<Schema>>,
    initialState: stateFactory,
    create: spec.create,
  });
}

/** True for an object made by `defineStrategy` (what the host checks a module's default export with). */
export function isStrategyDefinition(value: unknown): value is StrategyDefinition {
  const v = value as Partial<StrategyDefinition> | null;
  return (
    typeof v === 'object' &&
    v !== null &&
    v.kind === 'triquant.strategy' &&
    typeof v.name === 'string' &&
    typeof v.version === 'string' &&
    typeof v.create === 'function' &&
    typeof v.initialState === 'function' &&
    typeof v.params === 'object'
  );
}

/**
 * The definition exported by an imported strategy module (its default export, or a single
 * named export that is one). Throws a StrategyApiError naming `source` otherwise.
 */
export function definitionFromModule(moduleNamespace: Record<string, unknown>, source = 'module'): StrategyDefinition {
  const candidates = isStrategyDefinition(moduleNamespace.default)
    ? [moduleNamespace.default]
    : Object.values(moduleNamespace).filter(isStrategyDefinition);
  if (candidates.length !== 1) {
    throw new StrategyApiError(
      candidates.length === 0
        ? `${source} exports no strategy: use "export default defineStrategy({...})"`
        : `${source} exports several strategies and no default one`,
    );
  }
  const definition = candidates[0] as StrategyDefinition;
  if (definition.apiVersion !== STRATEGY_API_VERSION) {
    throw new StrategyApiError(`${source}: strategy API version ${definition.apiVersion} is not supported (this runner: ${STRATEGY_API_VERSION})`);
  }
  return definition;
}

/**
 * Validates raw parameters (from config) against a definition's schema. A failure is one
 * ConfigError naming the key, e.g. `strategies.dual_ma.params.fast`.
 */
export function parseParams<P>(definition: StrategyDefinition<P, JsonObject>, raw: unknown, keyPrefix?: string): P {
  const prefix = keyPrefix ?? `strategies.${definition.name}.params`;
  const result = definition.params.safeParse(raw ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.map(String) ?? [];
  const keys = issue?.code === 'unrecognized_keys' ? [...path, issue.keys[0] ?? ''] : path;
  const key = [prefix, ...keys].join('.');
  const message = issue?.code === 'unrecognized_keys' ? 'unknown parameter' : (issue?.message ?? 'invalid');
  throw new ConfigError(key, message);
}

// ---------------------------------------------------------------------------------------------
// Parameter schema helpers (zod), for the usual trading inputs

function timeOfDayMicros(text: string): Micros | undefined {
  const m = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * 60 * MICROS_PER_MINUTE + Number(m[2]) * MICROS_PER_MINUTE + Number(m[3] ?? 0) * MICROS_PER_SECOND;
}

export const param = {
  /** A CNY price written as 10.05 or "10.05" in config, converted exactly to integer units on the tick grid. */
  price(): z.ZodType<Price> {
    return z.union([z.number(), z.string()]).transform((value, ctx) => {
      let units: number;
      try {
        units = parseYuan(String(value));
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
      if (units <= 0 || units % TICK !== 0) {
        ctx.addIssue({ code: 'custom', message: `a positive CNY price on the 0.01 tick, got ${String(value)}` });
        return z.NEVER;
      }
      return units;
    });
  },
  /** A China wall-clock time "HH:MM" or "HH:MM:SS", converted to microseconds since midnight. */
  timeOfDay(): z.ZodType<Micros> {
    return z.string().transform((value, ctx) => {
      const micros = timeOfDayMicros(value);
      if (micros === undefined) {
        ctx.addIssue({ code: 'custom', message: `a time of day HH:MM[:SS], got "${value}"` });
        return z.NEVER;
      }
      return micros;
    });
  },
  /** An A-share symbol such as 600000.SH, normalised to upper case. */
  symbol(): z.ZodType<string> {
    return z.string().transform((value, ctx) => {
      const parsed = parseSymbol(value);
      if (!parsed.ok) {
        ctx.addIssue({ code: 'custom', message: parsed.detail });
        return z.NEVER;
      }
      return parsed.value.symbol;
    });
  },
  /** A positive whole number of shares. */
  qty(): z.ZodNumber {
    return z.number().int().positive();
  },
};

/** The instant of a China time of day (microseconds since midnight, e.g. from `param.timeOfDay()`) on a date. */
export function atTimeOfDay(date: TradingDate, timeOfDay: Micros): Micros {
  return chinaInstant(date, 0, 0) + timeOfDay;
}

// ---------------------------------------------------------------------------------------------
// Price and quantity helpers

export type Rounding = 'down' | 'up' | 'nearest';

/** Rounds a price to the tick grid (nearest: halves up). Prices below one tick round to one tick. */
export function roundToTick(price: Price, mode: Rounding = 'nearest', tick: Price = TICK): Price {
  if (!Number.isFinite(price)) throw new RangeError(`price must be finite, got ${price}`);
  const ticks = mode === 'down' ? Math.floor(price / tick) : mode === 'up' ? Math.ceil(price / tick) : Math.floor(price / tick + 0.5);
  return Math.max(1, ticks) * tick;
}

/** The lot rule of a board under the default settings (use `ctx.instrument(s).lot` for the configured one). */
export function lotRule(board: Board): LotRule {
  return DEFAULT_LOT_SETTINGS.lots[board];
}

/**
 * The largest valid buy quantity ≤ `qty` (round down to the lot grid), or 0 when `qty` is below
 * the minimum. 100-share boards: 1_250 → 1_200. STAR (≥ 200, steps of 1): 150 → 0, 250 → 250.
 * `mode: 'up'` gives the smallest valid quantity ≥ qty.
 */
export function roundLot(boardOrRule: Board | LotRule, qty: Qty, mode: 'down' | 'up' = 'down'): Qty {
  const rule = typeof boardOrRule === 'string' ? lotRule(boardOrRule) : boardOrRule;
  if (!Number.isFinite(qty) || qty <= 0) return 0;
  if (qty < rule.minQty) return mode === 'up' ? rule.minQty : 0;
  const steps = (qty - rule.minQty) / rule.step;
  return rule.minQty + (mode === 'up' ? Math.ceil(steps) : Math.floor(steps)) * rule.step;
}

/**
 * The largest valid sell quantity ≤ `wanted` given today's `sellable` shares, honouring the
 * odd-lot rule (an odd lot leaves in one order with the whole odd part of the position).
 * `wanted ≥ sellable` sells everything sellable. 0 if nothing valid fits.
 */
export function sellQuantity(boardOrRule: Board | LotRule, wanted: Qty, sellable: Qty): Qty {
  const rule = typeof boardOrRule === 'string' ? lotRule(boardOrRule) : boardOrRule;
  if (sellable <= 0 || wanted <= 0) return 0;
  if (wanted >= sellable) return sellable;
  const wholeLots = roundLot(rule, wanted);
  const odd = oddLotPart(sellable, rule);
  // The odd part may leave together with whole lots (roundLot gives 0 or a whole-lot quantity).
  const withOdd = odd > 0 && odd <= wanted ? odd + roundLot(rule, wanted - odd) : 0;
  return Math.max(wholeLots, withOdd);
}

/** price × qty as Money (both are integers; the product is exact). */
export function notional(price: Price, qty: Qty): Money {
  return price * qty;
}

/** True in phases where the exchange accepts new orders (HALTED: no). */
export function phaseAllowsOrders(phase: TradingPhase): boolean {
  return phase !== 'HALTED' && PHASE_RULES[phase].submit;
}

/** True in phases where the exchange accepts cancels. */
export function phaseAllowsCancels(phase: TradingPhase): boolean {
  return phase !== 'HALTED' && PHASE_RULES[phase].cancel;
}

/** True while an order is still working (not DENIED, REJECTED, FILLED, CANCELLED or EXPIRED). */
export function isOpenOrder(order: Pick<OrderView, 'status'>): boolean {
  return !isTerminal(order.status);
}

// ---------------------------------------------------------------------------------------------
// Runner-facing contract: shared by the host, the backtester and the harness.

/**
 * Converts a market-data Tick as the stream carries it (decoded protobuf) to a strategy Tick: the
 * one mapping, used per tick by the instance. Throws TickCodecError for an unknown trading phase.
 */
export function tickFromProto(t: ProtoTick): Tick {
  const phase = PHASE_BY_CODE[t.phase];
  if (phase === undefined) throw new TickCodecError(`tick ${t.symbol} seq ${t.seq}: unknown trading phase ${t.phase}`);
  const levels = (side: readonly ProtoLevel[]): BookLevel[] =>
    side.filter((l) => l.price > 0 && l.quantity > 0).map((l) => Object.freeze({ price: l.price, qty: l.quantity, orders: l.orders ?? 0 }));
  const bids = levels(t.bids);
  const asks = levels(t.asks);
  const opt = (p: Price): Price | undefined => (p > 0 ? p : undefined);
  return Object.freeze({
    symbol: t.symbol,
    time: t.eventTimeUs,
    receivedAt: t.receiveTimeUs,
    phase,
    last: opt(t.lastPrice),
    open: opt(t.openPrice),
    high: opt(t.highPrice),
    low: opt(t.lowPrice),
    prevClose: t.prevClosePrice,
    upperLimit: opt(t.upperLimitPrice),
    lowerLimit: opt(t.lowerLimitPrice),
    volume: t.volume,
    turnover: t.turnover,
    bid: bids[0]?.price,
    ask: asks[0]?.price,
    bidQty: bids[0]?.qty ?? 0,
    askQty: asks[0]?.qty ?? 0,
    bids: Object.freeze(bids),
    asks: Object.freeze(asks),
  });
}

/** Converts a decoded feed snapshot to a strategy Tick (through the stream's form, so there is one mapping). */
export function tickFromSnapshot(m: SnapshotMessage, receivedAt: Micros): Tick {
  return tickFromProto(snapshotToTick(m, receivedAt));
}

/** Converts a market-data Trade as the stream carries it to a MarketTrade. Throws TickCodecError for an unknown aggressor side. */
export function tradeFromProto(t: ProtoTrade): MarketTrade {
  const aggressor = AGGRESSOR_BY_CODE[t.aggressorSide];
  if (aggressor === undefined) throw new TickCodecError(`trade ${t.symbol} seq ${t.seq}: unknown aggressor side ${t.aggressorSide}`);
  return Object.freeze({ symbol: t.symbol, time: t.eventTimeUs, receivedAt: t.receiveTimeUs, price: t.price, qty: t.quantity, aggressor });
}

/** Converts a decoded feed trade to a MarketTrade. */
export function tradeFromMessage(m: TradeMessage, receivedAt: Micros): MarketTrade {
  return tradeFromProto(tradeToProto(m, receivedAt));
}

/** An order the runner must send (maps 1:1 onto trading.proto NewOrder). */
export interface SubmitIntent {
  readonly type: 'submit';
  readonly clientOrderId: OrderId;
  readonly account: string;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  /** Limit price, or protection price (0 = none) for market types. */
  readonly price: Price;
  readonly quantity: Qty;
  readonly tag: string;
  readonly createdAt: Micros;
}

/** A cancel the runner must send (trading.proto CancelOrder). */
export interface CancelIntent {
  readonly type: 'cancel';
  readonly clientOrderId: OrderId;
  readonly account: string;
  readonly createdAt: Micros;
}

/** Market-data subscription changes (the host adds/removes streams to read). */
export interface SubscriptionIntent {
  readonly type: 'subscribe' | 'unsubscribe';
  readonly symbols: readonly string[];
  readonly createdAt: Micros;
}

export type Intent = SubmitIntent | CancelIntent | SubscriptionIntent;

/** What one delivered event produced. Send `intents` in order, after persisting the checkpoint. */
export interface StepResult {
  readonly intents: readonly Intent[];
  /** The status record, when the strategy changed it during the step. */
  readonly status: Readonly<Record<string, string | number | boolean>> | undefined;
}

/** trading.proto ExecType, without the prefix. */
export type ExecType =
  | 'PENDING_NEW'
  | 'SENT'
  | 'ACCEPTED'
  | 'REJECTED'
  | 'TRADE'
  | 'PENDING_CANCEL'
  | 'CANCELLED'
  | 'CANCEL_REJECTED'
  | 'RESTATED'
  | 'EXPIRED';

/** trading.proto ExecutionReport, as the runner delivers it (money in units, times in µs). */
export interface ExecutionReportEvent {
  readonly type: 'executionReport';
  /** Stream sequence number (> 0); reports at or below the last one processed are ignored. 0 = unsequenced. */
  readonly seq: number;
  readonly clientOrderId: OrderId;
  readonly venueOrderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  readonly price: Price;
  readonly quantity: Qty;
  readonly execType: ExecType;
  /** Status after the event; undefined for a CANCEL_REJECTED of an unknown order. */
  readonly status: OrderStatus | undefined;
  /** TRADE only: the fill's id (for de-duplication), quantity and price. */
  readonly fillId: string;
  readonly lastQty: Qty;
  readonly lastPrice: Price;
  readonly cumQty: Qty;
  readonly leavesQty: Qty;
  readonly avgPrice: Price;
  readonly lastFees: Money;
  readonly cumFees: Money;
  readonly text: string;
  readonly time: Micros;
}

/** trading.proto OrderDenied. */
export interface OrderDeniedEvent {
  readonly type: 'orderDenied';
  readonly seq: number;
  readonly clientOrderId: OrderId;
  readonly reasonCode: string;
  readonly detail: string;
  readonly time: Micros;
}

export type ExecutionEvent = ExecutionReportEvent | OrderDeniedEvent;

/** A position to start from (from the broker / execution service), all settled unless `boughtToday` says otherwise. */
export interface PositionSeed {
  readonly symbol: string;
  readonly quantity: Qty;
  /** Shares of `quantity` bought today (not sellable before tomorrow). */
  readonly boughtToday?: Qty;
  /** Cost per share; defaults to 0 (unknown). */
  readonly avgCost?: Price;
}

export interface PortfolioSeed {
  readonly cash: Money;
  readonly positions?: readonly PositionSeed[];
}

/** Serialised order record inside a checkpoint. */
export interface OrderRecordJson {
  readonly clientOrderId: OrderId;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  readonly price: Price;
  readonly quantity: Qty;
  readonly tag: string;
  readonly status: OrderStatus;
  readonly filledQty: Qty;
  readonly notional: Money;
  readonly fees: Money;
  readonly cancelRequested: boolean;
  readonly reason: string | null;
  readonly detail: string | null;
  readonly createdAt: Micros;
  readonly updatedAt: Micros;
  readonly reservePrice: Price;
  readonly frozenCash: Money;
  readonly frozenQty: Qty;
  readonly fillIds: readonly string[];
}

export interface PositionRecordJson {
  readonly symbol: string;
  readonly settled: Qty;
  readonly boughtToday: Qty;
  readonly frozenSell: Qty;
  readonly costBasis: Money;
  readonly realizedPnl: Money;
}

export interface TimerJson {
  readonly name: string;
  readonly due: Micros;
  readonly everyMicros: Micros | null;
}

/**
 * Everything an instance needs to resume: the host stores it durably after each handled batch
 * (before acknowledging the batch and before sending the batch's intents) and passes it back
 * on restart. Plain JSON.
 */
export interface StrategyCheckpoint {
  readonly format: 1;
  readonly strategy: string;
  readonly version: string;
  readonly instanceId: string;
  readonly account: string;
  readonly savedAt: Micros;
  readonly state: JsonObject;
  /** Client order id sequence: the last seq used on `date`. */
  readonly ids: { readonly date: TradingDate; readonly lastSeq: number };
  /** Last execution-report seq processed: resume the gRPC stream from here (Hello.resume_from_seq). */
  readonly lastReportSeq: number;
  readonly subscriptions: readonly string[];
  readonly timers: readonly TimerJson[];
  readonly status: Readonly<Record<string, string | number | boolean>>;
  readonly portfolio: {
    readonly date: TradingDate;
    readonly available: Money;
    readonly frozen: Money;
    readonly positions: readonly PositionRecordJson[];
  };
  readonly orders: readonly OrderRecordJson[];
}

/** The first problem that makes `value` not plain JSON (with its path), or undefined. */
export function jsonProblem(value: unknown, path = 'value'): string | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${path} is ${value}, not a finite number`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) {
      const problem = jsonProblem(value[i], `${path}[${i}]`);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      return `${path} is a ${(value as object).constructor?.name ?? 'class instance'}, not a plain object (state must be JSON)`;
    }
    for (const [key, item] of Object.entries(value)) {
      const problem = jsonProblem(item, `${path}.${key}`);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  return `${path} is ${typeof value === 'undefined' ? 'undefined (use null)' : `a ${typeof value}`}, not JSON`;
}
