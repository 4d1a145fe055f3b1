/**
 * Typed FIX 4.4 application messages: builders (to body fields for `FixSession.sendApplication`)
 * and parsers (from a decoded `FixMessage`) for both directions, so the simulator's acceptor
 * and the execution tier's initiator share one mapping (docs/protocols/fix.md):
 *
 * - Symbols: `55=600000.SH` (canonical), or `55=600000` + `207=XSHG|XSHE|BJSE` (ISO MIC;
 *   SH/SZ/BJ/SS accepted too), or a bare `55=600000` whose board implies the exchange. A 207
 *   that contradicts the suffix or the code is an unknown security.
 * - Order types: `40=2` LIMIT (59 absent or 0=Day); `40=1` market: `59=3` (or absent) →
 *   MARKET_BEST5_IOC (accepted on every board), `59=4` → MARKET_FOK; every A-share market kind
 *   can be named exactly with the custom tag 8001 (AShareOrdType = a triquant OrderType name).
 * - Prices are exact integer units (0.0001 CNY) both ways; quantities whole shares.
 *
 * Parsers never throw: they return either the typed message or a `FixParseFailure` saying
 * whether it deserves a session-level Reject (35=3: missing tag, bad format, bad enum value)
 * or a business rejection (a well-formed order for an unknown security).
 */
import type { Micros } from '../../core/clock.ts';
import { ValidationError } from '../../core/errors.ts';
import { BOARD_EXCHANGE, classifyBoard, EXCHANGE_SUFFIX, parseSymbol, type Side } from '../../core/instruments.ts';
import { ORDER_TYPES, type OrderType } from '../../core/order.ts';
import { divRoundHalfUp, type Price, type Qty } from '../../core/units.ts';
import {
  formatFixPrice,
  formatFixQty,
  formatUtcTimestamp,
  parseFixPrice,
  parseFixQty,
  parseNonNegativeInt,
  parseUtcTimestamp,
  type FixField,
  type FixMessage,
} from './codec.ts';
import {
  CxlRejResponseTo,
  ExecType,
  FixOrdType,
  FixSide,
  MIC_BY_SUFFIX,
  MsgType,
  OrdRejReason,
  OrdStatus,
  SessionRejectReason,
  SUFFIX_BY_EXCHANGE_CODE,
  Tag,
  TERMINAL_ORD_STATUSES,
  TimeInForce,
} from './fields.ts';

// ---------------------------------------------------------------------------------------------
// Parse results

export type FixParseFailure =
  | { ok: false; level: 'session'; reason: SessionRejectReason; tag: number; text: string }
  | { ok: false; level: 'business'; ordRejReason: OrdRejReason; tag: number; text: string };

export type FixParseResult<T> = { ok: true; value: T } | FixParseFailure;

function missing(tag: number, name: string): FixParseFailure {
  return { ok: false, level: 'session', reason: SessionRejectReason.RequiredTagMissing, tag, text: `${name} (${tag}) missing` };
}

function badValue(tag: number, name: string, detail: string): FixParseFailure {
  return { ok: false, level: 'session', reason: SessionRejectReason.ValueIncorrect, tag, text: `${name} (${tag}) ${detail}` };
}

function badFormat(tag: number, name: string, detail: string): FixParseFailure {
  return { ok: false, level: 'session', reason: SessionRejectReason.IncorrectDataFormat, tag, text: `${name} (${tag}) ${detail}` };
}

/** Thrown internally by the field readers and turned into a failure result at the parser's edge. */
class Failure {
  readonly failure: FixParseFailure;
  constructor(failure: FixParseFailure) {
    this.failure = failure;
  }
}

function parseWith<T>(read: () => T): FixParseResult<T> {
  try {
    return { ok: true, value: read() };
  } catch (error) {
    if (error instanceof Failure) return error.failure;
    throw error;
  }
}

function requireString(msg: FixMessage, tag: number, name: string): string {
  const value = msg.get(tag);
  if (value === undefined) throw new Failure(missing(tag, name));
  return value;
}

