import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TradingCalendar } from '../../../src/core/calendar.ts';
import { ConfigError } from '../../../src/core/errors.ts';
import { makeInstrument, type Board } from '../../../src/core/instruments.ts';
import {
  buyCageCeiling,
  cageReference,
  cageReferences,
  checkPriceCage,
  checkPriceCageAt,
  checkTickGrid,
  checkWithinLimit,
  DEFAULT_PRICE_CAGE_SETTINGS,
  DEFAULT_PRICE_LIMIT_SETTINGS,
  defaultCageMode,
  limitBandFromClose,
  limitPpmFor,
  ppmOn,
  priceLimitBand,
  sellCageFloor,
  validatePriceCageSettings,
  validatePriceLimitSettings,
  type PriceLimitSettings,
} from '../../../src/core/price-rules.ts';
import { OK } from '../../../src/core/rule-result.ts';
import { formatYuan, parseYuan } from '../../../src/core/units.ts';

const y = parseYuan;
const calendar = new TradingCalendar();
const SYMBOL_OF: Record<Board, string> = {
  SSE_MAIN: '600000.SH',
  SZSE_MAIN: '000001.SZ',
  CHINEXT: '300750.SZ',
  STAR: '688981.SH',
  BSE: '830799.BJ',
};

function instrument(board: Board, previousClose: string, options: { isST?: boolean; listingDate?: number } = {}) {
  return makeInstrument({
    symbol: SYMBOL_OF[board],
    name: 'x',
    isST: options.isST ?? false,
    listingDate: options.listingDate ?? 20100104,
    previousClose: y(previousClose),
  });
}

function band(board: Board, previousClose: string, options: { isST?: boolean } = {}, date = 20261123) {
  const b = priceLimitBand(instrument(board, previousClose, options), date, calendar);
  return b === null ? null : `${formatYuan(b.lower)}-${formatYuan(b.upper)}`;
}

function reasonOf(result: { ok: boolean; reason?: string }): string {
  return result.ok ? 'OK' : (result.reason as string);
}

test('checkTickGrid: positive whole ticks only', () => {
  assert.equal(checkTickGrid(y('10.01')), OK);
  assert.equal(checkTickGrid(y('0.01')), OK);
  assert.equal(reasonOf(checkTickGrid(y('10.005'))), 'PRICE_OFF_TICK');
  assert.equal(reasonOf(checkTickGrid(100.5)), 'PRICE_OFF_TICK');
  assert.equal(reasonOf(checkTickGrid(0)), 'PRICE_NOT_POSITIVE');
  assert.equal(reasonOf(checkTickGrid(-100)), 'PRICE_NOT_POSITIVE');
  assert.equal(reasonOf(checkTickGrid(Number.NaN)), 'PRICE_NOT_POSITIVE');
  assert.equal(checkTickGrid(y('10.005'), 50), OK); // a configurable tick
});

test('price limits by board (worked cases)', () => {
  assert.equal(band('SSE_MAIN', '10.00'), '9.00-11.00');
  assert.equal(band('SZSE_MAIN', '10.00'), '9.00-11.00');
  assert.equal(band('CHINEXT', '10.00'), '8.00-12.00');
  assert.equal(band('STAR', '10.00'), '8.00-12.00');
  assert.equal(band('BSE', '10.00'), '7.00-13.00');
  // 11.11 × 1.1 = 12.221 → 12.22; × 0.9 = 9.999 → 10.00
  assert.equal(band('SSE_MAIN', '11.11'), '10.00-12.22');
  // 12.35 × 1.2 = 14.82, × 0.8 = 9.88; 3.33 × 1.3 = 4.329 → 4.33, × 0.7 = 2.331 → 2.33
  assert.equal(band('CHINEXT', '12.35'), '9.88-14.82');
  assert.equal(band('BSE', '3.33'), '2.33-4.33');
});

const BEFORE_ST_CHANGE = 20260703; // the last trading day with the 5% main-board ST limit

