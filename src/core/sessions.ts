/**
 * Trading sessions: which phase the market is in at a China time of day, and what each phase
 * permits. The schedule is data — a table of (start time, phase) rows, each phase lasting
 * until the next row — so tests can assert it and another market can configure its own.
 */
import type { TradingCalendar } from './calendar.ts';
import type { Board } from './instruments.ts';
import { chinaDate, chinaTimeOfDay, MICROS_PER_DAY, MICROS_PER_MINUTE, MICROS_PER_SECOND, type Micros } from './clock.ts';
import { BOARDS } from './instruments.ts';

export const Phase = {
  /** Before the opening call: the exchange accepts nothing. */
  PRE_OPEN: 'PRE_OPEN',
  /** Opening call auction, orders and cancels accepted (09:15–09:20). */
  OPENING_CALL: 'OPENING_CALL',
  /** Opening call auction, orders accepted but no cancels (09:20–09:25). */
  OPENING_CALL_NO_CANCEL: 'OPENING_CALL_NO_CANCEL',
  /** After the opening match, before continuous trading: no orders, no cancels (09:25–09:30). */
  PRE_CONTINUOUS: 'PRE_CONTINUOUS',
  CONTINUOUS: 'CONTINUOUS',
  LUNCH_BREAK: 'LUNCH_BREAK',
  /** Closing call auction: orders but no cancels (14:57–15:00). */
  CLOSING_CALL: 'CLOSING_CALL',
  /** After-hours fixed-price trading at the close (STAR, ChiNext): 15:05–15:30. */
  AFTER_HOURS_FIXED: 'AFTER_HOURS_FIXED',
  CLOSED: 'CLOSED',
} as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

interface PhaseRules {
  readonly submit: boolean;
  readonly cancel: boolean;
  readonly callAuction: boolean;
  readonly continuous: boolean;
}

/** What each phase permits. Order-type restrictions (e.g. only fixed-price orders after hours) are the caller's. */
export const PHASE_RULES: Readonly<Record<Phase, PhaseRules>> = Object.freeze({
  PRE_OPEN: Object.freeze({ submit: false, cancel: false, callAuction: false, continuous: false }),
  OPENING_CALL: Object.freeze({ submit: true, cancel: true, callAuction: true, continuous: false }),
  OPENING_CALL_NO_CANCEL: Object.freeze({ submit: true, cancel: false, callAuction: true, continuous: false }),
  PRE_CONTINUOUS: Object.freeze({ submit: false, cancel: false, callAuction: false, continuous: false }),
  CONTINUOUS: Object.freeze({ submit: true, cancel: true, callAuction: false, continuous: true }),
  LUNCH_BREAK: Object.freeze({ submit: false, cancel: false, callAuction: false, continuous: false }),
  CLOSING_CALL: Object.freeze({ submit: true, cancel: false, callAuction: true, continuous: false }),
  AFTER_HOURS_FIXED: Object.freeze({ submit: true, cancel: true, callAuction: false, continuous: false }),
  CLOSED: Object.freeze({ submit: false, cancel: false, callAuction: false, continuous: false }),
});

export function canSubmit(phase: Phase): boolean {
  return PHASE_RULES[phase].submit;
}

export function canCancel(phase: Phase): boolean {
  return PHASE_RULES[phase].cancel;
}

export function isCallAuction(phase: Phase): boolean {
  return PHASE_RULES[phase].callAuction;
}

/** Continuous trading: the only phase where the price cage applies. */
export function isContinuous(phase: Phase): boolean {
  return PHASE_RULES[phase].continuous;
}

/** One row of a session table: `phase` holds from `from` (time of day) until the next row's `from`. */
export interface SessionWindow {
  readonly from: Micros;
  readonly phase: Phase;
}

/** Rows in strictly ascending `from`, the first at midnight; the last phase runs to midnight. */
export type SessionTable = readonly SessionWindow[];

/** A China wall-clock time of day in microseconds since midnight. */
export function timeOfDay(hour: number, minute: number, second = 0): Micros {
  return hour * 60 * MICROS_PER_MINUTE + minute * MICROS_PER_MINUTE + second * MICROS_PER_SECOND;
}

/** Validates and freezes a session table (a bad table is a configuration/programming error). */
export function makeSessionTable(windows: readonly SessionWindow[]): SessionTable {
  if (windows.length === 0 || windows[0]?.from !== 0) {
    throw new RangeError('a session table must start with a row at time of day 0');
  }
  let previous = -1;
  for (const window of windows) {
    if (!Number.isInteger(window.from) || window.from <= previous || window.from >= MICROS_PER_DAY) {
      throw new RangeError(`session table rows must have strictly ascending times within the day (at ${window.from})`);
    }
    if (!Object.hasOwn(PHASE_RULES, window.phase)) throw new RangeError(`unknown phase ${String(window.phase)}`);
    previous = window.from;
  }
  return Object.freeze(windows.map((window) => Object.freeze({ from: window.from, phase: window.phase })));
}

