/**
 * The payload of one market-data stream entry: several snapshots and trades of ONE symbol, in
 * seq order, as a protobuf `triquant.v1.MarketDataBatch` (proto/triquant/v1/market_data.proto:
 * snapshots in `ticks`, trades in `trades`, each message with its own `channel` and `seq`),
 * optionally compressed as a whole. Written by the gateway's publisher; decoded by strategies.
 *
 * Entry fields (flat field/value pairs, the same field names in every entry so Redis stores
 * them once per stream node):
 *
 *   t  entry type: "b" = a `MarketDataBatch` (what the publisher writes). Decoders also accept
 *      the single-message entries of the first format: "s" = one `Tick`, "t" = one `Trade`.
 *   d  the protobuf bytes (compressed when `z` is present)
 *   z  compression, absent when none: "g" = gzip (RFC 1952), "d" = raw DEFLATE (RFC 1951)
 *
 * Order inside an entry: `ticks` and `trades` are each in seq order; the entry's messages in
 * feed order are the two lists merged by (channel, seq) — `decodeEntryFields` does that and
 * rejects an entry whose messages are not strictly increasing. The entry ID is
 * `<sessionId>-<seq of the last message>` (market-data-keys.ts).
 *
 * Encoding is the gateway's hot path, so `MarketDataBatchWriter` writes the protobuf wire
 * format straight from the feed messages into one reused buffer: no intermediate `Tick`
 * objects, no BigInt per 64-bit field (the generated encoder's int64 path). Its output is
 * byte-for-byte what `MarketDataBatch.encode(...).finish()` writes for the same messages (the
 * tests compare the two on random messages); decoding a batch uses the hand-written
 * `decodeMarketDataBatch` (tick-decoder.ts: no BigInt per int64, about 6x the generated decoder),
 * checked against the generated decoder by its tests. `appendFrame`
 * writes the same bytes straight from a feed frame, so the gateway never decodes ticks only
 * to encode them again.
 *
 * Mapping from the feed (src/protocol/feed/frames.ts): receive time = the batch's
 * `receivedAt`; trailing empty book levels (price 0, qty 0, orders 0) are left out and
 * `orders` = 0 is left unset, and restored on the way back, so
 * `tickToSnapshot(snapshotToTick(m, t))` equals `m` exactly.
 */
import { deflateRawSync, gunzipSync, gzipSync, inflateRawSync } from 'node:zlib';
import type { Micros } from '../core/clock.ts';
import { TriquantError } from '../core/errors.ts';
import { Side } from '../protocol/gen/triquant/v1/common.ts';
import { MarketDataBatch, Tick, Trade } from '../protocol/gen/triquant/v1/market_data.ts';
import type { Level } from '../protocol/gen/triquant/v1/market_data.ts';
import { AGGRESSOR_BY_CODE, AGGRESSOR_CODE, BOOK_LEVELS, HEADER_BYTES, MessageType, PHASE_BY_CODE, PHASE_CODE, SNAPSHOT_BODY_BYTES, SNAPSHOT_LEVEL_BYTES, SYMBOL_BYTES, TRADE_BODY_BYTES } from '../protocol/feed/frames.ts';
import type { BookLevel, SnapshotMessage, TradeMessage } from '../protocol/feed/frames.ts';
import { viewOf } from '../protocol/feed/codec.ts';
import { decodeMarketDataBatch } from './tick-decoder.ts';

export const FIELD_TYPE = 't';
export const FIELD_DATA = 'd';
export const FIELD_COMPRESSION = 'z';
/** Entry type of the publisher's entries: the payload is a `MarketDataBatch`. */
export const TYPE_BATCH = 'b';
/** Entry types of the first, one-message-per-entry format (still decoded). */
export const TYPE_SNAPSHOT = 's';
export const TYPE_TRADE = 't';

/** How the publisher compresses payloads: none, gzip (`z`="g") or raw DEFLATE (`z`="d"). */
export type TickCompression = 'none' | 'gzip' | 'deflate';
export const TICK_COMPRESSIONS: readonly TickCompression[] = Object.freeze(['none', 'gzip', 'deflate'] as TickCompression[]);
export const COMPRESSION_CODE: Readonly<Record<Exclude<TickCompression, 'none'>, string>> = Object.freeze({ gzip: 'g', deflate: 'd' });

/** A market-data message as the feed decoder yields it. */
export type FeedMarketData = SnapshotMessage | TradeMessage;

