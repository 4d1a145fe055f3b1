/**
 * The simulator's FIX acceptor over real TCP (127.0.0.1, port 0), driven by a FIX client
 * built on our own session layer in initiator mode, with a toy application that acks every
 * order and fills half of it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { silentLogger } from '../../src/obs/log.ts';
import { encodeFixMessage, encodeRawFields, formatUtcTimestamp, type FixField, type FixMessage } from '../../src/protocol/fix/codec.ts';
import { MsgType, Tag } from '../../src/protocol/fix/fields.ts';
import { buildNewOrderSingle, buildOrderCancelRequest, buildOrderStatusRequest } from '../../src/protocol/fix/messages.ts';
import { MemoryFixStore } from '../../src/protocol/fix/store.ts';
import { FixAcceptor, type FixAcceptorOptions } from '../../src/sim/fix-acceptor.ts';
import { FixTestClient } from '../support/fix-test-client.ts';
import { ToyFixApplication } from '../support/fix-toy-app.ts';

const now = () => Date.now() * 1000;

async function startAcceptor(options: Partial<FixAcceptorOptions> = {}) {
  const app = new ToyFixApplication();
  const acceptor = new FixAcceptor({
    application: app,
    sessions: [{ targetCompId: 'TRIQUANT' }, { targetCompId: 'OTHER' }],
    logger: silentLogger,
    closeGraceMs: 500,
    ...options,
  });
  const { port } = await acceptor.start({ port: 0, host: '127.0.0.1' });
  return { acceptor, app, port };
}

function order(clOrdId: string, qty = 1_000, extra: { symbol?: string } = {}): FixField[] {
  return buildNewOrderSingle({ clOrdId, account: 'ACC1', symbol: extra.symbol ?? '600000.SH', side: 'BUY', orderType: 'LIMIT', price: 100_500, orderQty: qty, transactTime: now() });
}

const isExec = (execType: string, clOrdId: string) => (m: FixMessage) => m.msgType === MsgType.ExecutionReport && m.get(Tag.ExecType) === execType && m.get(Tag.ClOrdID) === clOrdId;

/** A raw socket for sending hand-made bytes; collects what comes back. */
async function rawConnection(port: number) {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, closed, text: () => Buffer.concat(chunks).toString('latin1').replaceAll('\u0001', '|') };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms).unref())]);
}

test('logon, trade, status, cancel, cancel-reject, logout over TCP', async () => {
  const { acceptor, app, port } = await startAcceptor();
  const client = new FixTestClient({ port });
  try {
    await client.logon();
    assert.deepEqual(app.logons, ['SIM->TRIQUANT']);
    assert.equal(acceptor.stats().sessionsLoggedOn, 1);

    client.send(MsgType.NewOrderSingle, order('A1'));
    const ack = await client.waitForApp(isExec('0', 'A1'), 'ack');
    assert.equal(ack.get(Tag.OrdStatus), '0');
    assert.equal(ack.get(Tag.LeavesQty), '1000');
    assert.equal(ack.get(Tag.CumQty), '0');
    const fill = await client.waitForApp(isExec('F', 'A1'), 'fill');
    assert.equal(fill.get(Tag.OrdStatus), '1');
    assert.equal(fill.get(Tag.LastQty), '500');
    assert.equal(fill.get(Tag.LastPx), '10.05');
    assert.equal(fill.get(Tag.CumQty), '500');
    assert.equal(fill.get(Tag.LeavesQty), '500');
    assert.equal(fill.get(Tag.AvgPx), '10.05');
    assert.equal(fill.get(Tag.Symbol), '600000.SH');

    client.send(MsgType.OrderStatusRequest, buildOrderStatusRequest({ clOrdId: 'A1', symbol: '600000.SH', side: 'BUY' }));
    const status = await client.waitForApp(isExec('I', 'A1'), 'status');
    assert.equal(status.get(Tag.CumQty), '500');

    client.send(MsgType.OrderCancelRequest, buildOrderCancelRequest({ origClOrdId: 'A1', clOrdId: 'A2', symbol: '600000.SH', side: 'BUY', transactTime: now() }));
    const canceled = await client.waitForApp(isExec('4', 'A2'), 'cancel');
    assert.equal(canceled.get(Tag.OrdStatus), '4');
    assert.equal(canceled.get(Tag.OrigClOrdID), 'A1');
    assert.equal(canceled.get(Tag.LeavesQty), '0');
    assert.equal(canceled.get(Tag.CumQty), '500');

    client.send(MsgType.OrderCancelRequest, buildOrderCancelRequest({ origClOrdId: 'A1', clOrdId: 'A3', symbol: '600000.SH', side: 'BUY', transactTime: now() }));
    const cxlReject = await client.waitForApp((m) => m.msgType === MsgType.OrderCancelReject, 'cancel reject');
    assert.equal(cxlReject.get(Tag.CxlRejReason), '0');
    assert.equal(cxlReject.get(Tag.CxlRejResponseTo), '1');

    await client.logout('bye');
    assert.equal(client.disconnects[0]?.reason, 'logout');
    await client.until(() => acceptor.stats().connections === 0, 2_000, 'acceptor side closed');
    const stats = acceptor.stats();
    assert.equal(stats.logons, 1);
    assert.equal(stats.sessionRejectsSent, 0);
    assert.equal(stats.malformed, 0);
    assert.equal(stats.applicationIn, 4);
    assert.equal(stats.applicationOut, 5);
    assert.equal(stats.disconnectReasons.logout, 1);
    assert.deepEqual(app.logouts, ['SIM->TRIQUANT:logout']);
  } finally {
    await client.close();
    await acceptor.close();
  }
});

