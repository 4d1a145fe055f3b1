import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { OrderStatus as PbOrderStatus, OrderType as PbOrderType, Side as PbSide } from '../../../src/protocol/gen/triquant/v1/common.ts';
import { ClientMessage, ExecType as PbExecType, ServerMessage, type NewOrder } from '../../../src/protocol/gen/triquant/v1/trading.ts';
import {
  decodeClientMessage,
  encodeSessionEvent,
  helloProblem,
  InvalidReason,
  isMalformed,
  validateCancelOrder,
  validateNewOrder,
} from '../../../src/execution/grpc/convert.ts';
import { MemorySessionOutbox } from '../../../src/execution/grpc/memory-outbox.ts';
import type { ExecutionReportData } from '../../../src/execution/ports.ts';
import { deniedEventFromProto, executionEventFromProto } from '../../../src/strategy/order-client.ts';

const ACCOUNTS = ['A1', 'A2'];

function order(overrides: Partial<NewOrder> = {}): NewOrder {
  return {
    clientOrderId: 'alpha-1',
    account: 'A1',
    symbol: '600000.sh',
    side: PbSide.BUY,
    orderType: PbOrderType.LIMIT,
    price: 100_500,
    quantity: 200,
    tag: 'sig',
    clientTimeUs: 1_735_000_000_000_000,
    ...overrides,
  };
}

test('a valid NewOrder becomes the OMS command with the canonical symbol', () => {
  const result = validateNewOrder(order(), ACCOUNTS);
  assert.ok(result.ok);
  assert.deepEqual(result.command, {
    type: 'SubmitOrder',
    clientOrderId: 'alpha-1',
    account: 'A1',
    symbol: '600000.SH',
    side: 'BUY',
    orderType: 'LIMIT',
    price: 100_500,
    quantity: 200,
    tag: 'sig',
    clientTimeUs: 1_735_000_000_000_000,
  });
  const market = validateNewOrder(order({ orderType: PbOrderType.MARKET_BEST5_IOC, price: 0, side: PbSide.SELL }), ACCOUNTS);
  assert.ok(market.ok);
  assert.equal(market.command.orderType, 'MARKET_BEST5_IOC');
  assert.equal(market.command.side, 'SELL');
});

test('every malformed NewOrder field is denied with its stable reason code', () => {
  const cases: Array<[Partial<NewOrder>, InvalidReason]> = [
    [{ clientOrderId: '' }, 'MISSING_CLIENT_ORDER_ID'],
    [{ clientOrderId: 'has space' }, 'INVALID_CLIENT_ORDER_ID'],
    [{ clientOrderId: 'x'.repeat(65) }, 'INVALID_CLIENT_ORDER_ID'],
    [{ account: '' }, 'ACCOUNT_NOT_ALLOWED'],
    [{ account: 'B9' }, 'ACCOUNT_NOT_ALLOWED'],
    [{ symbol: '' }, 'INVALID_SYMBOL'],
    [{ symbol: '999999.SH' }, 'INVALID_SYMBOL'],
    [{ symbol: '600000.SZ' }, 'INVALID_SYMBOL'],
    [{ side: PbSide.UNSPECIFIED }, 'UNKNOWN_SIDE'],
    [{ side: 7 as NewOrder['side'] }, 'UNKNOWN_SIDE'],
    [{ side: -1 as NewOrder['side'] }, 'UNKNOWN_SIDE'],
    [{ orderType: PbOrderType.UNSPECIFIED }, 'UNKNOWN_ORDER_TYPE'],
    [{ orderType: 99 as NewOrder['orderType'] }, 'UNKNOWN_ORDER_TYPE'],
    [{ quantity: 0 }, 'INVALID_QUANTITY'],
    [{ quantity: -100 }, 'INVALID_QUANTITY'],
    [{ quantity: Number.NaN }, 'INVALID_QUANTITY'],
    [{ quantity: 2 ** 60 }, 'INVALID_QUANTITY'],
    [{ quantity: 100.5 }, 'INVALID_QUANTITY'],
    [{ price: -1 }, 'INVALID_PRICE'],
    [{ price: 0 }, 'INVALID_PRICE'],
    [{ price: 10.5 }, 'INVALID_PRICE'],
    [{ price: 2 ** 60 }, 'INVALID_PRICE'],
    [{ tag: 't'.repeat(65) }, 'INVALID_TAG'],
    [{ clientTimeUs: -5 }, 'INVALID_CLIENT_TIME'],
  ];
  for (const [overrides, reason] of cases) {
    const result = validateNewOrder(order(overrides), ACCOUNTS);
    assert.equal(result.ok, false, JSON.stringify(overrides));
    if (!result.ok) {
      assert.equal(result.reasonCode, reason, JSON.stringify(overrides));
      assert.ok(result.detail.length > 0);
      assert.equal(result.clientOrderId, overrides.clientOrderId ?? 'alpha-1');
    }
  }
  assert.ok(Object.values(InvalidReason).every((code) => /^[A-Z_]+$/.test(code)));
});

