/**
 * Public vocabulary of the matching engine: what goes in (an `OrderRequest`), what the
 * engine says about it (order views, trades, reason codes) and what market data it exposes.
 *
 * Ids are integers: venue order ids and trade ids are each monotonic per engine, starting
 * at 1 (0 means "none", e.g. `submit` returns 0 for a rejected order). They fit the feed's
 * numeric `buyOrderId` / `sellOrderId` fields directly.
 */
import type { Micros } from '../core/clock.ts';
import type { Side } from '../core/instruments.ts';
import type { LotRuleReason } from '../core/lot-rules.ts';
import type { OrderType } from '../core/order.ts';
import type { PriceRuleReason } from '../core/price-rules.ts';
import type { Phase } from '../core/sessions.ts';
import type { Money, Price, Qty } from '../core/units.ts';

export type VenueOrderId = number;
export type TradeId = number;

/**
 * A new order as the venue receives it. A core `NewOrder` (execution's order) is structurally
 * one, so the backtester can pass its orders straight in.
 */
export interface OrderRequest {
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  /**
   * LIMIT: the limit price (integer price units, on the tick grid, inside the day's band).
   * Market types: the protection price (保护限价) — a buy never trades above it, a sell never
   * below it — or 0 for none.
   */
  readonly price: Price;
  readonly quantity: Qty;
  /** The owner account; echoed on trades (buyAccount / sellAccount) for reporting. */
  readonly account: string;
  /** The member's own id (FIX ClOrdID), kept opaque and echoed on the order view. */
  readonly clientOrderId?: string;
}

/** Mirrors FIX OrdStatus for the states a venue order can be in. */
export type VenueOrderStatus = 'NEW' | 'PARTIALLY_FILLED' | 'FILLED' | 'CANCELLED';

/**
 * The engine's live view of an accepted order. The object is the engine's own (no copy is
 * made per event), so its fields change as the order trades: read what you need inside the
 * callback, or copy it. Invariant: cumQty + leavesQty + cancelledQty = quantity.
 */
export interface OrderView {
  readonly id: VenueOrderId;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  /** The price as submitted (limit price, or the protection price / 0 of a market order). */
  readonly price: Price;
  /**
   * The price the order works at on the book: the limit price; for MARKET_BEST5_TO_LIMIT the
   * last execution price, for MARKET_BEST_COUNTER / MARKET_BEST_OWN the best counter / own
   * price at entry; 0 for an order that never rests (IOC and FOK market types).
   */
  readonly bookPrice: Price;
  readonly quantity: Qty;
  readonly account: string;
  readonly clientOrderId: string | undefined;
  readonly status: VenueOrderStatus;
  readonly cumQty: Qty;
  /** Quantity still working (0 once filled or cancelled). */
  readonly leavesQty: Qty;
  /** Quantity removed by a cancel (requested, IOC/FOK remainder, end of day). */
  readonly cancelledQty: Qty;
  /** Σ fill price × fill qty, in money units (0.0001 CNY). */
  readonly notional: Money;
  /** Volume-weighted fill price rounded half up to a price unit; 0 before the first fill. */
  readonly avgPrice: Price;
  /** Accepted but held outside the price cage (hold-mode boards); not on the book. */
  readonly held: boolean;
  readonly acceptedAt: Micros;
}

/** `NONE` for call-auction trades, which have no aggressor. Same spelling as the feed. */
export type AggressorSide = 'BUY' | 'SELL' | 'NONE';

/** One execution: an immutable record, allocated once and shared by the fill events of both orders. */
export interface Trade {
  readonly tradeId: TradeId;
  readonly symbol: string;
  readonly price: Price;
  readonly qty: Qty;
  readonly buyOrderId: VenueOrderId;
  readonly sellOrderId: VenueOrderId;
  readonly buyAccount: string;
  readonly sellAccount: string;
  readonly aggressor: AggressorSide;
  readonly time: Micros;
}

