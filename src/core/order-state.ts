/**
 * The order state machine: one exhaustive `(status, event) → status` table.
 *
 * Every cell of `TRANSITIONS` is written out; `null` means "not a legal transition" and makes
 * `transition()` throw a typed `InvalidStateTransition`. The table's type is a mapped type over
 * both unions, so adding a status without its row, or an event kind without its column in
 * every row, does not compile.
 *
 * The machine works on event *kinds*. The `Order` aggregate (order.ts) turns data-carrying
 * events into kinds (a fill becomes `FILL_PARTIAL` or `FILL_FULL` from the quantities) and
 * keeps the one piece of memory the table cannot: the status underneath a pending cancel.
 *
 * Real-world cases, and what the table does with them (venues and broker APIs deliver order
 * reports and trade reports on different channels, so they arrive out of order):
 *
 * - Fill before the ack: SENT + FILL_PARTIAL → PARTIALLY_FILLED, SENT + FILL_FULL → FILLED.
 *   A marketable order can trade before its acknowledgement is seen.
 * - Late or duplicate ack: ACCEPTED is a no-op self-loop in every status in which the order
 *   evidently reached the venue (ACCEPTED, PARTIALLY_FILLED, PENDING_CANCEL, and the terminal
 *   FILLED, CANCELLED, EXPIRED). Venues resend acks; an ack can trail the first fill.
 * - Reject after sent: SENT + REJECTED → REJECTED (A-share 废单: price outside the limit band,
 *   bad lot size, no position to sell...). Once ACCEPTED, a reject is illegal.
 * - Cancel requested while SENT: allowed, → PENDING_CANCEL. The cancel references our client
 *   order id, so it can follow the new-order message before the ack. The status underneath
 *   (SENT) keeps evolving: a later ack makes it ACCEPTED, a later venue reject of the original
 *   order → REJECTED (legal only while the underlying status is still SENT).
 * - Cancel before the order was sent: PENDING_NEW has no cancel. An order that never left the
 *   OMS ends DENIED (risk, kill switch or an operator pulling it before send, with a reason).
 * - Fill while a cancel is pending: a partial fill keeps the order PENDING_CANCEL (the cancel is
 *   still outstanding; the underlying status becomes PARTIALLY_FILLED so a cancel reject
 *   returns there); a fill that completes the quantity → FILLED (the cancel lost the race).
 *   We deliberately do NOT drop back to PARTIALLY_FILLED as nautilus_trader does: that would
 *   make the order look cancelable again while a cancel is in flight.
 * - Cancel rejected: PENDING_CANCEL + CANCEL_REJECTED → PRIOR, the underlying status (SENT,
 *   ACCEPTED or PARTIALLY_FILLED). A cancel reject that trails a terminal outcome ("order
 *   already filled / already cancelled / unknown order") is a no-op in FILLED, CANCELLED,
 *   EXPIRED and REJECTED; the aggregate additionally requires that a cancel was outstanding.
 * - Unsolicited cancel: SENT/ACCEPTED/PARTIALLY_FILLED + CANCELLED → CANCELLED (IOC and
 *   best-five market orders cancel their remainder; a broker may cancel).
 * - Late fill after a terminal cancel or expiry: the fill happened at the venue before the
 *   cancel, its report just arrived later. A partial late fill keeps CANCELLED / EXPIRED (the
 *   order is done, only filledQty changes); a late fill that completes the whole quantity →
 *   FILLED (the fills are the money-moving truth). Fills are never refused for state reasons
 *   once the order may have traded, except after REJECTED or DENIED, where no trade can exist.
 * - Expiry: A-share orders are day orders (当日有效); whatever is unfilled at the close is
 *   void. EXPIRED is reached from a venue report (FIX ExecType=C) or the OMS's end-of-day
 *   sweep, from any status in which the order may be working (SENT, ACCEPTED,
 *   PARTIALLY_FILLED, PENDING_CANCEL). A CANCELLED report after EXPIRED is a no-op: brokers
 *   commonly report the end-of-day purge as Canceled (ExecType=4), and a cancel sent just
 *   before the close may be confirmed after the sweep; either way nothing is left to cancel.
 * - A second cancel request while one is pending is illegal (canCancel is false in
 *   PENDING_CANCEL): resending a timed-out cancel is the broker adapter's job, with the same id.
 */
