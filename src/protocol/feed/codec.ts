/**
 * Feed protocol codec: an encoder (exact-size or into a caller's buffer) and a pure,
 * incremental decoder fed arbitrary chunks of bytes. No I/O here (DESIGN.md convention 1).
 *
 * The decoder copies nothing in the common case: whole frames are decoded straight from the
 * chunk they arrived in; only the tail of a frame split across chunks is kept, in one
 * reusable buffer that never holds more than one frame.
 */
import { ValidationError } from '../../core/errors.ts';
import {
  AGGRESSOR_BY_CODE,
  AGGRESSOR_CODE,
  BOOK_LEVELS,
  FrameError,
  HEADER_BYTES,
  HEARTBEAT_BODY_BYTES,
  MAGIC_0,
  MAGIC_1,
  MAX_AUTH_TOKEN_BYTES,
  MAX_BODY_BYTES,
  MAX_CLIENT_ID_BYTES,
  MAX_FRAME_BYTES,
  MAX_LOGON_CHANNELS,
  MAX_TEXT_BYTES,
  MESSAGE_TYPE_OF,
  MessageType,
  PHASE_BY_CODE,
  PHASE_CODE,
  PROTOCOL_VERSION,
  RETRANSMIT_END_BODY_BYTES,
  RETRANSMIT_REQUEST_BODY_BYTES,
  SNAPSHOT_BODY_BYTES,
  SNAPSHOT_LEVEL_BYTES,
  SUBSCRIBE_MODE_BY_CODE,
  SUBSCRIBE_MODE_CODE,
  SYMBOL_BYTES,
  TRADE_BODY_BYTES,
} from './frames.ts';
import type {
  BookLevel,
  ChannelStatus,
  ChannelSubscription,
  FeedMessage,
  FrameErrorReason,
  LogonAckMessage,
  LogonMessage,
  RetransmitRejectMessage,
  SnapshotMessage,
  TradeMessage,
} from './frames.ts';

const TWO_32 = 4_294_967_296;

/** A snapshot or trade whose seq the publisher assigns. */
export type PublishableMessage = Omit<SnapshotMessage, 'seq'> | Omit<TradeMessage, 'seq'>;

// ---------------------------------------------------------------------------------------------
// Encoding

function invalid(field: string, value: unknown, what: string): never {
  throw new ValidationError(`feed encode: ${field} must be ${what} (got ${String(value)})`);
}

// Numeric fields go through a DataView: V8 inlines DataView accessors, which makes them several
// times faster than Buffer's checked read/write methods on this hot path.

/**
 * A DataView over exactly the bytes of `buf`; cached for the last buffer seen (batches reuse
 * one). Also used by the bus's frame transcoder, which reads the chunk this decoder just checked.
 */
let lastViewBuffer: Uint8Array | undefined;
let lastView: DataView | undefined;
export function viewOf(buf: Uint8Array): DataView {
  if (buf !== lastViewBuffer) {
    lastView = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    lastViewBuffer = buf;
  }
  return lastView!;
}

function writeI64(dv: DataView, off: number, v: number, field: string): void {
  if (!Number.isSafeInteger(v)) invalid(field, v, 'a safe integer');
  const hi = Math.floor(v / TWO_32);
  dv.setUint32(off, v - hi * TWO_32, true);
  dv.setInt32(off + 4, hi, true);
}

function writeU64(dv: DataView, off: number, v: number, field: string): void {
  if (!Number.isSafeInteger(v) || v < 0) invalid(field, v, 'a non-negative safe integer');
  const hi = Math.floor(v / TWO_32);
  dv.setUint32(off, v - hi * TWO_32, true);
  dv.setUint32(off + 4, hi, true);
}

function writeU32(dv: DataView, off: number, v: number, field: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff_ffff) invalid(field, v, 'a u32');
  dv.setUint32(off, v, true);
}

function writeU16(dv: DataView, off: number, v: number, field: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) invalid(field, v, 'a u16');
  dv.setUint16(off, v, true);
}

function writeSymbol(buf: Buffer, off: number, symbol: string): void {
  const n = symbol.length;
  if (n < 1 || n > SYMBOL_BYTES) invalid('symbol', symbol, `1..${SYMBOL_BYTES} ASCII characters`);
  for (let i = 0; i < n; i++) {
    const c = symbol.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) invalid('symbol', symbol, 'printable ASCII without spaces');
    buf[off + i] = c;
  }
  buf.fill(0, off + n, off + SYMBOL_BYTES);
}

/** u16 byte length + UTF-8 bytes. Returns the offset after the field. */
function writeText(buf: Buffer, off: number, text: string, field: string, max: number): number {
  const len = Buffer.byteLength(text, 'utf8');
  if (len > max) invalid(field, `${len} bytes`, `at most ${max} UTF-8 bytes`);
  buf[off] = len & 0xff;
  buf[off + 1] = len >>> 8;
  buf.write(text, off + 2, len, 'utf8');
  return off + 2 + len;
}

function writeHeader(buf: Buffer, dv: DataView, off: number, type: number, bodyLength: number): void {
  buf[off] = MAGIC_0;
  buf[off + 1] = MAGIC_1;
  buf[off + 2] = PROTOCOL_VERSION;
  buf[off + 3] = type;
  dv.setUint32(off + 4, bodyLength, true);
}

function writeLevels(buf: Buffer, dv: DataView, off: number, levels: readonly BookLevel[], side: string): void {
  if (levels.length > BOOK_LEVELS) invalid(`${side}.length`, levels.length, `at most ${BOOK_LEVELS}`);
  for (let i = 0; i < BOOK_LEVELS; i++, off += SNAPSHOT_LEVEL_BYTES) {
    const level = levels[i];
    if (level === undefined) {
      buf.fill(0, off, off + SNAPSHOT_LEVEL_BYTES);
      continue;
    }
    writeI64(dv, off, level.price, `${side}[${i}].price`);
    writeU64(dv, off + 8, level.qty, `${side}[${i}].qty`);
    writeU32(dv, off + 16, level.orders, `${side}[${i}].orders`);
  }
}

