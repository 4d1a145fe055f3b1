import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ORDER_TYPES, type OrderType } from '../../../src/core/order.ts';
import { decodeFixMessage, encodeFixMessage, formatUtcTimestamp, type FixField, type FixMessage } from '../../../src/protocol/fix/codec.ts';
import { Tag } from '../../../src/protocol/fix/fields.ts';
import {
  averagePrice,
  buildExecutionReport,
  buildNewOrderSingle,
  buildOrderCancelReject,
  buildOrderCancelRequest,
  buildOrderStatusRequest,
  checkExecutionReport,
  parseExecutionReport,
  parseNewOrderSingle,
  parseOrderCancelReject,
  parseOrderCancelRequest,
  parseOrderStatusRequest,
  type ExecutionReport,
  type SymbolStyle,
} from '../../../src/protocol/fix/messages.ts';

const T0 = Date.UTC(2025, 5, 16, 1, 30, 0) * 1000;

function message(msgType: string, body: readonly FixField[]): FixMessage {
  return decodeFixMessage(encodeFixMessage({ msgType, senderCompId: 'C', targetCompId: 'S', msgSeqNum: 1, sendingTime: formatUtcTimestamp(T0) }, body))!;
}

function without(body: readonly FixField[], tag: number): FixField[] {
  return body.filter(([t]) => t !== tag);
}

function withValue(body: readonly FixField[], tag: number, value: string): FixField[] {
  const out = body.filter(([t]) => t !== tag);
  out.push([tag, value]);
  return out;
}

const limitOrder = buildNewOrderSingle({
  clOrdId: 'C1',
  account: 'ACC1',
  symbol: '600000.SH',
  side: 'BUY',
  orderType: 'LIMIT',
  price: 100_500,
  orderQty: 1_000,
  transactTime: T0,
});

test('NewOrderSingle: build → parse round trip for every order type and symbol style', () => {
  const symbols = ['600000.SH', '000001.SZ', '300750.SZ', '688981.SH', '830799.BJ'];
  fc.assert(
    fc.property(
      fc.constantFrom(...ORDER_TYPES),
      fc.constantFrom(...symbols),
      fc.constantFrom<SymbolStyle>('suffix', 'mic', 'code'),
      fc.constantFrom<'BUY' | 'SELL'>('BUY', 'SELL'),
      fc.integer({ min: 1, max: 10_000_000 }),
      fc.integer({ min: 1, max: 1_000_000 }),
      (orderType: OrderType, symbol, style, side, price, qty) => {
        const body = buildNewOrderSingle({ clOrdId: 'X', symbol, symbolStyle: style, side, orderType, price, orderQty: qty, transactTime: T0 });
        const parsed = parseNewOrderSingle(message('D', body));
        assert.ok(parsed.ok, JSON.stringify(parsed));
        assert.equal(parsed.value.orderType, orderType);
        assert.equal(parsed.value.instrument.symbol, symbol);
        assert.equal(parsed.value.instrument.style, style);
        assert.equal(parsed.value.side, side);
        assert.equal(parsed.value.price, price);
        assert.equal(parsed.value.orderQty, qty);
        assert.equal(parsed.value.transactTime, T0);
      },
    ),
  );
});

test('NewOrderSingle: symbol forms 600000.SH, 600000 + 207=XSHG, bare 600000', () => {
  const base = without(without(limitOrder, Tag.Symbol), Tag.SecurityExchange);
  const cases: [FixField[], string | undefined][] = [
    [[[Tag.Symbol, '600000.SH']], '600000.SH'],
    [[[Tag.Symbol, '600000'], [Tag.SecurityExchange, 'XSHG']], '600000.SH'],
    [[[Tag.Symbol, '000001'], [Tag.SecurityExchange, 'XSHE']], '000001.SZ'],
    [[[Tag.Symbol, '600000'], [Tag.SecurityExchange, 'SH']], '600000.SH'],
    [[[Tag.Symbol, '600000']], '600000.SH'],
    [[[Tag.Symbol, '600000.sh']], '600000.SH'],
    [[[Tag.Symbol, '600000'], [Tag.SecurityExchange, 'XSHE']], undefined],
    [[[Tag.Symbol, '600000.SH'], [Tag.SecurityExchange, 'XSHE']], undefined],
    [[[Tag.Symbol, '000001.SH']], undefined],
    [[[Tag.Symbol, '900901']], undefined],
    [[[Tag.Symbol, 'AAPL']], undefined],
    [[[Tag.Symbol, '600000'], [Tag.SecurityExchange, 'XNYS']], undefined],
  ];
  for (const [fields, expected] of cases) {
    const parsed = parseNewOrderSingle(message('D', [...base, ...fields]));
    const label = JSON.stringify(fields);
    if (expected === undefined) {
      assert.ok(!parsed.ok && parsed.level === 'business' && parsed.ordRejReason === 1, label);
    } else {
      assert.ok(parsed.ok, label);
      assert.equal(parsed.value.instrument.symbol, expected, label);
    }
  }
});

