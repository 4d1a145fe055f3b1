/**
 * Instrument, reference-price and session rules: the order's instrument must be known, not
 * suspended, with a fresh reference; the session phase must accept the order and its type.
 * Config: the maximum quote age and the market order types accepted per exchange.
 */
import type { Micros } from '../../clock.ts';
import type { Exchange } from '../../instruments.ts';
import type { OrderType } from '../../order.ts';
import { parseSymbol } from '../../instruments.ts';
import { canSubmit, isContinuous } from '../../sessions.ts';
import { deny, denyFrom, RISK_RULES } from '../decision.ts';
import type { MarketReference, RiskDenial, RiskOrder } from '../types.ts';

/** No reference at all: an impossible symbol, or one without a quote yet. */
export function checkNoReference(order: RiskOrder): RiskDenial {
  // Tell a symbol that can never trade apart from one that has no quote yet.
  const parsed = parseSymbol(order.symbol);
  if (!parsed.ok) return denyFrom(RISK_RULES.INSTRUMENT, parsed);
  return deny(RISK_RULES.REFERENCE_PRICE, 'NO_REFERENCE_PRICE', `no reference price for ${order.symbol}`);
}

/**
 * The reference must be for the order's instrument, not suspended, and at most
 * `maxAgeMicros` old (0: no staleness check). The age (now − updatedAt) is passed rather than
 * the two instants: a small number crosses the call without being boxed by V8.
 */
export function checkReference(
  order: RiskOrder,
  market: MarketReference,
  ageMicros: Micros,
  maxAgeMicros: Micros,
): RiskDenial | null {
  if (market.instrument.symbol !== order.symbol) {
    return deny(
      RISK_RULES.INSTRUMENT,
      'INSTRUMENT_MISMATCH',
      `reference is for ${market.instrument.symbol}, order is for ${order.symbol}`,
    );
  }
  if (market.halted) return deny(RISK_RULES.INSTRUMENT, 'INSTRUMENT_HALTED', `${order.symbol} is suspended today`);
  if (maxAgeMicros > 0 && ageMicros > maxAgeMicros) {
    return deny(
      RISK_RULES.REFERENCE_PRICE,
      'STALE_REFERENCE_PRICE',
      `reference for ${order.symbol} is ${Math.floor(ageMicros / 1000)} ms old; max_quote_age_ms ${maxAgeMicros / 1000}`,
    );
  }
  return null;
}

/**
 * The phase must accept orders; market orders only in continuous trading (A-share market
 * orders are continuous-auction only; after-hours fixed-price trading takes limit orders)
 * and only the kinds the exchange offers.
 */
export function checkSession(
  order: RiskOrder,
  market: MarketReference,
  marketOrderTypes: Readonly<Record<Exchange, readonly OrderType[]>>,
): RiskDenial | null {
  const phase = market.phase;
  if (!canSubmit(phase)) {
    return deny(RISK_RULES.SESSION, 'OUTSIDE_TRADING_SESSION', `phase ${phase} accepts no orders`);
  }
  if (order.orderType === 'LIMIT') return null;
  if (!isContinuous(phase)) {
    return deny(
      RISK_RULES.SESSION,
      'MARKET_ORDER_OUTSIDE_CONTINUOUS',
      `${order.orderType} is accepted only in continuous trading, phase is ${phase}`,
    );
  }
  const exchange = market.instrument.exchange;
  if (!marketOrderTypes[exchange].includes(order.orderType)) {
    return deny(RISK_RULES.ORDER_TYPE, 'ORDER_TYPE_NOT_SUPPORTED', `${exchange} does not accept ${order.orderType}`);
  }
  return null;
}