function writeSnapshotBody(buf: Buffer, dv: DataView, o: number, m: Omit<SnapshotMessage, 'seq'>, seq: number): void {
  writeU16(dv, o, m.channel, 'channel');
  writeU64(dv, o + 2, seq, 'seq');
  writeSymbol(buf, o + 10, m.symbol);
  writeI64(dv, o + 26, m.eventTime, 'eventTime');
  const phase = PHASE_CODE[m.phase];
  if (phase === undefined) invalid('phase', m.phase, 'a TradingPhase');
  buf[o + 34] = phase;
  writeI64(dv, o + 35, m.lastPrice, 'lastPrice');
  writeI64(dv, o + 43, m.openPrice, 'openPrice');
  writeI64(dv, o + 51, m.highPrice, 'highPrice');
  writeI64(dv, o + 59, m.lowPrice, 'lowPrice');
  writeI64(dv, o + 67, m.prevClosePrice, 'prevClosePrice');
  writeI64(dv, o + 75, m.upperLimitPrice, 'upperLimitPrice');
  writeI64(dv, o + 83, m.lowerLimitPrice, 'lowerLimitPrice');
  writeU64(dv, o + 91, m.volume, 'volume');
  writeI64(dv, o + 99, m.turnover, 'turnover');
  writeLevels(buf, dv, o + 107, m.bids, 'bids');
  writeLevels(buf, dv, o + 107 + BOOK_LEVELS * SNAPSHOT_LEVEL_BYTES, m.asks, 'asks');
}

function writeTradeBody(buf: Buffer, dv: DataView, o: number, m: Omit<TradeMessage, 'seq'>, seq: number): void {
  writeU16(dv, o, m.channel, 'channel');
  writeU64(dv, o + 2, seq, 'seq');
  writeSymbol(buf, o + 10, m.symbol);
  writeI64(dv, o + 26, m.time, 'time');
  writeI64(dv, o + 34, m.price, 'price');
  writeU64(dv, o + 42, m.qty, 'qty');
  const side = AGGRESSOR_CODE[m.aggressor];
  if (side === undefined) invalid('aggressor', m.aggressor, 'BUY, SELL or NONE');
  buf[o + 50] = side;
  writeU64(dv, o + 51, m.buyOrderId, 'buyOrderId');
  writeU64(dv, o + 59, m.sellOrderId, 'sellOrderId');
}

/** Body length of a message (validates variable-length fields' sizes). */
function bodyLength(m: FeedMessage): number {
  switch (m.type) {
    case 'snapshot':
      return SNAPSHOT_BODY_BYTES;
    case 'trade':
      return TRADE_BODY_BYTES;
    case 'heartbeat':
      return HEARTBEAT_BODY_BYTES;
    case 'retransmitRequest':
      return RETRANSMIT_REQUEST_BODY_BYTES;
    case 'retransmitEnd':
      return RETRANSMIT_END_BODY_BYTES;
    case 'logon':
      return 2 + 1 + m.clientId.length + 2 + Buffer.byteLength(m.authToken ?? '', 'utf8') + 2 + 11 * m.channels.length;
    case 'logonAck':
      return 4 + 8 + 8 + 2 + 18 * m.channels.length;
    case 'logonReject':
    case 'logout':
      return 2 + 2 + Buffer.byteLength(m.reason, 'utf8');
    case 'retransmitReject':
      return 2 + 8 * 4 + 2 + 2 + Buffer.byteLength(m.reason, 'utf8');
    default:
      return invalid('type', (m as { type: unknown }).type, 'a feed message type');
  }
}

/** Total frame length (header included) of a message. */
export function frameLength(m: FeedMessage): number {
  return HEADER_BYTES + bodyLength(m);
}

/**
 * Encodes one message into `buf` at `offset`; returns the bytes written. Throws a
 * `ValidationError` for values that do not fit the wire format (nothing useful is left in
 * `buf` then). `buf` must have room for `frameLength(m)` bytes.
 */
export function encodeInto(m: FeedMessage, buf: Buffer, offset: number): number {
  if (m.type === 'snapshot' || m.type === 'trade') return encodeDataInto(m, m.seq, buf, offset);
  const len = bodyLength(m);
  if (len > MAX_BODY_BYTES) invalid(`${m.type} body`, `${len} bytes`, `at most ${MAX_BODY_BYTES} bytes`);
  if (offset + HEADER_BYTES + len > buf.length) throw new RangeError(`feed encode: buffer too small for a ${m.type} frame`);
  const dv = viewOf(buf);
  writeHeader(buf, dv, offset, MESSAGE_TYPE_OF[m.type], len);
  const o = offset + HEADER_BYTES;
  switch (m.type) {
    case 'heartbeat':
      writeI64(dv, o, m.time, 'time');
      break;
    case 'retransmitRequest':
    case 'retransmitEnd':
      writeU16(dv, o, m.channel, 'channel');
      writeU64(dv, o + 2, m.fromSeq, 'fromSeq');
      writeU64(dv, o + 10, m.toSeq, 'toSeq');
      break;
    case 'logon':
      writeLogonBody(buf, dv, o, m);
      break;
    case 'logonAck':
      writeLogonAckBody(dv, o, m);
      break;
    case 'logonReject':
    case 'logout':
      writeU16(dv, o, m.code, 'code');
      writeText(buf, o + 2, m.reason, 'reason', MAX_TEXT_BYTES);
      break;
    case 'retransmitReject':
      writeRetransmitRejectBody(buf, dv, o, m);
      break;
  }
  return HEADER_BYTES + len;
}

/**
 * Encodes a snapshot or trade with the given `seq` (the publisher's, overriding any `seq` on
 * the object) into `buf` at `offset`; returns the bytes written.
 */
