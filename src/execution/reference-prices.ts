/**
 * Reference prices for pre-trade risk and for marking positions: the latest snapshot of each
 * symbol (previous close, daily limits, bid/ask/last, phase) from the market-data streams.
 *
 * `ReferencePriceCache` is the in-memory view (fed by anything: the Redis tail below in the
 * service, direct calls in tests). `RedisQuoteTail` keeps it current with a plain XREAD tail
 * of the symbols' streams: risk only needs the newest quote, so it needs no consumer group,
 * no acknowledgements and no replay — it primes each stream with its last entry
 * (XREVRANGE … COUNT 1) and then follows new entries. Symbols come from a SCAN of the key
 * scheme (re-run periodically, so newly listed streams join) and from `track()` (symbols of
 * orders and positions).
 *
 * Lazy decoding. The streams carry every tick of every symbol (~10,000/s) while risk asks for
 * a reference a few dozen times a second, and decoding every entry took a quarter of the
 * execution process's CPU, delaying orders. So the tail hands entries over undecoded
 * (`onEntryFields`): the cache keeps each symbol's entries newer than its decoded state as
 * raw bytes and decodes them only when the symbol is asked for (`reference`, `marks`,
 * `symbols`), or when more than `MAX_PENDING_ENTRIES` pile up (memory stays bounded whether
 * or not anyone asks). Even then it decodes only what decides the result:
 *
 * - An entry is one symbol's messages of one gateway flush, snapshots then trades, each in
 *   seq order (tick-codec.ts, redis-publisher.ts); entries of a stream are in ID order. The
 *   state after applying everything in order is the newest snapshot, then the trades after
 *   it (each moves last/updatedAt) — everything before that snapshot is overwritten by it.
 * - So pending entries are examined newest first: in each, only the framing of the protobuf
 *   is walked and just the last snapshot and the trades are decoded (the other snapshots, ~1 KB
 *   of book levels each, are skipped); the walk stops at the first entry holding a snapshot.
 *   The messages from that snapshot on are then applied in order, through the same
 *   `onTick`/`onTrade` rules as before (older venue times never overwrite newer ones).
 * - An undecodable entry is counted (`decodeErrors`) and passed over, so the walk goes on to
 *   older entries: a corrupt newest entry never hides the good state before it.
 * - When the newest snapshot does not decide the state alone — the cache would refuse it
 *   (unknown phase, unusable symbol or previous close), it is a halt (the phase before the
 *   halt is kept), or it is the first state of a symbol without reference data (the
 *   instrument is built from the first tick) — all pending entries are replayed in order,
 *   exactly as if each had been decoded when read. These are rare.
 *
 * What differs from decoding every entry: bytes that do not affect the result are not
 * decoded, so a defect inside a superseded snapshot or entry (corrupt bytes, snapshots out of
 * seq order) goes unnoticed and uncounted; errors are counted when entries are decoded, not
 * when read; and the walk assumes venue time does not go backwards within one symbol's
 * pending entries (the feed's times are monotonic per symbol).
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Micros } from '../core/clock.ts';
import type { MarkSource } from '../core/ledger.ts';
import { makeInstrument, parseSymbol, type Instrument } from '../core/instruments.ts';
import type { MarketReference } from '../core/risk/types.ts';
import type { Phase } from '../core/sessions.ts';
import type { Price } from '../core/units.ts';
import type { RedisConnection } from '../bus/redis-connection.ts';
import type { MarketDataKeys } from '../bus/market-data-keys.ts';
import {
  decodeEntryFields, decompressPayload, FIELD_COMPRESSION, FIELD_DATA, FIELD_TYPE, TickCodecError, TYPE_BATCH,
} from '../bus/tick-codec.ts';
import type { MarketDataEntryMessage } from '../bus/tick-codec.ts';
import { PHASE_BY_CODE } from '../protocol/feed/frames.ts';
import type { Tick, Trade } from '../protocol/gen/triquant/v1/market_data.ts';
import type { Logger } from '../obs/log.ts';
import { silentLogger } from '../obs/log.ts';

/** What the OMS reads. */
export interface ReferencePrices {
  reference(symbol: string): MarketReference | undefined;
  /** Marks for the ledger: last (else mid, else previous close) and the previous close. */
  readonly marks: MarkSource;
  /** Ask for this symbol to be followed (an order or a position in it). */
  track?(symbol: string): void;
}

