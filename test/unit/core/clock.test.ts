import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, MarketTimeClock } from '../../../src/core/clock.ts';

test('before any tick market time is the base clock', () => {
  const market = new MarketTimeClock(new ManualClock(1_000_000));
  assert.equal(market.nowMicros(), 1_000_000);
});

test('an accelerated market far behind the wall clock: strategy time jumps to the venue day and runs on', () => {
  const wall = new ManualClock(5_000_000_000);
  const market = new MarketTimeClock(wall);
  assert.equal(market.nowMicros(), 5_000_000_000);
  market.observe(1_000_000_000, 5_000_000_000); // venue 4,000 s behind
  assert.equal(market.nowMicros(), 1_000_000_000, 'a jump of more than a second re-synchronises');
  wall.advance(2_500);
  assert.equal(market.nowMicros(), 1_000_002_500);
});

test('latency jitter of a live feed never makes market time run backwards', () => {
  const wall = new ManualClock(10_000_000);
  const market = new MarketTimeClock(wall);
  market.observe(9_999_900, 10_000_000); // 100 µs latency
  assert.equal(market.nowMicros(), 10_000_000 - 100);
  wall.advance(1_000);
  assert.equal(market.nowMicros(), 10_000_900);
  market.observe(10_000_400, 10_001_000); // now 600 µs latency: would step back 500 µs
  assert.equal(market.nowMicros(), 10_000_900, 'held at the last time returned');
  wall.advance(1_000);
  assert.equal(market.nowMicros(), 10_001_400);
});