import { TriquantError } from './errors.ts';

export const OrderStatus = {
  /** Created in the OMS, journaled, waiting for risk and the send. */
  PendingNew: 'PENDING_NEW',
  /** Refused by pre-trade risk (or kill switch / operator) before sending. Terminal. */
  Denied: 'DENIED',
  /** Sent to the venue, no acknowledgement yet. */
  Sent: 'SENT',
  /** Acknowledged by the venue (A-share 已报), working, nothing filled. */
  Accepted: 'ACCEPTED',
  /** Refused by the venue (A-share 废单). Terminal. */
  Rejected: 'REJECTED',
  /** Working with part of the quantity filled (部成). */
  PartiallyFilled: 'PARTIALLY_FILLED',
  /** The whole quantity filled (已成). Terminal. */
  Filled: 'FILLED',
  /** A cancel has been sent and not answered (待撤). */
  PendingCancel: 'PENDING_CANCEL',
  /** Cancelled, possibly after partial fills (已撤 / 部撤). Terminal. */
  Cancelled: 'CANCELLED',
  /** Void at the end of the trading day with quantity left. Terminal. */
  Expired: 'EXPIRED',
} as const;
export type OrderStatus = (typeof OrderStatus)[keyof typeof OrderStatus];

/** Inputs of the state machine, past tense (they report what happened). */
export const OrderEventKind = {
  /** Pre-trade risk denied the order. */
  Denied: 'DENIED',
  /** The order was submitted to the venue. */
  Sent: 'SENT',
  /** The venue acknowledged the order. */
  Accepted: 'ACCEPTED',
  /** The venue rejected the order. */
  Rejected: 'REJECTED',
  /** A fill that leaves quantity open. */
  FillPartial: 'FILL_PARTIAL',
  /** A fill that completes the order quantity. */
  FillFull: 'FILL_FULL',
  /** A cancel was sent to the venue. */
  CancelRequested: 'CANCEL_REQUESTED',
  /** The venue confirmed a cancel (requested or unsolicited). */
  Cancelled: 'CANCELLED',
  /** The venue refused a cancel. */
  CancelRejected: 'CANCEL_REJECTED',
  /** The trading day ended with quantity left (venue report or end-of-day sweep). */
  Expired: 'EXPIRED',
} as const;
export type OrderEventKind = (typeof OrderEventKind)[keyof typeof OrderEventKind];

export const ORDER_STATUSES: readonly OrderStatus[] = Object.freeze(Object.values(OrderStatus));
export const ORDER_EVENT_KINDS: readonly OrderEventKind[] = Object.freeze(Object.values(OrderEventKind));

/** Table target meaning "the status the order had before PENDING_CANCEL". */
export const PRIOR = 'PRIOR';
export type TransitionTarget = OrderStatus | typeof PRIOR | null;

export type TransitionTable = {
  readonly [S in OrderStatus]: { readonly [E in OrderEventKind]: TransitionTarget };
};

