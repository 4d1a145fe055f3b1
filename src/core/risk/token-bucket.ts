/**
 * A token bucket in exact integer arithmetic, for the order+cancel rate limit.
 *
 * Hand-written rather than taken from a package: the core is pure (no packages), and the rate
 * limit needs injected time (µs), integer maths and no timers.
 *
 * Tokens are kept in millionths ("micro-tokens"), so a refill of `ratePerSecond` tokens per
 * second is exactly `ratePerSecond` micro-tokens per microsecond: no rounding, ever. One
 * action costs one token. The bucket starts full.
 *
 * Bound: in any half-open window [t, t + 1 s) at most `capacity + ratePerSecond − 1` actions
 * pass (the bucket holds at most `capacity`, and strictly less than `ratePerSecond` tokens
 * refill within the window). The risk engine sizes `ratePerSecond = limit + 1 − capacity`
 * so that no one-second window ever exceeds the limit.
 */
import type { Micros } from '../clock.ts';

/** Micro-tokens per token. */
const SCALE = 1_000_000;

export class TokenBucket {
  #capacity = 0;
  #rate = 0;
  /** Micro-tokens; negative when an action was taken on credit (see `take`). */
  #level = 0;
  #last: Micros | undefined;

  constructor(capacity: number, ratePerSecond: number) {
    this.reconfigure(capacity, ratePerSecond);
    this.#level = this.#capacity * SCALE;
  }

  get capacity(): number {
    return this.#capacity;
  }

  get ratePerSecond(): number {
    return this.#rate;
  }

  /**
   * Changes capacity and rate, keeping the tokens held (capped at the new capacity). Throws a
   * RangeError on values that are not positive safe integers (a programming error: settings are
   * validated before they get here).
   */
  reconfigure(capacity: number, ratePerSecond: number): void {
    if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > 1_000_000_000) {
      throw new RangeError(`token bucket capacity must be an integer in [1, 1e9], got ${capacity}`);
    }
    if (!Number.isSafeInteger(ratePerSecond) || ratePerSecond < 1 || ratePerSecond > 1_000_000_000) {
      throw new RangeError(`token bucket rate must be an integer in [1, 1e9] per second, got ${ratePerSecond}`);
    }
    this.#capacity = capacity;
    this.#rate = ratePerSecond;
    if (this.#level > capacity * SCALE) this.#level = capacity * SCALE;
  }

  #refill(now: Micros): void {
    const last = this.#last;
    if (last === undefined) {
      this.#last = now;
      return;
    }
    const elapsed = now - last;
    // Time going backwards (out-of-order callers) refills nothing and does not rewind the bucket.
    if (!(elapsed > 0)) return;
    this.#last = now;
    const full = this.#capacity * SCALE;
    const missing = full - this.#level;
    // Compare by division first: after a long idle time elapsed × rate would leave the safe range.
    this.#level = elapsed >= missing / this.#rate ? full : this.#level + elapsed * this.#rate;
  }

  /** Whole tokens available at `now` (negative while in debt). */
  available(now: Micros): number {
    this.#refill(now);
    return Math.floor(this.#level / SCALE);
  }

  /** True if one action may pass at `now`; takes nothing. */
  canTake(now: Micros): boolean {
    this.#refill(now);
    return this.#level >= SCALE;
  }

  /** Takes one token if there is one; false (and nothing taken) otherwise. */
  tryTake(now: Micros): boolean {
    this.#refill(now);
    if (this.#level < SCALE) return false;
    this.#level -= SCALE;
    return true;
  }

  /**
   * Takes one token unconditionally: an action that already happened (an order checked
   * earlier, then sent) must be counted even if the bucket emptied meanwhile. The debt is
   * repaid by refill before anything else passes.
   */
  take(now: Micros): void {
    this.#refill(now);
    this.#level -= SCALE;
  }

  /** Microseconds from `now` until one token is available (0 if one is). */
  waitMicros(now: Micros): Micros {
    this.#refill(now);
    if (this.#level >= SCALE) return 0;
    return Math.ceil((SCALE - this.#level) / this.#rate);
  }
}
