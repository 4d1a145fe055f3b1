import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  assertValidDate,
  fromDayNumber,
  isValidDate,
  toDayNumber,
  TradingCalendar,
} from '../../../src/core/calendar.ts';

// 2025 Spring Festival closure: Tue 28 Jan – Tue 4 Feb (the weekend 1–2 Feb listed too, as exchanges do).
const SPRING_FESTIVAL_2025 = [20250128, 20250129, 20250130, 20250131, 20250201, 20250202, 20250203, 20250204];
const calendar = new TradingCalendar(SPRING_FESTIVAL_2025);

test('weekends never trade; weekdays trade unless a holiday', () => {
  const plain = new TradingCalendar();
  assert.equal(plain.isTradingDay(20261123), true); // Monday
  assert.equal(plain.isTradingDay(20261121), false); // Saturday
  assert.equal(plain.isTradingDay(20261122), false); // Sunday
  assert.equal(calendar.isTradingDay(20250127), true);
  assert.equal(calendar.isTradingDay(20250128), false);
  assert.equal(calendar.isTradingDay(20250205), true);
});

test('next and previous trading day skip weekends and holidays (strictly after / before)', () => {
  assert.equal(calendar.nextTradingDay(20250124), 20250127); // Fri → Mon
  assert.equal(calendar.nextTradingDay(20250127), 20250205); // over the whole festival
  assert.equal(calendar.nextTradingDay(20250201), 20250205); // from inside a closure
  assert.equal(calendar.previousTradingDay(20250205), 20250127);
  assert.equal(calendar.previousTradingDay(20250127), 20250124);
  assert.equal(calendar.nextTradingDay(20251231), 20260101); // no holidays configured for 2026 here
  assert.equal(calendar.previousTradingDay(20260101), 20251231);
});

test('tradingDaysBetween counts (from, to] and mirrors when reversed', () => {
  assert.equal(calendar.tradingDaysBetween(20250127, 20250127), 0);
  assert.equal(calendar.tradingDaysBetween(20250124, 20250127), 1);
  assert.equal(calendar.tradingDaysBetween(20250127, 20250205), 1);
  assert.equal(calendar.tradingDaysBetween(20250120, 20250207), 8); // 21–24, 27, 5–7 Feb
  assert.equal(calendar.tradingDaysBetween(20250207, 20250120), -8);
  assert.equal(calendar.tradingDaysBetween(20250125, 20250126), 0); // Sat → Sun
});

test('tradingDayIndexSinceListing: the listing day is day 1', () => {
  assert.equal(calendar.tradingDayIndexSinceListing(20250120, 20250120), 1);
  assert.equal(calendar.tradingDayIndexSinceListing(20250120, 20250124), 5);
  assert.equal(calendar.tradingDayIndexSinceListing(20250120, 20250127), 6);
  assert.equal(calendar.tradingDayIndexSinceListing(20250124, 20250205), 3); // Fri, Mon, then after the festival
  // A listing date that does not trade (bad reference data): the next trading day is day 1.
  assert.equal(calendar.tradingDayIndexSinceListing(20250201, 20250205), 1);
  assert.throws(() => calendar.tradingDayIndexSinceListing(20250205, 20250204), RangeError);
});

test('invalid dates are programming errors', () => {
  assert.equal(isValidDate(20240229), true);
  assert.equal(isValidDate(20250229), false);
  assert.equal(isValidDate(21000229), false);
  assert.equal(isValidDate(20000229), true);
  assert.equal(isValidDate(20251301), false);
  assert.equal(isValidDate(20250100), false);
  assert.equal(isValidDate(2025010.5), false);
  assert.throws(() => assertValidDate(20250230, 'x'), /x is not a valid YYYYMMDD date/);
  assert.throws(() => calendar.isTradingDay(20250230), RangeError);
  assert.throws(() => new TradingCalendar([20250230]), RangeError);
});

test('holidays are deduplicated and sorted; weekend holidays change nothing', () => {
  const cal = new TradingCalendar([20250204, 20250128, 20250128, 20250201]);
  assert.deepEqual(cal.holidays, [20250128, 20250201, 20250204]);
  assert.equal(cal.tradingDaysBetween(20250127, 20250207), 7); // 9 weekdays minus the 2 weekday holidays
});

const dateArb = fc
  .date({ min: new Date('1995-01-01T00:00:00Z'), max: new Date('2040-12-31T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.getUTCFullYear() * 10_000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate());

test('day numbers agree with Date.UTC and round-trip', () => {
  fc.assert(
    fc.property(dateArb, (date) => {
      const expected =
        Date.UTC(Math.floor(date / 10_000), (Math.floor(date / 100) % 100) - 1, date % 100) / 86_400_000;
      assert.equal(toDayNumber(date), expected);
      assert.equal(fromDayNumber(toDayNumber(date)), date);
    }),
  );
});

test('counting agrees with a day-by-day walk for random holiday sets', () => {
  const windowArb = fc.tuple(
    fc.integer({ min: toDayNumber(20240101), max: toDayNumber(20261231) }),
    fc.integer({ min: 0, max: 60 }),
    fc.integer({ min: 0, max: 60 }),
    fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 15 }),
  );
  fc.assert(
    fc.property(windowArb, ([base, a, b, holidayOffsets]) => {
      const cal = new TradingCalendar(holidayOffsets.map((o) => fromDayNumber(base + o)));
      const from = fromDayNumber(base + a);
      const to = fromDayNumber(base + b);
      let walked = 0;
      for (let day = Math.min(a, b) + 1; day <= Math.max(a, b); day += 1) {
        if (cal.isTradingDay(fromDayNumber(base + day))) walked += 1;
      }
      assert.equal(cal.tradingDaysBetween(from, to), a <= b ? walked : 0 - walked); // 0 - 0 is +0, as the count is
      // next/previous are consistent with isTradingDay and with the count.
      const next = cal.nextTradingDay(from);
      assert.equal(cal.isTradingDay(next), true);
      assert.equal(cal.tradingDaysBetween(from, next), 1);
      const previous = cal.previousTradingDay(from);
      assert.equal(cal.isTradingDay(previous), true);
      assert.equal(cal.tradingDaysBetween(previous, from), cal.isTradingDay(from) ? 1 : 0);
    }),
  );
});
