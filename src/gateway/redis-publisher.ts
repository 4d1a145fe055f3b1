/**
 * The reliable Redis Streams publisher of the gateway (a `TickObserver`). Design and
 * operating guide: docs/redis-streams.md. In short:
 *
 * - Each flush writes, per symbol stream (`MarketDataKeys.streamKey`), ONE entry holding all
 *   of that symbol's ticks in the flush, in seq order, as a protobuf `MarketDataBatch`
 *   (`tick-codec.ts`; optional compression of the whole payload), with the entry ID
 *   `<sessionId>-<seq of its last tick>` and `MAXLEN ~ maxLen` trimming. Messages are encoded
 *   once, when their batch arrives — straight from the feed's wire frames when the batch has
 *   them (`MarketDataBatchWriter.appendFrame`: no decoded objects on the hot path); a flush
 *   only copies bytes.
 * - Exactly once, whatever the batch boundaries: the publisher never writes a tick whose
 *   (session, seq) is at or below the stream's top entry. It keeps each stream's top in
 *   memory (updated by every acknowledged flush) and reads it from Redis (`XREVRANGE key + -
 *   COUNT 1`, pipelined, in a tiny script that returns only the ID) for a stream it has not
 *   written yet in this process, after any flush that failed (its outcome may be unknown:
 *   connection lost before the reply, a timeout), and after every reconnect. Ticks at or
 *   below the top are dropped and counted as `duplicates`. A resend may group ticks
 *   differently from the first attempt, so refusing equal IDs alone would not be enough.
 * - Batches wait in one bounded FIFO buffer (ticks and bytes). One flush at a time sends
 *   everything buffered (up to `maxTicksPerFlush`) as ONE call of a Lua script (FLUSH_SCRIPT:
 *   EVALSHA, ioredis sends the text again on NOSCRIPT and on each new socket): natural
 *   batching — what piled up while the previous flush was on the wire goes out together —
 *   and one command, one round trip per flush. A MULTI of one XADD per entry cost the
 *   gateway about twice the CPU per flush in ioredis (measured: see docs/redis-streams.md).
 *   The script, atomic like MULTI/EXEC, runs each XADD with `redis.pcall` (one entry's error
 *   does not stop the others: its reply says which) and then updates the per-feed checkpoint
 *   hash (`lastPublished`). An error that concerns the server rather than a key (OOM,
 *   READONLY, MISCONF, NOREPLICAS: Redis raises those only before a script's first write)
 *   fails the whole call before anything is written, like an aborted MULTI. On Redis Cluster
 *   it is one MULTI/EXEC per slot group (neither can span slots), then the checkpoints.
 * - Only one flush is in flight, so the publisher's view of the stream tops is never behind
 *   a write it sent, except after a failure — which is why it reads them again then.
 * - Redis outage (connection lost, LOADING, READONLY after a failover, OOM, CLUSTERDOWN, …):
 *   the flush is retried, in order, with back-off, after the connection is ready again; the
 *   buffer keeps filling meanwhile. The connection fails fast (no ioredis offline queue, no
 *   ioredis re-sends: see redis-connection.ts), so every tick waiting is in this buffer and
 *   in its metrics.
 * - Buffer full: `overflow: 'backpressure'` (default) makes `onBatch` return a promise that
 *   settles only when the batch fits, so the gateway stops reading the feed (TCP
 *   backpressure; the feed resumes or retransmits later): nothing is lost. `'drop-oldest'`
 *   keeps the newest data: the oldest buffered batches not yet on the wire are discarded,
 *   counted in `dropped_ticks_total{reason="overflow"}` and logged with their feed, session,
 *   channel and seq ranges.
 * - An entry Redis refuses for good (e.g. WRONGTYPE: something else owns the key) is not
 *   retried forever, which would stop the whole market for one key: its ticks are counted
 *   (`errors_total{kind="rejected"}`, `dropped_ticks_total{reason="rejected"}`) and logged.
 * - One publisher per feed at a time: two processes publishing the same feed concurrently
 *   can each see a stale top and store a tick twice (the top is read before writing, not
 *   compared inside Redis).
 */
import { performance } from 'node:perf_hooks';
import type { Clock, Micros } from '../core/clock.ts';
import { TriquantError, ValidationError } from '../core/errors.ts';
import { checkKeySchemeMeta, isDuplicateIdError, MarketDataKeys } from '../bus/market-data-keys.ts';
import { RedisConnection, isRetryableRedisError, toRedisError } from '../bus/redis-connection.ts';
import type { RedisConnectionOptions, RedisStateChange } from '../bus/redis-connection.ts';
import { compressionCode, compressPayload, FIELD_COMPRESSION, FIELD_DATA, FIELD_TYPE, MarketDataBatchWriter, TICK_COMPRESSIONS, TYPE_BATCH } from '../bus/tick-codec.ts';
import type { FeedMarketData, TickCompression } from '../bus/tick-codec.ts';
import type { Logger } from '../obs/log.ts';
import { silentLogger } from '../obs/log.ts';
import { Counter, Gauge, Histogram, Registry } from '../obs/metrics.ts';
import { batchSize } from './types.ts';
import type { TickBatch, TickObserver } from './types.ts';

export type OverflowPolicy = 'backpressure' | 'drop-oldest';

export interface RedisStreamPublisherOptions {
  /** A connection to share (not closed by `close()`), or options for one the publisher owns. Use `failFast` (the default). */
  connection: RedisConnection | RedisConnectionOptions;
  clock: Clock;
  /** The key scheme (default: the connection's key prefix, `slotGroups` below). */
  keys?: MarketDataKeys;
  slotGroups?: number;
  /** `MAXLEN ~ maxLen` per stream, in entries (each holds 1..maxTicksPerEntry ticks); 0 = no trimming (default 100,000). */
  maxLen?: number;
  /** Payload compression of each entry (default none; see tick-codec.ts and the measured figures in docs). */
  compression?: TickCompression;
  /** Buffer bounds (defaults 100,000 ticks, 256 MiB of encoded payload; JS bookkeeping of ~30 bytes a tick comes on top). A batch larger than the bound is still accepted into an empty buffer. */
  bufferMaxTicks?: number;
  bufferMaxBytes?: number;
  /** What happens when the buffer is full (default backpressure). */
  overflow?: OverflowPolicy;
  /** Most ticks per flush (whole batches; default 20,000: fewer round trips when catching up; a larger flush blocks Redis longer). */
  maxTicksPerFlush?: number;
  /** Most ticks in one stream entry (1..10,000, default 1,000): a symbol with more ticks in one flush gets several entries. */
  maxTicksPerEntry?: number;
  /** Retry back-off after a failed flush: min(initial · 2^(n−1), max) (defaults 50 ms, 2,000 ms). */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** How long `close()` keeps flushing what is buffered (default 5,000 ms). */
  closeGraceMs?: number;
  logger?: Logger;
  /** Where the metrics go (default: a private registry, see `registry`). */
  registry?: Registry;
  /** Observer name (default "redis"). */
  name?: string;
}

/** Where Redis left off for one feed (from the checkpoint hash). */
export interface PublishedPosition {
  sessionId: number;
  lastSeqByChannel: ReadonlyMap<number, number>;
  /** When the checkpoint was last written (publisher clock, µs). */
  updatedAt: Micros;
}

