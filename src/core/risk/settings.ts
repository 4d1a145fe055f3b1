/**
 * Settings of the risk engine (the YAML `execution.risk` section, mapped by the config
 * loader). All numbers are integers; money is 0.0001 CNY units (the loader converts CNY),
 * durations are milliseconds. Market rules (lots, price cage, fees) default to the core's
 * exchange defaults and are normally wired from the `market` and `fees` sections.
 */
import type { Board, Exchange } from '../instruments.ts';
import type { OrderType } from '../order.ts';
import { ConfigError } from '../errors.ts';
import { DEFAULT_FEE_SCHEDULE, validateFeeSchedule, type FeeSchedule } from '../fees.ts';
import { parseSymbol } from '../instruments.ts';
import { DEFAULT_LOT_SETTINGS, validateLotSettings, type LotSettings } from '../lot-rules.ts';
import { ORDER_TYPES } from '../order.ts';
import { DEFAULT_PRICE_CAGE_SETTINGS, validatePriceCageSettings, type PriceCageSettings } from '../price-rules.ts';
import { validateComplianceProfile, type ComplianceProfile } from './compliance.ts';
import { DEFAULT_RISK_LIMITS, limitsConsistencyProblem, validateRiskLimits, type RiskLimits } from './limits.ts';

export interface RiskSettings {
  /** Default limits of every account. */
  readonly limits: RiskLimits;
  /** Per-account overrides (only the keys given). */
  readonly accountLimits?: Readonly<Record<string, Partial<RiskLimits>>>;
  /** Symbols no account may trade (restricted list), canonical form e.g. 600000.SH. */
  readonly restrictedSymbols?: readonly string[];
  /** Declared programmatic-trading profile per account; an account without one may not trade. */
  readonly profiles: Readonly<Record<string, ComplianceProfile>>;
  /** Market order types each exchange accepts (LIMIT is always accepted). */
  readonly marketOrderTypes?: Readonly<Record<Exchange, readonly OrderType[]>>;
  readonly lots?: LotSettings;
  readonly priceCage?: Readonly<Record<Board, PriceCageSettings>>;
  /** For the buy cash check: the order's fees are frozen with its notional. */
  readonly fees?: FeeSchedule;
}

/**
 * Market order types by exchange: SSE best-five-then-cancel, best-five-then-limit, own-side
 * and counter-side best; SZSE best-five-then-cancel, IOC, FOK, own-side and counter-side best.
 * BSE is given the SSE set (its rules list the same four kinds), a default to confirm.
 */
export const DEFAULT_MARKET_ORDER_TYPES: Readonly<Record<Exchange, readonly OrderType[]>> = Object.freeze({
  SSE: Object.freeze(['MARKET_BEST5_IOC', 'MARKET_BEST5_TO_LIMIT', 'MARKET_BEST_OWN', 'MARKET_BEST_COUNTER'] as OrderType[]),
  SZSE: Object.freeze(['MARKET_BEST5_IOC', 'MARKET_IOC', 'MARKET_FOK', 'MARKET_BEST_OWN', 'MARKET_BEST_COUNTER'] as OrderType[]),
  BSE: Object.freeze(['MARKET_BEST5_IOC', 'MARKET_BEST5_TO_LIMIT', 'MARKET_BEST_OWN', 'MARKET_BEST_COUNTER'] as OrderType[]),
});

/** Defaults for tests and benches; production values come from config/default.yaml. */
export const DEFAULT_RISK_SETTINGS: RiskSettings = Object.freeze({
  limits: DEFAULT_RISK_LIMITS,
  accountLimits: Object.freeze({}),
  restrictedSymbols: Object.freeze([]),
  profiles: Object.freeze({}),
  marketOrderTypes: DEFAULT_MARKET_ORDER_TYPES,
  lots: DEFAULT_LOT_SETTINGS,
  priceCage: DEFAULT_PRICE_CAGE_SETTINGS,
  fees: DEFAULT_FEE_SCHEDULE,
});

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Validates risk settings once at start-up. Throws a ConfigError naming the offending key
 * under `keyPrefix` (e.g. "execution.risk.limits.orderBurst").
 */
export function validateRiskSettings(settings: RiskSettings, keyPrefix = 'execution.risk'): void {
  if (!isRecord(settings)) throw new ConfigError(keyPrefix, 'must be an object');
  if (!isRecord(settings.limits)) throw new ConfigError(`${keyPrefix}.limits`, 'must be an object');
  validateRiskLimits(settings.limits, `${keyPrefix}.limits`, false);

  const accountLimits = settings.accountLimits ?? {};
  if (!isRecord(accountLimits)) throw new ConfigError(`${keyPrefix}.accountLimits`, 'must be an object');
  for (const [account, overrides] of Object.entries(accountLimits)) {
    const key = `${keyPrefix}.accountLimits.${account}`;
    if (!isRecord(overrides)) throw new ConfigError(key, 'must be an object');
    validateRiskLimits(overrides, key, true);
    const merged = { ...settings.limits, ...overrides };
    const problem = limitsConsistencyProblem(merged);
    if (problem !== undefined) throw new ConfigError(`${key}.${problem.key}`, problem.message);
  }

  const restricted = settings.restrictedSymbols ?? [];
  if (!Array.isArray(restricted)) throw new ConfigError(`${keyPrefix}.restrictedSymbols`, 'must be a list of symbols');
  restricted.forEach((symbol: unknown, index) => {
    const parsed = typeof symbol === 'string' ? parseSymbol(symbol) : undefined;
    if (parsed === undefined || !parsed.ok || parsed.value.symbol !== symbol) {
      throw new ConfigError(`${keyPrefix}.restrictedSymbols[${index}]`, `not a canonical A-share symbol: ${String(symbol)}`);
    }
  });

  if (!isRecord(settings.profiles)) throw new ConfigError(`${keyPrefix}.profiles`, 'must be an object');
  for (const [account, profile] of Object.entries(settings.profiles)) {
    const key = `${keyPrefix}.profiles.${account}`;
    validateComplianceProfile(profile, key);
    const reserve = { ...settings.limits, ...accountLimits[account] }.dailyCancelReserve;
    if (profile.maxDailyOrders <= reserve) {
      throw new ConfigError(`${key}.maxDailyOrders`, `must exceed the daily cancel reserve (${reserve}), got ${profile.maxDailyOrders}`);
    }
  }

  if (settings.marketOrderTypes !== undefined) {
    for (const [exchange, types] of Object.entries(settings.marketOrderTypes)) {
      const key = `${keyPrefix}.marketOrderTypes.${exchange}`;
      if (!Array.isArray(types)) throw new ConfigError(key, 'must be a list of order types');
      types.forEach((type: unknown, index) => {
        if (typeof type !== 'string' || !type.startsWith('MARKET_') || !ORDER_TYPES.includes(type as OrderType)) {
          throw new ConfigError(`${key}[${index}]`, `not a market order type: ${String(type)}`);
        }
      });
    }
  }
  if (settings.lots !== undefined) validateLotSettings(settings.lots, `${keyPrefix}.lots`);
  if (settings.priceCage !== undefined) validatePriceCageSettings(settings.priceCage, `${keyPrefix}.priceCage`);
  if (settings.fees !== undefined) validateFeeSchedule(settings.fees, `${keyPrefix}.fees`);
}
