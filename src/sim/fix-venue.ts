/**
 * The simulator's order entry: a `FixApplication` that turns FIX messages into matching-engine
 * orders and the engine's events into ExecutionReports and OrderCancelRejects for the
 * session that owns each order.
 *
 * Orders are kept for the trading day (status requests and duplicate checks need them), and
 * so are the ClOrdIDs of rejected orders: a status request for one answers OrdStatus Rejected
 * with the original reason, while only a ClOrdID never seen answers "unknown order"
 * (OrdRejReason 5), which is what lets a reconnecting initiator tell "rejected" from "never
 * received". Orders are keyed by (session, ClOrdID): a resent NewOrderSingle (PossDup) that was
 * already seen is ignored, a reused ClOrdID without PossDup is rejected as a duplicate. Engine events
 * arrive synchronously inside `submit`/`cancel`; sending never throws back into the engine.
 */
import type { Micros } from '../core/clock.ts';
import type { Clock } from '../core/clock.ts';
import type { FixMessage } from '../protocol/fix/codec.ts';
import { CxlRejReason, ExecType, OrdRejReason, OrdStatus } from '../protocol/fix/fields.ts';
import type { ExecutionReport, NewOrderSingle, OrderCancelRequest, OrderStatusRequest, SymbolStyle } from '../protocol/fix/messages.ts';
import type { MatchingEvents, OrderView, SubmitRejectReason, Trade, VenueOrderId, CancelReason, CancelRejectReason, OrderRequest } from '../matching/index.ts';
import type { Logger } from '../obs/log.ts';
import { silentLogger } from '../obs/log.ts';
import type { FixAcceptorSession, FixApplication } from './fix-acceptor.ts';

/** What the venue needs from the exchange it fronts (the Simulator). */
export interface VenueMarket {
  submit(request: OrderRequest): VenueOrderId;
  cancel(orderId: VenueOrderId, account: string): boolean;
  order(orderId: VenueOrderId): OrderView | undefined;
}

interface MemberOrder {
  readonly session: FixAcceptorSession;
  readonly clOrdId: string;
  readonly account: string;
  readonly symbolStyle: SymbolStyle;
  /** ClOrdID of the cancel request in flight, if any. */
  cancelClOrdId: string | undefined;
  /** The engine's order object: still readable (final state) after the engine forgets a done order. */
  readonly view: OrderView;
  /** Cancelled at the end of the day (reported as Expired). */
  expired: boolean;
}

export interface FixVenueStats {
  ordersReceived: number;
  ordersRejected: number;
  duplicatesIgnored: number;
  cancelsReceived: number;
  cancelRejects: number;
  executionReports: number;
  sendFailures: number;
}

export class FixVenue implements FixApplication {
  private readonly market: VenueMarket;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly execIdPrefix: string;
  private execSeq = 0;
  private readonly bySessionClOrdId = new Map<string, VenueOrderId>();
  private readonly byVenueId = new Map<VenueOrderId, MemberOrder>();
  /** Rejected orders by (session, ClOrdID): their last report, for status requests and duplicate checks. */
  private readonly rejected = new Map<string, ExecutionReport>();
  /** The member order being submitted: engine events for it arrive before `submit` returns. */
  private submitting: { session: FixAcceptorSession; order: NewOrderSingle; account: string } | undefined;
  readonly counters: FixVenueStats = {
    ordersReceived: 0, ordersRejected: 0, duplicatesIgnored: 0, cancelsReceived: 0, cancelRejects: 0, executionReports: 0, sendFailures: 0,
  };
  /** Told of every NewOrderSingle as it arrives, before it is handled (tests and benches record arrivals here). */
  onOrderReceived: ((order: NewOrderSingle, message: FixMessage) => void) | undefined;

  constructor(market: VenueMarket, clock: Clock, logger: Logger = silentLogger) {
    this.market = market;
    this.clock = clock;
    this.log = logger;
    // ExecIDs must stay unique across simulator restarts: prefix them with the start time.
    this.execIdPrefix = clock.nowMicros().toString(36);
  }

  onNewOrderSingle(session: FixAcceptorSession, order: NewOrderSingle, message: FixMessage): void {
    this.onOrderReceived?.(order, message);
    this.counters.ordersReceived++;
    const key = orderKey(session, order.clOrdId);
    if (this.bySessionClOrdId.has(key) || this.rejected.has(key)) {
      if (message.possDup) {
        this.counters.duplicatesIgnored++;
        return;
      }
      this.rejectNew(session, order, OrdRejReason.DuplicateOrder, 'DUPLICATE_CLORDID: ClOrdID already used in this session', false);
      return;
    }
    const account = order.account ?? session.targetCompId;
    this.submitting = { session, order, account };
    try {
      this.market.submit({
        symbol: order.instrument.symbol, side: order.side, orderType: order.orderType,
        price: order.price ?? 0, quantity: order.orderQty, account, clientOrderId: order.clOrdId,
      });
    } finally {
      this.submitting = undefined;
    }
  }