export interface RedisPublisherStats {
  /** Ticks stored by Redis. */
  ticksOut: number;
  /** Stream entries stored (each holds one or more ticks). */
  entriesOut: number;
  /** Ticks not written because their stream already held them (resends: at or below the stream's top). */
  duplicates: number;
  /** Failed flushes (retried) and refused entries. */
  errors: number;
  outages: number;
  /** Ticks given up: overflow (drop-oldest), rejected by Redis, invalid input, or still buffered when close() gave up. */
  dropped: number;
  bufferTicks: number;
  bufferBytes: number;
  /** Batches held by backpressure. */
  waiting: number;
  flushes: number;
  /** Stream tops read from Redis (first write of a stream in this process, after a failed flush or a reconnect). */
  topReads: number;
}

/** onBatch after close(), or a batch still held by backpressure when close() gave up. */
export class PublisherClosedError extends TriquantError {
  constructor(message = 'the Redis publisher is closed') {
    super('PUBLISHER_CLOSED', message);
  }
}

// The per-feed checkpoint hash update, shared by both scripts: key = the hash; ARGV[i] =
// sessionId, ARGV[i + 1] = updatedAt (µs), then `count` (channel, seq) pairs. Returns 1, or 0
// when ignored. Only ever moves forward: an older session is ignored, a newer one replaces the
// hash, seqs only grow.
const CHECKPOINT_FUNCTION = `
local function checkpoint(key, i, count)
  local cur = tonumber(redis.call('HGET', key, 'session') or '0')
  local s = tonumber(ARGV[i])
  if s < cur then return 0 end
  if s > cur then
    redis.call('DEL', key)
    redis.call('HSET', key, 'session', ARGV[i])
  end
  for j = i + 2, i + 2 * count, 2 do
    local f = 'c:' .. ARGV[j]
    local old = tonumber(redis.call('HGET', key, f) or '0')
    if tonumber(ARGV[j + 1]) > old then redis.call('HSET', key, f, ARGV[j + 1]) end
  end
  redis.call('HSET', key, 'at', ARGV[i + 1])
  return 1
end
`;

// One checkpoint on its own (Cluster: the hash is in a slot of its own). KEYS[1] = the hash;
// ARGV[1] = sessionId; ARGV[2] = updatedAt (µs); ARGV[3..] = channel, seq pairs.
const CHECKPOINT_SCRIPT = `${CHECKPOINT_FUNCTION}
return checkpoint(KEYS[1], 1, (#ARGV - 2) / 2)
`;

// One flush, standalone and Sentinel (registered with ioredis' defineCommand as FLUSH_COMMAND).
// KEYS: each entry's stream, in entry order (n), then each feed's checkpoint hash (m).
// ARGV[1..8]: n, m, maxLen ('0' = no trimming), type field, type, data field, compression field
// and code ('' = uncompressed); then per entry: ID, payload; then per feed: the number of
// (channel, seq) pairs, sessionId, updatedAt (µs), channel, seq, … (CHECKPOINT_SCRIPT's ARGV).
// Reply: per entry its ID or its error, then per feed 1/0 (CHECKPOINT_SCRIPT's result) or its
// error. An error before anything was written that is not about one key (OOM, READONLY,
// MISCONF, NOREPLICAS: Redis checks those only until a script first writes) is the reply of the
// whole call instead: nothing was written, like an aborted MULTI. A Lua error in a checkpoint
// (a corrupt hash) is that feed's reply (ERR …), as it was the reply of its own EVAL.
const FLUSH_SCRIPT = `
local n = tonumber(ARGV[1])
local m = tonumber(ARGV[2])
local xadd = {}
if ARGV[3] ~= '0' then xadd = {'MAXLEN', '~', ARGV[3]} end
local idAt = #xadd + 1
xadd[idAt] = ''
xadd[idAt + 1] = ARGV[4]
xadd[idAt + 2] = ARGV[5]
xadd[idAt + 3] = ARGV[6]
xadd[idAt + 4] = ''
local len = idAt + 4
if ARGV[7] ~= '' then
  xadd[idAt + 5] = ARGV[7]
  xadd[idAt + 6] = ARGV[8]
  len = idAt + 6
end
local out = {}
local wrote = false
local function failed(k, e)
  if not wrote then
    local code = string.match(e.err, '^%-?(%S+)')
    if code ~= 'ERR' and code ~= 'WRONGTYPE' then return true end
  end
  out[k] = e
  return false
end
local a = 9
for k = 1, n do
  xadd[idAt] = ARGV[a]
  xadd[idAt + 4] = ARGV[a + 1]
  local r = redis.pcall('XADD', KEYS[k], unpack(xadd, 1, len))
  if type(r) == 'table' and r.err then
    if failed(k, r) then return r end
  else
    wrote = true
    out[k] = r
  end
  a = a + 2
end
${CHECKPOINT_FUNCTION}
for j = 1, m do
  local count = tonumber(ARGV[a])
  local ok, r = pcall(checkpoint, KEYS[n + j], a + 1, count)
  if ok then
    if r == 1 then wrote = true end
    out[n + j] = r
  else
    if type(r) ~= 'table' or not r.err then r = {err = 'ERR ' .. tostring(r)} end
    if failed(n + j, r) then return r end
  end
  a = a + 3 + 2 * count
end
return out
`;

/** The name FLUSH_SCRIPT is registered under on the client (`defineCommand`). */
const FLUSH_COMMAND = 'triquantPublishFlush';

/** The client method `defineCommand` adds: EVALSHA of FLUSH_SCRIPT, EVAL on NOSCRIPT and on a socket that has not sent it yet. */
interface FlushScriptClient {
  [FLUSH_COMMAND]: (numKeys: number, keys: readonly string[], args: readonly (string | Buffer)[]) => Promise<unknown>;
}

// KEYS[1] = a stream. The ID of its top entry (XREVRANGE + - COUNT 1), or nil when empty or
// absent: the entry itself (up to maxTicksPerEntry ticks) does not cross the network.
const TOP_ID_SCRIPT = `
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if top[1] then return top[1][1] end
return false
`;

/** Most streams whose top is read in one pipeline. */
const TOP_READ_CHUNK = 1_000;

/** One symbol stream as this process knows it. */
interface StreamState {
  readonly symbol: string;
  readonly key: string;
  readonly group: number;
  /** Feed and channel the symbol is carried on (it must stay on one, or its IDs would not increase). */
  feed: string;
  channel: number;
  /** The stream's top entry (session, seq); 0/0 = empty. Trusted only while `known`. */
  known: boolean;
  topSession: number;
  topSeq: number;
  /** Scratch of the flush being planned (valid while `epoch` is the flush's). */
  epoch: number;
  cursorSession: number;
  cursorSeq: number;
  open: EntryPlan | undefined;
  /** Scratch for de-duplicating stream lists. */
  stamp: number;
}

/** One stream entry of a flush: ticks of one stream and session, in seq order. */
interface EntryPlan {
  stream: StreamState;
  sessionId: number;
  lastSeq: number;
  count: number;
  bytes: number;
  /** (index into the flush's batches, index of the message in its batch) pairs. */
  refs: number[];
}

