import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import grid from '../../../strategies/grid.ts';
import { yuan } from '../../../src/strategy/api.ts';
import { StrategyHarness } from '../../../src/strategy/testing.ts';

const SYM = '600000.SH';
const base = { symbol: SYM, reference: 10, stepTicks: 10, levels: 3, lots: 1 };

const prices = (orders: readonly { side: string; price: number }[], side: string) =>
  orders.filter((o) => o.side === side).map((o) => o.price).sort((a, b) => a - b);

test('places the buy levels below the reference, within the max position; no sells without sellable shares', async () => {
  const h = await StrategyHarness.start(grid, { params: { ...base, maxPosition: 200 } });
  await h.tick(SYM, { last: yuan(10) });
  assert.deepEqual(prices(h.openOrders(SYM), 'BUY'), [yuan(9.8), yuan(9.9)], 'only two buy levels fit in 200 shares');
  assert.deepEqual(prices(h.openOrders(SYM), 'SELL'), []);
  assert.ok(h.openOrders(SYM).every((o) => o.quantity === 100 && o.tag === 'grid'));
});

test('a fill moves the reference: stale levels are cancelled and new ones placed (cancel/replace)', async () => {
  const h = await StrategyHarness.start(grid, { params: { ...base, maxPosition: 600 }, positions: [{ symbol: SYM, quantity: 300, avgCost: yuan(10) }] });
  await h.tick(SYM, { last: yuan(10) });
  assert.deepEqual(prices(h.openOrders(SYM), 'BUY'), [yuan(9.7), yuan(9.8), yuan(9.9)]);
  assert.deepEqual(prices(h.openOrders(SYM), 'SELL'), [yuan(10.1), yuan(10.2), yuan(10.3)]);
  const buy970 = h.openOrders(SYM).find((o) => o.price === yuan(9.7))!.clientOrderId;
  const sell1020 = h.openOrders(SYM).find((o) => o.price === yuan(10.2))!.clientOrderId;

  await h.tick(SYM, { last: yuan(10.1), bid: yuan(10.1), ask: yuan(10.11) }); // the 10.10 sell fills
  assert.equal(h.state.reference, yuan(10.1));
  assert.ok(h.cancelled.includes(buy970), 'the 9.70 buy is off the new grid');
  assert.ok(!h.cancelled.includes(sell1020), 'the 10.20 sell is still a level: kept, not replaced');
  assert.deepEqual(prices(h.openOrders(SYM), 'BUY'), [yuan(9.8), yuan(9.9), yuan(10)]);
  assert.deepEqual(prices(h.openOrders(SYM), 'SELL'), [yuan(10.2), yuan(10.3)], 'no sellable shares left for 10.40');
  assert.equal(h.position(SYM).quantity, 200);
});

test('mean reversion: bought on the way down, sold on the way up (next day, T+1)', async () => {
  // 10 lots a level: with 100 shares the 5 CNY minimum commission would eat the 10 CNY step.
  const h = await StrategyHarness.start(grid, { params: { ...base, lots: 10, maxPosition: 3_000 } });
  await h.ticks(SYM, [yuan(10), yuan(9.95), yuan(9.85), yuan(9.75), yuan(9.65)]); // buys 9.90, 9.80, 9.70
  assert.equal(h.position(SYM).quantity, 3_000);
  assert.equal(h.state.reference, yuan(9.7));
  assert.equal(h.position(SYM).sellable, 0);
  assert.deepEqual(prices(h.openOrders(SYM), 'SELL'), [], 'bought today: no sells yet');

  await h.advanceTo(h.at('09:30', 20260106));
  await h.ticks(SYM, [yuan(9.7), yuan(9.85), yuan(9.95), yuan(10.05)]);
  const sold = h.reports.flatMap((r) => (r.type === 'executionReport' && r.execType === 'TRADE' && r.side === 'SELL' ? [r.lastPrice] : []));
  assert.deepEqual(sold, [yuan(9.8), yuan(9.9), yuan(10)]);
  assert.equal(h.position(SYM).quantity, 0);
  assert.ok(h.position(SYM).realizedPnl > 0, `round trips earn about one step each, after fees: ${h.position(SYM).realizedPnl}`);
});

