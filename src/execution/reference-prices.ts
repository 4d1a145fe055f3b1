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
 */
import type { Micros } from '../core/clock.ts';
import type { MarkSource } from '../core/ledger.ts';
import { makeInstrument, parseSymbol, type Instrument } from '../core/instruments.ts';
import type { MarketReference } from '../core/risk/types.ts';
import type { Phase } from '../core/sessions.ts';
import type { Price } from '../core/units.ts';
import type { RedisConnection } from '../bus/redis-connection.ts';
import type { MarketDataKeys } from '../bus/market-data-keys.ts';
import { decodeEntryFields } from '../bus/tick-codec.ts';
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

export class ReferencePriceCache implements ReferencePrices {
  readonly #entries = new Map<string, Entry>();
  readonly #known = new Map<string, Instrument>();
  #onTrack: ((symbol: string) => void) | undefined;

  /** `instruments`: reference data (names, ST flag, listing date) where known; others are built from the ticks. */
  constructor(instruments: readonly Instrument[] = []) {
    for (const instrument of instruments) this.#known.set(instrument.symbol, instrument);
  }

  /** A tick (snapshot) from the feed. Older ticks than the one held are ignored. */
  onTick(tick: Tick): void {
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

  /** A trade moves the last price (and the freshness) of a symbol already known. */
  onTrade(trade: Trade): void {
    const current = this.#entries.get(trade.symbol);
    if (current === undefined || trade.eventTimeUs < current.eventTime) return;
    current.last = trade.price;
    current.updatedAt = trade.receiveTimeUs > 0 ? trade.receiveTimeUs : trade.eventTimeUs;
    current.eventTime = trade.eventTimeUs;
  }

  reference(symbol: string): MarketReference | undefined {
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
    const e = this.#entries.get(symbol);
    if (e === undefined) return undefined;
    const mid = e.bid !== undefined && e.ask !== undefined ? Math.round((e.bid + e.ask) / 2) : undefined;
    return { price: e.last ?? mid ?? e.prevClose, prevClose: e.prevClose };
  };

  symbols(): string[] {
    return [...this.#entries.keys()].sort();
  }

  track(symbol: string): void {
    this.#onTrack?.(symbol);
  }

  /** The tail installs itself here to learn symbols asked for. */
  onTrackRequest(listener: (symbol: string) => void): void {
    this.#onTrack = listener;
  }

  #instrument(symbol: string, prevClose: Price): Instrument | undefined {
    const known = this.#known.get(symbol);
    if (known !== undefined) return known;
    if (!parseSymbol(symbol).ok || prevClose <= 0) return undefined;
    // Unknown reference data: a main-board, non-ST listing long ago (limits come from the ticks).
    return makeInstrument({ symbol, name: symbol, listingDate: 19900101, previousClose: prevClose });
  }
}

export interface RedisQuoteTailOptions {
  connection: RedisConnection;
  keys: MarketDataKeys;
  cache: ReferencePriceCache;
  logger?: Logger;
  /** Rescan for new streams this often (ms). */
  rescanMs?: number;
  /** Blocking read timeout / idle sleep (ms). */
  pollMs?: number;
}

type StreamReply = Array<[key: string, entries: Array<[id: string, fields: Array<string | Buffer>]>]> | null;

/** Follows the newest entries of the market-data streams into a `ReferencePriceCache`. */
export class RedisQuoteTail {
  readonly #options: RedisQuoteTailOptions;
  readonly #log: Logger;
  /** stream key → last entry ID read */
  readonly #positions = new Map<string, string>();
  readonly #pending = new Set<string>();
  #running = false;
  #loop: Promise<void> | undefined;
  #lastScan = 0;
  entriesRead = 0;
  errors = 0;

  constructor(options: RedisQuoteTailOptions) {
    this.#options = options;
    this.#log = options.logger ?? silentLogger;
    options.cache.onTrackRequest((symbol) => {
      if (parseSymbol(symbol).ok && !this.#positions.has(options.keys.streamKey(symbol))) this.#pending.add(symbol);
    });
  }

  get streams(): number {
    return this.#positions.size;
  }

  /** Primes the cache (SCAN + last entry of each stream) and starts following. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      await this.#scan();
    } catch (error) {
      this.errors++;
      this.#log.warn('reference prices: initial scan failed; retrying in the background', { error });
    }
    this.#loop = this.#run();
  }

  async close(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }

  async #run(): Promise<void> {
    const poll = this.#options.pollMs ?? 200;
    while (this.#running) {
      try {
        if (Date.now() - this.#lastScan > (this.#options.rescanMs ?? 5_000)) await this.#scan();
        if (this.#pending.size > 0) await this.#addPending();
        const got = await this.#readOnce();
        if (!got) await sleep(poll);
      } catch (error) {
        this.errors++;
        this.#log.debug('reference prices: read failed', { error });
        await sleep(poll * 5);
      }
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
      if (symbol !== undefined && !this.#positions.has(key)) await this.#prime(key);
    }
  }

  async #addPending(): Promise<void> {
    const symbols = [...this.#pending];
    this.#pending.clear();
    for (const symbol of symbols) await this.#prime(this.#options.keys.streamKey(symbol));
  }

  /** Reads the newest entry of a stream and follows it from there. */
  async #prime(key: string): Promise<void> {
    const client = this.#options.connection.client;
    const last = (await client.xrevrangeBuffer(key, '+', '-', 'COUNT', 1)) as Array<[Buffer, Buffer[]]>;
    const top = last[0];
    if (top !== undefined) {
      this.#apply(top[1]);
      this.#positions.set(key, top[0].toString());
    } else {
      this.#positions.set(key, '0-0');
    }
  }

  async #readOnce(): Promise<boolean> {
    if (this.#positions.size === 0) return false;
    const { keys, connection } = this.#options;
    const groups = keys.groupKeys([...this.#positions.keys()].map((k) => keys.symbolOf(k)!).filter((s) => s !== undefined));
    let got = false;
    for (const streamKeys of groups.values()) {
      const ids = streamKeys.map((k) => this.#positions.get(k) ?? '0-0');
      const reply = (await connection.client.xreadBuffer('COUNT', 100, 'STREAMS', ...streamKeys, ...ids)) as unknown as StreamReply;
      if (reply === null) continue;
      for (const [rawKey, entries] of reply) {
        const key = String(rawKey);
        for (const [id, fields] of entries) {
          this.#apply(fields);
          this.#positions.set(key, String(id));
          got = true;
        }
      }
    }
    return got;
  }

  #apply(fields: Array<string | Buffer>): void {
    this.entriesRead++;
    try {
      for (const m of decodeEntryFields(fields)) {
        if (m.type === 'tick') this.#options.cache.onTick(m.tick);
        else this.#options.cache.onTrade(m.trade);
      }
    } catch (error) {
      this.errors++;
      this.#log.debug('reference prices: undecodable entry skipped', { error });
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