/** The whole machine. `null` = illegal. Read a row as "in this status, on this event, go to". */
export const TRANSITIONS: TransitionTable = deepFreeze({
  PENDING_NEW: {
    DENIED: 'DENIED',
    SENT: 'SENT',
    ACCEPTED: null, REJECTED: null, FILL_PARTIAL: null, FILL_FULL: null,
    CANCEL_REQUESTED: null, CANCELLED: null, CANCEL_REJECTED: null, EXPIRED: null,
  },
  DENIED: {
    DENIED: null, SENT: null, ACCEPTED: null, REJECTED: null, FILL_PARTIAL: null, FILL_FULL: null,
    CANCEL_REQUESTED: null, CANCELLED: null, CANCEL_REJECTED: null, EXPIRED: null,
  },
  SENT: {
    ACCEPTED: 'ACCEPTED',
    REJECTED: 'REJECTED',
    FILL_PARTIAL: 'PARTIALLY_FILLED', // fill before the ack
    FILL_FULL: 'FILLED', // fill before the ack
    CANCEL_REQUESTED: 'PENDING_CANCEL', // cancel may follow the order before its ack
    CANCELLED: 'CANCELLED', // unsolicited (IOC remainder) or ack lost
    EXPIRED: 'EXPIRED',
    DENIED: null, SENT: null, CANCEL_REJECTED: null,
  },
  ACCEPTED: {
    ACCEPTED: 'ACCEPTED', // duplicate ack
    FILL_PARTIAL: 'PARTIALLY_FILLED',
    FILL_FULL: 'FILLED',
    CANCEL_REQUESTED: 'PENDING_CANCEL',
    CANCELLED: 'CANCELLED', // unsolicited (IOC remainder, broker)
    EXPIRED: 'EXPIRED',
    DENIED: null, SENT: null, REJECTED: null, CANCEL_REJECTED: null,
  },
  REJECTED: {
    CANCEL_REJECTED: 'REJECTED', // late: a cancel sent while SENT is refused ("unknown order")
    DENIED: null, SENT: null, ACCEPTED: null, REJECTED: null, FILL_PARTIAL: null, FILL_FULL: null,
    CANCEL_REQUESTED: null, CANCELLED: null, EXPIRED: null,
  },
  PARTIALLY_FILLED: {
    ACCEPTED: 'PARTIALLY_FILLED', // the ack trailing the first fill
    FILL_PARTIAL: 'PARTIALLY_FILLED',
    FILL_FULL: 'FILLED',
    CANCEL_REQUESTED: 'PENDING_CANCEL',
    CANCELLED: 'CANCELLED', // 部撤, also unsolicited (IOC remainder)
    EXPIRED: 'EXPIRED',
    DENIED: null, SENT: null, REJECTED: null, CANCEL_REJECTED: null,
  },
  FILLED: {
    ACCEPTED: 'FILLED', // late ack after fill-before-ack
    CANCEL_REJECTED: 'FILLED', // the cancel lost the race to the last fill
    DENIED: null, SENT: null, REJECTED: null, FILL_PARTIAL: null, FILL_FULL: null,
    CANCEL_REQUESTED: null, CANCELLED: null, EXPIRED: null,
  },
  PENDING_CANCEL: {
    ACCEPTED: 'PENDING_CANCEL', // cancel was sent while SENT; underlying becomes ACCEPTED
    REJECTED: 'REJECTED', // cancel was sent while SENT and the order itself is refused
    FILL_PARTIAL: 'PENDING_CANCEL', // cancel still outstanding; underlying → PARTIALLY_FILLED
    FILL_FULL: 'FILLED', // the fill won the race
    CANCELLED: 'CANCELLED',
    CANCEL_REJECTED: PRIOR,
    EXPIRED: 'EXPIRED', // the close came before the cancel answer
    DENIED: null, SENT: null, CANCEL_REQUESTED: null,
  },
  CANCELLED: {
    ACCEPTED: 'CANCELLED', // late ack
    FILL_PARTIAL: 'CANCELLED', // late fill report: it traded before the cancel
    FILL_FULL: 'FILLED', // late fills add up to the whole quantity
    CANCEL_REJECTED: 'CANCELLED', // unsolicited cancel overtook our request
    DENIED: null, SENT: null, REJECTED: null, CANCEL_REQUESTED: null, CANCELLED: null, EXPIRED: null,
  },
  EXPIRED: {
    ACCEPTED: 'EXPIRED', // late ack
    CANCELLED: 'EXPIRED', // the venue's own end-of-day cancel (or a cancel's answer) after our sweep
    FILL_PARTIAL: 'EXPIRED', // late fill report from before the close
    FILL_FULL: 'FILLED',
    CANCEL_REJECTED: 'EXPIRED', // cancel at the close refused: already expired
    DENIED: null, SENT: null, REJECTED: null, CANCEL_REQUESTED: null, EXPIRED: null,
  },
});

