/**
 * Instruments, boards and symbols of the China A-share market.
 *
 * A 6-digit code decides the board, and the board decides the exchange; symbols carry the
 * exchange as a suffix (`600000.SH`, `000001.SZ`, `830799.BJ`). Only A-share equities are
 * classified: B-shares (900xxx, 200xxx), funds, bonds and indices are not instruments here.
 */
import type { TradingDate } from './clock.ts';
import type { Price } from './units.ts';
import { isValidDate } from './calendar.ts';
import { ValidationError } from './errors.ts';
import { fail, type ValueResult } from './rule-result.ts';

export const Board = {
  SSE_MAIN: 'SSE_MAIN',
  SZSE_MAIN: 'SZSE_MAIN',
  CHINEXT: 'CHINEXT',
  STAR: 'STAR',
  BSE: 'BSE',
} as const;
export type Board = (typeof Board)[keyof typeof Board];
export const BOARDS: readonly Board[] = Object.freeze(Object.values(Board));

export const Exchange = {
  SSE: 'SSE',
  SZSE: 'SZSE',
  BSE: 'BSE',
} as const;
export type Exchange = (typeof Exchange)[keyof typeof Exchange];

/** Order side. Lives here as shared trading vocabulary for the rule modules. */
export const Side = {
  BUY: 'BUY',
  SELL: 'SELL',
} as const;
export type Side = (typeof Side)[keyof typeof Side];

export const BOARD_EXCHANGE: Readonly<Record<Board, Exchange>> = Object.freeze({
  SSE_MAIN: 'SSE',
  STAR: 'SSE',
  SZSE_MAIN: 'SZSE',
  CHINEXT: 'SZSE',
  BSE: 'BSE',
});

/** Symbol suffix of each exchange (the common vendor convention: SH, SZ, BJ). */
export const EXCHANGE_SUFFIX: Readonly<Record<Exchange, string>> = Object.freeze({
  SSE: 'SH',
  SZSE: 'SZ',
  BSE: 'BJ',
});

const SUFFIX_EXCHANGE: Readonly<Record<string, Exchange>> = Object.freeze({ SH: 'SSE', SZ: 'SZSE', BJ: 'BSE' });

const CODE_PATTERN = /^\d{6}$/;

/**
 * The board of a 6-digit A-share code, or `undefined` if the code is not an A-share equity
 * (or is malformed). `undefined` rather than a RuleResult because this is a lookup; the
 * validating entry point for user input is `parseSymbol`, which turns it into a reason code.
 *
 * 60xxxx SSE main · 688xxx/689xxx STAR · 00xxxx SZSE main (incl. the former SME board 002xxx)
 * · 30xxxx ChiNext · 43xxxx/83xxxx/87xxxx/88xxxx/92xxxx BSE.
 */
export function classifyBoard(code: string): Board | undefined {
  if (!CODE_PATTERN.test(code)) return undefined;
  switch (code.slice(0, 2)) {
    case '60':
      return 'SSE_MAIN';
    case '68': {
      const third = code[2];
      return third === '8' || third === '9' ? 'STAR' : undefined;
    }
    case '00':
      return 'SZSE_MAIN';
    case '30':
      return 'CHINEXT';
    case '43':
    case '83':
    case '87':
    case '88':
    case '92':
      return 'BSE';
    default:
      return undefined;
  }
}

export interface ParsedSymbol {
  readonly symbol: string;
  readonly code: string;
  readonly exchange: Exchange;
  readonly board: Board;
}

export type SymbolFailureReason = 'MALFORMED_SYMBOL' | 'UNKNOWN_BOARD' | 'EXCHANGE_MISMATCH';

/**
 * Parses `CODE.SUFFIX` (suffix case-insensitive; the canonical form is upper case). The suffix
 * must name the exchange that lists the code's board, so `000001.SH` (an SSE index code, not
 * an equity) is rejected rather than silently treated as Ping An Bank.
 */
