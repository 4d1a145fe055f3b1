import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError } from '../../../src/core/errors.ts';
import { computeFees, computeFeesOnNotional, DEFAULT_FEE_SCHEDULE, rateToFen, validateFeeSchedule } from '../../../src/core/fees.ts';
import { parseYuan } from '../../../src/core/units.ts';

const y = parseYuan;

test('buy 1000 × 10.00: minimum commission, transfer fee, no stamp duty', () => {
  assert.deepEqual(computeFees('BUY', y('10.00'), 1_000), {
    commission: y('5.00'), // 0.025% of 10,000 = 2.50, below the 5 CNY minimum
    stampDuty: 0,
    transferFee: y('0.10'), // 0.001% of 10,000
    total: y('5.10'),
  });
});

test('sell 1000 × 10.00: stamp duty 0.05%', () => {
  assert.deepEqual(computeFees('SELL', y('10.00'), 1_000), {
    commission: y('5.00'),
    stampDuty: y('5.00'),
    transferFee: y('0.10'),
    total: y('10.10'),
  });
});

test('a large order pays the rate, not the minimum', () => {
  // 100,000 × 10.00 = 1,000,000 CNY
  assert.deepEqual(computeFees('BUY', y('10.00'), 100_000), {
    commission: y('250.00'),
    stampDuty: 0,
    transferFee: y('10.00'),
    total: y('260.00'),
  });
  assert.deepEqual(computeFees('SELL', y('10.00'), 100_000), {
    commission: y('250.00'),
    stampDuty: y('500.00'),
    transferFee: y('10.00'),
    total: y('760.00'),
  });
  // Just above the minimum: 20,400 CNY × 0.025% = 5.10
  assert.equal(computeFees('BUY', y('20.40'), 1_000).commission, y('5.10'));
});

test('each fee rounds once to whole fen, half up', () => {
  // 100 × 12.34 = 1,234 CNY: transfer 0.01234 → 0.01; stamp 0.617 → 0.62
  const fees = computeFees('SELL', y('12.34'), 100);
  assert.equal(fees.transferFee, y('0.01'));
  assert.equal(fees.stampDuty, y('0.62'));
  // 100 × 5.00 = 500 CNY: transfer exactly 0.005 → 0.01 (half up)
  assert.equal(computeFees('BUY', y('5.00'), 100).transferFee, y('0.01'));
  // 100 × 4.99 = 499 CNY: transfer 0.00499 → 0.00
  assert.equal(computeFees('BUY', y('4.99'), 100).transferFee, 0);
});

test('rateToFen is exact half-up rounding to fen, even for huge amounts', () => {
  // 1,495 CNY × 0.001% = 0.01495 CNY = 1.495 fen → 1 fen (a two-step rounding would make it 2).
  assert.equal(rateToFen(y('1495'), 10), 100);
  assert.equal(rateToFen(y('1500'), 10), 200); // 1.5 fen → 2 fen
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 9_000_000_000_000_000n }), fc.integer({ min: 0, max: 999_999 }), (amount, rate) => {
      const exact = (amount * BigInt(rate) * 2n + 100_000_000n) / 200_000_000n; // half-up in fen
      const amountNumber = Number(amount);
      if (!Number.isSafeInteger(amountNumber)) return;
      assert.equal(rateToFen(amountNumber, rate), Number(exact) * 100);
    }),
  );
});

test('no trade, no fee; bad inputs are programming errors', () => {
  assert.deepEqual(computeFees('SELL', y('10.00'), 0), { commission: 0, stampDuty: 0, transferFee: 0, total: 0 });
  assert.throws(() => computeFees('BUY', -1, 100), RangeError);
  assert.throws(() => computeFees('BUY', 100, -100), RangeError);
  assert.throws(() => computeFees('BUY', 100, 1.5), RangeError);
  assert.throws(() => computeFees('BUY', 9e12, 1e6), RangeError);
});

