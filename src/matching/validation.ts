/**
 * Exchange-side validation: what the trading host checks before it accepts an order. Every
 * check reuses the core rule modules; a failure is a `RuleFailure` with a stable reason code,
 * never a throw.
 *
 * Order of checks (the first failure is reported): contract (side, order type) → phase →
 * order type allowed here (no market orders in call auctions; the exchange's market types) →
 * quantity (lot shape, maximum size) → price (tick grid, then limit band). The price cage is
 * separate (`cageCheck`) because its outcome depends on the board's mode (reject or hold)
 * and on the live book.
 *
 * Decisions on rules the venue cannot check exactly:
 * - Lots: buys must be whole lots (`checkLot`). A sell's lot is checked against its own
 *   quantity as the "sellable position", so any positive sell quantity passes the lot shape:
 *   the trading host cannot see positions, and an odd-lot remainder must be sellable in one
 *   order. Whether the odd lot is really the whole position is the member's (broker's /
 *   execution's) check. The maximum order size applies to every order.
 * - Market orders: `price` is an optional protection price; when given (> 0) it must be on
 *   the tick grid and inside the band like a limit price.
 * - Instruments without a price limit (the first days of a registration-system listing): a
 *   valid declaration range stands in for the band (see `noLimitRange`), refused with
 *   OUTSIDE_VALID_PRICE_RANGE.
 */
import type { Board, Side } from '../core/instruments.ts';
import type { LotSettings } from '../core/lot-rules.ts';
import type { OrderType } from '../core/order.ts';
import type { CageQuote, PriceBand, PriceCageSettings } from '../core/price-rules.ts';
import type { Phase } from '../core/sessions.ts';
import type { Price } from '../core/units.ts';
import type { OrderRequest, SubmitRejectReason } from './types.ts';
import { checkLot, checkMaxOrderQty } from '../core/lot-rules.ts';
import { ORDER_TYPES } from '../core/order.ts';
import {
  buyCageCeiling,
  cageReference,
  checkPriceCage,
  checkTickGrid,
  checkWithinLimit,
  sellCageFloor,
  TICK,
} from '../core/price-rules.ts';
import { fail, OK, type RuleResult } from '../core/rule-result.ts';
import { canSubmit, isCallAuction } from '../core/sessions.ts';

/**
 * Market order types each board's exchange offers (documented defaults; a setting):
 * - SSE (main, STAR): best five then cancel, best five then limit, own best, counter best;
 * - SZSE (main, ChiNext): counter best, own best, immediate or cancel, best five then
 *   cancel, fill or kill;
 * - BSE: all of the above (its rules are still settling; narrow it in configuration).
 */
export const DEFAULT_MARKET_ORDER_TYPES: Readonly<Record<Board, readonly OrderType[]>> = Object.freeze({
  SSE_MAIN: Object.freeze(['MARKET_BEST5_IOC', 'MARKET_BEST5_TO_LIMIT', 'MARKET_BEST_OWN', 'MARKET_BEST_COUNTER'] as OrderType[]),
  STAR: Object.freeze(['MARKET_BEST5_IOC', 'MARKET_BEST5_TO_LIMIT', 'MARKET_BEST_OWN', 'MARKET_BEST_COUNTER'] as OrderType[]),
  SZSE_MAIN: Object.freeze([
    'MARKET_BEST_COUNTER',
    'MARKET_BEST_OWN',
    'MARKET_IOC',
    'MARKET_BEST5_IOC',
    'MARKET_FOK',
  ] as OrderType[]),
  CHINEXT: Object.freeze([
    'MARKET_BEST_COUNTER',
    'MARKET_BEST_OWN',
    'MARKET_IOC',
    'MARKET_BEST5_IOC',
    'MARKET_FOK',
  ] as OrderType[]),
  BSE: Object.freeze(ORDER_TYPES.filter((type) => type !== 'LIMIT')),
});

/**
 * The valid declaration range of an instrument without a price limit: one tick up to
 * `upperMultiple` × the previous close (default 10×, i.e. at most +900%, the exchanges'
 * first-day ceiling for call-auction declarations of registration-system IPOs).
 */
export function noLimitRange(previousClose: Price, upperMultiple = 10): PriceBand {
  if (!Number.isInteger(upperMultiple) || upperMultiple < 1) {
    throw new RangeError(`noLimit upper multiple must be an integer ≥ 1, got ${upperMultiple}`);
  }
  const upper = Math.floor((previousClose * upperMultiple) / TICK) * TICK;
  return { lower: TICK, upper: Math.max(TICK, upper) };
}

