/**
 * Price rules of the A-share market: the tick grid, daily price limits and the price cage.
 * All arithmetic is on integer price units (0.0001 CNY); the tick is 0.01 CNY = 100 units.
 */
import type { TradingDate } from './clock.ts';
import type { TradingCalendar } from './calendar.ts';
import type { Board, Instrument, Side } from './instruments.ts';
import { isValidDate } from './calendar.ts';
import { BOARDS } from './instruments.ts';
import { ConfigError } from './errors.ts';
import { fail, OK, type RuleResult } from './rule-result.ts';
import { divRoundHalfUp, PPM, UNITS_PER_FEN, type Ppm, type Price } from './units.ts';

/** The A-share tick: 0.01 CNY for every board. */
export const TICK: Price = UNITS_PER_FEN;

export type PriceRuleReason =
  | 'PRICE_NOT_POSITIVE'
  | 'PRICE_OFF_TICK'
  | 'ABOVE_UPPER_LIMIT'
  | 'BELOW_LOWER_LIMIT'
  | 'OUTSIDE_PRICE_CAGE';

// ---------------------------------------------------------------------------------------------
// Tick grid

/** A price must be positive and a whole number of ticks. */
export function checkTickGrid(price: Price, tick: Price = TICK): RuleResult<PriceRuleReason> {
  if (!(price > 0)) return fail('PRICE_NOT_POSITIVE', `price must be positive, got ${price} units`);
  if (!Number.isInteger(price) || price % tick !== 0) {
    return fail('PRICE_OFF_TICK', `price ${price} units is not a multiple of the ${tick}-unit tick`);
  }
  return OK;
}

// ---------------------------------------------------------------------------------------------
// Daily price limits

export interface PriceBand {
  readonly lower: Price;
  readonly upper: Price;
}

/** A rate in force from a date on (until the next entry of its schedule). */
export interface DatedPpm {
  readonly from: TradingDate;
  readonly ppm: Ppm;
}

export interface PriceLimitSettings {
  /** Limit of ordinary stocks by board, as a fraction of the previous close. */
  readonly limitPpmByBoard: Readonly<Record<Board, Ppm>>;
  /**
   * Limit of ST / *ST stocks on the SSE and SZSE main boards, by date (ascending `from`).
   * ST stocks on ChiNext, STAR and BSE keep their board's limit. Before the first entry the
   * board limit applies. Default: 5% from 1998-04-22 (when the ST limit was introduced), 10%
   * from 2026-07-06 (the SSE and SZSE trading-rule revisions in force that day aligned
   * main-board ST with the rest of the main board).
   */
  readonly stLimitPctSchedule: readonly DatedPpm[];
  /**
   * Trading days without a price limit after a registration-system listing (listing day = day 1).
   * SSE/SZSE (main, ChiNext, STAR): the first 5 days. BSE: only the listing day, then ±30%
   * (BSE trading rules; the listing day has temporary halts at ±30% and ±60% instead).
   */
  readonly ipoNoLimitTradingDays: Readonly<Record<Board, number>>;
}

export const DEFAULT_PRICE_LIMIT_SETTINGS: PriceLimitSettings = Object.freeze({
  limitPpmByBoard: Object.freeze({
    SSE_MAIN: 100_000,
    SZSE_MAIN: 100_000,
    CHINEXT: 200_000,
    STAR: 200_000,
    BSE: 300_000,
  }),
  stLimitPctSchedule: Object.freeze([
    Object.freeze({ from: 19980422, ppm: 50_000 }),
    Object.freeze({ from: 20260706, ppm: 100_000 }),
  ]),
  ipoNoLimitTradingDays: Object.freeze({
    SSE_MAIN: 5,
    SZSE_MAIN: 5,
    CHINEXT: 5,
    STAR: 5,
    BSE: 1,
  }),
});