export function parseSymbol(text: string): ValueResult<ParsedSymbol, SymbolFailureReason> {
  const match = /^(\d{6})\.([A-Za-z]{2})$/.exec(text.trim());
  if (!match) return fail('MALFORMED_SYMBOL', `symbol must look like 600000.SH: "${text}"`);
  const code = match[1] as string;
  const suffix = (match[2] as string).toUpperCase();
  const suffixExchange = SUFFIX_EXCHANGE[suffix];
  if (suffixExchange === undefined) {
    return fail('MALFORMED_SYMBOL', `unknown exchange suffix "${suffix}" (expected SH, SZ or BJ): "${text}"`);
  }
  const board = classifyBoard(code);
  if (board === undefined) return fail('UNKNOWN_BOARD', `code ${code} is not an A-share equity of a known board`);
  const exchange = BOARD_EXCHANGE[board];
  if (exchange !== suffixExchange) {
    return fail(
      'EXCHANGE_MISMATCH',
      `code ${code} is ${board} on ${exchange} (suffix ${EXCHANGE_SUFFIX[exchange]}), not ${suffix}`,
    );
  }
  return { ok: true, value: { symbol: `${code}.${suffix}`, code, exchange, board } };
}

/** The canonical symbol of a code (`600000` → `600000.SH`). Throws on an unknown code: callers hold valid codes. */
export function formatSymbol(code: string): string {
  const board = classifyBoard(code);
  if (board === undefined) throw new ValidationError(`code ${code} is not an A-share equity of a known board`);
  return `${code}.${EXCHANGE_SUFFIX[BOARD_EXCHANGE[board]]}`;
}

/**
 * The day the registration-based IPO system began per board: STAR at launch (2019-07-22),
 * ChiNext 2020-08-24, BSE at launch (2021-11-15), SSE/SZSE main boards 2023-04-10.
 * A listing on or after that day is a registration-system listing, whose first trading days
 * have no price limit (see price-rules).
 */
export const REGISTRATION_SYSTEM_SINCE: Readonly<Record<Board, TradingDate>> = Object.freeze({
  STAR: 20190722,
  CHINEXT: 20200824,
  BSE: 20211115,
  SSE_MAIN: 20230410,
  SZSE_MAIN: 20230410,
});

export function isRegistrationSystemListing(board: Board, listingDate: TradingDate): boolean {
  return listingDate >= REGISTRATION_SYSTEM_SINCE[board];
}

export interface Instrument {
  readonly symbol: string;
  readonly code: string;
  readonly exchange: Exchange;
  readonly board: Board;
  readonly name: string;
  /** Under risk warning (ST or *ST): main-board price limits narrow (see price-rules). */
  readonly isST: boolean;
  readonly listingDate: TradingDate;
  /** Listed under the registration system: no price limit in the first trading days. */
  readonly registrationSystem: boolean;
  /** Previous close in price units (for an IPO's first day, the offer price). */
  readonly previousClose: Price;
}

export interface InstrumentInit {
  readonly symbol: string;
  readonly name: string;
  readonly isST?: boolean;
  readonly listingDate: TradingDate;
  /** Defaults from the board and listing date (`isRegistrationSystemListing`). */
  readonly registrationSystem?: boolean;
  readonly previousClose: Price;
}

/**
 * Builds a validated, frozen Instrument from reference data. Bad reference data is not an
 * order mistake, so this throws a ValidationError naming the symbol.
 */
export function makeInstrument(init: InstrumentInit): Instrument {
  const parsed = parseSymbol(init.symbol);
  if (!parsed.ok) throw new ValidationError(`instrument ${init.symbol}: ${parsed.detail}`);
  if (!isValidDate(init.listingDate)) {
    throw new ValidationError(`instrument ${init.symbol}: listingDate is not a YYYYMMDD date: ${init.listingDate}`);
  }
  if (!Number.isSafeInteger(init.previousClose) || init.previousClose <= 0) {
    throw new ValidationError(
      `instrument ${init.symbol}: previousClose must be a positive integer of price units, got ${init.previousClose}`,
    );
  }
  const { symbol, code, exchange, board } = parsed.value;
  return Object.freeze({
    symbol,
    code,
    exchange,
    board,
    name: init.name,
    isST: init.isST ?? false,
    listingDate: init.listingDate,
    registrationSystem: init.registrationSystem ?? isRegistrationSystemListing(board, init.listingDate),
    previousClose: init.previousClose,
  });
}
