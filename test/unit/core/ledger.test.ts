import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Ledger, type MarkSource } from '../../../src/core/ledger.ts';
import { computeFeesOnNotional, DEFAULT_FEE_SCHEDULE } from '../../../src/core/fees.ts';

const Y = 10_000; // units per CNY
const SYM = '600036.SH';

function ledger(cash = 1_000_000 * Y, positions: { symbol: string; quantity: number; avgCost: number }[] = []) {
  return new Ledger({ tradingDate: 20261102, accounts: [{ id: 'A', cash, positions }] });
}

test('a buy freezes notional plus fees, a fill converts it, the rest is released on cancel', () => {
  const l = ledger();
  const price = 38 * Y;
  assert.deepEqual(l.freeze('o1', 'A', 'BUY', SYM, price, 1000), { ok: true });
  const frozen = price * 1000 + computeFeesOnNotional('BUY', price * 1000).total;
  assert.equal(l.frozenCash('A'), frozen);
  assert.equal(l.availableCash('A'), 1_000_000 * Y - frozen);

  const fill = l.fill('o1', 400, price - 100);
  assert.equal(fill.fee, computeFeesOnNotional('BUY', (price - 100) * 400).total);
  assert.equal(l.cash('A'), 1_000_000 * Y - (price - 100) * 400 - fill.fee);
  assert.equal(l.positionQty('A', SYM), 400);
  assert.equal(l.sellableQty('A', SYM), 0, 'T+1: bought today, not sellable');
  assert.ok(l.frozenCash('A') >= price * 600);

  l.release('o1');
  assert.equal(l.frozenCash('A'), 0);
  assert.equal(l.availableCash('A'), l.cash('A'));
  l.roll(20261103);
  assert.equal(l.sellableQty('A', SYM), 400, 'settled the next day');
  assert.equal(l.position('A', SYM)!.avgCost, Math.floor(((price - 100) * 400 + fill.fee) / 400 + 0.5));
});

test('per-fill fees add up to the fee of the whole order (commission minimum once)', () => {
  const l = ledger();
  l.freeze('o', 'A', 'BUY', SYM, 10 * Y, 1000);
  const fees = [l.fill('o', 100, 10 * Y).fee, l.fill('o', 300, 10 * Y).fee, l.fill('o', 600, 10 * Y).fee];
  assert.equal(fees.reduce((a, b) => a + b, 0), computeFeesOnNotional('BUY', 10 * Y * 1000).total);
  assert.equal(fees[0], DEFAULT_FEE_SCHEDULE.minCommission + computeFeesOnNotional('BUY', 10 * Y * 100).transferFee);
  assert.equal(l.frozenCash('A'), 0, 'a fully filled order releases its freeze');
});

test('buys beyond available cash and sells beyond the sellable position are refused without change', () => {
  const l = ledger(10_000 * Y, [{ symbol: SYM, quantity: 500, avgCost: 30 * Y }]);
  const denied = l.freeze('b', 'A', 'BUY', SYM, 100 * Y, 100);
  assert.equal(denied.ok, false);
  assert.equal(!denied.ok && denied.reason, 'INSUFFICIENT_CASH');
  assert.equal(l.frozenCash('A'), 0);
  assert.deepEqual(l.freeze('s1', 'A', 'SELL', SYM, 31 * Y, 300), { ok: true });
  assert.equal(l.sellableQty('A', SYM), 200);
  const over = l.freeze('s2', 'A', 'SELL', SYM, 31 * Y, 300);
  assert.equal(!over.ok && over.reason, 'EXCEEDS_SELLABLE_POSITION');
  assert.equal(l.freeze('x', 'NOPE', 'BUY', SYM, 1, 100).ok, false);
});

test('a sell realizes P&L against the average cost, net of fees', () => {
  const l = ledger(0, [{ symbol: SYM, quantity: 1000, avgCost: 30 * Y }]);
  l.freeze('s', 'A', 'SELL', SYM, 31 * Y, 400);
  const r = l.fill('s', 400, 32 * Y);
  assert.equal(r.fee, computeFeesOnNotional('SELL', 32 * Y * 400).total);
  assert.equal(r.realized, 2 * Y * 400 - r.fee);
  assert.equal(l.realizedPnl('A'), r.realized);
  assert.equal(l.cash('A'), 32 * Y * 400 - r.fee);
  assert.equal(l.positionQty('A', SYM), 600);
  assert.equal(l.position('A', SYM)!.frozen, 0);
  const marks: MarkSource = () => ({ price: 32 * Y, prevClose: 30 * Y });
  assert.equal(l.dayPnl('A', marks), 2 * Y * 1000 - r.fee);
  assert.equal(l.grossExposure('A', marks), 600 * 32 * Y);
});

