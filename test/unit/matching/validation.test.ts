/**
 * Exchange-side validation: every reject reason, the price cage per board (reject or hold,
 * and how held orders come back), and which phases take orders and cancels.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chinaInstant, ManualClock } from '../../../src/core/clock.ts';
import { makeInstrument, type Board, type Side } from '../../../src/core/instruments.ts';
import type { OrderType } from '../../../src/core/order.ts';
import { DEFAULT_PRICE_CAGE_SETTINGS, limitBandFromClose, type PriceBand } from '../../../src/core/price-rules.ts';
import type { Phase } from '../../../src/core/sessions.ts';
import { parseYuan } from '../../../src/core/units.ts';
import { MatchingEngine, type MatchingEngineOptions } from '../../../src/matching/engine.ts';
import { EventRecorder } from '../../../src/matching/events.ts';
import type { OrderRequest } from '../../../src/matching/types.ts';

const px = parseYuan;
const SYMBOL_OF: Record<Board, string> = {
  SSE_MAIN: '600000.SH',
  SZSE_MAIN: '000001.SZ',
  CHINEXT: '300750.SZ',
  STAR: '688981.SH',
  BSE: '830799.BJ',
};
const LIMIT_PPM: Record<Board, number> = { SSE_MAIN: 100_000, SZSE_MAIN: 100_000, CHINEXT: 200_000, STAR: 200_000, BSE: 300_000 };

function setup(
  board: Board = 'SSE_MAIN',
  phase: Phase = 'CONTINUOUS',
  options: { band?: PriceBand | null; engine?: Partial<MatchingEngineOptions> } = {},
) {
  const clock = new ManualClock(chinaInstant(20260105, 10, 0));
  const recorder = new EventRecorder();
  const engine = new MatchingEngine({ clock, events: recorder, phase, ...options.engine });
  const symbol = SYMBOL_OF[board];
  const close = px('10.00');
  engine.addInstrument(makeInstrument({ symbol, name: symbol, listingDate: 20100104, previousClose: close }), {
    band: options.band === undefined ? limitBandFromClose(close, LIMIT_PPM[board]) : options.band,
  });
  const submit = (side: Side, price: string | number, quantity: number, orderType: OrderType = 'LIMIT') =>
    engine.submit({ symbol, side, orderType, price: typeof price === 'string' ? px(price) : price, quantity, account: 'A' });
  /** Submits and returns the reject reason, or 'ACCEPTED'. */
  const outcome = (side: Side, price: string | number, quantity: number, orderType: OrderType = 'LIMIT') => {
    const id = submit(side, price, quantity, orderType);
    return id > 0 ? 'ACCEPTED' : recorder.lastRejectReason();
  };
  return {
    engine,
    recorder,
    symbol,
    outcome,
    buy: (price: string | number, quantity: number, orderType: OrderType = 'LIMIT') => submit('BUY', price, quantity, orderType),
    sell: (price: string | number, quantity: number, orderType: OrderType = 'LIMIT') => submit('SELL', price, quantity, orderType),
  };
}

test('unknown symbol and contract breaks (side, order type)', () => {
  const { engine, recorder, symbol } = setup();
  const base: OrderRequest = { symbol, side: 'BUY', orderType: 'LIMIT', price: px('10.00'), quantity: 100, account: 'A' };
  assert.equal(engine.submit({ ...base, symbol: '601318.SH' }), 0);
  assert.equal(recorder.lastRejectReason(), 'UNKNOWN_SYMBOL');
  assert.equal(engine.submit({ ...base, side: 'HOLD' as Side }), 0);
  assert.equal(recorder.lastRejectReason(), 'INVALID_ORDER');
  assert.equal(engine.submit({ ...base, orderType: 'STOP' as OrderType }), 0);
  assert.equal(recorder.lastRejectReason(), 'INVALID_ORDER');
  const rejected = recorder.ofType('rejected')[0]!;
  assert.equal(rejected.request.symbol, '601318.SH');
  assert.match(rejected.detail, /unknown symbol/);
  assert.equal(engine.lastOrderId, 0, 'rejected orders get no venue id');
});

