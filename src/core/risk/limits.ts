/**
 * The numeric risk limits: one table of definitions (stable snake_case name, settings key,
 * unit, allowed range) used by settings validation, `RiskEngine.limits()` / `setLimit()` and
 * the README. Every value is an integer in the unit named; money is 0.0001 CNY units.
 * For limits marked `zeroDisables`, 0 switches the check off.
 */
import { ConfigError, ValidationError } from '../errors.ts';

export interface RiskLimits {
  /** Firm maximum shares per order (on top of the board maximum). */
  readonly maxOrderQty: number;
  /** Maximum price × quantity per order, 0.0001 CNY. */
  readonly maxOrderNotional: number;
  /** Orders + cancels per account in any one-second window. */
  readonly maxOrdersPerSecond: number;
  /** Token-bucket capacity: how many actions may go back to back. */
  readonly orderBurst: number;
  /** Orders + cancels per account per day (hard cap for cancels). */
  readonly maxDailyOrders: number;
  /** New orders stop this many actions before the daily cap, so working orders stay cancellable. */
  readonly dailyCancelReserve: number;
  /** DAILY_COUNT_WARNING when the day's count reaches this percentage of the cap. */
  readonly dailyCountWarningPct: number;
  readonly maxOpenOrders: number;
  /** Shares per symbol: position + working buys + the new buy. */
  readonly maxPositionQty: number;
  /** Gross exposure + working buys + the new buy, 0.0001 CNY. */
  readonly maxGrossExposure: number;
  /** Day loss (positive number, 0.0001 CNY) at which buys are denied and the account halts. */
  readonly maxDailyLoss: number;
  readonly duplicateWindowMs: number;
  readonly maxQuoteAgeMs: number;
  /** ORDER_RATE_SPIKE alert: this many orders + cancels within one second. */
  readonly orderRateSpikePerSecond: number;
  /** A cancel within this many ms of the order's sending is a "fast cancel". */
  readonly fastCancelMs: number;
  /** FAST_CANCEL alert each time the day's fast cancels reach a multiple of this. */
  readonly fastCancelAlertCount: number;
  /** HIGH_CANCEL_RATIO alert when the day's cancels reach this percentage of its orders… */
  readonly cancelRatioAlertPct: number;
  /** …once the day has at least this many orders. */
  readonly cancelRatioMinOrders: number;
}

export type RiskLimitKey = keyof RiskLimits;

export interface LimitDefinition {
  readonly name: string;
  readonly key: RiskLimitKey;
  readonly unit: string;
  readonly min: number;
  readonly max: number;
  readonly zeroDisables: boolean;
  readonly description: string;
}

const MONEY_MAX = 9_000_000_000_000_000; // ≈ Number.MAX_SAFE_INTEGER, rounded: 9e11 CNY
const COUNT_MAX = 1_000_000_000;

function def(
  name: string,
  key: RiskLimitKey,
  unit: string,
  min: number,
  max: number,
  zeroDisables: boolean,
  description: string,
): LimitDefinition {
  return Object.freeze({ name, key, unit, min, max, zeroDisables, description });
}

export const LIMIT_DEFINITIONS: readonly LimitDefinition[] = Object.freeze([
  def('max_order_qty', 'maxOrderQty', 'shares', 0, COUNT_MAX, true, 'firm maximum shares per order'),
  def('max_order_notional', 'maxOrderNotional', '0.0001 CNY', 0, MONEY_MAX, true, 'maximum price × quantity per order'),
  def('max_orders_per_second', 'maxOrdersPerSecond', 'actions/s', 1, 1_000_000, false,
    'orders + cancels per account in any one-second window (token bucket)'),
  def('order_burst', 'orderBurst', 'actions', 1, 1_000_000, false, 'token-bucket capacity (≤ max_orders_per_second)'),
  def('max_daily_orders', 'maxDailyOrders', 'actions/day', 1, COUNT_MAX, false,
    'orders + cancels per account per China day; cancels stop here'),
  def('daily_cancel_reserve', 'dailyCancelReserve', 'actions', 0, COUNT_MAX, false,
    'new orders stop this many actions before max_daily_orders'),
  def('daily_count_warning_pct', 'dailyCountWarningPct', '%', 1, 100, false,
    'DAILY_COUNT_WARNING at this share of the daily cap'),
  def('max_open_orders', 'maxOpenOrders', 'orders', 0, COUNT_MAX, true, 'working orders per account'),
  def('max_position_qty', 'maxPositionQty', 'shares', 0, COUNT_MAX * 1000, true,
    'per symbol: position + working buys + new buy'),
  def('max_gross_exposure', 'maxGrossExposure', '0.0001 CNY', 0, MONEY_MAX, true,
    'gross exposure + working buys + new buy; breach → REDUCING'),
  def('max_daily_loss', 'maxDailyLoss', '0.0001 CNY', 0, MONEY_MAX, true,
    'day loss at which buys are denied and the account is HALTED'),
  def('duplicate_window_ms', 'duplicateWindowMs', 'ms', 0, 86_400_000, true,
    'an identical order within this window is DUPLICATE_ORDER'),
  def('max_quote_age_ms', 'maxQuoteAgeMs', 'ms', 0, 86_400_000, true, 'older reference prices are stale'),
  def('order_rate_spike_per_second', 'orderRateSpikePerSecond', 'actions/s', 0, 1_000_000, true,
    'ORDER_RATE_SPIKE alert threshold'),
  def('fast_cancel_ms', 'fastCancelMs', 'ms', 1, 86_400_000, false, 'a cancel this soon after sending is a fast cancel'),
  def('fast_cancel_alert_count', 'fastCancelAlertCount', 'cancels/day', 0, COUNT_MAX, true,
    'FAST_CANCEL alert at each multiple of this'),
  def('cancel_ratio_alert_pct', 'cancelRatioAlertPct', '%', 0, 100, true, 'HIGH_CANCEL_RATIO alert threshold'),
  def('cancel_ratio_min_orders', 'cancelRatioMinOrders', 'orders/day', 0, COUNT_MAX, false,
    'cancel ratio is judged only from this many orders'),
]);