const TERMINAL: { readonly [S in OrderStatus]: boolean } = {
  PENDING_NEW: false,
  DENIED: true,
  SENT: false,
  ACCEPTED: false,
  REJECTED: true,
  PARTIALLY_FILLED: false,
  FILLED: true,
  PENDING_CANCEL: false,
  CANCELLED: true,
  EXPIRED: true,
};

const OPEN: { readonly [S in OrderStatus]: boolean } = {
  PENDING_NEW: false,
  DENIED: false,
  SENT: false,
  ACCEPTED: true,
  REJECTED: false,
  PARTIALLY_FILLED: true,
  FILLED: false,
  PENDING_CANCEL: true,
  CANCELLED: false,
  EXPIRED: false,
};

const IN_FLIGHT: { readonly [S in OrderStatus]: boolean } = {
  PENDING_NEW: false,
  DENIED: false,
  SENT: true,
  ACCEPTED: false,
  REJECTED: false,
  PARTIALLY_FILLED: false,
  FILLED: false,
  PENDING_CANCEL: true,
  CANCELLED: false,
  EXPIRED: false,
};

/** No further trading is possible: DENIED, REJECTED, FILLED, CANCELLED, EXPIRED. */
export function isTerminal(status: OrderStatus): boolean {
  return TERMINAL[status];
}

/**
 * Working at the venue as far as we know: ACCEPTED, PARTIALLY_FILLED, PENDING_CANCEL.
 * SENT is not open (not yet acknowledged) but is in flight; risk should count every
 * non-terminal order as exposure, not just open ones.
 */
export function isOpen(status: OrderStatus): boolean {
  return OPEN[status];
}

/** A request is outstanding at the venue: SENT (awaiting the ack) or PENDING_CANCEL. */
export function isInFlight(status: OrderStatus): boolean {
  return IN_FLIGHT[status];
}

/** A cancel may be requested: SENT, ACCEPTED, PARTIALLY_FILLED (straight from the table). */
export function canCancel(status: OrderStatus): boolean {
  return TRANSITIONS[status].CANCEL_REQUESTED !== null;
}

/** An event kind is illegal in a status. Carries both, with a stable code. */
export class InvalidStateTransition extends TriquantError {
  readonly state: OrderStatus;
  readonly event: OrderEventKind;
  readonly clientOrderId: string | undefined;

  constructor(state: OrderStatus, event: OrderEventKind, options?: { clientOrderId?: string; detail?: string }) {
    const who = options?.clientOrderId === undefined ? 'order' : `order ${options.clientOrderId}`;
    const detail = options?.detail === undefined ? '' : ` (${options.detail})`;
    super('INVALID_STATE_TRANSITION', `${who}: event ${event} is not valid in status ${state}${detail}`);
    this.state = state;
    this.event = event;
    this.clientOrderId = options?.clientOrderId;
  }
}

/**
 * The next status, or `undefined` when the pair is illegal. `prior` is the status underneath
 * PENDING_CANCEL (needed only for PENDING_CANCEL + CANCEL_REJECTED; it must be one of the
 * cancelable statuses). A table lookup; allocates nothing.
 */
export function tryTransition(state: OrderStatus, event: OrderEventKind, prior?: OrderStatus): OrderStatus | undefined {
  const target = TRANSITIONS[state][event];
  if (target === null) return undefined;
  if (target === PRIOR) return prior !== undefined && canCancel(prior) ? prior : undefined;
  return target;
}

/** The next status; throws `InvalidStateTransition` when the pair is illegal. */
export function transition(state: OrderStatus, event: OrderEventKind, prior?: OrderStatus): OrderStatus {
  const next = tryTransition(state, event, prior);
  if (next === undefined) {
    const detail =
      TRANSITIONS[state][event] === PRIOR ? `needs the pre-cancel status, got ${String(prior)}` : undefined;
    throw new InvalidStateTransition(state, event, detail === undefined ? undefined : { detail });
  }
  return next;
}

function deepFreeze<T extends object>(table: T): T {
  for (const row of Object.values(table)) Object.freeze(row);
  return Object.freeze(table);
}