/** The rate of a dated schedule in force on `date`, or undefined before its first entry. */
export function ppmOn(schedule: readonly DatedPpm[], date: TradingDate): Ppm | undefined {
  let rate: Ppm | undefined;
  for (const entry of schedule) {
    if (entry.from > date) break;
    rate = entry.ppm;
  }
  return rate;
}

function isMainBoard(board: Board): boolean {
  return board === 'SSE_MAIN' || board === 'SZSE_MAIN';
}

/** The limit rate that applies to an instrument on a date, ignoring the IPO exemption. */
export function limitPpmFor(
  instrument: Pick<Instrument, 'board' | 'isST'>,
  date: TradingDate,
  settings: PriceLimitSettings = DEFAULT_PRICE_LIMIT_SETTINGS,
): Ppm {
  if (instrument.isST && isMainBoard(instrument.board)) {
    // Before the schedule's first entry the ST narrowing did not exist: the board limit applies.
    return ppmOn(settings.stLimitPctSchedule, date) ?? settings.limitPpmByBoard[instrument.board];
  }
  return settings.limitPpmByBoard[instrument.board];
}

/**
 * The limit band around a previous close: previous close × (1 ± rate), each rounded to the
 * nearest tick with halves rounded up (the exchanges' 四舍五入), and the lower limit never
 * below one tick.
 */
export function limitBandFromClose(previousClose: Price, ratePpm: Ppm): PriceBand {
  if (!Number.isSafeInteger(previousClose) || previousClose <= 0) {
    throw new RangeError(`previous close must be a positive integer of price units, got ${previousClose}`);
  }
  if (!Number.isInteger(ratePpm) || ratePpm < 0 || ratePpm >= PPM) {
    throw new RangeError(`limit rate must be an integer ppm in [0, 1_000_000), got ${ratePpm}`);
  }
  const upperScaled = previousClose * (PPM + ratePpm);
  // divRoundHalfUp doubles its numerator: keep that exact.
  if (!Number.isSafeInteger(upperScaled * 2)) throw new RangeError(`previous close too large: ${previousClose}`);
  const tickScale = PPM * TICK;
  const upper = divRoundHalfUp(upperScaled, tickScale) * TICK;
  const lower = Math.max(TICK, divRoundHalfUp(previousClose * (PPM - ratePpm), tickScale) * TICK);
  return { lower, upper };
}

/**
 * The day's price limits of an instrument, or `null` when it has no limit: the first
 * `ipoNoLimitTradingDays` trading days of a registration-system listing. `date` must not be
 * before the listing date. The band is fixed for the day, so callers compute it once per
 * instrument and day rather than per order.
 */
export function priceLimitBand(
  instrument: Instrument,
  date: TradingDate,
  calendar: TradingCalendar,
  settings: PriceLimitSettings = DEFAULT_PRICE_LIMIT_SETTINGS,
): PriceBand | null {
  if (instrument.registrationSystem) {
    const noLimitDays = settings.ipoNoLimitTradingDays[instrument.board];
    if (noLimitDays > 0 && calendar.tradingDayIndexSinceListing(instrument.listingDate, date) <= noLimitDays) {
      return null;
    }
  }
  return limitBandFromClose(instrument.previousClose, limitPpmFor(instrument, date, settings));
}

/** A price must lie within the day's limits (inclusive); `null` means no limit. */
export function checkWithinLimit(price: Price, band: PriceBand | null): RuleResult<PriceRuleReason> {
  if (band === null) return OK;
  if (price > band.upper) {
    return fail('ABOVE_UPPER_LIMIT', `price ${price} units is above the upper limit ${band.upper}`);
  }
  if (price < band.lower) {
    return fail('BELOW_LOWER_LIMIT', `price ${price} units is below the lower limit ${band.lower}`);
  }
  return OK;
}

// ---------------------------------------------------------------------------------------------
// Price cage (continuous trading only; the caller checks the phase)