/** One message of a decoded entry, with its seq (what a strategy gets). */
export type MarketDataEntryMessage = { type: 'tick'; seq: number; tick: Tick } | { type: 'trade'; seq: number; trade: Trade };

/** Largest decompressed payload accepted (a guard against a corrupt or hostile entry). */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

/** An entry that is not a well-formed market-data payload, or a message that cannot be encoded. */
export class TickCodecError extends TriquantError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TICK_CODEC', message, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Feed message <-> protobuf objects (the reference mapping; the writer below must agree)

export function snapshotToTick(m: SnapshotMessage, receiveTimeUs: Micros): Tick {
  return {
    symbol: m.symbol,
    channel: m.channel,
    seq: m.seq,
    eventTimeUs: m.eventTime,
    receiveTimeUs,
    phase: PHASE_CODE[m.phase] as Tick['phase'],
    lastPrice: m.lastPrice,
    openPrice: m.openPrice,
    highPrice: m.highPrice,
    lowPrice: m.lowPrice,
    prevClosePrice: m.prevClosePrice,
    volume: m.volume,
    turnover: m.turnover,
    bids: levelsOut(m.bids),
    asks: levelsOut(m.asks),
    upperLimitPrice: m.upperLimitPrice,
    lowerLimitPrice: m.lowerLimitPrice,
  };
}

export function tradeToProto(m: TradeMessage, receiveTimeUs: Micros): Trade {
  return {
    symbol: m.symbol,
    channel: m.channel,
    seq: m.seq,
    eventTimeUs: m.time,
    receiveTimeUs,
    price: m.price,
    quantity: m.qty,
    aggressorSide: AGGRESSOR_CODE[m.aggressor] as Side,
    buyOrderRef: m.buyOrderId,
    sellOrderRef: m.sellOrderId,
  };
}

/** The feed snapshot a Tick came from (10 levels a side, as the feed decoder yields). Throws TickCodecError for an unknown phase. */
export function tickToSnapshot(t: Tick): SnapshotMessage {
  const phase = PHASE_BY_CODE[t.phase];
  if (phase === undefined) throw new TickCodecError(`tick ${t.symbol} seq ${t.seq}: unknown trading phase ${t.phase}`);
  return {
    type: 'snapshot',
    channel: t.channel,
    seq: t.seq,
    symbol: t.symbol,
    eventTime: t.eventTimeUs,
    phase,
    lastPrice: t.lastPrice,
    openPrice: t.openPrice,
    highPrice: t.highPrice,
    lowPrice: t.lowPrice,
    prevClosePrice: t.prevClosePrice,
    upperLimitPrice: t.upperLimitPrice,
    lowerLimitPrice: t.lowerLimitPrice,
    volume: t.volume,
    turnover: t.turnover,
    bids: levelsIn(t.bids),
    asks: levelsIn(t.asks),
  };
}

/** The feed trade a Trade came from. Throws TickCodecError for an unknown aggressor side. */
export function protoToTrade(t: Trade): TradeMessage {
  const aggressor = AGGRESSOR_BY_CODE[t.aggressorSide];
  if (aggressor === undefined) throw new TickCodecError(`trade ${t.symbol} seq ${t.seq}: unknown aggressor side ${t.aggressorSide}`);
  return {
    type: 'trade',
    channel: t.channel,
    seq: t.seq,
    symbol: t.symbol,
    time: t.eventTimeUs,
    price: t.price,
    qty: t.quantity,
    aggressor,
    buyOrderId: t.buyOrderRef,
    sellOrderId: t.sellOrderRef,
  };
}

/** Number of levels left after dropping trailing empty ones (price, qty and orders all 0). */
function usedLevels(levels: readonly BookLevel[]): number {
  let n = levels.length;
  while (n > 0) {
    const l = levels[n - 1]!;
    if (l.price !== 0 || l.qty !== 0 || l.orders !== 0) break;
    n--;
  }
  return n;
}

function levelsOut(levels: readonly BookLevel[]): Level[] {
  const n = usedLevels(levels);
  const out: Level[] = new Array<Level>(n);
  for (let i = 0; i < n; i++) {
    const l = levels[i]!;
    out[i] = { price: l.price, quantity: l.qty, orders: l.orders === 0 ? undefined : l.orders };
  }
  return out;
}