export function encodeDataInto(m: PublishableMessage, seq: number, buf: Buffer, offset: number): number {
  if (m.type === 'snapshot') {
    if (offset + HEADER_BYTES + SNAPSHOT_BODY_BYTES > buf.length) throw new RangeError('feed encode: buffer too small for a snapshot frame');
    const dv = viewOf(buf);
    writeHeader(buf, dv, offset, MessageType.SNAPSHOT, SNAPSHOT_BODY_BYTES);
    writeSnapshotBody(buf, dv, offset + HEADER_BYTES, m, seq);
    return HEADER_BYTES + SNAPSHOT_BODY_BYTES;
  }
  if (m.type === 'trade') {
    if (offset + HEADER_BYTES + TRADE_BODY_BYTES > buf.length) throw new RangeError('feed encode: buffer too small for a trade frame');
    const dv = viewOf(buf);
    writeHeader(buf, dv, offset, MessageType.TRADE, TRADE_BODY_BYTES);
    writeTradeBody(buf, dv, offset + HEADER_BYTES, m, seq);
    return HEADER_BYTES + TRADE_BODY_BYTES;
  }
  return invalid('type', (m as { type: unknown }).type, 'snapshot or trade');
}

/** Frame length of a snapshot or trade. */
export function dataFrameLength(m: PublishableMessage): number {
  return HEADER_BYTES + (m.type === 'snapshot' ? SNAPSHOT_BODY_BYTES : TRADE_BODY_BYTES);
}

function writeLogonBody(buf: Buffer, dv: DataView, o: number, m: LogonMessage): void {
  writeU16(dv, o, m.protocolVersion, 'protocolVersion');
  const id = m.clientId;
  if (!/^[\x21-\x7e]+$/.test(id) || id.length > MAX_CLIENT_ID_BYTES) {
    invalid('clientId', id, `1..${MAX_CLIENT_ID_BYTES} printable ASCII characters`);
  }
  buf[o + 2] = id.length;
  buf.write(id, o + 3, id.length, 'latin1');
  let p = writeText(buf, o + 3 + id.length, m.authToken ?? '', 'authToken', MAX_AUTH_TOKEN_BYTES);
  if (m.channels.length > MAX_LOGON_CHANNELS) invalid('channels.length', m.channels.length, `at most ${MAX_LOGON_CHANNELS}`);
  dv.setUint16(p, m.channels.length, true);
  p += 2;
  for (const sub of m.channels) {
    writeU16(dv, p, sub.channel, 'channels[].channel');
    const mode = SUBSCRIBE_MODE_CODE[sub.mode];
    if (mode === undefined) invalid('channels[].mode', sub.mode, 'LIVE or RESUME');
    buf[p + 2] = mode;
    writeU64(dv, p + 3, sub.lastSeq, 'channels[].lastSeq');
    p += 11;
  }
}

function writeLogonAckBody(dv: DataView, o: number, m: LogonAckMessage): void {
  writeU32(dv, o, m.heartbeatIntervalMs, 'heartbeatIntervalMs');
  writeI64(dv, o + 4, m.serverTime, 'serverTime');
  writeU64(dv, o + 12, m.sessionId, 'sessionId');
  if (m.channels.length > MAX_LOGON_CHANNELS) invalid('channels.length', m.channels.length, `at most ${MAX_LOGON_CHANNELS}`);
  dv.setUint16(o + 20, m.channels.length, true);
  let p = o + 22;
  for (const ch of m.channels) {
    writeU16(dv, p, ch.channel, 'channels[].channel');
    writeU64(dv, p + 2, ch.lastSeq, 'channels[].lastSeq');
    writeU64(dv, p + 10, ch.firstAvailableSeq, 'channels[].firstAvailableSeq');
    p += 18;
  }
}

function writeRetransmitRejectBody(buf: Buffer, dv: DataView, o: number, m: RetransmitRejectMessage): void {
  writeU16(dv, o, m.channel, 'channel');
  writeU64(dv, o + 2, m.fromSeq, 'fromSeq');
  writeU64(dv, o + 10, m.toSeq, 'toSeq');
  writeU64(dv, o + 18, m.firstAvailableSeq, 'firstAvailableSeq');
  writeU64(dv, o + 26, m.lastSeq, 'lastSeq');
  writeU16(dv, o + 34, m.code, 'code');
  writeText(buf, o + 36, m.reason, 'reason', MAX_TEXT_BYTES);
}

/** Encodes one message into a new, exactly-sized buffer. */
export function encode(m: FeedMessage): Buffer {
  const buf = Buffer.allocUnsafe(frameLength(m));
  encodeInto(m, buf, 0);
  return buf;
}