test('reconnect with sequence gaps in both directions recovers via ResendRequest and GapFill', async () => {
  const { acceptor, app, port } = await startAcceptor();
  const store = new MemoryFixStore(); // the client's sequence survives the reconnect
  const client = new FixTestClient({ port, store });
  try {
    await client.logon();
    client.send(MsgType.NewOrderSingle, order('B1'));
    await client.waitForApp(isExec('F', 'B1'), 'first fill');

    // The client vanishes without a Logout.
    await client.kill();
    await client.until(() => acceptor.stats().sessionsLoggedOn === 0, 2_000, 'acceptor noticed the drop');

    // While it is away: the venue cancels the rest (stored, not transmitted) ...
    const session = acceptor.session('TRIQUANT')!;
    assert.equal(session.isLoggedOn, false);
    const toy = app.orders.get('B1')!;
    toy.status = '4';
    session.sendExecutionReport({
      orderId: toy.orderId,
      execId: 'AWAY-1',
      execType: '4',
      ordStatus: '4',
      clOrdId: 'B1',
      symbol: '600000.SH',
      side: 'BUY',
      orderQty: 1_000,
      cumQty: 500,
      leavesQty: 0,
      avgPx: 100_500,
      text: 'canceled by venue while you were away',
      transactTime: now(),
    });
    // ... and the client skipped three of its own sequence numbers (e.g. lost in a crash).
    store.setNextSenderSeq(store.getNextSenderSeq() + 3);

    const resendsBefore = acceptor.stats().resendRequestsSent;
    await client.logon();
    // Client side: the acceptor's Logon was too high → ResendRequest → the ER comes with PossDup.
    const away = await client.waitForApp((m) => m.get(Tag.ExecID) === 'AWAY-1', 'ER sent while away');
    assert.equal(away.get(Tag.PossDupFlag), 'Y');
    assert.ok(away.get(Tag.OrigSendingTime));
    assert.ok(client.events.some((e) => e.type === 'resend-requested'));
    // Acceptor side: the client's Logon was too high → ResendRequest → GapFill from the client.
    await client.until(() => acceptor.stats().resendRequestsSent > resendsBefore, 2_000, 'acceptor ResendRequest');
    await client.until(() => client.session.stats.gapFillsSent >= 1, 2_000, 'client GapFill');

    // Business as usual afterwards, and both sides agree on the sequence numbers.
    client.send(MsgType.NewOrderSingle, order('B2'));
    await client.waitForApp(isExec('F', 'B2'), 'fill after reconnect');
    const handle = acceptor.session('TRIQUANT')!;
    assert.ok(handle.isLoggedOn);
    await client.until(() => client.session.queuedMessages === 0 && handle.nextTargetSeq === client.session.nextSenderSeq, 1_000, 'queue drained');
    assert.equal(client.session.nextTargetSeq, handle.nextSenderSeq);
    assert.equal(handle.nextTargetSeq, client.session.nextSenderSeq);
    const stats = acceptor.stats();
    assert.equal(stats.sessionRejectsSent, 0);
    assert.ok(stats.messagesResent >= 1);
    assert.equal(app.received.filter((r) => r.clOrdId === 'B1').length, 1, 'the order was not executed twice');
  } finally {
    await client.close();
    await acceptor.close();
  }
});

