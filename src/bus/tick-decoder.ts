/**
 * A hand-written protobuf decoder for `triquant.v1.MarketDataBatch`, the mirror of
 * `MarketDataBatchWriter` (tick-codec.ts): consumers decode every entry, and the generated
 * `MarketDataBatch.decode` reads each int64 through BigInt (`longToNumber`), which dominated
 * their CPU profile. This one reads varints straight into numbers, with the cursor in module
 * state (no reader object, no closures per field).
 *
 * On every valid encoding it returns exactly what the generated decoder returns: the same
 * object shapes and defaults (`orders` present but `undefined` when unset), unknown fields of
 * every wire type skipped, a known field number with the wrong wire type skipped as unknown,
 * the last occurrence of a scalar winning, strings decoded as UTF-8 with U+FFFD for invalid
 * sequences and a leading U+FEFF kept. An int64/uint64 outside the safe-integer range throws
 * (the generated code throws too). Malformed input always throws a `TickDecodeError`:
 * truncation, a varint longer than 10 bytes, a nested message overrunning its length, tag 0,
 * a stray end-group, wire types 6 and 7. (The generated decoder silently returns a partial
 * message for tag 0 or an end-group tag, and lets a field run past the end of its enclosing
 * message; this decoder rejects those.)
 */
import { TriquantError } from '../core/errors.ts';
import type { Side } from '../protocol/gen/triquant/v1/common.ts';
import type { Level, MarketDataBatch, Tick, Trade, TradingPhase } from '../protocol/gen/triquant/v1/market_data.ts';

/** Input that is not a well-formed `MarketDataBatch` (or holds a 64-bit value beyond ±(2^53−1)). */
export class TickDecodeError extends TriquantError {
  constructor(message: string) {
    super('TICK_DECODE', message);
  }
}

const TWO_32 = 4294967296;
/** Largest high word (bits 32..63) of a safe integer's magnitude: 2^53−1 = 0x1FFFFF·2^32 + 0xFFFFFFFF. */
const MAX_SAFE_HI = 0x1fffff;
/** Nesting limit for skipped groups (the generated reader's limit too). */
const MAX_GROUP_DEPTH = 100;

const EMPTY = new Uint8Array(0);
// The cursor: module state rather than an object, so the hot reads are plain loads and stores.
// Decoding is synchronous and not re-entrant, so one cursor serves every call.
let buf: Uint8Array = EMPTY;
let pos = 0;
/** The high word of the last varint read by `varint64` (its low word is the return value). */
let hiWord = 0;

const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
// Consumers read one symbol's stream over and over: the last symbol's string is reused when the bytes match.
let lastSymbolBytes = new Uint8Array(32);
let lastSymbolLength = -1;
let lastSymbol = '';

function truncated(): TickDecodeError {
  return new TickDecodeError('truncated MarketDataBatch');
}

/**
 * Reads a varint of up to 10 bytes below `end`; returns the low 32 bits (as uint32) and leaves
 * the high 32 bits in `hiWord`. Bits beyond 64 are ignored, as protobuf readers do.
 */
function varint64(end: number): number {
  const b = buf;
  let p = pos;
  if (p >= end) throw truncated();
  let byte = b[p++]!;
  if (byte < 0x80) {
    pos = p;
    hiWord = 0;
    return byte;
  }
  let lo = byte & 0x7f;
  for (let shift = 7; shift < 28; shift += 7) {
    if (p >= end) throw truncated();
    byte = b[p++]!;
    lo |= (byte & 0x7f) << shift;
    if (byte < 0x80) {
      pos = p;
      hiWord = 0;
      return lo >>> 0;
    }
  }
  if (p >= end) throw truncated();
  byte = b[p++]!;
  lo |= (byte & 0x0f) << 28;
  let hi = (byte & 0x70) >>> 4;
  if (byte >= 0x80) {
    for (let shift = 3; ; shift += 7) {
      if (shift > 31) throw new TickDecodeError('varint longer than 10 bytes');
      if (p >= end) throw truncated();
      byte = b[p++]!;
      hi |= (byte & 0x7f) << shift;
      if (byte < 0x80) break;
    }
  }
  pos = p;
  hiWord = hi >>> 0;
  return lo >>> 0;
}