test('recenterAfterLevels: a runaway price moves the grid with it', async () => {
  const h = await StrategyHarness.start(grid, { params: { ...base, maxPosition: 300, recenterAfterLevels: 4 } });
  await h.tick(SYM, { last: yuan(10) });
  const before = h.openOrders(SYM).map((o) => o.clientOrderId);
  await h.tick(SYM, { last: yuan(10.4) });
  assert.equal(h.state.reference, yuan(10.4));
  assert.deepEqual([...h.cancelled].sort(), [...before].sort(), 'every old level is cancelled');
  assert.deepEqual(prices(h.openOrders(SYM), 'BUY'), [yuan(10.1), yuan(10.2), yuan(10.3)]);
});

test('levels outside the daily limits are not placed', async () => {
  const h = await StrategyHarness.start(grid, {
    params: { ...base, reference: 9.1, maxPosition: 1_000 },
    instruments: [{ symbol: SYM, prevClose: yuan(10) }], // limits 9.00 – 11.00
  });
  await h.tick(SYM, { last: yuan(9.1) });
  assert.deepEqual(prices(h.openOrders(SYM), 'BUY'), [yuan(9)]);
  assert.equal(h.reports.filter((r) => r.type === 'orderDenied').length, 0);
});

test('property: on any price path the position never exceeds maxPosition, even counting open buys', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: -25, max: 25 }), { minLength: 5, maxLength: 40 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 0, max: 8 }),
      async (moves, levels, maxLots) => {
        const maxPosition = maxLots * 100;
        const h = await StrategyHarness.start(grid, { params: { ...base, levels, maxPosition, stepTicks: 5 }, positions: [{ symbol: SYM, quantity: 200 }] });
        let price = yuan(10);
        for (const move of moves) {
          price += move * 100;
          await h.tick(SYM, { last: price });
          await h.advance(3_000);
          const pos = h.position(SYM);
          const openBuys = h.openOrders(SYM).filter((o) => o.side === 'BUY').reduce((n, o) => n + o.leavesQty, 0);
          // Buys only happen while held + open buys fit under maxPosition (the seeded 200 may exceed it).
          assert.ok(pos.quantity + openBuys <= Math.max(maxPosition, 200), `exposure ${pos.quantity} + ${openBuys} > ${maxPosition}`);
          assert.deepEqual(h.broker().position(SYM).quantity, pos.quantity);
        }
        assert.equal(h.reports.filter((r) => r.type === 'orderDenied').length, 0, 'every order respected lots, tick grid, limits and T+1');
      },
    ),
    { numRuns: 40 },
  );
});

test('a refused order pauses the grid for retryAfterMs instead of re-sending the levels on every tick', async () => {
  // 1,500 CNY buys one level of 100 × 9.90 but not the next: that one is denied INSUFFICIENT_CASH.
  const h = await StrategyHarness.start(grid, { params: { ...base, maxPosition: 300, retryAfterMs: 5_000 }, cash: yuan(1_500) });
  await h.tick(SYM, { last: yuan(10) });
  const afterFirst = h.submitted.length;
  assert.ok(h.logs.some((l) => /grid order refused; pausing/.test(l.message)), 'a level was refused');
  for (let i = 0; i < 20; i++) {
    await h.advance(100);
    await h.tick(SYM, { last: yuan(10) });
  }
  assert.equal(h.submitted.length, afterFirst, 'nothing re-sent during the pause');
  await h.advance(5_000);
  await h.tick(SYM, { last: yuan(10) });
  assert.ok(h.submitted.length > afterFirst, 'the grid tries again after the pause');
});