test('messages lost in flight are recovered in order within a session', async () => {
  const { acceptor, port } = await startAcceptor();
  let dropped = 0;
  const client = new FixTestClient({ port, dropInbound: (m) => m.msgType === MsgType.ExecutionReport && m.get(Tag.ExecType) === '0' && dropped++ === 0 });
  try {
    await client.logon();
    client.send(MsgType.NewOrderSingle, order('C1'));
    await client.waitForApp(isExec('F', 'C1'), 'fill');
    assert.deepEqual(client.app.map((m) => m.get(Tag.ExecType)), ['0', 'F'], 'the lost ack came back before the fill');
    assert.equal(client.app[0]!.get(Tag.PossDupFlag), 'Y');
    assert.equal(client.session.stats.resendRequestsSent, 1);
    await client.logout();
  } finally {
    await client.close();
    await acceptor.close();
  }
});

test('bad application messages get session Rejects and the connection survives', async () => {
  const { acceptor, app, port } = await startAcceptor();
  const client = new FixTestClient({ port });
  try {
    await client.logon();
    // Missing OrderQty → Reject(1, 38).
    const seq = client.send(MsgType.NewOrderSingle, order('D1').filter(([t]) => t !== Tag.OrderQty));
    const reject = await client.waitForReceived((m) => m.msgType === MsgType.Reject, 'Reject');
    assert.equal(reject.get(Tag.RefSeqNum), String(seq));
    assert.equal(reject.get(Tag.RefTagID), '38');
    assert.equal(reject.get(Tag.SessionRejectReason), '1');
    assert.equal(reject.get(Tag.RefMsgType), 'D');
    // A price with too many decimals → Reject(6, 44).
    client.send(MsgType.NewOrderSingle, order('D2').map(([t, v]): FixField => (t === Tag.Price ? [t, '10.00001'] : [t, v])));
    await client.until(() => client.received.filter((m) => m.msgType === MsgType.Reject).length === 2, 2_000, 'second Reject');
    assert.equal(client.received.filter((m) => m.msgType === MsgType.Reject)[1]!.get(Tag.SessionRejectReason), '6');
    // Unknown security → ExecutionReport Rejected with OrdRejReason 1 (a business reject).
    client.send(MsgType.NewOrderSingle, order('D3').map(([t, v]): FixField => (t === Tag.Symbol ? [t, '999999.SH'] : [t, v])));
    const rejected = await client.waitForApp(isExec('8', 'D3'), 'order rejected');
    assert.equal(rejected.get(Tag.OrdRejReason), '1');
    assert.equal(rejected.get(Tag.OrdStatus), '8');
    // An unsupported (valid) MsgType → BusinessMessageReject 380=3.
    client.send('AE', [[Tag.Text, 'trade capture?']]);
    const bmr = await client.waitForApp((m) => m.msgType === MsgType.BusinessMessageReject, 'business reject');
    assert.equal(bmr.get(Tag.BusinessRejectReason), '3');
    assert.equal(bmr.get(Tag.RefMsgType), 'AE');
    // The application throwing → BusinessMessageReject 380=0, counted.
    app.explodeOn = 'D4';
    client.send(MsgType.NewOrderSingle, order('D4'));
    await client.until(() => client.app.filter((m) => m.msgType === MsgType.BusinessMessageReject).length === 2, 2_000, 'second business reject');
    // Still alive and trading.
    client.send(MsgType.NewOrderSingle, order('D5'));
    await client.waitForApp(isExec('F', 'D5'), 'fill after rejects');
    const stats = acceptor.stats();
    assert.equal(stats.sessionRejectsSent, 2);
    assert.equal(stats.businessRejectsSent, 2);
    assert.equal(stats.orderRejectsSent, 1);
    assert.equal(stats.applicationErrors, 1);
    assert.equal(stats.disconnects, 0);
    assert.ok(client.session.isLoggedOn);
  } finally {
    await client.close();
    await acceptor.close();
  }
});