/** What validation needs to know about a symbol (an OrderBook provides it). */
export interface ValidationContext {
  readonly board: Board;
  readonly phase: Phase;
  /** The day's price limits, or null when the instrument has none today. */
  readonly limitBand: PriceBand | null;
  /** Where prices may lie: the limit band, or the no-limit declaration range. */
  readonly validRange: PriceBand;
  /** Market order types this symbol's exchange offers. */
  readonly marketOrderTypes: ReadonlySet<OrderType>;
  readonly lotSettings: LotSettings;
}

// Plain string comparisons and an object lookup: cheaper than Set lookups on the hot path.
const KNOWN_TYPE: Readonly<Record<string, true>> = Object.freeze(
  Object.fromEntries(ORDER_TYPES.map((type) => [type, true] as const)),
);

function checkPrice(price: Price, ctx: ValidationContext): RuleResult<SubmitRejectReason> {
  const grid = checkTickGrid(price);
  if (!grid.ok) return grid;
  if (ctx.limitBand !== null) return checkWithinLimit(price, ctx.limitBand);
  if (price < ctx.validRange.lower || price > ctx.validRange.upper) {
    return fail(
      'OUTSIDE_VALID_PRICE_RANGE',
      `price ${price} units is outside the valid range ${ctx.validRange.lower}..${ctx.validRange.upper} of an instrument without a price limit`,
    );
  }
  return OK;
}

/** Every static check of an order at entry (not the cage: see `cageCheck`). */
export function validateOrder(request: OrderRequest, ctx: ValidationContext): RuleResult<SubmitRejectReason> {
  const { side, orderType, quantity, price } = request;
  if (side !== 'BUY' && side !== 'SELL') return fail('INVALID_ORDER', `side must be BUY or SELL, got ${String(side)}`);
  if (KNOWN_TYPE[orderType] !== true) return fail('INVALID_ORDER', `unknown order type ${String(orderType)}`);
  const phase = ctx.phase;
  if (!canSubmit(phase)) return fail('PHASE_FORBIDS_SUBMIT', `phase ${phase} accepts no orders`);
  if (phase === 'AFTER_HOURS_FIXED') {
    return fail('PHASE_NOT_SUPPORTED', 'after-hours fixed-price trading is not simulated by this venue');
  }
  const isLimit = orderType === 'LIMIT';
  if (!isLimit) {
    if (isCallAuction(phase)) {
      return fail('MARKET_ORDER_IN_CALL_AUCTION', `call auctions (${phase}) take limit orders only`);
    }
    if (!ctx.marketOrderTypes.has(orderType)) {
      return fail('ORDER_TYPE_NOT_ACCEPTED', `${ctx.board} does not offer ${orderType} orders`);
    }
  }
  // A sell's own quantity stands in for the unknown sellable position (see the header).
  const lot = checkLot(ctx.board, side, quantity, side === 'SELL' ? quantity : undefined, ctx.lotSettings);
  if (!lot.ok) return lot as RuleResult<SubmitRejectReason>;
  const max = checkMaxOrderQty(ctx.board, orderType, quantity, ctx.lotSettings);
  if (!max.ok) return max as RuleResult<SubmitRejectReason>;
  if (isLimit) return checkPrice(price, ctx);
  if (price === 0) return OK;
  if (!Number.isSafeInteger(price) || price < 0) {
    return fail('PRICE_NOT_POSITIVE', `a market order's protection price must be 0 (none) or positive, got ${price}`);
  }
  return checkPrice(price, ctx);
}

/**
 * The price cage of a limit order in continuous trading (the caller checks phase and type).
 * Reads the references from `quote` (best ask / best bid / last / previous close, as the
 * core's `cageReference`) without allocating when the order is inside.
 */
export function cageCheck(
  side: Side,
  price: Price,
  quote: CageQuote,
  settings: PriceCageSettings,
): RuleResult<'OUTSIDE_PRICE_CAGE'> {
  if (side === 'BUY') {
    const ref = cageReference('BUY', quote);
    if (price <= buyCageCeiling(ref, settings)) return OK;
    return checkPriceCage('BUY', price, { buy: ref, sell: ref }, settings) as RuleResult<'OUTSIDE_PRICE_CAGE'>;
  }
  const ref = cageReference('SELL', quote);
  if (price >= sellCageFloor(ref, settings)) return OK;
  return checkPriceCage('SELL', price, { buy: ref, sell: ref }, settings) as RuleResult<'OUTSIDE_PRICE_CAGE'>;
}

/** True when a price is inside its side's cage (no allocation). */
export function insideCage(side: Side, price: Price, quote: CageQuote, settings: PriceCageSettings): boolean {
  return side === 'BUY'
    ? price <= buyCageCeiling(cageReference('BUY', quote), settings)
    : price >= sellCageFloor(cageReference('SELL', quote), settings);
}