/** What the cage references are taken from. Absent levels may be undefined or 0 (feeds use both). */
export interface CageQuote {
  readonly bestBid?: Price;
  readonly bestAsk?: Price;
  readonly last?: Price;
  readonly previousClose: Price;
}

export interface CageReferences {
  readonly buy: Price;
  readonly sell: Price;
}

function present(price: Price | undefined): price is Price {
  return price !== undefined && price > 0;
}

/**
 * The cage reference of a side. Buy: best ask, else best bid, else last, else previous close.
 * Sell: best bid, else best ask, else last, else previous close.
 */
export function cageReference(side: Side, quote: CageQuote): Price {
  const near = side === 'BUY' ? quote.bestAsk : quote.bestBid;
  if (present(near)) return near;
  const far = side === 'BUY' ? quote.bestBid : quote.bestAsk;
  if (present(far)) return far;
  if (present(quote.last)) return quote.last;
  return quote.previousClose;
}

export function cageReferences(quote: CageQuote): CageReferences {
  return { buy: cageReference('BUY', quote), sell: cageReference('SELL', quote) };
}

/**
 * What the exchange does with an out-of-cage order: SSE (main, STAR) rejects it; SZSE (main,
 * ChiNext) holds it in the trading host until prices move it back inside. Either way the
 * check reports OUTSIDE_PRICE_CAGE and the caller applies the mode.
 */
export type CageMode = 'reject' | 'hold';

export interface PriceCageSettings {
  /** Buy ceiling = ref × (1 + pct); sell floor = ref × (1 − pct). */
  readonly pctPpm: Ppm;
  /** …or ref ± this many ticks, whichever is wider. */
  readonly ticks: number;
  readonly mode: CageMode;
}

const SSE_SZSE_CAGE = { pctPpm: 20_000, ticks: 10 } as const;

/**
 * Default cages per board. SSE/SZSE: 2% or 10 ticks. BSE: 5% or 10 ticks (BSE trading rules).
 * Rejecting vs holding as described at CageMode.
 */
export const DEFAULT_PRICE_CAGE_SETTINGS: Readonly<Record<Board, PriceCageSettings>> = Object.freeze({
  SSE_MAIN: Object.freeze({ ...SSE_SZSE_CAGE, mode: 'reject' }),
  STAR: Object.freeze({ ...SSE_SZSE_CAGE, mode: 'reject' }),
  SZSE_MAIN: Object.freeze({ ...SSE_SZSE_CAGE, mode: 'hold' }),
  CHINEXT: Object.freeze({ ...SSE_SZSE_CAGE, mode: 'hold' }),
  BSE: Object.freeze({ pctPpm: 50_000, ticks: 10, mode: 'reject' }),
});

export function defaultCageMode(board: Board): CageMode {
  return DEFAULT_PRICE_CAGE_SETTINGS[board].mode;
}

/*
 * Rounding of the cage bounds. The rule compares the order price with the exact product
 * (ref × 102%), which is generally not on the tick grid. Order prices are on the grid, so the
 * bound that reproduces the rule exactly is the highest tick price ≤ the buy bound (floor) and
 * the lowest tick price ≥ the sell bound (ceiling). That never rejects a price the rule allows
 * (it does not tighten the cage), and unlike rounding outward or half-up it never admits a
 * price the exchange would refuse.
 */

// Exact integer floor/ceiling division (a float quotient can round across an integer).
function floorDiv(numerator: number, denominator: number): number {
  const remainder = ((numerator % denominator) + denominator) % denominator;
  return (numerator - remainder) / denominator;
}

function ceilDiv(numerator: number, denominator: number): number {
  return -floorDiv(-numerator, denominator);
}

/** The highest buy price inside the cage: floor-to-tick of max(ref × (1 + pct), ref + n ticks). */
export function buyCageCeiling(buyReference: Price, settings: PriceCageSettings): Price {
  const byPct = floorDiv(buyReference * (PPM + settings.pctPpm), PPM * TICK);
  const byTicks = floorDiv(buyReference + settings.ticks * TICK, TICK);
  return Math.max(byPct, byTicks) * TICK;
}

