import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError } from '../../../src/core/errors.ts';
import type { Board } from '../../../src/core/instruments.ts';
import {
  checkLot,
  checkMaxOrderQty,
  DEFAULT_LOT_SETTINGS,
  isLotQuantity,
  validateLotSettings,
} from '../../../src/core/lot-rules.ts';
import { OK, type RuleResult } from '../../../src/core/rule-result.ts';

function reasonOf(result: RuleResult): string {
  return result.ok ? 'OK' : result.reason;
}

test('buys: main board and ChiNext in multiples of 100', () => {
  for (const board of ['SSE_MAIN', 'SZSE_MAIN', 'CHINEXT'] as const) {
    assert.equal(checkLot(board, 'BUY', 100), OK);
    assert.equal(checkLot(board, 'BUY', 1_000), OK);
    assert.equal(reasonOf(checkLot(board, 'BUY', 150)), 'NOT_LOT_MULTIPLE');
    assert.equal(reasonOf(checkLot(board, 'BUY', 50)), 'BELOW_MIN_LOT');
    assert.equal(reasonOf(checkLot(board, 'BUY', 1_001)), 'NOT_LOT_MULTIPLE');
  }
});

test('buys: STAR at least 200 then steps of 1; BSE at least 100 then steps of 1', () => {
  assert.equal(checkLot('STAR', 'BUY', 200), OK);
  assert.equal(checkLot('STAR', 'BUY', 201), OK);
  assert.equal(reasonOf(checkLot('STAR', 'BUY', 199)), 'BELOW_MIN_LOT');
  assert.equal(reasonOf(checkLot('STAR', 'BUY', 100)), 'BELOW_MIN_LOT');
  assert.equal(checkLot('BSE', 'BUY', 100), OK);
  assert.equal(checkLot('BSE', 'BUY', 101), OK);
  assert.equal(reasonOf(checkLot('BSE', 'BUY', 99)), 'BELOW_MIN_LOT');
});

