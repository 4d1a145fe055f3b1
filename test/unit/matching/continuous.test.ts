/**
 * Continuous trading: price-time priority, partial fills across levels, the market order
 * types, cancels, the trade record and the order events.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chinaInstant, ManualClock } from '../../../src/core/clock.ts';
import { makeInstrument, type Board, type Side } from '../../../src/core/instruments.ts';
import type { OrderType } from '../../../src/core/order.ts';
import { limitBandFromClose } from '../../../src/core/price-rules.ts';
import type { Phase } from '../../../src/core/sessions.ts';
import { parseYuan } from '../../../src/core/units.ts';
import { MatchingEngine, MatchingReentrancyError } from '../../../src/matching/engine.ts';
import { EventRecorder, NO_EVENTS } from '../../../src/matching/events.ts';
import { OrderIndex, type BookOrder } from '../../../src/matching/order-book.ts';

const px = parseYuan;
const SYMBOL_OF: Record<Board, string> = {
  SSE_MAIN: '600000.SH',
  SZSE_MAIN: '000001.SZ',
  CHINEXT: '300750.SZ',
  STAR: '688981.SH',
  BSE: '830799.BJ',
};
const T0 = chinaInstant(20260105, 10, 0);

function setup(board: Board = 'SSE_MAIN', phase: Phase = 'CONTINUOUS') {
  const clock = new ManualClock(T0);
  const recorder = new EventRecorder();
  const engine = new MatchingEngine({ clock, events: recorder, phase });
  const symbol = SYMBOL_OF[board];
  const close = px('10.00');
  engine.addInstrument(makeInstrument({ symbol, name: symbol, listingDate: 20100104, previousClose: close }), {
    band: limitBandFromClose(close, board === 'SSE_MAIN' || board === 'SZSE_MAIN' ? 100_000 : 200_000),
  });
  const submit = (side: Side, price: string | number, quantity: number, orderType: OrderType = 'LIMIT', account = 'A') =>
    engine.submit({
      symbol,
      side,
      orderType,
      price: typeof price === 'string' ? px(price) : price,
      quantity,
      account,
      clientOrderId: `c${recorder.events.length}`,
    });
  return {
    engine,
    recorder,
    clock,
    symbol,
    buy: (price: string | number, quantity: number, orderType: OrderType = 'LIMIT', account = 'A') =>
      submit('BUY', price, quantity, orderType, account),
    sell: (price: string | number, quantity: number, orderType: OrderType = 'LIMIT', account = 'B') =>
      submit('SELL', price, quantity, orderType, account),
    levels: (side: 'bids' | 'asks') => engine.snapshot(symbol)[side].map((l) => [l.price, l.qty, l.orders]),
  };
}

test('limit orders rest and aggregate by price, best first; nothing trades without a cross', () => {
  const { engine, recorder, buy, sell, levels, symbol } = setup();
  buy('9.98', 100);
  buy('9.99', 200);
  buy('9.99', 300);
  sell('10.01', 400);
  sell('10.03', 100);
  assert.deepEqual(levels('bids'), [
    [px('9.99'), 500, 2],
    [px('9.98'), 100, 1],
  ]);
  assert.deepEqual(levels('asks'), [
    [px('10.01'), 400, 1],
    [px('10.03'), 100, 1],
  ]);
  assert.equal(recorder.trades.length, 0);
  assert.equal(engine.bestBid(symbol), px('9.99'));
  assert.equal(engine.bestAsk(symbol), px('10.01'));
  assert.equal(engine.workingOrders, 5);
});

test('price priority first, then time priority within a level', () => {
  const { engine, recorder, buy, sell, symbol } = setup();
  const early = sell('10.02', 100);
  const late = sell('10.02', 100);
  const better = sell('10.01', 100); // later, but a better price
  assert.deepEqual(engine.queueAt(symbol, 'SELL', px('10.02')), [early, late]);
  buy('10.02', 200);
  assert.deepEqual(
    recorder.trades.map((t) => [t.sellOrderId, t.price, t.qty]),
    [
      [better, px('10.01'), 100],
      [early, px('10.02'), 100],
    ],
  );
  assert.deepEqual(engine.queueAt(symbol, 'SELL', px('10.02')), [late]);
});

test('an aggressive limit sweeps several levels at the resting prices; the remainder rests at its limit', () => {
  const { engine, recorder, buy, sell, levels } = setup();
  const s1 = sell('10.01', 200);
  const s2 = sell('10.02', 300);
  const s3 = sell('10.03', 500);
  const b = buy('10.02', 1_000);
  assert.deepEqual(
    recorder.trades.map((t) => [t.tradeId, t.price, t.qty, t.buyOrderId, t.sellOrderId, t.aggressor]),
    [
      [1, px('10.01'), 200, b, s1, 'BUY'],
      [2, px('10.02'), 300, b, s2, 'BUY'],
    ],
  );
  // The buy's fills: cumulative quantity, leaves and average price per execution.
  const fills = recorder.ofType('filled').filter((f) => f.orderId === b);
  assert.deepEqual(
    fills.map((f) => [f.lastQty, f.lastPx, f.cumQty, f.leavesQty, f.avgPrice, f.status]),
    [
      [200, px('10.01'), 200, 800, px('10.01'), 'PARTIALLY_FILLED'],
      // (200 × 10.01 + 300 × 10.02) / 500 = 10.016
      [300, px('10.02'), 500, 500, px('10.016'), 'PARTIALLY_FILLED'],
    ],
  );
  assert.deepEqual(levels('bids'), [[px('10.02'), 500, 1]]);
  assert.deepEqual(levels('asks'), [[px('10.03'), 500, 1]]);
  assert.equal(engine.order(b)?.bookPrice, px('10.02'));
  assert.equal(engine.order(s1), undefined, 'filled orders leave the working set');
  assert.equal(engine.order(s3)?.leavesQty, 500);
});

test('a partially filled resting order keeps its place at the head of the queue', () => {
  const { engine, recorder, buy, sell, symbol } = setup();
  const first = sell('10.01', 500);
  const second = sell('10.01', 500);
  buy('10.01', 200);
  assert.deepEqual(engine.queueAt(symbol, 'SELL', px('10.01')), [first, second]);
  assert.equal(engine.order(first)?.leavesQty, 300);
  assert.equal(engine.order(first)?.status, 'PARTIALLY_FILLED');
  buy('10.01', 400);
  assert.deepEqual(
    recorder.trades.map((t) => [t.sellOrderId, t.qty]),
    [
      [first, 200],
      [first, 300],
      [second, 100],
    ],
  );
});

test('events: accepted before fills, the passive fill before the aggressive one, trade then fills', () => {
  const { recorder, buy, sell } = setup();
  const s = sell('10.01', 100);
  const b = buy('10.01', 100);
  const kinds = recorder.events.map((e) => `${e.type}:${'orderId' in e ? e.orderId : ''}`);
  assert.deepEqual(kinds, [`accepted:${s}`, `accepted:${b}`, 'trade:', `filled:${s}`, `filled:${b}`]);
});

test('the trade record names both orders, both accounts, the aggressor and the clock time', () => {
  const { recorder, buy, sell, clock, symbol } = setup();
  clock.advance(1_500);
  const s = sell('10.01', 300, 'LIMIT', 'SELLER');
  const b = buy('10.05', 100, 'LIMIT', 'BUYER');
  assert.deepEqual(recorder.trades[0], {
    tradeId: 1,
    symbol,
    price: px('10.01'),
    qty: 100,
    buyOrderId: b,
    sellOrderId: s,
    buyAccount: 'BUYER',
    sellAccount: 'SELLER',
    aggressor: 'BUY',
    time: T0 + 1_500,
  });
  buy('10.01', 100, 'LIMIT', 'BUYER');
  buy('9.95', 100, 'LIMIT', 'BUYER');
  sell('9.90', 300, 'LIMIT', 'SELLER2');
  assert.deepEqual(
    recorder.trades.map((t) => [t.tradeId, t.aggressor]),
    [
      [1, 'BUY'],
      [2, 'BUY'],
      [3, 'SELL'],
    ],
  );
});

test('statistics: open, high, low, last, volume, turnover; the version moves with every change', () => {
  const { engine, buy, sell, symbol } = setup();
  const v0 = engine.version(symbol);
  sell('10.05', 100);
  assert.ok(engine.version(symbol) > v0);
  buy('10.05', 100);
  sell('9.95', 200);
  buy('9.95', 200);
  sell('10.00', 300);
  buy('10.00', 300);
  const snap = engine.snapshot(symbol);
  assert.equal(snap.openPrice, px('10.05'));
  assert.equal(snap.highPrice, px('10.05'));
  assert.equal(snap.lowPrice, px('9.95'));
  assert.equal(snap.lastPrice, px('10.00'));
  assert.equal(snap.volume, 600);
  assert.equal(snap.turnover, px('10.05') * 100 + px('9.95') * 200 + px('10.00') * 300);
  assert.equal(snap.tradeCount, 3);
  assert.equal(snap.prevClosePrice, px('10.00'));
  assert.equal(snap.upperLimitPrice, px('11.00'));
  assert.equal(snap.lowerLimitPrice, px('9.00'));
  assert.equal(snap.phase, 'CONTINUOUS');
});

test('snapshot depth: at most `depth` levels per side, 10 by default', () => {
  const { engine, buy, sell, symbol } = setup();
  for (let i = 1; i <= 12; i += 1) {
    buy(px('10.00') - i * 100, 100);
    sell(px('10.00') + i * 100, 100 * i);
  }
  const snap = engine.snapshot(symbol);
  assert.equal(snap.bids.length, 10);
  assert.equal(snap.asks.length, 10);
  assert.equal(snap.bids[0]?.price, px('9.99'));
  assert.equal(snap.asks[9]?.price, px('10.10'));
  assert.equal(snap.asks[9]?.qty, 1_000);
  assert.equal(engine.snapshot(symbol, 3).asks.length, 3);
});

test('MARKET_BEST5_IOC trades through at most five price levels and cancels the rest', () => {
  const { engine, recorder, buy, sell, levels } = setup('SSE_MAIN');
  for (let i = 1; i <= 7; i += 1) sell(px('10.00') + i * 100, 100);
  const id = buy(0, 1_000, 'MARKET_BEST5_IOC');
  assert.deepEqual(
    recorder.trades.map((t) => t.price),
    [px('10.01'), px('10.02'), px('10.03'), px('10.04'), px('10.05')],
  );
  const cancelled = recorder.ofType('cancelled');
  assert.deepEqual(cancelled.map((c) => [c.orderId, c.reason, c.cancelledQty]), [[id, 'IOC_REMAINDER', 500]]);
  const view = recorder.orders.get(id)!;
  assert.equal(view.status, 'CANCELLED');
  assert.equal(view.cumQty, 500);
  assert.equal(view.leavesQty, 0);
  assert.equal(engine.order(id), undefined, 'a market order never rests');
  assert.deepEqual(levels('asks'), [
    [px('10.06'), 100, 1],
    [px('10.07'), 100, 1],
  ]);
  assert.deepEqual(levels('bids'), []);
});

test('MARKET_BEST5_IOC counts price levels, not orders', () => {
  const { recorder, buy, sell } = setup('SSE_MAIN');
  for (let i = 0; i < 4; i += 1) sell('10.01', 100);
  sell('10.02', 100);
  buy(0, 500, 'MARKET_BEST5_IOC');
  assert.equal(recorder.trades.length, 5);
  assert.equal(recorder.ofType('cancelled').length, 0);
});

test('MARKET_IOC (SZSE) sweeps every level within the band, then cancels the remainder', () => {
  const { engine, recorder, buy, sell, symbol } = setup('SZSE_MAIN');
  for (let i = 1; i <= 7; i += 1) sell(px('10.00') + i * 100, 100);
  sell('10.50', 100);
  buy(0, 1_000, 'MARKET_IOC');
  assert.equal(recorder.trades.length, 8);
  assert.equal(recorder.ofType('cancelled')[0]?.cancelledQty, 200);
  assert.equal(engine.bestAsk(symbol), 0);
});

test('a market order with a protection price does not trade beyond it', () => {
  const { engine, recorder, buy, sell, symbol } = setup('SZSE_MAIN');
  sell('10.01', 100);
  sell('10.02', 100);
  sell('10.03', 100);
  buy('10.02', 1_000, 'MARKET_IOC');
  assert.deepEqual(
    recorder.trades.map((t) => t.price),
    [px('10.01'), px('10.02')],
  );
  assert.equal(engine.bestAsk(symbol), px('10.03'));
  assert.equal(recorder.ofType('cancelled')[0]?.cancelledQty, 800);
});

test('a market order against an empty side is accepted and cancelled at once', () => {
  const { engine, recorder, sell } = setup('SSE_MAIN');
  const id = sell(0, 100, 'MARKET_BEST5_IOC');
  assert.ok(id > 0);
  assert.deepEqual(
    recorder.events.map((e) => e.type),
    ['accepted', 'cancelled'],
  );
  assert.equal(engine.workingOrders, 0);
});

test('MARKET_FOK fills completely or not at all', () => {
  const { engine, recorder, buy, sell, levels } = setup('SZSE_MAIN');
  sell('10.01', 300);
  sell('10.02', 300);
  sell('10.05', 300);
  const tooBig = buy(0, 1_000, 'MARKET_FOK');
  assert.equal(recorder.trades.length, 0);
  assert.deepEqual(recorder.ofType('cancelled').map((c) => [c.orderId, c.reason, c.cancelledQty]), [[tooBig, 'FOK_NOT_FILLED', 1_000]]);
  assert.equal(levels('asks').length, 3, 'the book is untouched');
  // With a protection price, only the liquidity inside it counts.
  const capped = buy('10.02', 700, 'MARKET_FOK');
  assert.equal(recorder.trades.length, 0);
  assert.equal(recorder.orders.get(capped)?.status, 'CANCELLED');
  const fits = buy(0, 800, 'MARKET_FOK');
  assert.deepEqual(
    recorder.trades.map((t) => [t.price, t.qty]),
    [
      [px('10.01'), 300],
      [px('10.02'), 300],
      [px('10.05'), 200],
    ],
  );
  assert.equal(recorder.orders.get(fits)?.status, 'FILLED');
  assert.equal(engine.order(fits), undefined);
});

test('MARKET_BEST5_TO_LIMIT (SSE): the remainder rests as a limit at the last execution price', () => {
  const { engine, recorder, buy, sell, levels } = setup('SSE_MAIN');
  sell('10.01', 100);
  sell('10.02', 100);
  const id = buy(0, 500, 'MARKET_BEST5_TO_LIMIT');
  assert.equal(recorder.trades.length, 2);
  const view = engine.order(id)!;
  assert.equal(view.bookPrice, px('10.02'));
  assert.equal(view.leavesQty, 300);
  assert.deepEqual(levels('bids'), [[px('10.02'), 300, 1]]);
  // With nothing on the counter side there is no price to convert to: rejected.
  assert.equal(buy(0, 100, 'MARKET_BEST5_TO_LIMIT'), 0);
  assert.equal(recorder.lastRejectReason(), 'NO_COUNTER_QUOTE');
});

test('MARKET_BEST_COUNTER takes the best counter price as its limit; MARKET_BEST_OWN joins the own best', () => {
  const { engine, recorder, buy, sell, levels } = setup('SZSE_MAIN');
  buy('9.98', 100);
  sell('10.01', 100);
  sell('10.02', 100);
  const counter = buy(0, 300, 'MARKET_BEST_COUNTER');
  assert.deepEqual(
    recorder.trades.map((t) => t.price),
    [px('10.01')],
    'only the best counter level: the next one is above its price',
  );
  assert.equal(engine.order(counter)?.bookPrice, px('10.01'));
  assert.deepEqual(levels('bids'), [
    [px('10.01'), 200, 1],
    [px('9.98'), 100, 1],
  ]);
  const own = sell(0, 100, 'MARKET_BEST_OWN');
  assert.equal(engine.order(own)?.bookPrice, px('10.02'));
  assert.deepEqual(levels('asks'), [[px('10.02'), 200, 2]]);
  assert.equal(recorder.trades.length, 1);
});

test('MARKET_BEST_OWN with an empty own side and MARKET_BEST_COUNTER with an empty counter side are rejected', () => {
  const { recorder, buy, sell } = setup('SZSE_MAIN');
  assert.equal(buy(0, 100, 'MARKET_BEST_OWN'), 0);
  assert.equal(recorder.lastRejectReason(), 'NO_OWN_QUOTE');
  assert.equal(sell(0, 100, 'MARKET_BEST_COUNTER'), 0);
  assert.equal(recorder.lastRejectReason(), 'NO_COUNTER_QUOTE');
});

test('cancels: a partially filled order cancels its leaves; a second cancel is too late; unknown ids and foreign accounts are refused', () => {
  const { engine, recorder, buy, sell } = setup();
  const s = sell('10.01', 500, 'LIMIT', 'OWNER');
  buy('10.01', 200);
  assert.equal(engine.cancel(s, 'SOMEONE_ELSE'), false);
  assert.equal(engine.cancel(s, 'OWNER'), true);
  const view = recorder.orders.get(s)!;
  assert.deepEqual([view.status, view.cumQty, view.leavesQty, view.cancelledQty], ['CANCELLED', 200, 0, 300]);
  assert.equal(engine.cancel(s), false);
  assert.equal(engine.cancel(9_999), false);
  assert.equal(engine.cancel(0), false);
  assert.equal(engine.cancel(-1), false);
  assert.equal(engine.cancel(1.5), false);
  assert.deepEqual(
    recorder.ofType('cancelRejected').map((r) => r.reason),
    ['NOT_OWNER', 'TOO_LATE_TO_CANCEL', 'UNKNOWN_ORDER', 'UNKNOWN_ORDER', 'UNKNOWN_ORDER', 'UNKNOWN_ORDER'],
  );
  assert.deepEqual(
    recorder.ofType('cancelled').map((c) => [c.orderId, c.reason, c.cancelledQty]),
    [[s, 'REQUESTED', 300]],
  );
  assert.equal(engine.workingOrders, 0);
});

test('cancelling the only order at the best price moves the best price', () => {
  const { engine, buy, symbol } = setup();
  const a = buy('9.99', 100);
  buy('9.95', 100);
  engine.cancel(a);
  assert.equal(engine.bestBid(symbol), px('9.95'));
});

test('symbols are separate books', () => {
  const clock = new ManualClock(T0);
  const recorder = new EventRecorder();
  const engine = new MatchingEngine({ clock, events: recorder, phase: 'CONTINUOUS' });
  for (const symbol of ['600000.SH', '600036.SH']) {
    engine.addInstrument(makeInstrument({ symbol, name: symbol, listingDate: 20100104, previousClose: px('10.00') }), {
      band: limitBandFromClose(px('10.00'), 100_000),
    });
  }
  engine.submit({ symbol: '600000.SH', side: 'SELL', orderType: 'LIMIT', price: px('10.00'), quantity: 100, account: 'A' });
  engine.submit({ symbol: '600036.SH', side: 'BUY', orderType: 'LIMIT', price: px('10.00'), quantity: 100, account: 'B' });
  assert.equal(recorder.trades.length, 0);
  assert.deepEqual(engine.symbols().sort(), ['600000.SH', '600036.SH']);
  assert.throws(
    () => engine.addInstrument(makeInstrument({ symbol: '600000.SH', name: 'x', listingDate: 20100104, previousClose: 1 }), { band: null }),
    /already added/,
  );
  assert.throws(() => engine.snapshot('601318.SH'), /unknown symbol/);
});

test('expireAll cancels every working order at the end of the day', () => {
  const { engine, recorder, buy, sell } = setup();
  buy('9.99', 100);
  buy('9.98', 100);
  sell('10.01', 100);
  assert.equal(engine.expireAll(), 3);
  assert.equal(engine.workingOrders, 0);
  assert.deepEqual(
    recorder.ofType('cancelled').map((c) => c.reason),
    ['END_OF_DAY', 'END_OF_DAY', 'END_OF_DAY'],
  );
});

test('a callback that calls back into the engine is a programming error', () => {
  const clock = new ManualClock(T0);
  let caught: unknown;
  const engine: MatchingEngine = new MatchingEngine({
    clock,
    phase: 'CONTINUOUS',
    events: {
      ...NO_EVENTS,
      orderAccepted: (order) => {
        try {
          engine.cancel(order.id);
        } catch (error) {
          caught = error;
        }
      },
    },
  });
  engine.addInstrument(makeInstrument({ symbol: '600000.SH', name: 'x', listingDate: 20100104, previousClose: px('10.00') }), {
    band: limitBandFromClose(px('10.00'), 100_000),
  });
  const id = engine.submit({ symbol: '600000.SH', side: 'BUY', orderType: 'LIMIT', price: px('10.00'), quantity: 100, account: 'A' });
  assert.ok(caught instanceof MatchingReentrancyError);
  assert.ok(engine.order(id), 'the order itself went through');
  // The engine is usable again afterwards.
  assert.equal(engine.cancel(id), true);
});

test('order views echo the request and keep cumQty + leavesQty + cancelledQty = quantity', () => {
  const { engine, recorder, buy, sell } = setup();
  const s = sell('10.01', 1_000);
  buy('10.01', 300);
  const view = engine.order(s)!;
  assert.equal(view.symbol, '600000.SH');
  assert.equal(view.side, 'SELL');
  assert.equal(view.orderType, 'LIMIT');
  assert.equal(view.price, px('10.01'));
  assert.equal(view.account, 'B');
  assert.equal(view.clientOrderId, 'c0');
  assert.equal(view.acceptedAt, T0);
  assert.equal(view.notional, px('10.01') * 300);
  assert.equal(view.avgPrice, px('10.01'));
  assert.equal(view.held, false);
  for (const order of recorder.orders.values()) {
    assert.equal(order.cumQty + order.leavesQty + order.cancelledQty, order.quantity);
  }
});

test('OrderIndex: lookups by id, and pages are dropped once all their ids are done', () => {
  const index = new OrderIndex();
  const fake = (id: number) => ({ id }) as unknown as BookOrder;
  for (let id = 1; id <= 10_000; id += 1) index.set(id, fake(id));
  assert.equal(index.size, 10_000);
  assert.equal(index.get(4_097)?.id, 4_097);
  assert.equal(index.get(0), undefined);
  assert.equal(index.get(-5), undefined);
  assert.equal(index.get(2.5), undefined);
  assert.equal(index.get(20_000), undefined);
  assert.equal(index.allocatedPages, 3);
  for (let id = 1; id <= 4_095; id += 1) index.delete(id, 10_000);
  assert.equal(index.allocatedPages, 2, 'page 0 (ids 1–4095) is empty and complete');
  for (let id = 8_192; id <= 10_000; id += 1) index.delete(id, 10_000);
  assert.equal(index.allocatedPages, 2, 'the newest page stays: later ids still land in it');
  index.delete(4_097, 10_000);
  assert.equal(index.get(4_097), undefined);
  assert.equal(index.size, 10_000 - 4_095 - 1_809 - 1);
});