const BY_NAME: ReadonlyMap<string, LimitDefinition> = new Map(LIMIT_DEFINITIONS.map((d) => [d.name, d]));
const BY_KEY: ReadonlyMap<string, LimitDefinition> = new Map(LIMIT_DEFINITIONS.map((d) => [d.key, d]));

export const LIMIT_NAMES: readonly string[] = Object.freeze(LIMIT_DEFINITIONS.map((d) => d.name));

/** Limits in 0.0001 CNY units: the config loader converts these from CNY. */
export const MONEY_LIMIT_KEYS: readonly RiskLimitKey[] = Object.freeze(
  LIMIT_DEFINITIONS.filter((d) => d.unit === '0.0001 CNY').map((d) => d.key),
);

export function limitDefinition(name: string): LimitDefinition | undefined {
  return BY_NAME.get(name);
}

/**
 * Default limits. The regulator's high-frequency thresholds are 300 actions in one second and
 * 20,000 in a day; the defaults stay well below (200/s, 18,000/day, warning at 80%).
 * Money: 5 million CNY per order, 50 million gross, 500,000 CNY day loss.
 */
export const DEFAULT_RISK_LIMITS: RiskLimits = Object.freeze({
  maxOrderQty: 200_000,
  maxOrderNotional: 50_000_000_000,
  maxOrdersPerSecond: 200,
  orderBurst: 50,
  maxDailyOrders: 18_000,
  dailyCancelReserve: 1_000,
  dailyCountWarningPct: 80,
  maxOpenOrders: 500,
  maxPositionQty: 1_000_000,
  maxGrossExposure: 500_000_000_000,
  maxDailyLoss: 5_000_000_000,
  duplicateWindowMs: 1_000,
  maxQuoteAgeMs: 10_000,
  orderRateSpikePerSecond: 150,
  fastCancelMs: 1_000,
  fastCancelAlertCount: 100,
  cancelRatioAlertPct: 90,
  cancelRatioMinOrders: 200,
});

/** An admin request named a limit that does not exist (maps to INVALID_ARGUMENT). */
export class UnknownLimitError extends ValidationError {
  readonly limit: string;

  constructor(name: string) {
    super(`unknown risk limit "${name}"; known: ${LIMIT_NAMES.join(', ')}`);
    this.limit = name;
  }
}

/** Why a value is not acceptable for a limit, or undefined if it is. */
export function limitValueProblem(definition: LimitDefinition, value: unknown): string | undefined {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < definition.min || value > definition.max) {
    return `must be an integer in [${definition.min}, ${definition.max}] ${definition.unit}, got ${String(value)}`;
  }
  return undefined;
}

/** Why a complete set of limits is inconsistent (naming the limit), or undefined. */
export function limitsConsistencyProblem(limits: RiskLimits): { key: RiskLimitKey; message: string } | undefined {
  if (limits.orderBurst > limits.maxOrdersPerSecond) {
    return { key: 'orderBurst', message: `must not exceed maxOrdersPerSecond (${limits.maxOrdersPerSecond}), got ${limits.orderBurst}` };
  }
  if (limits.dailyCancelReserve >= limits.maxDailyOrders) {
    return { key: 'dailyCancelReserve', message: `must be below maxDailyOrders (${limits.maxDailyOrders}), got ${limits.dailyCancelReserve}` };
  }
  return undefined;
}

/**
 * Validates configured limits; `partial` for per-account overrides (only given keys, and no
 * unknown keys). Throws a ConfigError naming the key.
 */
export function validateRiskLimits(limits: Partial<RiskLimits>, keyPrefix: string, partial: boolean): void {
  for (const key of Object.keys(limits)) {
    if (!BY_KEY.has(key)) throw new ConfigError(`${keyPrefix}.${key}`, `unknown risk limit; known: ${[...BY_KEY.keys()].join(', ')}`);
  }
  for (const definition of LIMIT_DEFINITIONS) {
    const value = limits[definition.key];
    if (value === undefined && partial) continue;
    const problem = limitValueProblem(definition, value);
    if (problem !== undefined) throw new ConfigError(`${keyPrefix}.${definition.key}`, problem);
  }
  if (!partial) {
    const problem = limitsConsistencyProblem(limits as RiskLimits);
    if (problem !== undefined) throw new ConfigError(`${keyPrefix}.${problem.key}`, problem.message);
  }
}
