/**
 * The market-data key scheme on Redis and the rule that derives stream entry IDs from the feed.
 * Written by the gateway's publisher, read by strategies (consumer groups). Full description,
 * with the reasons, in docs/redis-streams.md.
 *
 * Keys (`<p>` = the configured `redis.keyPrefix`, default `tq`):
 *
 *   <p>:md:{g<k>}:<symbol>   one stream per symbol, e.g. `tq:md:{g5}:600000.SH`
 *   <p>:md:ckpt:<feed>       hash: per-feed publish checkpoint (session, last seq per channel)
 *   <p>:md:meta              hash: the key scheme's parameters (slot groups, id rule version)
 *
 * `k = fnv1a32(symbol) mod slotGroups` (FNV-1a, 32-bit, over the symbol's UTF-8 bytes). The
 * `{g<k>}` hash tag puts every stream of a slot group into one Redis Cluster hash slot, so a
 * strategy reads all its symbols of one group with ONE `XREADGROUP … STREAMS k1 k2 …` (Redis
 * Cluster refuses multi-key commands across slots with CROSSSLOT). The group count is the
 * unit of sharding: a cluster spreads the groups over its masters, so it should be several
 * times the number of masters (default 16: 3–8 masters balance well, and a strategy that
 * follows the whole market needs at most 16 reads per poll). `slotGroups` is part of the
 * scheme: writers and readers must agree (the publisher records it in `<p>:md:meta`, and
 * `checkKeySchemeMeta` refuses a mismatch); changing it means new keys.
 *
 * Entries and their IDs: an entry holds several ticks of its symbol (all it had in one flush
 * of the publisher, in seq order; tick-codec.ts). Its ID is `<sessionId>-<seq of the entry's
 * last tick>`, where sessionId is the feed session's id (integer microseconds since the epoch
 * when the feed server started, `TickBatch.sessionId`) used verbatim as the ID's
 * "milliseconds" part, and seq the channel sequence number. A symbol lives on exactly one
 * channel of one feed, so within a stream the IDs strictly increase: by seq within a session,
 * and by sessionId across sessions (a new session has a larger id; its seqs restart at 1).
 * Exactly once: a resend — after a reconnect, a retransmission, a gateway restart or a Redis
 * failover — may group the ticks differently, so the publisher never writes a tick whose
 * (session, seq) is at or below the stream's top entry ID (it drops and counts it as a
 * duplicate); Redis' refusal of an XADD whose ID is not above the top is the backstop. (The
 * ID's time part is therefore not a wall-clock time of the tick; the tick's own times are in
 * the payload. Not rounding to milliseconds keeps the session order exact even for two
 * sessions started within one millisecond.)
 */
import { TriquantError, ValidationError } from '../core/errors.ts';

/**
 * Version of the entry rule recorded in the meta hash (bump if the rule ever changes).
 * 1: one tick per entry, ID `<session>-<seq>`. 2: several ticks of a symbol per entry (a
 * `MarketDataBatch`), ID `<session>-<seq of the last>`.
 */
export const ENTRY_ID_RULE_VERSION = 2;
export const DEFAULT_SLOT_GROUPS = 16;
export const MAX_SLOT_GROUPS = 1024;

export interface MarketDataKeysOptions {
  /** `redis.keyPrefix`: letters, digits and `_ . : -` (no braces, so the hash tag is ours). */
  prefix: string;
  /** Number of slot groups (1..1024, default 16). Must be the same for writers and readers. */
  slotGroups?: number;
}

const PREFIX_PATTERN = /^[A-Za-z0-9_.:-]+$/;
/** Printable ASCII without space: what feed symbols are ("600000.SH"). */
const SYMBOL_PATTERN = /^[\x21-\x7e]{1,64}$/;
const FEED_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/** FNV-1a, 32-bit, over the UTF-8 bytes of `text`: stable across processes, versions and languages. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

export class MarketDataKeys {
  readonly prefix: string;
  readonly slotGroups: number;
  /** The meta hash recording the scheme's parameters. */
  readonly metaKey: string;
  private readonly cache = new Map<string, string>();

  constructor(options: MarketDataKeysOptions) {
    if (!PREFIX_PATTERN.test(options.prefix)) {
      throw new ValidationError(`key prefix ${JSON.stringify(options.prefix)}: use letters, digits and _ . : -`);
    }
    const groups = options.slotGroups ?? DEFAULT_SLOT_GROUPS;
    if (!Number.isInteger(groups) || groups < 1 || groups > MAX_SLOT_GROUPS) {
      throw new ValidationError(`slotGroups must be an integer in 1..${MAX_SLOT_GROUPS} (got ${groups})`);
    }
    this.prefix = options.prefix;
    this.slotGroups = groups;
    this.metaKey = `${this.prefix}:md:meta`;
  }

  /** The slot group (0..slotGroups-1) of a symbol. */
  slotGroup(symbol: string): number {
    assertSymbol(symbol);
    return fnv1a32(symbol) % this.slotGroups;
  }

  /** The hash tag of a slot group, braces included: `{g5}`. */
  hashTag(group: number): string {
    return `{g${group}}`;
  }

  /** The stream of one symbol: `<prefix>:md:{g<k>}:<symbol>`. Throws ValidationError for a malformed symbol. */
  streamKey(symbol: string): string {
    let key = this.cache.get(symbol);
    if (key === undefined) {
      key = `${this.prefix}:md:${this.hashTag(this.slotGroup(symbol))}:${symbol}`;
      if (this.cache.size < 100_000) this.cache.set(symbol, key);
    }
    return key;
  }

  /**
   * The streams of `symbols` grouped by slot group, each group readable with one XREADGROUP
   * even on Redis Cluster. Groups in ascending order; keys in the order of `symbols`, duplicates removed.
   */
  groupKeys(symbols: Iterable<string>): Map<number, string[]> {
    const groups = new Map<number, string[]>();
    const seen = new Set<string>();
    for (const symbol of symbols) {
      if (seen.has(symbol)) continue;
      seen.add(symbol);
      const group = this.slotGroup(symbol);
      let keys = groups.get(group);
      if (keys === undefined) groups.set(group, (keys = []));
      keys.push(this.streamKey(symbol));
    }
    return new Map([...groups.entries()].sort((a, b) => a[0] - b[0]));
  }

  /** The symbol of a stream key of this scheme, or undefined when the key is not one. */
  symbolOf(key: string): string | undefined {
    const head = `${this.prefix}:md:{g`;
    if (!key.startsWith(head)) return undefined;
    const close = key.indexOf('}:', head.length);
    if (close < 0) return undefined;
    const group = Number(key.slice(head.length, close));
    const symbol = key.slice(close + 2);
    if (!Number.isInteger(group) || !SYMBOL_PATTERN.test(symbol) || this.slotGroup(symbol) !== group) return undefined;
    return symbol;
  }

  /** The per-feed publish checkpoint hash. */
  checkpointKey(feed: string): string {
    if (!FEED_PATTERN.test(feed)) throw new ValidationError(`feed name ${JSON.stringify(feed)}: use 1-64 letters, digits and _ . : -`);
    return `${this.prefix}:md:ckpt:${feed}`;
  }

  /** The field/value pairs recorded in the meta hash. */
  metaFields(): Record<string, string> {
    return { slotGroups: String(this.slotGroups), idRule: String(ENTRY_ID_RULE_VERSION), hash: 'fnv1a32' };
  }
}