/** Undecoded entries kept per symbol before they are decoded anyway (bounds memory when nobody asks). */
export const MAX_PENDING_ENTRIES = 32;

interface Entry {
  instrument: Instrument;
  phase: Phase;
  halted: boolean;
  prevClose: Price;
  upperLimit: Price | undefined;
  lowerLimit: Price | undefined;
  last: Price | undefined;
  bid: Price | undefined;
  ask: Price | undefined;
  /** When the gateway received the newest tick or trade (wall clock): freshness. */
  updatedAt: Micros;
  /** Venue time of the newest tick or trade: ordering (a late, older message never overwrites). */
  eventTime: Micros;
}

/** One stream entry as received, not decoded yet: its `t`, `d` (a private copy) and `z` fields. */
interface RawEntry {
  type: string;
  data: Buffer;
  compression: string | undefined;
}

/** Counters of the lazy decoding (cumulative). */
export interface ReferenceDecodeStats {
  /** Entries handed over undecoded (`onEntryFields`). */
  entriesOffered: number;
  /** Entries decoded (in part or whole) to settle a symbol's state. */
  entriesDecoded: number;
  /** Entries dropped undecoded because a newer entry's snapshot superseded them. */
  entriesSuperseded: number;
  /** Entries that could not be decoded (counted and skipped). */
  decodeErrors: number;
  /** Entries waiting now, over all symbols. */
  pendingEntries: number;
}

export class ReferencePriceCache implements ReferencePrices {
  readonly #entries = new Map<string, Entry>();
  readonly #known = new Map<string, Instrument>();
  /** symbol → entries newer than its state in `#entries`, oldest first. */
  readonly #pending = new Map<string, RawEntry[]>();
  #pendingCount = 0;
  #onTrack: ((symbol: string) => void) | undefined;
  #onUndecodable: ((error: unknown) => void) | undefined;
  #offered = 0;
  #decoded = 0;
  #superseded = 0;
  #decodeErrors = 0;
  readonly #markMaxAgeMs: number;
  /** symbol → when its pending entries were last decoded (performance.now(), ms). */
  readonly #settledAt = new Map<string, number>();
  /** Symbols asked for a mark (held positions): `refreshMarks` keeps them decoded. */
  readonly #marked = new Set<string>();

  /**
   * `instruments`: reference data (names, ST flag, listing date) where known; others are built
   * from the ticks. `markMaxAgeMs` (default 0): how old a mark may be before `marks` decodes the
   * symbol's newer entries. Risk values every position on every order (gross exposure, day
   * P&L); with a few milliseconds allowed, an order no longer decodes every held symbol's
   * newest snapshot. `reference` (the order's own symbol) is always current.
   */
  constructor(instruments: readonly Instrument[] = [], options: { markMaxAgeMs?: number } = {}) {
    for (const instrument of instruments) this.#known.set(instrument.symbol, instrument);
    this.#markMaxAgeMs = options.markMaxAgeMs ?? 0;
  }

  /** A tick (snapshot) from the feed. Older ticks than the one held are ignored. */
  onTick(tick: Tick): void {
    this.#settle(tick.symbol); // entries received earlier come first
    this.#applyTick(tick);
  }

  /** A trade moves the last price (and the freshness) of a symbol already known. */
  onTrade(trade: Trade): void {
    this.#settle(trade.symbol);
    this.#applyTrade(trade);
  }

