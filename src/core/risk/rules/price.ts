/**
 * Price rules: a positive price on the tick grid, within the day's limit band, inside the
 * price cage during continuous trading; and the order's value (`max_order_notional`).
 * Config: the cage per board (width and reject/hold mode) and the notional limit.
 *
 * Market orders carry a protection price or 0; a protection price is checked like a limit
 * price except for the cage (it bounds the order, it is not where it rests).
 */
import type { Board } from '../../instruments.ts';
import type { Money, Price } from '../../units.ts';
import {
  cageReference,
  checkPriceCageAt,
  checkTickGrid,
  checkWithinLimit,
  type CageQuote,
  type PriceCageSettings,
} from '../../price-rules.ts';
import { isContinuous } from '../../sessions.ts';
import { deny, denyFrom, RISK_RULES, warning } from '../decision.ts';
import type { MarketReference, RiskDenial, RiskOrder, RiskWarning } from '../types.ts';

export function checkPrice(order: RiskOrder, market: MarketReference): RiskDenial | null {
  const price = order.price;
  if (order.orderType !== 'LIMIT' && price === 0) return null;
  const grid = checkTickGrid(price);
  if (!grid.ok) return denyFrom(RISK_RULES.TICK_GRID, grid);
  const upper = market.upperLimit;
  const lower = market.lowerLimit;
  // Fast path without building a band; the core check words the denial.
  if ((upper === undefined || price <= upper) && (lower === undefined || price >= lower)) return null;
  const band = checkWithinLimit(price, { upper: upper ?? Number.MAX_SAFE_INTEGER, lower: lower ?? 0 });
  return band.ok ? null : denyFrom(RISK_RULES.PRICE_LIMIT, band);
}

// One reused quote for the cage reference: the hot path allocates nothing (single-threaded).
const scratchQuote: { bestBid?: Price; bestAsk?: Price; last?: Price; previousClose: Price } = {
  bestBid: undefined,
  bestAsk: undefined,
  last: undefined,
  previousClose: 0,
};

/** The cage reference of the order's side (best opposite, else best same side, else last, else previous close). */
export function cageReferenceOf(order: RiskOrder, market: MarketReference): Price {
  scratchQuote.bestBid = market.bid;
  scratchQuote.bestAsk = market.ask;
  scratchQuote.last = market.last;
  scratchQuote.previousClose = market.prevClose;
  return cageReference(order.side, scratchQuote as CageQuote);
}

/**
 * Continuous-trading limit orders only. Outside the cage: a denial on boards whose exchange
 * rejects (SSE, STAR, BSE), a warning on boards whose exchange holds the order until prices
 * come back (SZSE main, ChiNext), since the exchange would accept it.
 */
export function checkCage(
  order: RiskOrder,
  market: MarketReference,
  cages: Readonly<Record<Board, PriceCageSettings>>,
): RiskDenial | RiskWarning | null {
  if (order.orderType !== 'LIMIT' || !isContinuous(market.phase)) return null;
  const settings = cages[market.instrument.board];
  const result = checkPriceCageAt(order.side, order.price, cageReferenceOf(order, market), settings);
  if (result.ok) return null;
  if (settings.mode === 'hold') return warning(RISK_RULES.PRICE_CAGE, 'OUTSIDE_PRICE_CAGE_HELD', result.detail);
  return denyFrom(RISK_RULES.PRICE_CAGE, result);
}

function positive(price: Price | undefined): price is Price {
  return price !== undefined && price > 0;
}

/**
 * The price an order is valued at for notional, cash and exposure: its price, or for a market
 * order without a protection price the worst the day allows (a buy at the upper limit; a sell
 * at the reference), else the best available reference.
 */
export function valuationPrice(order: RiskOrder, market: MarketReference): Price {
  if (order.price > 0) return order.price;
  if (order.side === 'BUY') {
    if (positive(market.upperLimit)) return market.upperLimit;
    if (positive(market.ask)) return market.ask;
  } else if (positive(market.bid)) {
    return market.bid;
  }
  return positive(market.last) ? market.last : market.prevClose;
}

/** The order's value within max_order_notional (0: no limit). Takes objects: see OpenOrderScan. */
export function checkNotional(value: { readonly notional: Money }, limits: { readonly maxOrderNotional: Money }): RiskDenial | null {
  const notional = value.notional;
  const maxNotional = limits.maxOrderNotional;
  if (maxNotional > 0 && notional > maxNotional) {
    return deny(
      RISK_RULES.MAX_ORDER_NOTIONAL,
      'MAX_ORDER_NOTIONAL_EXCEEDED',
      `order value ${notional} units exceeds max_order_notional ${maxNotional}`,
    );
  }
  return null;
}