test('phases: no orders before the open, 09:25–09:30, at lunch or after the close; after-hours fixed price is not simulated', () => {
  const { engine, outcome } = setup('STAR', 'PRE_OPEN');
  for (const phase of ['PRE_OPEN', 'PRE_CONTINUOUS', 'LUNCH_BREAK', 'CLOSED'] as const) {
    engine.setPhase(phase);
    assert.equal(outcome('BUY', '10.00', 200), 'PHASE_FORBIDS_SUBMIT', phase);
  }
  engine.setPhase('AFTER_HOURS_FIXED');
  assert.equal(outcome('BUY', '10.00', 200), 'PHASE_NOT_SUPPORTED');
  for (const phase of ['OPENING_CALL', 'OPENING_CALL_NO_CANCEL', 'CONTINUOUS', 'CLOSING_CALL'] as const) {
    engine.setPhase(phase);
    assert.equal(outcome('BUY', '10.00', 200), 'ACCEPTED', phase);
  }
});

test('order types per exchange: SSE has no MARKET_IOC / FOK, SZSE no MARKET_BEST5_TO_LIMIT', () => {
  const sse = setup('SSE_MAIN');
  assert.equal(sse.outcome('BUY', 0, 100, 'MARKET_IOC'), 'ORDER_TYPE_NOT_ACCEPTED');
  assert.equal(sse.outcome('BUY', 0, 100, 'MARKET_FOK'), 'ORDER_TYPE_NOT_ACCEPTED');
  const szse = setup('CHINEXT');
  assert.equal(szse.outcome('BUY', 0, 100, 'MARKET_BEST5_TO_LIMIT'), 'ORDER_TYPE_NOT_ACCEPTED');
  assert.equal(szse.outcome('BUY', 0, 100, 'MARKET_FOK'), 'ACCEPTED');
  // A setting can open a type up.
  const custom = setup('SSE_MAIN', 'CONTINUOUS', {
    engine: { marketOrderTypes: { ...setupTypes(), SSE_MAIN: ['MARKET_IOC'] } },
  });
  assert.equal(custom.outcome('BUY', 0, 100, 'MARKET_IOC'), 'ACCEPTED');
  assert.equal(custom.outcome('BUY', 0, 100, 'MARKET_BEST5_IOC'), 'ORDER_TYPE_NOT_ACCEPTED');
});

function setupTypes(): Record<Board, readonly OrderType[]> {
  return { SSE_MAIN: [], SZSE_MAIN: [], CHINEXT: [], STAR: [], BSE: [] };
}

test('price: positive, on the tick grid, inside the day’s limits (limits themselves allowed)', () => {
  const { outcome } = setup('SSE_MAIN', 'OPENING_CALL');
  assert.equal(outcome('BUY', 0, 100), 'PRICE_NOT_POSITIVE');
  assert.equal(outcome('BUY', -100, 100), 'PRICE_NOT_POSITIVE');
  assert.equal(outcome('BUY', px('10.005'), 100), 'PRICE_OFF_TICK');
  assert.equal(outcome('BUY', px('11.01'), 100), 'ABOVE_UPPER_LIMIT');
  assert.equal(outcome('SELL', px('8.99'), 100), 'BELOW_LOWER_LIMIT');
  assert.equal(outcome('BUY', px('11.00'), 100), 'ACCEPTED');
  assert.equal(outcome('SELL', px('9.00'), 100), 'ACCEPTED');
});

test('market orders: the protection price is optional but, when given, a valid price', () => {
  const { outcome, sell } = setup('SZSE_MAIN');
  sell('10.00', 1_000);
  assert.equal(outcome('BUY', px('10.005'), 100, 'MARKET_IOC'), 'PRICE_OFF_TICK');
  assert.equal(outcome('BUY', -100, 100, 'MARKET_IOC'), 'PRICE_NOT_POSITIVE');
  assert.equal(outcome('BUY', px('11.50'), 100, 'MARKET_IOC'), 'ABOVE_UPPER_LIMIT');
  assert.equal(outcome('BUY', px('10.00'), 100, 'MARKET_IOC'), 'ACCEPTED');
  assert.equal(outcome('BUY', 0, 100, 'MARKET_IOC'), 'ACCEPTED');
});