function optionalString(msg: FixMessage, tag: number): string | undefined {
  return msg.get(tag);
}

function readQty(msg: FixMessage, tag: number, name: string, required: true, positive?: boolean): Qty;
function readQty(msg: FixMessage, tag: number, name: string, required: false, positive?: boolean): Qty | undefined;
function readQty(msg: FixMessage, tag: number, name: string, required: boolean, positive = false): Qty | undefined {
  const text = msg.get(tag);
  if (text === undefined) {
    if (required) throw new Failure(missing(tag, name));
    return undefined;
  }
  const qty = parseFixQty(text);
  if (qty === undefined) throw new Failure(badFormat(tag, name, `must be a whole number of shares (got "${text}")`));
  if (positive && qty <= 0) throw new Failure(badValue(tag, name, 'must be positive'));
  return qty;
}

function readPrice(msg: FixMessage, tag: number, name: string, required: true): Price;
function readPrice(msg: FixMessage, tag: number, name: string, required: boolean): Price | undefined;
function readPrice(msg: FixMessage, tag: number, name: string, required: boolean): Price | undefined {
  const text = msg.get(tag);
  if (text === undefined) {
    if (required) throw new Failure(missing(tag, name));
    return undefined;
  }
  const price = parseFixPrice(text);
  if (price === undefined) throw new Failure(badFormat(tag, name, `must be a decimal with at most 4 decimals (got "${text}")`));
  return price;
}

function readTime(msg: FixMessage, tag: number, name: string, required: true): Micros;
function readTime(msg: FixMessage, tag: number, name: string, required: false): Micros | undefined;
function readTime(msg: FixMessage, tag: number, name: string, required: boolean): Micros | undefined {
  const text = msg.get(tag);
  if (text === undefined) {
    if (required) throw new Failure(missing(tag, name));
    return undefined;
  }
  const micros = parseUtcTimestamp(text);
  if (micros === undefined) throw new Failure(badFormat(tag, name, `is not a UTCTimestamp (got "${text}")`));
  return micros;
}

function readSide(msg: FixMessage): Side {
  const text = requireString(msg, Tag.Side, 'Side');
  if (text === FixSide.Buy) return 'BUY';
  if (text === FixSide.Sell) return 'SELL';
  throw new Failure(badValue(Tag.Side, 'Side', `must be 1 (buy) or 2 (sell) (got "${text}")`));
}

function sideCode(side: Side): FixSide {
  return side === 'BUY' ? FixSide.Buy : FixSide.Sell;
}

// ---------------------------------------------------------------------------------------------
// Symbols

/** How the counterparty wrote the instrument; replies echo the same form. */
export type SymbolStyle = 'suffix' | 'mic' | 'code';

export interface FixInstrument {
  /** Canonical triquant symbol, e.g. `600000.SH`. */
  symbol: string;
  style: SymbolStyle;
}

/** The instrument of a message (55 + optional 207), or a failure. */
function readInstrument(msg: FixMessage): FixInstrument {
  const text = requireString(msg, Tag.Symbol, 'Symbol');
  const exchangeCode = optionalString(msg, Tag.SecurityExchange);
  const unknown = (detail: string): never => {
    throw new Failure({ ok: false, level: 'business', ordRejReason: OrdRejReason.UnknownSymbol, tag: Tag.Symbol, text: `unknown security: ${detail}` });
  };
  let suffix: string | undefined;
  if (exchangeCode !== undefined) {
    suffix = SUFFIX_BY_EXCHANGE_CODE[exchangeCode.toUpperCase()];
    if (suffix === undefined) unknown(`SecurityExchange "${exchangeCode}" is not XSHG, XSHE or BJSE`);
  }
  if (/^\d{6}$/.test(text)) {
    const board = classifyBoard(text);
    if (board === undefined) unknown(`code ${text} is not an A-share equity`);
    const own = EXCHANGE_SUFFIX[BOARD_EXCHANGE[board!]];
    if (suffix !== undefined && suffix !== own) unknown(`code ${text} does not trade on ${exchangeCode}`);
    return { symbol: `${text}.${own}`, style: exchangeCode === undefined ? 'code' : 'mic' };
  }
  const parsed = parseSymbol(text);
  if (!parsed.ok) unknown(parsed.detail);
  const value = (parsed as { ok: true; value: { symbol: string } }).value;
  if (suffix !== undefined && !value.symbol.endsWith(`.${suffix}`)) unknown(`${value.symbol} does not trade on ${exchangeCode}`);
  return { symbol: value.symbol, style: 'suffix' };
}