test('cancels and hellos are validated', () => {
  assert.ok(validateCancelOrder({ clientOrderId: 'alpha-1', account: 'A2', clientTimeUs: 0 }, ACCOUNTS).ok);
  const wrongAccount = validateCancelOrder({ clientOrderId: 'alpha-1', account: 'Z', clientTimeUs: 0 }, ACCOUNTS);
  assert.equal(wrongAccount.ok ? '' : wrongAccount.reasonCode, 'ACCOUNT_NOT_ALLOWED');
  const hello = { strategyId: 's', instanceId: 'i', authToken: 't', accounts: ['A1'], resumeFromSeq: 0 };
  assert.equal(helloProblem(hello), undefined);
  assert.match(helloProblem({ ...hello, strategyId: '' }) ?? '', /strategy_id/);
  assert.match(helloProblem({ ...hello, accounts: [] }) ?? '', /accounts/);
  assert.match(helloProblem({ ...hello, resumeFromSeq: 2 ** 60 }) ?? '', /resume_from_seq/);
});

test('an int64 beyond 2^53 decodes leniently (so it can be denied) and garbage is reported, never thrown', () => {
  const w = new BinaryWriter();
  const inner = new BinaryWriter();
  inner.uint32(10).string('big-1');
  inner.uint32(18).string('A1');
  inner.uint32(26).string('600000.SH');
  inner.uint32(32).int32(1);
  inner.uint32(40).int32(1);
  inner.uint32(48).int64(100_500);
  inner.uint32(56).int64(2n ** 62n);
  w.uint32(18).bytes(inner.finish());
  const bytes = w.finish();
  assert.throws(() => ClientMessage.decode(bytes)); // the generated decoder refuses it
  const decoded = decodeClientMessage(bytes);
  assert.ok(!isMalformed(decoded));
  assert.equal(decoded.body?.$case, 'newOrder');
  if (decoded.body?.$case === 'newOrder') {
    assert.equal(decoded.body.value.clientOrderId, 'big-1');
    const result = validateNewOrder(decoded.body.value, ACCOUNTS);
    assert.equal(result.ok ? '' : result.reasonCode, 'INVALID_QUANTITY');
  }
  const garbage = decodeClientMessage(Uint8Array.from([0x0a, 0xff, 0x01]));
  assert.ok(isMalformed(garbage));
  const normal = decodeClientMessage(ClientMessage.encode({ body: { $case: 'heartbeat', value: { clientTimeUs: 5 } } }).finish());
  assert.deepEqual(normal, { body: { $case: 'heartbeat', value: { clientTimeUs: 5 } } });
});

const REPORT: ExecutionReportData = {
  clientOrderId: 'alpha-1',
  venueOrderId: 'V9',
  account: 'A1',
  symbol: '600000.SH',
  side: 'SELL',
  orderType: 'MARKET_FOK',
  price: 0,
  quantity: 300,
  execType: 'TRADE',
  status: 'PARTIALLY_FILLED',
  execId: 'F1',
  lastQty: 100,
  lastPrice: 100_400,
  cumQty: 100,
  leavesQty: 200,
  avgPrice: 100_400,
  lastFees: 5_000,
  cumFees: 5_000,
  text: '',
  eventTimeUs: 42,
};