test('no price limit (first days of a registration-system listing): a declaration range stands in', () => {
  const { engine, outcome, symbol } = setup('STAR', 'OPENING_CALL', { band: null });
  assert.equal(outcome('BUY', px('50.00'), 200), 'ACCEPTED');
  assert.equal(outcome('BUY', px('100.00'), 200), 'ACCEPTED');
  assert.equal(outcome('BUY', px('100.01'), 200), 'OUTSIDE_VALID_PRICE_RANGE');
  assert.equal(outcome('SELL', px('0.01'), 200), 'ACCEPTED');
  const snap = engine.snapshot(symbol);
  assert.equal(snap.upperLimitPrice, 0);
  assert.equal(snap.lowerLimitPrice, 0);
});

test('lots: buys in whole lots per board; odd-lot sells pass the venue (it cannot see positions)', () => {
  const main = setup('SSE_MAIN', 'OPENING_CALL');
  assert.equal(main.outcome('BUY', '10.00', 0), 'INVALID_QUANTITY');
  assert.equal(main.outcome('BUY', '10.00', -100), 'INVALID_QUANTITY');
  assert.equal(main.outcome('BUY', '10.00', 150.5), 'INVALID_QUANTITY');
  assert.equal(main.outcome('BUY', '10.00', 50), 'BELOW_MIN_LOT');
  assert.equal(main.outcome('BUY', '10.00', 150), 'NOT_LOT_MULTIPLE');
  assert.equal(main.outcome('BUY', '10.00', 200), 'ACCEPTED');
  assert.equal(main.outcome('SELL', '10.00', 50), 'ACCEPTED');
  assert.equal(main.outcome('SELL', '10.00', 150), 'ACCEPTED');
  const star = setup('STAR', 'OPENING_CALL');
  assert.equal(star.outcome('BUY', '10.00', 199), 'BELOW_MIN_LOT');
  assert.equal(star.outcome('BUY', '10.00', 201), 'ACCEPTED');
  assert.equal(star.outcome('SELL', '10.00', 37), 'ACCEPTED');
});

test('maximum order size per board and order type', () => {
  const main = setup('SSE_MAIN', 'OPENING_CALL');
  assert.equal(main.outcome('BUY', '10.00', 1_000_000), 'ACCEPTED');
  assert.equal(main.outcome('BUY', '10.00', 1_000_100), 'ABOVE_MAX_ORDER_QTY');
  assert.equal(main.outcome('SELL', '10.00', 1_000_001), 'ABOVE_MAX_ORDER_QTY');
  const chinext = setup('CHINEXT');
  chinext.sell('10.00', 300_000);
  assert.equal(chinext.outcome('BUY', '10.00', 300_100), 'ABOVE_MAX_ORDER_QTY');
  assert.equal(chinext.outcome('BUY', 0, 150_100, 'MARKET_IOC'), 'ABOVE_MAX_ORDER_QTY');
  assert.equal(chinext.outcome('BUY', 0, 150_000, 'MARKET_IOC'), 'ACCEPTED');
  const star = setup('STAR');
  assert.equal(star.outcome('BUY', 0, 50_001, 'MARKET_BEST5_IOC'), 'ABOVE_MAX_ORDER_QTY');
});

test('cage, reject mode (SSE main): buy ≤ max(102% × best ask, ask + 10 ticks); sell ≥ min(98% × best bid, bid − 10 ticks)', () => {
  const { outcome, sell, recorder } = setup('SSE_MAIN');
  // Empty book: both references are the previous close 10.00 → buy ≤ 10.20, sell ≥ 9.80.
  assert.equal(outcome('BUY', '10.21', 100), 'OUTSIDE_PRICE_CAGE');
  assert.match(recorder.ofType('rejected').at(-1)!.detail, /cage ceiling 102000/);
  assert.equal(outcome('SELL', '9.79', 100), 'OUTSIDE_PRICE_CAGE');
  sell('10.50', 100); // best ask 10.50 → ceiling max(10.71, 10.60) = 10.71
  assert.equal(outcome('BUY', '10.72', 100), 'OUTSIDE_PRICE_CAGE');
  assert.equal(outcome('BUY', '10.40', 100), 'ACCEPTED'); // best bid 10.40 → sell floor min(10.192→10.20, 10.30) = 10.20
  assert.equal(outcome('SELL', '10.19', 100), 'OUTSIDE_PRICE_CAGE');
  assert.equal(outcome('SELL', '10.20', 100), 'ACCEPTED');
});