interface ChannelRange {
  from: number;
  to: number;
  count: number;
}

/** One accepted batch, encoded: per message its stream, seq, kind and bytes in `data`. */
interface Pending {
  feed: string;
  sessionId: number;
  receivedAt: Micros;
  count: number;
  streams: StreamState[];
  seqs: Float64Array;
  /** 1 = trade (a `trades` field), 0 = snapshot (a `ticks` field). */
  trades: Uint8Array;
  /** Message i is data[offsets[i], offsets[i + 1]): one `MarketDataBatch` field. */
  offsets: Uint32Array;
  data: Buffer;
  /** The batch's streams, each once. */
  distinct: StreamState[];
  /** Per channel: first and last seq in this batch, and how many messages. */
  channels: Map<number, ChannelRange>;
  bytes: number;
}

interface Waiter {
  pending: Pending;
  resolve: () => void;
  reject: (error: Error) => void;
}

interface FlushOutcome {
  added: number;
  entries: number;
  duplicates: number;
  rejected: number;
}

/** The next retry delay, capped. */
function backoff(attempt: number, initial: number, max: number): number {
  return Math.min(initial * 2 ** Math.max(0, attempt - 1), max);
}

/** `items` split by slot group (Cluster: one command or transaction may only name keys of one slot). */
function bySlotGroup<T>(items: readonly T[], groupOf: (item: T) => number): T[][] {
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const group = groupOf(item);
    let list = groups.get(group);
    if (list === undefined) groups.set(group, (list = []));
    list.push(item);
  }
  return [...groups.values()];
}

/** (session, seq) of an entry ID as Redis returns it; unparseable parts read as +Infinity (nothing is written below them). */
function parseTopId(id: unknown): [number, number] {
  const text = Buffer.isBuffer(id) ? id.toString('latin1') : String(id);
  const dash = text.indexOf('-');
  const session = Number(dash < 0 ? text : text.slice(0, dash));
  const seq = dash < 0 ? 0 : Number(text.slice(dash + 1));
  return [Number.isFinite(session) ? session : Infinity, Number.isFinite(seq) ? seq : Infinity];
}

export class RedisStreamPublisher implements TickObserver {
  readonly name: string;
  readonly reliable = true;
  readonly keys: MarketDataKeys;
  readonly connection: RedisConnection;
  /** The registry holding this publisher's metrics. */
  readonly registry: Registry;
  private readonly ownsConnection: boolean;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly maxLen: number;
  private readonly maxLenArgs: string[];
  private readonly compression: TickCompression;
  private readonly compressionCode: string | undefined;
  private readonly maxTicks: number;
  private readonly maxBytes: number;
  private readonly overflow: OverflowPolicy;
  private readonly maxTicksPerFlush: number;
  private readonly maxTicksPerEntry: number;
  private readonly retryInitialMs: number;
  private readonly retryMaxMs: number;
  private readonly closeGraceMs: number;

  private readonly queue: Pending[] = [];
  private inFlight = 0;
  private queueTicks = 0;
  private queueBytes = 0;
  private readonly waiters: Waiter[] = [];
  private running: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private drainWaiters: (() => void)[] = [];
  private closed = false;
  private stopped = false;
  private closing: Promise<void> | undefined;
  private schemeChecked = false;
  private failures = 0;
  private outageSince: number | undefined;
  private blockedSince: number | undefined;
  private readonly writer = new MarketDataBatchWriter();
  private readonly fieldWriter = new MarketDataBatchWriter(1_024);
  /** Where a flush's entry payloads are assembled (reused: one flush at a time). */
  private flushBuffer: Buffer = Buffer.alloc(0);
  private readonly streams = new Map<string, StreamState>();
  private epoch = 0;
  private stamp = 0;
  private readonly published = new Map<string, { sessionId: number; lastSeqByChannel: Map<number, number> }>();
  private readonly dropReport = new Map<string, { reason: 'overflow' | 'shutdown'; feed: string; sessionId: number; channel: number; ranges: [number, number][]; ticks: number }>();
  private dropReportTimer: NodeJS.Timeout | undefined;
  private readonly detachConnection: () => void;
  private readonly counts = { ticksOut: 0, entriesOut: 0, duplicates: 0, errors: 0, outages: 0, dropped: 0, flushes: 0, topReads: 0 };
  private readonly metrics: {
    ticksOut: Counter;
    entriesOut: Counter;
    latency: Histogram;
    bufferTicks: Gauge;
    bufferBytes: Gauge;
    duplicates: Counter;
    errors: Counter<'kind'>;
    outages: Counter;
    outage: Gauge;
    dropped: Counter<'reason'>;
    backpressure: Counter;
    blocked: Gauge;
    flushes: Counter;
    topReads: Counter;
    connected: Gauge;
  };

  constructor(options: RedisStreamPublisherOptions) {
    this.name = options.name ?? 'redis';
    this.clock = options.clock;
    this.log = options.logger ?? silentLogger;
    if (options.connection instanceof RedisConnection) {
      this.connection = options.connection;
      this.ownsConnection = false;
    } else {
      this.connection = new RedisConnection({ connectionName: 'triquant-gateway-publisher', ...options.connection });
      this.ownsConnection = true;
    }
    this.keys = options.keys ?? new MarketDataKeys({ prefix: this.connection.keyPrefix, ...(options.slotGroups !== undefined ? { slotGroups: options.slotGroups } : {}) });
    this.maxLen = nonNegativeInt('maxLen', options.maxLen ?? 100_000);
    this.maxLenArgs = this.maxLen > 0 ? ['MAXLEN', '~', String(this.maxLen)] : [];
    this.compression = options.compression ?? 'none';
    if (!TICK_COMPRESSIONS.includes(this.compression)) throw new ValidationError(`compression must be one of ${TICK_COMPRESSIONS.join(', ')} (got ${String(this.compression)})`);
    this.compressionCode = compressionCode(this.compression);
    this.maxTicks = positiveInt('bufferMaxTicks', options.bufferMaxTicks ?? 100_000);
    this.maxBytes = positiveInt('bufferMaxBytes', options.bufferMaxBytes ?? 256 * 1024 * 1024);
    this.overflow = options.overflow ?? 'backpressure';
    if (this.overflow !== 'backpressure' && this.overflow !== 'drop-oldest') throw new ValidationError(`overflow must be backpressure or drop-oldest (got ${String(this.overflow)})`);
    this.maxTicksPerFlush = positiveInt('maxTicksPerFlush', options.maxTicksPerFlush ?? 20_000);
    this.maxTicksPerEntry = positiveInt('maxTicksPerEntry', options.maxTicksPerEntry ?? 1_000);
    if (this.maxTicksPerEntry > 10_000) throw new ValidationError(`RedisStreamPublisher option maxTicksPerEntry must be at most 10,000 (got ${this.maxTicksPerEntry})`);
    this.retryInitialMs = positiveInt('retryInitialMs', options.retryInitialMs ?? 50);
    this.retryMaxMs = positiveInt('retryMaxMs', options.retryMaxMs ?? 2_000);
    this.closeGraceMs = nonNegativeInt('closeGraceMs', options.closeGraceMs ?? 5_000);
    this.registry = options.registry ?? new Registry();
    this.metrics = this.registerMetrics(this.registry);
    this.metrics.connected.set(this.connection.isReady ? 1 : 0);
    // Defined on the client itself, as ioredis wants; harmless when a shared client already has it.
    if (this.connection.mode !== 'cluster') this.connection.client.defineCommand(FLUSH_COMMAND, { lua: FLUSH_SCRIPT });
    const onState = (change: RedisStateChange) => this.onConnectionState(change);
    this.connection.on('state', onState);
    this.detachConnection = () => this.connection.off('state', onState);
  }