/** The lowest sell price inside the cage: ceiling-to-tick of min(ref × (1 − pct), ref − n ticks), at least one tick. */
export function sellCageFloor(sellReference: Price, settings: PriceCageSettings): Price {
  const byPct = ceilDiv(sellReference * (PPM - settings.pctPpm), PPM * TICK);
  const byTicks = ceilDiv(sellReference - settings.ticks * TICK, TICK);
  return Math.max(1, Math.min(byPct, byTicks)) * TICK;
}

/** Checks a limit order's price against the cage of its side. */
export function checkPriceCage(
  side: Side,
  price: Price,
  refs: CageReferences,
  settings: PriceCageSettings,
): RuleResult<PriceRuleReason> {
  return checkPriceCageAt(side, price, side === 'BUY' ? refs.buy : refs.sell, settings);
}

/**
 * The same check against the one reference of the order's side (`cageReference(side, quote)`),
 * for hot paths: nothing is allocated unless the order is outside the cage.
 */
export function checkPriceCageAt(
  side: Side,
  price: Price,
  reference: Price,
  settings: PriceCageSettings,
): RuleResult<'OUTSIDE_PRICE_CAGE'> {
  if (side === 'BUY') {
    const ceiling = buyCageCeiling(reference, settings);
    if (price > ceiling) {
      return fail(
        'OUTSIDE_PRICE_CAGE',
        `buy price ${price} units is above the cage ceiling ${ceiling} (reference ${reference}; board mode ${settings.mode})`,
      );
    }
    return OK;
  }
  const floor = sellCageFloor(reference, settings);
  if (price < floor) {
    return fail(
      'OUTSIDE_PRICE_CAGE',
      `sell price ${price} units is below the cage floor ${floor} (reference ${reference}; board mode ${settings.mode})`,
    );
  }
  return OK;
}

// ---------------------------------------------------------------------------------------------
// Settings validation (for config loading: one clear message naming the key)

function assertPpm(value: unknown, key: string, allowZero: boolean): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < (allowZero ? 0 : 1) || value >= PPM) {
    throw new ConfigError(key, `must be an integer ppm in [${allowZero ? 0 : 1}, 1000000), got ${String(value)}`);
  }
}

function assertCount(value: unknown, key: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new ConfigError(key, `must be a non-negative integer, got ${String(value)}`);
  }
}

export function validatePriceLimitSettings(settings: PriceLimitSettings, key = 'priceLimits'): void {
  for (const board of BOARDS) {
    assertPpm(settings.limitPpmByBoard[board], `${key}.limitPpmByBoard.${board}`, false);
    assertCount(settings.ipoNoLimitTradingDays[board], `${key}.ipoNoLimitTradingDays.${board}`);
  }
  let previous = -Infinity;
  settings.stLimitPctSchedule.forEach((entry, index) => {
    const entryKey = `${key}.stLimitPctSchedule[${index}]`;
    if (!isValidDate(entry.from)) throw new ConfigError(`${entryKey}.from`, `not a YYYYMMDD date: ${entry.from}`);
    if (entry.from <= previous) throw new ConfigError(`${entryKey}.from`, 'dates must be strictly ascending');
    assertPpm(entry.ppm, `${entryKey}.ppm`, false);
    previous = entry.from;
  });
}

export function validatePriceCageSettings(
  settings: Readonly<Record<Board, PriceCageSettings>>,
  key = 'priceCage',
): void {
  for (const board of BOARDS) {
    const cage = settings[board];
    assertPpm(cage.pctPpm, `${key}.${board}.pctPpm`, true);
    assertCount(cage.ticks, `${key}.${board}.ticks`);
    if (cage.mode !== 'reject' && cage.mode !== 'hold') {
      throw new ConfigError(`${key}.${board}.mode`, `must be "reject" or "hold", got ${String(cage.mode)}`);
    }
  }
}