test('garbled input is skipped and counted; a garbled message is recovered by ResendRequest/GapFill', async () => {
  const { acceptor, port } = await startAcceptor();
  const client = new FixTestClient({ port });
  try {
    await client.logon();
    // A NewOrderSingle with a broken checksum, using (and so consuming) the client's next seq.
    const seq = client.store.getNextSenderSeq();
    const bytes = Buffer.from(encodeFixMessage({ msgType: 'D', senderCompId: 'TRIQUANT', targetCompId: 'SIM', msgSeqNum: seq, sendingTime: formatUtcTimestamp(now()) }, order('E1')));
    bytes[bytes.length - 2] = bytes[bytes.length - 2] === 0x30 ? 0x31 : 0x30;
    client.store.setNextSenderSeq(seq + 1);
    client.sendRaw(bytes);
    client.sendRaw(Buffer.from('this is not FIX at all\u0001\u0001', 'latin1'));
    client.send(MsgType.NewOrderSingle, order('E2'));
    await client.waitForApp(isExec('F', 'E2'), 'fill of the order after the garbled one');
    const stats = acceptor.stats();
    assert.equal(stats.malformedByReason.CHECKSUM, 1);
    assert.equal(stats.malformedByReason.GARBAGE, 1);
    assert.equal(stats.resendRequestsSent, 1, 'the garbled seq was asked for');
    assert.equal(client.session.stats.gapFillsSent, 1, 'and gap-filled (it was never stored)');
    assert.equal(stats.sessionRejectsSent, 0, 'garbled messages are not rejected, only ignored');
    assert.equal(stats.disconnects, 0);
    assert.equal(client.app.filter((m) => m.get(Tag.ClOrdID) === 'E1').length, 0);
  } finally {
    await client.close();
    await acceptor.close();
  }
});

test('too much garbage, or another BeginString, drops the connection with a reason', async () => {
  const { acceptor, port } = await startAcceptor({ maxMalformedPerConnection: 5 });
  try {
    const flood = await rawConnection(port);
    for (let i = 0; i < 10; i++) flood.socket.write(Buffer.from(`8=FIX.4.4\u00019=5\u000135=0\u000110=000\u0001`, 'latin1'));
    await within(flood.closed, 2_000, 'flood dropped');
    assert.equal(acceptor.stats().disconnectReasons.malformed, 1);

    const old = await rawConnection(port);
    old.socket.write(Buffer.from(encodeFixMessage({ msgType: 'A', senderCompId: 'TRIQUANT', targetCompId: 'SIM', msgSeqNum: 1, sendingTime: formatUtcTimestamp(now()) }, [[98, '0'], [108, '30']]).toString('latin1').replace('FIX.4.4', 'FIX.4.2'), 'latin1'));
    await within(old.closed, 2_000, 'FIX.4.2 dropped');
    assert.equal(acceptor.stats().disconnectReasons.begin_string, 1);
  } finally {
    await acceptor.close();
  }
});

