/**
 * Account rules, judged against the OMS's view of the account: open-order count,
 * self-trade prevention, cash for buys (notional + fees, frozen on order), sellable shares
 * for sells (T+1: today's buys are not sellable; odd lots leave whole), position and gross
 * exposure limits, and the daily loss limit.
 */
import type { Board } from '../../instruments.ts';
import type { Money, Qty } from '../../units.ts';
import { rateToFen, type FeeSchedule } from '../../fees.ts';
import { checkLot, type LotSettings } from '../../lot-rules.ts';
import { deny, denyFrom, RISK_RULES } from '../decision.ts';
import type { RiskLimits } from '../limits.ts';
import type { AccountView, RestingOrder, RiskDenial, RiskOrder } from '../types.ts';

/**
 * True if `order` could trade against the account's own `resting` order: same symbol,
 * opposite side, and the prices cross. A market order crosses everything on the other side;
 * a resting market-type order without a price (0) is taken to cross (its price is unknown).
 */
export function wouldSelfTrade(order: RiskOrder, resting: RestingOrder): boolean {
  if (resting.symbol !== order.symbol || resting.side === order.side || resting.leavesQty <= 0) return false;
  if (order.orderType !== 'LIMIT' || resting.price <= 0) return true;
  return order.side === 'BUY' ? order.price >= resting.price : order.price <= resting.price;
}

/**
 * What one pass over the open orders finds, plus the new order's value: one reused object per
 * engine. Rules below take it (and the account, and the limits) rather than the numbers
 * themselves, because V8 boxes a number above 2^30 — most money amounts — each time it is
 * passed to a function that is not inlined; read from an object it stays unboxed.
 */
export interface OpenOrderScan {
  count: number;
  /** The first own resting order the new order would trade with. */
  crossing: RestingOrder | undefined;
  /** Shares of working buys in the order's symbol. */
  symbolBuyQty: Qty;
  /** Value of all working buys (leaves × price; priceless market buys count 0). */
  buyNotional: Money;
  /** Value of the new order (see `valuationPrice`), set by the caller. */
  notional: Money;
}

export function newOpenOrderScan(): OpenOrderScan {
  return { count: 0, crossing: undefined, symbolBuyQty: 0, buyNotional: 0, notional: 0 };
}

export function scanOpenOrders(order: RiskOrder, open: readonly RestingOrder[], out: OpenOrderScan): OpenOrderScan {
  // Locals, not `out` fields, inside the loop: this scan is a third of a check's time.
  const symbol = order.symbol;
  const buying = order.side === 'BUY';
  let crossing: RestingOrder | undefined;
  let symbolBuyQty = 0;
  let buyNotional = 0;
  for (let i = 0; i < open.length; i += 1) {
    const resting = open[i] as RestingOrder;
    const restingBuy = resting.side === 'BUY';
    if (restingBuy) buyNotional += resting.leavesQty * resting.price;
    if (resting.symbol !== symbol) continue;
    if (restingBuy) symbolBuyQty += resting.leavesQty;
    if (crossing === undefined && restingBuy !== buying && wouldSelfTrade(order, resting)) crossing = resting;
  }
  out.count = open.length;
  out.crossing = crossing;
  out.symbolBuyQty = symbolBuyQty;
  out.buyNotional = buyNotional;
  return out;
}

/** `maxOpenOrders` 0: no limit. */
export function checkOpenOrderCount(count: number, maxOpenOrders: number): RiskDenial | null {
  if (maxOpenOrders > 0 && count >= maxOpenOrders) {
    return deny(RISK_RULES.MAX_OPEN_ORDERS, 'MAX_OPEN_ORDERS_EXCEEDED', `${count} working orders; max_open_orders ${maxOpenOrders}`);
  }
  return null;
}