test('a late fill after release is still booked (cash and position), nothing stays frozen', () => {
  const l = ledger();
  l.freeze('o', 'A', 'BUY', SYM, 10 * Y, 1000);
  l.release('o');
  l.fill('o', 100, 10 * Y);
  assert.equal(l.frozenCash('A'), 0);
  assert.equal(l.positionQty('A', SYM), 100);
});

interface Op {
  side: 'BUY' | 'SELL';
  limit: number;
  qty: number;
  fills: Array<{ qty: number; below: number }>;
}

const opArb: fc.Arbitrary<Op> = fc.record({
  side: fc.constantFrom('BUY' as const, 'SELL' as const),
  limit: fc.integer({ min: 100, max: 2_000 }).map((c) => c * 100), // 1.00 .. 20.00 CNY
  qty: fc.integer({ min: 1, max: 50 }).map((l) => l * 100),
  fills: fc.array(fc.record({ qty: fc.integer({ min: 1, max: 3_000 }), below: fc.integer({ min: 0, max: 50 }).map((c) => c * 100) }), { maxLength: 4 }),
});

test('property: equity at one price changes only by fees; available cash never negative; freezes return to zero', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 30 }), fc.integer({ min: 1_000, max: 200_000 }), (ops, cashYuan) => {
      const l = ledger(cashYuan * Y, [{ symbol: SYM, quantity: 2_000, avgCost: 10 * Y }]);
      let feesPaid = 0;
      let cashOut = 0; // notional paid minus received
      let qtyChange = 0;
      ops.forEach((op, i) => {
        const key = `o${i}`;
        if (!l.freeze(key, 'A', op.side, SYM, op.limit, op.qty).ok) return;
        assert.ok(l.availableCash('A') >= 0, 'an accepted order never makes available cash negative');
        let left = op.qty;
        for (const f of op.fills) {
          const qty = Math.min(left, f.qty);
          if (qty === 0) break;
          // Buys fill at or below the limit; sells at or above it.
          const price = op.side === 'BUY' ? Math.max(100, op.limit - f.below) : op.limit + f.below;
          const r = l.fill(key, qty, price);
          feesPaid += r.fee;
          cashOut += op.side === 'BUY' ? price * qty : -price * qty;
          qtyChange += op.side === 'BUY' ? qty : -qty;
          left -= qty;
          assert.ok(l.availableCash('A') >= 0);
        }
        if (i % 2 === 0) l.release(key);
      });
      for (let i = 0; i < ops.length; i++) l.release(`o${i}`);
      assert.equal(l.frozenCash('A'), 0);
      assert.equal(l.position('A', SYM)?.frozen ?? 0, 0);
      assert.equal(l.cash('A'), cashYuan * Y - cashOut - feesPaid, 'cash conservation');
      assert.equal(l.positionQty('A', SYM), 2_000 + qtyChange, 'position conservation');
      assert.ok(l.cash('A') >= 0);
    }),
    { numRuns: 300 },
  );
});

test('day P&L of an unmarked position: average cost now against the start price; a second freeze of an order is refused', () => {
  const l = ledger(0, [{ symbol: SYM, quantity: 1000, avgCost: 30 * Y }]);
  const none: MarkSource = () => undefined;
  assert.equal(l.dayPnl('A', none), 0, 'nothing happened: average cost = start price');
  l.freeze('s', 'A', 'SELL', SYM, 31 * Y, 400);
  const r = l.fill('s', 400, 32 * Y);
  // 600 left at average cost 30 (start 1000 at 30) and the sale's cash.
  assert.equal(l.dayPnl('A', none), 32 * Y * 400 - r.fee + 600 * 30 * Y - 1000 * 30 * Y);
  const again = l.freeze('s', 'A', 'SELL', SYM, 31 * Y, 100);
  assert.equal(!again.ok && again.reason, 'DUPLICATE_FREEZE');
  assert.equal(l.position('A', SYM)!.frozen, 0, 'the refused freeze changed nothing');
});