test('the schedule is configurable and validated', () => {
  const vip = { ...DEFAULT_FEE_SCHEDULE, commissionPpm: 100, minCommission: 0 };
  assert.equal(computeFees('BUY', y('10.00'), 1_000, vip).commission, y('1.00'));
  const oldStamp = { ...DEFAULT_FEE_SCHEDULE, stampDutySellPpm: 1_000 };
  assert.equal(computeFees('SELL', y('10.00'), 1_000, oldStamp).stampDuty, y('10.00'));
  validateFeeSchedule(DEFAULT_FEE_SCHEDULE);
  assert.throws(
    () => validateFeeSchedule({ ...DEFAULT_FEE_SCHEDULE, minCommission: 5 }),
    (error: unknown) => error instanceof ConfigError && error.key === 'fees.minCommission',
  );
  assert.throws(
    () => validateFeeSchedule({ ...DEFAULT_FEE_SCHEDULE, commissionPpm: 0.00025 }),
    (error: unknown) => error instanceof ConfigError && error.key === 'fees.commissionPpm',
  );
});

test('property: fees are whole fen, total is their sum, sells never pay less', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 500_000 }), fc.integer({ min: 1, max: 1_000_000 }), (priceTicks, qty) => {
      const price = priceTicks * 100;
      const buy = computeFees('BUY', price, qty);
      const sell = computeFees('SELL', price, qty);
      for (const fees of [buy, sell]) {
        assert.equal(fees.commission % 100, 0);
        assert.equal(fees.stampDuty % 100, 0);
        assert.equal(fees.transferFee % 100, 0);
        assert.equal(fees.total, fees.commission + fees.stampDuty + fees.transferFee);
        assert.ok(fees.commission >= DEFAULT_FEE_SCHEDULE.minCommission);
      }
      assert.equal(buy.stampDuty, 0);
      assert.ok(sell.total >= buy.total);
    }),
  );
});

test('fees on an exact notional (several fill prices) follow the definition', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ qty: fc.integer({ min: 1, max: 5_000 }), ticks: fc.integer({ min: 1, max: 100_000 }) }), {
        minLength: 1,
        maxLength: 8,
      }),
      (fills) => {
        const notional = fills.reduce((a, f) => a + f.qty * f.ticks * 100, 0);
        const fees = computeFeesOnNotional('SELL', notional);
        assert.equal(fees.stampDuty, rateToFen(notional, DEFAULT_FEE_SCHEDULE.stampDutySellPpm));
        assert.equal(fees.transferFee, rateToFen(notional, DEFAULT_FEE_SCHEDULE.transferFeePpm));
        assert.equal(
          fees.commission,
          Math.max(rateToFen(notional, DEFAULT_FEE_SCHEDULE.commissionPpm), DEFAULT_FEE_SCHEDULE.minCommission),
        );
        if (fills.length === 1) {
          const [f] = fills as [{ qty: number; ticks: number }];
          assert.deepEqual(computeFees('SELL', f.ticks * 100, f.qty), fees);
        }
      },
    ),
  );
  // Why not avgPrice × qty: fills of 133, 133 and 134 units make 400 exactly, but the average
  // rounds to 133 and 133 × 3 = 399. At 125,000 ppm, 400 units pay exactly half a fen → 1 fen,
  // while 399 pay 49.875 units → 0 fen.
  const schedule = { ...DEFAULT_FEE_SCHEDULE, minCommission: 0, commissionPpm: 125_000 };
  assert.equal(computeFeesOnNotional('BUY', 400, schedule).commission, 100);
  assert.equal(computeFees('BUY', 133, 3, schedule).commission, 0);
  assert.equal(computeFeesOnNotional('BUY', 0).total, 0);
  assert.throws(() => computeFeesOnNotional('BUY', -1), RangeError);
  assert.throws(() => computeFeesOnNotional('BUY', 0.5), RangeError);
});