/** A signed int64 varint as a number; throws beyond ±(2^53−1). Values below 2^28 (prices, quantities) stay in the unrolled first part. */
function int64(end: number): number {
  const b = buf;
  const p = pos;
  if (p + 4 <= end) {
    let byte = b[p]!;
    if (byte < 0x80) {
      pos = p + 1;
      return byte;
    }
    let v = byte & 0x7f;
    byte = b[p + 1]!;
    if (byte < 0x80) {
      pos = p + 2;
      return v | (byte << 7);
    }
    v |= (byte & 0x7f) << 7;
    byte = b[p + 2]!;
    if (byte < 0x80) {
      pos = p + 3;
      return v | (byte << 14);
    }
    v |= (byte & 0x7f) << 14;
    byte = b[p + 3]!;
    if (byte < 0x80) {
      pos = p + 4;
      return v | (byte << 21);
    }
  }
  const lo = varint64(end);
  const hi = hiWord;
  if (hi === 0) return lo;
  if (hi <= MAX_SAFE_HI) return hi * TWO_32 + lo;
  if (hi < 0x80000000) throw new TickDecodeError('int64 value is larger than Number.MAX_SAFE_INTEGER');
  // Negative: the magnitude is the two's complement of (hi, lo).
  const negLo = (~lo + 1) >>> 0;
  const negHi = (~hi + (negLo === 0 ? 1 : 0)) >>> 0;
  if (negHi > MAX_SAFE_HI) throw new TickDecodeError('int64 value is smaller than Number.MIN_SAFE_INTEGER');
  return -(negHi * TWO_32 + negLo);
}

/** An unsigned uint64 varint as a number; throws beyond 2^53−1. */
function uint64(end: number): number {
  const p = pos;
  if (p < end) {
    const byte = buf[p]!;
    if (byte < 0x80) {
      pos = p + 1;
      return byte;
    }
  }
  const lo = varint64(end);
  const hi = hiWord;
  if (hi === 0) return lo;
  if (hi <= MAX_SAFE_HI) return hi * TWO_32 + lo;
  throw new TickDecodeError('uint64 value is larger than Number.MAX_SAFE_INTEGER');
}

/** A tag or length: a varint whose low 32 bits are taken as uint32 (what the generated reader does). */
function uint32(end: number): number {
  const p = pos;
  if (p < end) {
    const byte = buf[p]!;
    if (byte < 0x80) {
      pos = p + 1;
      return byte;
    }
  }
  return varint64(end);
}

/** The end of a length-delimited field starting at `pos`, checked against the enclosing `end`. */
function lengthDelimitedEnd(end: number): number {
  const len = uint32(end);
  const stop = pos + len;
  if (stop > end) throw truncated();
  return stop;
}

function string(end: number): string {
  const stop = lengthDelimitedEnd(end);
  const start = pos;
  pos = stop;
  const len = stop - start;
  if (len === 0) return '';
  const b = buf;
  if (len === lastSymbolLength) {
    const prev = lastSymbolBytes;
    let i = 0;
    while (i < len && b[start + i] === prev[i]) i++;
    if (i === len) return lastSymbol;
  }
  let s: string;
  let ascii = len <= 64;
  if (ascii) for (let i = start; i < stop; i++) if (b[i]! >= 0x80) { ascii = false; break; }
  if (ascii) s = String.fromCharCode.apply(null, b.subarray(start, stop) as unknown as number[]);
  else s = utf8.decode(b.subarray(start, stop));
  if (len <= 64) {
    if (lastSymbolBytes.length < len) lastSymbolBytes = new Uint8Array(64);
    lastSymbolBytes.set(b.subarray(start, stop));
    lastSymbolLength = len;
    lastSymbol = s;
  }
  return s;
}

/** Skips the value of an unknown field with tag `tag` (groups: up to the matching end-group tag). */
function skipField(tag: number, end: number, depth: number): void {
  switch (tag & 7) {
    case 0: // varint
      varint64(end);
      return;
    case 1: // fixed64
      if (pos + 8 > end) throw truncated();
      pos += 8;
      return;
    case 2: // length-delimited
      pos = lengthDelimitedEnd(end);
      return;
    case 3: {
      // group: skip fields up to the end-group tag of the same field number
      if (depth >= MAX_GROUP_DEPTH) throw new TickDecodeError('groups nested too deep');
      for (;;) {
        const inner = uint32(end);
        if ((inner & 7) === 4) {
          if (inner >>> 3 !== tag >>> 3) throw new TickDecodeError('mismatched end-group tag');
          return;
        }
        checkTag(inner);
        skipField(inner, end, depth + 1);
      }
    }
    case 5: // fixed32
      if (pos + 4 > end) throw truncated();
      pos += 4;
      return;
    default:
      throw new TickDecodeError(`unexpected wire type ${tag & 7}`);
  }
}

