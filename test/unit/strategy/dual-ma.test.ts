import { test } from 'node:test';
import assert from 'node:assert/strict';
import dualMa from '../../../strategies/dual-ma.ts';
import { yuan } from '../../../src/strategy/api.ts';
import { StrategyHarness } from '../../../src/strategy/testing.ts';

const SYM = '600000.SH';
const params = { fast: 3, slow: 6, lots: 2 };
const flat = (price: number, n: number) => Array.from({ length: n }, () => yuan(price));
const ramp = (from: number, step: number, n: number) => Array.from({ length: n }, (_, i) => yuan(from) + i * yuan(step));

test('buys exactly once when fast crosses above slow, at the ask, in whole lots', async () => {
  const h = await StrategyHarness.start(dualMa, { symbols: [SYM], params });
  await h.ticks(SYM, flat(10, 8)); // full windows, fast == slow: no signal
  assert.equal(h.submitted.length, 0);
  await h.ticks(SYM, ramp(10.05, 0.05, 10)); // fast rises above slow and stays there
  assert.equal(h.submitted.length, 1);
  const buy = h.submitted[0]!;
  assert.deepEqual([buy.side, buy.quantity, buy.price, buy.tag], ['BUY', 200, yuan(10.05) + 100, 'cross-up']);
  assert.equal(h.position(SYM).quantity, 200);
});

test('no trade at start-up when the first full window is already trending', async () => {
  const h = await StrategyHarness.start(dualMa, { symbols: [SYM], params });
  await h.ticks(SYM, ramp(10, 0.05, 20));
  assert.equal(h.submitted.length, 0, 'the first full window only establishes the relation');
});

test('T+1: a same-day cross down waits for the next trading day, then sells the whole position', async () => {
  const h = await StrategyHarness.start(dualMa, { symbols: [SYM], params });
  await h.ticks(SYM, [...flat(10, 6), ...ramp(10.05, 0.05, 4)]);
  assert.equal(h.position(SYM).quantity, 200);
  await h.ticks(SYM, ramp(10.1, -0.05, 6)); // falls: fast below slow
  assert.equal(h.submitted.filter((o) => o.side === 'SELL').length, 0, 'bought today: nothing is sellable');
  assert.equal(h.state.symbols[SYM]?.exitPending, true);
  assert.ok(h.logs.some((l) => /T\+1/.test(l.message)));

  await h.advanceTo(h.at('09:30', 20260106));
  await h.ticks(SYM, [yuan(9.8)]); // still below: the pending exit goes out
  const sells = h.submitted.filter((o) => o.side === 'SELL');
  assert.equal(sells.length, 1);
  assert.deepEqual([sells[0]!.quantity, sells[0]!.price], [200, yuan(9.8)]);
  assert.equal(h.position(SYM).quantity, 0);
  assert.equal(h.state.symbols[SYM]?.exitPending, false);
});

test('a cross down sells the sellable position at once, odd lot included', async () => {
  const h = await StrategyHarness.start(dualMa, { symbols: [SYM], params, positions: [{ symbol: SYM, quantity: 1_050, avgCost: yuan(9) }] });
  await h.ticks(SYM, [...flat(10, 6), ...ramp(10.05, 0.05, 3)]); // fast above slow (not flat: no buy)
  await h.ticks(SYM, ramp(10.1, -0.1, 5));
  const sells = h.submitted.filter((o) => o.side === 'SELL');
  assert.equal(sells.length, 1);
  assert.equal(sells[0]!.quantity, 1_050);
  assert.equal(h.position(SYM).quantity, 0);
  assert.ok(h.position(SYM).realizedPnl > 0);
  assert.equal(h.reports.filter((r) => r.type === 'orderDenied').length, 0);
});

test('the averages survive a restart (they live in ctx.state)', async () => {
  const path = [...flat(10, 8), ...ramp(10.05, 0.05, 10)];
  const h = await StrategyHarness.start(dualMa, { symbols: [SYM], params });
  await h.ticks(SYM, path.slice(0, 9));
  await h.restart();
  await h.advance(3_000);
  await h.ticks(SYM, path.slice(9));
  assert.equal(h.submitted.length, 1, 'same single buy as without the restart');
});

test('STAR symbols trade the board minimum (200 shares a lot)', async () => {
  const star = '688001.SH';
  const h = await StrategyHarness.start(dualMa, { symbols: [star], params: { fast: 2, slow: 4, lots: 1 } });
  await h.ticks(star, [...flat(50, 4), ...ramp(50.1, 0.1, 3)]);
  assert.equal(h.submitted[0]?.quantity, 200);
  assert.equal(h.reports.filter((r) => r.type === 'orderDenied').length, 0);
});

test('ticks outside continuous trading do not trade', async () => {
  const h = await StrategyHarness.start(dualMa, { symbols: [SYM], params, start: h0('11:31') });
  await h.ticks(SYM, [...flat(10, 6), ...ramp(10.05, 0.05, 4)]); // lunch break
  assert.equal(h.submitted.length, 0);
});

test('parameters: fast must be shorter than slow', async () => {
  await assert.rejects(StrategyHarness.start(dualMa, { params: { fast: 6, slow: 6 } }), /strategies\.dual_ma\.params\.fast: fast must be shorter than slow/);
});

function h0(hhmm: string): number {
  const [hh, mm] = hhmm.split(':').map(Number) as [number, number];
  return Date.UTC(2026, 0, 5, hh - 8, mm) * 1000;
}