test('limit prices round half up to the tick', () => {
  // 2.50 × 1.05 = 2.625 → 2.63; 2.50 × 0.95 = 2.375 → 2.38 (halves go up on both sides)
  assert.equal(band('SSE_MAIN', '2.50', { isST: true }, BEFORE_ST_CHANGE), '2.38-2.63');
  // 10.05 × 1.1 = 11.055 → 11.06; × 0.9 = 9.045 → 9.05
  assert.equal(band('SSE_MAIN', '10.05'), '9.05-11.06');
  // 0.15 × 1.3 = 0.195 → 0.20; × 0.7 = 0.105 → 0.11
  assert.equal(band('BSE', '0.15'), '0.11-0.20');
});

test('main-board ST limit was 5% until 2026-07-03; ST on other boards keeps the board limit', () => {
  assert.equal(band('SSE_MAIN', '10.00', { isST: true }, BEFORE_ST_CHANGE), '9.50-10.50');
  assert.equal(band('SZSE_MAIN', '3.33', { isST: true }, BEFORE_ST_CHANGE), '3.16-3.50'); // 3.1635 → 3.16, 3.4965 → 3.50
  assert.equal(band('CHINEXT', '10.00', { isST: true }), '8.00-12.00');
  assert.equal(band('STAR', '10.00', { isST: true }), '8.00-12.00');
  assert.equal(band('BSE', '10.00', { isST: true }), '7.00-13.00');
});

test('default settings: main-board ST moved from 5% to 10% on 2026-07-06 (SSE/SZSE rules revision)', () => {
  assert.equal(band('SSE_MAIN', '10.00', { isST: true }, 20260706), '9.00-11.00');
  assert.equal(band('SZSE_MAIN', '10.00', { isST: true }, 20260706), '9.00-11.00');
  assert.equal(band('SSE_MAIN', '10.00', { isST: true }, 20261123), '9.00-11.00');
  assert.equal(band('SZSE_MAIN', '3.33', { isST: true }, 20261123), '3.00-3.66'); // 2.997 → 3.00, 3.663 → 3.66
  // 5% from the introduction of the ST limit (1998-04-22); the board limit before it.
  assert.equal(limitPpmFor({ board: 'SSE_MAIN', isST: true }, 19980422), 50_000);
  assert.equal(limitPpmFor({ board: 'SZSE_MAIN', isST: true }, 20260703), 50_000);
  assert.equal(limitPpmFor({ board: 'SSE_MAIN', isST: true }, 19980421), 100_000);
  validatePriceLimitSettings(DEFAULT_PRICE_LIMIT_SETTINGS);
});

test('the ST limit is a dated setting: a switch to 10% is one config line', () => {
  const settings: PriceLimitSettings = {
    ...DEFAULT_PRICE_LIMIT_SETTINGS,
    stLimitPctSchedule: [
      { from: 19900101, ppm: 50_000 },
      { from: 20270104, ppm: 100_000 },
    ],
  };
  const st = instrument('SSE_MAIN', '10.00', { isST: true });
  assert.deepEqual(priceLimitBand(st, 20261231, calendar, settings), { lower: y('9.50'), upper: y('10.50') });
  assert.deepEqual(priceLimitBand(st, 20270104, calendar, settings), { lower: y('9.00'), upper: y('11.00') });
  assert.equal(ppmOn(settings.stLimitPctSchedule, 19891231), undefined);
  // Before the schedule starts there was no ST narrowing: the board limit applies.
  assert.equal(limitPpmFor({ board: 'SSE_MAIN', isST: true }, 19891231, settings), 100_000);
});

test('lower limit never below one tick', () => {
  assert.deepEqual(limitBandFromClose(y('0.01'), 100_000), { lower: y('0.01'), upper: y('0.01') });
  assert.deepEqual(limitBandFromClose(y('0.02'), 300_000), { lower: y('0.01'), upper: y('0.03') });
});

test('a bad previous close or rate is a programming error', () => {
  assert.throws(() => limitBandFromClose(-100, 100_000), RangeError);
  assert.throws(() => limitBandFromClose(0, 100_000), RangeError);
  assert.throws(() => limitBandFromClose(100.5, 100_000), RangeError);
  assert.throws(() => limitBandFromClose(100_000, 1_000_000), RangeError);
  assert.throws(() => limitBandFromClose(1e13, 100_000), RangeError);
});

