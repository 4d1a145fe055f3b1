/**
 * A per-day counter (orders + cancels of an account). The day is the China calendar day of
 * the instant given (A-shares trade only within one China day), computed with integer maths
 * so counting allocates nothing.
 */
import { CST_OFFSET_MICROS, MICROS_PER_DAY, type Micros } from '../clock.ts';

/** Days since 1970-01-01 in China time: changes at China midnight. */
export function chinaDayNumber(micros: Micros): number {
  return Math.floor((micros + CST_OFFSET_MICROS) / MICROS_PER_DAY);
}

export class DailyCounter {
  #day = Number.NaN;
  #count = 0;

  /** The count of the China day of `now`: 0 on a later day (not yet counted); see `add` for earlier days. */
  countAt(now: Micros): number {
    return chinaDayNumber(now) <= this.#day ? this.#count : 0;
  }

  /**
   * Adds `n` to the day of `now` and returns the new count. A later day starts from zero; an
   * instant of an earlier day (a late caller) counts into the current day rather than
   * resurrecting an old one.
   */
  add(now: Micros, n = 1): number {
    const day = chinaDayNumber(now);
    if (!(day <= this.#day)) {
      this.#day = day;
      this.#count = 0;
    }
    this.#count += n;
    return this.#count;
  }
}
