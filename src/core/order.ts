/**
 * The `Order` aggregate: identity, quantities, fills and status, driven by past-tense events
 * through the one state table in order-state.ts.
 *
 * Why a mutable class and not an immutable record + pure functions: the execution service
 * owns each live order in exactly one place (its order book) and applies every execution
 * report to it on the hot path. Mutating in place costs no allocation per event (a record
 * would copy ~20 fields per fill), and the fill-id set needed for idempotency lives with the
 * order. Encapsulation keeps it honest: the state is private behind getters, `apply` checks
 * everything before it changes anything (a thrown error leaves the order untouched), and
 * `toSnapshot()` gives an immutable plain record for journals, reports and the wire.
 *
 * Invariants:
 * - 0 ≤ filledQty ≤ quantity; a fill that would exceed quantity throws `OrderOverfillError`
 *   (never a silent clamp: it means a venue or adapter bug, and positions must not drift).
 * - leavesQty = quantity − filledQty while not terminal, 0 once terminal.
 * - notional = Σ fill price × fill qty, exact integer Money; avgPrice = notional / filledQty
 *   rounded half up to a price unit, so min fill price ≤ avgPrice ≤ max fill price.
 * - A fill id is applied at most once; a resent fill returns 'DUPLICATE' and changes nothing
 *   (checked before the status, so a resend after FILLED is harmless).
 * - While PENDING_CANCEL the order remembers the status underneath (`preCancelStatus`); an
 *   event is legal only if the table allows it for both, and events that keep the order
 *   PENDING_CANCEL advance the underlying status (a fill makes it PARTIALLY_FILLED, an ack
 *   makes it ACCEPTED), so a cancel reject returns to the right place.
 * - A CancelRejected in a terminal status is accepted only if a cancel was outstanding when
 *   the order terminated.
 */
import { divRoundHalfUp, type Money, type Price, type Qty } from './units.ts';
import type { Micros } from './clock.ts';
import type { OrderId } from './ids.ts';
import type { Side } from './instruments.ts';
import { TriquantError } from './errors.ts';
import {
  InvalidStateTransition,
  isTerminal,
  PRIOR,
  TRANSITIONS,
  type OrderEventKind,
  type OrderStatus,
} from './order-state.ts';

/** The same two sides as instruments' `Side`; one definition so the two never drift. */
export type OrderSide = Side;

/**
 * A-share order types. Which ones a board accepts is an instrument rule checked by risk,
 * not here. For market types `price` is the protection price (保护限价, required on some
 * boards) or 0 for none.
 */
export type OrderType =
  /** 限价: limit, day order. */
  | 'LIMIT'
  /** 最优五档即时成交剩余撤销: best five levels, remainder cancelled (SSE, SZSE). */
  | 'MARKET_BEST5_IOC'
  /** 最优五档即时成交剩余转限价: best five levels, remainder rests at the last price (SSE). */
  | 'MARKET_BEST5_TO_LIMIT'
  /** 即时成交剩余撤销: immediate or cancel (SZSE). */
  | 'MARKET_IOC'
  /** 全额成交或撤销: fill or kill (SZSE). */
  | 'MARKET_FOK'
  /** 本方最优价格: rests at the best price on our side. */
  | 'MARKET_BEST_OWN'
  /** 对手方最优价格: rests at the best price on the other side. */
  | 'MARKET_BEST_COUNTER';

export const ORDER_TYPES: readonly OrderType[] = Object.freeze([
  'LIMIT',
  'MARKET_BEST5_IOC',
  'MARKET_BEST5_TO_LIMIT',
  'MARKET_IOC',
  'MARKET_FOK',
  'MARKET_BEST_OWN',
  'MARKET_BEST_COUNTER',
]);

/** What a new order is made of. */
export interface NewOrder {
  readonly clientOrderId: OrderId;
  readonly account: string;
  readonly strategy: string;
  readonly symbol: string;
  readonly side: OrderSide;
  readonly orderType: OrderType;
  /** Limit price, or protection price (0 = none) for market types. Integer price units. */
  readonly price: Price;
  readonly quantity: Qty;
  readonly createdAt: Micros;
}