/** Tag 55 (+ 207) for a canonical symbol in the given style. */
export function symbolFields(symbol: string, style: SymbolStyle = 'suffix'): FixField[] {
  const parsed = parseSymbol(symbol);
  if (!parsed.ok) throw new ValidationError(`not a canonical symbol: ${symbol} (${parsed.detail})`);
  const { code, symbol: canonical } = parsed.value;
  if (style === 'suffix') return [[Tag.Symbol, canonical]];
  if (style === 'code') return [[Tag.Symbol, code]];
  const suffix = canonical.slice(7);
  return [
    [Tag.Symbol, code],
    [Tag.SecurityExchange, MIC_BY_SUFFIX[suffix]!],
  ];
}

// ---------------------------------------------------------------------------------------------
// Order types

const TIF_VALUES: ReadonlySet<string> = new Set(Object.values(TimeInForce));

/** OrdType (40), TimeInForce (59) and the custom AShareOrdType (8001, when needed) of an order type. */
export function orderTypeFields(orderType: OrderType): FixField[] {
  switch (orderType) {
    case 'LIMIT':
      return [[Tag.OrdType, FixOrdType.Limit], [Tag.TimeInForce, TimeInForce.Day]];
    case 'MARKET_BEST5_IOC':
      return [[Tag.OrdType, FixOrdType.Market], [Tag.TimeInForce, TimeInForce.ImmediateOrCancel]];
    case 'MARKET_FOK':
      return [[Tag.OrdType, FixOrdType.Market], [Tag.TimeInForce, TimeInForce.FillOrKill]];
    case 'MARKET_IOC':
      return [[Tag.OrdType, FixOrdType.Market], [Tag.TimeInForce, TimeInForce.ImmediateOrCancel], [Tag.AShareOrdType, orderType]];
    case 'MARKET_BEST5_TO_LIMIT':
    case 'MARKET_BEST_OWN':
    case 'MARKET_BEST_COUNTER':
      return [[Tag.OrdType, FixOrdType.Market], [Tag.TimeInForce, TimeInForce.Day], [Tag.AShareOrdType, orderType]];
  }
}

/** The remainder of these market kinds rests on the book (Day); the others are IOC/FOK. */
const RESTING_MARKET: ReadonlySet<OrderType> = new Set<OrderType>(['MARKET_BEST5_TO_LIMIT', 'MARKET_BEST_OWN', 'MARKET_BEST_COUNTER']);