/** Encodes messages back to back into one new, exactly-sized buffer. */
export function encodeAll(messages: readonly FeedMessage[]): Buffer {
  let total = 0;
  for (const m of messages) total += frameLength(m);
  const buf = Buffer.allocUnsafe(total);
  let off = 0;
  for (const m of messages) off += encodeInto(m, buf, off);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Decoding

/** Thrown inside body parsers only; turned into a non-fatal FrameError by the decoder. */
class BadBody {
  readonly detail: string;
  constructor(detail: string) {
    this.detail = detail;
  }
}

function bad(detail: string): never {
  throw new BadBody(detail);
}

function readI64(dv: DataView, off: number, field: string): number {
  const v = dv.getInt32(off + 4, true) * TWO_32 + dv.getUint32(off, true);
  if (!Number.isSafeInteger(v)) bad(`${field} outside the safe integer range`);
  return v;
}

function readU64(dv: DataView, off: number, field: string): number {
  const v = dv.getUint32(off + 4, true) * TWO_32 + dv.getUint32(off, true);
  if (!Number.isSafeInteger(v)) bad(`${field} outside the safe integer range`);
  return v;
}

function readSymbol(buf: Buffer, off: number): string {
  return buf.toString('latin1', off, off + checkSymbol(buf, off));
}

function readText(buf: Buffer, dv: DataView, off: number, end: number, field: string, max: number): { text: string; next: number } {
  if (off + 2 > end) bad(`${field} length runs past the body`);
  const len = dv.getUint16(off, true);
  if (len > max) bad(`${field} is ${len} bytes, more than ${max}`);
  if (off + 2 + len > end) bad(`${field} runs past the body`);
  return { text: buf.toString('utf8', off + 2, off + 2 + len), next: off + 2 + len };
}

function expectLength(len: number, expected: number, what: string): void {
  if (len !== expected) bad(`${what} body is ${len} bytes, expected ${expected}`);
}

function readLevels(dv: DataView, off: number, side: string): BookLevel[] {
  const levels: BookLevel[] = new Array<BookLevel>(BOOK_LEVELS);
  for (let i = 0; i < BOOK_LEVELS; i++, off += SNAPSHOT_LEVEL_BYTES) {
    levels[i] = {
      price: readI64(dv, off, `${side}[${i}].price`),
      qty: readU64(dv, off + 8, `${side}[${i}].qty`),
      orders: dv.getUint32(off + 16, true),
    };
  }
  return levels;
}

function parseSnapshot(buf: Buffer, dv: DataView, o: number, len: number): SnapshotMessage {
  expectLength(len, SNAPSHOT_BODY_BYTES, 'snapshot');
  const phase = PHASE_BY_CODE[buf[o + 34]!];
  if (phase === undefined) bad(`unknown phase code ${buf[o + 34]}`);
  return {
    type: 'snapshot',
    channel: dv.getUint16(o, true),
    seq: readU64(dv, o + 2, 'seq'),
    symbol: readSymbol(buf, o + 10),
    eventTime: readI64(dv, o + 26, 'eventTime'),
    phase,
    lastPrice: readI64(dv, o + 35, 'lastPrice'),
    openPrice: readI64(dv, o + 43, 'openPrice'),
    highPrice: readI64(dv, o + 51, 'highPrice'),
    lowPrice: readI64(dv, o + 59, 'lowPrice'),
    prevClosePrice: readI64(dv, o + 67, 'prevClosePrice'),
    upperLimitPrice: readI64(dv, o + 75, 'upperLimitPrice'),
    lowerLimitPrice: readI64(dv, o + 83, 'lowerLimitPrice'),
    volume: readU64(dv, o + 91, 'volume'),
    turnover: readI64(dv, o + 99, 'turnover'),
    bids: readLevels(dv, o + 107, 'bids'),
    asks: readLevels(dv, o + 107 + BOOK_LEVELS * SNAPSHOT_LEVEL_BYTES, 'asks'),
  };
}

function parseTrade(buf: Buffer, dv: DataView, o: number, len: number): TradeMessage {
  expectLength(len, TRADE_BODY_BYTES, 'trade');
  const aggressor = AGGRESSOR_BY_CODE[buf[o + 50]!];
  if (aggressor === undefined) bad(`unknown aggressor side code ${buf[o + 50]}`);
  return {
    type: 'trade',
    channel: dv.getUint16(o, true),
    seq: readU64(dv, o + 2, 'seq'),
    symbol: readSymbol(buf, o + 10),
    time: readI64(dv, o + 26, 'time'),
    price: readI64(dv, o + 34, 'price'),
    qty: readU64(dv, o + 42, 'qty'),
    aggressor,
    buyOrderId: readU64(dv, o + 51, 'buyOrderId'),
    sellOrderId: readU64(dv, o + 59, 'sellOrderId'),
  };
}

// Validation without decoding: the same checks, in the same order and with the same reasons,
// as parseSnapshot / parseTrade, but nothing is allocated (the gateway's hot path passes data
// frames on as bytes, see DataFrame).

/** Checks the NUL-padded symbol at `off` (printable ASCII, non-empty, clean padding); returns its length. */
function checkSymbol(buf: Buffer, off: number): number {
  let n = 0;
  while (n < SYMBOL_BYTES) {
    const c = buf[off + n]!;
    if (c === 0) break;
    if (c < 0x21 || c > 0x7e) bad(`symbol byte ${n} is not printable ASCII (0x${c.toString(16)})`);
    n++;
  }
  if (n === 0) bad('empty symbol');
  for (let i = n + 1; i < SYMBOL_BYTES; i++) if (buf[off + i] !== 0) bad('symbol padding is not NUL');
  return n;
}

/** The interned symbol at `off`, checked the first time it is seen. */
function symbolAt(buf: Buffer, dv: DataView, off: number, symbols: SymbolTable): string {
  const known = symbols.find(dv, off);
  if (known !== undefined) return known;
  checkSymbol(buf, off);
  return symbols.add(buf, dv, off);
}

/** Checks a snapshot body; returns its symbol. */
function checkSnapshot(buf: Buffer, dv: DataView, o: number, len: number, symbols: SymbolTable): string {
  expectLength(len, SNAPSHOT_BODY_BYTES, 'snapshot');
  if (PHASE_BY_CODE[buf[o + 34]!] === undefined) bad(`unknown phase code ${buf[o + 34]}`);
  readU64(dv, o + 2, 'seq');
  const symbol = symbolAt(buf, dv, o + 10, symbols);
  readI64(dv, o + 26, 'eventTime');
  readI64(dv, o + 35, 'lastPrice');
  readI64(dv, o + 43, 'openPrice');
  readI64(dv, o + 51, 'highPrice');
  readI64(dv, o + 59, 'lowPrice');
  readI64(dv, o + 67, 'prevClosePrice');
  readI64(dv, o + 75, 'upperLimitPrice');
  readI64(dv, o + 83, 'lowerLimitPrice');
  readU64(dv, o + 91, 'volume');
  readI64(dv, o + 99, 'turnover');
  checkLevels(dv, o + 107, 'bids');
  checkLevels(dv, o + 107 + BOOK_LEVELS * SNAPSHOT_LEVEL_BYTES, 'asks');
  return symbol;
}

function checkLevels(dv: DataView, off: number, side: string): void {
  for (let i = 0; i < BOOK_LEVELS; i++, off += SNAPSHOT_LEVEL_BYTES) {
    // The safe-integer test on the high words alone (|v| < 2^53 ⇔ high word in −2^21..2^21−1,
    // but −2^21 only with a non-zero low word); only the (rare) failure builds the field name.
    const priceHi = dv.getInt32(off + 4, true);
    if (priceHi < -0x20_0000 || priceHi > 0x1f_ffff || (priceHi === -0x20_0000 && dv.getUint32(off, true) === 0)) bad(`${side}[${i}].price outside the safe integer range`);
    if (dv.getUint32(off + 12, true) > 0x1f_ffff) bad(`${side}[${i}].qty outside the safe integer range`);
  }
}

/** Checks a trade body; returns its symbol. */
function checkTrade(buf: Buffer, dv: DataView, o: number, len: number, symbols: SymbolTable): string {
  expectLength(len, TRADE_BODY_BYTES, 'trade');
  if (AGGRESSOR_BY_CODE[buf[o + 50]!] === undefined) bad(`unknown aggressor side code ${buf[o + 50]}`);
  readU64(dv, o + 2, 'seq');
  const symbol = symbolAt(buf, dv, o + 10, symbols);
  readI64(dv, o + 26, 'time');
  readI64(dv, o + 34, 'price');
  readU64(dv, o + 42, 'qty');
  readU64(dv, o + 51, 'buyOrderId');
  readU64(dv, o + 59, 'sellOrderId');
  return symbol;
}

/**
 * A snapshot or trade frame, validated (exactly the checks of a full decode) but not decoded:
 * the frame's bytes are `buf[offset, offset + frameLength)`, header included. `buf` is the
 * chunk the frame arrived in (or a private copy when it was split across chunks): it must not
 * be written to afterwards. `decodeDataFrame` turns it into the message; the Redis publisher
 * transcodes the bytes without that step (src/bus/tick-codec.ts).
 */
export interface DataFrame {
  readonly type: 'snapshot' | 'trade';
  readonly channel: number;
  readonly seq: number;
  /** The symbol (interned by the decoder: the same string object for the same symbol). */
  readonly symbol: string;
  readonly buf: Buffer;
  readonly offset: number;
}

/** Byte length of a data frame, header included. */
export function dataFrameBytes(frame: DataFrame): number {
  return HEADER_BYTES + (frame.type === 'snapshot' ? SNAPSHOT_BODY_BYTES : TRADE_BODY_BYTES);
}

/** A data frame with its own copy of its bytes (to keep one without keeping the chunk it came in). */
export function copyDataFrame(frame: DataFrame): DataFrame {
  const bytes = Buffer.from(frame.buf.subarray(frame.offset, frame.offset + dataFrameBytes(frame)));
  return { type: frame.type, channel: frame.channel, seq: frame.seq, symbol: frame.symbol, buf: bytes, offset: 0 };
}

/** The message a data frame holds. Throws FrameError (BAD_BODY) if the bytes are not a valid frame of its type. */
export function decodeDataFrame(frame: Pick<DataFrame, 'type' | 'buf' | 'offset'>): SnapshotMessage | TradeMessage {
  const { buf, offset } = frame;
  const o = offset + HEADER_BYTES;
  try {
    const dv = viewOf(buf);
    return frame.type === 'snapshot' ? parseSnapshot(buf, dv, o, SNAPSHOT_BODY_BYTES) : parseTrade(buf, dv, o, TRADE_BODY_BYTES);
  } catch (error) {
    const detail = error instanceof BadBody ? error.detail : String(error);
    throw new FrameError('BAD_BODY', `malformed ${frame.type} frame: ${detail}`, { fatal: false, messageType: buf[offset + 3], streamOffset: 0 });
  }
}

/**
 * Symbol strings by their 16 wire bytes, so a data frame's symbol costs a hash and a compare
 * instead of a new string (open addressing, grown up to `MAX_INTERNED_SYMBOLS`, then restarted).
 * Only symbols that passed `checkSymbol` are entered, so a hit also means a valid symbol.
 */
const MAX_INTERNED_SYMBOLS = 1 << 16;
class SymbolTable {
  private capacity = 1024;
  private keys = new Uint32Array(this.capacity * 4);
  private names: (string | undefined)[] = new Array<string | undefined>(this.capacity);
  private size = 0;

  /** The symbol at `off` if already known, else undefined. */
  find(dv: DataView, off: number): string | undefined {
    const a = dv.getUint32(off, true);
    const b = dv.getUint32(off + 4, true);
    const c = dv.getUint32(off + 8, true);
    const d = dv.getUint32(off + 12, true);
    const mask = this.capacity - 1;
    const keys = this.keys;
    for (let slot = hash4(a, b, c, d) & mask; ; slot = (slot + 1) & mask) {
      const name = this.names[slot];
      if (name === undefined) return undefined;
      const k = slot * 4;
      if (keys[k] === a && keys[k + 1] === b && keys[k + 2] === c && keys[k + 3] === d) return name;
    }
  }

  /** Enters a checked symbol; returns its string. */
  add(buf: Buffer, dv: DataView, off: number): string {
    let n = 0;
    while (n < SYMBOL_BYTES && buf[off + n] !== 0) n++;
    const name = buf.toString('latin1', off, off + n);
    if (this.size >= this.capacity / 2) {
      if (this.capacity >= MAX_INTERNED_SYMBOLS * 2) this.reset(this.capacity);
      else this.reset(this.capacity * 2, true);
    }
    this.insert(dv.getUint32(off, true), dv.getUint32(off + 4, true), dv.getUint32(off + 8, true), dv.getUint32(off + 12, true), name);
    return name;
  }

  private insert(a: number, b: number, c: number, d: number, name: string): void {
    const mask = this.capacity - 1;
    let slot = hash4(a, b, c, d) & mask;
    while (this.names[slot] !== undefined) slot = (slot + 1) & mask;
    const k = slot * 4;
    this.keys[k] = a;
    this.keys[k + 1] = b;
    this.keys[k + 2] = c;
    this.keys[k + 3] = d;
    this.names[slot] = name;
    this.size++;
  }

  private reset(capacity: number, keep = false): void {
    const oldKeys = this.keys;
    const oldNames = this.names;
    this.capacity = capacity;
    this.keys = new Uint32Array(capacity * 4);
    this.names = new Array<string | undefined>(capacity);
    this.size = 0;
    if (!keep) return;
    for (let i = 0; i < oldNames.length; i++) {
      const name = oldNames[i];
      if (name !== undefined) this.insert(oldKeys[i * 4]!, oldKeys[i * 4 + 1]!, oldKeys[i * 4 + 2]!, oldKeys[i * 4 + 3]!, name);
    }
  }
}

function hash4(a: number, b: number, c: number, d: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ b ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ c ^ (h >>> 13), 0x85ebca6b);
  h = Math.imul(h ^ d ^ (h >>> 16), 0xc2b2ae35);
  return (h ^ (h >>> 15)) >>> 0;
}

