/**
 * Building risk decisions. The approve path returns one shared frozen approval; a denial is
 * a small fresh object (it is rare and is journaled, so it must not be shared).
 */
import type { RuleFailure } from '../rule-result.ts';
import type { RiskApproval, RiskDenial, RiskWarning } from './types.ts';

const NO_WARNINGS: readonly RiskWarning[] = Object.freeze([]);

/** The one approval without warnings: compare with `===` if useful, never mutate. */
export const APPROVED: RiskApproval = Object.freeze({ ok: true, warnings: NO_WARNINGS });

export function deny(rule: string, reason: string, detail: string): RiskDenial {
  return { ok: false, rule, reason, detail };
}

/** A denial from a core rule check's failure. */
export function denyFrom(rule: string, failure: RuleFailure): RiskDenial {
  return { ok: false, rule, reason: failure.reason, detail: failure.detail };
}

export function warning(rule: string, code: string, detail: string): RiskWarning {
  return Object.freeze({ rule, code, detail });
}

export function approveWith(warnings: readonly RiskWarning[]): RiskApproval {
  return warnings.length === 0 ? APPROVED : Object.freeze({ ok: true, warnings: Object.freeze(warnings.slice()) });
}

/** Rule module names (`RiskDenial.rule`, `RiskWarning.rule`). Stable: used in metrics and journals. */
export const RISK_RULES = Object.freeze({
  TRADING_STATE: 'trading_state',
  COMPLIANCE: 'compliance',
  RESTRICTED_LIST: 'restricted_list',
  INSTRUMENT: 'instrument',
  REFERENCE_PRICE: 'reference_price',
  SESSION: 'session',
  ORDER_TYPE: 'order_type',
  LOT: 'lot',
  MAX_ORDER_QTY: 'max_order_qty',
  TICK_GRID: 'tick_grid',
  PRICE_LIMIT: 'price_limit',
  PRICE_CAGE: 'price_cage',
  MAX_ORDER_NOTIONAL: 'max_order_notional',
  DUPLICATE_ORDER: 'duplicate_order',
  MAX_OPEN_ORDERS: 'max_open_orders',
  SELF_TRADE: 'self_trade',
  CASH: 'cash',
  SELLABLE: 'sellable',
  MAX_POSITION: 'max_position',
  GROSS_EXPOSURE: 'gross_exposure',
  DAILY_LOSS: 'daily_loss',
  RATE_LIMIT: 'rate_limit',
  DAILY_COUNT: 'daily_count',
} as const);

/**
 * Every reason code a risk decision can carry (denials, warnings and triggers). Stable
 * UPPER_SNAKE_CASE: trading.proto OrderDenied.reason_code, metrics labels, journals.
 */
export const RISK_REASONS: readonly string[] = Object.freeze([
  'TRADING_HALTED',
  'TRADING_REDUCING_ONLY',
  'NO_COMPLIANCE_PROFILE',
  'RESTRICTED_SYMBOL',
  'MALFORMED_SYMBOL',
  'UNKNOWN_BOARD',
  'EXCHANGE_MISMATCH',
  'INSTRUMENT_MISMATCH',
  'INSTRUMENT_HALTED',
  'NO_REFERENCE_PRICE',
  'STALE_REFERENCE_PRICE',
  'OUTSIDE_TRADING_SESSION',
  'MARKET_ORDER_OUTSIDE_CONTINUOUS',
  'ORDER_TYPE_NOT_SUPPORTED',
  'INVALID_QUANTITY',
  'BELOW_MIN_LOT',
  'NOT_LOT_MULTIPLE',
  'ABOVE_MAX_ORDER_QTY',
  'MAX_ORDER_QTY_EXCEEDED',
  'PRICE_NOT_POSITIVE',
  'PRICE_OFF_TICK',
  'ABOVE_UPPER_LIMIT',
  'BELOW_LOWER_LIMIT',
  'OUTSIDE_PRICE_CAGE',
  'MAX_ORDER_NOTIONAL_EXCEEDED',
  'DUPLICATE_ORDER',
  'MAX_OPEN_ORDERS_EXCEEDED',
  'SELF_TRADE_PREVENTED',
  'INSUFFICIENT_CASH',
  'EXCEEDS_SELLABLE_POSITION',
  'ODD_LOT_NOT_WHOLE_POSITION',
  'MAX_POSITION_EXCEEDED',
  'MAX_GROSS_EXPOSURE_EXCEEDED',
  'DAILY_LOSS_LIMIT',
  'RATE_LIMITED',
  'DAILY_COUNT_EXCEEDED',
  // warnings only
  'DAILY_COUNT_WARNING',
  'OUTSIDE_PRICE_CAGE_HELD',
]);
