import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SyntheticOrderFlow, DEFAULT_ORDER_FLOW, type FlowIntent } from '../../../src/sim/order-flow.ts';
import { buildUniverse } from '../../../src/sim/universe.ts';
import { limitBandFromClose, checkTickGrid, checkWithinLimit } from '../../../src/core/price-rules.ts';
import { checkLot } from '../../../src/core/lot-rules.ts';
import { SeededRandom } from '../../../src/sim/random.ts';

const universe = buildUniverse().map((instrument) => ({
  instrument,
  band: limitBandFromClose(instrument.previousClose, instrument.board === 'SSE_MAIN' || instrument.board === 'SZSE_MAIN' ? 100_000 : 200_000),
}));

test('the default universe spans SSE main, SZSE main, ChiNext and STAR', () => {
  const boards = new Set(universe.map((u) => u.instrument.board));
  assert.deepEqual([...boards].sort(), ['CHINEXT', 'SSE_MAIN', 'STAR', 'SZSE_MAIN']);
  assert.equal(universe.length, 10);
});

test('the same seed gives the same flow; another seed a different one', () => {
  const run = (seed: number) => {
    const out: FlowIntent[] = [];
    new SyntheticOrderFlow(universe, DEFAULT_ORDER_FLOW, seed).generate(500, (i) => out.push(i));
    return JSON.stringify(out);
  };
  assert.equal(run(7), run(7));
  assert.notEqual(run(7), run(8));
});

test('every synthetic order obeys tick, limit and lot rules', () => {
  const bands = new Map(universe.map((u) => [u.instrument.symbol, u]));
  const flow = new SyntheticOrderFlow(universe, DEFAULT_ORDER_FLOW, 3);
  let news = 0;
  let cancels = 0;
  flow.generate(20_000, (intent) => {
    if (intent.kind === 'cancel') {
      cancels++;
      return;
    }
    news++;
    const { instrument, band } = bands.get(intent.symbol)!;
    assert.ok(checkLot(instrument.board, intent.side, intent.qty).ok, `lot ${intent.qty} on ${instrument.board}`);
    if (intent.orderType === 'LIMIT') {
      assert.ok(checkTickGrid(intent.price).ok);
      assert.ok(checkWithinLimit(intent.price, band).ok);
    }
  });
  assert.ok(news > 10_000 && cancels > 2_000, `mix: ${news} new, ${cancels} cancels`);
});

test('arrivals over time follow the configured Poisson rate', () => {
  const flow = new SyntheticOrderFlow(universe, { ...DEFAULT_ORDER_FLOW, arrivalsPerSecond: 50 }, 11);
  let count = 0;
  for (let i = 0; i < 100; i++) count += flow.advance(100_000, () => {}); // 10 s in 100 ms steps
  const expected = 50 * 10 * universe.length; // 5000; sd ≈ 71
  assert.ok(Math.abs(count - expected) < 400, `got ${count}, expected about ${expected}`);
});

test('fair values stay inside the price limits', () => {
  const flow = new SyntheticOrderFlow(universe, { ...DEFAULT_ORDER_FLOW, dailyVolatilityPpm: 500_000 }, 5);
  flow.advance(3600 * 1_000_000, () => {});
  for (const { instrument, band } of universe) {
    const fair = flow.fairValue(instrument.symbol)!;
    assert.ok(fair > band.lower && fair < band.upper, `${instrument.symbol} fair ${fair}`);
  }
});

test('SeededRandom: uniform mean and range', () => {
  const random = new SeededRandom(42);
  let sum = 0;
  for (let i = 0; i < 10_000; i++) {
    const x = random.next();
    assert.ok(x >= 0 && x < 1);
    sum += x;
  }
  assert.ok(Math.abs(sum / 10_000 - 0.5) < 0.02);
});