  onOrderCancelRequest(session: FixAcceptorSession, request: OrderCancelRequest): void {
    this.counters.cancelsReceived++;
    const venueId = this.bySessionClOrdId.get(orderKey(session, request.origClOrdId));
    const member = venueId === undefined ? undefined : this.byVenueId.get(venueId);
    if (venueId === undefined || member === undefined) {
      this.counters.cancelRejects++;
      this.safeSend(() =>
        session.sendOrderCancelReject({
          orderId: 'NONE', clOrdId: request.clOrdId, origClOrdId: request.origClOrdId, ordStatus: OrdStatus.Rejected,
          cxlRejReason: CxlRejReason.UnknownOrder, text: 'UNKNOWN_ORDER: no such order in this session',
        }),
      );
      return;
    }
    member.cancelClOrdId = request.clOrdId;
    this.market.cancel(venueId, member.account);
  }

  onOrderStatusRequest(session: FixAcceptorSession, request: OrderStatusRequest): void {
    const venueId = this.bySessionClOrdId.get(orderKey(session, request.clOrdId));
    const member = venueId === undefined ? undefined : this.byVenueId.get(venueId);
    // The engine only looks up working orders; a filled or cancelled one is answered from the
    // member's own reference, so a status request never calls a done order unknown.
    const view = venueId === undefined ? undefined : (this.market.order(venueId) ?? member?.view);
    const rejected = this.rejected.get(orderKey(session, request.clOrdId));
    if (rejected !== undefined) {
      this.send(session, { ...rejected, execId: this.nextExecId(), execType: ExecType.OrderStatus, transactTime: this.clock.nowMicros() });
      return;
    }
    if (view === undefined || member === undefined) {
      this.send(session, {
        orderId: 'NONE', execId: this.nextExecId(), execType: ExecType.OrderStatus, ordStatus: OrdStatus.Rejected,
        clOrdId: request.clOrdId, symbol: request.instrument.symbol, symbolStyle: request.instrument.style, side: request.side,
        orderQty: 0, cumQty: 0, leavesQty: 0, avgPx: 0, ordRejReason: OrdRejReason.UnknownOrder, text: 'UNKNOWN_ORDER',
        transactTime: this.clock.nowMicros(),
      });
      return;
    }
    const report = this.report(view, member, ExecType.OrderStatus, this.clock.nowMicros());
    this.send(session, member.expired ? { ...report, ordStatus: OrdStatus.Expired } : report);
  }

  /** Engine events for member orders (install with `Simulator.setMemberEvents`). */
  readonly events: MatchingEvents = {
    orderAccepted: (order: OrderView, time: Micros) => {
      const ctx = this.submitting;
      if (!ctx || order.clientOrderId !== ctx.order.clOrdId) return;
      const member: MemberOrder = {
        session: ctx.session, clOrdId: ctx.order.clOrdId, account: ctx.account, symbolStyle: ctx.order.instrument.style, cancelClOrdId: undefined,
        view: order, expired: false,
      };
      this.bySessionClOrdId.set(orderKey(ctx.session, ctx.order.clOrdId), order.id);
      this.byVenueId.set(order.id, member);
      this.send(member.session, this.report(order, member, ExecType.New, time));
    },
    orderRejected: (_request: OrderRequest, reason: SubmitRejectReason, detail: string) => {
      const ctx = this.submitting;
      if (!ctx) return;
      this.rejectNew(ctx.session, ctx.order, rejectReasonCode(reason), `${reason}: ${detail}`);
    },
    orderHeld: () => {},
    orderReleased: () => {},
    tradeExecuted: (_trade: Trade) => {},
    orderFilled: (order: OrderView, trade: Trade) => {
      const member = this.byVenueId.get(order.id);
      if (!member) return;
      this.send(member.session, { ...this.report(order, member, ExecType.Trade, trade.time), lastQty: trade.qty, lastPx: trade.price });
    },
    orderCancelled: (order: OrderView, reason: CancelReason, time: Micros) => {
      const member = this.byVenueId.get(order.id);
      if (!member) return;
      const expired = reason === 'END_OF_DAY';
      member.expired = expired;
      const report = this.report(order, member, expired ? ExecType.Expired : ExecType.Canceled, time);
      if (reason === 'REQUESTED' && member.cancelClOrdId !== undefined) {
        this.send(member.session, { ...report, clOrdId: member.cancelClOrdId, origClOrdId: member.clOrdId });
      } else {
        this.send(member.session, { ...report, text: reason });
      }
    },
    cancelRejected: (orderId: VenueOrderId, reason: CancelRejectReason, detail: string, _time: Micros, order: OrderView | undefined) => {
      const member = this.byVenueId.get(orderId);
      if (!member) return;
      this.counters.cancelRejects++;
      const cancelClOrdId = member.cancelClOrdId ?? member.clOrdId;
      member.cancelClOrdId = undefined;
      this.safeSend(() =>
        member.session.sendOrderCancelReject({
          orderId: String(orderId), clOrdId: cancelClOrdId, origClOrdId: member.clOrdId,
          ordStatus: order ? ordStatusOf(order) : OrdStatus.Filled,
          cxlRejReason: reason === 'UNKNOWN_ORDER' ? CxlRejReason.UnknownOrder : reason === 'TOO_LATE_TO_CANCEL' ? CxlRejReason.TooLateToCancel : CxlRejReason.Other,
          text: `${reason}: ${detail}`,
        }),
      );
    },
  };

