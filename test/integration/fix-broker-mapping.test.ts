/**
 * FixBrokerAdapter's mapping of venue messages the conformance venues never send, against a
 * scripted FixAcceptor application over real TCP: FIX 4.2-style fill ExecTypes, a venue
 * "duplicate ClOrdID" reject, BusinessMessageRejects, a cancel report that names only the
 * cancel's ClOrdID, status answers by BusinessMessageReject, a status timeout, account mapping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveClock } from '../../src/core/clock.ts';
import { BrokerRequestRejectedError, BrokerTimeoutError } from '../../src/execution/broker/errors.ts';
import { FixBrokerAdapter, orderStatusOf } from '../../src/execution/broker/fix-broker.ts';
import type { BrokerOrder } from '../../src/execution/ports.ts';
import { silentLogger } from '../../src/obs/log.ts';
import type { FixField } from '../../src/protocol/fix/codec.ts';
import { formatUtcTimestamp } from '../../src/protocol/fix/codec.ts';
import { MsgType, OrdStatus, Tag } from '../../src/protocol/fix/fields.ts';
import type { NewOrderSingle, OrderCancelRequest, OrderStatusRequest } from '../../src/protocol/fix/messages.ts';
import { MemoryFixStore } from '../../src/protocol/fix/store.ts';
import { FixAcceptor, type FixAcceptorSession, type FixApplication } from '../../src/sim/fix-acceptor.ts';
import { EventRecorder } from '../support/broker-conformance.ts';

const clock = new LiveClock();

/** Raw ExecutionReport fields (no validation: we want odd ones too). */
function er(clOrdId: string, execType: string, ordStatus: string, extra: FixField[] = []): FixField[] {
  return [
    [Tag.AvgPx, '0'], [Tag.ClOrdID, clOrdId], [Tag.CumQty, '0'], [Tag.ExecID, `E-${clOrdId}-${execType}-${extra.length}`], [Tag.OrderID, `V-${clOrdId}`],
    [Tag.OrderQty, '200'], [Tag.OrdStatus, ordStatus], [Tag.Side, '1'], [Tag.Symbol, '600000.SH'],
    [Tag.TransactTime, formatUtcTimestamp(clock.nowMicros())], [Tag.ExecType, execType], [Tag.LeavesQty, '200'], ...extra,
  ];
}

class ScriptedVenue implements FixApplication {
  readonly orders: NewOrderSingle[] = [];

  onNewOrderSingle(session: FixAcceptorSession, order: NewOrderSingle): void {
    this.orders.push(order);
    const id = order.clOrdId;
    if (id.startsWith('FIX42')) {
      session.send(MsgType.ExecutionReport, er(id, '0', OrdStatus.New));
      session.send(MsgType.ExecutionReport, er(id, '2', OrdStatus.Filled, [[Tag.LastQty, '200'], [Tag.LastPx, '10.5']]).map(fill));
    } else if (id.startsWith('DUP')) {
      session.send(MsgType.ExecutionReport, er(id, '8', OrdStatus.Rejected, [[Tag.OrdRejReason, '6'], [Tag.Text, 'duplicate']]));
    } else if (id.startsWith('BMR')) {
      session.sendBusinessMessageReject({ refMsgType: MsgType.NewOrderSingle, businessRejectReason: 4, businessRejectRefId: id, text: 'application not available' });
    } else {
      session.send(MsgType.ExecutionReport, er(id, '0', OrdStatus.New));
    }
  }

  onOrderCancelRequest(session: FixAcceptorSession, request: OrderCancelRequest): void {
    // Names the cancel's ClOrdID only (no OrigClOrdID), as some venues do.
    session.send(MsgType.ExecutionReport, er(request.clOrdId, '4', OrdStatus.Canceled).map((f) => (f[0] === Tag.LeavesQty ? [Tag.LeavesQty, '0'] : f)));
  }

  onOrderStatusRequest(session: FixAcceptorSession, request: OrderStatusRequest): void {
    const id = request.clOrdId;
    if (id.startsWith('GONE')) session.sendBusinessMessageReject({ refMsgType: MsgType.OrderStatusRequest, businessRejectReason: 1, businessRejectRefId: id, text: 'unknown id' });
    else if (id.startsWith('NOSTATUS')) session.sendBusinessMessageReject({ refMsgType: MsgType.OrderStatusRequest, businessRejectReason: 3, businessRejectRefId: id, text: 'unsupported' });
    else if (id.startsWith('SILENT')) return;
    else session.send(MsgType.ExecutionReport, er(id, 'I', OrdStatus.DoneForDay, [[Tag.Text, 'done']]).map((f) => (f[0] === Tag.LeavesQty ? [Tag.LeavesQty, '0'] : f)));
  }
}

function fill(field: FixField): FixField {
  if (field[0] === Tag.CumQty) return [Tag.CumQty, '200'];
  if (field[0] === Tag.LeavesQty) return [Tag.LeavesQty, '0'];
  if (field[0] === Tag.AvgPx) return [Tag.AvgPx, '10.5'];
  return field;
}

