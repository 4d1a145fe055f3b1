/**
 * A toy `FixApplication` for acceptor tests: acknowledges every order, fills half of it at
 * its limit price (10.00 for market orders), cancels what is left on request, answers status
 * requests, and refuses cancels of unknown or finished orders. Resent orders (PossDup) that it
 * has already seen are ignored, as a real venue must.
 */
import type { FixAcceptorSession, FixApplication } from '../../src/sim/fix-acceptor.ts';
import type { FixMessage } from '../../src/protocol/fix/codec.ts';
import type { NewOrderSingle, OrderCancelRequest, OrderStatusRequest } from '../../src/protocol/fix/messages.ts';
import { ExecType, OrdRejReason, OrdStatus, CxlRejReason, TERMINAL_ORD_STATUSES } from '../../src/protocol/fix/fields.ts';

export interface ToyOrder {
  orderId: string;
  clOrdId: string;
  order: NewOrderSingle;
  status: OrdStatus;
  cumQty: number;
  notional: number;
  avgPx: number;
}

export class ToyFixApplication implements FixApplication {
  readonly orders = new Map<string, ToyOrder>();
  readonly logons: string[] = [];
  readonly logouts: string[] = [];
  readonly received: { type: string; possDup: boolean; clOrdId: string }[] = [];
  duplicatesIgnored = 0;
  /** Share of each order filled on arrival (default ½). */
  fillRatio = 0.5;
  /** Throw on this ClOrdID (to test application errors). */
  explodeOn: string | undefined;
  private execIds = 0;
  private orderIds = 0;

  onLogon(session: FixAcceptorSession): void {
    this.logons.push(session.id);
  }

  onLogout(session: FixAcceptorSession, reason: string): void {
    this.logouts.push(`${session.id}:${reason}`);
  }

  onNewOrderSingle(session: FixAcceptorSession, order: NewOrderSingle, message: FixMessage): void {
    this.received.push({ type: 'D', possDup: message.possDup, clOrdId: order.clOrdId });
    if (order.clOrdId === this.explodeOn) throw new Error('toy application exploded');
    if (this.orders.has(order.clOrdId)) {
      if (message.possDup) {
        this.duplicatesIgnored++;
        return;
      }
      session.sendExecutionReport({
        orderId: 'NONE',
        execId: this.execId(),
        execType: ExecType.Rejected,
        ordStatus: OrdStatus.Rejected,
        clOrdId: order.clOrdId,
        symbol: order.instrument.symbol,
        symbolStyle: order.instrument.style,
        side: order.side,
        orderQty: order.orderQty,
        cumQty: 0,
        leavesQty: 0,
        avgPx: 0,
        ordRejReason: OrdRejReason.DuplicateOrder,
        text: 'duplicate ClOrdID',
        transactTime: Date.now() * 1000,
      });
      return;
    }
    const toy: ToyOrder = { orderId: `O${++this.orderIds}`, clOrdId: order.clOrdId, order, status: OrdStatus.New, cumQty: 0, notional: 0, avgPx: 0 };
    this.orders.set(order.clOrdId, toy);
    this.report(session, toy, ExecType.New, order.clOrdId);
    const fill = Math.floor(order.orderQty * this.fillRatio);
    if (fill > 0) {
      const price = order.price ?? 100_000;
      toy.cumQty += fill;
      toy.notional += fill * price;
      toy.avgPx = Math.round(toy.notional / toy.cumQty);
      toy.status = toy.cumQty === order.orderQty ? OrdStatus.Filled : OrdStatus.PartiallyFilled;
      this.report(session, toy, ExecType.Trade, order.clOrdId, { lastQty: fill, lastPx: price });
    }
  }

  onOrderCancelRequest(session: FixAcceptorSession, request: OrderCancelRequest, message: FixMessage): void {
    this.received.push({ type: 'F', possDup: message.possDup, clOrdId: request.clOrdId });
    const toy = this.orders.get(request.origClOrdId);
    if (toy === undefined || TERMINAL_ORD_STATUSES.has(toy.status)) {
      session.sendOrderCancelReject({
        orderId: toy?.orderId ?? 'NONE',
        clOrdId: request.clOrdId,
        origClOrdId: request.origClOrdId,
        ordStatus: toy?.status ?? OrdStatus.Rejected,
        cxlRejReason: toy === undefined ? CxlRejReason.UnknownOrder : CxlRejReason.TooLateToCancel,
        text: toy === undefined ? 'unknown order' : 'order already done',
      });
      return;
    }
    toy.status = OrdStatus.Canceled;
    this.report(session, toy, ExecType.Canceled, request.clOrdId, { origClOrdId: request.origClOrdId });
  }

  onOrderStatusRequest(session: FixAcceptorSession, request: OrderStatusRequest, message: FixMessage): void {
    this.received.push({ type: 'H', possDup: message.possDup, clOrdId: request.clOrdId });
    const toy = this.orders.get(request.clOrdId);
    if (toy === undefined) {
      session.sendExecutionReport({
        orderId: 'NONE',
        execId: this.execId(),
        execType: ExecType.OrderStatus,
        ordStatus: OrdStatus.Rejected,
        clOrdId: request.clOrdId,
        symbol: request.instrument.symbol,
        symbolStyle: request.instrument.style,
        side: request.side,
        orderQty: 0,
        cumQty: 0,
        leavesQty: 0,
        avgPx: 0,
        ordRejReason: OrdRejReason.UnknownOrder,
        text: 'unknown order',
        transactTime: Date.now() * 1000,
      });
      return;
    }
    this.report(session, toy, ExecType.OrderStatus, request.clOrdId);
  }

  private execId(): string {
    return `X${++this.execIds}`;
  }

  private report(
    session: FixAcceptorSession,
    toy: ToyOrder,
    execType: ExecType,
    clOrdId: string,
    extra: { lastQty?: number; lastPx?: number; origClOrdId?: string } = {},
  ): void {
    const done = TERMINAL_ORD_STATUSES.has(toy.status);
    session.sendExecutionReport({
      orderId: toy.orderId,
      execId: this.execId(),
      execType,
      ordStatus: toy.status,
      clOrdId,
      ...(extra.origClOrdId === undefined ? {} : { origClOrdId: extra.origClOrdId }),
      ...(toy.order.account === undefined ? {} : { account: toy.order.account }),
      symbol: toy.order.instrument.symbol,
      symbolStyle: toy.order.instrument.style,
      side: toy.order.side,
      orderType: toy.order.orderType,
      ...(toy.order.price === undefined ? {} : { price: toy.order.price }),
      orderQty: toy.order.orderQty,
      cumQty: toy.cumQty,
      leavesQty: done ? 0 : toy.order.orderQty - toy.cumQty,
      avgPx: toy.avgPx,
      ...(extra.lastQty === undefined ? {} : { lastQty: extra.lastQty, lastPx: extra.lastPx! }),
      transactTime: Date.now() * 1000,
    });
  }
}
