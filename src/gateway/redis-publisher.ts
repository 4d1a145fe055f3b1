/**
 * The reliable Redis Streams publisher of the gateway (a `TickObserver`). Design and
 * operating guide: docs/redis-streams.md. In short:
 *
 * - Each message goes to its symbol's stream (`MarketDataKeys.streamKey`) with the entry ID
 *   `<sessionId>-<seq>` derived from the feed, as the protobuf payload of `tick-codec.ts`,
 *   with `MAXLEN ~ maxLen` trimming. Redis refuses an ID that is not above the stream's top,
 *   so a resend of anything already written is refused: counted as a duplicate, never stored
 *   twice. That makes every retry below safe.
 * - Batches wait in one bounded FIFO buffer (ticks and bytes). One flush at a time sends
 *   everything buffered (up to `maxTicksPerFlush`) as ONE pipelined MULTI/EXEC: natural
 *   batching — what piled up while the previous flush was on the wire goes out together —
 *   and one network round trip per flush. The transaction also updates the per-feed
 *   checkpoint hash (`lastPublished`), atomically with the entries. On Redis Cluster it is one
 *   MULTI/EXEC per slot group (a transaction cannot span slots), then the checkpoints.
 * - Only one flush is in flight, so a later entry can never be stored before an earlier one
 *   that failed (which would make the earlier one look like a duplicate on retry).
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
 *   retried forever, which would stop the whole market for one key: it is counted
 *   (`errors_total{kind="rejected"}`, `dropped_ticks_total{reason="rejected"}`) and logged.
 */
import { performance } from 'node:perf_hooks';
import type { Clock, Micros } from '../core/clock.ts';
import { TriquantError, ValidationError } from '../core/errors.ts';
import { checkKeySchemeMeta, entryId, isDuplicateIdError, MarketDataKeys } from '../bus/market-data-keys.ts';
import { RedisConnection, isRetryableRedisError, toRedisError } from '../bus/redis-connection.ts';
import type { RedisConnectionOptions, RedisStateChange } from '../bus/redis-connection.ts';
import { encodeEntryFields, TICK_COMPRESSIONS } from '../bus/tick-codec.ts';
import type { TickCompression } from '../bus/tick-codec.ts';
import type { Logger } from '../obs/log.ts';
import { silentLogger } from '../obs/log.ts';
import { Counter, Gauge, Histogram, Registry } from '../obs/metrics.ts';
import type { TickBatch, TickObserver } from './types.ts';

export type OverflowPolicy = 'backpressure' | 'drop-oldest';

export interface RedisStreamPublisherOptions {
  /** A connection to share (not closed by `close()`), or options for one the publisher owns. Use `failFast` (the default). */
  connection: RedisConnection | RedisConnectionOptions;
  clock: Clock;
  /** The key scheme (default: the connection's key prefix, `slotGroups` below). */
  keys?: MarketDataKeys;
  slotGroups?: number;
  /** `MAXLEN ~ maxLen` per stream; 0 = no trimming (default 100,000 entries). */
  maxLen?: number;
  /** Payload compression (default none; see tick-codec.ts and the measured figures in docs). */
  compression?: TickCompression;
  /** Buffer bounds (defaults 100,000 ticks, 256 MiB counting payload, key and ID bytes; JS object overhead comes on top). A batch larger than the bound is still accepted into an empty buffer. */
  bufferMaxTicks?: number;
  bufferMaxBytes?: number;
  /** What happens when the buffer is full (default backpressure). */
  overflow?: OverflowPolicy;
  /** Most ticks per flush (whole batches; default 5,000). */
  maxTicksPerFlush?: number;
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
  /** Entries stored by Redis. */
  ticksOut: number;
  /** Entries Redis refused as already present (resends). */
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
}

/** onBatch after close(), or a batch still held by backpressure when close() gave up. */
export class PublisherClosedError extends TriquantError {
  constructor(message = 'the Redis publisher is closed') {
    super('PUBLISHER_CLOSED', message);
  }
}

// KEYS[1] = checkpoint hash; ARGV[1] = sessionId; ARGV[2] = updatedAt (µs); ARGV[3..] = channel, seq pairs.
// Only ever moves forward: an older session is ignored, a newer one replaces the hash, seqs only grow.
const CHECKPOINT_SCRIPT = `
local cur = tonumber(redis.call('HGET', KEYS[1], 'session') or '0')
local s = tonumber(ARGV[1])
if s < cur then return 0 end
if s > cur then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'session', ARGV[1])
end
for i = 3, #ARGV, 2 do
  local f = 'c:' .. ARGV[i]
  local old = tonumber(redis.call('HGET', KEYS[1], f) or '0')
  if tonumber(ARGV[i + 1]) > old then redis.call('HSET', KEYS[1], f, ARGV[i + 1]) end
end
redis.call('HSET', KEYS[1], 'at', ARGV[2])
return 1
`;