// Events: past tense, each with the time it happened (`ts`, integer microseconds).

/** Pre-trade risk (or the kill switch, or an operator before send) refused the order. */
export interface OrderDenied {
  readonly type: 'OrderDenied';
  readonly ts: Micros;
  readonly reason: string;
}
/** The order was written to the journal and submitted to the venue. */
export interface OrderSent {
  readonly type: 'OrderSent';
  readonly ts: Micros;
}
/** The venue acknowledged the order and named it. */
export interface OrderAccepted {
  readonly type: 'OrderAccepted';
  readonly ts: Micros;
  readonly venueOrderId: string;
}
/** The venue refused the order. */
export interface OrderRejected {
  readonly type: 'OrderRejected';
  readonly ts: Micros;
  readonly reason: string;
}
/** A trade: `qty` shares at `price`, identified by the venue's unique `fillId` (exec id). */
export interface OrderFilled {
  readonly type: 'OrderFilled';
  readonly ts: Micros;
  readonly fillId: string;
  readonly qty: Qty;
  readonly price: Price;
}
/** A cancel was sent to the venue. */
export interface OrderCancelRequested {
  readonly type: 'OrderCancelRequested';
  readonly ts: Micros;
}
/** The venue cancelled the order (on request or unsolicited, e.g. an IOC remainder). */
export interface OrderCancelled {
  readonly type: 'OrderCancelled';
  readonly ts: Micros;
  readonly reason?: string;
}
/** The venue refused a cancel. */
export interface OrderCancelRejected {
  readonly type: 'OrderCancelRejected';
  readonly ts: Micros;
  readonly reason: string;
}
/** The trading day ended with quantity left (venue report or the OMS's end-of-day sweep). */
export interface OrderExpired {
  readonly type: 'OrderExpired';
  readonly ts: Micros;
  readonly reason?: string;
}

export type OrderEvent =
  | OrderDenied
  | OrderSent
  | OrderAccepted
  | OrderRejected
  | OrderFilled
  | OrderCancelRequested
  | OrderCancelled
  | OrderCancelRejected
  | OrderExpired;

/** 'DUPLICATE': a fill id seen before; nothing changed. */
export type ApplyResult = 'APPLIED' | 'DUPLICATE';

/** An immutable copy of an order, for journals, reports and the wire. */
export interface OrderSnapshot extends NewOrder {
  readonly status: OrderStatus;
  readonly filledQty: Qty;
  readonly leavesQty: Qty;
  readonly notional: Money;
  readonly avgPrice: Price | undefined;
  readonly venueOrderId: string | undefined;
  readonly reason: string | undefined;
  readonly cancelRejectReason: string | undefined;
  readonly updatedAt: Micros;
}

/** A new order's fields break a contract (quantity, price, ids). */
export class InvalidOrderError extends TriquantError {
  constructor(message: string) {
    super('ORDER_INVALID', message);
  }
}

/** A fill report is malformed: quantity or price not a positive integer, empty fill id. */
export class InvalidFillError extends TriquantError {
  readonly clientOrderId: string;
  readonly fillId: string;

  constructor(clientOrderId: string, fillId: string, message: string) {
    super('ORDER_INVALID_FILL', `order ${clientOrderId}, fill ${fillId}: ${message}`);
    this.clientOrderId = clientOrderId;
    this.fillId = fillId;
  }
}

/** A fill would take filledQty above the order quantity. */
export class OrderOverfillError extends TriquantError {
  readonly clientOrderId: string;
  readonly fillId: string;
  readonly quantity: Qty;
  readonly filledQty: Qty;
  readonly fillQty: Qty;

  constructor(clientOrderId: string, fillId: string, quantity: Qty, filledQty: Qty, fillQty: Qty) {
    super(
      'ORDER_OVERFILL',
      `order ${clientOrderId}: fill ${fillId} of ${fillQty} exceeds the ${quantity - filledQty} left (quantity ${quantity}, filled ${filledQty})`,
    );
    this.clientOrderId = clientOrderId;
    this.fillId = fillId;
    this.quantity = quantity;
    this.filledQty = filledQty;
    this.fillQty = fillQty;
  }
}