/** Exchange event time of a data frame (a snapshot's eventTime, a trade's time: the same place). */
export function dataFrameEventTime(frame: DataFrame): number {
  const dv = viewOf(frame.buf);
  const off = frame.offset + HEADER_BYTES + 26;
  return dv.getInt32(off + 4, true) * TWO_32 + dv.getUint32(off, true);
}

function parseLogon(buf: Buffer, dv: DataView, o: number, len: number): LogonMessage {
  const end = o + len;
  if (len < 3) bad('logon body too short');
  const protocolVersion = dv.getUint16(o, true);
  const idLen = buf[o + 2]!;
  if (idLen < 1 || idLen > MAX_CLIENT_ID_BYTES) bad(`clientId length ${idLen} not in 1..${MAX_CLIENT_ID_BYTES}`);
  if (o + 3 + idLen > end) bad('clientId runs past the body');
  for (let i = 0; i < idLen; i++) {
    const c = buf[o + 3 + i]!;
    if (c < 0x21 || c > 0x7e) bad('clientId is not printable ASCII');
  }
  const clientId = buf.toString('latin1', o + 3, o + 3 + idLen);
  const token = readText(buf, dv, o + 3 + idLen, end, 'authToken', MAX_AUTH_TOKEN_BYTES);
  let p = token.next;
  if (p + 2 > end) bad('channel count runs past the body');
  const count = dv.getUint16(p, true);
  p += 2;
  if (count > MAX_LOGON_CHANNELS) bad(`${count} channels, more than ${MAX_LOGON_CHANNELS}`);
  if (p + 11 * count !== end) bad(`logon body length does not match ${count} channels`);
  const channels: ChannelSubscription[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < count; i++, p += 11) {
    const channel = dv.getUint16(p, true);
    if (seen.has(channel)) bad(`channel ${channel} listed twice`);
    seen.add(channel);
    const mode = SUBSCRIBE_MODE_BY_CODE[buf[p + 2]!];
    if (mode === undefined) bad(`unknown subscribe mode ${buf[p + 2]}`);
    channels.push({ channel, mode, lastSeq: readU64(dv, p + 3, 'lastSeq') });
  }
  const m: LogonMessage = { type: 'logon', protocolVersion, clientId, channels };
  if (token.text.length > 0) m.authToken = token.text;
  return m;
}