async function start(options: { accountMap?: Record<string, string>; sendAccount?: boolean } = {}) {
  const app = new ScriptedVenue();
  const acceptor = new FixAcceptor({ application: app, sessions: [{ targetCompId: 'TRIQUANT' }], clock, logger: silentLogger, closeGraceMs: 200 });
  const { port } = await acceptor.start({ port: 0 });
  const adapter = new FixBrokerAdapter({
    host: '127.0.0.1', port, senderCompId: 'TRIQUANT', targetCompId: 'SIM', store: new MemoryFixStore(), clock, log: silentLogger,
    reconnect: { initialMs: 50, maxMs: 200 }, reconcileTimeoutMs: 300, ...options,
  });
  const events = new EventRecorder(adapter);
  await adapter.start();
  return { app, acceptor, adapter, events, close: async () => { await adapter.close(); await acceptor.close(); } };
}

const order = (clientOrderId: string, account = 'ACC1'): BrokerOrder => ({
  clientOrderId, account, symbol: '600000.SH', side: 'BUY', orderType: 'LIMIT', price: 105_000, quantity: 200, createdAt: clock.nowMicros(),
});

test('venue report variants map to the right events', async () => {
  const { adapter, events, close } = await start();
  try {
    await adapter.submit(order('FIX42-1'));
    const filled = await events.waitFor('filled', 'FIX42-1', 5_000);
    assert.deepEqual({ qty: filled.qty, price: filled.price, fillId: filled.fillId }, { qty: 200, price: 105_000, fillId: 'E-FIX42-1-2-2' });

    await adapter.submit(order('BMR-1'));
    const rejected = await events.waitFor('rejected', 'BMR-1', 5_000);
    assert.match(rejected.reason, /application not available/);

    // A duplicate reject is held back: the ClOrdID's order lives at the venue.
    await adapter.submit(order('DUP-1'));
    await adapter.submit(order('PLAIN-1'));
    await events.waitFor('accepted', 'PLAIN-1', 5_000);
    assert.equal(events.of('DUP-1').length, 0);
    assert.equal(adapter.stats.duplicateRejectsSuppressed, 1);

    // The cancel report names only the cancel id; the event names the order.
    await adapter.cancel({ ...order('PLAIN-1'), cancelId: 'PLAIN-1-CXL' });
    await events.waitFor('cancelled', 'PLAIN-1', 5_000);
    assert.equal(events.of('PLAIN-1-CXL').length, 0);
  } finally {
    await close();
  }
});

test('status answers: DoneForDay, unknown id, refused, silence', async () => {
  const { adapter, close } = await start();
  try {
    const [done, gone] = await adapter.reconcile([order('DONE-1'), order('GONE-1')]);
    assert.equal(done?.status, 'EXPIRED');
    assert.equal(done?.text, 'done');
    assert.equal(gone?.status, 'UNKNOWN');
    await assert.rejects(adapter.reconcile([order('NOSTATUS-1')]), BrokerRequestRejectedError);
    await assert.rejects(adapter.reconcile([order('SILENT-1')]), (e) => e instanceof BrokerTimeoutError && e.retryable);
  } finally {
    await close();
  }
});

test('accounts are mapped, or left out', async () => {
  const mapped = await start({ accountMap: { ACC1: '0099887766' } });
  try {
    await mapped.adapter.submit(order('ACCT-1'));
    await mapped.adapter.submit(order('ACCT-2', 'OTHER'));
    await mapped.events.waitFor('accepted', 'ACCT-2', 5_000);
    assert.deepEqual(mapped.app.orders.map((o) => o.account), ['0099887766', 'OTHER']);
  } finally {
    await mapped.close();
  }
  const omitted = await start({ sendAccount: false });
  try {
    await omitted.adapter.submit(order('ACCT-3'));
    await omitted.events.waitFor('accepted', 'ACCT-3', 5_000);
    assert.equal(omitted.app.orders[0]?.account, undefined);
  } finally {
    await omitted.close();
  }
});

test('OrdStatus → OrderStatus', () => {
  const cases: Array<[string, number, string]> = [
    ['0', 0, 'ACCEPTED'], ['1', 100, 'PARTIALLY_FILLED'], ['2', 200, 'FILLED'], ['4', 0, 'CANCELLED'], ['6', 0, 'PENDING_CANCEL'],
    ['8', 0, 'REJECTED'], ['A', 0, 'SENT'], ['C', 100, 'EXPIRED'], ['3', 200, 'FILLED'], ['3', 100, 'EXPIRED'], ['9', 100, 'PARTIALLY_FILLED'], ['9', 0, 'ACCEPTED'],
  ];
  for (const [ordStatus, cumQty, expected] of cases) {
    assert.equal(orderStatusOf({ ordStatus: ordStatus as OrdStatus, cumQty, orderQty: 200 }), expected, `39=${ordStatus} cum ${cumQty}`);
  }
});