  /**
   * Takes one batch. Returns nothing when the batch was buffered at once, or a promise when
   * it waits for room (backpressure policy): the promise settles when the batch is in the
   * buffer (not yet in Redis — `drain()` waits for that). Rejects with PublisherClosedError
   * after `close()`. Malformed messages (bad symbol, seq or session, unencodable values) are
   * counted, logged and skipped; they never throw. The batch's messages are encoded here and
   * not referenced afterwards.
   */
  onBatch(batch: TickBatch): void | Promise<void> {
    if (this.closed) return Promise.reject(new PublisherClosedError());
    const pending = this.prepare(batch);
    if (pending === undefined) return;
    if (this.waiters.length === 0 && this.hasRoom(pending)) {
      this.enqueue(pending);
      return;
    }
    if (this.overflow === 'drop-oldest') {
      this.enqueue(pending);
      this.dropOldest();
      return;
    }
    if (this.blockedSince === undefined) {
      this.blockedSince = performance.now();
      this.metrics.backpressure.inc();
      this.metrics.blocked.set(1);
      this.log.warn('Redis publish buffer full: holding the feed until there is room (backpressure)', {
        bufferTicks: this.queueTicks,
        bufferBytes: this.queueBytes,
        maxTicks: this.maxTicks,
        maxBytes: this.maxBytes,
      });
    }
    return new Promise<void>((resolve, reject) => this.waiters.push({ pending, resolve, reject }));
  }

