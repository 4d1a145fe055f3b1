/**
 * Quantity rules: board lot sizes, odd-lot sells and the maximum single order.
 *
 * A lot rule is "at least `minQty`, then in steps of `step`": main boards and ChiNext 100/100
 * (multiples of 100), STAR 200/1, BSE 100/1.
 *
 * Sells (余额不足一手的部分，应当一次性申报卖出): the odd part of a position — the whole
 * position when it is below `minQty`, else what is left over after whole lots
 * ((position − minQty) mod step) — must leave in one order, alone or together with whole
 * lots, and is never split. Holding 4,880 on a 100-share board: 80, 380, 4,880 and any whole
 * lots are valid sells; 60 or 1,840 (which would split the 80) are not. On the steps-of-one
 * boards (STAR, BSE) only a position below the minimum has an odd part.
 */
import type { Board, Side } from './instruments.ts';
import type { Qty } from './units.ts';
import { BOARDS } from './instruments.ts';
import { ConfigError } from './errors.ts';
import { fail, OK, type RuleResult } from './rule-result.ts';

/**
 * The order-size class of an order type: a limit order, or any market order. Market order
 * types may be given by their full name (`MARKET_BEST5_IOC`, … as in order.ts): every
 * `MARKET_*` type counts as MARKET.
 */
export type OrderPricing = 'LIMIT' | 'MARKET';
export type OrderTypeLike = OrderPricing | `MARKET_${string}`;

export interface LotRule {
  readonly minQty: Qty;
  readonly step: Qty;
}

export interface MaxOrderQty {
  readonly limit: Qty;
  readonly market: Qty;
}

export interface LotSettings {
  readonly lots: Readonly<Record<Board, LotRule>>;
  readonly maxOrderQty: Readonly<Record<Board, MaxOrderQty>>;
}

/**
 * Maximum single order: ChiNext 300,000 limit / 150,000 market; STAR 100,000 / 50,000 (exchange
 * rules). Main boards 1,000,000 for limit orders; the market-order figure is set to the same
 * 1,000,000 because the reference material gives no separate one. BSE 1,000,000 for both
 * (a documented default). All are settings.
 */
export const DEFAULT_LOT_SETTINGS: LotSettings = Object.freeze({
  lots: Object.freeze({
    SSE_MAIN: Object.freeze({ minQty: 100, step: 100 }),
    SZSE_MAIN: Object.freeze({ minQty: 100, step: 100 }),
    CHINEXT: Object.freeze({ minQty: 100, step: 100 }),
    STAR: Object.freeze({ minQty: 200, step: 1 }),
    BSE: Object.freeze({ minQty: 100, step: 1 }),
  }),
  maxOrderQty: Object.freeze({
    SSE_MAIN: Object.freeze({ limit: 1_000_000, market: 1_000_000 }),
    SZSE_MAIN: Object.freeze({ limit: 1_000_000, market: 1_000_000 }),
    CHINEXT: Object.freeze({ limit: 300_000, market: 150_000 }),
    STAR: Object.freeze({ limit: 100_000, market: 50_000 }),
    BSE: Object.freeze({ limit: 1_000_000, market: 1_000_000 }),
  }),
});

export type LotRuleReason =
  | 'INVALID_QUANTITY'
  | 'BELOW_MIN_LOT'
  | 'NOT_LOT_MULTIPLE'
  | 'ODD_LOT_NOT_WHOLE_POSITION'
  | 'EXCEEDS_SELLABLE_POSITION'
  | 'ABOVE_MAX_ORDER_QTY';

/** True if `qty` is a whole lot quantity under `rule` (≥ minQty, then in steps). */
export function isLotQuantity(qty: Qty, rule: LotRule): boolean {
  return qty >= rule.minQty && (qty - rule.minQty) % rule.step === 0;
}

