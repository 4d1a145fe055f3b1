/**
 * Call auctions: orders accumulate without matching; the uncross price is the maximum
 * executable volume, then the minimum imbalance, then the price closest to the reference.
 * Each worked case lists B(p) (buys at ≥ p) and S(p) (sells at ≤ p) by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chinaInstant, ManualClock } from '../../../src/core/clock.ts';
import { makeInstrument, type Side } from '../../../src/core/instruments.ts';
import type { OrderType } from '../../../src/core/order.ts';
import { limitBandFromClose } from '../../../src/core/price-rules.ts';
import type { Phase } from '../../../src/core/sessions.ts';
import { parseYuan } from '../../../src/core/units.ts';
import { computeUncross } from '../../../src/matching/auction.ts';
import { MatchingEngine } from '../../../src/matching/engine.ts';
import { EventRecorder } from '../../../src/matching/events.ts';

const px = parseYuan;
const T0 = chinaInstant(20260105, 9, 15);

function setup(previousClose = '10.00', phase: Phase = 'OPENING_CALL', symbol = '000001.SZ') {
  const clock = new ManualClock(T0);
  const recorder = new EventRecorder();
  const engine = new MatchingEngine({ clock, events: recorder, phase });
  const close = px(previousClose);
  engine.addInstrument(makeInstrument({ symbol, name: symbol, listingDate: 20100104, previousClose: close }), {
    band: limitBandFromClose(close, 100_000),
  });
  const submit = (side: Side, price: string | number, quantity: number, orderType: OrderType = 'LIMIT') =>
    engine.submit({ symbol, side, orderType, price: typeof price === 'string' ? px(price) : price, quantity, account: side === 'BUY' ? 'BUYER' : 'SELLER' });
  return {
    engine,
    recorder,
    clock,
    symbol,
    buy: (price: string | number, quantity: number, orderType: OrderType = 'LIMIT') => submit('BUY', price, quantity, orderType),
    sell: (price: string | number, quantity: number, orderType: OrderType = 'LIMIT') => submit('SELL', price, quantity, orderType),
    levels: (side: 'bids' | 'asks') => engine.snapshot(symbol)[side].map((l) => [l.price, l.qty]),
  };
}

/**
 * Case A.  Bids 10.05×300, 10.02×200, 9.98×500; asks 9.95×200, 10.00×400, 10.03×300.
 *   p            B(p)   S(p)   V     |B−S|
 *   9.95–9.98    1000   200    200   800
 *   9.99         500    200    200   300
 *   10.00–10.02  500    600    500   100   ← maximum volume, a range of three prices
 *   10.03–10.05  300    900    300   600
 * The maximum volume 500 holds on 10.00–10.02 with the same imbalance, so the reference
 * decides: with a previous close of 10.00 the price is 10.00.
 */
function caseA(previousClose: string) {
  const ctx = setup(previousClose);
  const ids = {
    b1: ctx.buy('10.05', 300),
    b2: ctx.buy('10.02', 200),
    b3: ctx.buy('9.98', 500),
    s1: ctx.sell('9.95', 200),
    s2: ctx.sell('10.00', 400),
    s3: ctx.sell('10.03', 300),
  };
  return { ...ctx, ids };
}

test('call auction: orders accumulate without matching, even when the book crosses', () => {
  const { recorder, levels } = caseA('10.00');
  assert.equal(recorder.trades.length, 0);
  assert.deepEqual(levels('bids')[0], [px('10.05'), 300]);
  assert.deepEqual(levels('asks')[0], [px('9.95'), 200]);
});

test('case A: maximum volume, then the reference (previous close 10.00) picks 10.00', () => {
  const { engine, recorder, symbol, ids, levels } = caseA('10.00');
  const indicative = engine.indicativeAuction(symbol);
  assert.deepEqual(indicative, { price: px('10.00'), volume: 500, imbalance: 100, surplus: -100 });
  assert.equal(recorder.trades.length, 0, 'the indicative price trades nothing');
  const result = engine.uncross(symbol);
  assert.deepEqual(result, indicative);
  // Buys by price priority (10.05 then 10.02) against sells by price priority (9.95 then 10.00).
  assert.deepEqual(
    recorder.trades.map((t) => [t.buyOrderId, t.sellOrderId, t.price, t.qty, t.aggressor]),
    [
      [ids.b1, ids.s1, px('10.00'), 200, 'NONE'],
      [ids.b1, ids.s2, px('10.00'), 100, 'NONE'],
      [ids.b2, ids.s2, px('10.00'), 200, 'NONE'],
    ],
  );
  // What did not trade stays on the book, uncrossed.
  assert.deepEqual(levels('bids'), [[px('9.98'), 500]]);
  assert.deepEqual(levels('asks'), [
    [px('10.00'), 100],
    [px('10.03'), 300],
  ]);
  const snap = engine.snapshot(symbol);
  assert.equal(snap.openPrice, px('10.00'));
  assert.equal(snap.lastPrice, px('10.00'));
  assert.equal(snap.volume, 500);
  assert.equal(snap.turnover, px('10.00') * 500);
});