test('no limit for the first trading days after a registration-system IPO', () => {
  // Listed Monday 2026-01-05: days 1–5 are 5–9 Jan, day 6 is Monday 12 Jan.
  const listed = 20260105;
  const star = instrument('STAR', '30.00', { listingDate: listed });
  assert.equal(priceLimitBand(star, 20260105, calendar), null);
  assert.equal(priceLimitBand(star, 20260109, calendar), null);
  assert.deepEqual(priceLimitBand(star, 20260112, calendar), { lower: y('24.00'), upper: y('36.00') });
  const main = instrument('SSE_MAIN', '30.00', { listingDate: listed });
  assert.equal(main.registrationSystem, true);
  assert.equal(priceLimitBand(main, 20260109, calendar), null);
  assert.notEqual(priceLimitBand(main, 20260112, calendar), null);
  // Holidays count as non-days: with 7 Jan closed, day 5 is Monday 12 Jan.
  const withHoliday = new TradingCalendar([20260107]);
  assert.equal(priceLimitBand(star, 20260112, withHoliday), null);
  assert.notEqual(priceLimitBand(star, 20260113, withHoliday), null);
  // BSE: only the listing day is free.
  const bse = instrument('BSE', '30.00', { listingDate: listed });
  assert.equal(priceLimitBand(bse, 20260105, calendar), null);
  assert.deepEqual(priceLimitBand(bse, 20260106, calendar), { lower: y('21.00'), upper: y('39.00') });
  // Approval-system main-board listing (before 2023-04-10): the limit applies from day 1.
  const approval = instrument('SSE_MAIN', '30.00', { listingDate: 20230403 });
  assert.equal(approval.registrationSystem, false);
  assert.notEqual(priceLimitBand(approval, 20230403, calendar), null);
  // A price band asked for before listing is a programming error.
  assert.throws(() => priceLimitBand(star, 20260102, calendar), RangeError);
});

test('checkWithinLimit is inclusive at both limits; null band means no limit', () => {
  const b = { lower: y('9.00'), upper: y('11.00') };
  assert.equal(checkWithinLimit(y('11.00'), b), OK);
  assert.equal(checkWithinLimit(y('9.00'), b), OK);
  assert.equal(reasonOf(checkWithinLimit(y('11.01'), b)), 'ABOVE_UPPER_LIMIT');
  assert.equal(reasonOf(checkWithinLimit(y('8.99'), b)), 'BELOW_LOWER_LIMIT');
  assert.equal(checkWithinLimit(y('999.99'), null), OK);
});

test('limit bands: on the tick grid, within half a tick of the exact figure, containing the close', () => {
  const boards: Board[] = ['SSE_MAIN', 'SZSE_MAIN', 'CHINEXT', 'STAR', 'BSE'];
  fc.assert(
    fc.property(fc.integer({ min: 100, max: 300_000 }), fc.constantFrom(...boards), fc.boolean(), (ticks, board, isST) => {
      const close = ticks * 100; // 1.00 .. 3000.00 CNY
      const rate = limitPpmFor({ board, isST }, 20261123);
      const { lower, upper } = limitBandFromClose(close, rate);
      assert.equal(upper % 100, 0);
      assert.equal(lower % 100, 0);
      assert.ok(lower <= close && close <= upper);
      // |limit − exact| ≤ half a tick, with exact halves rounded up: compare scaled by 1e6.
      const exactUpper = close * (1_000_000 + rate);
      const exactLower = close * (1_000_000 - rate);
      assert.ok(upper * 1_000_000 - exactUpper <= 50 * 1_000_000 && exactUpper - upper * 1_000_000 < 50 * 1_000_000);
      assert.ok(lower * 1_000_000 - exactLower <= 50 * 1_000_000 && exactLower - lower * 1_000_000 < 50 * 1_000_000);
    }),
  );
});

test('cage references fall back in the documented order', () => {
  const prev = y('10.00');
  assert.deepEqual(cageReferences({ bestBid: y('10.10'), bestAsk: y('10.12'), last: y('10.11'), previousClose: prev }), {
    buy: y('10.12'),
    sell: y('10.10'),
  });
  assert.deepEqual(cageReferences({ bestBid: y('10.10'), last: y('10.11'), previousClose: prev }), {
    buy: y('10.10'),
    sell: y('10.10'),
  });
  assert.deepEqual(cageReferences({ bestAsk: y('10.12'), previousClose: prev }), { buy: y('10.12'), sell: y('10.12') });
  assert.deepEqual(cageReferences({ last: y('10.11'), previousClose: prev }), { buy: y('10.11'), sell: y('10.11') });
  assert.deepEqual(cageReferences({ previousClose: prev }), { buy: prev, sell: prev });
  // Feeds that write empty levels as 0 are treated as absent.
  assert.equal(cageReference('BUY', { bestAsk: 0, bestBid: 0, last: 0, previousClose: prev }), prev);
  assert.equal(cageReference('SELL', { bestBid: 0, bestAsk: y('10.12'), previousClose: prev }), y('10.12'));
});

