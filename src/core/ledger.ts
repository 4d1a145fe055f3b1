/**
 * The account ledger: cash, frozen cash, positions (T+1), frozen shares, fees, average cost
 * and day P&L of each account. Pure: the execution service feeds it order freezes, fills and
 * releases (in journal order, so replaying the journal rebuilds it exactly).
 *
 * Money is integer 0.0001 CNY, quantities shares.
 *
 * Freezes are per order (keyed by the caller's order key):
 * - a buy freezes `freezePrice × qty + estimated fees` of cash, where the estimate is the fee
 *   of the whole order at the freeze price minus what the order has paid; after each fill the
 *   freeze is recomputed for what is left. A fill at or below the freeze price therefore never
 *   makes available cash drop (fees are monotone in notional), so an accepted order can never
 *   drive available cash negative;
 * - a sell freezes shares out of the sellable quantity;
 * - a terminal order (cancelled, rejected, expired, filled) releases what is left.
 *
 * Fees are charged per fill as the increment of the order's fee on its cumulative notional
 * (`computeFeesOnNotional`), so the per-order commission minimum is paid once and the sum of
 * the fill fees equals the fee of the whole order.
 *
 * T+1: shares bought today count in `quantity` but not in `settled` until `roll(nextDate)`.
 * Day P&L = (cash − cash at the start of the day) + Σ (quantity × mark − start quantity ×
 * start mark), with the previous close as the start mark when the caller knows it.
 */
import type { TradingDate } from './clock.ts';
import type { Side } from './instruments.ts';
import { computeFeesOnNotional, DEFAULT_FEE_SCHEDULE, type FeeSchedule } from './fees.ts';
import { fail, OK, type RuleResult } from './rule-result.ts';
import { divRoundHalfUp, type Money, type Price, type Qty } from './units.ts';

export interface LedgerPositionInit {
  readonly symbol: string;
  readonly quantity: Qty;
  /** Average cost per share, 0.0001 CNY. */
  readonly avgCost: Price;
}

export interface LedgerAccountInit {
  readonly id: string;
  readonly cash: Money;
  readonly positions: readonly LedgerPositionInit[];
}

export interface LedgerOptions {
  readonly accounts: readonly LedgerAccountInit[];
  readonly tradingDate: TradingDate;
  readonly fees?: FeeSchedule;
}

/** Marks for day P&L and exposure: current price and the start-of-day price (previous close). */
export type MarkSource = (symbol: string) => { readonly price: Price; readonly prevClose: Price } | undefined;

export interface PositionView {
  readonly symbol: string;
  /** Shares held (including today's buys). */
  readonly quantity: Qty;
  /** Shares settled before today (T+1), sellable before freezes. */
  readonly settled: Qty;
  /** Shares frozen by open sell orders. */
  readonly frozen: Qty;
  /** settled − frozen. */
  readonly sellable: Qty;
  /** Cost basis of the shares held, fees included. */
  readonly costBasis: Money;
  /** costBasis / quantity rounded half up (0 when flat). */
  readonly avgCost: Price;
  /** Realized P&L today (sells: proceeds − fees − cost basis of the shares sold). */
  readonly realizedPnl: Money;
  /** Shares held at the start of the day (for day P&L). */
  readonly startQuantity: Qty;
  readonly startAvgCost: Price;
}

export type LedgerDenyReason = 'UNKNOWN_ACCOUNT' | 'INSUFFICIENT_CASH' | 'EXCEEDS_SELLABLE_POSITION' | 'DUPLICATE_FREEZE';

export interface FillResult {
  /** Fee charged for this fill (0.0001 CNY, whole fen). */
  readonly fee: Money;
  /** Fee of the order so far. */
  readonly cumFees: Money;
  /** Realized P&L of this fill (sells only; 0 for buys). */
  readonly realized: Money;
}

interface Position {
  symbol: string;
  quantity: Qty;
  settled: Qty;
  frozen: Qty;
  costBasis: Money;
  realizedPnl: Money;
  startQuantity: Qty;
  startAvgCost: Price;
}

interface Account {
  readonly id: string;
  cash: Money;
  frozenCash: Money;
  startCash: Money;
  feesToday: Money;
  readonly positions: Map<string, Position>;
}

interface Freeze {
  readonly account: string;
  readonly symbol: string;
  readonly side: Side;
  readonly freezePrice: Price;
  readonly quantity: Qty;
  filled: Qty;
  notional: Money;
  feesPaid: Money;
  /** Cash (buy) or shares (sell) still frozen. */
  frozen: number;
  /** The order is terminal: nothing stays frozen, late fills still count. */
  released: boolean;
}