test('case A with other previous closes: the reference is clamped into the tied range 10.00–10.02', () => {
  for (const [close, expected] of [
    ['10.01', '10.01'],
    ['10.02', '10.02'],
    ['9.80', '10.00'],
    ['10.50', '10.02'],
  ] as const) {
    const { engine, symbol } = caseA(close);
    const result = engine.uncross(symbol);
    assert.equal(result?.price, px(expected), `previous close ${close}`);
    assert.equal(result?.volume, 500);
  }
});

/**
 * Case B: a tie on volume broken by the imbalance.
 * Bids 10.02×500, 10.00×200; asks 9.98×500, 10.01×100.
 *   p            B(p)   S(p)   V     |B−S|
 *   9.98–10.00   700    500    500   200
 *   10.01–10.02  500    600    500   100   ← same volume, smaller imbalance
 * The previous close 10.00 would favour 10.00, but the imbalance comes first: 10.01 (the
 * reference then picks 10.01 over 10.02).
 */
test('case B: equal volume everywhere, the minimum imbalance wins over the reference', () => {
  const { engine, recorder, symbol, buy, sell, levels } = setup('10.00');
  const b1 = buy('10.02', 500);
  buy('10.00', 200);
  const s1 = sell('9.98', 500);
  sell('10.01', 100);
  const result = engine.uncross(symbol);
  assert.deepEqual(result, { price: px('10.01'), volume: 500, imbalance: 100, surplus: -100 });
  assert.deepEqual(
    recorder.trades.map((t) => [t.buyOrderId, t.sellOrderId, t.price, t.qty]),
    [[b1, s1, px('10.01'), 500]],
  );
  assert.deepEqual(levels('bids'), [[px('10.00'), 200]]);
  assert.deepEqual(levels('asks'), [[px('10.01'), 100]]);
});

/**
 * Case C: the volume comes before the imbalance.
 * Bids 10.05×500, 10.00×400; asks 9.95×600.
 *   p            B(p)   S(p)   V     |B−S|
 *   9.95–10.00   900    600    600   300   ← larger volume, larger imbalance
 *   10.01–10.05  500    600    500   100
 * Price 10.00 (the reference inside the maximum-volume range), volume 600.
 */
test('case C: the maximum volume wins even with a larger imbalance', () => {
  const { engine, recorder, symbol, buy, sell, levels } = setup('10.00');
  const high = buy('10.05', 500);
  const low = buy('10.00', 400);
  sell('9.95', 600);
  const result = engine.uncross(symbol);
  assert.deepEqual(result, { price: px('10.00'), volume: 600, imbalance: 300, surplus: 300 });
  assert.deepEqual(
    recorder.trades.map((t) => [t.buyOrderId, t.qty]),
    [
      [high, 500],
      [low, 100],
    ],
  );
  assert.deepEqual(levels('bids'), [[px('10.00'), 300]]);
  assert.deepEqual(levels('asks'), []);
});

/**
 * Case D: the reference alone decides. Bids 10.20×1000; asks 9.90×1000: every price from 9.90
 * to 10.20 executes 1000 with no imbalance, so the price is the previous close.
 */
test('case D: a wide tie opens at the previous close', () => {
  for (const [close, expected] of [
    ['10.00', '10.00'],
    ['10.13', '10.13'],
    ['9.50', '9.90'],
  ] as const) {
    const { engine, symbol, buy, sell } = setup(close);
    buy('10.20', 1_000);
    sell('9.90', 1_000);
    assert.equal(engine.uncross(symbol)?.price, px(expected), `previous close ${close}`);
  }
});

test('time priority in the auction: the earlier order at the marginal price fills first', () => {
  const { engine, recorder, symbol, buy, sell } = setup('10.00');
  const first = buy('10.00', 300);
  const second = buy('10.00', 300);
  sell('10.00', 400);
  engine.uncross(symbol);
  assert.deepEqual(
    recorder.trades.map((t) => [t.buyOrderId, t.qty]),
    [
      [first, 300],
      [second, 100],
    ],
  );
  assert.equal(engine.order(second)?.leavesQty, 200);
});

test('nothing trades when the book does not cross or one side is empty', () => {
  const { engine, recorder, symbol, buy, sell } = setup('10.00');
  assert.equal(engine.uncross(symbol), null);
  buy('9.99', 100);
  assert.equal(engine.uncross(symbol), null);
  sell('10.00', 100);
  assert.equal(engine.uncross(symbol), null);
  assert.equal(recorder.trades.length, 0);
  assert.equal(engine.workingOrders, 2);
});

test('the closing auction refers to the last trade price, not the previous close', () => {
  const { engine, symbol, buy, sell } = setup('10.00', 'CONTINUOUS');
  sell('10.10', 100);
  buy('10.10', 100); // last = 10.10
  engine.setPhase('CLOSING_CALL');
  buy('10.20', 100);
  sell('10.00', 100);
  // 10.00–10.20 all execute 100 with no imbalance: the price closest to the last, 10.10.
  assert.equal(engine.indicativeAuction(symbol)?.price, px('10.10'));
  engine.setPhase('CLOSED');
  assert.equal(engine.snapshot(symbol).lastPrice, px('10.10'));
  assert.equal(engine.snapshot(symbol).volume, 200);
});

