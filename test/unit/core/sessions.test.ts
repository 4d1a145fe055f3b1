import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TradingCalendar } from '../../../src/core/calendar.ts';
import { chinaInstant, MICROS_PER_DAY } from '../../../src/core/clock.ts';
import {
  A_SHARE_SESSIONS,
  buildMarketSessions,
  canCancel,
  canSubmit,
  DEFAULT_MARKET_SESSIONS,
  isCallAuction,
  isContinuous,
  makeSessionTable,
  phaseAt,
  phaseAtInstant,
  phaseInTable,
  PHASE_RULES,
  timeOfDay,
  type Phase,
} from '../../../src/core/sessions.ts';

const at = (h: number, m: number, s = 0) => timeOfDay(h, m, s);
const JUST_BEFORE = (t: number) => t - 1; // one microsecond earlier

test('the regular schedule is this table', () => {
  const rows = A_SHARE_SESSIONS.map((w) => [w.from / 60_000_000, w.phase]);
  assert.deepEqual(rows, [
    [0, 'PRE_OPEN'],
    [9 * 60 + 15, 'OPENING_CALL'],
    [9 * 60 + 20, 'OPENING_CALL_NO_CANCEL'],
    [9 * 60 + 25, 'PRE_CONTINUOUS'],
    [9 * 60 + 30, 'CONTINUOUS'],
    [11 * 60 + 30, 'LUNCH_BREAK'],
    [13 * 60, 'CONTINUOUS'],
    [14 * 60 + 57, 'CLOSING_CALL'],
    [15 * 60, 'CLOSED'],
  ]);
});

test('boundaries belong to the phase that starts there', () => {
  const cases: [number, Phase][] = [
    [0, 'PRE_OPEN'],
    [JUST_BEFORE(at(9, 15)), 'PRE_OPEN'],
    [at(9, 15), 'OPENING_CALL'],
    [JUST_BEFORE(at(9, 20)), 'OPENING_CALL'],
    [at(9, 20), 'OPENING_CALL_NO_CANCEL'],
    [at(9, 25), 'PRE_CONTINUOUS'],
    [JUST_BEFORE(at(9, 30)), 'PRE_CONTINUOUS'],
    [at(9, 30), 'CONTINUOUS'],
    [JUST_BEFORE(at(11, 30)), 'CONTINUOUS'],
    [at(11, 30), 'LUNCH_BREAK'],
    [JUST_BEFORE(at(13, 0)), 'LUNCH_BREAK'],
    [at(13, 0), 'CONTINUOUS'],
    [JUST_BEFORE(at(14, 57)), 'CONTINUOUS'],
    [at(14, 57), 'CLOSING_CALL'],
    [JUST_BEFORE(at(15, 0)), 'CLOSING_CALL'],
    [at(15, 0), 'CLOSED'],
    [at(15, 10), 'CLOSED'],
    [MICROS_PER_DAY - 1, 'CLOSED'],
  ];
  for (const [time, phase] of cases) assert.equal(phaseAt(time), phase, `at ${time}`);
});

test('after-hours fixed-price trading 15:05–15:30 on STAR and ChiNext only', () => {
  for (const board of ['STAR', 'CHINEXT'] as const) {
    assert.equal(phaseAt(at(15, 0), board), 'CLOSED');
    assert.equal(phaseAt(JUST_BEFORE(at(15, 5)), board), 'CLOSED');
    assert.equal(phaseAt(at(15, 5), board), 'AFTER_HOURS_FIXED');
    assert.equal(phaseAt(JUST_BEFORE(at(15, 30)), board), 'AFTER_HOURS_FIXED');
    assert.equal(phaseAt(at(15, 30), board), 'CLOSED');
    assert.equal(phaseAt(at(10, 0), board), 'CONTINUOUS');
  }
  for (const board of ['SSE_MAIN', 'SZSE_MAIN', 'BSE'] as const) {
    assert.equal(phaseAt(at(15, 10), board), 'CLOSED');
  }
  const withBse = buildMarketSessions(undefined, undefined, {
    SSE_MAIN: false,
    SZSE_MAIN: false,
    CHINEXT: true,
    STAR: true,
    BSE: true,
  });
  assert.equal(phaseAt(at(15, 10), 'BSE', withBse), 'AFTER_HOURS_FIXED');
  assert.equal(DEFAULT_MARKET_SESSIONS.byBoard.SSE_MAIN, A_SHARE_SESSIONS);
});