function readOrderType(msg: FixMessage): { orderType: OrderType; timeInForce: TimeInForce } {
  const ordType = requireString(msg, Tag.OrdType, 'OrdType');
  const tifText = optionalString(msg, Tag.TimeInForce);
  if (tifText !== undefined && !TIF_VALUES.has(tifText)) {
    throw new Failure(badValue(Tag.TimeInForce, 'TimeInForce', `must be 0 (Day), 3 (IOC) or 4 (FOK) (got "${tifText}")`));
  }
  const custom = optionalString(msg, Tag.AShareOrdType);
  if (ordType === FixOrdType.Limit) {
    if (custom !== undefined && custom !== 'LIMIT') throw new Failure(badValue(Tag.AShareOrdType, 'AShareOrdType', `"${custom}" contradicts OrdType 2 (limit)`));
    if (tifText !== undefined && tifText !== TimeInForce.Day) {
      throw new Failure(badValue(Tag.TimeInForce, 'TimeInForce', 'must be 0 (Day) for a limit order: A-share limit orders are day orders'));
    }
    return { orderType: 'LIMIT', timeInForce: TimeInForce.Day };
  }
  if (ordType !== FixOrdType.Market) throw new Failure(badValue(Tag.OrdType, 'OrdType', `must be 1 (market) or 2 (limit) (got "${ordType}")`));
  if (custom !== undefined) {
    if (!(ORDER_TYPES as readonly string[]).includes(custom) || custom === 'LIMIT') {
      throw new Failure(badValue(Tag.AShareOrdType, 'AShareOrdType', `must be a market order type name (got "${custom}")`));
    }
    const orderType = custom as OrderType;
    const expectedTif = RESTING_MARKET.has(orderType) ? TimeInForce.Day : orderType === 'MARKET_FOK' ? TimeInForce.FillOrKill : TimeInForce.ImmediateOrCancel;
    if (tifText !== undefined && tifText !== expectedTif) {
      throw new Failure(badValue(Tag.TimeInForce, 'TimeInForce', `must be ${expectedTif} for ${orderType} (got "${tifText}")`));
    }
    return { orderType, timeInForce: expectedTif };
  }
  if (tifText === TimeInForce.FillOrKill) return { orderType: 'MARKET_FOK', timeInForce: TimeInForce.FillOrKill };
  if (tifText === undefined || tifText === TimeInForce.ImmediateOrCancel) return { orderType: 'MARKET_BEST5_IOC', timeInForce: TimeInForce.ImmediateOrCancel };
  throw new Failure(badValue(Tag.TimeInForce, 'TimeInForce', 'a market order without AShareOrdType (8001) must be 3 (IOC) or 4 (FOK)'));
}

// ---------------------------------------------------------------------------------------------
// NewOrderSingle (D)

export interface NewOrderSingle {
  clOrdId: string;
  account: string | undefined;
  instrument: FixInstrument;
  side: Side;
  orderType: OrderType;
  timeInForce: TimeInForce;
  /** Limit price, or the protection price of a market order (undefined: none). */
  price: Price | undefined;
  orderQty: Qty;
  transactTime: Micros;
}

export function parseNewOrderSingle(msg: FixMessage): FixParseResult<NewOrderSingle> {
  return parseWith(() => {
    const clOrdId = requireString(msg, Tag.ClOrdID, 'ClOrdID');
    const side = readSide(msg);
    const orderQty = readQty(msg, Tag.OrderQty, 'OrderQty', true, true);
    const { orderType, timeInForce } = readOrderType(msg);
    const price = readPrice(msg, Tag.Price, 'Price', orderType === 'LIMIT');
    if (price !== undefined && price <= 0) throw new Failure(badValue(Tag.Price, 'Price', 'must be positive'));
    const transactTime = readTime(msg, Tag.TransactTime, 'TransactTime', true);
    const instrument = readInstrument(msg);
    return { clOrdId, account: optionalString(msg, Tag.Account), instrument, side, orderType, timeInForce, price, orderQty, transactTime };
  });
}

export interface NewOrderSingleInit {
  clOrdId: string;
  account?: string;
  symbol: string;
  symbolStyle?: SymbolStyle;
  side: Side;
  orderType: OrderType;
  price?: Price;
  orderQty: Qty;
  transactTime: Micros;
}

export function buildNewOrderSingle(init: NewOrderSingleInit): FixField[] {
  if (!(init.orderQty > 0)) throw new ValidationError(`orderQty must be positive (got ${init.orderQty})`);
  if (init.orderType === 'LIMIT' && (init.price === undefined || init.price <= 0)) throw new ValidationError('a limit order needs a positive price');
  const fields: FixField[] = [[Tag.ClOrdID, init.clOrdId]];
  if (init.account !== undefined) fields.push([Tag.Account, init.account]);
  fields.push(...symbolFields(init.symbol, init.symbolStyle));
  fields.push([Tag.Side, sideCode(init.side)]);
  fields.push([Tag.TransactTime, formatUtcTimestamp(init.transactTime)]);
  fields.push([Tag.OrderQty, formatFixQty(init.orderQty)]);
  fields.push(...orderTypeFields(init.orderType));
  if (init.price !== undefined) fields.push([Tag.Price, formatFixPrice(init.price)]);
  return fields;
}