  private rejectNew(session: FixAcceptorSession, order: NewOrderSingle, ordRejReason: number, text: string, remember = true): void {
    this.counters.ordersRejected++;
    const report: ExecutionReport = {
      orderId: 'NONE', execId: this.nextExecId(), execType: ExecType.Rejected, ordStatus: OrdStatus.Rejected,
      clOrdId: order.clOrdId, ...(order.account === undefined ? {} : { account: order.account }),
      symbol: order.instrument.symbol, symbolStyle: order.instrument.style, side: order.side, orderType: order.orderType,
      ...(order.price === undefined ? {} : { price: order.price }),
      orderQty: order.orderQty, cumQty: 0, leavesQty: 0, avgPx: 0, ordRejReason, text, transactTime: this.clock.nowMicros(),
    };
    // A duplicate's reject must not overwrite what the ClOrdID's own order was.
    if (remember) this.rejected.set(orderKey(session, order.clOrdId), report);
    this.send(session, report);
  }

  private report(order: OrderView, member: MemberOrder, execType: ExecutionReport['execType'], time: Micros): ExecutionReport {
    return {
      orderId: String(order.id), execId: this.nextExecId(), execType, ordStatus: execType === ExecType.Expired ? OrdStatus.Expired : ordStatusOf(order),
      clOrdId: member.clOrdId, account: member.account, symbol: order.symbol, symbolStyle: member.symbolStyle, side: order.side,
      orderType: order.orderType, ...(order.price > 0 ? { price: order.price } : {}),
      orderQty: order.quantity, cumQty: order.cumQty, leavesQty: order.leavesQty, avgPx: order.avgPrice, transactTime: time,
    };
  }

  private send(session: FixAcceptorSession, report: ExecutionReport): void {
    this.counters.executionReports++;
    this.safeSend(() => session.sendExecutionReport(report));
  }

  /** Engine callbacks must never throw: a failed send is logged and counted instead. */
  private safeSend(send: () => unknown): void {
    try {
      send();
    } catch (error) {
      this.counters.sendFailures++;
      this.log.error('FIX send failed', { error });
    }
  }

  private nextExecId(): string {
    return `${this.execIdPrefix}-${++this.execSeq}`;
  }
}

function orderKey(session: FixAcceptorSession, clOrdId: string): string {
  return `${session.id}\u0001${clOrdId}`;
}

function ordStatusOf(order: OrderView): ExecutionReport['ordStatus'] {
  switch (order.status) {
    case 'NEW':
      return OrdStatus.New;
    case 'PARTIALLY_FILLED':
      return OrdStatus.PartiallyFilled;
    case 'FILLED':
      return OrdStatus.Filled;
    case 'CANCELLED':
      return OrdStatus.Canceled;
  }
}

function rejectReasonCode(reason: SubmitRejectReason): number {
  switch (reason) {
    case 'UNKNOWN_SYMBOL':
      return OrdRejReason.UnknownSymbol;
    case 'PHASE_FORBIDS_SUBMIT':
    case 'PHASE_NOT_SUPPORTED':
      return OrdRejReason.ExchangeClosed;
    case 'ABOVE_UPPER_LIMIT':
    case 'BELOW_LOWER_LIMIT':
    case 'OUTSIDE_PRICE_CAGE':
    case 'OUTSIDE_VALID_PRICE_RANGE':
      return OrdRejReason.PriceExceedsCurrentPriceBand;
    case 'ABOVE_MAX_ORDER_QTY':
      return OrdRejReason.OrderExceedsLimit;
    case 'INVALID_QUANTITY':
    case 'BELOW_MIN_LOT':
    case 'NOT_LOT_MULTIPLE':
      return OrdRejReason.IncorrectQuantity;
    default:
      return OrdRejReason.Other;
  }
}