function parseLogonAck(buf: Buffer, dv: DataView, o: number, len: number): LogonAckMessage {
  if (len < 22) bad('logonAck body too short');
  const count = dv.getUint16(o + 20, true);
  if (count > MAX_LOGON_CHANNELS) bad(`${count} channels, more than ${MAX_LOGON_CHANNELS}`);
  expectLength(len, 22 + 18 * count, 'logonAck');
  const channels: ChannelStatus[] = [];
  for (let i = 0, p = o + 22; i < count; i++, p += 18) {
    channels.push({
      channel: dv.getUint16(p, true),
      lastSeq: readU64(dv, p + 2, 'lastSeq'),
      firstAvailableSeq: readU64(dv, p + 10, 'firstAvailableSeq'),
    });
  }
  return {
    type: 'logonAck',
    heartbeatIntervalMs: dv.getUint32(o, true),
    serverTime: readI64(dv, o + 4, 'serverTime'),
    sessionId: readU64(dv, o + 12, 'sessionId'),
    channels,
  };
}

function parseCodeText(buf: Buffer, dv: DataView, o: number, len: number, what: string): { code: number; reason: string } {
  if (len < 4) bad(`${what} body too short`);
  const code = dv.getUint16(o, true);
  const text = readText(buf, dv, o + 2, o + len, 'reason', MAX_TEXT_BYTES);
  if (text.next !== o + len) bad(`${what} body has trailing bytes`);
  return { code, reason: text.text };
}

function parseRetransmitReject(buf: Buffer, dv: DataView, o: number, len: number): RetransmitRejectMessage {
  if (len < 38) bad('retransmitReject body too short');
  const text = readText(buf, dv, o + 36, o + len, 'reason', MAX_TEXT_BYTES);
  if (text.next !== o + len) bad('retransmitReject body has trailing bytes');
  return {
    type: 'retransmitReject',
    channel: dv.getUint16(o, true),
    fromSeq: readU64(dv, o + 2, 'fromSeq'),
    toSeq: readU64(dv, o + 10, 'toSeq'),
    firstAvailableSeq: readU64(dv, o + 18, 'firstAvailableSeq'),
    lastSeq: readU64(dv, o + 26, 'lastSeq'),
    code: dv.getUint16(o + 34, true),
    reason: text.text,
  };
}