// ---------------------------------------------------------------------------------------------
// OrderCancelRequest (F)

export interface OrderCancelRequest {
  origClOrdId: string;
  clOrdId: string;
  orderId: string | undefined;
  instrument: FixInstrument;
  side: Side;
  orderQty: Qty | undefined;
  transactTime: Micros;
}

export function parseOrderCancelRequest(msg: FixMessage): FixParseResult<OrderCancelRequest> {
  return parseWith(() => {
    const origClOrdId = requireString(msg, Tag.OrigClOrdID, 'OrigClOrdID');
    const clOrdId = requireString(msg, Tag.ClOrdID, 'ClOrdID');
    const side = readSide(msg);
    const transactTime = readTime(msg, Tag.TransactTime, 'TransactTime', true);
    const orderQty = readQty(msg, Tag.OrderQty, 'OrderQty', false, true);
    const instrument = readInstrument(msg);
    return { origClOrdId, clOrdId, orderId: optionalString(msg, Tag.OrderID), instrument, side, orderQty, transactTime };
  });
}

export interface OrderCancelRequestInit {
  origClOrdId: string;
  clOrdId: string;
  orderId?: string;
  symbol: string;
  symbolStyle?: SymbolStyle;
  side: Side;
  orderQty?: Qty;
  transactTime: Micros;
}

export function buildOrderCancelRequest(init: OrderCancelRequestInit): FixField[] {
  const fields: FixField[] = [
    [Tag.OrigClOrdID, init.origClOrdId],
    [Tag.ClOrdID, init.clOrdId],
  ];
  if (init.orderId !== undefined) fields.push([Tag.OrderID, init.orderId]);
  fields.push(...symbolFields(init.symbol, init.symbolStyle));
  fields.push([Tag.Side, sideCode(init.side)]);
  fields.push([Tag.TransactTime, formatUtcTimestamp(init.transactTime)]);
  if (init.orderQty !== undefined) fields.push([Tag.OrderQty, formatFixQty(init.orderQty)]);
  return fields;
}

// ---------------------------------------------------------------------------------------------
// OrderStatusRequest (H)

export interface OrderStatusRequest {
  clOrdId: string;
  orderId: string | undefined;
  instrument: FixInstrument;
  side: Side;
}

export function parseOrderStatusRequest(msg: FixMessage): FixParseResult<OrderStatusRequest> {
  return parseWith(() => {
    const clOrdId = requireString(msg, Tag.ClOrdID, 'ClOrdID');
    const side = readSide(msg);
    const instrument = readInstrument(msg);
    return { clOrdId, orderId: optionalString(msg, Tag.OrderID), instrument, side };
  });
}

export interface OrderStatusRequestInit {
  clOrdId: string;
  orderId?: string;
  symbol: string;
  symbolStyle?: SymbolStyle;
  side: Side;
}

export function buildOrderStatusRequest(init: OrderStatusRequestInit): FixField[] {
  const fields: FixField[] = [[Tag.ClOrdID, init.clOrdId]];
  if (init.orderId !== undefined) fields.push([Tag.OrderID, init.orderId]);
  fields.push(...symbolFields(init.symbol, init.symbolStyle));
  fields.push([Tag.Side, sideCode(init.side)]);
  return fields;
}

// ---------------------------------------------------------------------------------------------
// ExecutionReport (8)

export interface ExecutionReport {
  orderId: string;
  execId: string;
  execType: ExecType;
  ordStatus: OrdStatus;
  clOrdId: string;
  origClOrdId?: string;
  account?: string;
  /** Canonical symbol. */
  symbol: string;
  symbolStyle?: SymbolStyle;
  side: Side;
  orderType?: OrderType;
  price?: Price;
  orderQty: Qty;
  cumQty: Qty;
  leavesQty: Qty;
  avgPx: Price;
  lastQty?: Qty;
  lastPx?: Price;
  ordRejReason?: number;
  text?: string;
  transactTime: Micros;
}

