import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BOARD_EXCHANGE,
  BOARDS,
  classifyBoard,
  formatSymbol,
  isRegistrationSystemListing,
  makeInstrument,
  parseSymbol,
} from '../../../src/core/instruments.ts';
import { ValidationError } from '../../../src/core/errors.ts';

test('classifyBoard from the 6-digit code', () => {
  const cases: [string, string | undefined][] = [
    ['600000', 'SSE_MAIN'],
    ['601318', 'SSE_MAIN'],
    ['603986', 'SSE_MAIN'],
    ['605499', 'SSE_MAIN'],
    ['688981', 'STAR'],
    ['689009', 'STAR'],
    ['000001', 'SZSE_MAIN'],
    ['002594', 'SZSE_MAIN'],
    ['003816', 'SZSE_MAIN'],
    ['300750', 'CHINEXT'],
    ['301236', 'CHINEXT'],
    ['430047', 'BSE'],
    ['830799', 'BSE'],
    ['873223', 'BSE'],
    ['889999', 'BSE'],
    ['920002', 'BSE'],
    ['687000', undefined], // 68 but neither 688 nor 689
    ['900901', undefined], // SSE B-share
    ['200002', undefined], // SZSE B-share
    ['510300', undefined], // ETF
    ['12345', undefined],
    ['1234567', undefined],
    ['60000a', undefined],
  ];
  for (const [code, board] of cases) assert.equal(classifyBoard(code), board, code);
});

test('every board maps to its exchange', () => {
  assert.deepEqual(
    BOARDS.map((b) => [b, BOARD_EXCHANGE[b]]),
    [
      ['SSE_MAIN', 'SSE'],
      ['SZSE_MAIN', 'SZSE'],
      ['CHINEXT', 'SZSE'],
      ['STAR', 'SSE'],
      ['BSE', 'BSE'],
    ],
  );
});

test('parseSymbol accepts the canonical forms', () => {
  for (const [text, board, exchange] of [
    ['600000.SH', 'SSE_MAIN', 'SSE'],
    ['000001.SZ', 'SZSE_MAIN', 'SZSE'],
    ['300750.SZ', 'CHINEXT', 'SZSE'],
    ['688981.SH', 'STAR', 'SSE'],
    ['830799.BJ', 'BSE', 'BSE'],
  ] as const) {
    const parsed = parseSymbol(text);
    assert.deepEqual(parsed, { ok: true, value: { symbol: text, code: text.slice(0, 6), exchange, board } });
  }
  const lower = parseSymbol(' 600000.sh ');
  assert.equal(lower.ok && lower.value.symbol, '600000.SH');
});

test('parseSymbol rejects with stable reasons', () => {
  const reasonOf = (text: string) => {
    const result = parseSymbol(text);
    return result.ok ? 'OK' : result.reason;
  };
  assert.equal(reasonOf('600000'), 'MALFORMED_SYMBOL');
  assert.equal(reasonOf('600000.XX'), 'MALFORMED_SYMBOL');
  assert.equal(reasonOf('60000.SH'), 'MALFORMED_SYMBOL');
  assert.equal(reasonOf('SH600000'), 'MALFORMED_SYMBOL');
  assert.equal(reasonOf('900901.SH'), 'UNKNOWN_BOARD');
  assert.equal(reasonOf('000001.SH'), 'EXCHANGE_MISMATCH'); // the SSE Composite index code
  assert.equal(reasonOf('600000.SZ'), 'EXCHANGE_MISMATCH');
  assert.equal(reasonOf('830799.SZ'), 'EXCHANGE_MISMATCH');
  assert.equal(reasonOf('300750.BJ'), 'EXCHANGE_MISMATCH');
  const failure = parseSymbol('600000.SZ');
  assert.ok(!failure.ok && failure.detail.includes('SH'));
});

test('formatSymbol appends the exchange suffix and throws on unknown codes', () => {
  assert.equal(formatSymbol('600000'), '600000.SH');
  assert.equal(formatSymbol('688981'), '688981.SH');
  assert.equal(formatSymbol('000001'), '000001.SZ');
  assert.equal(formatSymbol('300750'), '300750.SZ');
  assert.equal(formatSymbol('830799'), '830799.BJ');
  assert.throws(() => formatSymbol('900901'), ValidationError);
});

test('registration system by board and listing date', () => {
  assert.equal(isRegistrationSystemListing('SSE_MAIN', 20230407), false);
  assert.equal(isRegistrationSystemListing('SSE_MAIN', 20230410), true);
  assert.equal(isRegistrationSystemListing('SZSE_MAIN', 20230410), true);
  assert.equal(isRegistrationSystemListing('CHINEXT', 20200821), false);
  assert.equal(isRegistrationSystemListing('CHINEXT', 20200824), true);
  assert.equal(isRegistrationSystemListing('STAR', 20190722), true);
  assert.equal(isRegistrationSystemListing('BSE', 20211115), true);
});

test('makeInstrument derives code, exchange, board and defaults', () => {
  const instrument = makeInstrument({ symbol: '688981.sh', name: 'SMIC', listingDate: 20200716, previousClose: 900_000 });
  assert.deepEqual(instrument, {
    symbol: '688981.SH',
    code: '688981',
    exchange: 'SSE',
    board: 'STAR',
    name: 'SMIC',
    isST: false,
    listingDate: 20200716,
    registrationSystem: true,
    previousClose: 900_000,
  });
  assert.ok(Object.isFrozen(instrument));
  const old = makeInstrument({ symbol: '600000.SH', name: 'SPDB', listingDate: 19991110, previousClose: 100_000 });
  assert.equal(old.registrationSystem, false);
  const overridden = makeInstrument({
    symbol: '600000.SH',
    name: 'SPDB',
    isST: true,
    listingDate: 19991110,
    registrationSystem: true,
    previousClose: 100_000,
  });
  assert.equal(overridden.registrationSystem, true);
  assert.equal(overridden.isST, true);
});

test('makeInstrument rejects bad reference data', () => {
  const base = { symbol: '600000.SH', name: 'SPDB', listingDate: 19991110, previousClose: 100_000 };
  assert.throws(() => makeInstrument({ ...base, symbol: '600000.SZ' }), ValidationError);
  assert.throws(() => makeInstrument({ ...base, previousClose: 0 }), ValidationError);
  assert.throws(() => makeInstrument({ ...base, previousClose: -100 }), ValidationError);
  assert.throws(() => makeInstrument({ ...base, previousClose: 10.5 }), ValidationError);
  assert.throws(() => makeInstrument({ ...base, listingDate: 19991131 }), ValidationError);
});