/** An ack names a different venue order id than an earlier ack: reports are misrouted. */
export class VenueOrderIdConflictError extends TriquantError {
  readonly clientOrderId: string;
  readonly known: string;
  readonly received: string;

  constructor(clientOrderId: string, known: string, received: string) {
    super('ORDER_VENUE_ID_CONFLICT', `order ${clientOrderId}: venue order id ${received} conflicts with ${known}`);
    this.clientOrderId = clientOrderId;
    this.known = known;
    this.received = received;
  }
}

export class Order implements NewOrder {
  readonly clientOrderId: OrderId;
  readonly account: string;
  readonly strategy: string;
  readonly symbol: string;
  readonly side: OrderSide;
  readonly orderType: OrderType;
  readonly price: Price;
  readonly quantity: Qty;
  readonly createdAt: Micros;

  #status: OrderStatus = 'PENDING_NEW';
  /** Status underneath PENDING_CANCEL; stays set after a terminal outcome while the cancel is unanswered. */
  #preCancel: OrderStatus | undefined = undefined;
  #filledQty: Qty = 0;
  #notional: Money = 0;
  #venueOrderId: string | undefined = undefined;
  #reason: string | undefined = undefined;
  #cancelRejectReason: string | undefined = undefined;
  #updatedAt: Micros;
  readonly #fillIds = new Set<string>();

  constructor(init: NewOrder) {
    if (typeof init.clientOrderId !== 'string' || init.clientOrderId.length === 0) {
      throw new InvalidOrderError('clientOrderId must be a non-empty string');
    }
    const id = init.clientOrderId;
    if (!Number.isSafeInteger(init.quantity) || init.quantity <= 0) {
      throw new InvalidOrderError(`order ${id}: quantity must be a positive integer, got ${init.quantity}`);
    }
    if (init.side !== 'BUY' && init.side !== 'SELL') {
      throw new InvalidOrderError(`order ${id}: side must be BUY or SELL, got ${String(init.side)}`);
    }
    if (!ORDER_TYPES.includes(init.orderType)) {
      throw new InvalidOrderError(`order ${id}: unknown order type ${String(init.orderType)}`);
    }
    const minPrice = init.orderType === 'LIMIT' ? 1 : 0;
    if (!Number.isSafeInteger(init.price) || init.price < minPrice) {
      throw new InvalidOrderError(
        `order ${id}: ${init.orderType} price must be an integer ≥ ${minPrice} price units, got ${init.price}`,
      );
    }
    if (!Number.isSafeInteger(init.createdAt)) {
      throw new InvalidOrderError(`order ${id}: createdAt must be integer microseconds, got ${init.createdAt}`);
    }
    this.clientOrderId = id;
    this.account = init.account;
    this.strategy = init.strategy;
    this.symbol = init.symbol;
    this.side = init.side;
    this.orderType = init.orderType;
    this.price = init.price;
    this.quantity = init.quantity;
    this.createdAt = init.createdAt;
    this.#updatedAt = init.createdAt;
  }

