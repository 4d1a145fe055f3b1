import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPpm, formatYuan, parseYuan, roundToFen, yuan } from '../../../src/core/units.ts';
import { chinaDate, chinaInstant, chinaTimeOfDay, daysBetween, ManualClock, LiveClock } from '../../../src/core/clock.ts';
import { SequentialIds } from '../../../src/core/ids.ts';

test('parseYuan is exact and rejects more than 4 decimals', () => {
  assert.equal(parseYuan('10.05'), 100_500);
  assert.equal(parseYuan('0.0001'), 1);
  assert.equal(parseYuan('-3'), -30_000);
  assert.throws(() => parseYuan('1.00001'), RangeError);
  assert.throws(() => parseYuan('abc'), RangeError);
});

test('yuan and formatYuan round-trip at tick precision', () => {
  assert.equal(yuan(12.34), 123_400);
  assert.equal(yuan(-0.015), -150);
  assert.equal(formatYuan(123_400), '12.34');
  assert.equal(formatYuan(-150, 4), '-0.0150');
  assert.equal(formatYuan(5, 4), '0.0005');
});

test('roundToFen and applyPpm round half up', () => {
  assert.equal(roundToFen(149), 100);
  assert.equal(roundToFen(150), 200);
  assert.equal(applyPpm(10_000_000, 500), 5_000); // 0.05% of 1000 CNY = 0.5 CNY
  assert.equal(applyPpm(1, 500_000), 1); // half rounds up
});

test('China time: 09:30 CST is 01:30 UTC', () => {
  const t = chinaInstant(20261123, 9, 30);
  assert.equal(new Date(t / 1000).toISOString(), '2026-11-23T01:30:00.000Z');
  assert.equal(chinaDate(t), 20261123);
  assert.equal(chinaTimeOfDay(t), (9 * 60 + 30) * 60 * 1_000_000);
  assert.equal(chinaDate(chinaInstant(20261123, 23, 59)), 20261123);
  assert.equal(daysBetween(20261123, 20261201), 8);
});

test('ManualClock only moves forward', () => {
  const clock = new ManualClock(100);
  clock.advance(50);
  assert.equal(clock.nowMicros(), 150);
  assert.throws(() => clock.set(10), RangeError);
  assert.throws(() => clock.advance(-1), RangeError);
});

test('LiveClock is close to Date.now and monotonic', () => {
  const clock = new LiveClock();
  const a = clock.nowMicros();
  const b = clock.nowMicros();
  assert.ok(b >= a);
  assert.ok(Math.abs(a / 1000 - Date.now()) < 1000);
  assert.ok(Number.isInteger(a));
});

test('SequentialIds resume after the last sequence', () => {
  const ids = new SequentialIds('ma.1', 20261123, 41);
  assert.equal(ids.next(), 'ma.1-20261123-42');
  assert.equal(ids.lastSeq, 42);
  assert.throws(() => new SequentialIds('bad prefix', 20261123), RangeError);
});