const EXEC_TYPES: ReadonlySet<string> = new Set(Object.values(ExecType));
const ORD_STATUSES: ReadonlySet<string> = new Set(Object.values(OrdStatus));

/**
 * Checks the standard quantity semantics: cumQty + leavesQty = orderQty while the order can
 * still trade, leavesQty = 0 once it is done; a Trade carries LastQty > 0 and LastPx.
 */
export function checkExecutionReport(er: ExecutionReport): void {
  const bad = (what: string): never => {
    throw new ValidationError(`ExecutionReport ${er.execId}: ${what}`);
  };
  for (const [name, q] of [['orderQty', er.orderQty], ['cumQty', er.cumQty], ['leavesQty', er.leavesQty]] as const) {
    if (!Number.isSafeInteger(q) || q < 0) bad(`${name} must be a non-negative integer (got ${q})`);
  }
  if (!Number.isSafeInteger(er.avgPx) || er.avgPx < 0) bad(`avgPx must be non-negative integer units (got ${er.avgPx})`);
  if (er.cumQty > er.orderQty) bad(`cumQty ${er.cumQty} exceeds orderQty ${er.orderQty}`);
  if (TERMINAL_ORD_STATUSES.has(er.ordStatus)) {
    if (er.leavesQty !== 0) bad(`leavesQty must be 0 in OrdStatus ${er.ordStatus} (got ${er.leavesQty})`);
  } else if (er.cumQty + er.leavesQty !== er.orderQty) {
    bad(`cumQty ${er.cumQty} + leavesQty ${er.leavesQty} must equal orderQty ${er.orderQty} in OrdStatus ${er.ordStatus}`);
  }
  if (er.ordStatus === OrdStatus.Filled && er.cumQty !== er.orderQty) bad('a filled order has cumQty = orderQty');
  if (er.cumQty === 0 && er.avgPx !== 0) bad('avgPx must be 0 before any fill');
  if (er.execType === ExecType.Trade) {
    if (er.lastQty === undefined || er.lastQty <= 0 || er.lastPx === undefined || er.lastPx <= 0) bad('a Trade needs LastQty > 0 and LastPx > 0');
  }
}

export function buildExecutionReport(er: ExecutionReport): FixField[] {
  checkExecutionReport(er);
  const fields: FixField[] = [];
  if (er.account !== undefined) fields.push([Tag.Account, er.account]);
  fields.push([Tag.AvgPx, formatFixPrice(er.avgPx)]);
  fields.push([Tag.ClOrdID, er.clOrdId]);
  fields.push([Tag.CumQty, formatFixQty(er.cumQty)]);
  fields.push([Tag.ExecID, er.execId]);
  if (er.lastPx !== undefined) fields.push([Tag.LastPx, formatFixPrice(er.lastPx)]);
  if (er.lastQty !== undefined) fields.push([Tag.LastQty, formatFixQty(er.lastQty)]);
  fields.push([Tag.OrderID, er.orderId]);
  fields.push([Tag.OrderQty, formatFixQty(er.orderQty)]);
  fields.push([Tag.OrdStatus, er.ordStatus]);
  if (er.orderType !== undefined) {
    for (const field of orderTypeFields(er.orderType)) if (field[0] !== Tag.AShareOrdType) fields.push(field);
  }
  if (er.origClOrdId !== undefined) fields.push([Tag.OrigClOrdID, er.origClOrdId]);
  if (er.price !== undefined) fields.push([Tag.Price, formatFixPrice(er.price)]);
  fields.push([Tag.Side, sideCode(er.side)]);
  fields.push(...symbolFields(er.symbol, er.symbolStyle));
  if (er.text !== undefined && er.text !== '') fields.push([Tag.Text, er.text]);
  fields.push([Tag.TransactTime, formatUtcTimestamp(er.transactTime)]);
  if (er.ordRejReason !== undefined) fields.push([Tag.OrdRejReason, String(er.ordRejReason)]);
  fields.push([Tag.ExecType, er.execType]);
  fields.push([Tag.LeavesQty, formatFixQty(er.leavesQty)]);
  return fields;
}

