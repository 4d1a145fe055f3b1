/**
 * Trading fees of an A-share order: broker commission (with a per-order minimum), stamp duty
 * (sells only) and the CSDC transfer fee (both sides).
 *
 * Rounding: each fee is computed on the order notional (price × quantity) and rounded once,
 * to whole fen, half up (四舍五入, as brokers and the tax bill round). Rounding once matters:
 * rounding to price units first and then to fen could turn 1.4950 fen into 2 fen.
 * The commission minimum applies per order: for partial fills, compute on the order's
 * cumulative notional, not per fill.
 */
import type { Side } from './instruments.ts';
import { ConfigError } from './errors.ts';
import { divRoundHalfUp, PPM, UNITS_PER_FEN, type Money, type Ppm, type Price, type Qty } from './units.ts';

export interface FeeSchedule {
  /** Broker commission rate, both sides (negotiated; 250 ppm = 0.025% is typical). */
  readonly commissionPpm: Ppm;
  /** Minimum commission per order, in money units (5 CNY = 50_000). */
  readonly minCommission: Money;
  /** Stamp duty on sells (0.05% = 500 ppm since 2023-08-28; 0.1% before). */
  readonly stampDutySellPpm: Ppm;
  /** Transfer fee, both sides (0.001% = 10 ppm). */
  readonly transferFeePpm: Ppm;
}

export const DEFAULT_FEE_SCHEDULE: FeeSchedule = Object.freeze({
  commissionPpm: 250,
  minCommission: 50_000,
  stampDutySellPpm: 500,
  transferFeePpm: 10,
});

export interface Fees {
  readonly commission: Money;
  readonly stampDuty: Money;
  readonly transferFee: Money;
  readonly total: Money;
}

const FEN_SCALE = PPM * UNITS_PER_FEN;
/** Nothing traded, nothing paid: one shared frozen value. */
const NO_FEES: Fees = Object.freeze({ commission: 0, stampDuty: 0, transferFee: 0, total: 0 });

/**
 * `amount` × `rate` / 1e6, rounded half up to whole fen, exactly. Splitting the amount by the
 * scale keeps every intermediate product a safe integer even for the largest orders
 * (amount × rate alone overflows 2^53 around 9 billion CNY × 0.1%).
 */
export function rateToFen(amount: Money, rate: Ppm): Money {
  const rest = amount % FEN_SCALE;
  const whole = (amount - rest) / FEN_SCALE;
  return (whole * rate + divRoundHalfUp(rest * rate, FEN_SCALE)) * UNITS_PER_FEN;
}

/** Fees of an order (or of its cumulative fills) of `qty` shares at `price`. No trade, no fee. */
export function computeFees(
  side: Side,
  price: Price,
  qty: Qty,
  schedule: FeeSchedule = DEFAULT_FEE_SCHEDULE,
): Fees {
  if (!Number.isSafeInteger(price) || price < 0) throw new RangeError(`price must be a non-negative integer, got ${price}`);
  if (!Number.isSafeInteger(qty) || qty < 0) throw new RangeError(`quantity must be a non-negative integer, got ${qty}`);
  if (qty === 0) return NO_FEES;
  const notional = price * qty;
  if (!Number.isSafeInteger(notional)) throw new RangeError(`notional ${price} × ${qty} is out of range`);
  return feesOnNotional(side, notional, schedule);
}

/**
 * Fees on an exact traded notional (Σ fill price × fill qty, e.g. `Order.notional`). Use this
 * for an order filled at several prices: `avgPrice × filledQty` is rounded and can move a fee
 * across a half-fen boundary. A zero notional (nothing traded) pays nothing.
 */
export function computeFeesOnNotional(
  side: Side,
  notional: Money,
  schedule: FeeSchedule = DEFAULT_FEE_SCHEDULE,
): Fees {
  if (!Number.isSafeInteger(notional) || notional < 0) {
    throw new RangeError(`notional must be a non-negative integer of money units, got ${notional}`);
  }
  return notional === 0 ? NO_FEES : feesOnNotional(side, notional, schedule);
}

function feesOnNotional(side: Side, notional: Money, schedule: FeeSchedule): Fees {
  const commission = Math.max(rateToFen(notional, schedule.commissionPpm), schedule.minCommission);
  const stampDuty = side === 'SELL' ? rateToFen(notional, schedule.stampDutySellPpm) : 0;
  const transferFee = rateToFen(notional, schedule.transferFeePpm);
  return { commission, stampDuty, transferFee, total: commission + stampDuty + transferFee };
}

/** Validates a fee schedule from configuration; throws a ConfigError naming the bad key. */
export function validateFeeSchedule(schedule: FeeSchedule, key = 'fees'): void {
  const rates = ['commissionPpm', 'stampDutySellPpm', 'transferFeePpm'] as const;
  for (const name of rates) {
    const value = schedule[name];
    if (!Number.isInteger(value) || value < 0 || value >= PPM) {
      throw new ConfigError(`${key}.${name}`, `must be an integer ppm in [0, 1000000), got ${value}`);
    }
  }
  const min = schedule.minCommission;
  if (!Number.isSafeInteger(min) || min < 0 || min % UNITS_PER_FEN !== 0) {
    throw new ConfigError(`${key}.minCommission`, `must be a non-negative whole number of fen in units, got ${min}`);
  }
}
