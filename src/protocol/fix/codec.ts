/**
 * FIX 4.4 tag=value codec: an encoder and a pure, incremental decoder fed arbitrary chunks
 * of bytes (no I/O here; DESIGN.md convention 1), plus exact conversions of FIX prices,
 * quantities and UTCTimestamps.
 *
 * Why hand-written rather than an npm FIX engine: the candidates were jspurefix (MIT, pure TS,
 * but drags in express, axios, mathjs, moment, winston and a DI container, and needs its XML
 * dictionaries unpacked at run time) and fixparser (the session features sit under a
 * commercial licence). We need a dozen message types, strict framing and exact integer
 * prices; that is a few hundred lines we can read, fuzz and keep allocation-light. The price
 * of not using an engine is paid by interoperability tests against QuickFIX/J instead
 * (test/integration/fix-quickfixj.test.ts).
 *
 * Framing rules enforced by the decoder (FIX 4.4 "Message format"):
 * - a message starts `8=FIX.4.4<SOH>9=<len><SOH>` and its third field is 35 (MsgType);
 * - BodyLength counts the bytes from after the BodyLength field's SOH up to and including the
 *   SOH before `10=`; the trailer is exactly `10=ddd<SOH>`;
 * - CheckSum is the byte sum of everything before `10=`, modulo 256, as three digits;
 * - every field is `tag=value<SOH>` with a positive decimal tag without leading zeros.
 * Anything else is "garbled": reported with a reason, counted, never processed, and the decoder
 * resynchronises on the next `8=FIX`. A garbled message does not consume a sequence number,
 * so the session layer notices the gap and asks for a resend (the spec's intended recovery).
 * Values may be empty here (the session layer rejects them with reason 4); repeating groups
 * and `data` fields containing SOH are not supported (no message we use has them).
 */
import { TriquantError, ValidationError } from '../../core/errors.ts';
import { UNITS_PER_YUAN, type Price, type Qty } from '../../core/units.ts';
import type { Micros } from '../../core/clock.ts';
import { BEGIN_STRING, SOH, Tag } from './fields.ts';

export type FixField = readonly [tag: number, value: string];

/** Default upper bound on one message's size in bytes (header + body + trailer). */
export const DEFAULT_MAX_MESSAGE_BYTES = 65_536;

/**
 * One decoded message. `fields` holds every field in wire order, header and trailer
 * included; lookups go through a lazily built index of first occurrences.
 */
export class FixMessage {
  readonly msgType: string;
  readonly fields: readonly FixField[];
  /** The exact bytes received (or encoded). */
  readonly raw: Buffer;
  private index: Map<number, string> | undefined;
  private duplicate: number | undefined;

  constructor(fields: readonly FixField[], raw: Buffer) {
    this.fields = fields;
    this.raw = raw;
    this.msgType = fields[2]?.[0] === Tag.MsgType ? fields[2][1] : '';
  }

  /** Value of the first occurrence of `tag`, or undefined. */
  get(tag: number): string | undefined {
    return this.lookup().get(tag);
  }

  has(tag: number): boolean {
    return this.lookup().has(tag);
  }

  /** The first tag that appears more than once, if any. */
  get duplicateTag(): number | undefined {
    this.lookup();
    return this.duplicate;
  }

  /** The first tag whose value is empty, if any. */
  get emptyValueTag(): number | undefined {
    for (const [tag, value] of this.fields) if (value === '') return tag;
    return undefined;
  }

  /** MsgSeqNum as a positive integer, or undefined if missing or malformed. */
  get seqNum(): number | undefined {
    return parsePositiveInt(this.get(Tag.MsgSeqNum));
  }

  get possDup(): boolean {
    return this.get(Tag.PossDupFlag) === 'Y';
  }

  /** Human-readable form with `|` for SOH (logs, test failures). */
  toString(): string {
    return this.fields.map(([t, v]) => `${t}=${v}`).join('|') + '|';
  }