interface Entry {
  key: string;
  group: number;
  args: (string | Buffer)[];
}

interface Pending {
  feed: string;
  sessionId: number;
  receivedAt: Micros;
  entries: Entry[];
  /** Per channel: first and last seq in this batch, and how many messages. */
  seqs: Map<number, { from: number; to: number; count: number }>;
  bytes: number;
}

interface Waiter {
  pending: Pending;
  resolve: () => void;
  reject: (error: Error) => void;
}

interface FlushOutcome {
  added: number;
  duplicates: number;
  rejected: number;
}

/** The next retry delay, capped. */
function backoff(attempt: number, initial: number, max: number): number {
  return Math.min(initial * 2 ** Math.max(0, attempt - 1), max);
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
  private readonly compression: TickCompression;
  private readonly maxTicks: number;
  private readonly maxBytes: number;
  private readonly overflow: OverflowPolicy;
  private readonly maxTicksPerFlush: number;
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
  private readonly channelOfSymbol = new Map<string, string>();
  private readonly published = new Map<string, { sessionId: number; lastSeqByChannel: Map<number, number> }>();
  private readonly dropReport = new Map<string, { reason: 'overflow' | 'shutdown'; feed: string; sessionId: number; channel: number; ranges: [number, number][]; ticks: number }>();
  private dropReportTimer: NodeJS.Timeout | undefined;
  private readonly detachConnection: () => void;
  private readonly counts = { ticksOut: 0, duplicates: 0, errors: 0, outages: 0, dropped: 0, flushes: 0 };
  private readonly metrics: {
    ticksOut: Counter;
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
    this.compression = options.compression ?? 'none';
    if (!TICK_COMPRESSIONS.includes(this.compression)) throw new ValidationError(`compression must be one of ${TICK_COMPRESSIONS.join(', ')} (got ${String(this.compression)})`);
    this.maxTicks = positiveInt('bufferMaxTicks', options.bufferMaxTicks ?? 100_000);
    this.maxBytes = positiveInt('bufferMaxBytes', options.bufferMaxBytes ?? 256 * 1024 * 1024);
    this.overflow = options.overflow ?? 'backpressure';
    if (this.overflow !== 'backpressure' && this.overflow !== 'drop-oldest') throw new ValidationError(`overflow must be backpressure or drop-oldest (got ${String(this.overflow)})`);
    this.maxTicksPerFlush = positiveInt('maxTicksPerFlush', options.maxTicksPerFlush ?? 5_000);
    this.retryInitialMs = positiveInt('retryInitialMs', options.retryInitialMs ?? 50);
    this.retryMaxMs = positiveInt('retryMaxMs', options.retryMaxMs ?? 2_000);
    this.closeGraceMs = nonNegativeInt('closeGraceMs', options.closeGraceMs ?? 5_000);
    this.registry = options.registry ?? new Registry();
    this.metrics = this.registerMetrics(this.registry);
    this.metrics.connected.set(this.connection.isReady ? 1 : 0);
    const onState = (change: RedisStateChange) => this.onConnectionState(change);
    this.connection.on('state', onState);
    this.detachConnection = () => this.connection.off('state', onState);
  }

  /**
   * Takes one batch. Returns nothing when the batch was buffered at once, or a promise when
   * it waits for room (backpressure policy): the promise settles when the batch is in the
   * buffer (not yet in Redis — `drain()` waits for that). Rejects with PublisherClosedError
   * after `close()`. Malformed messages (bad symbol, seq or session) are counted, logged and
   * skipped; they never throw.
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

  private prepare(batch: TickBatch): Pending | undefined {
    const entries: Entry[] = [];
    const seqs = new Map<number, { from: number; to: number; count: number }>();
    let bytes = 0;
    const maxLenArgs = this.maxLen > 0 ? ['MAXLEN', '~', String(this.maxLen)] : [];
    for (const message of batch.messages) {
      try {
        const key = this.keys.streamKey(message.symbol);
        const id = entryId(batch.sessionId, message.seq);
        this.checkChannel(batch.feed, message.symbol, message.channel);
        const fields = encodeEntryFields(message, batch.receivedAt, this.compression);
        const args: (string | Buffer)[] = [key, ...maxLenArgs, id, ...fields];
        for (const a of args) bytes += a.length;
        entries.push({ key, group: this.keys.slotGroup(message.symbol), args });
        const range = seqs.get(message.channel);
        if (range === undefined) seqs.set(message.channel, { from: message.seq, to: message.seq, count: 1 });
        else {
          range.to = message.seq;
          range.count++;
        }
      } catch (error) {
        this.counts.errors++;
        this.counts.dropped++;
        this.metrics.errors.inc({ kind: 'invalid' });
        this.metrics.dropped.inc({ reason: 'invalid' });
        this.log.error('market-data message not publishable: skipped', {
          feed: batch.feed,
          sessionId: batch.sessionId,
          channel: message?.channel,
          seq: message?.seq,
          symbol: message?.symbol,
          error,
        });
      }
    }
    if (entries.length === 0) return undefined;
    return { feed: batch.feed, sessionId: batch.sessionId, receivedAt: batch.receivedAt, entries, seqs, bytes };
  }

  /** A symbol must stay on one channel of one feed, or its entry IDs would not increase. */
  private checkChannel(feed: string, symbol: string, channel: number): void {
    const where = `${feed}/${channel}`;
    const known = this.channelOfSymbol.get(symbol);
    if (known === where) return;
    if (known === undefined) {
      if (this.channelOfSymbol.size < 200_000) this.channelOfSymbol.set(symbol, where);
      return;
    }
    this.counts.errors++;
    this.metrics.errors.inc({ kind: 'channel_conflict' });
    this.log.error('symbol seen on two feed channels: its stream IDs may collide (entries can be refused as duplicates)', { symbol, first: known, now: where });
    this.channelOfSymbol.set(symbol, where);
  }

  private hasRoom(p: Pending): boolean {
    if (this.queue.length === 0) return true;
    return this.queueTicks + p.entries.length <= this.maxTicks && this.queueBytes + p.bytes <= this.maxBytes;
  }

  private enqueue(p: Pending): void {
    this.queue.push(p);
    this.queueTicks += p.entries.length;
    this.queueBytes += p.bytes;
    this.updateBufferGauges();
    this.kick();
  }

  private dropOldest(): void {
    while ((this.queueTicks > this.maxTicks || this.queueBytes > this.maxBytes) && this.queue.length > this.inFlight + 1) {
      const [victim] = this.queue.splice(this.inFlight, 1);
      this.queueTicks -= victim!.entries.length;
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
        ticks += this.queue[n]!.entries.length;
        n++;
      } while (n < this.queue.length && ticks + this.queue[n]!.entries.length <= this.maxTicksPerFlush);
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

  /** Sends one flush; resolves with the per-entry outcome, throws when the flush must be retried. */
  private async write(take: readonly Pending[]): Promise<FlushOutcome> {
    const client = this.connection.client;
    const checkpoints = this.checkpointArgs(take);
    const outcome: FlushOutcome = { added: 0, duplicates: 0, rejected: 0 };
    if (this.connection.mode !== 'cluster') {
      const tx = client.multi();
      const entries: Entry[] = [];
      for (const p of take) {
        for (const e of p.entries) {
          tx.xadd(...(e.args as [string, ...(string | Buffer)[]]));
          entries.push(e);
        }
      }
      for (const [key, args] of checkpoints) tx.eval(CHECKPOINT_SCRIPT, 1, key, ...args);
      const replies = await tx.exec();
      if (replies === null) throw new TriquantError('REDIS_TX_ABORTED', 'the publish transaction was aborted', { retryable: true });
      this.tally(entries, replies.slice(0, entries.length), outcome);
      this.checkCheckpointReplies(replies.slice(entries.length));
      return outcome;
    }
    // Redis Cluster: a transaction per slot group (one hash slot), all groups at once; the
    // checkpoints only after every group is stored.
    const byGroup = new Map<number, Entry[]>();
    for (const p of take) {
      for (const e of p.entries) {
        let list = byGroup.get(e.group);
        if (list === undefined) byGroup.set(e.group, (list = []));
        list.push(e);
      }
    }
    const results = await Promise.allSettled(
      [...byGroup.values()].map(async (entries) => {
        const tx = client.multi();
        for (const e of entries) tx.xadd(...(e.args as [string, ...(string | Buffer)[]]));
        const replies = await tx.exec();
        if (replies === null) throw new TriquantError('REDIS_TX_ABORTED', 'the publish transaction was aborted', { retryable: true });
        return { entries, replies };
      }),
    );
    const failure = results.find((r) => r.status === 'rejected');
    if (failure) throw failure.reason;
    for (const r of results) if (r.status === 'fulfilled') this.tally(r.value.entries, r.value.replies, outcome);
    const replies = await Promise.all(
      checkpoints.map(([key, args]) => client.eval(CHECKPOINT_SCRIPT, 1, key, ...args).then((v) => [null, v] as [null, unknown], (e: unknown) => [e as Error, null] as [Error, null])),
    );
    this.checkCheckpointReplies(replies);
    return outcome;
  }

  /** Per feed in the flush: the checkpoint update for its latest session. */
  private checkpointArgs(take: readonly Pending[]): [string, string[]][] {
    const byFeed = new Map<string, { sessionId: number; seqs: Map<number, number> }>();
    for (const p of take) {
      let cp = byFeed.get(p.feed);
      if (cp === undefined || p.sessionId > cp.sessionId) byFeed.set(p.feed, (cp = { sessionId: p.sessionId, seqs: new Map() }));
      if (p.sessionId < cp.sessionId) continue;
      for (const [channel, { to }] of p.seqs) cp.seqs.set(channel, Math.max(to, cp.seqs.get(channel) ?? 0));
    }
    const now = String(this.clock.nowMicros());
    return [...byFeed.entries()].map(([feed, cp]) => [
      this.keys.checkpointKey(feed),
      [String(cp.sessionId), now, ...[...cp.seqs.entries()].flatMap(([channel, seq]) => [String(channel), String(seq)])],
    ]);
  }

  private tally(entries: readonly Entry[], replies: readonly [Error | null, unknown][], outcome: FlushOutcome): void {
    let retryable: Error | undefined;
    for (let i = 0; i < entries.length; i++) {
      const error = replies[i]?.[0] ?? null;
      if (error === null) outcome.added++;
      else if (isDuplicateIdError(error)) outcome.duplicates++;
      else if (isRetryableRedisError(error)) retryable ??= error;
      else {
        outcome.rejected++;
        const e = entries[i]!;
        this.log.error('Redis refused a market-data entry: not retried', { key: e.key, id: e.args[this.maxLen > 0 ? 4 : 1], error });
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
      if (p.sessionId === pos.sessionId) for (const [channel, { to }] of p.seqs) pos.lastSeqByChannel.set(channel, Math.max(to, pos.lastSeqByChannel.get(channel) ?? 0));
    }
    this.queue.splice(0, take.length);
    for (const p of take) {
      this.queueTicks -= p.entries.length;
      this.queueBytes -= p.bytes;
    }
    this.counts.flushes++;
    this.metrics.flushes.inc();
    this.counts.ticksOut += outcome.added;
    this.metrics.ticksOut.inc(outcome.added);
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
      // A restarted or failed-over Redis may have lost the meta record: check again.
      this.schemeChecked = false;
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
    this.counts.dropped += p.entries.length;
    this.metrics.dropped.inc({ reason }, p.entries.length);
    for (const [channel, { from, to, count }] of p.seqs) {
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
    for (const w of this.waiters) n += w.pending.entries.length;
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
      ticksOut: new Counter({ name: `${p}ticks_out_total`, help: 'Market-data entries stored in Redis (resends refused as duplicates are not counted here)', registers }),
      latency: new Histogram({
        name: `${p}publish_latency_seconds`,
        help: 'From the socket read of a batch to Redis acknowledging it',
        buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
        registers,
      }),
      bufferTicks: new Gauge({ name: `${p}buffer_ticks`, help: 'Ticks in the publish buffer (waiting or in flight)', registers }),
      bufferBytes: new Gauge({ name: `${p}buffer_bytes`, help: 'Approximate bytes in the publish buffer', registers }),
      duplicates: new Counter({ name: `${p}duplicates_total`, help: 'Entries Redis refused because their ID was already stored (idempotent resends)', registers }),
      errors: new Counter({ name: `${p}errors_total`, help: 'Failed flushes (retried) and refused or invalid entries, by kind', labelNames: ['kind'], registers }),
      outages: new Counter({ name: `${p}outages_total`, help: 'Times publishing to Redis stopped (connection lost or writes refused)', registers }),
      outage: new Gauge({ name: `${p}outage`, help: '1 while publishing to Redis is failing', registers }),
      dropped: new Counter({ name: `${p}dropped_ticks_total`, help: 'Ticks given up, by reason (overflow = drop-oldest policy, rejected, invalid, shutdown)', labelNames: ['reason'], registers }),
      backpressure: new Counter({ name: `${p}backpressure_total`, help: 'Times the full buffer held the feed (backpressure policy)', registers }),
      blocked: new Gauge({ name: `${p}backpressure`, help: '1 while the full buffer holds the feed', registers }),
      flushes: new Counter({ name: `${p}flushes_total`, help: 'Acknowledged flushes (one MULTI/EXEC pipeline each)', registers }),
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