  /**
   * A market-data stream entry of `symbol`'s stream (its field/value list as XREAD returns
   * it), kept undecoded until the symbol is asked for (see the file comment). Entries of one
   * symbol must come in stream order. Never throws: an entry without its type or data field
   * is counted in `decodeErrors` at once; other defects when it is decoded.
   */
  onEntryFields(symbol: string, fields: readonly (string | Buffer)[]): void {
    this.#offered++;
    let type: string | undefined;
    let data: Buffer | undefined;
    let compression: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      // Field names are one character; comparing bytes avoids a string per field.
      const code = name.length === 1 ? (typeof name === 'string' ? name.charCodeAt(0) : name[0]!) : -1;
      if (code === FIELD_TYPE_CODE) type = value.length === 1 && (typeof value === 'string' ? value === TYPE_BATCH : value[0] === TYPE_BATCH_CODE) ? TYPE_BATCH : String(value);
      // A private copy: XREAD's values are views into ioredis's socket chunks, which would stay alive.
      else if (code === FIELD_DATA_CODE) data = typeof value === 'string' ? Buffer.from(value, 'latin1') : Buffer.from(value);
      else if (code === FIELD_COMPRESSION_CODE) compression = String(value);
    }
    if (type === undefined || data === undefined) {
      this.#undecodable(new TickCodecError(`entry lacks the "${FIELD_TYPE}" or "${FIELD_DATA}" field`));
      return;
    }
    let list = this.#pending.get(symbol);
    if (list === undefined) this.#pending.set(symbol, (list = []));
    list.push({ type, data, compression });
    this.#pendingCount++;
    if (list.length > MAX_PENDING_ENTRIES) this.#settle(symbol);
  }

  /** Cumulative counters of the lazy decoding (for tests and diagnostics). */
  get decodeStats(): ReferenceDecodeStats {
    return {
      entriesOffered: this.#offered, entriesDecoded: this.#decoded, entriesSuperseded: this.#superseded,
      decodeErrors: this.#decodeErrors, pendingEntries: this.#pendingCount,
    };
  }

  /** Entries that could not be decoded so far. */
  get decodeErrors(): number {
    return this.#decodeErrors;
  }

  reference(symbol: string): MarketReference | undefined {
    this.#settle(symbol);
    const e = this.#entries.get(symbol);
    if (e === undefined) {
      this.track(symbol);
      return undefined;
    }
    return {
      instrument: e.instrument, phase: e.phase, prevClose: e.prevClose, upperLimit: e.upperLimit, lowerLimit: e.lowerLimit,
      last: e.last, bid: e.bid, ask: e.ask, updatedAt: e.updatedAt, halted: e.halted,
    };
  }

  readonly marks: MarkSource = (symbol) => {
    if (this.#markMaxAgeMs > 0) this.#marked.add(symbol);
    const fresh = this.#markMaxAgeMs > 0 && this.#entries.has(symbol) && performance.now() - (this.#settledAt.get(symbol) ?? -Infinity) < this.#markMaxAgeMs;
    if (!fresh) this.#settle(symbol);
    const e = this.#entries.get(symbol);
    if (e === undefined) return undefined;
    const mid = e.bid !== undefined && e.ask !== undefined ? Math.round((e.bid + e.ask) / 2) : undefined;
    return { price: e.last ?? mid ?? e.prevClose, prevClose: e.prevClose };
  };

  /**
   * Decodes what is pending for every symbol asked for a mark so far (with `markMaxAgeMs` set):
   * the tail calls it after each read, off any order's path.
   */
  refreshMarks(): void {
    for (const symbol of this.#marked) this.#settle(symbol);
  }

  /** Symbols with a reference (decodes whatever is pending, to know). */
  symbols(): string[] {
    for (const symbol of [...this.#pending.keys()]) this.#settle(symbol);
    return [...this.#entries.keys()].sort();
  }

  track(symbol: string): void {
    this.#onTrack?.(symbol);
  }

  /** The tail installs itself here to learn symbols asked for. */
  onTrackRequest(listener: (symbol: string) => void): void {
    this.#onTrack = listener;
  }

  /** The tail installs itself here to log undecodable entries (decoded long after they were read). */
  onUndecodableEntry(listener: (error: unknown) => void): void {
    this.#onUndecodable = listener;
  }

  #applyTick(tick: Tick): void {
    const current = this.#entries.get(tick.symbol);
    if (current !== undefined && tick.eventTimeUs < current.eventTime) return;
    const code = PHASE_BY_CODE[tick.phase];
    const instrument = current?.instrument ?? this.#instrument(tick.symbol, tick.prevClosePrice);
    if (instrument === undefined || code === undefined) return;
    const bid = tick.bids[0]?.price;
    const ask = tick.asks[0]?.price;
    this.#entries.set(tick.symbol, {
      instrument,
      phase: code === 'HALTED' ? (current?.phase ?? 'CLOSED') : code,
      halted: code === 'HALTED',
      prevClose: tick.prevClosePrice > 0 ? tick.prevClosePrice : instrument.previousClose,
      upperLimit: tick.upperLimitPrice > 0 ? tick.upperLimitPrice : undefined,
      lowerLimit: tick.lowerLimitPrice > 0 ? tick.lowerLimitPrice : undefined,
      last: tick.lastPrice > 0 ? tick.lastPrice : undefined,
      bid: bid !== undefined && bid > 0 ? bid : undefined,
      ask: ask !== undefined && ask > 0 ? ask : undefined,
      // Freshness is measured on the receiving side's wall clock, not venue time: an
      // accelerated or replayed market has venue times far from now.
      updatedAt: tick.receiveTimeUs > 0 ? tick.receiveTimeUs : tick.eventTimeUs,
      eventTime: tick.eventTimeUs,
    });
  }

  #applyTrade(trade: Trade): void {
    const current = this.#entries.get(trade.symbol);
    if (current === undefined || trade.eventTimeUs < current.eventTime) return;
    current.last = trade.price;
    current.updatedAt = trade.receiveTimeUs > 0 ? trade.receiveTimeUs : trade.eventTimeUs;
    current.eventTime = trade.eventTimeUs;
  }

  /**
   * Whether the state after `tick` is the same whatever came before it in the pending
   * entries (venue-time ordering aside): `#applyTick` takes it, and it does not carry over the
   * previous phase (a halt) or build the instrument (the first tick of an unknown symbol).
   */
  #decisive(tick: Tick): boolean {
    const code = PHASE_BY_CODE[tick.phase];
    if (code === undefined || code === 'HALTED') return false;
    return this.#entries.has(tick.symbol) || this.#known.has(tick.symbol);
  }

  /** Decodes and applies what is pending for `symbol` (see the file comment). */
  #settle(symbol: string): void {
    if (this.#markMaxAgeMs > 0) this.#settledAt.set(symbol, performance.now());
    const list = this.#pending.get(symbol);
    if (list === undefined) return;
    this.#pending.delete(symbol);
    this.#pendingCount -= list.length;
    // Newest first, up to the first entry with a snapshot; `parts` holds what to apply, newest first.
    const parts: MarketDataEntryMessage[][] = [];
    const errors: unknown[] = [];
    let k = list.length - 1;
    let base: Tick | undefined;
    for (; k >= 0; k--) {
      try {
        const messages = fromNewestSnapshot(list[k]!);
        parts.push(messages);
        const first = messages[0]!;
        if (first.type === 'tick') {
          base = first.tick;
          break;
        }
      } catch (error) {
        errors.push(error);
      }
    }
    if (base !== undefined && !this.#decisive(base)) {
      // Older entries matter after all (rare: a halt, an unusable snapshot, a symbol's first
      // state): replay everything in order, as if each entry had been decoded when read.
      this.#decoded += list.length;
      for (const entry of list) {
        let messages: MarketDataEntryMessage[];
        try {
          messages = decodeEntryFields(fieldsOf(entry));
        } catch (error) {
          this.#undecodable(error);
          continue;
        }
        for (const m of messages) this.#applyMessage(m);
      }
      return;
    }
    const first = Math.max(k, 0);
    this.#decoded += list.length - first;
    this.#superseded += first;
    for (const error of errors) this.#undecodable(error);
    for (let p = parts.length - 1; p >= 0; p--) for (const m of parts[p]!) this.#applyMessage(m);
  }

  #applyMessage(m: MarketDataEntryMessage): void {
    if (m.type === 'tick') this.#applyTick(m.tick);
    else this.#applyTrade(m.trade);
  }

  #undecodable(error: unknown): void {
    this.#decodeErrors++;
    this.#onUndecodable?.(error);
  }

  #instrument(symbol: string, prevClose: Price): Instrument | undefined {
    const known = this.#known.get(symbol);
    if (known !== undefined) return known;
    if (!parseSymbol(symbol).ok || prevClose <= 0) return undefined;
    // Unknown reference data: a main-board, non-ST listing long ago (limits come from the ticks).
    return makeInstrument({ symbol, name: symbol, listingDate: 19900101, previousClose: prevClose });
  }
}