const MAIN_CAGE = DEFAULT_PRICE_CAGE_SETTINGS.SSE_MAIN;

function refs(buy: string, sell: string) {
  return { buy: y(buy), sell: y(sell) };
}

test('buy cage: max(102% of reference, reference + 10 ticks)', () => {
  // 10.00: 2% = 10.20 beats +10 ticks = 10.10
  assert.equal(buyCageCeiling(y('10.00'), MAIN_CAGE), y('10.20'));
  assert.equal(checkPriceCage('BUY', y('10.20'), refs('10.00', '10.00'), MAIN_CAGE), OK);
  assert.equal(reasonOf(checkPriceCage('BUY', y('10.21'), refs('10.00', '10.00'), MAIN_CAGE)), 'OUTSIDE_PRICE_CAGE');
  // 3.00: +10 ticks = 3.10 beats 2% = 3.06
  assert.equal(buyCageCeiling(y('3.00'), MAIN_CAGE), y('3.10'));
  assert.equal(checkPriceCage('BUY', y('3.10'), refs('3.00', '3.00'), MAIN_CAGE), OK);
  assert.equal(reasonOf(checkPriceCage('BUY', y('3.11'), refs('3.00', '3.00'), MAIN_CAGE)), 'OUTSIDE_PRICE_CAGE');
  // 10.01 × 1.02 = 10.2102: 10.21 is inside the rule, 10.22 is not (floor to the tick).
  assert.equal(buyCageCeiling(y('10.01'), MAIN_CAGE), y('10.21'));
  // 10.25 × 1.02 = 10.455: half-up rounding would admit 10.46 > 10.455; floor does not.
  assert.equal(buyCageCeiling(y('10.25'), MAIN_CAGE), y('10.45'));
  assert.equal(reasonOf(checkPriceCage('BUY', y('10.46'), refs('10.25', '10.25'), MAIN_CAGE)), 'OUTSIDE_PRICE_CAGE');
  // Buys below the reference are never caged.
  assert.equal(checkPriceCage('BUY', y('0.01'), refs('10.00', '10.00'), MAIN_CAGE), OK);
});

test('sell cage: min(98% of reference, reference − 10 ticks)', () => {
  assert.equal(sellCageFloor(y('10.00'), MAIN_CAGE), y('9.80'));
  assert.equal(checkPriceCage('SELL', y('9.80'), refs('10.00', '10.00'), MAIN_CAGE), OK);
  assert.equal(reasonOf(checkPriceCage('SELL', y('9.79'), refs('10.00', '10.00'), MAIN_CAGE)), 'OUTSIDE_PRICE_CAGE');
  assert.equal(sellCageFloor(y('3.00'), MAIN_CAGE), y('2.90'));
  // 10.01 × 0.98 = 9.8098: 9.81 is inside, 9.80 is not (ceiling to the tick).
  assert.equal(sellCageFloor(y('10.01'), MAIN_CAGE), y('9.81'));
  assert.equal(reasonOf(checkPriceCage('SELL', y('9.80'), refs('10.01', '10.01'), MAIN_CAGE)), 'OUTSIDE_PRICE_CAGE');
  // A tiny reference: reference − 10 ticks would be negative; any positive tick price passes.
  assert.equal(sellCageFloor(y('0.05'), MAIN_CAGE), y('0.01'));
  assert.equal(checkPriceCage('SELL', y('99.99'), refs('10.00', '10.00'), MAIN_CAGE), OK);
});

test('each side uses its own reference', () => {
  const r = refs('10.50', '10.00'); // buy ref = ask, sell ref = bid
  assert.equal(checkPriceCage('BUY', y('10.71'), r, MAIN_CAGE), OK); // 10.50 × 1.02 = 10.71
  assert.equal(reasonOf(checkPriceCage('BUY', y('10.72'), r, MAIN_CAGE)), 'OUTSIDE_PRICE_CAGE');
  assert.equal(checkPriceCage('SELL', y('9.80'), r, MAIN_CAGE), OK);
});