test('logon refusals: unknown CompID, duplicate session, first message not Logon, logon timeout', async () => {
  const { acceptor, port } = await startAcceptor({ logonTimeoutMs: 300 });
  const good = new FixTestClient({ port });
  try {
    const stranger = new FixTestClient({ port, senderCompId: 'STRANGER' });
    await stranger.connect();
    await stranger.waitClosed(2_000);
    const logout = stranger.received.find((m) => m.msgType === MsgType.Logout);
    assert.match(logout?.get(Tag.Text) ?? '', /unknown session STRANGER->SIM/);
    assert.equal(stranger.disconnects[0]?.reason, 'logon_rejected');

    await good.logon();
    const twin = new FixTestClient({ port });
    await twin.connect();
    await twin.waitClosed(2_000);
    assert.match(twin.received.find((m) => m.msgType === MsgType.Logout)?.get(Tag.Text) ?? '', /already logged on/);
    assert.ok(good.session.isLoggedOn, 'the existing session is untouched');

    const rude = await rawConnection(port);
    rude.socket.write(encodeRawFields([[35, 'D'], [49, 'OTHER'], [56, 'SIM'], [34, '1'], [52, formatUtcTimestamp(now())]]));
    await within(rude.closed, 2_000, 'non-Logon first message dropped');

    const silent = await rawConnection(port);
    await within(silent.closed, 2_000, 'logon timeout');
    const stats = acceptor.stats();
    assert.equal(stats.logonRejects, 2);
    assert.equal(stats.disconnectReasons.unknown_session, 1);
    assert.equal(stats.disconnectReasons.duplicate_session, 1);
    assert.equal(stats.disconnectReasons.first_not_logon, 1);
    assert.equal(stats.disconnectReasons.logon_timeout, 1);
    await stranger.close();
    await twin.close();
  } finally {
    await good.close();
    await acceptor.close();
  }
});

test('a silent counterparty gets a TestRequest, then is disconnected', async () => {
  const { acceptor, port } = await startAcceptor({ session: { testRequestDelayFactor: 0.3 } });
  try {
    const raw = await rawConnection(port);
    raw.socket.write(encodeFixMessage({ msgType: 'A', senderCompId: 'OTHER', targetCompId: 'SIM', msgSeqNum: 1, sendingTime: formatUtcTimestamp(now()) }, [[98, '0'], [108, '1']]));
    await within(raw.closed, 3_000, 'heartbeat timeout');
    assert.match(raw.text(), /\|35=1\|.*\|112=TEST-/);
    assert.equal(acceptor.stats().disconnectReasons.heartbeat_timeout, 1);
  } finally {
    await acceptor.close();
  }
});

test('random bytes from many connections never crash the acceptor', async () => {
  const { acceptor, port } = await startAcceptor({ maxMalformedPerConnection: 1_000 });
  try {
    for (let i = 0; i < 20; i++) {
      const raw = await rawConnection(port);
      for (let j = 0; j < 10; j++) raw.socket.write(randomBytes(1 + ((i * 37 + j * 101) % 700)));
      // Some valid-looking frames with garbage inside, too.
      raw.socket.write(encodeRawFields([[35, 'A'], [49, 'TRIQUANT'], [56, 'SIM'], [34, 'x'], [52, 'yesterday']]));
      raw.socket.destroy();
      await raw.closed;
    }
    const client = new FixTestClient({ port });
    await client.logon();
    client.send(MsgType.NewOrderSingle, order('F1'));
    await client.waitForApp(isExec('F', 'F1'), 'still trading');
    await client.close();
    assert.equal(acceptor.stats().connectionsAccepted, 21);
  } finally {
    await acceptor.close();
  }
});

test('close() logs out logged-on sessions and is idempotent', async () => {
  const { acceptor, port } = await startAcceptor();
  const client = new FixTestClient({ port });
  try {
    await client.logon();
    const first = acceptor.close();
    const second = acceptor.close();
    assert.equal(first, second);
    await within(first, 3_000, 'close');
    await client.waitClosed(2_000);
    const logout = client.received.find((m) => m.msgType === MsgType.Logout);
    assert.equal(logout?.get(Tag.Text), 'acceptor shutting down');
    assert.equal(client.disconnects[0]?.reason, 'logout');
    assert.equal(acceptor.stats().connections, 0);
    await assert.rejects(new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.on('connect', () => {
        s.destroy();
        resolve(undefined);
      });
      s.on('error', reject);
    }));
  } finally {
    await client.close();
    await acceptor.close();
  }
});