  get status(): OrderStatus {
    return this.#status;
  }
  get filledQty(): Qty {
    return this.#filledQty;
  }
  /** quantity − filledQty while not terminal; 0 once terminal. */
  get leavesQty(): Qty {
    return isTerminal(this.#status) ? 0 : this.quantity - this.#filledQty;
  }
  /** Σ fill price × fill qty, in Money units (0.0001 CNY). */
  get notional(): Money {
    return this.#notional;
  }
  /** Volume-weighted fill price rounded half up to a price unit; undefined before the first fill. */
  get avgPrice(): Price | undefined {
    return this.#filledQty === 0 ? undefined : divRoundHalfUp(this.#notional, this.#filledQty);
  }
  get venueOrderId(): string | undefined {
    return this.#venueOrderId;
  }
  /** Why the order was denied, rejected, cancelled or expired (when the event said). */
  get reason(): string | undefined {
    return this.#reason;
  }
  /** The reason of the last refused cancel. */
  get cancelRejectReason(): string | undefined {
    return this.#cancelRejectReason;
  }
  get updatedAt(): Micros {
    return this.#updatedAt;
  }
  /** The status a cancel reject would return to; defined only while PENDING_CANCEL. */
  get preCancelStatus(): OrderStatus | undefined {
    return this.#status === 'PENDING_CANCEL' ? this.#preCancel : undefined;
  }
  /** A cancel request has had no answer (it may still be refused after a terminal outcome). */
  get cancelOutstanding(): boolean {
    return this.#preCancel !== undefined;
  }
  get fillCount(): number {
    return this.#fillIds.size;
  }
  hasFill(fillId: string): boolean {
    return this.#fillIds.has(fillId);
  }

  /**
   * Applies one event. Throws `InvalidStateTransition`, `InvalidFillError`,
   * `OrderOverfillError` or `VenueOrderIdConflictError` without changing anything; returns
   * 'DUPLICATE' for a fill id already applied.
   */
  apply(event: OrderEvent): ApplyResult {
    switch (event.type) {
      case 'OrderDenied': {
        this.#commit('DENIED', this.#resolve('DENIED'), event.ts);
        this.#reason = event.reason;
        return 'APPLIED';
      }
      case 'OrderSent': {
        this.#commit('SENT', this.#resolve('SENT'), event.ts);
        return 'APPLIED';
      }
      case 'OrderAccepted': {
        const next = this.#resolve('ACCEPTED');
        const venueOrderId = event.venueOrderId;
        if (this.#venueOrderId !== undefined && this.#venueOrderId !== venueOrderId) {
          throw new VenueOrderIdConflictError(this.clientOrderId, this.#venueOrderId, venueOrderId);
        }
        this.#commit('ACCEPTED', next, event.ts);
        this.#venueOrderId = venueOrderId;
        return 'APPLIED';
      }
      case 'OrderRejected': {
        this.#commit('REJECTED', this.#resolve('REJECTED'), event.ts);
        this.#reason = event.reason;
        return 'APPLIED';
      }
      case 'OrderFilled':
        return this.#fill(event);
      case 'OrderCancelRequested': {
        this.#commit('CANCEL_REQUESTED', this.#resolve('CANCEL_REQUESTED'), event.ts);
        return 'APPLIED';
      }
      case 'OrderCancelled': {
        const next = this.#resolve('CANCELLED');
        this.#commit('CANCELLED', next, event.ts);
        // A late cancel report after EXPIRED is a no-op: it does not rewrite why the order ended.
        if (event.reason !== undefined && next === 'CANCELLED') this.#reason = event.reason;
        return 'APPLIED';
      }
      case 'OrderCancelRejected': {
        this.#commit('CANCEL_REJECTED', this.#resolve('CANCEL_REJECTED'), event.ts);
        this.#cancelRejectReason = event.reason;
        return 'APPLIED';
      }
      case 'OrderExpired': {
        this.#commit('EXPIRED', this.#resolve('EXPIRED'), event.ts);
        if (event.reason !== undefined) this.#reason = event.reason;
        return 'APPLIED';
      }
      default:
        return assertNever(event);
    }
  }

  /** An immutable plain copy. */
  toSnapshot(): OrderSnapshot {
    return Object.freeze({
      clientOrderId: this.clientOrderId,
      account: this.account,
      strategy: this.strategy,
      symbol: this.symbol,
      side: this.side,
      orderType: this.orderType,
      price: this.price,
      quantity: this.quantity,
      createdAt: this.createdAt,
      status: this.#status,
      filledQty: this.#filledQty,
      leavesQty: this.leavesQty,
      notional: this.#notional,
      avgPrice: this.avgPrice,
      venueOrderId: this.#venueOrderId,
      reason: this.#reason,
      cancelRejectReason: this.#cancelRejectReason,
      updatedAt: this.#updatedAt,
    });
  }

  #fill(event: OrderFilled): ApplyResult {
    const { fillId, qty, price } = event;
    if (typeof fillId !== 'string' || fillId.length === 0) {
      throw new InvalidFillError(this.clientOrderId, String(fillId), 'fill id must be a non-empty string');
    }
    if (!Number.isSafeInteger(qty) || qty <= 0) {
      throw new InvalidFillError(this.clientOrderId, fillId, `quantity must be a positive integer, got ${qty}`);
    }
    if (!Number.isSafeInteger(price) || price <= 0) {
      throw new InvalidFillError(this.clientOrderId, fillId, `price must be a positive integer, got ${price}`);
    }
    // Idempotency first: a resent report is harmless whatever the status is now.
    if (this.#fillIds.has(fillId)) return 'DUPLICATE';

    const filled = this.#filledQty + qty;
    const kind: OrderEventKind = filled >= this.quantity ? 'FILL_FULL' : 'FILL_PARTIAL';
    const next = this.#resolve(kind);
    if (filled > this.quantity) {
      throw new OrderOverfillError(this.clientOrderId, fillId, this.quantity, this.#filledQty, qty);
    }
    const notional = this.#notional + price * qty;
    if (!Number.isSafeInteger(notional)) {
      throw new InvalidFillError(this.clientOrderId, fillId, 'notional exceeds the safe integer range');
    }
    this.#commit(kind, next, event.ts);
    this.#fillIds.add(fillId);
    this.#filledQty = filled;
    this.#notional = notional;
    return 'APPLIED';
  }

  /** The next status for `kind`, or throws; changes nothing. */
  #resolve(kind: OrderEventKind): OrderStatus {
    const status = this.#status;
    const target = TRANSITIONS[status][kind];
    if (target === null) throw this.#invalid(kind);
    const pre = this.#preCancel;
    if (kind === 'CANCEL_REJECTED') {
      // Only an outstanding cancel can be refused (also after a terminal outcome).
      if (pre === undefined) throw this.#invalid(kind, 'no cancel is outstanding');
      return target === PRIOR ? pre : target;
    }
    if (target === PRIOR) throw this.#invalid(kind); // only CANCEL_REJECTED maps to PRIOR
    if (status === 'PENDING_CANCEL' && pre !== undefined && TRANSITIONS[pre][kind] === null) {
      throw this.#invalid(kind, `status underneath the pending cancel is ${pre}`);
    }
    return target;
  }

  /** Moves to `next` (already resolved) and keeps the pre-cancel memory in step. */
  #commit(kind: OrderEventKind, next: OrderStatus, ts: Micros): void {
    const status = this.#status;
    if (next === 'PENDING_CANCEL') {
      if (status !== 'PENDING_CANCEL') {
        this.#preCancel = status; // entering: remember where a cancel reject returns
      } else {
        const pre = this.#preCancel;
        // The underlying status follows the event too (ack or partial fill while pending).
        const under = pre === undefined ? null : TRANSITIONS[pre][kind];
        if (under !== null && under !== PRIOR) this.#preCancel = under;
      }
    } else if (kind === 'CANCEL_REJECTED') {
      this.#preCancel = undefined; // the cancel is answered
    }
    // Any other exit from PENDING_CANCEL keeps #preCancel: the cancel may still be refused.
    this.#status = next;
    if (ts > this.#updatedAt) this.#updatedAt = ts; // reports arrive out of order; never go back
  }

  #invalid(kind: OrderEventKind, detail?: string): InvalidStateTransition {
    return new InvalidStateTransition(
      this.#status,
      kind,
      detail === undefined ? { clientOrderId: this.clientOrderId } : { clientOrderId: this.clientOrderId, detail },
    );
  }
}

/** Creates an order in PENDING_NEW; throws `InvalidOrderError` on bad fields. */
export function createOrder(init: NewOrder): Order {
  return new Order(init);
}

/** Applies one event to the order in place; see `Order.apply`. */
export function applyEvent(order: Order, event: OrderEvent): ApplyResult {
  return order.apply(event);
}

function assertNever(value: never): never {
  throw new TypeError(`unknown order event ${JSON.stringify(value)}`);
}
