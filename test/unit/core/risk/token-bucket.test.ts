import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TokenBucket } from '../../../../src/core/risk/token-bucket.ts';
import { DailyCounter, chinaDayNumber } from '../../../../src/core/risk/daily-counter.ts';
import { chinaInstant } from '../../../../src/core/clock.ts';

const SECOND = 1_000_000;

test('token bucket: starts full; exactly `capacity` actions pass at one instant, the next waits', () => {
  const bucket = new TokenBucket(5, 10);
  const t = 1_000_000_000;
  for (let i = 0; i < 5; i += 1) assert.equal(bucket.tryTake(t), true, `action ${i + 1}`);
  assert.equal(bucket.canTake(t), false);
  assert.equal(bucket.tryTake(t), false);
  assert.equal(bucket.available(t), 0);
  // 10 per second: one token every 100 ms, not a microsecond earlier.
  assert.equal(bucket.waitMicros(t), 100_000);
  assert.equal(bucket.canTake(t + 99_999), false);
  assert.equal(bucket.canTake(t + 100_000), true);
});

test('token bucket: refill after time never exceeds capacity', () => {
  const bucket = new TokenBucket(3, 2);
  const t = 5 * SECOND;
  while (bucket.tryTake(t));
  assert.equal(bucket.available(t + SECOND), 2);
  assert.equal(bucket.available(t + 10 * SECOND), 3);
  // A year idle: no overflow, still capped.
  assert.equal(bucket.available(t + 365 * 86_400 * SECOND), 3);
});

test('token bucket: take() counts on credit; the debt is repaid before anything passes', () => {
  const bucket = new TokenBucket(1, 1);
  bucket.take(0);
  bucket.take(0);
  assert.equal(bucket.available(0), -1);
  assert.equal(bucket.canTake(SECOND), false);
  assert.equal(bucket.canTake(2 * SECOND), true);
});

test('token bucket: time going backwards neither refills nor rewinds', () => {
  const bucket = new TokenBucket(2, 1);
  bucket.take(10 * SECOND);
  bucket.take(10 * SECOND);
  assert.equal(bucket.canTake(9 * SECOND), false);
  assert.equal(bucket.canTake(10 * SECOND + 999_999), false);
  assert.equal(bucket.canTake(11 * SECOND), true);
});

test('token bucket: reconfigure keeps tokens held, capped at the new capacity', () => {
  const bucket = new TokenBucket(10, 10);
  bucket.reconfigure(4, 10);
  assert.equal(bucket.available(0), 4);
  bucket.reconfigure(8, 10);
  assert.equal(bucket.available(0), 4);
  assert.throws(() => bucket.reconfigure(0, 1), RangeError);
  assert.throws(() => bucket.reconfigure(1, 0.5), RangeError);
});

test('property: with rate = L + 1 − capacity no window [t, t + 1 s) passes more than L actions', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 0, max: 100 }),
      fc.array(fc.integer({ min: 0, max: 300_000 }), { minLength: 1, maxLength: 300 }),
      (limit, burstPct, gaps) => {
        const capacity = Math.max(1, Math.floor((limit * burstPct) / 100));
        const bucket = new TokenBucket(capacity, limit + 1 - capacity);
        const passed: number[] = [];
        let t = 0;
        for (const gap of gaps) {
          t += gap;
          if (bucket.tryTake(t)) passed.push(t);
        }
        for (let i = 0; i < passed.length; i += 1) {
          let j = i;
          while (j < passed.length && (passed[j] as number) < (passed[i] as number) + SECOND) j += 1;
          assert.ok(j - i <= limit, `${j - i} actions within one second from ${passed[i]} (limit ${limit}, burst ${capacity})`);
        }
      },
    ),
  );
});

test('property: a steady stream at the limit rate is never refused after the burst', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 50 }), (rate) => {
      const bucket = new TokenBucket(1, rate);
      const step = Math.ceil(SECOND / rate);
      for (let i = 0; i < 3 * rate; i += 1) assert.equal(bucket.tryTake(i * step), true);
    }),
  );
});

test('daily counter: counts within a China day and starts over at China midnight', () => {
  const counter = new DailyCounter();
  const day1 = chinaInstant(20261124, 23, 59, 59);
  const day2 = chinaInstant(20261125, 0, 0, 0);
  assert.equal(counter.countAt(day1), 0);
  assert.equal(counter.add(chinaInstant(20261124, 9, 30)), 1);
  assert.equal(counter.add(day1), 2);
  assert.equal(counter.countAt(day1), 2);
  assert.equal(counter.countAt(day2), 0, 'midnight China time is a new day');
  assert.equal(counter.countAt(day2 - 1), 2);
  assert.equal(counter.add(day2), 1);
  // A late caller from the previous day counts into the current day, never resurrects it.
  assert.equal(counter.add(day1), 2);
  assert.equal(counter.countAt(day2), 2);
});

test('China day number changes at 16:00 UTC (00:00 China time)', () => {
  const utcMidnight = Date.UTC(2026, 10, 24) * 1000;
  assert.equal(chinaDayNumber(utcMidnight + 16 * 3600 * SECOND) - chinaDayNumber(utcMidnight + 16 * 3600 * SECOND - 1), 1);
  assert.equal(chinaDayNumber(utcMidnight) - chinaDayNumber(utcMidnight - 1), 0);
});