test('cage bounds reproduce the literal rule on the tick grid (property)', () => {
  const boards: Board[] = ['SSE_MAIN', 'SZSE_MAIN', 'CHINEXT', 'STAR', 'BSE'];
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 20_000_000 }),
      fc.integer({ min: 1, max: 300_000 }),
      fc.constantFrom(...boards),
      (reference, priceTicks, board) => {
        const cage = DEFAULT_PRICE_CAGE_SETTINGS[board];
        const price = priceTicks * 100;
        const buyAllowed =
          price * 1_000_000 <= reference * (1_000_000 + cage.pctPpm) || price <= reference + cage.ticks * 100;
        const sellAllowed =
          price * 1_000_000 >= reference * (1_000_000 - cage.pctPpm) || price >= reference - cage.ticks * 100;
        assert.equal(checkPriceCage('BUY', price, { buy: reference, sell: reference }, cage).ok, buyAllowed);
        assert.equal(checkPriceCage('SELL', price, { buy: reference, sell: reference }, cage).ok, sellAllowed);
        // The single-reference form agrees, and each side reads only its own reference.
        assert.equal(checkPriceCageAt('BUY', price, reference, cage).ok, buyAllowed);
        assert.equal(checkPriceCageAt('SELL', price, reference, cage).ok, sellAllowed);
        assert.equal(checkPriceCage('BUY', price, { buy: reference, sell: 1 }, cage).ok, buyAllowed);
        assert.equal(checkPriceCage('SELL', price, { buy: 1, sell: reference }, cage).ok, sellAllowed);
      },
    ),
  );
});

test('cage settings per board: BSE 5%; SZSE boards hold, SSE and BSE reject', () => {
  assert.equal(buyCageCeiling(y('10.00'), DEFAULT_PRICE_CAGE_SETTINGS.BSE), y('10.50'));
  assert.equal(sellCageFloor(y('10.00'), DEFAULT_PRICE_CAGE_SETTINGS.BSE), y('9.50'));
  assert.equal(defaultCageMode('CHINEXT'), 'hold');
  assert.equal(defaultCageMode('SZSE_MAIN'), 'hold');
  assert.equal(defaultCageMode('SSE_MAIN'), 'reject');
  assert.equal(defaultCageMode('STAR'), 'reject');
  assert.equal(defaultCageMode('BSE'), 'reject');
  const held = checkPriceCage('BUY', y('12.00'), refs('10.00', '10.00'), DEFAULT_PRICE_CAGE_SETTINGS.CHINEXT);
  assert.ok(!held.ok && held.reason === 'OUTSIDE_PRICE_CAGE' && held.detail.includes('hold'));
});

test('settings validation names the bad key', () => {
  validatePriceLimitSettings(DEFAULT_PRICE_LIMIT_SETTINGS);
  validatePriceCageSettings(DEFAULT_PRICE_CAGE_SETTINGS);
  assert.throws(
    () =>
      validatePriceLimitSettings({
        ...DEFAULT_PRICE_LIMIT_SETTINGS,
        stLimitPctSchedule: [
          { from: 20270101, ppm: 100_000 },
          { from: 20260101, ppm: 50_000 },
        ],
      }),
    (error: unknown) => error instanceof ConfigError && error.key === 'priceLimits.stLimitPctSchedule[1].from',
  );
  assert.throws(
    () =>
      validatePriceLimitSettings({
        ...DEFAULT_PRICE_LIMIT_SETTINGS,
        limitPpmByBoard: { ...DEFAULT_PRICE_LIMIT_SETTINGS.limitPpmByBoard, BSE: 0.3 },
      }),
    (error: unknown) => error instanceof ConfigError && error.key === 'priceLimits.limitPpmByBoard.BSE',
  );
  assert.throws(
    () =>
      validatePriceCageSettings({
        ...DEFAULT_PRICE_CAGE_SETTINGS,
        STAR: { pctPpm: 20_000, ticks: 10, mode: 'queue' as 'hold' },
      }),
    (error: unknown) => error instanceof ConfigError && error.key === 'priceCage.STAR.mode',
  );
});