export function parseExecutionReport(msg: FixMessage): FixParseResult<ExecutionReport> {
  return parseWith(() => {
    const orderId = requireString(msg, Tag.OrderID, 'OrderID');
    const execId = requireString(msg, Tag.ExecID, 'ExecID');
    const execType = requireString(msg, Tag.ExecType, 'ExecType');
    if (!EXEC_TYPES.has(execType)) throw new Failure(badValue(Tag.ExecType, 'ExecType', `unknown value "${execType}"`));
    const ordStatus = requireString(msg, Tag.OrdStatus, 'OrdStatus');
    if (!ORD_STATUSES.has(ordStatus)) throw new Failure(badValue(Tag.OrdStatus, 'OrdStatus', `unknown value "${ordStatus}"`));
    const side = readSide(msg);
    const instrument = readInstrument(msg);
    const cumQty = readQty(msg, Tag.CumQty, 'CumQty', true);
    const leavesQty = readQty(msg, Tag.LeavesQty, 'LeavesQty', true);
    const avgPx = readPrice(msg, Tag.AvgPx, 'AvgPx', true);
    const orderQty = readQty(msg, Tag.OrderQty, 'OrderQty', false) ?? cumQty + leavesQty;
    const er: ExecutionReport = {
      orderId,
      execId,
      execType: execType as ExecType,
      ordStatus: ordStatus as OrdStatus,
      clOrdId: optionalString(msg, Tag.ClOrdID) ?? '',
      symbol: instrument.symbol,
      symbolStyle: instrument.style,
      side,
      orderQty,
      cumQty,
      leavesQty,
      avgPx,
      transactTime: readTime(msg, Tag.TransactTime, 'TransactTime', false) ?? 0,
    };
    const origClOrdId = optionalString(msg, Tag.OrigClOrdID);
    if (origClOrdId !== undefined) er.origClOrdId = origClOrdId;
    const account = optionalString(msg, Tag.Account);
    if (account !== undefined) er.account = account;
    const price = readPrice(msg, Tag.Price, 'Price', false);
    if (price !== undefined) er.price = price;
    const lastQty = readQty(msg, Tag.LastQty, 'LastQty', false);
    if (lastQty !== undefined) er.lastQty = lastQty;
    const lastPx = readPrice(msg, Tag.LastPx, 'LastPx', false);
    if (lastPx !== undefined) er.lastPx = lastPx;
    const rej = optionalString(msg, Tag.OrdRejReason);
    if (rej !== undefined) {
      const n = parseNonNegativeInt(rej);
      if (n === undefined) throw new Failure(badFormat(Tag.OrdRejReason, 'OrdRejReason', 'must be an integer'));
      er.ordRejReason = n;
    }
    const text = optionalString(msg, Tag.Text);
    if (text !== undefined) er.text = text;
    if (msg.has(Tag.OrdType)) {
      try {
        er.orderType = readOrderType(msg).orderType;
      } catch {
        // Informative only on a report.
      }
    }
    return er;
  });
}

/** Average price of fills totalling `notional` (Σ price × qty, in price units × shares), half up. */
export function averagePrice(notional: number, cumQty: Qty): Price {
  return cumQty === 0 ? 0 : divRoundHalfUp(notional, cumQty);
}

// ---------------------------------------------------------------------------------------------
// OrderCancelReject (9)

export interface OrderCancelReject {
  /** "NONE" when the order is unknown. */
  orderId: string;
  clOrdId: string;
  origClOrdId: string;
  ordStatus: OrdStatus;
  cxlRejResponseTo?: CxlRejResponseTo;
  cxlRejReason?: number;
  text?: string;
  account?: string;
}

