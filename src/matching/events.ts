/**
 * The engine's event sink: how the simulator's FIX layer (execution reports), its market-data
 * layer (trades, snapshots) and the backtester hear about orders.
 *
 * Callbacks, not an event array: nothing is allocated per event except the `Trade` record,
 * and a consumer reads exactly the fields it needs. Rules for implementers:
 * - callbacks run synchronously inside `submit` / `cancel` / `setPhase` / `uncross`;
 * - they must not call back into the engine (it throws a re-entrancy error): queue work instead;
 * - `OrderView` objects are the engine's live orders — read or copy inside the callback;
 *   `Trade` objects are immutable and may be kept.
 *
 * Order of events for one incoming order:
 *   orderAccepted → [orderHeld] → for each execution: tradeExecuted, orderFilled(passive),
 *   orderFilled(aggressor) → [orderCancelled for an IOC/FOK remainder].
 * In a call-auction uncross there is no aggressor: tradeExecuted, orderFilled(buy),
 * orderFilled(sell). A held order entering the book: orderReleased, then its executions.
 */
import type { Micros } from '../core/clock.ts';
import type {
  CancelReason,
  CancelRejectReason,
  OrderRequest,
  OrderView,
  SubmitRejectReason,
  Trade,
  VenueOrderId,
} from './types.ts';

export interface MatchingEvents {
  /** The venue took the order and named it (`order.id`). FIX: ExecType=New. */
  orderAccepted(order: OrderView, time: Micros): void;
  /** The venue refused the order; it has no venue id. FIX: ExecType=Rejected, OrdRejReason/Text. */
  orderRejected(request: OrderRequest, reason: SubmitRejectReason, detail: string, time: Micros): void;
  /** An accepted order is held outside the price cage (hold-mode boards) until the cage moves. */
  orderHeld(order: OrderView, detail: string, time: Micros): void;
  /** A held order came inside the cage and entered the book (its time priority starts now). */
  orderReleased(order: OrderView, time: Micros): void;
  /** One execution (the trade record). Followed by the two orderFilled calls. */
  tradeExecuted(trade: Trade): void;
  /**
   * One side of an execution: lastQty = trade.qty, lastPx = trade.price; the order's cumQty,
   * leavesQty, avgPrice and status are already updated. FIX: ExecType=Trade.
   */
  orderFilled(order: OrderView, trade: Trade): void;
  /** The order's remainder (`order.cancelledQty`) was cancelled, on request or unsolicited. */
  orderCancelled(order: OrderView, reason: CancelReason, time: Micros): void;
  /** A cancel was refused; `order` is the working order when there is one. FIX: OrderCancelReject. */
  cancelRejected(
    orderId: VenueOrderId,
    reason: CancelRejectReason,
    detail: string,
    time: Micros,
    order: OrderView | undefined,
  ): void;
}

function ignore(): void {}

/** A sink that ignores everything; extend it (object spread) to listen to a few events. */
export const NO_EVENTS: MatchingEvents = Object.freeze({
  orderAccepted: ignore,
  orderRejected: ignore,
  orderHeld: ignore,
  orderReleased: ignore,
  tradeExecuted: ignore,
  orderFilled: ignore,
  orderCancelled: ignore,
  cancelRejected: ignore,
});

/** A copied record of one event, for tests, replays and debugging. */
export type RecordedEvent =
  | { readonly type: 'accepted'; readonly orderId: VenueOrderId; readonly time: Micros }
  | {
      readonly type: 'rejected';
      readonly request: OrderRequest;
      readonly reason: SubmitRejectReason;
      readonly detail: string;
      readonly time: Micros;
    }
  | { readonly type: 'held'; readonly orderId: VenueOrderId; readonly time: Micros }
  | { readonly type: 'released'; readonly orderId: VenueOrderId; readonly time: Micros }
  | { readonly type: 'trade'; readonly trade: Trade }
  | {
      readonly type: 'filled';
      readonly orderId: VenueOrderId;
      readonly tradeId: number;
      readonly lastQty: number;
      readonly lastPx: number;
      readonly cumQty: number;
      readonly leavesQty: number;
      readonly avgPrice: number;
      readonly status: OrderView['status'];
    }
  | {
      readonly type: 'cancelled';
      readonly orderId: VenueOrderId;
      readonly reason: CancelReason;
      readonly cancelledQty: number;
      readonly time: Micros;
    }
  | {
      readonly type: 'cancelRejected';
      readonly orderId: VenueOrderId;
      readonly reason: CancelRejectReason;
      readonly time: Micros;
    };

/**
 * Records every event as a copy, and keeps every accepted order (the live view, so its final
 * state can be inspected). Meant for tests and tools, not the hot path.
 */
export class EventRecorder implements MatchingEvents {
  readonly events: RecordedEvent[] = [];
  readonly trades: Trade[] = [];
  /** Every accepted order by id (live views). */
  readonly orders = new Map<VenueOrderId, OrderView>();

  orderAccepted(order: OrderView, time: Micros): void {
    this.orders.set(order.id, order);
    this.events.push({ type: 'accepted', orderId: order.id, time });
  }
  orderRejected(request: OrderRequest, reason: SubmitRejectReason, detail: string, time: Micros): void {
    this.events.push({ type: 'rejected', request, reason, detail, time });
  }
  orderHeld(order: OrderView, _detail: string, time: Micros): void {
    this.events.push({ type: 'held', orderId: order.id, time });
  }
  orderReleased(order: OrderView, time: Micros): void {
    this.events.push({ type: 'released', orderId: order.id, time });
  }
  tradeExecuted(trade: Trade): void {
    this.trades.push(trade);
    this.events.push({ type: 'trade', trade });
  }
  orderFilled(order: OrderView, trade: Trade): void {
    this.events.push({
      type: 'filled',
      orderId: order.id,
      tradeId: trade.tradeId,
      lastQty: trade.qty,
      lastPx: trade.price,
      cumQty: order.cumQty,
      leavesQty: order.leavesQty,
      avgPrice: order.avgPrice,
      status: order.status,
    });
  }
  orderCancelled(order: OrderView, reason: CancelReason, time: Micros): void {
    this.events.push({ type: 'cancelled', orderId: order.id, reason, cancelledQty: order.cancelledQty, time });
  }
  cancelRejected(orderId: VenueOrderId, reason: CancelRejectReason, _detail: string, time: Micros): void {
    this.events.push({ type: 'cancelRejected', orderId, reason, time });
  }

  /** Events of one type, typed. */
  ofType<K extends RecordedEvent['type']>(type: K): Extract<RecordedEvent, { type: K }>[] {
    return this.events.filter((event): event is Extract<RecordedEvent, { type: K }> => event.type === type);
  }

  /** The last rejection's reason, or undefined. */
  lastRejectReason(): SubmitRejectReason | undefined {
    for (let i = this.events.length - 1; i >= 0; i -= 1) {
      const event = this.events[i]!;
      if (event.type === 'rejected') return event.reason;
    }
    return undefined;
  }

  clear(): void {
    this.events.length = 0;
    this.trades.length = 0;
    this.orders.clear();
  }
}