const FIELD_TYPE_CODE = FIELD_TYPE.charCodeAt(0);
const FIELD_DATA_CODE = FIELD_DATA.charCodeAt(0);
const FIELD_COMPRESSION_CODE = FIELD_COMPRESSION.charCodeAt(0);
const TYPE_BATCH_CODE = TYPE_BATCH.charCodeAt(0);
/** `MarketDataBatch` top-level tags as the publisher writes them: ticks (1, bytes), trades (2, bytes), publish time (3, varint). */
const TAG_TICKS = 10;
const TAG_TRADES = 18;
const TAG_PUBLISH_TIME = 24;

function fieldsOf(entry: RawEntry): (string | Buffer)[] {
  return entry.compression === undefined
    ? [FIELD_TYPE, entry.type, FIELD_DATA, entry.data]
    : [FIELD_TYPE, entry.type, FIELD_DATA, entry.data, FIELD_COMPRESSION, entry.compression];
}

/**
 * The messages of an entry that matter for the newest state, in feed order: its newest
 * snapshot and the trades after it; all its trades when it has no snapshot. Decodes only
 * those: the payload's top-level framing is walked and the last `ticks` field and the
 * `trades` fields are handed to the codec as a batch of their own. Anything but the
 * publisher's plain layout (other fields, other wire types, odd varints) goes to the full
 * decoder, which also produces the error for a malformed entry. Throws TickCodecError.
 */