test('quantities must be positive whole shares', () => {
  for (const qty of [0, -100, 100.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.equal(reasonOf(checkLot('SSE_MAIN', 'BUY', qty)), 'INVALID_QUANTITY');
    assert.equal(reasonOf(checkLot('SSE_MAIN', 'SELL', qty, 1_000)), 'INVALID_QUANTITY');
  }
});

test('sells: whole lots from any position; an odd quantity only with the whole odd part', () => {
  assert.equal(checkLot('SSE_MAIN', 'SELL', 100, 150), OK);
  assert.equal(checkLot('SSE_MAIN', 'SELL', 150, 150), OK); // the entire odd holding
  assert.equal(reasonOf(checkLot('SSE_MAIN', 'SELL', 30, 150)), 'ODD_LOT_NOT_WHOLE_POSITION');
  assert.equal(checkLot('SSE_MAIN', 'SELL', 50, 50), OK); // a holding below one lot
  assert.equal(reasonOf(checkLot('SSE_MAIN', 'SELL', 30, 50)), 'ODD_LOT_NOT_WHOLE_POSITION');
  assert.equal(checkLot('CHINEXT', 'SELL', 1_234, 1_234), OK);
  assert.equal(reasonOf(checkLot('CHINEXT', 'SELL', 230, 1_234)), 'ODD_LOT_NOT_WHOLE_POSITION');
  assert.equal(checkLot('CHINEXT', 'SELL', 1_200, 1_234), OK);
  // STAR: a remainder below 200 goes in one order; ≥ 200 in steps of 1.
  assert.equal(checkLot('STAR', 'SELL', 150, 150), OK);
  assert.equal(reasonOf(checkLot('STAR', 'SELL', 100, 150)), 'ODD_LOT_NOT_WHOLE_POSITION');
  assert.equal(checkLot('STAR', 'SELL', 250, 350), OK);
  assert.equal(reasonOf(checkLot('STAR', 'SELL', 150, 350)), 'ODD_LOT_NOT_WHOLE_POSITION');
  // BSE: below 100 only as the whole position.
  assert.equal(checkLot('BSE', 'SELL', 99, 99), OK);
  assert.equal(reasonOf(checkLot('BSE', 'SELL', 50, 120)), 'ODD_LOT_NOT_WHOLE_POSITION');
  assert.equal(checkLot('BSE', 'SELL', 101, 120), OK);
});

test('sells: the odd part of a position may go alone or with whole lots, but never split', () => {
  // Holding 4,880 on a 100-share board: 80 is the odd part (零股). Exchange rule: the part
  // below one lot is sold in one order, alone or together with whole lots.
  assert.equal(checkLot('SSE_MAIN', 'SELL', 80, 4_880), OK); // the odd part alone
  assert.equal(checkLot('SSE_MAIN', 'SELL', 380, 4_880), OK); // odd part + 3 lots
  assert.equal(checkLot('SZSE_MAIN', 'SELL', 580, 4_880), OK);
  assert.equal(checkLot('SSE_MAIN', 'SELL', 50, 150), OK);
  assert.equal(checkLot('CHINEXT', 'SELL', 234, 1_234), OK);
  // Splitting the odd part is refused: 60 of the 80, or lots plus a piece of it.
  assert.equal(reasonOf(checkLot('SSE_MAIN', 'SELL', 60, 4_880)), 'ODD_LOT_NOT_WHOLE_POSITION');
  assert.equal(reasonOf(checkLot('SSE_MAIN', 'SELL', 1_840, 4_880)), 'ODD_LOT_NOT_WHOLE_POSITION');
  assert.equal(reasonOf(checkLot('SSE_MAIN', 'SELL', 3_040, 4_880)), 'ODD_LOT_NOT_WHOLE_POSITION');
  // A position of whole lots has no odd part: an odd quantity would create one.
  assert.equal(reasonOf(checkLot('SSE_MAIN', 'SELL', 350, 500)), 'ODD_LOT_NOT_WHOLE_POSITION');
});

test('sells above the sellable position are refused', () => {
  assert.equal(reasonOf(checkLot('SSE_MAIN', 'SELL', 200, 150)), 'EXCEEDS_SELLABLE_POSITION');
  assert.equal(reasonOf(checkLot('STAR', 'SELL', 201, 200)), 'EXCEEDS_SELLABLE_POSITION');
  assert.equal(reasonOf(checkLot('SSE_MAIN', 'SELL', 100, 0)), 'EXCEEDS_SELLABLE_POSITION');
});

test('without the position a sell is held to the plain lot rule', () => {
  assert.equal(checkLot('SSE_MAIN', 'SELL', 200), OK);
  const odd = checkLot('SSE_MAIN', 'SELL', 150);
  assert.ok(!odd.ok && odd.reason === 'NOT_LOT_MULTIPLE' && odd.detail.includes('whole position'));
  assert.equal(reasonOf(checkLot('STAR', 'SELL', 150)), 'BELOW_MIN_LOT');
});

test('maximum single order by board and order type', () => {
  const cases: [Board, number, number][] = [
    ['SSE_MAIN', 1_000_000, 1_000_000],
    ['SZSE_MAIN', 1_000_000, 1_000_000],
    ['CHINEXT', 300_000, 150_000],
    ['STAR', 100_000, 50_000],
    ['BSE', 1_000_000, 1_000_000],
  ];
  for (const [board, limit, market] of cases) {
    assert.equal(checkMaxOrderQty(board, 'LIMIT', limit), OK, board);
    assert.equal(reasonOf(checkMaxOrderQty(board, 'LIMIT', limit + 1)), 'ABOVE_MAX_ORDER_QTY', board);
    assert.equal(checkMaxOrderQty(board, 'MARKET', market), OK, board);
    assert.equal(reasonOf(checkMaxOrderQty(board, 'MARKET', market + 1)), 'ABOVE_MAX_ORDER_QTY', board);
    assert.equal(reasonOf(checkMaxOrderQty(board, 'MARKET_BEST5_IOC', market + 1)), 'ABOVE_MAX_ORDER_QTY', board);
  }
});

test('lot rules follow settings', () => {
  const settings = {
    ...DEFAULT_LOT_SETTINGS,
    lots: { ...DEFAULT_LOT_SETTINGS.lots, SSE_MAIN: { minQty: 1, step: 1 } },
  };
  assert.equal(checkLot('SSE_MAIN', 'BUY', 7, undefined, settings), OK);
  validateLotSettings(DEFAULT_LOT_SETTINGS);
  assert.throws(
    () => validateLotSettings({ ...settings, lots: { ...settings.lots, BSE: { minQty: 100, step: 0 } } }),
    (error: unknown) => error instanceof ConfigError && error.key === 'lotRules.lots.BSE.step',
  );
});

test('property: a sell of the whole sellable position is always valid; buys match the lot definition', () => {
  const boards: Board[] = ['SSE_MAIN', 'SZSE_MAIN', 'CHINEXT', 'STAR', 'BSE'];
  fc.assert(
    fc.property(fc.constantFrom(...boards), fc.integer({ min: 1, max: 2_000_000 }), (board, qty) => {
      assert.equal(checkLot(board, 'SELL', qty, qty), OK);
      const rule = DEFAULT_LOT_SETTINGS.lots[board];
      assert.equal(checkLot(board, 'BUY', qty).ok, isLotQuantity(qty, rule));
      // Selling part of a position is valid exactly when the part is a whole lot quantity.
      assert.equal(checkLot(board, 'SELL', qty, qty + 1).ok, isLotQuantity(qty, rule));
    }),
  );
});

test('property: sells match a brute-force reading of the odd-lot rule', () => {
  const boards: Board[] = ['SSE_MAIN', 'SZSE_MAIN', 'CHINEXT', 'STAR', 'BSE'];
  // Whole-lot quantities by enumeration (0 = nothing), independent of isLotQuantity.
  const lotsUpTo = (rule: { minQty: number; step: number }, max: number) => {
    const lots = new Set<number>([0]);
    for (let q = rule.minQty; q <= max; q += rule.step) lots.add(q);
    return lots;
  };
  fc.assert(
    fc.property(fc.constantFrom(...boards), fc.integer({ min: 1, max: 1_500 }), fc.integer({ min: 1, max: 1_500 }), (board, qty, position) => {
      const rule = DEFAULT_LOT_SETTINGS.lots[board];
      const lots = lotsUpTo(rule, Math.max(qty, position));
      // The odd part: the fewest shares whose removal leaves nothing or whole lots.
      let odd = 0;
      while (!lots.has(position - odd)) odd += 1;
      const expected = qty <= position && (lots.has(qty) || (odd > 0 && qty >= odd && lots.has(qty - odd)));
      assert.equal(checkLot(board, 'SELL', qty, position).ok, expected, `${board} sell ${qty} of ${position}`);
    }),
    { numRuns: 2_000 },
  );
});
