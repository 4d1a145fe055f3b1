/**
 * The payload of one market-data stream entry: a feed Snapshot or Trade as the protobuf
 * `triquant.v1.Tick` / `triquant.v1.Trade` (proto/triquant/v1/market_data.proto), optionally
 * compressed. Written by the gateway's publisher; decoded by strategies.
 *
 * Entry fields (flat field/value pairs, the same field names in every entry so Redis stores
 * them once per stream node):
 *
 *   t  entry type: "s" = snapshot (a `Tick`), "t" = trade (a `Trade`)
 *   d  the protobuf bytes (compressed when `z` is present)
 *   z  compression, absent when none: "g" = gzip (RFC 1952), "d" = raw DEFLATE (RFC 1951)
 *
 * One entry holds one tick of ~50 (trade) to ~250 (snapshot) protobuf bytes: too little for
 * DEFLATE to find many repeats, and gzip adds 18 bytes of header and trailer to each. Raw
 * DEFLATE is the same compression without them, so it is the better choice of the two
 * (measured figures in docs/redis-streams.md). A new method would get a new `z` code;
 * decoders keep every old one.
 *
 * Mapping from the feed (src/protocol/feed/frames.ts): receive time = the batch's
 * `receivedAt`; trailing empty book levels (price 0, qty 0) are left out and `orders` = 0 is
 * left unset, and restored on the way back, so `tickToSnapshot(snapshotToTick(m, t))`
 * equals `m` exactly.
 */
import { deflateRawSync, gunzipSync, gzipSync, inflateRawSync } from 'node:zlib';
import type { Micros } from '../core/clock.ts';
import { TriquantError } from '../core/errors.ts';
import { Side } from '../protocol/gen/triquant/v1/common.ts';
import { Tick, Trade } from '../protocol/gen/triquant/v1/market_data.ts';
import type { Level } from '../protocol/gen/triquant/v1/market_data.ts';
import { AGGRESSOR_BY_CODE, AGGRESSOR_CODE, BOOK_LEVELS, PHASE_BY_CODE, PHASE_CODE } from '../protocol/feed/frames.ts';
import type { BookLevel, SnapshotMessage, TradeMessage } from '../protocol/feed/frames.ts';

export const FIELD_TYPE = 't';
export const FIELD_DATA = 'd';
export const FIELD_COMPRESSION = 'z';
export const TYPE_SNAPSHOT = 's';
export const TYPE_TRADE = 't';

/** How the publisher compresses payloads: none, gzip (`z`="g") or raw DEFLATE (`z`="d"). */
export type TickCompression = 'none' | 'gzip' | 'deflate';
export const TICK_COMPRESSIONS: readonly TickCompression[] = Object.freeze(['none', 'gzip', 'deflate'] as TickCompression[]);
export const COMPRESSION_CODE: Readonly<Record<Exclude<TickCompression, 'none'>, string>> = Object.freeze({ gzip: 'g', deflate: 'd' });

/** A decoded entry: what a strategy gets. */
export type MarketDataEntry = { type: 'tick'; tick: Tick } | { type: 'trade'; trade: Trade };

/** Largest decompressed payload accepted (a guard against a corrupt or hostile entry). */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

/** An entry that is not a well-formed market-data payload. */
export class TickCodecError extends TriquantError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TICK_CODEC', message, options);
  }
}

// ---------------------------------------------------------------------------------------------
// Feed message <-> protobuf

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

function levelsOut(levels: readonly BookLevel[]): Level[] {
  let n = levels.length;
  while (n > 0 && levels[n - 1]!.price === 0 && levels[n - 1]!.qty === 0 && levels[n - 1]!.orders === 0) n--;
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
// Entry fields

/**
 * The field/value list of one stream entry for a feed message, ready for
 * `XADD key … id ...fields`. Throws TickCodecError if the message cannot be encoded.
 */
export function encodeEntryFields(message: SnapshotMessage | TradeMessage, receiveTimeUs: Micros, compression: TickCompression = 'none'): (string | Buffer)[] {
  let bytes: Uint8Array;
  try {
    bytes = message.type === 'snapshot' ? Tick.encode(snapshotToTick(message, receiveTimeUs)).finish() : Trade.encode(tradeToProto(message, receiveTimeUs)).finish();
  } catch (error) {
    throw new TickCodecError(`cannot encode ${message.type} ${message.symbol} seq ${message.seq}: ${(error as Error).message}`, { cause: error });
  }
  const type = message.type === 'snapshot' ? TYPE_SNAPSHOT : TYPE_TRADE;
  const raw = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (compression) {
    case 'none':
      return [FIELD_TYPE, type, FIELD_DATA, raw];
    case 'gzip':
      return [FIELD_TYPE, type, FIELD_DATA, gzipSync(raw), FIELD_COMPRESSION, COMPRESSION_CODE.gzip];
    case 'deflate':
      return [FIELD_TYPE, type, FIELD_DATA, deflateRawSync(raw), FIELD_COMPRESSION, COMPRESSION_CODE.deflate];
    default:
      throw new TickCodecError(`unknown compression ${JSON.stringify(compression)}`);
  }
}

/**
 * Decodes the fields of one entry (as XRANGE/XREADGROUP return them). Ask ioredis for Buffers
 * (`xrangeBuffer`, `xreadgroupBuffer`): its string replies decode UTF-8 and mangle binary
 * payloads. A string `d` value is taken as latin1 (one char per byte).
 * Throws TickCodecError for anything that is not a well-formed entry; never anything else.
 */
export function decodeEntryFields(fields: readonly (string | Buffer)[]): MarketDataEntry {
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
  const raw = decompress(data, z);
  try {
    if (type === TYPE_SNAPSHOT) return { type: 'tick', tick: Tick.decode(raw) };
    if (type === TYPE_TRADE) return { type: 'trade', trade: Trade.decode(raw) };
  } catch (error) {
    throw new TickCodecError(`malformed ${type === TYPE_SNAPSHOT ? 'Tick' : 'Trade'} protobuf: ${(error as Error).message}`, { cause: error });
  }
  throw new TickCodecError(`unknown entry type ${JSON.stringify(type)}`);
}

/** Decodes an entry straight back into the feed message it was published from. */
export function decodeEntryToFeedMessage(fields: readonly (string | Buffer)[]): SnapshotMessage | TradeMessage {
  const entry = decodeEntryFields(fields);
  return entry.type === 'tick' ? tickToSnapshot(entry.tick) : protoToTrade(entry.trade);
}

function decompress(data: Buffer, z: string | undefined): Buffer {
  if (z === undefined) return data;
  try {
    if (z === COMPRESSION_CODE.gzip) return gunzipSync(data, { maxOutputLength: MAX_PAYLOAD_BYTES });
    if (z === COMPRESSION_CODE.deflate) return inflateRawSync(data, { maxOutputLength: MAX_PAYLOAD_BYTES });
  } catch (error) {
    throw new TickCodecError(`cannot decompress payload (z=${z}): ${(error as Error).message}`, { cause: error });
  }
  throw new TickCodecError(`unknown compression ${JSON.stringify(z)}`);
}