function fromNewestSnapshot(entry: RawEntry): MarketDataEntryMessage[] {
  if (entry.type !== TYPE_BATCH) return decodeEntryFields(fieldsOf(entry));
  const raw = decompressPayload(entry.data, entry.compression);
  const n = raw.length;
  let pos = 0;
  let tickStart = -1;
  let tickEnd = -1;
  let tradesStart = -1;
  let tradesEnd = -1;
  let tradesContiguous = true;
  let tradeRanges: number[] | undefined; // start, end pairs, only when the trades are not one run
  while (pos < n) {
    const fieldStart = pos;
    const tag = raw[pos++]!;
    if (tag === TAG_PUBLISH_TIME) {
      const limit = Math.min(n, pos + 10); // a varint has at most 10 bytes
      while (pos < limit && raw[pos]! >= 0x80) pos++;
      if (pos >= limit) return decodeEntryFields(fieldsOf(entry));
      pos++;
      continue;
    }
    if (tag !== TAG_TICKS && tag !== TAG_TRADES) return decodeEntryFields(fieldsOf(entry));
    // Length: a varint of at most 4 bytes here (MAX_PAYLOAD_BYTES < 2^28).
    let len = 0;
    let shift = 0;
    let byte = 0x80;
    while (byte >= 0x80) {
      if (pos >= n || shift > 21) return decodeEntryFields(fieldsOf(entry));
      byte = raw[pos++]!;
      len += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    }
    const end = pos + len;
    if (end > n) return decodeEntryFields(fieldsOf(entry));
    if (tag === TAG_TICKS) {
      tickStart = fieldStart;
      tickEnd = end;
    } else {
      if (tradesStart < 0) tradesStart = fieldStart;
      else if (tradesEnd !== fieldStart) tradesContiguous = false;
      (tradeRanges ??= []).push(fieldStart, end);
      tradesEnd = end;
    }
    pos = end;
  }
  if (tickStart < 0 && tradesStart < 0) return decodeEntryFields(fieldsOf(entry)); // no messages: its error
  let payload: Buffer;
  if (tradesStart < 0) payload = raw.subarray(tickStart, tickEnd);
  else if (tickStart < 0 && tradesContiguous) payload = raw.subarray(tradesStart, tradesEnd);
  else if (tradesContiguous && tickEnd === tradesStart) payload = raw.subarray(tickStart, tradesEnd); // the publisher's layout
  else {
    const pieces: Buffer[] = tickStart < 0 ? [] : [raw.subarray(tickStart, tickEnd)];
    for (let i = 0; i < tradeRanges!.length; i += 2) pieces.push(raw.subarray(tradeRanges![i], tradeRanges![i + 1]));
    payload = Buffer.concat(pieces);
  }
  // The codec merges and checks the order of what was kept (an equal or decreasing seq throws).
  const messages = decodeEntryFields([FIELD_TYPE, TYPE_BATCH, FIELD_DATA, payload]);
  if (tickStart < 0) return messages;
  const at = messages.findIndex((m) => m.type === 'tick');
  return at === 0 ? messages : messages.slice(at);
}