/** The SSE/SZSE/BSE regular day. */
export const A_SHARE_SESSIONS: SessionTable = makeSessionTable([
  { from: 0, phase: 'PRE_OPEN' },
  { from: timeOfDay(9, 15), phase: 'OPENING_CALL' },
  { from: timeOfDay(9, 20), phase: 'OPENING_CALL_NO_CANCEL' },
  { from: timeOfDay(9, 25), phase: 'PRE_CONTINUOUS' },
  { from: timeOfDay(9, 30), phase: 'CONTINUOUS' },
  { from: timeOfDay(11, 30), phase: 'LUNCH_BREAK' },
  { from: timeOfDay(13, 0), phase: 'CONTINUOUS' },
  { from: timeOfDay(14, 57), phase: 'CLOSING_CALL' },
  { from: timeOfDay(15, 0), phase: 'CLOSED' },
]);

/** The regular day plus after-hours fixed-price trading 15:05–15:30. */
export const A_SHARE_SESSIONS_WITH_AFTER_HOURS: SessionTable = makeSessionTable([
  ...A_SHARE_SESSIONS,
  { from: timeOfDay(15, 5), phase: 'AFTER_HOURS_FIXED' },
  { from: timeOfDay(15, 30), phase: 'CLOSED' },
]);

/**
 * Boards with after-hours fixed-price trading. STAR and ChiNext per the exchange rules; BSE's
 * rules have a similar session, off by default here until confirmed.
 */
export const AFTER_HOURS_FIXED_PRICE: Readonly<Record<Board, boolean>> = Object.freeze({
  SSE_MAIN: false,
  SZSE_MAIN: false,
  CHINEXT: true,
  STAR: true,
  BSE: false,
});

export interface MarketSessions {
  /** Used when no board is given: the regular day common to all boards. */
  readonly regular: SessionTable;
  readonly byBoard: Readonly<Record<Board, SessionTable>>;
}

/** Builds the per-board sessions from the regular table, the after-hours table and the per-board flags. */
export function buildMarketSessions(
  regular: SessionTable = A_SHARE_SESSIONS,
  withAfterHours: SessionTable = A_SHARE_SESSIONS_WITH_AFTER_HOURS,
  afterHoursFlags: Readonly<Record<Board, boolean>> = AFTER_HOURS_FIXED_PRICE,
): MarketSessions {
  const byBoard = {} as Record<Board, SessionTable>;
  for (const board of BOARDS) byBoard[board] = afterHoursFlags[board] ? withAfterHours : regular;
  return Object.freeze({ regular, byBoard: Object.freeze(byBoard) });
}

export const DEFAULT_MARKET_SESSIONS: MarketSessions = buildMarketSessions();

/** The phase of a session table at a time of day (microseconds since China midnight). */
export function phaseInTable(table: SessionTable, timeOfDayMicros: Micros): Phase {
  if (!Number.isInteger(timeOfDayMicros) || timeOfDayMicros < 0 || timeOfDayMicros >= MICROS_PER_DAY) {
    throw new RangeError(`time of day must be an integer in [0, ${MICROS_PER_DAY}) microseconds, got ${timeOfDayMicros}`);
  }
  // Tables are a dozen rows: a backwards scan beats anything cleverer and allocates nothing.
  for (let i = table.length - 1; i >= 0; i -= 1) {
    const window = table[i] as SessionWindow;
    if (window.from <= timeOfDayMicros) return window.phase;
  }
  throw new RangeError('session table has no row at time of day 0');
}

/** The phase at a China time of day, for a board (its own table) or the regular day. */
export function phaseAt(
  timeOfDayMicros: Micros,
  board?: Board,
  sessions: MarketSessions = DEFAULT_MARKET_SESSIONS,
): Phase {
  return phaseInTable(board === undefined ? sessions.regular : sessions.byBoard[board], timeOfDayMicros);
}

/** The phase at an instant: CLOSED all day on a non-trading day. */
export function phaseAtInstant(
  micros: Micros,
  calendar: TradingCalendar,
  board?: Board,
  sessions: MarketSessions = DEFAULT_MARKET_SESSIONS,
): Phase {
  if (!calendar.isTradingDay(chinaDate(micros))) return 'CLOSED';
  return phaseAt(chinaTimeOfDay(micros), board, sessions);
}