export function buildOrderCancelReject(r: OrderCancelReject): FixField[] {
  const fields: FixField[] = [];
  if (r.account !== undefined) fields.push([Tag.Account, r.account]);
  fields.push([Tag.ClOrdID, r.clOrdId], [Tag.OrderID, r.orderId], [Tag.OrdStatus, r.ordStatus], [Tag.OrigClOrdID, r.origClOrdId]);
  if (r.text !== undefined && r.text !== '') fields.push([Tag.Text, r.text]);
  if (r.cxlRejReason !== undefined) fields.push([Tag.CxlRejReason, String(r.cxlRejReason)]);
  fields.push([Tag.CxlRejResponseTo, r.cxlRejResponseTo ?? CxlRejResponseTo.OrderCancelRequest]);
  return fields;
}

export function parseOrderCancelReject(msg: FixMessage): FixParseResult<OrderCancelReject> {
  return parseWith(() => {
    const orderId = requireString(msg, Tag.OrderID, 'OrderID');
    const clOrdId = requireString(msg, Tag.ClOrdID, 'ClOrdID');
    const origClOrdId = requireString(msg, Tag.OrigClOrdID, 'OrigClOrdID');
    const ordStatus = requireString(msg, Tag.OrdStatus, 'OrdStatus');
    if (!ORD_STATUSES.has(ordStatus)) throw new Failure(badValue(Tag.OrdStatus, 'OrdStatus', `unknown value "${ordStatus}"`));
    const responseTo = requireString(msg, Tag.CxlRejResponseTo, 'CxlRejResponseTo');
    if (responseTo !== CxlRejResponseTo.OrderCancelRequest && responseTo !== CxlRejResponseTo.OrderCancelReplaceRequest) {
      throw new Failure(badValue(Tag.CxlRejResponseTo, 'CxlRejResponseTo', `must be 1 or 2 (got "${responseTo}")`));
    }
    const r: OrderCancelReject = { orderId, clOrdId, origClOrdId, ordStatus: ordStatus as OrdStatus, cxlRejResponseTo: responseTo };
    const reason = optionalString(msg, Tag.CxlRejReason);
    if (reason !== undefined) {
      const n = parseNonNegativeInt(reason);
      if (n === undefined) throw new Failure(badFormat(Tag.CxlRejReason, 'CxlRejReason', 'must be an integer'));
      r.cxlRejReason = n;
    }
    const text = optionalString(msg, Tag.Text);
    if (text !== undefined) r.text = text;
    return r;
  });
}

// ---------------------------------------------------------------------------------------------
// BusinessMessageReject (j)

export interface BusinessMessageRejectInit {
  refSeqNum?: number;
  refMsgType: string;
  businessRejectReason: number;
  businessRejectRefId?: string;
  text?: string;
}

export function buildBusinessMessageReject(init: BusinessMessageRejectInit): FixField[] {
  const fields: FixField[] = [];
  if (init.refSeqNum !== undefined) fields.push([Tag.RefSeqNum, String(init.refSeqNum)]);
  if (init.text !== undefined && init.text !== '') fields.push([Tag.Text, init.text]);
  fields.push([Tag.RefMsgType, init.refMsgType]);
  if (init.businessRejectRefId !== undefined) fields.push([Tag.BusinessRejectRefID, init.businessRejectRefId]);
  fields.push([Tag.BusinessRejectReason, String(init.businessRejectReason)]);
  return fields;
}

/** MsgTypes of the application messages in this module. */
export const APPLICATION_MSG_TYPES = {
  NewOrderSingle: MsgType.NewOrderSingle,
  OrderCancelRequest: MsgType.OrderCancelRequest,
  OrderStatusRequest: MsgType.OrderStatusRequest,
  ExecutionReport: MsgType.ExecutionReport,
  OrderCancelReject: MsgType.OrderCancelReject,
  BusinessMessageReject: MsgType.BusinessMessageReject,
} as const;