function levelsIn(levels: readonly Level[]): BookLevel[] {
  const out: BookLevel[] = [];
  for (const l of levels) out.push({ price: l.price, qty: l.quantity, orders: l.orders ?? 0 });
  while (out.length < BOOK_LEVELS) out.push({ price: 0, qty: 0, orders: 0 });
  return out;
}

// ---------------------------------------------------------------------------------------------
// The wire writer

/** `MarketDataBatch` field tags (field number << 3 | wire type). */
const TAG_TICKS = 10;
const TAG_TRADES = 18;
const TAG_PUBLISH_TIME = 24;

const TWO_32 = 4294967296;

function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

function notEncodable(what: string, value: unknown): TickCodecError {
  return new TickCodecError(`${what} ${String(value)} cannot be encoded (expected a safe integer in range)`);
}

/** Writes a signed 64-bit varint (protobuf int64) of a safe integer; returns the new position. Small: V8 inlines it. */
function putInt64(buf: Uint8Array, pos: number, v: number): number {
  if (v >>> 0 !== v) return putInt64Wide(buf, pos, v);
  while (v > 0x7f) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

/** putInt64 for values outside 0..2^32-1 (and the check that it is a safe integer at all). */
function putInt64Wide(buf: Uint8Array, pos: number, v: number): number {
  if (!Number.isSafeInteger(v)) throw notEncodable('value', v);
  if (v > 0) {
    // 2^32 <= v < 2^53 (µs timestamps, turnover): low 32 bits, then the high 21; at least 5 bytes.
    const lo = v >>> 0;
    const hi = (v - lo) / TWO_32;
    buf[pos++] = (lo & 0x7f) | 0x80;
    buf[pos++] = ((lo >>> 7) & 0x7f) | 0x80;
    buf[pos++] = ((lo >>> 14) & 0x7f) | 0x80;
    buf[pos++] = ((lo >>> 21) & 0x7f) | 0x80;
    let rest = (lo >>> 28) | (hi << 4);
    while (rest > 0x7f) {
      buf[pos++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    buf[pos++] = rest;
    return pos;
  }
  // Negative: two's complement over 64 bits, always 10 bytes.
  const hi = Math.floor(v / TWO_32);
  let l = (v - hi * TWO_32) >>> 0;
  let h = hi >>> 0;
  for (let i = 0; i < 9; i++) {
    buf[pos++] = (l & 0x7f) | 0x80;
    l = ((l >>> 7) | (h << 25)) >>> 0;
    h >>>= 7;
  }
  buf[pos++] = l & 0x7f;
  return pos;
}

/** `if (v !== 0) write tag, int64` — what the generated encoder does for an implicit-presence int64 field. */
function int64Field(buf: Uint8Array, pos: number, tag: number, v: number): number {
  if (v === 0) return pos;
  buf[pos++] = tag;
  return putInt64(buf, pos, v);
}

function uint64Field(buf: Uint8Array, pos: number, tag: number, v: number, what: string): number {
  if (v === 0) return pos;
  if (!(v > 0)) throw notEncodable(what, v);
  buf[pos++] = tag;
  return putInt64(buf, pos, v);
}

function uint32Field(buf: Uint8Array, pos: number, tag: number, v: number, what: string): number {
  if (v === 0) return pos;
  if (v >>> 0 !== v) throw notEncodable(what, v);
  buf[pos++] = tag;
  return putInt64(buf, pos, v);
}

/**
 * Writes feed messages as the fields of a protobuf `MarketDataBatch` into one growing buffer
 * that is reused across calls (`reset()`): a snapshot as a `ticks` entry, a trade as a
 * `trades` entry (tag, length, the Tick/Trade message). Concatenated fields form a valid
 * message; with all snapshots before all trades, each list in seq order, and the publish time
 * last, the bytes equal `MarketDataBatch.encode(...).finish()` exactly.
 */
export class MarketDataBatchWriter {
  private buf: Uint8Array;
  private pos = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = new Uint8Array(Math.max(1024, initialBytes));
  }

  /** Bytes written since the last reset. */
  get length(): number {
    return this.pos;
  }

  reset(): void {
    this.pos = 0;
  }

  /** The bytes written so far: a view, valid until the next write or reset. */
  view(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** A copy of the bytes written so far. */
  toBuffer(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    out.set(this.buf.subarray(0, this.pos));
    return out;
  }

  /**
   * Appends one message (`ticks` field for a snapshot, `trades` for a trade). Throws
   * TickCodecError, with nothing written, for a message that cannot be encoded (unknown
   * phase or aggressor, a number that is not a safe integer, a negative seq or order id).
   */
  append(m: FeedMarketData, receiveTimeUs: Micros): void {
    const start = this.pos;
    try {
      if (m.type === 'snapshot') this.snapshot(m, receiveTimeUs);
      else if (m.type === 'trade') this.trade(m, receiveTimeUs);
      else throw new TickCodecError(`cannot encode a ${String((m as { type?: unknown }).type)} message`);
    } catch (error) {
      this.pos = start;
      if (error instanceof TickCodecError) throw new TickCodecError(`${m.type} ${m.symbol} seq ${m.seq}: ${error.message}`, { cause: error });
      throw new TickCodecError(`cannot encode ${m.type} ${m.symbol} seq ${m.seq}: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * Appends the message held by a feed frame (`buf[offset…]`, header included) straight from
   * its wire bytes: the same bytes `append(decode(frame))` writes, without decoding. The frame
   * must have passed the feed decoder's checks (a `DataFrame`): known type and length, known
   * phase or aggressor code, printable symbol, 64-bit fields in the safe-integer range. A frame
   * whose type or length is wrong throws TickCodecError with nothing written.
   */
  appendFrame(buf: Uint8Array, offset: number, receiveTimeUs: Micros): void {
    const type = buf[offset + 3];
    const length = (buf[offset + 4]! | (buf[offset + 5]! << 8) | (buf[offset + 6]! << 16)) + buf[offset + 7]! * 0x1000000;
    if (type === MessageType.SNAPSHOT && length === SNAPSHOT_BODY_BYTES) this.snapshotFrame(buf, offset + HEADER_BYTES, receiveTimeUs);
    else if (type === MessageType.TRADE && length === TRADE_BODY_BYTES) this.tradeFrame(buf, offset + HEADER_BYTES, receiveTimeUs);
    else throw new TickCodecError(`not a snapshot or trade frame (type 0x${String(type?.toString(16))}, body ${length} bytes)`);
  }

  /** Appends `publish_time_us` (field 3; nothing for 0). */
  publishTime(us: Micros): void {
    this.ensure(16);
    this.pos = int64Field(this.buf, this.pos, TAG_PUBLISH_TIME, us);
  }

  private ensure(bytes: number): void {
    const need = this.pos + bytes;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** Field header with `reserve` bytes for the length; returns where the body starts. */
  private open(tag: number, reserve: number): number {
    this.buf[this.pos++] = tag;
    this.pos += reserve;
    return this.pos;
  }

  /** Writes the body length before the body, moving the body if its length needs other than `reserve` bytes. */
  private close(bodyStart: number, reserve: number): void {
    const buf = this.buf;
    const len = this.pos - bodyStart;
    const size = varintSize(len);
    let at = bodyStart - reserve;
    if (size !== reserve) {
      buf.copyWithin(at + size, bodyStart, this.pos);
      this.pos += size - reserve;
    }
    let v = len;
    while (v > 0x7f) {
      buf[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[at] = v;
  }

  private symbol(buf: Uint8Array, pos: number, symbol: string): number {
    const n = symbol.length;
    if (n === 0) return pos;
    if (n < 0x80) {
      let p = pos + 2;
      let ascii = true;
      for (let i = 0; i < n; i++) {
        const c = symbol.charCodeAt(i);
        if (c >= 0x80) {
          ascii = false;
          break;
        }
        buf[p++] = c;
      }
      if (ascii) {
        buf[pos] = 10;
        buf[pos + 1] = n;
        return p;
      }
    }
    const bytes = Buffer.from(symbol, 'utf8');
    buf[pos++] = 10;
    pos = putInt64(buf, pos, bytes.length);
    buf.set(bytes, pos);
    return pos + bytes.length;
  }

  private snapshot(m: SnapshotMessage, receiveTimeUs: Micros): void {
    const nb = usedLevels(m.bids);
    const na = usedLevels(m.asks);
    this.ensure(300 + 3 * m.symbol.length + 40 * (nb + na));
    const phase = PHASE_CODE[m.phase];
    if (phase === undefined) throw new TickCodecError(`unknown trading phase ${String(m.phase)}`);
    const body = this.open(TAG_TICKS, 2);
    const buf = this.buf;
    let pos = this.symbol(buf, body, m.symbol);
    pos = uint32Field(buf, pos, 16, m.channel, 'channel');
    pos = uint64Field(buf, pos, 24, m.seq, 'seq');
    pos = int64Field(buf, pos, 32, m.eventTime);
    pos = int64Field(buf, pos, 40, receiveTimeUs);
    pos = int64Field(buf, pos, 48, phase);
    pos = int64Field(buf, pos, 56, m.lastPrice);
    pos = int64Field(buf, pos, 64, m.openPrice);
    pos = int64Field(buf, pos, 72, m.highPrice);
    pos = int64Field(buf, pos, 80, m.lowPrice);
    pos = int64Field(buf, pos, 88, m.prevClosePrice);
    pos = int64Field(buf, pos, 96, m.volume);
    pos = int64Field(buf, pos, 104, m.turnover);
    pos = levels(buf, pos, 114, m.bids, nb);
    pos = levels(buf, pos, 122, m.asks, na);
    if (m.upperLimitPrice !== 0) {
      buf[pos++] = 128;
      buf[pos++] = 1;
      pos = putInt64(buf, pos, m.upperLimitPrice);
    }
    if (m.lowerLimitPrice !== 0) {
      buf[pos++] = 136;
      buf[pos++] = 1;
      pos = putInt64(buf, pos, m.lowerLimitPrice);
    }
    this.pos = pos;
    this.close(body, 2);
  }

  private trade(m: TradeMessage, receiveTimeUs: Micros): void {
    this.ensure(160 + 3 * m.symbol.length);
    const side = AGGRESSOR_CODE[m.aggressor];
    if (side === undefined) throw new TickCodecError(`unknown aggressor side ${String(m.aggressor)}`);
    const body = this.open(TAG_TRADES, 1);
    const buf = this.buf;
    let pos = this.symbol(buf, body, m.symbol);
    pos = uint32Field(buf, pos, 16, m.channel, 'channel');
    pos = uint64Field(buf, pos, 24, m.seq, 'seq');
    pos = int64Field(buf, pos, 32, m.time);
    pos = int64Field(buf, pos, 40, receiveTimeUs);
    pos = int64Field(buf, pos, 48, m.price);
    pos = int64Field(buf, pos, 56, m.qty);
    pos = int64Field(buf, pos, 64, side);
    pos = uint64Field(buf, pos, 72, m.buyOrderId, 'buy order id');
    pos = uint64Field(buf, pos, 80, m.sellOrderId, 'sell order id');
    this.pos = pos;
    this.close(body, 1);
  }

  /** `snapshot()` from the wire body at `o` (field order and presence rules as there). */
  private snapshotFrame(src: Uint8Array, o: number, receiveTimeUs: Micros): void {
    this.ensure(1_200);
    const dv = viewOf(src);
    const body = this.open(TAG_TICKS, 2);
    const buf = this.buf;
    let pos = wireSymbol(buf, body, src, o + 10);
    const channel = dv.getUint16(o, true);
    if (channel !== 0) {
      buf[pos++] = 16;
      pos = putVarint64(buf, pos, channel, 0);
    }
    pos = wire64Field(buf, pos, 24, dv, o + 2);
    pos = wire64Field(buf, pos, 32, dv, o + 26);
    pos = int64Field(buf, pos, 40, receiveTimeUs);
    buf[pos++] = 48;
    buf[pos++] = src[o + 34]!; // phase code 1..10: never 0, one varint byte
    pos = wire64Field(buf, pos, 56, dv, o + 35);
    pos = wire64Field(buf, pos, 64, dv, o + 43);
    pos = wire64Field(buf, pos, 72, dv, o + 51);
    pos = wire64Field(buf, pos, 80, dv, o + 59);
    pos = wire64Field(buf, pos, 88, dv, o + 67);
    pos = wire64Field(buf, pos, 96, dv, o + 91);
    pos = wire64Field(buf, pos, 104, dv, o + 99);
    pos = wireLevels(buf, pos, 114, dv, o + 107);
    pos = wireLevels(buf, pos, 122, dv, o + 107 + BOOK_LEVELS * SNAPSHOT_LEVEL_BYTES);
    if ((dv.getUint32(o + 75, true) | dv.getUint32(o + 79, true)) !== 0) {
      buf[pos++] = 128;
      buf[pos++] = 1;
      pos = putVarint64(buf, pos, dv.getUint32(o + 75, true), dv.getUint32(o + 79, true));
    }
    if ((dv.getUint32(o + 83, true) | dv.getUint32(o + 87, true)) !== 0) {
      buf[pos++] = 136;
      buf[pos++] = 1;
      pos = putVarint64(buf, pos, dv.getUint32(o + 83, true), dv.getUint32(o + 87, true));
    }
    this.pos = pos;
    this.close(body, 2);
  }

  /** `trade()` from the wire body at `o`. */
  private tradeFrame(src: Uint8Array, o: number, receiveTimeUs: Micros): void {
    this.ensure(200);
    const dv = viewOf(src);
    const body = this.open(TAG_TRADES, 1);
    const buf = this.buf;
    let pos = wireSymbol(buf, body, src, o + 10);
    const channel = dv.getUint16(o, true);
    if (channel !== 0) {
      buf[pos++] = 16;
      pos = putVarint64(buf, pos, channel, 0);
    }
    pos = wire64Field(buf, pos, 24, dv, o + 2);
    pos = wire64Field(buf, pos, 32, dv, o + 26);
    pos = int64Field(buf, pos, 40, receiveTimeUs);
    pos = wire64Field(buf, pos, 48, dv, o + 34);
    pos = wire64Field(buf, pos, 56, dv, o + 42);
    const side = src[o + 50]!; // the wire code is the protobuf Side value (0 = none: left out)
    if (side !== 0) {
      buf[pos++] = 64;
      buf[pos++] = side;
    }
    pos = wire64Field(buf, pos, 72, dv, o + 51);
    pos = wire64Field(buf, pos, 80, dv, o + 59);
    this.pos = pos;
    this.close(body, 1);
  }
}

// ---------------------------------------------------------------------------------------------
// Transcoding from feed frames (docs/protocols/feed.md): little-endian fixed-width fields
// become protobuf varints, read as two 32-bit halves so no 64-bit value is ever assembled.

/** Varint of the 64-bit value hi·2^32 + lo (lo, hi as uint32: two's complement for negatives). */
function putVarint64(buf: Uint8Array, pos: number, lo: number, hi: number): number {
  while (hi !== 0) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  while (lo > 0x7f) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  buf[pos++] = lo;
  return pos;
}

/** `tag, varint` of the little-endian 64-bit field at `off`, nothing when it is 0 (implicit presence). */
function wire64Field(buf: Uint8Array, pos: number, tag: number, dv: DataView, off: number): number {
  let lo = dv.getUint32(off, true);
  const hi = dv.getUint32(off + 4, true);
  if (hi !== 0) {
    buf[pos++] = tag;
    return putVarint64(buf, pos, lo, hi);
  }
  // Below 2^32 (prices, quantities, seqs): written out here, the common case stays inlined.
  if (lo === 0) return pos;
  buf[pos++] = tag;
  while (lo > 0x7f) {
    buf[pos++] = (lo & 0x7f) | 0x80;
    lo >>>= 7;
  }
  buf[pos++] = lo;
  return pos;
}

/** The symbol field from the NUL-padded wire symbol (printable ASCII, checked by the decoder). */
function wireSymbol(buf: Uint8Array, pos: number, src: Uint8Array, off: number): number {
  let n = 0;
  while (n < SYMBOL_BYTES && src[off + n] !== 0) n++;
  if (n === 0) return pos;
  buf[pos++] = 10;
  buf[pos++] = n;
  for (let i = 0; i < n; i++) buf[pos++] = src[off + i]!;
  return pos;
}

/** Book levels from the wire (price i64, qty u64, orders u32 each), trailing empty ones left out. */
function wireLevels(buf: Uint8Array, pos: number, tag: number, dv: DataView, off: number): number {
  let n = BOOK_LEVELS;
  while (n > 0) {
    const at = off + (n - 1) * SNAPSHOT_LEVEL_BYTES;
    if ((dv.getUint32(at, true) | dv.getUint32(at + 4, true) | dv.getUint32(at + 8, true) | dv.getUint32(at + 12, true) | dv.getUint32(at + 16, true)) !== 0) break;
    n--;
  }
  for (let i = 0; i < n; i++, off += SNAPSHOT_LEVEL_BYTES) {
    buf[pos++] = tag;
    const lenAt = pos++;
    pos = wire64Field(buf, pos, 8, dv, off);
    pos = wire64Field(buf, pos, 16, dv, off + 8);
    const orders = dv.getUint32(off + 16, true);
    if (orders !== 0) {
      buf[pos++] = 24;
      pos = putVarint64(buf, pos, orders, 0);
    }
    buf[lenAt] = pos - lenAt - 1;
  }
  return pos;
}

/** The first `n` levels as repeated `Level` fields (a Level is at most 33 bytes: one length byte). */
function levels(buf: Uint8Array, pos: number, tag: number, list: readonly BookLevel[], n: number): number {
  for (let i = 0; i < n; i++) {
    const l = list[i]!;
    buf[pos++] = tag;
    const lenAt = pos++;
    // Written out: 60 of a full snapshot's ~77 numbers are here, and V8 does not inline that
    // many calls (measured: 1.3M vs 1.7M snapshots/s).
    let v = l.price;
    if (v !== 0) {
      buf[pos++] = 8;
      if (v >>> 0 === v) {
        while (v > 0x7f) {
          buf[pos++] = (v & 0x7f) | 0x80;
          v >>>= 7;
        }
        buf[pos++] = v;
      } else pos = putInt64Wide(buf, pos, v);
    }
    v = l.qty;
    if (v !== 0) {
      buf[pos++] = 16;
      if (v >>> 0 === v) {
        while (v > 0x7f) {
          buf[pos++] = (v & 0x7f) | 0x80;
          v >>>= 7;
        }
        buf[pos++] = v;
      } else pos = putInt64Wide(buf, pos, v);
    }
    v = l.orders;
    if (v !== 0) {
      buf[pos++] = 24;
      if (v >>> 0 === v) {
        while (v > 0x7f) {
          buf[pos++] = (v & 0x7f) | 0x80;
          v >>>= 7;
        }
        buf[pos++] = v;
      } else pos = putInt64Wide(buf, pos, v);
    }
    buf[lenAt] = pos - lenAt - 1;
  }
  return pos;
}

// ---------------------------------------------------------------------------------------------
// Entry fields

/** The `z` field value for a compression (undefined for none). */
export function compressionCode(compression: TickCompression): string | undefined {
  if (compression === 'none') return undefined;
  const code = COMPRESSION_CODE[compression];
  if (code === undefined) throw new TickCodecError(`unknown compression ${JSON.stringify(compression)}`);
  return code;
}

/** Compresses a whole entry payload (none: returned as is). */
export function compressPayload(raw: Uint8Array, compression: TickCompression): Buffer {
  switch (compression) {
    case 'none':
      return Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    case 'gzip':
      return gzipSync(raw);
    case 'deflate':
      return deflateRawSync(raw);
    default:
      throw new TickCodecError(`unknown compression ${JSON.stringify(compression)}`);
  }
}

let sharedWriter: MarketDataBatchWriter | undefined;

/**
 * The field/value list of one stream entry holding `messages` (one symbol's, in seq order),
 * ready for `XADD key … id ...fields`; `receiveTimeUs` is one time for all or one per message.
 * The payload is the `MarketDataBatch` with the snapshots in `ticks`, the trades in `trades`.
 * Throws TickCodecError if a message cannot be encoded.
 */
export function encodeEntryFields(
  messages: readonly FeedMarketData[],
  receiveTimeUs: Micros | readonly Micros[],
  compression: TickCompression = 'none',
  publishTimeUs: Micros = 0,
): (string | Buffer)[] {
  const w = (sharedWriter ??= new MarketDataBatchWriter());
  w.reset();
  const at = (i: number) => (typeof receiveTimeUs === 'number' ? receiveTimeUs : receiveTimeUs[i]!);
  for (let i = 0; i < messages.length; i++) if (messages[i]!.type === 'snapshot') w.append(messages[i]!, at(i));
  for (let i = 0; i < messages.length; i++) if (messages[i]!.type !== 'snapshot') w.append(messages[i]!, at(i));
  w.publishTime(publishTimeUs);
  const payload = compressPayload(w.toBuffer(), compression);
  const z = compressionCode(compression);
  return z === undefined ? [FIELD_TYPE, TYPE_BATCH, FIELD_DATA, payload] : [FIELD_TYPE, TYPE_BATCH, FIELD_DATA, payload, FIELD_COMPRESSION, z];
}

/**
 * The protobuf batch of one entry (as XRANGE/XREADGROUP return its fields). An entry of the
 * first format (one Tick or Trade) comes back as a batch of one. Ask ioredis for Buffers
 * (`xrangeBuffer`, `xreadgroupBuffer`): its string replies decode UTF-8 and mangle binary
 * payloads; a string `d` value is taken as latin1 (one char per byte).
 * Throws TickCodecError for anything that is not a well-formed entry; never anything else.
 */
export function decodeEntryBatch(fields: readonly (string | Buffer)[]): MarketDataBatch {
  let type: string | undefined;
  let data: Buffer | undefined;
  let z: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = String(fields[i]);
    const value = fields[i + 1]!;
    if (name === FIELD_TYPE) type = String(value);
    else if (name === FIELD_DATA) data = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
    else if (name === FIELD_COMPRESSION) z = String(value);
  }
  if (type === undefined || data === undefined) throw new TickCodecError(`entry lacks the "${FIELD_TYPE}" or "${FIELD_DATA}" field`);
  if (type !== TYPE_BATCH && type !== TYPE_SNAPSHOT && type !== TYPE_TRADE) throw new TickCodecError(`unknown entry type ${JSON.stringify(type)}`);
  const raw = decompressPayload(data, z);
  try {
    if (type === TYPE_BATCH) return decodeMarketDataBatch(raw);
    if (type === TYPE_SNAPSHOT) return { ticks: [Tick.decode(raw)], trades: [], publishTimeUs: 0 };
    return { ticks: [], trades: [Trade.decode(raw)], publishTimeUs: 0 };
  } catch (error) {
    throw new TickCodecError(`malformed ${type === TYPE_BATCH ? 'MarketDataBatch' : type === TYPE_SNAPSHOT ? 'Tick' : 'Trade'} protobuf: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * The messages of one entry in feed order (ticks and trades merged by channel, then seq),
 * each with its seq. Throws TickCodecError for a malformed entry, including an empty one and
 * one whose messages are not strictly increasing by (channel, seq).
 */
export function decodeEntryFields(fields: readonly (string | Buffer)[]): MarketDataEntryMessage[] {
  const batch = decodeEntryBatch(fields);
  const { ticks, trades } = batch;
  const out: MarketDataEntryMessage[] = new Array<MarketDataEntryMessage>(ticks.length + trades.length);
  let i = 0;
  let j = 0;
  let prevChannel = -1;
  let prevSeq = 0;
  for (let k = 0; k < out.length; k++) {
    const tick = ticks[i];
    const trade = trades[j];
    let next: MarketDataEntryMessage;
    if (trade === undefined || (tick !== undefined && (tick.channel < trade.channel || (tick.channel === trade.channel && tick.seq < trade.seq)))) {
      next = { type: 'tick', seq: tick!.seq, tick: tick! };
      i++;
    } else {
      next = { type: 'trade', seq: trade.seq, trade };
      j++;
    }
    const channel = next.type === 'tick' ? next.tick.channel : next.trade.channel;
    if (channel < prevChannel || (channel === prevChannel && next.seq <= prevSeq)) {
      throw new TickCodecError(`entry messages are not in strictly increasing (channel, seq) order: ${channel}/${next.seq} after ${prevChannel}/${prevSeq}`);
    }
    prevChannel = channel;
    prevSeq = next.seq;
    out[k] = next;
  }
  if (out.length === 0) throw new TickCodecError('entry holds no messages');
  return out;
}

/** The feed messages an entry was published from, in order (what a strategy handles). Throws TickCodecError for a malformed entry. */
export function decodeEntryToFeedMessages(fields: readonly (string | Buffer)[]): FeedMarketData[] {
  return decodeEntryFields(fields).map((m) => (m.type === 'tick' ? tickToSnapshot(m.tick) : protoToTrade(m.trade)));
}

/** An entry's payload bytes given its compression field `z` (undefined: stored as is). Throws TickCodecError. */
export function decompressPayload(data: Buffer, z: string | undefined): Buffer {
  if (z === undefined) return data;
  try {
    if (z === COMPRESSION_CODE.gzip) return gunzipSync(data, { maxOutputLength: MAX_PAYLOAD_BYTES });
    if (z === COMPRESSION_CODE.deflate) return inflateRawSync(data, { maxOutputLength: MAX_PAYLOAD_BYTES });
  } catch (error) {
    throw new TickCodecError(`cannot decompress payload (z=${z}): ${(error as Error).message}`, { cause: error });
  }
  throw new TickCodecError(`unknown compression ${JSON.stringify(z)}`);
}