/** Why an order was refused at entry. Stable codes, safe for metrics and FIX text. */
export type SubmitRejectReason =
  | 'UNKNOWN_SYMBOL'
  /** Bad side or order type: the request breaks the contract. */
  | 'INVALID_ORDER'
  | 'PHASE_FORBIDS_SUBMIT'
  /** A phase that permits orders but this venue does not model (after-hours fixed price). */
  | 'PHASE_NOT_SUPPORTED'
  /** Call auctions take limit orders only. */
  | 'MARKET_ORDER_IN_CALL_AUCTION'
  /** This board's exchange does not offer this market order type. */
  | 'ORDER_TYPE_NOT_ACCEPTED'
  | PriceRuleReason
  /** Outside the valid declaration range of an instrument without a price limit. */
  | 'OUTSIDE_VALID_PRICE_RANGE'
  | Exclude<LotRuleReason, 'ODD_LOT_NOT_WHOLE_POSITION' | 'EXCEEDS_SELLABLE_POSITION'>
  /** MARKET_BEST_OWN with nothing on the own side. */
  | 'NO_OWN_QUOTE'
  /** MARKET_BEST_COUNTER / MARKET_BEST5_TO_LIMIT with nothing on the counter side. */
  | 'NO_COUNTER_QUOTE';

/** Why an accepted order (or its remainder) was cancelled. */
export type CancelReason =
  /** The owner asked. */
  | 'REQUESTED'
  /** MARKET_BEST5_IOC / MARKET_IOC: whatever did not trade at once. */
  | 'IOC_REMAINDER'
  /** MARKET_FOK: the whole quantity was not available, so none of it traded. */
  | 'FOK_NOT_FILLED'
  /** `expireAll()`: the trading day ended with quantity left. */
  | 'END_OF_DAY';

export type CancelRejectReason =
  /** No order with this id was ever accepted by this engine. */
  | 'UNKNOWN_ORDER'
  /** The order is already filled or cancelled. */
  | 'TOO_LATE_TO_CANCEL'
  /** The symbol's phase takes no cancels (09:20–09:25, 09:25–09:30, closing call, breaks). */
  | 'PHASE_FORBIDS_CANCEL'
  /** The cancel named an account that does not own the order. */
  | 'NOT_OWNER';

/** One aggregated price level, best first; same shape as the feed's BookLevel. */
export interface BookLevel {
  readonly price: Price;
  readonly qty: Qty;
  /** Number of orders at this price. */
  readonly orders: number;
}

/** Market data of one symbol; field names follow the feed's SnapshotMessage. */
export interface BookSnapshot {
  readonly symbol: string;
  readonly time: Micros;
  readonly phase: Phase;
  /** 0 = no trade yet today (as are open, high and low). */
  readonly lastPrice: Price;
  readonly openPrice: Price;
  readonly highPrice: Price;
  readonly lowPrice: Price;
  readonly prevClosePrice: Price;
  /** 0 = no price limit today (the first days of a registration-system listing). */
  readonly upperLimitPrice: Price;
  readonly lowerLimitPrice: Price;
  /** Cumulative volume today, shares. */
  readonly volume: Qty;
  /** Cumulative turnover today, money units (0.0001 CNY). */
  readonly turnover: Money;
  readonly tradeCount: number;
  /** Up to `depth` levels each, best first (no padding). */
  readonly bids: BookLevel[];
  readonly asks: BookLevel[];
  /** Orders held outside the price cage (not on the book, not in the levels). */
  readonly heldOrders: number;
  /** Changes whenever the book or the statistics change: compare to skip unchanged publishes. */
  readonly version: number;
}

/** The outcome of a call-auction uncross (or of the indicative calculation). */
export interface AuctionResult {
  /** The single auction price. */
  readonly price: Price;
  /** Executable (or executed) volume at that price, > 0. */
  readonly volume: Qty;
  /** |buy qty at ≥ price − sell qty at ≤ price|: what stays unmatched at that price. */
  readonly imbalance: Qty;
  /** Which side the imbalance is on: buy qty at ≥ price − sell qty at ≤ price (signed). */
  readonly surplus: number;
}