test('leaving the call auction uncrosses it; the rest trades on in continuous trading', () => {
  const { engine, recorder, symbol, buy, clock } = caseA('10.00');
  engine.setPhase('OPENING_CALL_NO_CANCEL');
  assert.equal(recorder.trades.length, 0, 'still in the call auction');
  clock.advance(5 * 60 * 1_000_000);
  engine.setPhase('PRE_CONTINUOUS');
  assert.equal(recorder.trades.length, 3);
  assert.ok(recorder.trades.every((t) => t.price === px('10.00') && t.time === T0 + 5 * 60 * 1_000_000));
  assert.equal(buy('10.00', 100), 0, '09:25–09:30: no orders');
  assert.equal(recorder.lastRejectReason(), 'PHASE_FORBIDS_SUBMIT');
  engine.setPhase('CONTINUOUS');
  buy('10.00', 100); // meets the 100 left at 10.00
  assert.equal(recorder.trades.length, 4);
  assert.equal(recorder.trades[3]?.aggressor, 'BUY');
  assert.equal(engine.snapshot(symbol).asks[0]?.price, px('10.03'));
});

test('market orders are refused in call auctions', () => {
  const { recorder, buy, sell, engine } = setup('10.00');
  sell('10.00', 100);
  for (const phase of ['OPENING_CALL', 'OPENING_CALL_NO_CANCEL', 'CLOSING_CALL'] as const) {
    engine.setPhase(phase);
    assert.equal(buy(0, 100, 'MARKET_BEST5_IOC'), 0);
    assert.equal(recorder.lastRejectReason(), 'MARKET_ORDER_IN_CALL_AUCTION');
  }
});

test('the price cage does not apply in call auctions', () => {
  const { buy, sell, engine } = setup('10.00');
  assert.ok(buy('10.90', 100) > 0);
  assert.ok(sell('9.10', 100) > 0);
  assert.equal(engine.workingOrders, 2);
});

test('uncrossAll returns the results of the symbols that traded', () => {
  const clock = new ManualClock(T0);
  const engine = new MatchingEngine({ clock, phase: 'OPENING_CALL' });
  for (const symbol of ['600000.SH', '600036.SH']) {
    engine.addInstrument(makeInstrument({ symbol, name: symbol, listingDate: 20100104, previousClose: px('10.00') }), {
      band: limitBandFromClose(px('10.00'), 100_000),
    });
  }
  engine.submit({ symbol: '600000.SH', side: 'BUY', orderType: 'LIMIT', price: px('10.01'), quantity: 100, account: 'a' });
  engine.submit({ symbol: '600000.SH', side: 'SELL', orderType: 'LIMIT', price: px('10.01'), quantity: 200, account: 'b' });
  const results = engine.uncrossAll();
  assert.deepEqual([...results.keys()], ['600000.SH']);
  assert.deepEqual(results.get('600000.SH'), { price: px('10.01'), volume: 100, imbalance: 100, surplus: -100 });
});

test('computeUncross directly: a reference off the tick grid equidistant from two prices takes the higher', () => {
  const bids = [{ price: px('10.01'), qty: 100 }];
  const asks = [{ price: px('10.00'), qty: 100 }];
  assert.equal(computeUncross(bids, asks, px('10.005'))?.price, px('10.01'));
  assert.equal(computeUncross(bids, asks, px('10.004'))?.price, px('10.00'));
  assert.equal(computeUncross([], asks, px('10.00')), null);
  assert.equal(computeUncross([{ price: px('9.99'), qty: 100 }], asks, px('10.00')), null);
});

test('computeUncross: a textbook book (exchange training example)', () => {
  // Buys: 10.10×200, 10.05×300, 10.00×500, 9.95×400. Sells: 9.90×300, 10.00×400, 10.05×200, 10.10×500.
  //   p      B     S     V     |B−S|
  //   9.90   1400  300   300   1100
  //   9.95   1400  300   300   1100
  //   10.00  1000  700   700   300
  //   10.05  500   900   500   400
  //   10.10  200   1400  200   1200
  const bids = [
    { price: px('10.10'), qty: 200 },
    { price: px('10.05'), qty: 300 },
    { price: px('10.00'), qty: 500 },
    { price: px('9.95'), qty: 400 },
  ];
  const asks = [
    { price: px('9.90'), qty: 300 },
    { price: px('10.00'), qty: 400 },
    { price: px('10.05'), qty: 200 },
    { price: px('10.10'), qty: 500 },
  ];
  // Between 10.00 and 10.05 (10.01–10.04): B = 500, S = 700 → V 500. The maximum is 700 at 10.00 alone.
  assert.deepEqual(computeUncross(bids, asks, px('10.08')), { price: px('10.00'), volume: 700, imbalance: 300, surplus: 300 });
});