  private lookup(): Map<number, string> {
    if (this.index === undefined) {
      const index = new Map<number, string>();
      for (const [tag, value] of this.fields) {
        if (index.has(tag)) this.duplicate ??= tag;
        else index.set(tag, value);
      }
      this.index = index;
    }
    return this.index;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Header fields of an outgoing message; the session layer fills them. */
export interface FixHeader {
  msgType: string;
  senderCompId: string;
  targetCompId: string;
  msgSeqNum: number;
  /** Formatted UTCTimestamp (see `formatUtcTimestamp`). */
  sendingTime: string;
  possDup?: boolean;
  /** Required with possDup: the original SendingTime. */
  origSendingTime?: string;
}

function checkValue(tag: number, value: string): void {
  if (!Number.isInteger(tag) || tag <= 0) throw new ValidationError(`FIX encode: tag must be a positive integer (got ${tag})`);
  if (value.length === 0) throw new ValidationError(`FIX encode: tag ${tag} has an empty value`);
  if (value.includes('\u0001')) throw new ValidationError(`FIX encode: tag ${tag} value contains SOH`);
}

/**
 * Encodes a complete message: `8`, `9`, `35`, `49`, `56`, `34`, `52` (+ `43`, `122`), the body
 * fields in the given order, and `10`. Throws `ValidationError` for a programming error
 * (empty value, SOH in a value, bad tag); never for anything a counterparty sent.
 */
export function encodeFixMessage(header: FixHeader, body: readonly FixField[]): Buffer {
  if (!Number.isSafeInteger(header.msgSeqNum) || header.msgSeqNum < 1) {
    throw new ValidationError(`FIX encode: MsgSeqNum must be a positive integer (got ${header.msgSeqNum})`);
  }
  let rest = `35=${header.msgType}\u000149=${header.senderCompId}\u000156=${header.targetCompId}\u000134=${header.msgSeqNum}\u0001`;
  if (header.possDup) rest += '43=Y\u0001';
  rest += `52=${header.sendingTime}\u0001`;
  if (header.origSendingTime !== undefined) rest += `122=${header.origSendingTime}\u0001`;
  checkValue(Tag.MsgType, header.msgType);
  checkValue(Tag.SenderCompID, header.senderCompId);
  checkValue(Tag.TargetCompID, header.targetCompId);
  checkValue(Tag.SendingTime, header.sendingTime);
  for (const [tag, value] of body) {
    checkValue(tag, value);
    rest += `${tag}=${value}\u0001`;
  }
  return frame(rest);
}

/** Wraps `35=...<SOH>...<SOH>` (everything BodyLength counts) with 8, 9 and 10. */
function frame(bodyText: string): Buffer {
  const bodyLength = Buffer.byteLength(bodyText, 'utf8');
  const head = `8=${BEGIN_STRING}\u00019=${bodyLength}\u0001`;
  const headLength = head.length; // ASCII
  const buf = Buffer.allocUnsafe(headLength + bodyLength + 7);
  buf.write(head, 0, 'latin1');
  buf.write(bodyText, headLength, 'utf8');
  let sum = 0;
  const end = headLength + bodyLength;
  for (let i = 0; i < end; i++) sum += buf[i]!;
  sum &= 0xff;
  buf[end] = 0x31; // '1'
  buf[end + 1] = 0x30; // '0'
  buf[end + 2] = 0x3d; // '='
  buf[end + 3] = 0x30 + Math.floor(sum / 100);
  buf[end + 4] = 0x30 + (Math.floor(sum / 10) % 10);
  buf[end + 5] = 0x30 + (sum % 10);
  buf[end + 6] = SOH;
  return buf;
}

/** Encodes arbitrary fields after 8 and 9 as given (tests: hand-crafted, even invalid, messages). */
export function encodeRawFields(fields: readonly FixField[]): Buffer {
  let text = '';
  for (const [tag, value] of fields) text += `${tag}=${value}\u0001`;
  return frame(text);
}

/** The checksum of `bytes` as FIX writes it (three digits). */
export function fixChecksum(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let sum = 0;
  for (let i = start; i < end; i++) sum += bytes[i]!;
  return String(sum & 0xff).padStart(3, '0');
}

// ---------------------------------------------------------------------------------------------
// Decoding

export type FixDecodeErrorReason =
  /** Bytes before the next `8=FIX` were skipped. */
  | 'GARBAGE'
  /** `8=` carries another protocol version (e.g. FIX.4.2) or is malformed. */
  | 'BEGIN_STRING'
  /** BodyLength missing, not a number, or not pointing at a `10=ddd` trailer. */
  | 'BODY_LENGTH'
  | 'CHECKSUM'
  /** The declared message size exceeds the maximum. */
  | 'TOO_LARGE'
  /** A field is not `tag=value` with a valid tag, or 35 is not the third field. */
  | 'MALFORMED_FIELD';

/** A garbled message or skipped bytes. Reported, never thrown. */
export class FixDecodeError extends TriquantError {
  readonly reason: FixDecodeErrorReason;
  /** Bytes discarded because of this error. */
  readonly discardedBytes: number;
  /** Offset of the first discarded byte in the stream. */
  readonly streamOffset: number;

  constructor(reason: FixDecodeErrorReason, message: string, discardedBytes: number, streamOffset: number) {
    super('FIX_DECODE', message);
    this.reason = reason;
    this.discardedBytes = discardedBytes;
    this.streamOffset = streamOffset;
  }
}

export interface FixDecoderStats {
  bytes: number;
  messages: number;
  /** Garbled messages and garbage runs reported. */
  errors: number;
  errorsByReason: Record<FixDecodeErrorReason, number>;
  discardedBytes: number;
  /** Exceptions thrown by `onMessage` (caught; the decoder carries on). */
  handlerErrors: number;
}

export interface FixDecoderOptions {
  onMessage: (message: FixMessage) => void;
  onError?: (error: FixDecodeError) => void;
  /** Called when `onMessage` throws; the decoder itself never rethrows. */
  onHandlerError?: (error: unknown) => void;
  maxMessageBytes?: number;
}

const PREFIX = Buffer.from(`8=${BEGIN_STRING}\u00019=`, 'latin1'); // 12 bytes
const START = Buffer.from('8=FIX', 'latin1');
/** Longest BodyLength field value accepted (digits). */
const MAX_LENGTH_DIGITS = 7;

/**
 * Incremental decoder. `push()` any chunk; complete messages go to `onMessage` in order,
 * garbled input to `onError`. Holds at most one incomplete message (≤ maxMessageBytes).
 */
export class FixDecoder {
  readonly stats: FixDecoderStats = {
    bytes: 0,
    messages: 0,
    errors: 0,
    errorsByReason: { GARBAGE: 0, BEGIN_STRING: 0, BODY_LENGTH: 0, CHECKSUM: 0, TOO_LARGE: 0, MALFORMED_FIELD: 0 },
    discardedBytes: 0,
    handlerErrors: 0,
  };
  private readonly onMessage: (message: FixMessage) => void;
  private readonly onError: ((error: FixDecodeError) => void) | undefined;
  private readonly onHandlerError: ((error: unknown) => void) | undefined;
  private readonly maxMessageBytes: number;
  /** Unconsumed bytes carried over from earlier chunks. */
  private pending: Buffer | undefined;
  /** Stream offset of pending[0] (or of the next chunk when nothing is pending). */
  private offset = 0;
  /** Garbage bytes skipped since the last message/error, not yet reported. */
  private garbageRun = 0;
  private garbageStart = 0;
  /** After a garbled message, the bytes up to the next message start belong to it: not reported again. */
  private resyncing = false;

  constructor(options: FixDecoderOptions) {
    this.onMessage = options.onMessage;
    this.onError = options.onError;
    this.onHandlerError = options.onHandlerError;
    const max = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    if (!Number.isInteger(max) || max < 64 || max > 16 * 1024 * 1024) {
      throw new ValidationError(`maxMessageBytes must be an integer in 64..16777216 (got ${max})`);
    }
    this.maxMessageBytes = max;
  }

  /** Bytes held for an incomplete message. */
  get bufferedBytes(): number {
    return this.pending?.length ?? 0;
  }

  /** Forgets buffered bytes (e.g. for a new connection). Stats are kept. */
  reset(): void {
    this.pending = undefined;
    this.flushGarbage();
    this.resyncing = false;
  }

  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    this.stats.bytes += chunk.byteLength;
    const incoming = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const buf = this.pending === undefined ? incoming : Buffer.concat([this.pending, incoming]);
    this.pending = undefined;
    const consumed = this.scan(buf);
    if (consumed < buf.length) {
      // Copy the tail so a large chunk is not kept alive by a small remainder.
      this.pending = Buffer.from(buf.subarray(consumed));
    }
    this.offset += consumed;
  }

  /** Decodes what it can from `buf`; returns how many bytes were consumed. */
  private scan(buf: Buffer): number {
    let pos = 0;
    const n = buf.length;
    while (pos < n) {
      // 1. Find the start of a message.
      const start = buf.indexOf(START, pos);
      if (start < 0) {
        // Keep a possible partial "8=FIX" at the end; the rest is garbage.
        const keep = Math.min(START.length - 1, n - pos);
        const tail = partialPrefixLength(buf, n - keep, n);
        this.skipGarbage(pos, n - tail);
        return n - tail;
      }
      if (start > pos) this.skipGarbage(pos, start);
      pos = start;
      // 2. BeginString and BodyLength.
      const avail = n - pos;
      const prefixLen = Math.min(avail, PREFIX.length);
      if (buf.compare(PREFIX, 0, prefixLen, pos, pos + prefixLen) !== 0) {
        // "8=FIX" but not "8=FIX.4.4<SOH>9=".
        const soh = buf.indexOf(SOH, pos);
        const beginEnd = soh < 0 ? n : soh;
        if (beginEnd - pos > 2 + BEGIN_STRING.length || soh >= 0) {
          const beginString = buf.toString('latin1', pos + 2, Math.min(beginEnd, pos + 20));
          const isOurs = beginString === BEGIN_STRING;
          this.error(
            isOurs ? 'BODY_LENGTH' : 'BEGIN_STRING',
            isOurs ? 'BodyLength (9) must be the second field' : `unsupported BeginString "${beginString}" (expected ${BEGIN_STRING})`,
            2,
            pos,
          );
          pos += 2;
          continue;
        }
        return pos; // need more bytes
      }
      if (avail <= PREFIX.length) return pos;
      let lenEnd = pos + PREFIX.length;
      let bodyLength = 0;
      let digits = 0;
      while (lenEnd < n) {
        const c = buf[lenEnd]!;
        if (c < 0x30 || c > 0x39) break;
        bodyLength = bodyLength * 10 + (c - 0x30);
        digits++;
        lenEnd++;
        if (digits > MAX_LENGTH_DIGITS) break;
      }
      if (lenEnd >= n) {
        if (digits <= MAX_LENGTH_DIGITS) return pos; // need more bytes
      }
      if (digits === 0 || digits > MAX_LENGTH_DIGITS || buf[lenEnd] !== SOH || (digits > 1 && buf[pos + PREFIX.length] === 0x30)) {
        this.error('BODY_LENGTH', 'BodyLength (9) is not a decimal number', 2, pos);
        pos += 2;
        continue;
      }
      const bodyStart = lenEnd + 1;
      const total = bodyStart - pos + bodyLength + 7;
      if (total > this.maxMessageBytes) {
        this.error('TOO_LARGE', `message of ${total} bytes exceeds the maximum of ${this.maxMessageBytes}`, 2, pos);
        pos += 2;
        continue;
      }
      if (avail < total) return pos; // need more bytes
      // 3. Trailer exactly where BodyLength says.
      const bodyEnd = bodyStart + bodyLength;
      if (
        bodyLength < 5 ||
        buf[bodyEnd - 1] !== SOH ||
        buf[bodyEnd] !== 0x31 ||
        buf[bodyEnd + 1] !== 0x30 ||
        buf[bodyEnd + 2] !== 0x3d ||
        !isDigit(buf[bodyEnd + 3]) ||
        !isDigit(buf[bodyEnd + 4]) ||
        !isDigit(buf[bodyEnd + 5]) ||
        buf[bodyEnd + 6] !== SOH
      ) {
        this.error('BODY_LENGTH', `BodyLength ${bodyLength} does not end at a 10=ddd trailer`, 2, pos);
        pos += 2;
        continue;
      }
      const declared = (buf[bodyEnd + 3]! - 0x30) * 100 + (buf[bodyEnd + 4]! - 0x30) * 10 + (buf[bodyEnd + 5]! - 0x30);
      let sum = 0;
      for (let i = pos; i < bodyEnd; i++) sum += buf[i]!;
      if ((sum & 0xff) !== declared) {
        this.error('CHECKSUM', `CheckSum ${String(declared).padStart(3, '0')} does not match computed ${String(sum & 0xff).padStart(3, '0')}`, total, pos);
        pos += total;
        continue;
      }
      // 4. Fields.
      const fields = parseFields(buf, pos, bodyEnd + 7);
      if (typeof fields === 'string') {
        this.error('MALFORMED_FIELD', fields, total, pos);
        pos += total;
        continue;
      }
      this.flushGarbage();
      this.resyncing = false;
      this.stats.messages++;
      const message = new FixMessage(fields, Buffer.from(buf.subarray(pos, pos + total)));
      pos += total;
      try {
        this.onMessage(message);
      } catch (error) {
        this.stats.handlerErrors++;
        try {
          this.onHandlerError?.(error);
        } catch {
          // A failing error handler must not break the stream either.
        }
      }
    }
    return pos;
  }

  private skipGarbage(from: number, to: number): void {
    if (to <= from) return;
    if (this.resyncing) {
      this.stats.discardedBytes += to - from;
      return;
    }
    if (this.garbageRun === 0) this.garbageStart = this.offset + from;
    this.garbageRun += to - from;
  }

  private flushGarbage(): void {
    if (this.garbageRun === 0) return;
    const run = this.garbageRun;
    this.garbageRun = 0;
    this.report(new FixDecodeError('GARBAGE', `skipped ${run} bytes before a message start`, run, this.garbageStart));
  }

  private error(reason: FixDecodeErrorReason, message: string, discarded: number, pos: number): void {
    this.flushGarbage();
    // Checksum and field errors have an exact end; the others resync by searching onwards.
    this.resyncing = reason !== 'CHECKSUM' && reason !== 'MALFORMED_FIELD';
    this.report(new FixDecodeError(reason, message, discarded, this.offset + pos));
  }

  private report(error: FixDecodeError): void {
    this.stats.errors++;
    this.stats.errorsByReason[error.reason]++;
    this.stats.discardedBytes += error.discardedBytes;
    try {
      this.onError?.(error);
    } catch {
      this.stats.handlerErrors++;
    }
  }
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

/** Length of the longest suffix of buf[from, to) that is a proper prefix of "8=FIX". */
function partialPrefixLength(buf: Buffer, from: number, to: number): number {
  for (let len = Math.min(to - from, START.length - 1); len > 0; len--) {
    if (buf.compare(START, 0, len, to - len, to) === 0) return len;
  }
  return 0;
}

/** Splits buf[start, end) into fields; a string is an error description. */
function parseFields(buf: Buffer, start: number, end: number): FixField[] | string {
  const fields: FixField[] = [];
  let pos = start;
  while (pos < end) {
    let tag = 0;
    let p = pos;
    if (buf[p] === 0x30) return `field at byte ${pos - start}: tag has a leading zero`;
    while (p < end && isDigit(buf[p])) {
      tag = tag * 10 + (buf[p]! - 0x30);
      p++;
      if (p - pos > 9) return `field at byte ${pos - start}: tag too long`;
    }
    if (p === pos || buf[p] !== 0x3d) return `field at byte ${pos - start}: not tag=value`;
    const soh = buf.indexOf(SOH, p + 1);
    if (soh < 0 || soh >= end) return `field at byte ${pos - start}: no SOH`;
    fields.push([tag, buf.toString('utf8', p + 1, soh)]);
    pos = soh + 1;
  }
  if (fields[2]?.[0] !== Tag.MsgType) return 'MsgType (35) must be the third field';
  if (fields[2][1] === '') return 'MsgType (35) is empty';
  return fields;
}

/** Decodes one complete message from a buffer (e.g. a stored message); undefined if garbled. */
export function decodeFixMessage(bytes: Uint8Array): FixMessage | undefined {
  let result: FixMessage | undefined;
  let errors = 0;
  const decoder = new FixDecoder({
    onMessage: (m) => {
      result ??= m;
    },
    onError: () => errors++,
    maxMessageBytes: Math.max(64, Math.min(16 * 1024 * 1024, bytes.byteLength + 64)),
  });
  decoder.push(bytes);
  return errors === 0 && decoder.bufferedBytes === 0 ? result : undefined;
}

// ---------------------------------------------------------------------------------------------
// Values

/** A positive decimal integer without sign or leading zeros, or undefined. */
export function parsePositiveInt(text: string | undefined): number | undefined {
  if (text === undefined || !/^[1-9]\d{0,15}$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A non-negative decimal integer (0 allowed), or undefined. */
export function parseNonNegativeInt(text: string | undefined): number | undefined {
  if (text === '0') return 0;
  return parsePositiveInt(text);
}

/**
 * A FIX Price (decimal string) as integer price units (0.0001 CNY), exactly: "10.05" → 100500.
 * More than 4 decimals are rejected unless the extra digits are zeros ("10.050000" is exact).
 * Returns undefined for anything that is not such a number (exponents, "+", ".5", NaN).
 */
export function parseFixPrice(text: string | undefined): Price | undefined {
  if (text === undefined) return undefined;
  const match = /^(-?)(\d{1,12})(?:\.(\d*))?$/.exec(text);
  if (!match) return undefined;
  const [, sign, whole, fracRaw = ''] = match;
  const frac = fracRaw.replace(/0+$/, '');
  if (frac.length > 4) return undefined;
  const units = Number(whole) * UNITS_PER_YUAN + Number(frac.padEnd(4, '0'));
  if (!Number.isSafeInteger(units)) return undefined;
  return sign === '-' && units !== 0 ? -units : units;
}

/** Integer price units as the shortest exact FIX decimal: 100500 → "10.05", 100000 → "10". */
export function formatFixPrice(units: Price): string {
  if (!Number.isSafeInteger(units)) throw new ValidationError(`price must be integer units (got ${units})`);
  const negative = units < 0;
  const abs = Math.abs(units);
  const whole = Math.trunc(abs / UNITS_PER_YUAN);
  const frac = String(abs % UNITS_PER_YUAN).padStart(4, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

/** A FIX Qty that must be a whole number of shares ("1000", "1000.0"); undefined otherwise. */
export function parseFixQty(text: string | undefined): Qty | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d{1,15})(?:\.0*)?$/.exec(text);
  if (!match) return undefined;
  const n = Number(match[1]);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function formatFixQty(qty: Qty): string {
  if (!Number.isSafeInteger(qty) || qty < 0) throw new ValidationError(`quantity must be a non-negative integer (got ${qty})`);
  return String(qty);
}

export type TimestampPrecision = 'millis' | 'micros';

/** UTCTimestamp `YYYYMMDD-HH:MM:SS.sss` (or `.ssssss` with micros) of an epoch-micros instant. */
export function formatUtcTimestamp(micros: Micros, precision: TimestampPrecision = 'millis'): string {
  if (!Number.isSafeInteger(micros) || micros < 0) throw new ValidationError(`timestamp must be non-negative integer micros (got ${micros})`);
  const millis = Math.floor(micros / 1000);
  const d = new Date(millis);
  const year = d.getUTCFullYear();
  if (year > 9999) throw new ValidationError(`timestamp beyond year 9999 (${micros})`);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const base = `${String(year).padStart(4, '0')}${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}-${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
  return precision === 'micros'
    ? `${base}.${String(micros % 1_000_000).padStart(6, '0')}`
    : `${base}.${String(millis % 1000).padStart(3, '0')}`;
}

/**
 * Parses a UTCTimestamp with no, 3, 6 or 9 fractional digits to epoch micros (nanoseconds are
 * truncated). A leap second (:60) is read as :59.999999. Undefined if malformed or impossible.
 */
export function parseUtcTimestamp(text: string | undefined): Micros | undefined {
  if (text === undefined) return undefined;
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{2}):(\d{2}):(\d{2})(?:\.(\d{3}|\d{6}|\d{9}))?$/.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return undefined;
  const millis = Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59));
  const check = new Date(millis);
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month - 1) return undefined;
  const frac = m[7] ?? '';
  const micros = second === 60 ? 999_999 : Number(frac.padEnd(6, '0').slice(0, 6));
  const result = millis * 1000 + micros;
  return Number.isSafeInteger(result) && result >= 0 ? result : undefined;
}