test('what each phase permits', () => {
  const expected: Record<Phase, [submit: boolean, cancel: boolean, call: boolean, continuous: boolean]> = {
    PRE_OPEN: [false, false, false, false],
    OPENING_CALL: [true, true, true, false],
    OPENING_CALL_NO_CANCEL: [true, false, true, false],
    PRE_CONTINUOUS: [false, false, false, false],
    CONTINUOUS: [true, true, false, true],
    LUNCH_BREAK: [false, false, false, false],
    CLOSING_CALL: [true, false, true, false],
    AFTER_HOURS_FIXED: [true, true, false, false],
    CLOSED: [false, false, false, false],
  };
  assert.deepEqual(Object.keys(PHASE_RULES).sort(), Object.keys(expected).sort());
  for (const [phase, [submit, cancel, call, continuous]] of Object.entries(expected) as [Phase, boolean[]][]) {
    assert.equal(canSubmit(phase), submit, phase);
    assert.equal(canCancel(phase), cancel, phase);
    assert.equal(isCallAuction(phase), call, phase);
    assert.equal(isContinuous(phase), continuous, phase);
  }
  // The brief's boundary cases in terms of permissions.
  assert.equal(canCancel(phaseAt(at(9, 19, 59))), true);
  assert.equal(canCancel(phaseAt(at(9, 20))), false);
  assert.equal(canSubmit(phaseAt(at(9, 24, 59))), true);
  assert.equal(canSubmit(phaseAt(at(9, 25))), false);
  assert.equal(canCancel(phaseAt(at(14, 57))), false);
});

test('phaseAtInstant uses China time and closes on non-trading days', () => {
  const calendar = new TradingCalendar([20261001]);
  assert.equal(phaseAtInstant(chinaInstant(20261123, 9, 30), calendar), 'CONTINUOUS');
  assert.equal(phaseAtInstant(chinaInstant(20261123, 9, 29, 59), calendar), 'PRE_CONTINUOUS');
  assert.equal(phaseAtInstant(chinaInstant(20261123, 15, 10), calendar, 'STAR'), 'AFTER_HOURS_FIXED');
  assert.equal(phaseAtInstant(chinaInstant(20261121, 10, 0), calendar), 'CLOSED'); // Saturday
  assert.equal(phaseAtInstant(chinaInstant(20261001, 10, 0), calendar), 'CLOSED'); // holiday
  // 01:30 UTC is 09:30 in China: the UTC date is irrelevant.
  assert.equal(phaseAtInstant(Date.UTC(2026, 10, 23, 1, 30) * 1000, calendar), 'CONTINUOUS');
});

test('another market can configure its own table', () => {
  const table = makeSessionTable([
    { from: 0, phase: 'CLOSED' },
    { from: at(9, 30), phase: 'CONTINUOUS' },
    { from: at(16, 0), phase: 'CLOSED' },
  ]);
  assert.equal(phaseInTable(table, at(12, 0)), 'CONTINUOUS');
  assert.equal(phaseInTable(table, at(16, 0)), 'CLOSED');
  assert.ok(Object.isFrozen(table) && Object.isFrozen(table[1]));
  assert.throws(() => makeSessionTable([{ from: at(1, 0), phase: 'CLOSED' }]), RangeError);
  assert.throws(
    () =>
      makeSessionTable([
        { from: 0, phase: 'CLOSED' },
        { from: at(10, 0), phase: 'CONTINUOUS' },
        { from: at(10, 0), phase: 'CLOSED' },
      ]),
    RangeError,
  );
  assert.throws(() => makeSessionTable([{ from: 0, phase: 'OPEN' as Phase }]), RangeError);
  assert.throws(() => makeSessionTable([{ from: 0, phase: 'toString' as Phase }]), RangeError);
  assert.throws(() => makeSessionTable([]), RangeError);
});

test('times of day outside [0, 24h) are programming errors', () => {
  assert.throws(() => phaseAt(-1), RangeError);
  assert.throws(() => phaseAt(MICROS_PER_DAY), RangeError);
  assert.throws(() => phaseAt(1.5), RangeError);
});

test('property: the phase only changes at table boundaries', () => {
  const boundaries = new Set(A_SHARE_SESSIONS.map((w) => w.from));
  fc.assert(
    fc.property(fc.integer({ min: 1, max: MICROS_PER_DAY - 1 }), (time) => {
      if (!boundaries.has(time)) assert.equal(phaseAt(time), phaseAt(time - 1));
    }),
  );
});