test('cage widths differ by board: BSE 5% or 10 ticks', () => {
  const { outcome } = setup('BSE');
  // Empty book: the reference is the previous close 10.00 → ceiling max(10.50, 10.10).
  assert.equal(outcome('BUY', '10.51', 100), 'OUTSIDE_PRICE_CAGE');
  assert.equal(outcome('BUY', '10.50', 100), 'ACCEPTED');
});

test('cage, hold mode (SZSE main): the order is accepted, kept off the book, and enters when the cage moves to it', () => {
  const { engine, recorder, buy, sell, symbol } = setup('SZSE_MAIN');
  const s1 = sell('10.00', 100);
  const s2 = sell('10.10', 100);
  // Best ask 10.00 → ceiling max(10.20, 10.10) = 10.20: a buy at 10.25 is held.
  const held = buy('10.25', 200);
  assert.ok(held > 0);
  assert.deepEqual(
    recorder.events.slice(-2).map((e) => e.type),
    ['accepted', 'held'],
  );
  const view = engine.order(held)!;
  assert.equal(view.held, true);
  assert.equal(engine.snapshot(symbol).bids.length, 0, 'held orders are not on the book');
  assert.equal(engine.snapshot(symbol).heldOrders, 1);
  assert.deepEqual(engine.heldOrders(symbol).map((o) => o.id), [held]);
  // Someone lifts the 10.00 offer: the best ask is 10.10, the ceiling max(10.302, 10.20) → 10.30.
  buy('10.00', 100);
  assert.deepEqual(
    recorder.events.slice(-8).map((e) => e.type),
    ['accepted', 'trade', 'filled', 'filled', 'released', 'trade', 'filled', 'filled'],
  );
  assert.deepEqual(
    recorder.trades.slice(0, 1).map((t) => t.sellOrderId),
    [s1],
  );
  assert.deepEqual(
    [recorder.trades[1]!.buyOrderId, recorder.trades[1]!.sellOrderId, recorder.trades[1]!.price, recorder.trades[1]!.qty],
    [held, s2, px('10.10'), 100],
  );
  assert.equal(view.held, false);
  assert.equal(view.bookPrice, px('10.25'));
  assert.deepEqual(engine.queueAt(symbol, 'BUY', px('10.25')), [held]);
  assert.equal(engine.snapshot(symbol).heldOrders, 0);
});

test('held orders come back in arrival order, each as a new arrival at the back of its queue', () => {
  const { engine, recorder, buy, sell, symbol } = setup('CHINEXT');
  sell('10.00', 100);
  sell('10.10', 100);
  // ChiNext cage is 2% / 10 ticks, hold mode, like the SZSE main board.
  const h1 = buy('10.25', 100);
  const h2 = buy('10.22', 100);
  assert.equal(engine.snapshot(symbol).heldOrders, 2);
  buy('10.00', 100);
  const released = recorder.ofType('released').map((e) => e.orderId);
  assert.deepEqual(released, [h1, h2]);
  // h1 came first and took the 10.10 offer; h2 then rests at 10.22.
  assert.equal(recorder.trades.at(-1)?.buyOrderId, h1);
  assert.deepEqual(engine.queueAt(symbol, 'BUY', px('10.22')), [h2]);
});

