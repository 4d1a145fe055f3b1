/**
 * Programmatic-trading compliance ("report first, then trade", CSRC 2024 and the exchanges'
 * 2025 implementation rules): the declared profile of an account and the abnormal-behaviour
 * monitors. The engine enforces the stricter of the risk limits and the declared ones.
 */
import type { Micros } from '../clock.ts';
import { MICROS_PER_SECOND } from '../clock.ts';
import { ConfigError } from '../errors.ts';

/** What the account declared to its broker before trading programmatically. */
export interface ComplianceProfile {
  /** e.g. "market-making", "trend", "arbitrage". */
  readonly strategyType: string;
  /** Declared maximum orders + cancels per second. */
  readonly maxOrdersPerSecond: number;
  /** Declared maximum orders + cancels per day. */
  readonly maxDailyOrders: number;
  readonly softwareName: string;
  readonly softwareVersion: string;
  readonly responsiblePerson: string;
}

export const ALERT_CODES = Object.freeze({
  ORDER_RATE_SPIKE: 'ORDER_RATE_SPIKE',
  FAST_CANCEL: 'FAST_CANCEL',
  HIGH_CANCEL_RATIO: 'HIGH_CANCEL_RATIO',
  DAILY_COUNT_WARNING: 'DAILY_COUNT_WARNING',
} as const);
export type AlertCode = (typeof ALERT_CODES)[keyof typeof ALERT_CODES];

/** Throws a ConfigError naming the key if the profile is incomplete or not integer. */
export function validateComplianceProfile(profile: ComplianceProfile, keyPrefix: string): void {
  if (profile === null || typeof profile !== 'object') throw new ConfigError(keyPrefix, 'must be an object');
  for (const key of ['strategyType', 'softwareName', 'softwareVersion', 'responsiblePerson'] as const) {
    const value: unknown = profile[key];
    if (typeof value !== 'string' || value.trim().length === 0) {
      throw new ConfigError(`${keyPrefix}.${key}`, 'must be a non-empty string');
    }
  }
  for (const key of ['maxOrdersPerSecond', 'maxDailyOrders'] as const) {
    const value: unknown = profile[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new ConfigError(`${keyPrefix}.${key}`, `must be a positive integer, got ${String(value)}`);
    }
  }
}

/**
 * Detects `threshold` actions within one second, exactly: a ring of the last `threshold`
 * action times; a spike is when the oldest of them is less than a second old. Reports the
 * start of each spike once (re-armed when the rate falls below the threshold).
 */
export class RateSpikeMonitor {
  readonly threshold: number;
  readonly #times: Float64Array;
  #next = 0;
  #filled = 0;
  #inSpike = false;

  /** `threshold` 0 disables the monitor. */
  constructor(threshold: number) {
    this.threshold = threshold;
    this.#times = new Float64Array(Math.max(threshold, 1));
  }

  /** Records one action; true when it starts a spike. */
  record(now: Micros): boolean {
    if (this.threshold === 0) return false;
    const times = this.#times;
    times[this.#next] = now;
    this.#next = this.#next + 1 === times.length ? 0 : this.#next + 1;
    if (this.#filled < times.length) this.#filled += 1;
    // After the write, #next points at the oldest of the last `threshold` actions.
    const spike = this.#filled === times.length && now - (times[this.#next] as number) < MICROS_PER_SECOND;
    const starts = spike && !this.#inSpike;
    this.#inSpike = spike;
    return starts;
  }
}