export interface RedisQuoteTailOptions {
  connection: RedisConnection;
  keys: MarketDataKeys;
  cache: ReferencePriceCache;
  logger?: Logger;
  /** Rescan for new streams this often (ms). */
  rescanMs?: number;
  /** Idle sleep (ms): how long to wait after a read that found nothing new (default 200). */
  pollMs?: number;
  /**
   * Least time between the starts of two reads while data flows (ms, default 10; 0 = read
   * again at once). Without it the tail re-reads as fast as Redis answers — thousands of
   * round trips a second at full feed rate, each waking Redis and this process — for a
   * reference that only needs to be fresh to within the risk's quote age (seconds). A read
   * that returned a full `COUNT` for some stream is followed at once (catching up).
   */
  minReadIntervalMs?: number;
}

type StreamReply = Array<[key: Buffer | string, entries: Array<[id: Buffer | string, fields: Array<string | Buffer>]>]> | null;

/** Entries asked for per stream and read. */
const READ_COUNT = 100;

interface FollowedStream {
  symbol: string;
  /** Last entry ID read. */
  id: string;
}

/**
 * Follows the newest entries of the market-data streams into a `ReferencePriceCache`.
 *
 * Reads are non-blocking XREADs on the service's shared connection, polled. A blocking XREAD
 * would need a connection of its own (the shared one carries the audit tail's writes on the
 * order path, which must not queue behind a blocked read) and, on Redis Cluster, one per slot
 * group; and while the feed runs it would not read less often (data is always there). The
 * minimum read interval is what cuts the work then.
 */
export class RedisQuoteTail {
  readonly #options: RedisQuoteTailOptions;
  readonly #log: Logger;
  /** stream key → symbol and last entry ID read */
  readonly #streams = new Map<string, FollowedStream>();
  /** The XREAD key lists: one for all streams (standalone), one per slot group (cluster); undefined = rebuild. */
  #readGroups: string[][] | undefined;
  readonly #pending = new Set<string>();
  #running = false;
  #loop: Promise<void> | undefined;
  #stop = new AbortController();
  #lastScan = 0;
  #readErrors = 0;
  /** Entries read from Redis (priming and following), each handed to the cache undecoded: it decodes only what is asked for (`cache.decodeStats`). */
  entriesRead = 0;

