/**
 * The contract between pre-trade risk (src/core/risk) and its user, the execution service's
 * order manager. Pure data: risk reads a snapshot-like view of the account and the market
 * through small interfaces the OMS implements, and answers with a decision — never a throw.
 *
 * Flow for a new order: the OMS builds a `RiskOrder`, calls `RiskEngine.checkNew(order, view)`;
 * on `ok` it journals and sends, then calls `onNewAccepted(order)` so dynamic state (rate
 * bucket, daily counter, open-order count, duplicate window) advances. A cancel goes through
 * `checkCancel` (only the rate limit and daily count can refuse it — "paced", never denied by
 * a rule) and then `onCancelSent`.
 */
import type { Micros, TradingDate } from '../clock.ts';
import type { Instrument, Side } from '../instruments.ts';
import type { Money, Price, Qty } from '../units.ts';
import type { OrderType } from '../order.ts';
import type { Phase } from '../sessions.ts';

/** ACTIVE: normal. REDUCING: only orders that reduce a position. HALTED: no new orders. */
export type TradingState = 'ACTIVE' | 'REDUCING' | 'HALTED';

/** The order being checked (the fields of trading.proto NewOrder plus who sent it). */
export interface RiskOrder {
  readonly clientOrderId: string;
  readonly account: string;
  readonly strategy: string;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  /** Limit price (or protection price, 0 = none, for market types), 0.0001 CNY. */
  readonly price: Price;
  readonly quantity: Qty;
  /** When the OMS received it (injected clock). */
  readonly receivedAt: Micros;
}

/** What risk knows about an instrument's market right now (from the latest-quote cache). */
export interface MarketReference {
  readonly instrument: Instrument;
  readonly phase: Phase;
  /** Previous close (limit band base). */
  readonly prevClose: Price;
  /** Daily limits; undefined = no limit today. */
  readonly upperLimit: Price | undefined;
  readonly lowerLimit: Price | undefined;
  readonly last: Price | undefined;
  readonly bid: Price | undefined;
  readonly ask: Price | undefined;
  /** When this reference was last updated (venue time of the tick); staleness is a rule. */
  readonly updatedAt: Micros;
  /** Instrument suspended (停牌) today. */
  readonly halted: boolean;
}

/** A resting order of the account, for self-trade prevention and open-order limits. */
export interface RestingOrder {
  readonly clientOrderId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  readonly price: Price;
  readonly leavesQty: Qty;
}

/** The account as risk sees it (implemented by the OMS over its ledger). */
export interface AccountView {
  readonly account: string;
  /** Cash not frozen by open buy orders, 0.0001 CNY. */
  availableCash(): Money;
  /** Shares that may be sold now: settled holdings (T+1) minus shares frozen by open sells. */
  sellableQty(symbol: string): Qty;
  /** Shares held now (including today's buys), for position limits and REDUCING checks. */
  positionQty(symbol: string): Qty;
  /** Working orders (not terminal) of the account, all symbols. */
  openOrders(): readonly RestingOrder[];
  /** Day P&L so far (realized + marked), 0.0001 CNY; negative = loss. */
  dayPnl(): Money;
  /** Gross market value of all positions at reference prices, 0.0001 CNY. */
  grossExposure(): Money;
}

/** Everything `checkNew` needs besides the order. */
export interface RiskContext {
  readonly account: AccountView;
  /** undefined: no reference for this symbol (never seen, or unknown instrument). */
  readonly market: MarketReference | undefined;
  /** Effective trading state for this account (the stricter of global and account state). */
  readonly tradingState: TradingState;
  readonly tradingDate: TradingDate;
  readonly now: Micros;
}

/** A refusal, with a stable UPPER_SNAKE_CASE code (trading.proto OrderDenied.reason_code). */
export interface RiskDenial {
  readonly ok: false;
  /** Name of the rule module that decided, e.g. "price_limit". */
  readonly rule: string;
  readonly reason: string;
  readonly detail: string;
}

export interface RiskApproval {
  readonly ok: true;
  /** Warnings that do not deny (e.g. DAILY_COUNT_WARNING at 80%); usually empty. */
  readonly warnings: readonly RiskWarning[];
}

export interface RiskWarning {
  readonly rule: string;
  readonly code: string;
  readonly detail: string;
}

export type RiskDecision = RiskApproval | RiskDenial;

/**
 * A limit breach that should move the trading state automatically (e.g. the daily loss limit
 * → HALTED for the account). Returned by the engine; the OMS applies, journals and announces it.
 */
export interface TradingStateTrigger {
  readonly account: string;
  readonly state: TradingState;
  readonly rule: string;
  readonly reason: string;
}

/** An abnormal-behaviour alert (programmatic-trading compliance monitors). Not a denial. */
export interface ComplianceAlert {
  readonly account: string;
  /** e.g. ORDER_RATE_SPIKE, FAST_CANCEL, HIGH_CANCEL_RATIO, DAILY_COUNT_WARNING. */
  readonly code: string;
  readonly detail: string;
  readonly at: Micros;
}