/** Parses one body. Returns undefined for an unknown type; throws BadBody for a bad body. */
function parseBody(type: number, buf: Buffer, dv: DataView, o: number, len: number): FeedMessage | undefined {
  switch (type) {
    case MessageType.SNAPSHOT:
      return parseSnapshot(buf, dv, o, len);
    case MessageType.TRADE:
      return parseTrade(buf, dv, o, len);
    case MessageType.HEARTBEAT:
      expectLength(len, HEARTBEAT_BODY_BYTES, 'heartbeat');
      return { type: 'heartbeat', time: readI64(dv, o, 'time') };
    case MessageType.RETRANSMIT_REQUEST:
    case MessageType.RETRANSMIT_END: {
      expectLength(len, RETRANSMIT_REQUEST_BODY_BYTES, type === MessageType.RETRANSMIT_END ? 'retransmitEnd' : 'retransmitRequest');
      const channel = dv.getUint16(o, true);
      const fromSeq = readU64(dv, o + 2, 'fromSeq');
      const toSeq = readU64(dv, o + 10, 'toSeq');
      return type === MessageType.RETRANSMIT_END
        ? { type: 'retransmitEnd', channel, fromSeq, toSeq }
        : { type: 'retransmitRequest', channel, fromSeq, toSeq };
    }
    case MessageType.LOGON:
      return parseLogon(buf, dv, o, len);
    case MessageType.LOGON_ACK:
      return parseLogonAck(buf, dv, o, len);
    case MessageType.LOGON_REJECT:
      return { type: 'logonReject', ...parseCodeText(buf, dv, o, len, 'logonReject') };
    case MessageType.LOGOUT:
      return { type: 'logout', ...parseCodeText(buf, dv, o, len, 'logout') };
    case MessageType.RETRANSMIT_REJECT:
      return parseRetransmitReject(buf, dv, o, len);
    default:
      return undefined;
  }
}

export interface FeedDecoderStats {
  /** Bytes pushed (including bytes ignored after a fatal error). */
  bytes: number;
  /** Frames decoded into messages. */
  frames: number;
  /** Frames skipped: unknown type or bad body. */
  malformedFrames: number;
  /** 1 once a fatal framing error happened (the decoder then ignores all input). */
  fatalErrors: number;
  /** Times the message callback threw. */
  handlerErrors: number;
}

export interface FeedDecoderOptions {
  /** Called for each decoded message, in stream order. */
  onMessage: (message: FeedMessage) => void;
  /** Called for each malformed frame, fatal framing error and throwing callback. */
  onError?: (error: FrameError) => void;
  /** Lower frame size bound than the protocol's 64 KiB, e.g. for client → server traffic. */
  maxFrameBytes?: number;
  /**
   * When set, snapshots and trades are validated but not decoded, and come out here as
   * `DataFrame`s (in stream order with the other messages, which still go to `onMessage`).
   * Saves the allocation of every message when the bytes are passed on, as the gateway does.
   */
  onDataFrame?: (frame: DataFrame) => void;
}

/**
 * Incremental decoder: `push` any chunk split of the byte stream; messages come out through
 * `onMessage` in order. `push` never throws: malformed frames are skipped and reported,
 * a fatal framing error is reported once and all later input is ignored (`failed`).
 * Not re-entrant: do not call `push` from inside `onMessage`.
 */
export class FeedDecoder {
  readonly stats: FeedDecoderStats = { bytes: 0, frames: 0, malformedFrames: 0, fatalErrors: 0, handlerErrors: 0 };
  private readonly onMessage: (message: FeedMessage) => void;
  private readonly onDataFrame: ((frame: DataFrame) => void) | undefined;
  private readonly symbols = new SymbolTable();
  private readonly onError: ((error: FrameError) => void) | undefined;
  private readonly maxFrameBytes: number;
  /** Holds the start of a frame split across chunks. */
  private pending: Buffer;
  private pendingLength = 0;
  /** Full length of the pending frame once its header is known, else 0. */
  private pendingFrameLength = 0;
  /** Stream offset of the first byte not yet consumed into a frame. */
  private offset = 0;
  private fatal: FrameError | undefined;

  constructor(options: FeedDecoderOptions) {
    this.onMessage = options.onMessage;
    this.onDataFrame = options.onDataFrame;
    this.onError = options.onError;
    const max = options.maxFrameBytes ?? MAX_FRAME_BYTES;
    if (!Number.isInteger(max) || max < HEADER_BYTES || max > MAX_FRAME_BYTES) {
      throw new ValidationError(`maxFrameBytes must be an integer in ${HEADER_BYTES}..${MAX_FRAME_BYTES} (got ${max})`);
    }
    this.maxFrameBytes = max;
    this.pending = Buffer.allocUnsafe(Math.min(1024, max));
  }

  /** The fatal framing error, if one happened. */
  get failed(): FrameError | undefined {
    return this.fatal;
  }

  /** Bytes held for a frame not yet complete. */
  get bufferedBytes(): number {
    return this.pendingLength;
  }

  /** Forgets any partial frame and a fatal error (e.g. for a new connection). Stats are kept. */
  reset(): void {
    this.pendingLength = 0;
    this.pendingFrameLength = 0;
    this.offset = 0;
    this.fatal = undefined;
  }

  push(chunk: Uint8Array): void {
    const n = chunk.byteLength;
    this.stats.bytes += n;
    if (this.fatal !== undefined || n === 0) return;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, n);
    let pos = 0;

    // 1. Complete a frame split across chunks.
    if (this.pendingLength > 0) {
      if (this.pendingFrameLength === 0) {
        const take = Math.min(HEADER_BYTES - this.pendingLength, n);
        buf.copy(this.pending, this.pendingLength, 0, take);
        this.pendingLength += take;
        pos = take;
        if (this.pendingLength < HEADER_BYTES) return;
        const frameLength = this.checkHeader(this.pending, 0);
        if (frameLength < 0) return;
        this.ensurePending(frameLength);
        this.pendingFrameLength = frameLength;
      }
      const take = Math.min(this.pendingFrameLength - this.pendingLength, n - pos);
      buf.copy(this.pending, this.pendingLength, pos, pos + take);
      this.pendingLength += take;
      pos += take;
      if (this.pendingLength < this.pendingFrameLength) return;
      const frameLength = this.pendingFrameLength;
      this.pendingLength = 0;
      this.pendingFrameLength = 0;
      // A DataFrame keeps its bytes: give it its own copy, `pending` is reused.
      const type = this.pending[3];
      const whole = this.onDataFrame !== undefined && (type === MessageType.SNAPSHOT || type === MessageType.TRADE) ? Buffer.from(this.pending.subarray(0, frameLength)) : this.pending;
      this.decodeFrame(whole, 0, frameLength);
      this.offset += frameLength;
    }