export function checkSelfTrade(order: RiskOrder, crossing: RestingOrder | undefined): RiskDenial | null {
  if (crossing === undefined) return null;
  return deny(
    RISK_RULES.SELF_TRADE,
    'SELF_TRADE_PREVENTED',
    `${order.side} ${order.orderType} @ ${order.price} would trade with own resting ${crossing.side} ` +
      `${crossing.clientOrderId} @ ${crossing.price} in ${order.symbol}`,
  );
}

/**
 * The buy-side fees frozen with a buy: commission (with its minimum) and transfer fee, rounded
 * as core fees.ts does. Equal to `computeFeesOnNotional('BUY', n).total` without allocating.
 */
export function buyFees(notional: Money, fees: FeeSchedule): Money {
  if (notional <= 0) return 0;
  return Math.max(rateToFen(notional, fees.commissionPpm), fees.minCommission) + rateToFen(notional, fees.transferFeePpm);
}

/** A buy needs its value plus its fees in available cash (both are frozen when it is sent). */
export function checkCash(scan: OpenOrderScan, fees: FeeSchedule, account: AccountView): RiskDenial | null {
  const notional = scan.notional;
  const fee = buyFees(notional, fees);
  const available = account.availableCash();
  if (notional + fee <= available) return null;
  return deny(
    RISK_RULES.CASH,
    'INSUFFICIENT_CASH',
    `buy needs ${notional + fee} units (value ${notional} + fees ${fee}); available cash ${available}`,
  );
}

/** A sell must fit the sellable shares (T+1) and the odd-lot rule; the core lot rule does both. */
export function checkSellable(order: RiskOrder, board: Board, sellable: Qty, lots: LotSettings): RiskDenial | null {
  const result = checkLot(board, 'SELL', order.quantity, sellable, lots);
  if (result.ok) return null;
  return denyFrom(result.reason === 'EXCEEDS_SELLABLE_POSITION' ? RISK_RULES.SELLABLE : RISK_RULES.LOT, result);
}

/** Buys only: position + working buys in the symbol + this buy within max_position_qty (0: no limit). */
export function checkPosition(order: RiskOrder, account: AccountView, scan: OpenOrderScan, limits: RiskLimits): RiskDenial | null {
  const max = limits.maxPositionQty;
  if (max <= 0 || order.side !== 'BUY') return null;
  const position = account.positionQty(order.symbol);
  const after = position + scan.symbolBuyQty + order.quantity;
  if (after <= max) return null;
  return deny(
    RISK_RULES.MAX_POSITION,
    'MAX_POSITION_EXCEEDED',
    `${order.symbol}: position ${position} + working buys ${scan.symbolBuyQty} + ${order.quantity} = ${after} exceeds max_position_qty ${max}`,
  );
}

/** Buys only: gross exposure + working buys + this buy within max_gross_exposure (0: no limit). */
export function checkExposure(order: RiskOrder, account: AccountView, scan: OpenOrderScan, limits: RiskLimits): RiskDenial | null {
  const max = limits.maxGrossExposure;
  if (max <= 0 || order.side !== 'BUY') return null;
  const gross = account.grossExposure();
  const after = gross + scan.buyNotional + scan.notional;
  if (after <= max) return null;
  return deny(
    RISK_RULES.GROSS_EXPOSURE,
    'MAX_GROSS_EXPOSURE_EXCEEDED',
    `exposure ${gross} + working buys ${scan.buyNotional} + ${scan.notional} = ${after} units exceeds max_gross_exposure ${max}`,
  );
}

/**
 * Once the day's loss reaches max_daily_loss (0: no limit), buys are denied; sells stay
 * possible so that an operator can reduce in REDUCING state (the engine's `evaluate` halts
 * the account at the same moment).
 */
export function checkDailyLoss(order: RiskOrder, account: AccountView, limits: RiskLimits): RiskDenial | null {
  const max = limits.maxDailyLoss;
  if (max <= 0 || order.side !== 'BUY') return null;
  const pnl = account.dayPnl();
  if (pnl > -max) return null;
  return deny(RISK_RULES.DAILY_LOSS, 'DAILY_LOSS_LIMIT', `day P&L ${pnl} units; max_daily_loss ${max}`);
}