test('NewOrderSingle: order-type mapping from OrdType, TimeInForce and tag 8001', () => {
  const base = without(without(without(without(limitOrder, Tag.OrdType), Tag.TimeInForce), Tag.Price), Tag.AShareOrdType);
  const ok: [FixField[], OrderType][] = [
    [[[Tag.OrdType, '2'], [Tag.Price, '10.05']], 'LIMIT'],
    [[[Tag.OrdType, '2'], [Tag.TimeInForce, '0'], [Tag.Price, '10.05']], 'LIMIT'],
    [[[Tag.OrdType, '1']], 'MARKET_BEST5_IOC'],
    [[[Tag.OrdType, '1'], [Tag.TimeInForce, '3']], 'MARKET_BEST5_IOC'],
    [[[Tag.OrdType, '1'], [Tag.TimeInForce, '4']], 'MARKET_FOK'],
    [[[Tag.OrdType, '1'], [Tag.AShareOrdType, 'MARKET_IOC']], 'MARKET_IOC'],
    [[[Tag.OrdType, '1'], [Tag.TimeInForce, '0'], [Tag.AShareOrdType, 'MARKET_BEST_OWN']], 'MARKET_BEST_OWN'],
    [[[Tag.OrdType, '1'], [Tag.AShareOrdType, 'MARKET_BEST5_TO_LIMIT'], [Tag.Price, '10.10']], 'MARKET_BEST5_TO_LIMIT'],
  ];
  for (const [fields, expected] of ok) {
    const parsed = parseNewOrderSingle(message('D', [...base, ...fields]));
    assert.ok(parsed.ok, JSON.stringify(fields));
    assert.equal(parsed.value.orderType, expected);
  }
  const bad: [FixField[], number, number][] = [
    [[[Tag.OrdType, '3']], Tag.OrdType, 5],
    [[[Tag.OrdType, '2']], Tag.Price, 1],
    [[[Tag.OrdType, '2'], [Tag.TimeInForce, '3'], [Tag.Price, '10']], Tag.TimeInForce, 5],
    [[[Tag.OrdType, '1'], [Tag.TimeInForce, '0']], Tag.TimeInForce, 5],
    [[[Tag.OrdType, '1'], [Tag.TimeInForce, '6']], Tag.TimeInForce, 5],
    [[[Tag.OrdType, '1'], [Tag.AShareOrdType, 'LIMIT']], Tag.AShareOrdType, 5],
    [[[Tag.OrdType, '1'], [Tag.AShareOrdType, 'MARKET_FOK'], [Tag.TimeInForce, '3']], Tag.TimeInForce, 5],
    [[[Tag.OrdType, '2'], [Tag.Price, '10'], [Tag.AShareOrdType, 'MARKET_IOC']], Tag.AShareOrdType, 5],
  ];
  for (const [fields, tag, reason] of bad) {
    const parsed = parseNewOrderSingle(message('D', [...base, ...fields]));
    assert.ok(!parsed.ok && parsed.level === 'session', JSON.stringify(fields));
    assert.equal(parsed.tag, tag, JSON.stringify(fields));
    assert.equal(parsed.reason, reason, JSON.stringify(fields));
  }
});

test('NewOrderSingle: missing tags and bad values are session-level failures naming the tag', () => {
  for (const tag of [Tag.ClOrdID, Tag.Side, Tag.OrderQty, Tag.OrdType, Tag.TransactTime, Tag.Symbol]) {
    const parsed = parseNewOrderSingle(message('D', without(limitOrder, tag)));
    assert.ok(!parsed.ok && parsed.level === 'session', `missing ${tag}`);
    assert.equal(parsed.reason, 1);
    assert.equal(parsed.tag, tag);
  }
  const bad: [number, string, number][] = [
    [Tag.Side, '5', 5],
    [Tag.OrderQty, '0', 5],
    [Tag.OrderQty, '100.5', 6],
    [Tag.OrderQty, '-100', 6],
    [Tag.Price, '10.00001', 6],
    [Tag.Price, '0', 5],
    [Tag.Price, 'abc', 6],
    [Tag.TransactTime, '2025-06-16T01:30:00Z', 6],
  ];
  for (const [tag, value, reason] of bad) {
    const parsed = parseNewOrderSingle(message('D', withValue(limitOrder, tag, value)));
    assert.ok(!parsed.ok && parsed.level === 'session', `${tag}=${value}`);
    assert.equal(parsed.tag, tag, `${tag}=${value}`);
    assert.equal(parsed.reason, reason, `${tag}=${value}`);
  }
  const parsed = parseNewOrderSingle(message('D', withValue(limitOrder, Tag.Price, '10.050000')));
  assert.ok(parsed.ok);
  assert.equal(parsed.value.price, 100_500);
  assert.equal(parsed.value.account, 'ACC1');
});