    // 2. Whole frames straight from the chunk.
    while (n - pos >= HEADER_BYTES) {
      const frameLength = this.checkHeader(buf, pos);
      if (frameLength < 0) return;
      if (n - pos < frameLength) {
        this.ensurePending(frameLength);
        this.pendingFrameLength = frameLength;
        break;
      }
      this.decodeFrame(buf, pos, frameLength);
      pos += frameLength;
      this.offset += frameLength;
    }

    // 3. Keep the tail (at most one partial frame).
    if (pos < n) {
      buf.copy(this.pending, 0, pos, n);
      this.pendingLength = n - pos;
    }
  }

  private ensurePending(frameLength: number): void {
    if (this.pending.length >= frameLength) return;
    let size = this.pending.length * 2;
    while (size < frameLength) size *= 2;
    const grown = Buffer.allocUnsafe(Math.min(size, this.maxFrameBytes));
    this.pending.copy(grown, 0, 0, this.pendingLength);
    this.pending = grown;
  }

  /** Validates the header at `pos`; returns the frame length, or -1 after a fatal error. */
  private checkHeader(buf: Buffer, pos: number): number {
    if (buf[pos] !== MAGIC_0 || buf[pos + 1] !== MAGIC_1) {
      return this.fail('BAD_MAGIC', `bad magic 0x${hex2(buf[pos]!)}${hex2(buf[pos + 1]!)} (expected 0x5451 "TQ")`, undefined);
    }
    if (buf[pos + 2] !== PROTOCOL_VERSION) {
      return this.fail('BAD_VERSION', `unsupported protocol version ${buf[pos + 2]} (expected ${PROTOCOL_VERSION})`, buf[pos + 3]);
    }
    const bodyLength = buf[pos + 4]! + buf[pos + 5]! * 0x100 + buf[pos + 6]! * 0x10000 + buf[pos + 7]! * 0x1000000;
    if (bodyLength > this.maxFrameBytes - HEADER_BYTES) {
      return this.fail('FRAME_TOO_LARGE', `declared body length ${bodyLength} exceeds ${this.maxFrameBytes - HEADER_BYTES}`, buf[pos + 3]);
    }
    return HEADER_BYTES + bodyLength;
  }

  private fail(reason: FrameErrorReason, message: string, messageType: number | undefined): -1 {
    const error = new FrameError(reason, `fatal framing error: ${message}`, { fatal: true, messageType, streamOffset: this.offset });
    this.fatal = error;
    this.stats.fatalErrors++;
    this.pendingLength = 0;
    this.pendingFrameLength = 0;
    this.report(error);
    return -1;
  }

  private decodeFrame(buf: Buffer, pos: number, frameLength: number): void {
    const type = buf[pos + 3]!;
    if (this.onDataFrame !== undefined && (type === MessageType.SNAPSHOT || type === MessageType.TRADE)) return this.passDataFrame(buf, pos, frameLength, type);
    let message: FeedMessage | undefined;
    try {
      message = parseBody(type, buf, viewOf(buf), pos + HEADER_BYTES, frameLength - HEADER_BYTES);
    } catch (error) {
      this.badBody(type, error);
      return;
    }
    if (message === undefined) {
      this.malformed('UNKNOWN_TYPE', `unknown message type 0x${hex2(type)} (${frameLength} byte frame skipped)`, type);
      return;
    }
    this.stats.frames++;
    try {
      this.onMessage(message);
    } catch (error) {
      this.handlerThrew(message.type, type, error);
    }
  }

  private passDataFrame(buf: Buffer, pos: number, frameLength: number, type: number): void {
    const dv = viewOf(buf);
    const o = pos + HEADER_BYTES;
    let symbol: string;
    try {
      symbol = type === MessageType.SNAPSHOT ? checkSnapshot(buf, dv, o, frameLength - HEADER_BYTES, this.symbols) : checkTrade(buf, dv, o, frameLength - HEADER_BYTES, this.symbols);
    } catch (error) {
      this.badBody(type, error);
      return;
    }
    this.stats.frames++;
    const frame: DataFrame = {
      type: type === MessageType.SNAPSHOT ? 'snapshot' : 'trade',
      channel: dv.getUint16(o, true),
      seq: dv.getUint32(o + 6, true) * TWO_32 + dv.getUint32(o + 2, true),
      symbol,
      buf,
      offset: pos,
    };
    try {
      this.onDataFrame!(frame);
    } catch (error) {
      this.handlerThrew(frame.type, type, error);
    }
  }

  /** A body that failed its checks: skipped and reported. */
  private badBody(type: number, error: unknown): void {
    const detail = error instanceof BadBody ? error.detail : String(error);
    this.malformed('BAD_BODY', `malformed body of message type 0x${hex2(type)}: ${detail}`, type);
  }

  private handlerThrew(what: FeedMessage['type'], type: number, error: unknown): void {
    this.stats.handlerErrors++;
    this.report(
      new FrameError('HANDLER_ERROR', `message handler threw on a ${what}: ${error instanceof Error ? error.message : String(error)}`, {
        fatal: false,
        messageType: type,
        streamOffset: this.offset,
        cause: error,
      }),
    );
  }

  private malformed(reason: FrameErrorReason, message: string, type: number): void {
    this.stats.malformedFrames++;
    this.report(new FrameError(reason, message, { fatal: false, messageType: type, streamOffset: this.offset }));
  }

  private report(error: FrameError): void {
    if (this.onError === undefined) return;
    try {
      this.onError(error);
    } catch {
      // An error callback that throws must not break the stream; there is nowhere left to report it.
    }
  }
}

function hex2(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

/** Decodes a complete byte string in one go (tests, tools). */
export function decodeAll(bytes: Uint8Array, options?: { maxFrameBytes?: number }): { messages: FeedMessage[]; errors: FrameError[]; stats: FeedDecoderStats; trailingBytes: number } {
  const messages: FeedMessage[] = [];
  const errors: FrameError[] = [];
  const decoder = new FeedDecoder({ onMessage: (m) => messages.push(m), onError: (e) => errors.push(e), ...options });
  decoder.push(bytes);
  return { messages, errors, stats: decoder.stats, trailingBytes: decoder.bufferedBytes };
}