function assertSymbol(symbol: string): void {
  if (typeof symbol !== 'string' || !SYMBOL_PATTERN.test(symbol)) {
    throw new ValidationError(`symbol ${JSON.stringify(symbol)}: expected 1-64 printable ASCII characters without spaces`);
  }
}

// ---------------------------------------------------------------------------------------------
// Entry IDs

/** The stream entry ID for session `sessionId` and seq `seq` (of an entry's last tick): `<sessionId>-<seq>`. Throws ValidationError for values that are not positive safe integers. */
export function entryId(sessionId: number, seq: number): string {
  if (!Number.isSafeInteger(sessionId) || sessionId <= 0) throw new ValidationError(`sessionId must be a positive safe integer (got ${sessionId})`);
  if (!Number.isSafeInteger(seq) || seq <= 0) throw new ValidationError(`seq must be a positive safe integer (got ${seq})`);
  return `${sessionId}-${seq}`;
}

export interface ParsedEntryId {
  sessionId: number;
  seq: number;
}

const ID_PATTERN = /^(\d{1,16})-(\d{1,16})$/;

/** Splits an entry ID written by the publisher; undefined when it is not one (e.g. an auto-generated `*` ID is parsed too, as long as both parts are safe integers). */
export function parseEntryId(id: string): ParsedEntryId | undefined {
  const match = ID_PATTERN.exec(id);
  if (!match) return undefined;
  const sessionId = Number(match[1]);
  const seq = Number(match[2]);
  if (!Number.isSafeInteger(sessionId) || !Number.isSafeInteger(seq)) return undefined;
  return { sessionId, seq };
}

/** Orders two stream entry IDs as Redis does (numerically by time part, then sequence part). */
export function compareEntryIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const s = BigInt(as) - BigInt(bs);
  return s === 0n ? 0 : s < 0n ? -1 : 1;
}

/** Redis' error for an XADD whose explicit ID is not above the stream's top entry. */
export function isDuplicateIdError(error: unknown): boolean {
  return error instanceof Error && error.message.includes('equal or smaller than the target stream top item');
}

// ---------------------------------------------------------------------------------------------
// The scheme's record in Redis

/** Writers and readers disagree about the key scheme (e.g. a different `slotGroups`). */
export class KeySchemeMismatchError extends TriquantError {
  constructor(message: string) {
    super('KEY_SCHEME_MISMATCH', message);
  }
}

/** The two commands `checkKeySchemeMeta` needs (an ioredis Redis or Cluster has them). */
export interface KeySchemeMetaClient {
  hgetall(key: string): Promise<Record<string, string>>;
  hsetnx(key: string, field: string, value: string): Promise<number>;
}

/**
 * Compares `keys` with the parameters recorded in `<prefix>:md:meta`. A writer (`write`: the
 * publisher) records them first if absent (HSETNX, so concurrent writers cannot disagree
 * silently); a reader only compares, and accepts an absent record (nothing published yet).
 * Throws KeySchemeMismatchError on a difference.
 */
export async function checkKeySchemeMeta(client: KeySchemeMetaClient, keys: MarketDataKeys, options: { write: boolean }): Promise<void> {
  const expected = keys.metaFields();
  if (options.write) {
    for (const [field, value] of Object.entries(expected)) await client.hsetnx(keys.metaKey, field, value);
  }
  const recorded = await client.hgetall(keys.metaKey);
  if (Object.keys(recorded).length === 0) return;
  for (const [field, value] of Object.entries(expected)) {
    if (recorded[field] !== value) {
      throw new KeySchemeMismatchError(
        `market-data key scheme mismatch in ${keys.metaKey}: ${field} is ${JSON.stringify(recorded[field])} in Redis but ${JSON.stringify(value)} here; ` +
          'writers and readers must use the same scheme (slot-group count, entry rule): changing it means new keys (another key prefix)',
      );
    }
  }
}
