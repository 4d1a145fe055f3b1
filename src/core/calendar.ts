/**
 * The exchange calendar: which dates trade. Weekends never trade (Chinese make-up working
 * Saturdays/Sundays do not open the exchanges); holidays are configuration, published by the
 * exchanges each December for the following year.
 *
 * Dates are `TradingDate` numbers (YYYYMMDD, China time). Internally dates become day numbers
 * (days since 1970-01-01) using integer civil-calendar arithmetic, so counting trading days
 * between two dates is O(log holidays) rather than a day-by-day walk.
 */
import type { TradingDate } from './clock.ts';

const MIN_YEAR = 1000;
const MAX_YEAR = 9999;

/** True if `date` is a real calendar date written YYYYMMDD (e.g. 20260230 is not). */
export function isValidDate(date: number): boolean {
  if (!Number.isInteger(date)) return false;
  const year = Math.floor(date / 10_000);
  const month = Math.floor(date / 100) % 100;
  const day = date % 100;
  if (year < MIN_YEAR || year > MAX_YEAR || month < 1 || month > 12 || day < 1) return false;
  return day <= daysInMonth(year, month);
}

/** Throws a RangeError naming `what` unless `date` is a valid YYYYMMDD date (a programming error). */
export function assertValidDate(date: number, what = 'date'): void {
  if (!isValidDate(date)) throw new RangeError(`${what} is not a valid YYYYMMDD date: ${date}`);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Days since 1970-01-01 (H. Hinnant's days_from_civil; exact integer arithmetic). */
export function toDayNumber(date: TradingDate): number {
  const month = Math.floor(date / 100) % 100;
  const day = date % 100;
  const year = Math.floor(date / 10_000) - (month <= 2 ? 1 : 0);
  const era = Math.floor(year / 400);
  const yearOfEra = year - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** The YYYYMMDD date of a day number (inverse of `toDayNumber`). */
export function fromDayNumber(dayNumber: number): TradingDate {
  const z = dayNumber + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  return year * 10_000 + month * 100 + day;
}

/** 0 = Sunday … 6 = Saturday. Day number 0 (1970-01-01) was a Thursday. */
function weekdayOf(dayNumber: number): number {
  return (((dayNumber + 4) % 7) + 7) % 7;
}

function isWeekend(dayNumber: number): boolean {
  const weekday = weekdayOf(dayNumber);
  return weekday === 0 || weekday === 6;
}

// Weekdays among the first r days of a week that starts on a Thursday (Thu Fri Sat Sun Mon Tue Wed).
const WEEKDAYS_IN_FIRST = [0, 1, 2, 2, 2, 3, 4, 5] as const;

/** Number of Monday–Friday days with day number in [0, n) (negative for n < 0). */
function weekdaysBefore(n: number): number {
  const weeks = Math.floor(n / 7);
  return weeks * 5 + (WEEKDAYS_IN_FIRST[n - weeks * 7] ?? 0);
}

export class TradingCalendar {
  /** Holidays as given (deduplicated, sorted), for display and config round-trips. */
  readonly holidays: readonly TradingDate[];
  private readonly holidaySet: ReadonlySet<TradingDate>;
  /** Day numbers of holidays that fall on weekdays (weekend holidays change nothing), sorted. */
  private readonly weekdayHolidayDays: readonly number[];

  constructor(holidays: Iterable<TradingDate> = []) {
    const unique = new Set<TradingDate>();
    for (const holiday of holidays) {
      assertValidDate(holiday, 'holiday');
      unique.add(holiday);
    }
    this.holidays = Object.freeze([...unique].sort((a, b) => a - b));
    this.holidaySet = unique;
    this.weekdayHolidayDays = Object.freeze(
      this.holidays.map(toDayNumber).filter((dayNumber) => !isWeekend(dayNumber)),
    );
  }

  isTradingDay(date: TradingDate): boolean {
    assertValidDate(date);
    return !isWeekend(toDayNumber(date)) && !this.holidaySet.has(date);
  }

  /** The first trading day strictly after `date`. */
  nextTradingDay(date: TradingDate): TradingDate {
    return this.step(date, 1);
  }

  /** The last trading day strictly before `date`. */
  previousTradingDay(date: TradingDate): TradingDate {
    return this.step(date, -1);
  }

  /**
   * Trading days d with `from` < d ≤ `to`; negative (the mirror count) when `to` < `from`.
   * So the next trading day after a trading day is 1 away, like `daysBetween` (b − a).
   */
  tradingDaysBetween(from: TradingDate, to: TradingDate): number {
    assertValidDate(from, 'from');
    assertValidDate(to, 'to');
    return this.tradingDaysBefore(toDayNumber(to) + 1) - this.tradingDaysBefore(toDayNumber(from) + 1);
  }

  /**
   * Which trading day of its listed life `date` is: the listing day is day 1, the next trading
   * day is day 2, and so on (trading days in [listingDate, date]). A listing date that is not
   * a trading day (bad reference data) makes the first trading day after it day 1.
   * Asking about a date before listing is a programming error.
   */
  tradingDayIndexSinceListing(listingDate: TradingDate, date: TradingDate): number {
    assertValidDate(listingDate, 'listingDate');
    assertValidDate(date);
    if (date < listingDate) throw new RangeError(`date ${date} is before the listing date ${listingDate}`);
    return this.tradingDaysBefore(toDayNumber(date) + 1) - this.tradingDaysBefore(toDayNumber(listingDate));
  }

  /** Trading days with day number < n, counted from day 0 (negative below day 0). */
  private tradingDaysBefore(n: number): number {
    return weekdaysBefore(n) - this.weekdayHolidaysBefore(n);
  }

  /** How many weekday holidays have a day number < n (binary search). */
  private weekdayHolidaysBefore(n: number): number {
    const days = this.weekdayHolidayDays;
    let low = 0;
    let high = days.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((days[mid] as number) < n) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  private step(date: TradingDate, direction: 1 | -1): TradingDate {
    assertValidDate(date);
    // Terminates: the holiday list is finite, so some weekday beyond it trades.
    let dayNumber = toDayNumber(date) + direction;
    let candidate = fromDayNumber(dayNumber);
    while (isWeekend(dayNumber) || this.holidaySet.has(candidate)) {
      dayNumber += direction;
      candidate = fromDayNumber(dayNumber);
    }
    return candidate;
  }
}