  /** Resolves when everything accepted so far is in Redis (or given up); rejects after `timeoutMs`. */
  async drain(timeoutMs?: number): Promise<void> {
    if (this.isIdle()) return;
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      this.drainWaiters.push(done);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.drainWaiters = this.drainWaiters.filter((w) => w !== done);
          reject(new TriquantError('PUBLISHER_DRAIN_TIMEOUT', `Redis publisher still holds ${this.queueTicks + this.waitingTicks()} ticks after ${timeoutMs} ms`, { retryable: true }));
        }, timeoutMs);
      }
    });
  }

  /**
   * Where Redis left off for `feed`: the session and the last seq stored per channel, from the
   * checkpoint hash `<prefix>:md:ckpt:<feed>` (written in the same transaction as the entries).
   * Undefined when nothing was ever published for the feed (or Redis lost it: no AOF). Waits
   * for the connection to be ready (at most `timeoutMs`, default 10 s).
   */
  async lastPublished(feed: string, timeoutMs = 10_000): Promise<PublishedPosition | undefined> {
    const key = this.keys.checkpointKey(feed);
    await this.connection.whenReady(timeoutMs);
    let hash: Record<string, string>;
    try {
      hash = await this.connection.client.hgetall(key);
    } catch (error) {
      throw toRedisError(error, `reading ${key}`);
    }
    return parseCheckpoint(hash);
  }

  /** What this process has stored for `feed` so far (no Redis round trip). */
  publishedInProcess(feed: string): { sessionId: number; lastSeqByChannel: ReadonlyMap<number, number> } | undefined {
    return this.published.get(feed);
  }

  stats(): RedisPublisherStats {
    return { ...this.counts, bufferTicks: this.queueTicks, bufferBytes: this.queueBytes, waiting: this.waiters.length };
  }

  /**
   * Stops intake (later `onBatch` calls reject), keeps flushing for up to `closeGraceMs`, then
   * gives up on what is left (counted as dropped with reason "shutdown" and logged with its
   * seq ranges; held batches are rejected) and closes an owned connection. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  // -------------------------------------------------------------------------------------------
  // Intake

  /**
   * Validates and encodes a batch (each message once, as a `MarketDataBatch` field). A batch
   * from a feed is transcoded from its wire frames (no decoded messages are ever built).
   */
  private prepare(batch: TickBatch): Pending | undefined {
    const frames = batch.frames;
    const messages = frames === undefined ? batch.messages : undefined;
    const n = batchSize(batch);
    if (n === 0) return undefined;
    if (!Number.isSafeInteger(batch.sessionId) || batch.sessionId <= 0) {
      this.invalid(n, batch, undefined, new ValidationError(`sessionId must be a positive safe integer (got ${batch.sessionId})`));
      return undefined;
    }
    const w = this.writer;
    w.reset();
    const streams = new Array<StreamState>(n);
    const seqs = new Float64Array(n);
    const trades = new Uint8Array(n);
    const offsets = new Uint32Array(n + 1);
    const distinct: StreamState[] = [];
    const channels = new Map<number, ChannelRange>();
    const stamp = ++this.stamp;
    let count = 0;
    for (let k = 0; k < n; k++) {
      const frame = frames?.[k];
      const message = frame ?? messages![k]!;
      try {
        const seq = message.seq;
        if (!Number.isSafeInteger(seq) || seq <= 0) throw new ValidationError(`seq must be a positive safe integer (got ${seq})`);
        let stream: StreamState;
        if (frame !== undefined) {
          stream = this.streamOf(batch.feed, frame.symbol, frame.channel);
          w.appendFrame(frame.buf, frame.offset, batch.receivedAt);
        } else {
          const m = message as FeedMarketData;
          stream = this.streamOf(batch.feed, m.symbol, m.channel);
          w.append(m, batch.receivedAt);
        }
        streams[count] = stream;
        seqs[count] = seq;
        trades[count] = message.type === 'trade' ? 1 : 0;
        offsets[++count] = w.length;
        if (stream.stamp !== stamp) {
          stream.stamp = stamp;
          distinct.push(stream);
        }
        const range = channels.get(message.channel);
        if (range === undefined) channels.set(message.channel, { from: seq, to: seq, count: 1 });
        else {
          range.to = seq;
          range.count++;
        }
      } catch (error) {
        this.invalid(1, batch, message as { channel: number; seq: number; symbol: string }, error);
      }
    }
    if (count === 0) return undefined;
    const data = w.toBuffer();
    return { feed: batch.feed, sessionId: batch.sessionId, receivedAt: batch.receivedAt, count, streams, seqs, trades, offsets, data, distinct, channels, bytes: data.length };
  }

  private invalid(ticks: number, batch: TickBatch, message: { channel: number; seq: number; symbol: string } | undefined, error: unknown): void {
    this.counts.errors += ticks;
    this.counts.dropped += ticks;
    this.metrics.errors.inc({ kind: 'invalid' }, ticks);
    this.metrics.dropped.inc({ reason: 'invalid' }, ticks);
    this.log.error('market-data message not publishable: skipped', {
      feed: batch.feed,
      sessionId: batch.sessionId,
      ...(message === undefined ? { ticks } : { channel: message?.channel, seq: message?.seq, symbol: message?.symbol }),
      error,
    });
  }

  /** The stream of a message's symbol (throws ValidationError for a bad symbol); a symbol must stay on one channel of one feed. */
  private streamOf(feed: string, symbol: string, channel: number): StreamState {
    let stream = this.streams.get(symbol);
    if (stream === undefined) {
      const key = this.keys.streamKey(symbol);
      stream = {
        symbol,
        key,
        group: this.keys.slotGroup(symbol),
        feed,
        channel,
        known: false,
        topSession: 0,
        topSeq: 0,
        epoch: 0,
        cursorSession: 0,
        cursorSeq: 0,
        open: undefined,
        stamp: 0,
      };
      this.streams.set(symbol, stream);
    } else if (stream.channel !== channel || stream.feed !== feed) {
      this.counts.errors++;
      this.metrics.errors.inc({ kind: 'channel_conflict' });
      this.log.error('symbol seen on two feed channels: its stream IDs may collide (ticks can be dropped as duplicates)', {
        symbol,
        first: `${stream.feed}/${stream.channel}`,
        now: `${feed}/${channel}`,
      });
      stream.feed = feed;
      stream.channel = channel;
    }
    return stream;
  }

  private hasRoom(p: Pending): boolean {
    if (this.queue.length === 0) return true;
    return this.queueTicks + p.count <= this.maxTicks && this.queueBytes + p.bytes <= this.maxBytes;
  }

  private enqueue(p: Pending): void {
    this.queue.push(p);
    this.queueTicks += p.count;
    this.queueBytes += p.bytes;
    this.updateBufferGauges();
    this.kick();
  }

  private dropOldest(): void {
    while ((this.queueTicks > this.maxTicks || this.queueBytes > this.maxBytes) && this.queue.length > this.inFlight + 1) {
      const [victim] = this.queue.splice(this.inFlight, 1);
      this.queueTicks -= victim!.count;
      this.queueBytes -= victim!.bytes;
      this.recordDrop(victim!, 'overflow');
    }
    this.updateBufferGauges();
  }

  private admitWaiters(): void {
    while (this.waiters.length > 0 && this.hasRoom(this.waiters[0]!.pending)) {
      const waiter = this.waiters.shift()!;
      this.enqueue(waiter.pending);
      waiter.resolve();
    }
    if (this.waiters.length === 0 && this.blockedSince !== undefined) {
      this.log.info('Redis publish buffer has room again: feed released', { heldMs: Math.round(performance.now() - this.blockedSince) });
      this.blockedSince = undefined;
      this.metrics.blocked.set(0);
    }
  }

  // -------------------------------------------------------------------------------------------
  // The flush loop

  /** Starts the flush loop unless it runs (a running loop picks up new batches by itself, and is not woken early from a back-off by them). */
  private kick(): void {
    if (this.running || this.stopped) return;
    this.running = this.run().finally(() => {
      this.running = undefined;
      if (this.queue.length > 0 && !this.stopped && this.connection.state !== 'closed') this.kick();
    });
  }

  private async run(): Promise<void> {
    while (this.queue.length > 0 && !this.stopped) {
      if (this.connection.state === 'closed') {
        // Only its owner closes a shared connection; until this publisher is closed too, keep what is buffered.
        if (this.outageSince === undefined) this.log.error('Redis connection closed under the publisher: publishing stopped', { bufferTicks: this.queueTicks });
        this.beginOutage(undefined);
        return;
      }
      if (!this.connection.isReady) {
        if (this.connection.state !== 'connecting') this.beginOutage(undefined);
        await this.sleepUntil(this.connection.whenReady().catch(() => undefined));
        continue;
      }
      if (!this.schemeChecked) {
        try {
          await checkKeySchemeMeta(this.connection.client, this.keys, { write: true });
          this.schemeChecked = true;
        } catch (error) {
          await this.failed(error, 'scheme');
          continue;
        }
      }
      let n = 0;
      let ticks = 0;
      do {
        ticks += this.queue[n]!.count;
        n++;
      } while (n < this.queue.length && ticks + this.queue[n]!.count <= this.maxTicksPerFlush);
      const take = this.queue.slice(0, n);
      this.inFlight = n;
      let outcome: FlushOutcome;
      try {
        outcome = await this.write(take);
      } catch (error) {
        this.inFlight = 0;
        await this.failed(error, 'write');
        continue;
      }
      this.inFlight = 0;
      this.succeeded(take, outcome);
    }
  }

  /**
   * Sends one flush; resolves with its outcome, throws when it must be retried. Whatever
   * happens, a stream this flush wrote to is trusted again only once Redis acknowledged the
   * whole flush; after a failure its top is read before the next write.
   */
  private async write(take: readonly Pending[]): Promise<FlushOutcome> {
    const unknown = this.unknownStreams(take);
    if (unknown.length > 0) await this.readTops(unknown);
    const { entries, duplicates } = this.plan(take);
    const outcome: FlushOutcome = { added: 0, entries: 0, duplicates, rejected: 0 };
    const stored = new Uint8Array(entries.length);
    try {
      const payloads = this.entryPayloads(take, entries);
      const checkpoints = this.checkpointArgs(take);
      const client = this.connection.client;
      if (this.connection.mode !== 'cluster') {
        const replies = await this.runFlushScript(entries, payloads, checkpoints);
        this.tally(entries, null, replies, outcome, stored);
        this.checkCheckpointReplies(replies.slice(entries.length));
      } else {
        const commands = this.xaddCommands(entries, payloads);
        // Redis Cluster: a transaction per slot group (one hash slot), all groups at once; the
        // checkpoints only after every group is stored. Should this process die in between,
        // the checkpoint lags: the replay after the restart is then dropped by the top-ID rule.
        const results = await Promise.allSettled(
          bySlotGroup(entries.map((_, i) => i), (i) => entries[i]!.stream.group).map(async (indexes) => {
            const tx = client.multi();
            for (const i of indexes) tx.xadd(...commands[i]!);
            const replies = await tx.exec();
            if (replies === null) throw new TriquantError('REDIS_TX_ABORTED', 'the publish transaction was aborted', { retryable: true });
            return { indexes, replies };
          }),
        );
        const failure = results.find((r) => r.status === 'rejected');
        if (failure) throw failure.reason;
        for (const r of results) if (r.status === 'fulfilled') this.tally(entries, r.value.indexes, r.value.replies, outcome, stored);
        const replies = await Promise.all(
          checkpoints.map(([key, args]) => client.eval(CHECKPOINT_SCRIPT, 1, key, ...args).then((v) => [null, v] as [null, unknown], (e: unknown) => [e as Error, null] as [Error, null])),
        );
        this.checkCheckpointReplies(replies);
      }
    } catch (error) {
      // The outcome may be unknown (connection lost mid-EXEC, a timeout, one cluster group
      // stored and another not): read these streams' tops before writing to them again.
      // A command of the failed flush may still be re-sent by ioredis (a late redirect): its
      // payload bytes must stay as they are, so the next flush gets a buffer of its own.
      this.flushBuffer = Buffer.alloc(0);
      for (const e of entries) {
        e.stream.known = false;
        e.stream.open = undefined;
      }
      throw error;
    }
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      e.stream.open = undefined;
      if (stored[i] === 1 && e.stream.known) {
        e.stream.topSession = e.sessionId;
        e.stream.topSeq = e.lastSeq;
      }
    }
    return outcome;
  }

  /** The distinct streams of a flush whose top this process does not know. */
  private unknownStreams(take: readonly Pending[]): StreamState[] {
    const stamp = ++this.stamp;
    const out: StreamState[] = [];
    for (const p of take) {
      for (const s of p.distinct) {
        if (s.known || s.stamp === stamp) continue;
        s.stamp = stamp;
        out.push(s);
      }
    }
    return out;
  }

  /** Reads the top entry ID of each stream (pipelined; on Cluster one pipeline per slot group). */
  private async readTops(streams: readonly StreamState[]): Promise<void> {
    const client = this.connection.client;
    const chunks = this.connection.mode === 'cluster' ? bySlotGroup(streams, (s) => s.group) : [streams];
    const work: Promise<void>[] = [];
    for (const chunk of chunks) {
      for (let i = 0; i < chunk.length; i += TOP_READ_CHUNK) {
        const list = chunk.slice(i, i + TOP_READ_CHUNK);
        work.push(
          (async () => {
            const pipeline = client.pipeline();
            for (const s of list) pipeline.eval(TOP_ID_SCRIPT, 1, s.key);
            const replies = await pipeline.exec();
            if (replies === null) throw new TriquantError('REDIS_PIPELINE_ABORTED', 'reading stream tops failed', { retryable: true });
            for (let k = 0; k < list.length; k++) {
              const s = list[k]!;
              const [error, id] = replies[k] ?? [new Error('no reply'), null];
              if (error) {
                if (isRetryableRedisError(error)) throw error;
                // E.g. WRONGTYPE: the XADD will be refused for good and reported then.
                this.log.warn('cannot read the top entry of a market-data stream', { key: s.key, error });
                s.topSession = 0;
                s.topSeq = 0;
              } else if (id === null || id === undefined) {
                s.topSession = 0;
                s.topSeq = 0;
              } else {
                [s.topSession, s.topSeq] = parseTopId(id);
              }
              s.known = true;
            }
            this.counts.topReads += list.length;
            this.metrics.topReads.inc(list.length);
          })(),
        );
      }
    }
    const results = await Promise.allSettled(work);
    const failure = results.find((r) => r.status === 'rejected');
    if (failure) throw failure.reason;
  }

  /**
   * Groups the flush into entries: per stream, its ticks in order, one entry per session (and
   * per `maxTicksPerEntry` ticks). A tick at or below the stream's top — or below one already
   * planned in this flush — is a duplicate and left out.
   */
  private plan(take: readonly Pending[]): { entries: EntryPlan[]; duplicates: number } {
    const epoch = ++this.epoch;
    const entries: EntryPlan[] = [];
    let duplicates = 0;
    for (let pi = 0; pi < take.length; pi++) {
      const p = take[pi]!;
      const session = p.sessionId;
      const { streams, seqs, offsets } = p;
      for (let i = 0; i < p.count; i++) {
        const s = streams[i]!;
        const seq = seqs[i]!;
        if (s.epoch !== epoch) {
          s.epoch = epoch;
          s.cursorSession = s.topSession;
          s.cursorSeq = s.topSeq;
          s.open = undefined;
        }
        if (session < s.cursorSession || (session === s.cursorSession && seq <= s.cursorSeq)) {
          duplicates++;
          continue;
        }
        let e = s.open;
        if (e === undefined || e.sessionId !== session || e.count >= this.maxTicksPerEntry) {
          e = { stream: s, sessionId: session, lastSeq: seq, count: 0, bytes: 0, refs: [] };
          s.open = e;
          entries.push(e);
        }
        e.refs.push(pi, i);
        e.count++;
        e.bytes += offsets[i + 1]! - offsets[i]!;
        e.lastSeq = seq;
        s.cursorSession = session;
        s.cursorSeq = seq;
      }
    }
    return { entries, duplicates };
  }

  /** Each entry's `MarketDataBatch` payload (snapshots, then trades, then the publish time; compressed if asked), all in one buffer per flush. */
  private entryPayloads(take: readonly Pending[], entries: readonly EntryPlan[]): Buffer[] {
    const fw = this.fieldWriter;
    fw.reset();
    fw.publishTime(this.clock.nowMicros());
    const publishField = fw.view();
    let total = 0;
    for (const e of entries) total += e.bytes + publishField.length;
    // One buffer for all flushes: allocating ~1 MB per flush made the garbage collector run a
    // full mark-compact several times a second (external memory pressure). Safe because the
    // previous flush succeeded (every command has its reply, the flush script's re-send after
    // NOSCRIPT included: ioredis will not serialise its arguments again); after a failed flush
    // `write` drops the buffer instead.
    if (this.flushBuffer.length < total) this.flushBuffer = Buffer.allocUnsafe(Math.max(total, this.flushBuffer.length * 2));
    const out = this.flushBuffer;
    let pos = 0;
    const payloads: Buffer[] = new Array(entries.length);
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      const start = pos;
      const refs = e.refs;
      for (let pass = 0; pass < 2; pass++) {
        for (let r = 0; r < refs.length; r += 2) {
          const p = take[refs[r]!]!;
          const i = refs[r + 1]!;
          if (p.trades[i] !== pass) continue;
          pos += p.data.copy(out, pos, p.offsets[i]!, p.offsets[i + 1]!);
        }
      }
      out.set(publishField, pos);
      pos += publishField.length;
      payloads[k] = compressPayload(out.subarray(start, pos), this.compression);
    }
    return payloads;
  }

  /** The XADD arguments of each entry (Cluster). */
  private xaddCommands(entries: readonly EntryPlan[], payloads: readonly Buffer[]): [string, ...(string | Buffer)[]][] {
    return entries.map((e, k) => {
      const id = `${e.sessionId}-${e.lastSeq}`;
      return this.compressionCode === undefined
        ? [e.stream.key, ...this.maxLenArgs, id, FIELD_TYPE, TYPE_BATCH, FIELD_DATA, payloads[k]!]
        : [e.stream.key, ...this.maxLenArgs, id, FIELD_TYPE, TYPE_BATCH, FIELD_DATA, payloads[k]!, FIELD_COMPRESSION, this.compressionCode];
    });
  }

  /**
   * Sends one flush as one FLUSH_SCRIPT call (standalone, Sentinel) and returns its replies in
   * the shape of EXEC's: per entry, then per checkpoint, [error, null] or [null, reply]. Throws
   * when the call as a whole failed (nothing written, or its outcome unknown).
   */
  private async runFlushScript(entries: readonly EntryPlan[], payloads: readonly Buffer[], checkpoints: readonly [string, string[]][]): Promise<[Error | null, unknown][]> {
    const n = entries.length;
    const keys: string[] = new Array(n + checkpoints.length);
    const args: (string | Buffer)[] = [
      String(n),
      String(checkpoints.length),
      String(this.maxLen),
      FIELD_TYPE,
      TYPE_BATCH,
      FIELD_DATA,
      this.compressionCode === undefined ? '' : FIELD_COMPRESSION,
      this.compressionCode ?? '',
    ];
    for (let k = 0; k < n; k++) {
      const e = entries[k]!;
      keys[k] = e.stream.key;
      args.push(`${e.sessionId}-${e.lastSeq}`, payloads[k]!);
    }
    for (let j = 0; j < checkpoints.length; j++) {
      const [key, cp] = checkpoints[j]!;
      keys[n + j] = key;
      args.push(String((cp.length - 2) / 2), ...cp);
    }
    // Arrays, not spread arguments: ioredis flattens them (Buffers stay Buffers), and a large
    // flush can have more arguments than a function call takes.
    const reply = await (this.connection.client as unknown as FlushScriptClient)[FLUSH_COMMAND](keys.length, keys, args);
    if (!Array.isArray(reply) || reply.length !== keys.length) {
      throw new TriquantError('REDIS_FLUSH_REPLY', `the publish script replied ${Array.isArray(reply) ? `${reply.length} items for ${keys.length}` : typeof reply}`, { retryable: true });
    }
    return reply.map((r: unknown): [Error | null, unknown] => (r instanceof Error ? [r, null] : [null, r]));
  }

  /** Per feed in the flush: the checkpoint update for its latest session. */
  private checkpointArgs(take: readonly Pending[]): [string, string[]][] {
    const byFeed = new Map<string, { sessionId: number; seqs: Map<number, number> }>();
    for (const p of take) {
      let cp = byFeed.get(p.feed);
      if (cp === undefined || p.sessionId > cp.sessionId) byFeed.set(p.feed, (cp = { sessionId: p.sessionId, seqs: new Map() }));
      if (p.sessionId < cp.sessionId) continue;
      for (const [channel, { to }] of p.channels) cp.seqs.set(channel, Math.max(to, cp.seqs.get(channel) ?? 0));
    }
    const now = String(this.clock.nowMicros());
    return [...byFeed.entries()].map(([feed, cp]) => [
      this.keys.checkpointKey(feed),
      [String(cp.sessionId), now, ...[...cp.seqs.entries()].flatMap(([channel, seq]) => [String(channel), String(seq)])],
    ]);
  }

  /** Books the replies to the XADDs of `entries` (all, or those at `indexes`); throws when one needs a retry. */
  private tally(entries: readonly EntryPlan[], indexes: readonly number[] | null, replies: readonly [Error | null, unknown][], outcome: FlushOutcome, stored: Uint8Array): void {
    let retryable: Error | undefined;
    const n = indexes === null ? entries.length : indexes.length;
    for (let k = 0; k < n; k++) {
      const index = indexes === null ? k : indexes[k]!;
      const e = entries[index]!;
      const error = replies[k]?.[0] ?? null;
      if (error === null) {
        stored[index] = 1;
        outcome.added += e.count;
        outcome.entries++;
      } else if (isDuplicateIdError(error)) {
        // Only if something else wrote to the stream since its top was read (another
        // publisher, XDEL of the top): the ticks are taken as stored, the top read again.
        outcome.duplicates += e.count;
        e.stream.known = false;
        this.log.warn('Redis refused a market-data entry as not above the stream top: is another process publishing this feed?', { key: e.stream.key, id: `${e.sessionId}-${e.lastSeq}`, ticks: e.count });
      } else if (isRetryableRedisError(error)) retryable ??= error;
      else {
        outcome.rejected += e.count;
        this.log.error('Redis refused a market-data entry: not retried', { key: e.stream.key, id: `${e.sessionId}-${e.lastSeq}`, ticks: e.count, error });
      }
    }
    // A transient error inside EXEC (rare: most are caught when queuing, aborting the whole
    // transaction) means the flush is retried; what was stored then counts as duplicates.
    if (retryable) throw retryable;
  }

  private checkCheckpointReplies(replies: readonly [Error | null, unknown][]): void {
    for (const [error] of replies) {
      if (error === null) continue;
      if (isRetryableRedisError(error)) throw error;
      this.counts.errors++;
      this.metrics.errors.inc({ kind: 'checkpoint' });
      this.log.error('publish checkpoint not written (entries are stored; lastPublished may lag)', { error });
    }
  }

  private succeeded(take: readonly Pending[], outcome: FlushOutcome): void {
    const now = this.clock.nowMicros();
    for (const p of take) {
      this.metrics.latency.observe(Math.max(0, now - p.receivedAt) / 1e6);
      let pos = this.published.get(p.feed);
      if (pos === undefined || p.sessionId > pos.sessionId) this.published.set(p.feed, (pos = { sessionId: p.sessionId, lastSeqByChannel: new Map() }));
      if (p.sessionId === pos.sessionId) for (const [channel, { to }] of p.channels) pos.lastSeqByChannel.set(channel, Math.max(to, pos.lastSeqByChannel.get(channel) ?? 0));
    }
    this.queue.splice(0, take.length);
    for (const p of take) {
      this.queueTicks -= p.count;
      this.queueBytes -= p.bytes;
    }
    this.counts.flushes++;
    this.metrics.flushes.inc();
    this.counts.ticksOut += outcome.added;
    this.metrics.ticksOut.inc(outcome.added);
    this.counts.entriesOut += outcome.entries;
    this.metrics.entriesOut.inc(outcome.entries);
    this.counts.duplicates += outcome.duplicates;
    if (outcome.duplicates > 0) this.metrics.duplicates.inc(outcome.duplicates);
    if (outcome.rejected > 0) {
      this.counts.errors += outcome.rejected;
      this.counts.dropped += outcome.rejected;
      this.metrics.errors.inc({ kind: 'rejected' }, outcome.rejected);
      this.metrics.dropped.inc({ reason: 'rejected' }, outcome.rejected);
    }
    this.failures = 0;
    if (this.outageSince !== undefined) {
      this.log.info('Redis publishing resumed', { outageMs: Math.round(performance.now() - this.outageSince), bufferTicks: this.queueTicks });
      this.outageSince = undefined;
      this.metrics.outage.set(0);
    }
    this.updateBufferGauges();
    this.admitWaiters();
    if (this.isIdle()) for (const done of this.drainWaiters.splice(0)) done();
  }

  private async failed(error: unknown, kind: 'write' | 'scheme'): Promise<void> {
    this.failures++;
    this.counts.errors++;
    this.metrics.errors.inc({ kind });
    this.beginOutage(error);
    const delay = backoff(this.failures, this.retryInitialMs, this.retryMaxMs);
    const fields = { error, attempt: this.failures, retryInMs: delay, bufferTicks: this.queueTicks };
    if (kind === 'scheme' || !isRetryableRedisError(error)) this.log.error('Redis publish failed: retrying', fields);
    else if (this.failures === 1 || this.failures % 20 === 0) this.log.warn('Redis publish failed: retrying', fields);
    await this.sleepUntil(new Promise<void>((resolve) => setTimeout(resolve, delay).unref()));
  }

  private beginOutage(error: unknown): void {
    if (this.outageSince !== undefined) return;
    this.outageSince = performance.now();
    this.counts.outages++;
    this.metrics.outages.inc();
    this.metrics.outage.set(1);
    this.log.warn('Redis unavailable for publishing: buffering', { state: this.connection.state, bufferTicks: this.queueTicks, ...(error ? { error } : {}) });
  }

  /** Waits for `until`, for new work or for stop, whichever first. */
  private async sleepUntil(until: Promise<unknown>): Promise<void> {
    await Promise.race([until, new Promise<void>((resolve) => (this.wake = resolve))]);
    this.wake = undefined;
  }

  private onConnectionState(change: RedisStateChange): void {
    this.metrics.connected.set(change.state === 'connected' ? 1 : 0);
    if (change.state === 'connected') {
      // A restarted or failed-over Redis may have lost the meta record, and its streams may
      // differ from what this process last wrote: check and read again.
      this.schemeChecked = false;
      for (const s of this.streams.values()) s.known = false;
    } else if (change.state === 'reconnecting' && !this.isIdle()) {
      this.beginOutage(change.error);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Shutdown and reporting

  private async shutdown(): Promise<void> {
    this.closed = true;
    if (!this.isIdle()) {
      try {
        await this.drain(this.closeGraceMs);
      } catch {
        // Reported below.
      }
    }
    this.stopped = true;
    this.wake?.();
    // A flush stuck on a hung connection must not hold close() forever.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.running, new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)))]);
    clearTimeout(timer);
    for (const p of this.queue.splice(0)) this.recordDrop(p, 'shutdown');
    for (const w of this.waiters.splice(0)) {
      this.recordDrop(w.pending, 'shutdown');
      w.reject(new PublisherClosedError('the Redis publisher closed before this batch could be buffered'));
    }
    this.queueTicks = 0;
    this.queueBytes = 0;
    this.updateBufferGauges();
    this.flushDropReport();
    for (const done of this.drainWaiters.splice(0)) done();
    this.detachConnection();
    if (this.ownsConnection) await this.connection.close();
  }

  private recordDrop(p: Pending, reason: 'overflow' | 'shutdown'): void {
    this.counts.dropped += p.count;
    this.metrics.dropped.inc({ reason }, p.count);
    for (const [channel, { from, to, count }] of p.channels) {
      const id = `${reason}|${p.feed}|${p.sessionId}|${channel}`;
      let r = this.dropReport.get(id);
      if (r === undefined) this.dropReport.set(id, (r = { reason, feed: p.feed, sessionId: p.sessionId, channel, ranges: [], ticks: 0 }));
      r.ticks += count;
      const last = r.ranges.at(-1);
      if (last !== undefined && from === last[1] + 1) last[1] = to;
      else r.ranges.push([from, to]);
    }
    if (reason === 'overflow') this.dropReportTimer ??= setTimeout(() => this.flushDropReport(), 1_000).unref();
  }

  /** Logs what was dropped since the last report: feed, session, channel, seq ranges. */
  private flushDropReport(): void {
    if (this.dropReportTimer) clearTimeout(this.dropReportTimer);
    this.dropReportTimer = undefined;
    if (this.dropReport.size === 0) return;
    for (const r of this.dropReport.values()) {
      this.log.error(`market data dropped (${r.reason === 'overflow' ? 'publish buffer full, policy drop-oldest' : 'still buffered when the publisher closed'})`, {
        feed: r.feed,
        sessionId: r.sessionId,
        channel: r.channel,
        ticks: r.ticks,
        seqRanges: r.ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(','),
      });
    }
    this.dropReport.clear();
  }

  private waitingTicks(): number {
    let n = 0;
    for (const w of this.waiters) n += w.pending.count;
    return n;
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && this.waiters.length === 0;
  }

  private updateBufferGauges(): void {
    this.metrics.bufferTicks.set(this.queueTicks);
    this.metrics.bufferBytes.set(this.queueBytes);
  }

  private registerMetrics(registry: Registry): RedisStreamPublisher['metrics'] {
    const p = 'triquant_gateway_redis_';
    const registers = [registry];
    return {
      ticksOut: new Counter({ name: `${p}ticks_out_total`, help: 'Market-data ticks stored in Redis (resends dropped as duplicates are not counted here)', registers }),
      entriesOut: new Counter({ name: `${p}entries_out_total`, help: 'Stream entries stored in Redis (each holds the ticks of one symbol in one flush)', registers }),
      latency: new Histogram({
        name: `${p}publish_latency_seconds`,
        help: 'From the socket read of a batch to Redis acknowledging it',
        buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
        registers,
      }),
      bufferTicks: new Gauge({ name: `${p}buffer_ticks`, help: 'Ticks in the publish buffer (waiting or in flight)', registers }),
      bufferBytes: new Gauge({ name: `${p}buffer_bytes`, help: 'Encoded payload bytes in the publish buffer', registers }),
      duplicates: new Counter({ name: `${p}duplicates_total`, help: 'Ticks not written because their stream already held them (at or below its top entry: resends)', registers }),
      errors: new Counter({ name: `${p}errors_total`, help: 'Failed flushes (retried) and refused or invalid entries, by kind', labelNames: ['kind'], registers }),
      outages: new Counter({ name: `${p}outages_total`, help: 'Times publishing to Redis stopped (connection lost or writes refused)', registers }),
      outage: new Gauge({ name: `${p}outage`, help: '1 while publishing to Redis is failing', registers }),
      dropped: new Counter({ name: `${p}dropped_ticks_total`, help: 'Ticks given up, by reason (overflow = drop-oldest policy, rejected, invalid, shutdown)', labelNames: ['reason'], registers }),
      backpressure: new Counter({ name: `${p}backpressure_total`, help: 'Times the full buffer held the feed (backpressure policy)', registers }),
      blocked: new Gauge({ name: `${p}backpressure`, help: '1 while the full buffer holds the feed', registers }),
      flushes: new Counter({ name: `${p}flushes_total`, help: 'Acknowledged flushes (one script call each; on Cluster one MULTI/EXEC per slot group)', registers }),
      topReads: new Counter({ name: `${p}top_reads_total`, help: 'Stream top entries read from Redis before writing (new stream in this process, after a failed flush or a reconnect)', registers }),
      connected: new Gauge({ name: `${p}connected`, help: '1 while the publisher connection to Redis is ready', registers }),
    };
  }
}

function parseCheckpoint(hash: Record<string, string>): PublishedPosition | undefined {
  const sessionId = Number(hash.session);
  if (!hash.session || !Number.isSafeInteger(sessionId)) return undefined;
  const lastSeqByChannel = new Map<number, number>();
  for (const [field, value] of Object.entries(hash)) {
    if (!field.startsWith('c:')) continue;
    const channel = Number(field.slice(2));
    const seq = Number(value);
    if (Number.isInteger(channel) && Number.isSafeInteger(seq)) lastSeqByChannel.set(channel, seq);
  }
  const updatedAt = Number(hash.at ?? 0);
  return { sessionId, lastSeqByChannel, updatedAt: Number.isSafeInteger(updatedAt) ? updatedAt : 0 };
}

function positiveInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new ValidationError(`RedisStreamPublisher option ${name} must be a positive integer (got ${value})`);
  return value;
}

function nonNegativeInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new ValidationError(`RedisStreamPublisher option ${name} must be a whole number (got ${value})`);
  return value;
}