export class Ledger {
  #date: TradingDate;
  readonly #fees: FeeSchedule;
  readonly #accounts = new Map<string, Account>();
  readonly #freezes = new Map<string, Freeze>();

  constructor(options: LedgerOptions) {
    this.#date = options.tradingDate;
    this.#fees = options.fees ?? DEFAULT_FEE_SCHEDULE;
    for (const init of options.accounts) {
      if (this.#accounts.has(init.id)) throw new RangeError(`account ${init.id} is listed twice`);
      if (!Number.isSafeInteger(init.cash) || init.cash < 0) throw new RangeError(`account ${init.id}: cash must be a non-negative integer`);
      const positions = new Map<string, Position>();
      for (const p of init.positions) {
        if (!Number.isSafeInteger(p.quantity) || p.quantity < 0) throw new RangeError(`account ${init.id} ${p.symbol}: quantity must be a non-negative integer`);
        if (!Number.isSafeInteger(p.avgCost) || p.avgCost < 0) throw new RangeError(`account ${init.id} ${p.symbol}: avgCost must be a non-negative integer`);
        if (positions.has(p.symbol)) throw new RangeError(`account ${init.id}: position ${p.symbol} is listed twice`);
        positions.set(p.symbol, {
          symbol: p.symbol, quantity: p.quantity, settled: p.quantity, frozen: 0, costBasis: p.avgCost * p.quantity,
          realizedPnl: 0, startQuantity: p.quantity, startAvgCost: p.avgCost,
        });
      }
      this.#accounts.set(init.id, { id: init.id, cash: init.cash, frozenCash: 0, startCash: init.cash, feesToday: 0, positions });
    }
  }

  get tradingDate(): TradingDate {
    return this.#date;
  }

  get feeSchedule(): FeeSchedule {
    return this.#fees;
  }

  accounts(): string[] {
    return [...this.#accounts.keys()];
  }

  hasAccount(account: string): boolean {
    return this.#accounts.has(account);
  }

  cash(account: string): Money {
    return this.#account(account).cash;
  }

  frozenCash(account: string): Money {
    return this.#account(account).frozenCash;
  }

  /** Cash not frozen by open buys. */
  availableCash(account: string): Money {
    const a = this.#account(account);
    return a.cash - a.frozenCash;
  }

  feesToday(account: string): Money {
    return this.#account(account).feesToday;
  }

  position(account: string, symbol: string): PositionView | undefined {
    const p = this.#account(account).positions.get(symbol);
    return p === undefined ? undefined : view(p);
  }

  positions(account: string): PositionView[] {
    return [...this.#account(account).positions.values()].map(view).sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));
  }

  positionQty(account: string, symbol: string): Qty {
    return this.#account(account).positions.get(symbol)?.quantity ?? 0;
  }

  sellableQty(account: string, symbol: string): Qty {
    const p = this.#account(account).positions.get(symbol);
    return p === undefined ? 0 : p.settled - p.frozen;
  }

  /** Cash a buy of `qty` at `freezePrice` would freeze (notional + the order's fee at that price). */
  buyFreezeAmount(freezePrice: Price, qty: Qty): Money {
    const notional = freezePrice * qty;
    return notional + computeFeesOnNotional('BUY', notional, this.#fees).total;
  }

  /** Whether a freeze is possible, without changing anything. */
  canFreeze(account: string, side: Side, symbol: string, freezePrice: Price, qty: Qty): RuleResult<LedgerDenyReason> {
    const a = this.#accounts.get(account);
    if (a === undefined) return fail('UNKNOWN_ACCOUNT', `no account ${account} in the ledger`);
    return this.#canFreeze(a, side, symbol, freezePrice, qty, side === 'BUY' ? this.buyFreezeAmount(freezePrice, qty) : qty);
  }

  /** Freezes cash (buy) or shares (sell) for an order. Refuses without changing anything. */
  freeze(orderKey: string, account: string, side: Side, symbol: string, freezePrice: Price, qty: Qty): RuleResult<LedgerDenyReason> {
    if (this.#freezes.has(orderKey)) return fail('DUPLICATE_FREEZE', `order ${orderKey} already has a freeze`);
    const a = this.#accounts.get(account);
    if (a === undefined) return fail('UNKNOWN_ACCOUNT', `no account ${account} in the ledger`);
    // Computed once for the check and the freeze (the buy amount includes a fee computation).
    const frozen = side === 'BUY' ? this.buyFreezeAmount(freezePrice, qty) : qty;
    const check = this.#canFreeze(a, side, symbol, freezePrice, qty, frozen);
    if (!check.ok) return check;
    if (side === 'BUY') a.frozenCash += frozen;
    else this.#position(a, symbol).frozen += qty;
    this.#freezes.set(orderKey, { account, symbol, side, freezePrice, quantity: qty, filled: 0, notional: 0, feesPaid: 0, frozen, released: false });
    return OK;
  }

  /** The order has a freeze that is not released yet. */
  hasFreeze(orderKey: string): boolean {
    const f = this.#freezes.get(orderKey);
    return f !== undefined && !f.released;
  }

  /** The fee a fill would be charged (for journaling before applying). */
  previewFillFee(orderKey: string, qty: Qty, price: Price): Money {
    const f = this.#freeze(orderKey);
    return computeFeesOnNotional(f.side, f.notional + price * qty, this.#fees).total - f.feesPaid;
  }

  /**
   * Applies a fill of an order with a freeze. `fee` may be given (replaying a journaled fee);
   * otherwise it is computed. Cash, position, cost basis, realized P&L and the freeze move.
   */
  fill(orderKey: string, qty: Qty, price: Price, fee?: Money): FillResult {
    if (!Number.isSafeInteger(qty) || qty <= 0) throw new RangeError(`fill quantity must be a positive integer, got ${qty}`);
    if (!Number.isSafeInteger(price) || price <= 0) throw new RangeError(`fill price must be a positive integer, got ${price}`);
    const f = this.#freeze(orderKey);
    if (f.filled + qty > f.quantity) throw new RangeError(`order ${orderKey}: fill of ${qty} exceeds the ${f.quantity - f.filled} left`);
    const a = this.#account(f.account);
    const p = this.#position(a, f.symbol);
    const notional = price * qty;
    const charged = fee ?? this.previewFillFee(orderKey, qty, price);
    f.filled += qty;
    f.notional += notional;
    f.feesPaid += charged;
    a.feesToday += charged;
    let realized = 0;
    if (f.side === 'BUY') {
      a.cash -= notional + charged;
      p.quantity += qty;
      p.costBasis += notional + charged;
      // Recompute the freeze for what is left: notional at the freeze price + the rest of the order's fee.
      const rest = f.released ? 0 : f.quantity - f.filled;
      const restNotional = f.freezePrice * rest;
      const estimate = rest === 0 ? 0 : computeFeesOnNotional('BUY', f.notional + restNotional, this.#fees).total - f.feesPaid;
      const next = restNotional + Math.max(0, estimate);
      a.frozenCash -= f.frozen - next;
      f.frozen = next;
    } else {
      const removedCost = p.quantity === 0 ? 0 : divRoundHalfUp(p.costBasis * qty, p.quantity);
      a.cash += notional - charged;
      const unfreeze = Math.min(qty, f.frozen);
      p.quantity -= qty;
      p.settled -= qty;
      p.frozen -= unfreeze;
      p.costBasis = p.quantity === 0 ? 0 : p.costBasis - removedCost;
      realized = notional - charged - removedCost;
      p.realizedPnl += realized;
      f.frozen -= unfreeze;
    }
    if (f.filled === f.quantity) this.release(orderKey);
    return { fee: charged, cumFees: f.feesPaid, realized };
  }

  /** Fees paid so far by an order (0 for an order without a freeze). */
  orderFees(orderKey: string): Money {
    return this.#freezes.get(orderKey)?.feesPaid ?? 0;
  }

  /**
   * Releases what an order still has frozen (terminal order). Idempotent. The record stays
   * (until the next `roll`) so a late fill after a cancel is still charged the right fee.
   */
  release(orderKey: string): void {
    const f = this.#freezes.get(orderKey);
    if (f === undefined || f.released) return;
    const a = this.#account(f.account);
    if (f.side === 'BUY') a.frozenCash -= f.frozen;
    else this.#position(a, f.symbol).frozen -= f.frozen;
    f.frozen = 0;
    f.released = true;
  }

  /**
   * A new trading date: today's buys settle (T+1), realized P&L and the day's baseline reset.
   * `marks` gives the start-of-day prices (previous close) if known. A date not after the
   * current one changes nothing.
   */
  roll(date: TradingDate, marks?: MarkSource): void {
    if (date <= this.#date) return;
    this.#date = date;
    for (const [key, f] of this.#freezes) if (f.released) this.#freezes.delete(key);
    for (const a of this.#accounts.values()) {
      a.startCash = a.cash;
      a.feesToday = 0;
      for (const [symbol, p] of a.positions) {
        if (p.quantity === 0 && p.frozen === 0) {
          a.positions.delete(symbol);
          continue;
        }
        p.settled = p.quantity;
        p.realizedPnl = 0;
        p.startQuantity = p.quantity;
        p.startAvgCost = marks?.(symbol)?.price ?? (p.quantity === 0 ? 0 : divRoundHalfUp(p.costBasis, p.quantity));
      }
    }
  }

  /** Realized P&L today, all symbols. */
  realizedPnl(account: string): Money {
    let sum = 0;
    for (const p of this.#account(account).positions.values()) sum += p.realizedPnl;
    return sum;
  }

  /** Day P&L at marks (see the module comment); unmarked symbols count at average cost. */
  dayPnl(account: string, marks: MarkSource): Money {
    const a = this.#account(account);
    let pnl = a.cash - a.startCash;
    for (const p of a.positions.values()) {
      const mark = marks(p.symbol);
      if (mark !== undefined) {
        pnl += p.quantity * mark.price - p.startQuantity * mark.prevClose;
        continue;
      }
      // Unmarked: average cost now, the day's start price then (a buy check runs this per position).
      const avg = p.quantity === 0 ? 0 : divRoundHalfUp(p.costBasis, p.quantity);
      pnl += p.quantity * avg - p.startQuantity * p.startAvgCost;
    }
    return pnl;
  }

  /** Σ quantity × mark (average cost where unmarked). */
  grossExposure(account: string, marks: MarkSource): Money {
    let sum = 0;
    for (const p of this.#account(account).positions.values()) {
      if (p.quantity === 0) continue;
      sum += p.quantity * (marks(p.symbol)?.price ?? divRoundHalfUp(p.costBasis, p.quantity));
    }
    return sum;
  }

  /** cash + Σ quantity × mark. */
  equity(account: string, marks: MarkSource): Money {
    return this.#account(account).cash + this.grossExposure(account, marks);
  }

  /** `amount`: the cash (buy, `buyFreezeAmount`) or shares (sell) the order would freeze. */
  #canFreeze(a: Account, side: Side, symbol: string, freezePrice: Price, qty: Qty, amount: number): RuleResult<LedgerDenyReason> {
    if (side === 'BUY') {
      const available = a.cash - a.frozenCash;
      if (amount > available) return fail('INSUFFICIENT_CASH', `a buy of ${qty} at ${freezePrice} needs ${amount} units of cash (fees included); ${available} available`);
      return OK;
    }
    const p = a.positions.get(symbol);
    const sellable = p === undefined ? 0 : p.settled - p.frozen;
    if (amount > sellable) return fail('EXCEEDS_SELLABLE_POSITION', `cannot sell ${qty} ${symbol}: ${sellable} sellable (T+1 and open sells counted)`);
    return OK;
  }

  #account(account: string): Account {
    const a = this.#accounts.get(account);
    if (a === undefined) throw new RangeError(`no account ${account} in the ledger`);
    return a;
  }

  #freeze(orderKey: string): Freeze {
    const f = this.#freezes.get(orderKey);
    if (f === undefined) throw new RangeError(`order ${orderKey} has no freeze in the ledger`);
    return f;
  }

  #position(a: Account, symbol: string): Position {
    let p = a.positions.get(symbol);
    if (p === undefined) {
      p = { symbol, quantity: 0, settled: 0, frozen: 0, costBasis: 0, realizedPnl: 0, startQuantity: 0, startAvgCost: 0 };
      a.positions.set(symbol, p);
    }
    return p;
  }
}

function view(p: Position): PositionView {
  return {
    symbol: p.symbol,
    quantity: p.quantity,
    settled: p.settled,
    frozen: p.frozen,
    sellable: p.settled - p.frozen,
    costBasis: p.costBasis,
    avgCost: p.quantity === 0 ? 0 : divRoundHalfUp(p.costBasis, p.quantity),
    realizedPnl: p.realizedPnl,
    startQuantity: p.startQuantity,
    startAvgCost: p.startAvgCost,
  };
}