function lotViolation(qty: Qty, rule: LotRule, board: Board, note: string): RuleResult<LotRuleReason> {
  if (qty < rule.minQty) {
    return fail('BELOW_MIN_LOT', `${qty} shares is below the ${board} minimum of ${rule.minQty}${note}`);
  }
  return fail(
    'NOT_LOT_MULTIPLE',
    `${qty} shares is not ${rule.minQty} plus a multiple of ${rule.step} (${board})${note}`,
  );
}

/**
 * The odd part of a position under `rule`: the shares that cannot be sold as whole lots and
 * must leave in one order. The whole position below the minimum lot; otherwise the remainder
 * after the minimum and whole steps (0 on steps-of-one boards).
 */
export function oddLotPart(position: Qty, rule: LotRule): Qty {
  return position < rule.minQty ? position : (position - rule.minQty) % rule.step;
}

/**
 * Checks an order quantity against the board's lot rule. For a sell, pass the sellable
 * position (shares sellable today, after T+1): an odd quantity is then valid if it carries the
 * position's whole odd part (alone or with whole lots, see the module comment), and a sell
 * above the position is refused. Without the position, a sell is held to the plain lot rule,
 * since an odd lot cannot be validated.
 */
export function checkLot(
  board: Board,
  side: Side,
  qty: Qty,
  sellablePosition?: Qty,
  settings: LotSettings = DEFAULT_LOT_SETTINGS,
): RuleResult<LotRuleReason> {
  if (!Number.isSafeInteger(qty) || qty <= 0) {
    return fail('INVALID_QUANTITY', `quantity must be a positive whole number of shares, got ${qty}`);
  }
  const rule = settings.lots[board];
  if (side === 'BUY') return isLotQuantity(qty, rule) ? OK : lotViolation(qty, rule, board, '');

  if (sellablePosition !== undefined && qty > sellablePosition) {
    return fail('EXCEEDS_SELLABLE_POSITION', `cannot sell ${qty} shares: only ${sellablePosition} are sellable`);
  }
  if (isLotQuantity(qty, rule)) return OK;
  if (sellablePosition === undefined) {
    return lotViolation(qty, rule, board, '; an odd lot can be checked only against the whole position, which was not given');
  }
  const odd = oddLotPart(sellablePosition, rule);
  if (odd > 0 && (qty === odd || isLotQuantity(qty - odd, rule))) return OK;
  return fail(
    'ODD_LOT_NOT_WHOLE_POSITION',
    `${qty} shares breaks the ${board} lot rule and does not carry the whole odd part (${odd}) of the sellable ` +
      `position of ${sellablePosition}; the odd part must be sold in one order, alone or with whole lots`,
  );
}

/** Checks the maximum single order quantity of the board and order type. */
export function checkMaxOrderQty(
  board: Board,
  orderType: OrderTypeLike,
  qty: Qty,
  settings: LotSettings = DEFAULT_LOT_SETTINGS,
): RuleResult<LotRuleReason> {
  const max = orderType === 'LIMIT' ? settings.maxOrderQty[board].limit : settings.maxOrderQty[board].market;
  if (qty > max) {
    return fail('ABOVE_MAX_ORDER_QTY', `${qty} shares exceeds the ${board} ${orderType} order maximum of ${max}`);
  }
  return OK;
}

function assertPositiveInteger(value: unknown, key: string): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new ConfigError(key, `must be a positive integer, got ${String(value)}`);
  }
}

/** Validates lot settings from configuration; throws a ConfigError naming the bad key. */
export function validateLotSettings(settings: LotSettings, key = 'lotRules'): void {
  for (const board of BOARDS) {
    const rule = settings.lots[board];
    assertPositiveInteger(rule.minQty, `${key}.lots.${board}.minQty`);
    assertPositiveInteger(rule.step, `${key}.lots.${board}.step`);
    const max = settings.maxOrderQty[board];
    assertPositiveInteger(max.limit, `${key}.maxOrderQty.${board}.limit`);
    assertPositiveInteger(max.market, `${key}.maxOrderQty.${board}.market`);
    if (max.limit < rule.minQty) throw new ConfigError(`${key}.maxOrderQty.${board}.limit`, 'is below the minimum lot');
  }
}