test('session events encode with their seq and the strategy client decodes them back to API events', () => {
  const msg = ServerMessage.decode(encodeSessionEvent(7, { type: 'executionReport', report: REPORT }));
  assert.equal(msg.body?.$case, 'executionReport');
  if (msg.body?.$case !== 'executionReport') return;
  assert.equal(msg.body.value.execType, PbExecType.TRADE);
  assert.equal(msg.body.value.status, PbOrderStatus.PARTIALLY_FILLED);
  assert.deepEqual(executionEventFromProto(msg.body.value), {
    type: 'executionReport',
    seq: 7,
    clientOrderId: 'alpha-1',
    venueOrderId: 'V9',
    symbol: '600000.SH',
    side: 'SELL',
    orderType: 'MARKET_FOK',
    price: 0,
    quantity: 300,
    execType: 'TRADE',
    status: 'PARTIALLY_FILLED',
    fillId: 'F1',
    lastQty: 100,
    lastPrice: 100_400,
    cumQty: 100,
    leavesQty: 200,
    avgPrice: 100_400,
    lastFees: 5_000,
    cumFees: 5_000,
    text: '',
    time: 42,
  });
  const unknown = ServerMessage.decode(encodeSessionEvent(8, { type: 'executionReport', report: { ...REPORT, execType: 'CANCEL_REJECTED', status: undefined } }));
  if (unknown.body?.$case === 'executionReport') assert.equal(executionEventFromProto(unknown.body.value)?.status, undefined);
  const denied = ServerMessage.decode(
    encodeSessionEvent(9, { type: 'orderDenied', clientOrderId: 'alpha-2', account: 'A1', symbol: '600000.SH', reasonCode: 'NOT_LOT_MULTIPLE', detail: 'd', eventTimeUs: 3 }),
  );
  assert.ok(denied.body?.$case === 'orderDenied');
  if (denied.body?.$case === 'orderDenied') {
    assert.deepEqual(deniedEventFromProto(denied.body.value), { type: 'orderDenied', seq: 9, clientOrderId: 'alpha-2', reasonCode: 'NOT_LOT_MULTIPLE', detail: 'd', time: 3 });
  }
});

test('the memory outbox numbers per stream, reads after a seq, and keeps only the newest messages', () => {
  const outbox = new MemorySessionOutbox({ retainPerStream: 3 });
  assert.equal(outbox.lastSeq('s', 'i'), 0);
  assert.equal(outbox.firstRetainedSeq('s', 'i'), 1);
  for (let k = 1; k <= 5; k++) assert.equal(outbox.append('s', 'i', (seq) => Uint8Array.of(seq)), k);
  assert.equal(outbox.append('s', 'other', (seq) => Uint8Array.of(seq)), 1);
  assert.equal(outbox.lastSeq('s', 'i'), 5);
  assert.equal(outbox.firstRetainedSeq('s', 'i'), 3);
  assert.deepEqual(outbox.readAfter('s', 'i', 0, 10).map((e) => e.seq), [3, 4, 5]);
  assert.deepEqual(outbox.readAfter('s', 'i', 3, 1).map((e) => [e.seq, e.payload[0]]), [[4, 4]]);
  assert.deepEqual(outbox.readAfter('s', 'i', 5, 10), []);
  outbox.trimThrough('s', 'i', 5);
  assert.equal(outbox.firstRetainedSeq('s', 'i'), 6);
  assert.equal(outbox.append('s', 'i', (seq) => Uint8Array.of(seq)), 6);
  assert.throws(() => outbox.append('s', 'i', () => {
    throw new Error('encode failed');
  }));
  assert.equal(outbox.lastSeq('s', 'i'), 6, 'a failed encode uses no seq');
  const big = new MemorySessionOutbox({ retainPerStream: 10 });
  for (let k = 0; k < 5_000; k++) big.append('s', 'i', (seq) => Uint8Array.of(seq & 0xff));
  assert.deepEqual(big.readAfter('s', 'i', 0, 100).map((e) => e.seq), Array.from({ length: 10 }, (_, k) => 4_991 + k));
});
