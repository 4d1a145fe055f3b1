/**
 * Integer units for prices, money and quantities. No floating-point money anywhere.
 *
 * - `Price`: integer count of 0.0001 CNY ("price units"). 10.05 CNY = 100_500.
 * - `Money`: integer count of 0.0001 CNY as well, so a notional is simply price × quantity
 *   with no rescaling. Fees are rounded to whole fen (0.01 CNY = 100 units), as brokers bill.
 * - `Qty`: integer number of shares.
 *
 * Every value stays far below Number.MAX_SAFE_INTEGER (9.0e15 units = 9.0e11 CNY).
 */
export type Price = number;
export type Money = number;
export type Qty = number;

/** Price and money units per CNY. */
export const UNITS_PER_YUAN = 10_000;
/** Units per fen (0.01 CNY), the A-share tick and the smallest billed amount. */
export const UNITS_PER_FEN = 100;

/** Parses a decimal CNY string such as "10.05" or "-3" exactly (no float rounding). */
export function parseYuan(text: string): Price {
  const match = /^(-?)(\d+)(?:\.(\d{1,4}))?$/.exec(text.trim());
  if (!match) throw new RangeError(`not a CNY amount with at most 4 decimals: "${text}"`);
  const [, sign, whole, frac = ''] = match;
  const units = Number(whole) * UNITS_PER_YUAN + Number(frac.padEnd(4, '0'));
  if (!Number.isSafeInteger(units)) throw new RangeError(`CNY amount out of range: "${text}"`);
  return sign === '-' ? -units : units;
}

/** Converts a CNY number (for config and display convenience only) to units, rounding half away from zero. */
export function yuan(value: number): Price {
  const units = Math.round(Math.abs(value) * UNITS_PER_YUAN);
  return value < 0 ? -units : units;
}

/** Formats units as CNY with `decimals` places (default 2, the tick precision). */
export function formatYuan(units: Money, decimals = 2): string {
  const negative = units < 0;
  const abs = Math.abs(units);
  const whole = Math.trunc(abs / UNITS_PER_YUAN);
  const frac = String(abs % UNITS_PER_YUAN).padStart(4, '0').slice(0, decimals);
  return `${negative ? '-' : ''}${whole}${decimals > 0 ? `.${frac}` : ''}`;
}

/** Integer division rounding half up (towards +infinity on .5), for non-negative inputs. */
export function divRoundHalfUp(numerator: number, denominator: number): number {
  return Math.floor((numerator * 2 + denominator) / (denominator * 2));
}

/** Rounds a money amount to whole fen, half up. */
export function roundToFen(units: Money): Money {
  return divRoundHalfUp(units, UNITS_PER_FEN) * UNITS_PER_FEN;
}

/** Rates (fees, percentages) as integer parts per million of the base amount: 0.05% = 500 ppm. */
export type Ppm = number;
export const PPM = 1_000_000;

/** Applies a ppm rate to an amount, returning units rounded half up. */
export function applyPpm(amount: Money, rate: Ppm): Money {
  return divRoundHalfUp(amount * rate, PPM);
}
