import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimSessionClock } from '../../../src/sim/session-clock.ts';
import { ManualClock, chinaInstant, MICROS_PER_MINUTE, MICROS_PER_SECOND } from '../../../src/core/clock.ts';
import { TradingCalendar } from '../../../src/core/calendar.ts';
import { timeOfDay } from '../../../src/core/sessions.ts';

const calendar = new TradingCalendar();

test('accelerated mode walks through the trading day from 09:15 at any hour', () => {
  const real = new ManualClock(chinaInstant(20261124, 22, 0)); // a Tuesday evening
  const clock = new SimSessionClock(real, { kind: 'accelerated', speed: 60, startTimeOfDay: timeOfDay(9, 15) }, calendar);
  assert.equal(clock.phase(), 'OPENING_CALL');
  real.advance(5 * MICROS_PER_SECOND); // 5 simulated minutes -> 09:20
  assert.equal(clock.phase(), 'OPENING_CALL_NO_CANCEL');
  real.advance(10 * MICROS_PER_SECOND); // 09:30
  assert.equal(clock.phase(), 'CONTINUOUS');
  real.advance(120 * MICROS_PER_SECOND); // 11:30
  assert.equal(clock.phase(), 'LUNCH_BREAK');
  real.advance(207 * MICROS_PER_SECOND); // 14:57
  assert.equal(clock.phase(), 'CLOSING_CALL');
  assert.equal(clock.phase('STAR'), 'CLOSING_CALL');
  real.advance(10 * MICROS_PER_SECOND); // 15:07
  assert.equal(clock.phase('SSE_MAIN'), 'CLOSED');
  assert.equal(clock.phase('STAR'), 'AFTER_HOURS_FIXED');
  assert.equal(clock.nowMicros(), chinaInstant(20261124, 15, 7));
});

test('accelerated mode on a weekend simulates the next trading day', () => {
  const real = new ManualClock(chinaInstant(20261128, 12, 0)); // Saturday
  const clock = new SimSessionClock(real, { kind: 'accelerated', speed: 1, startTimeOfDay: timeOfDay(9, 30) }, calendar);
  assert.equal(clock.tradingDate, 20261130);
  assert.equal(clock.phase(), 'CONTINUOUS');
});

test('real mode follows the calendar; continuous mode is always open', () => {
  const real = new ManualClock(chinaInstant(20261128, 10, 0)); // Saturday 10:00
  assert.equal(new SimSessionClock(real, { kind: 'real' }, calendar).phase(), 'CLOSED');
  assert.equal(new SimSessionClock(real, { kind: 'continuous' }, calendar).phase(), 'CONTINUOUS');
  const weekday = new ManualClock(chinaInstant(20261124, 10, 0));
  assert.equal(new SimSessionClock(weekday, { kind: 'real' }, calendar).phase(), 'CONTINUOUS');
  weekday.advance(3 * 60 * MICROS_PER_MINUTE); // 13:00
  assert.equal(new SimSessionClock(weekday, { kind: 'real' }, calendar).phase(), 'CONTINUOUS');
});

test('a bad speed is refused', () => {
  assert.throws(() => new SimSessionClock(new ManualClock(0), { kind: 'accelerated', speed: 0, startTimeOfDay: 0 }, calendar), RangeError);
});