test('OrderCancelRequest and OrderStatusRequest: round trip and required tags', () => {
  const cancel = buildOrderCancelRequest({ origClOrdId: 'C1', clOrdId: 'C2', orderId: 'O1', symbol: '000001.SZ', symbolStyle: 'mic', side: 'SELL', orderQty: 500, transactTime: T0 });
  const parsedCancel = parseOrderCancelRequest(message('F', cancel));
  assert.ok(parsedCancel.ok);
  assert.deepEqual(parsedCancel.value, {
    origClOrdId: 'C1',
    clOrdId: 'C2',
    orderId: 'O1',
    instrument: { symbol: '000001.SZ', style: 'mic' },
    side: 'SELL',
    orderQty: 500,
    transactTime: T0,
  });
  const missing = parseOrderCancelRequest(message('F', without(cancel, Tag.OrigClOrdID)));
  assert.ok(!missing.ok && missing.tag === Tag.OrigClOrdID && missing.level === 'session');

  const status = buildOrderStatusRequest({ clOrdId: 'C1', symbol: '600000.SH', side: 'BUY' });
  const parsedStatus = parseOrderStatusRequest(message('H', status));
  assert.ok(parsedStatus.ok);
  assert.equal(parsedStatus.value.clOrdId, 'C1');
  assert.equal(parsedStatus.value.orderId, undefined);
});

const partialFill: ExecutionReport = {
  orderId: 'O1',
  execId: 'E2',
  execType: 'F',
  ordStatus: '1',
  clOrdId: 'C1',
  account: 'ACC1',
  symbol: '600000.SH',
  symbolStyle: 'mic',
  side: 'BUY',
  orderType: 'LIMIT',
  price: 100_500,
  orderQty: 1_000,
  cumQty: 500,
  leavesQty: 500,
  avgPx: 100_500,
  lastQty: 500,
  lastPx: 100_500,
  transactTime: T0,
};

test('ExecutionReport: build → parse round trip with exact prices', () => {
  const body = buildExecutionReport(partialFill);
  const m = message('8', body);
  assert.equal(m.get(Tag.AvgPx), '10.05');
  assert.equal(m.get(Tag.LastPx), '10.05');
  assert.equal(m.get(Tag.Symbol), '600000');
  assert.equal(m.get(Tag.SecurityExchange), 'XSHG');
  assert.equal(m.get(Tag.AShareOrdType), undefined, 'the custom tag is never sent on a report');
  const parsed = parseExecutionReport(m);
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.value, partialFill);
});

test('ExecutionReport: quantity semantics are enforced', () => {
  assert.doesNotThrow(() => checkExecutionReport(partialFill));
  assert.throws(() => checkExecutionReport({ ...partialFill, leavesQty: 400 }), /must equal orderQty/);
  assert.throws(() => checkExecutionReport({ ...partialFill, cumQty: 1_200, leavesQty: 0, ordStatus: '2' }), /exceeds/);
  assert.throws(() => checkExecutionReport({ ...partialFill, ordStatus: '4', execType: '4' }), /leavesQty must be 0/);
  assert.throws(() => checkExecutionReport({ ...partialFill, lastQty: undefined }), /LastQty/);
  assert.throws(() => checkExecutionReport({ ...partialFill, ordStatus: '2', leavesQty: 0 }), /filled order/);
  assert.doesNotThrow(() => checkExecutionReport({ ...partialFill, ordStatus: '4', execType: '4', leavesQty: 0, lastQty: undefined, lastPx: undefined }));
  assert.throws(() => checkExecutionReport({ ...partialFill, execType: '0', ordStatus: '0', cumQty: 0, leavesQty: 1_000, avgPx: 5 }), /avgPx/);
});

test('averagePrice: exact integer average, half up', () => {
  assert.equal(averagePrice(100_500 * 300 + 100_600 * 200, 500), 100_540);
  assert.equal(averagePrice(3, 2), 2);
  assert.equal(averagePrice(0, 0), 0);
});

test('OrderCancelReject: round trip', () => {
  const body = buildOrderCancelReject({ orderId: 'NONE', clOrdId: 'C3', origClOrdId: 'X', ordStatus: '8', cxlRejReason: 1, text: 'unknown order' });
  const parsed = parseOrderCancelReject(message('9', body));
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.value, { orderId: 'NONE', clOrdId: 'C3', origClOrdId: 'X', ordStatus: '8', cxlRejResponseTo: '1', cxlRejReason: 1, text: 'unknown order' });
});

test('parsers never throw on arbitrary field values', () => {
  const tags = [1, 6, 11, 14, 17, 31, 32, 37, 38, 39, 40, 41, 44, 54, 55, 59, 60, 102, 103, 150, 151, 207, 434, 8001];
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.constantFrom(...tags), fc.string({ minLength: 1, maxLength: 12 }).filter((s) => !s.includes('\u0001'))), { maxLength: 30 }), (fields) => {
      for (const type of ['D', 'F', 'H', '8', '9']) {
        const m = message(type, fields);
        for (const parse of [parseNewOrderSingle, parseOrderCancelRequest, parseOrderStatusRequest, parseExecutionReport, parseOrderCancelReject]) {
          const result = parse(m);
          assert.equal(typeof result.ok, 'boolean');
        }
      }
    }),
    { numRuns: 300 },
  );
});