function checkTag(tag: number): void {
  if (tag >>> 3 === 0) throw new TickDecodeError(`invalid tag ${tag} (field number 0)`);
}

function skipUnknown(tag: number, end: number): void {
  checkTag(tag);
  if ((tag & 7) === 4) throw new TickDecodeError(`unexpected end-group tag ${tag}`);
  skipField(tag, end, 0);
}

function level(end: number): Level {
  let price = 0;
  let quantity = 0;
  let orders: number | undefined = undefined;
  while (pos < end) {
    const tag = uint32(end);
    if (tag === 8) price = int64(end);
    else if (tag === 16) quantity = int64(end);
    else if (tag === 24) orders = int64(end);
    else skipUnknown(tag, end);
  }
  return { price, quantity, orders };
}

function tick(end: number): Tick {
  // The literal's property order is createBaseTick's, so objects share the generated decoder's shape.
  const t: Tick = {
    symbol: '', channel: 0, seq: 0, eventTimeUs: 0, receiveTimeUs: 0, phase: 0,
    lastPrice: 0, openPrice: 0, highPrice: 0, lowPrice: 0, prevClosePrice: 0, volume: 0, turnover: 0,
    bids: [], asks: [], upperLimitPrice: 0, lowerLimitPrice: 0,
  };
  while (pos < end) {
    const tag = uint32(end);
    switch (tag) {
      case 10: t.symbol = string(end); break;
      case 16: t.channel = uint32(end) >>> 0; break;
      case 24: t.seq = uint64(end); break;
      case 32: t.eventTimeUs = int64(end); break;
      case 40: t.receiveTimeUs = int64(end); break;
      case 48: t.phase = (uint32(end) | 0) as TradingPhase; break;
      case 56: t.lastPrice = int64(end); break;
      case 64: t.openPrice = int64(end); break;
      case 72: t.highPrice = int64(end); break;
      case 80: t.lowPrice = int64(end); break;
      case 88: t.prevClosePrice = int64(end); break;
      case 96: t.volume = int64(end); break;
      case 104: t.turnover = int64(end); break;
      case 114: { const stop = lengthDelimitedEnd(end); t.bids.push(level(stop)); break; }
      case 122: { const stop = lengthDelimitedEnd(end); t.asks.push(level(stop)); break; }
      case 128: t.upperLimitPrice = int64(end); break;
      case 136: t.lowerLimitPrice = int64(end); break;
      default: skipUnknown(tag, end);
    }
  }
  return t;
}

function trade(end: number): Trade {
  const t: Trade = {
    symbol: '', channel: 0, seq: 0, eventTimeUs: 0, receiveTimeUs: 0,
    price: 0, quantity: 0, aggressorSide: 0, buyOrderRef: 0, sellOrderRef: 0,
  };
  while (pos < end) {
    const tag = uint32(end);
    switch (tag) {
      case 10: t.symbol = string(end); break;
      case 16: t.channel = uint32(end) >>> 0; break;
      case 24: t.seq = uint64(end); break;
      case 32: t.eventTimeUs = int64(end); break;
      case 40: t.receiveTimeUs = int64(end); break;
      case 48: t.price = int64(end); break;
      case 56: t.quantity = int64(end); break;
      case 64: t.aggressorSide = (uint32(end) | 0) as Side; break;
      case 72: t.buyOrderRef = uint64(end); break;
      case 80: t.sellOrderRef = uint64(end); break;
      default: skipUnknown(tag, end);
    }
  }
  return t;
}

/**
 * Decodes a protobuf `MarketDataBatch`: the same value as the generated
 * `MarketDataBatch.decode(bytes)` for every valid encoding. Throws `TickDecodeError` for
 * malformed or truncated input and for a 64-bit value outside ±(2^53−1).
 */
export function decodeMarketDataBatch(bytes: Uint8Array): MarketDataBatch {
  buf = bytes;
  pos = 0;
  const end = bytes.length;
  const batch: MarketDataBatch = { ticks: [], trades: [], publishTimeUs: 0 };
  try {
    while (pos < end) {
      const tag = uint32(end);
      if (tag === 10) {
        const stop = lengthDelimitedEnd(end);
        batch.ticks.push(tick(stop));
      } else if (tag === 18) {
        const stop = lengthDelimitedEnd(end);
        batch.trades.push(trade(stop));
      } else if (tag === 24) batch.publishTimeUs = int64(end);
      else skipUnknown(tag, end);
    }
  } finally {
    buf = EMPTY; // do not keep the caller's buffer alive
  }
  return batch;
}