  constructor(options: RedisQuoteTailOptions) {
    this.#options = options;
    this.#log = options.logger ?? silentLogger;
    options.cache.onTrackRequest((symbol) => {
      if (parseSymbol(symbol).ok && !this.#streams.has(options.keys.streamKey(symbol))) this.#pending.add(symbol);
    });
    options.cache.onUndecodableEntry((error) => this.#log.debug('reference prices: undecodable entry skipped', { error }));
  }

  /** Failed reads and scans, plus the cache's undecodable entries (counted when decoded, which is lazy). */
  get errors(): number {
    return this.#readErrors + this.#options.cache.decodeErrors;
  }

  get streams(): number {
    return this.#streams.size;
  }

  /** Primes the cache (SCAN + last entry of each stream) and starts following. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#stop = new AbortController();
    try {
      await this.#scan();
    } catch (error) {
      this.#readErrors++;
      this.#log.warn('reference prices: initial scan failed; retrying in the background', { error });
    }
    this.#loop = this.#run();
  }

  async close(): Promise<void> {
    this.#running = false;
    this.#stop.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const poll = this.#options.pollMs ?? 200;
    const minInterval = this.#options.minReadIntervalMs ?? 10;
    while (this.#running) {
      const started = Date.now();
      try {
        if (started - this.#lastScan > (this.#options.rescanMs ?? 5_000)) await this.#scan();
        if (this.#pending.size > 0) await this.#addPending();
        const read = await this.#readOnce();
        // Marked symbols (positions) are brought up to date here, between orders, so an order's
        // risk check finds their marks fresh (markMaxAgeMs) instead of decoding them itself.
        if (read === 'some') this.#options.cache.refreshMarks();
        if (read === 'idle') await this.#sleep(poll);
        else if (read === 'some') await this.#sleep(minInterval - (Date.now() - started));
      } catch (error) {
        this.#readErrors++;
        this.#log.debug('reference prices: read failed', { error });
        await this.#sleep(poll * 5);
      }
    }
  }

  async #sleep(ms: number): Promise<void> {
    if (ms <= 0 || !this.#running) return;
    try {
      await delay(ms, undefined, { signal: this.#stop.signal });
    } catch {
      // aborted by close()
    }
  }

  async #scan(): Promise<void> {
    this.#lastScan = Date.now();
    const { connection, keys } = this.#options;
    const client = connection.client;
    const found: string[] = [];
    const nodes = 'nodes' in client && typeof client.nodes === 'function' ? client.nodes('master') : [client];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', `${keys.prefix}:md:{g*}:*`, 'COUNT', 1000);
        cursor = next;
        found.push(...batch);
      } while (cursor !== '0');
    }
    for (const key of found) {
      const symbol = keys.symbolOf(key);
      if (symbol !== undefined && !this.#streams.has(key)) await this.#prime(key, symbol);
    }
  }

  async #addPending(): Promise<void> {
    const symbols = [...this.#pending];
    this.#pending.clear();
    for (const symbol of symbols) {
      const key = this.#options.keys.streamKey(symbol);
      if (!this.#streams.has(key)) await this.#prime(key, symbol);
    }
  }

  /** Reads the newest entry of a stream and follows it from there. */
  async #prime(key: string, symbol: string): Promise<void> {
    const client = this.#options.connection.client;
    const last = (await client.xrevrangeBuffer(key, '+', '-', 'COUNT', 1)) as Array<[Buffer, Buffer[]]>;
    const top = last[0];
    if (top !== undefined) {
      this.entriesRead++;
      this.#options.cache.onEntryFields(symbol, top[1]);
    }
    this.#streams.set(key, { symbol, id: top !== undefined ? top[0].toString() : '0-0' });
    this.#readGroups = undefined;
  }

  #groups(): string[][] {
    if (this.#readGroups !== undefined) return this.#readGroups;
    const { keys, connection } = this.#options;
    // One XREAD for every stream, except on a cluster where one command cannot span slots.
    if (connection.mode !== 'cluster') this.#readGroups = [[...this.#streams.keys()]];
    else this.#readGroups = [...keys.groupKeys([...this.#streams.values()].map((s) => s.symbol)).values()];
    return this.#readGroups;
  }

  /** One XREAD per key group: 'idle' = nothing new, 'some', 'behind' = some stream returned a full COUNT. */
  async #readOnce(): Promise<'idle' | 'some' | 'behind'> {
    if (this.#streams.size === 0) return 'idle';
    const { connection, cache } = this.#options;
    let result: 'idle' | 'some' | 'behind' = 'idle';
    for (const streamKeys of this.#groups()) {
      if (streamKeys.length === 0) continue;
      const args: (string | number)[] = ['COUNT', READ_COUNT, 'STREAMS', ...streamKeys];
      for (const k of streamKeys) args.push(this.#streams.get(k)?.id ?? '0-0');
      const reply = (await connection.client.xreadBuffer(...(args as ['COUNT', number, 'STREAMS', ...string[]]))) as unknown as StreamReply;
      if (reply === null) continue;
      for (const [rawKey, entries] of reply) {
        const stream = this.#streams.get(String(rawKey));
        const newest = entries[entries.length - 1];
        if (stream === undefined || newest === undefined) continue;
        for (const [, fields] of entries) cache.onEntryFields(stream.symbol, fields);
        this.entriesRead += entries.length;
        stream.id = String(newest[0]);
        if (entries.length >= READ_COUNT) result = 'behind';
        else if (result === 'idle') result = 'some';
      }
    }
    return result;
  }
}
