/**
 * Time. Every engine takes a `Clock` so backtests and tests are reproducible.
 * Timestamps are integer microseconds since the Unix epoch (safe as numbers until year 2255).
 * A-share wall-clock rules are in China Standard Time (UTC+8, no daylight saving).
 */
export type Micros = number;

export interface Clock {
  /** Current time in integer microseconds since the Unix epoch. */
  nowMicros(): Micros;
}

export const MICROS_PER_SECOND = 1_000_000;
export const MICROS_PER_MINUTE = 60 * MICROS_PER_SECOND;
export const MICROS_PER_DAY = 24 * 60 * MICROS_PER_MINUTE;
/** China Standard Time offset from UTC. */
export const CST_OFFSET_MICROS = 8 * 60 * MICROS_PER_MINUTE;

/** The real clock: wall time with sub-millisecond resolution from the monotonic timer. */
export class LiveClock implements Clock {
  // performance.timeOrigin + performance.now() is wall-clock anchored yet monotonic within a process.
  private readonly originMicros = Math.round(globalThis.performance.timeOrigin * 1000);

  nowMicros(): Micros {
    return this.originMicros + Math.round(globalThis.performance.now() * 1000);
  }
}

/**
 * Market time: a base (wall) clock shifted by the offset between the venue's clock and ours,
 * learnt from market data (`observe(venueTime, receivedAt)`). Against a live exchange the
 * offset is the feed latency (µs, negligible); against the accelerated simulator or a replay
 * it is the gap between the simulated day and now, so strategies' timers, sessions and
 * time-of-day parameters follow the market they trade. Jitter of the learnt offset never makes
 * it run backwards; a jump of more than a second (the first tick of a simulated day) is a
 * re-synchronisation and is taken as is.
 */
export class MarketTimeClock implements Clock {
  private readonly base: Clock;
  private offset = 0;
  private last = 0;

  constructor(base: Clock) {
    this.base = base;
  }

  /** A tick stamped `venueTime` by the venue arrived at `receivedAt` on the base clock. */
  observe(venueTime: Micros, receivedAt: Micros): void {
    if (venueTime > 0 && receivedAt > 0) this.offset = venueTime - receivedAt;
  }

  nowMicros(): Micros {
    const now = this.base.nowMicros() + this.offset;
    if (now > this.last || this.last - now > MarketTimeClock.RESYNC_MICROS) this.last = now;
    return this.last;
  }

  static readonly RESYNC_MICROS = 1_000_000;
}

/** A clock that moves only when told to: for tests, backtests and replays. */
export class ManualClock implements Clock {
  private now: Micros;

  constructor(startMicros: Micros = 0) {
    this.now = startMicros;
  }

  nowMicros(): Micros {
    return this.now;
  }

  set(micros: Micros): void {
    if (micros < this.now) throw new RangeError(`a manual clock never goes backwards (${micros} < ${this.now})`);
    this.now = micros;
  }

  advance(micros: Micros): void {
    if (micros < 0) throw new RangeError(`cannot advance by a negative amount (${micros})`);
    this.now += micros;
  }
}

/** Calendar date as a number YYYYMMDD, in China Standard Time. */
export type TradingDate = number;

/** The China-time calendar date of an instant. */
export function chinaDate(micros: Micros): TradingDate {
  const d = new Date(Math.floor((micros + CST_OFFSET_MICROS) / 1000));
  return d.getUTCFullYear() * 10_000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
}

/** Microseconds since China-time midnight of an instant. */
export function chinaTimeOfDay(micros: Micros): Micros {
  const local = micros + CST_OFFSET_MICROS;
  return ((local % MICROS_PER_DAY) + MICROS_PER_DAY) % MICROS_PER_DAY;
}

/** The instant of a China-time wall clock reading. */
export function chinaInstant(date: TradingDate, hour: number, minute: number, second = 0): Micros {
  const year = Math.floor(date / 10_000);
  const month = Math.floor(date / 100) % 100;
  const day = date % 100;
  const utcMillis = Date.UTC(year, month - 1, day, hour, minute, second);
  return utcMillis * 1000 - CST_OFFSET_MICROS;
}

/** Whole days between two YYYYMMDD dates (b − a). */
export function daysBetween(a: TradingDate, b: TradingDate): number {
  const toDays = (d: TradingDate) =>
    Date.UTC(Math.floor(d / 10_000), (Math.floor(d / 100) % 100) - 1, d % 100) / 86_400_000;
  return Math.round(toDays(b) - toDays(a));
}