test('a held sell below the floor; a held order can be cancelled; it stays held through the closing call and expires at the close', () => {
  const { engine, recorder, buy, sell, symbol } = setup('SZSE_MAIN');
  const bid = buy('10.00', 100);
  const low = sell('9.75', 100); // floor min(9.80, 9.90) = 9.80
  const lower = sell('9.70', 100);
  assert.equal(engine.snapshot(symbol).heldOrders, 2);
  assert.equal(engine.cancel(low), true);
  assert.equal(recorder.ofType('cancelled').at(-1)?.reason, 'REQUESTED');
  assert.equal(engine.snapshot(symbol).heldOrders, 1);
  engine.setPhase('CLOSING_CALL');
  assert.equal(engine.snapshot(symbol).heldOrders, 1, 'the cage releases into continuous trading only');
  engine.setPhase('CLOSED');
  assert.equal(engine.expireAll(symbol), 2);
  assert.deepEqual(
    recorder.ofType('cancelled').map((c) => [c.orderId, c.reason]),
    [
      [low, 'REQUESTED'],
      [bid, 'END_OF_DAY'],
      [lower, 'END_OF_DAY'],
    ],
  );
});

test('the cage mode is a per-board setting', () => {
  const holdEverywhere = Object.fromEntries(
    Object.entries(DEFAULT_PRICE_CAGE_SETTINGS).map(([board, cage]) => [board, { ...cage, mode: 'hold' as const }]),
  ) as typeof DEFAULT_PRICE_CAGE_SETTINGS;
  const sse = setup('SSE_MAIN', 'CONTINUOUS', { engine: { cageSettings: holdEverywhere } });
  const id = sse.buy('10.50', 100);
  assert.ok(id > 0);
  assert.equal(sse.engine.order(id)?.held, true);
  // And the defaults: STAR rejects, ChiNext holds.
  assert.equal(setup('STAR').outcome('BUY', '10.50', 200), 'OUTSIDE_PRICE_CAGE');
  const chinext = setup('CHINEXT');
  assert.equal(chinext.outcome('BUY', '10.50', 100), 'ACCEPTED');
  assert.equal(chinext.engine.snapshot(chinext.symbol).heldOrders, 1);
});

test('cancels per phase: allowed 09:15–09:20 and in continuous trading; refused 09:20–09:30, at lunch, in the closing call and when closed', () => {
  const { engine, recorder, buy } = setup('SSE_MAIN', 'OPENING_CALL');
  const ids = Array.from({ length: 8 }, (_, i) => buy(px('9.90') - i * 100, 100));
  const expectations: Array<[Phase, boolean]> = [
    ['OPENING_CALL', true],
    ['OPENING_CALL_NO_CANCEL', false],
    ['PRE_CONTINUOUS', false],
    ['CONTINUOUS', true],
    ['LUNCH_BREAK', false],
    ['CLOSING_CALL', false],
    ['CLOSED', false],
    ['PRE_OPEN', false],
  ];
  expectations.forEach(([phase, allowed], i) => {
    engine.setPhase(phase);
    assert.equal(engine.cancel(ids[i]!), allowed, phase);
    if (!allowed) assert.equal(recorder.ofType('cancelRejected').at(-1)?.reason, 'PHASE_FORBIDS_CANCEL', phase);
  });
});

test('phases can be set per symbol', () => {
  const clock = new ManualClock(chinaInstant(20260105, 15, 10));
  const engine = new MatchingEngine({ clock });
  for (const symbol of ['600000.SH', '688981.SH']) {
    engine.addInstrument(makeInstrument({ symbol, name: symbol, listingDate: 20100104, previousClose: px('10.00') }), {
      band: limitBandFromClose(px('10.00'), 100_000),
    });
  }
  assert.equal(engine.phase('600000.SH'), 'PRE_OPEN');
  engine.setPhase('CLOSED');
  engine.setPhase('AFTER_HOURS_FIXED', '688981.SH');
  assert.equal(engine.phase('600000.SH'), 'CLOSED');
  assert.equal(engine.phase('688981.SH'), 'AFTER_HOURS_FIXED');
  engine.addInstrument(makeInstrument({ symbol: '000001.SZ', name: 'x', listingDate: 20100104, previousClose: px('10.00') }), {
    band: null,
  });
  assert.equal(engine.phase('000001.SZ'), 'CLOSED', 'new symbols start in the all-symbol phase');
});
