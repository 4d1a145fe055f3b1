/**
 * A strategy instance's market data from Redis Streams consumer groups (the `MarketDataSource`
 * contract; docs/redis-streams.md, "Consumer groups"). Each strategy is a consumer group on
 * the symbol streams the gateway writes; each instance is a consumer of that group, so two
 * instances split the work.
 *
 * Order of delivery (`next()`): first this consumer's own pending entries (delivered before a
 * crash or restart, never committed: `XREADGROUP … 0`), then entries idle for `claimIdleMs` on
 * any consumer of the group, dead ones included (`XAUTOCLAIM`), then new entries
 * (`XREADGROUP … >`, BLOCK). The reclaim pass runs again every `claimIdleMs / 2`, so a consumer
 * that dies later is reclaimed too, and an entry the handler failed is retried after
 * `claimIdleMs`. An entry delivered more than `maxDeliveries` times, or whose payload does not
 * decode, goes to the dead-letter stream `<p>:md:dlq:<group>` with its error and is
 * acknowledged: never handed to the strategy again.
 *
 * Exactly once from the strategy's point of view: `commit(batch, checkpoint)` stores the
 * strategy's checkpoint AND acknowledges the batch in one atomic step — a Lua script, which
 * Redis runs as one transaction like MULTI/EXEC, but which can also refuse: it first checks
 * that every entry of the batch is still pending on THIS consumer (XPENDING … consumer). An
 * entry another instance took over meanwhile (XAUTOCLAIM after `claimIdleMs`: this instance
 * was too slow, or paused) makes the whole commit fail with `GroupConsumerFencedError`, nothing
 * stored; the caller reloads its state with `loadCheckpoint()` and goes on (the entries it
 * still owns are handed again). So every entry ends up in exactly one committed checkpoint:
 * - a crash before the commit: nothing stored, the entries stay pending and are handed again
 *   — to the restarted instance from its pending list, or to another one by XAUTOCLAIM — to a
 *   strategy whose state is the last checkpoint, i.e. as if never seen;
 * - a crash after it: state and acks both stored, the entries are never delivered again;
 * - a commit whose reply was lost (connection cut after EXEC) is retried with the same commit
 *   token; the script sees the token in the checkpoint and answers "already done".
 * New entries at or below the last id this consumer committed on their stream (the checkpoint
 * keeps them: `lastIds`) are skipped and acknowledged: that only happens when the group was
 * reset or recreated behind the strategy's back. (Pending and reclaimed entries are not
 * filtered so: with two instances the ids of one stream interleave between them, and an entry
 * reclaimed from the other instance is legitimately below this one's last id.)
 *
 * Redis Cluster: a script or transaction cannot span hash slots, and the checkpoint (slot of
 * `{<group>}`) is not in the streams' slots (one per slot group). A Cluster commit therefore
 * (1) checks ownership per slot group, (2) writes the checkpoint together with the list of
 * acks it owes (`<p>:strategy:{<group>}:inflight`) in one transaction, (3) acknowledges per
 * slot group, (4) clears the owed list. Once (2) is stored the batch counts as committed: a
 * restarted consumer first pays its owed acks, and any consumer that reclaims an entry listed
 * as owed by someone acknowledges it instead of handing it out. What remains: an instance that
 * stalls for `claimIdleMs` exactly between (1) and (2) can have an entry reclaimed and handled
 * by another instance while its own checkpoint includes it (standalone and Sentinel have no
 * such window).
 *
 * Connections: two `RedisConnection`s of our own — one only for the blocking XREADGROUP (a
 * blocked connection serves nothing else), one for every other command. `close()` cuts the
 * blocking one, so a blocked `next()` returns `undefined` at once.
 */
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Clock } from '../core/clock.ts';
import { TriquantError, ValidationError } from '../core/errors.ts';
import {
  assertGroupName,
  DLQ_FIELD_AT,
  DLQ_FIELD_CONSUMER,
  DLQ_FIELD_DELIVERIES,
  DLQ_FIELD_ERROR,
  DLQ_FIELD_GROUP,
  DLQ_FIELD_ID,
  DLQ_FIELD_REASON,
  DLQ_FIELD_STREAM,
  errorField,
  strategyStateKeys,
} from './dead-letter.ts';
import type { DeadLetterReason, StrategyStateKeys } from './dead-letter.ts';
import { checkKeySchemeMeta, compareEntryIds, MarketDataKeys } from './market-data-keys.ts';
import type { MarketDataBatch, MarketDataEntry, MarketDataSource } from './market-data-source.ts';
import { isRetryableRedisError, RedisConnection, toRedisError } from './redis-connection.ts';
import type { RedisClient, RedisConnectionOptions } from './redis-connection.ts';
import { decodeEntryFields, TickCodecError } from './tick-codec.ts';

/** What the consumer logs through (the service logger fits: src/obs/log.ts). */
export interface GroupConsumerLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface GroupConsumerOptions {
  /** Where Redis is; the consumer opens two connections of its own from these options. */
  redis: RedisConnectionOptions;
  /** `redis.keyPrefix` (default: `redis.keyPrefix`, else "tq"). */
  keyPrefix?: string;
  /** The gateway's slot-group count (default 16): readers and writers must agree. */
  slotGroups?: number;
  /** The consumer group: the strategy's name. */
  group: string;
  /** This instance's consumer name (stable across restarts of the same instance). */
  consumer: string;
  symbols: readonly string[];
  /** Where a NEW group starts on a stream: 'earliest' = everything retained (id 0), 'live' = only entries added from now on ($). Default 'live'. */
  startAt?: 'earliest' | 'live';
  /** XREADGROUP BLOCK for new entries (default 1,000 ms); `next()` returns an empty batch after it. */
  blockMs?: number;
  /** Entries per read, per stream (default 256). */
  count?: number;
  /** An entry pending this long is taken over by XAUTOCLAIM (default 30,000 ms). */
  claimIdleMs?: number;
  /** Deliveries allowed before an entry is dead-lettered (default 5). */
  maxDeliveries?: number;
  /** `MAXLEN ~` of the dead-letter stream (default 100,000). */
  deadLetterMaxLen?: number;
  log?: GroupConsumerLogger;
  clock: Clock;
  /** Where the metrics go (labelled by group; several consumers may share a registry). */
  registry?: Registry;
}

export interface GroupConsumerStats {
  /** Entries handed to the caller. */
  delivered: number;
  /** Entries acknowledged by commits. */
  acked: number;
  /** Entries taken over from idle consumers (XAUTOCLAIM), this one's included. */
  reclaimed: number;
  deadLettered: number;
  decodeErrors: number;
  /** New entries skipped as at or below this consumer's last committed id (group reset). */
  duplicates: number;
  /** Pending entries whose stream entry was trimmed or deleted before they were handled. */
  lost: number;
  /** Commits refused because another consumer had taken over an entry. */
  fenced: number;
  /** Reclaimed entries already committed by another consumer's Cluster commit (acked, not handed). */
  owedAcksPaid: number;
}

/** The commit was refused: another consumer of the group took over these entries. Nothing was stored; reload the checkpoint. */
export class GroupConsumerFencedError extends TriquantError {
  readonly entries: readonly string[];

  constructor(entries: readonly string[]) {
    super('MD_CONSUMER_FENCED', `commit refused: ${entries.length} entr${entries.length === 1 ? 'y is' : 'ies are'} no longer pending on this consumer (taken over by another instance): ${entries.slice(0, 5).join(', ')}; reload the checkpoint`);
    this.entries = entries;
  }
}

/** The consumer was closed. */
export class GroupConsumerClosedError extends TriquantError {
  constructor() {
    super('MD_CONSUMER_CLOSED', 'the group consumer is closed');
  }
}

// ---------------------------------------------------------------------------------------------
// Scripts

// The commit (standalone and Sentinel). KEYS[1] = checkpoint hash, KEYS[2] = errors hash,
// KEYS[3..] = streams. ARGV: group, consumer, token, lastIds JSON, at, hasUser, user,
// n, n × (stream index, id), m, m × (stream index, id, error).
// Returns 1 = done, 2 = this token was committed already (a retry), {…} = entries no longer
// pending on this consumer (then nothing is written).
const COMMIT_SCRIPT = `
local group, consumer, token = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HGET', KEYS[1], 'commit') == token then return 2 end
local function parts(id)
  local a, b = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(a), tonumber(b)
end
local function less(x, y)
  local a1, b1 = parts(x)
  local a2, b2 = parts(y)
  if a1 ~= a2 then return a1 < a2 end
  return b1 < b2
end
local n = tonumber(ARGV[8])
local byKey, order = {}, {}
local p = 9
for i = 1, n do
  local k = tonumber(ARGV[p])
  if not byKey[k] then byKey[k] = {}; order[#order + 1] = k end
  local list = byKey[k]
  list[#list + 1] = ARGV[p + 1]
  p = p + 2
end
-- Ownership: one XPENDING range per stream; ids it did not list (range longer than its count) are checked one by one.
local lost = {}
for _, k in ipairs(order) do
  local key, ids = KEYS[2 + k], byKey[k]
  local lo, hi = ids[1], ids[1]
  for _, id in ipairs(ids) do
    if less(id, lo) then lo = id end
    if less(hi, id) then hi = id end
  end
  local mine = {}
  for _, row in ipairs(redis.call('XPENDING', key, group, lo, hi, #ids * 4 + 64, consumer)) do mine[row[1]] = true end
  for _, id in ipairs(ids) do
    if not mine[id] and #redis.call('XPENDING', key, group, id, id, 1, consumer) == 0 then lost[#lost + 1] = key .. ' ' .. id end
  end
end
if #lost > 0 then return lost end
for _, k in ipairs(order) do
  local ids = byKey[k]
  for i = 1, #ids, 1000 do redis.call('XACK', KEYS[2 + k], group, unpack(ids, i, math.min(i + 999, #ids))) end
end
local m = tonumber(ARGV[p])
p = p + 1
for i = 1, m do
  redis.call('HSET', KEYS[2], KEYS[2 + tonumber(ARGV[p])] .. ' ' .. ARGV[p + 1], ARGV[p + 2])
  p = p + 3
end
redis.call('HSET', KEYS[1], 'v', '1', 'lastIds', ARGV[4], 'commit', token, 'at', ARGV[5])
if ARGV[6] == '1' then redis.call('HSET', KEYS[1], 'user', ARGV[7]) end
return 1
`;

// Ownership check only (Cluster step 1). KEYS = streams; ARGV: group, consumer, n, n × (stream index, id).
const OWNED_SCRIPT = `
local group, consumer = ARGV[1], ARGV[2]
local lost = {}
local p = 4
for i = 1, tonumber(ARGV[3]) do
  local key = KEYS[tonumber(ARGV[p])]
  local id = ARGV[p + 1]
  local r = redis.call('XPENDING', key, group, id, id, 1, consumer)
  if #r == 0 then lost[#lost + 1] = key .. ' ' .. id end
  p = p + 2
end
return lost
`;

// Dead-lettering (standalone and Sentinel: one atomic step). KEYS[1] = dead-letter stream,
// KEYS[2] = source stream, KEYS[3] = errors hash. ARGV: group, id, maxLen, errorField,
// preferNote ('1': the handler's last error, if any, wins over ARGV error), error, then
// field/value pairs (metadata without the error, then the payload copy).
const DEAD_LETTER_SCRIPT = `
local err = ARGV[6]
if ARGV[5] == '1' then
  local note = redis.call('HGET', KEYS[3], ARGV[4])
  if note then err = note end
end
local fields = {'${DLQ_FIELD_ERROR}', err}
for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
if tonumber(ARGV[3]) > 0 then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', unpack(fields))
else
  redis.call('XADD', KEYS[1], '*', unpack(fields))
end
redis.call('XACK', KEYS[2], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[4])
return 1
`;

interface Script {
  lua: string;
  sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

const COMMIT = script(COMMIT_SCRIPT);
const OWNED = script(OWNED_SCRIPT);
const DEAD_LETTER = script(DEAD_LETTER_SCRIPT);

/** EVALSHA, loading the script on NOSCRIPT (per node on Cluster). */
async function runScript(client: RedisClient, s: Script, keys: readonly string[], args: readonly (string | Buffer | number)[]): Promise<unknown> {
  try {
    return await client.call('EVALSHA', s.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('NOSCRIPT')) return client.call('EVAL', s.lua, keys.length, ...keys, ...args);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------

interface StreamState {
  readonly key: string;
  readonly symbol: string;
  readonly slotGroup: number;
  /** Own-pending drain: last id read (XREADGROUP history reads return ids above it). */
  pendingCursor: string;
  pendingDone: boolean;
  /** XAUTOCLAIM cursor of the current reclaim pass. */
  claimCursor: string;
  claimDone: boolean;
}

type Phase = 'pending' | 'reclaim' | 'new';

/** A read unit: streams that one command may name together (all of them standalone; one slot group on Cluster). */
type Unit = StreamState[];

type RawEntry = [Buffer, Buffer[] | null];
/** XREADGROUP's reply: per stream its entries; null when BLOCK timed out. RESP2 gives [key, entries] pairs, RESP3 a map (flattened by ioredis to key, entries, key, …). */
type ReadReply = unknown[] | null;

function streamEntries(reply: ReadReply): [string, RawEntry[]][] {
  if (!reply || reply.length === 0) return [];
  const out: [string, RawEntry[]][] = [];
  if (Array.isArray(reply[0])) {
    for (const pair of reply as [Buffer, RawEntry[]][]) out.push([String(pair[0]), pair[1] ?? []]);
  } else {
    for (let i = 0; i + 1 < reply.length; i += 2) out.push([String(reply[i]), (reply[i + 1] as RawEntry[] | null) ?? []]);
  }
  return out;
}

/** A failure worth retrying: Redis unavailable or transiently refusing; never a bug of ours. */
function isRetryable(error: unknown): boolean {
  if (error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError || error instanceof SyntaxError) return false;
  return isRetryableRedisError(error);
}

/** Error codes of Redis replies this consumer handles itself. */
function replyCode(error: unknown): string {
  return error instanceof Error ? (error.message.split(' ', 1)[0] ?? '') : '';
}

/** How long to wait before retrying after a retryable Redis failure in next(). */
const RETRY_MS = 200;

export class GroupConsumer implements MarketDataSource {
  readonly group: string;
  readonly consumer: string;
  readonly keys: MarketDataKeys;
  readonly stateKeys: StrategyStateKeys;
  private readonly options: GroupConsumerOptions;
  private readonly blockMs: number;
  private readonly count: number;
  private readonly claimIdleMs: number;
  private readonly maxDeliveries: number;
  private readonly deadLetterMaxLen: number;
  private readonly startId: '0' | '$';
  private readonly log: GroupConsumerLogger;
  private readonly clock: Clock;
  private readonly cluster: boolean;
  private commands: RedisConnection | undefined;
  private reader: RedisConnection | undefined;
  private streams = new Map<string, StreamState>();
  private phase: Phase = 'pending';
  private lastReclaimAt = 0;
  private rotation = 0;
  /** Handed out, not yet committed ("<stream> <id>"): never handed again by a reclaim pass of our own. */
  private readonly outstanding = new Set<string>();
  /** Highest id committed per stream by this consumer. */
  private lastIds = new Map<string, string>();
  private readonly nonce = randomBytes(6).toString('hex');
  private commitSeq = 0;
  private commitChain: Promise<unknown> = Promise.resolve();
  private started: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private closed = false;
  private readerId: number | undefined;
  private readonly counters: GroupConsumerStats = { delivered: 0, acked: 0, reclaimed: 0, deadLettered: 0, decodeErrors: 0, duplicates: 0, lost: 0, fenced: 0, owedAcksPaid: 0 };
  private readonly metrics: ReturnType<typeof registerMetrics> | undefined;

  constructor(options: GroupConsumerOptions) {
    assertGroupName('group', options.group);
    assertGroupName('consumer', options.consumer);
    this.options = options;
    this.group = options.group;
    this.consumer = options.consumer;
    const prefix = options.keyPrefix ?? options.redis.keyPrefix ?? 'tq';
    this.keys = new MarketDataKeys({ prefix, ...(options.slotGroups !== undefined ? { slotGroups: options.slotGroups } : {}) });
    this.stateKeys = strategyStateKeys(prefix, options.group, options.consumer);
    this.blockMs = positiveInt('blockMs', options.blockMs ?? 1_000);
    this.count = positiveInt('count', options.count ?? 256);
    this.claimIdleMs = positiveInt('claimIdleMs', options.claimIdleMs ?? 30_000);
    this.maxDeliveries = positiveInt('maxDeliveries', options.maxDeliveries ?? 5);
    this.deadLetterMaxLen = options.deadLetterMaxLen ?? 100_000;
    if (!Number.isSafeInteger(this.deadLetterMaxLen) || this.deadLetterMaxLen < 0) throw new ValidationError(`deadLetterMaxLen must be a whole number (got ${this.deadLetterMaxLen})`);
    this.startId = (options.startAt ?? 'live') === 'earliest' ? '0' : '$';
    this.log = options.log ?? { debug() {}, info() {}, warn() {}, error() {} };
    this.clock = options.clock;
    this.cluster = options.redis.mode === 'cluster';
    this.streams = this.buildStreams(options.symbols);
    this.metrics = options.registry ? registerMetrics(options.registry) : undefined;
  }

  stats(): GroupConsumerStats {
    return { ...this.counters };
  }

  /** The symbols read now. */
  get symbols(): string[] {
    return [...this.streams.values()].map((s) => s.symbol);
  }

  start(): Promise<void> {
    if (this.closed) return Promise.reject(new GroupConsumerClosedError());
    this.started ??= this.doStart();
    return this.started;
  }

  private async doStart(): Promise<void> {
    const name = `${this.group}/${this.consumer}`;
    this.commands = new RedisConnection({ ...this.options.redis, connectionName: `tq-md:${name}` });
    this.reader = new RedisConnection({ ...this.options.redis, connectionName: `tq-md-read:${name}` });
    await Promise.all([this.commands.whenReady(this.options.redis.connectTimeoutMs ?? 10_000), this.reader.whenReady(this.options.redis.connectTimeoutMs ?? 10_000)]);
    await checkKeySchemeMeta(this.commands.client, this.keys, { write: false });
    await this.ensureGroups([...this.streams.values()]);
    await this.loadLastIds();
    if (this.cluster) await this.payOwnOwedAcks();
    if (!this.cluster) this.readerId = Number(await this.reader.client.call('CLIENT', 'ID'));
    this.phase = 'pending';
    this.log.info('market-data consumer started', { group: this.group, consumer: this.consumer, streams: this.streams.size, startAt: this.startId === '0' ? 'earliest' : 'live' });
  }

  async next(): Promise<MarketDataBatch | undefined> {
    if (this.closed) return undefined;
    await this.start();
    const deadline = Date.now() + this.blockMs;
    while (!this.closed) {
      try {
        if (this.phase === 'pending') {
          const batch = await this.readOwnPending();
          if (batch) return this.handOut(batch);
          this.beginReclaim();
          continue;
        }
        if (this.phase === 'reclaim') {
          const batch = await this.reclaimStep();
          if (batch) return this.handOut(batch);
          this.phase = 'new';
          this.lastReclaimAt = Date.now();
          continue;
        }
        if (Date.now() - this.lastReclaimAt >= this.claimIdleMs / 2) {
          this.beginReclaim();
          continue;
        }
        // Block no longer than the caller's timeout nor past the next reclaim pass.
        const untilReclaim = this.lastReclaimAt + this.claimIdleMs / 2 - Date.now();
        const batch = await this.readNew(Math.max(1, Math.round(Math.min(deadline - Date.now(), untilReclaim))));
        if (batch) return this.handOut(batch);
        if (Date.now() >= deadline) return { entries: [], origin: 'new' };
      } catch (error) {
        if (this.closed) return undefined;
        if (replyCode(error) === 'NOGROUP') {
          // The group or the stream was deleted behind us: create it again and start over.
          this.log.warn('consumer group missing on a stream: creating it again', { group: this.group, error: String(error) });
          await this.ensureGroups([...this.streams.values()]);
          this.phase = 'pending';
          for (const s of this.streams.values()) this.resetPending(s);
          continue;
        }
        if (!isRetryable(error)) throw error instanceof TypeError || error instanceof RangeError ? error : toRedisError(error, 'reading market data');
        this.log.warn('market-data read failed: retrying', { group: this.group, consumer: this.consumer, error: String(error) });
        await delay(RETRY_MS);
        // A read cut off by a connection loss may have been delivered: it is pending on us now.
        this.phase = 'pending';
        for (const s of this.streams.values()) this.resetPending(s);
      }
    }
    return undefined;
  }

  commit(batch: MarketDataBatch, checkpoint: string | undefined, failed: ReadonlyArray<{ entry: MarketDataEntry; error: string }> = []): Promise<void> {
    if (this.closed) return Promise.reject(new GroupConsumerClosedError());
    // One commit at a time, in call order (close() waits for the chain).
    const run = this.commitChain.then(() => this.doCommit(batch, checkpoint, failed));
    this.commitChain = run.catch(() => undefined);
    return run;
  }

  private async doCommit(batch: MarketDataBatch, checkpoint: string | undefined, failed: ReadonlyArray<{ entry: MarketDataEntry; error: string }>): Promise<void> {
    const client = this.client();
    const failedIds = new Set(failed.map((f) => `${f.entry.stream} ${f.entry.id}`));
    const handled = batch.entries.filter((e) => !failedIds.has(`${e.stream} ${e.id}`));
    const lastIds = new Map(this.lastIds);
    for (const e of handled) {
      const prev = lastIds.get(e.stream);
      if (prev === undefined || compareEntryIds(e.id, prev) > 0) lastIds.set(e.stream, e.id);
    }
    const token = `${this.nonce}:${++this.commitSeq}`;
    const lastIdsJson = JSON.stringify(Object.fromEntries(lastIds));
    const at = String(this.clock.nowMicros());
    try {
      if (!this.cluster) {
        const streams = new Map<string, number>();
        const index = (key: string) => {
          let i = streams.get(key);
          if (i === undefined) streams.set(key, (i = streams.size + 1));
          return i;
        };
        const handledArgs: (string | number)[] = [];
        for (const e of handled) handledArgs.push(index(e.stream), e.id);
        const failedArgs: (string | number)[] = [];
        for (const f of failed) failedArgs.push(index(f.entry.stream), f.entry.id, f.error);
        const keys = [this.stateKeys.checkpoint, this.stateKeys.errors, ...streams.keys()];
        const args = [this.group, this.consumer, token, lastIdsJson, at, checkpoint === undefined ? '0' : '1', checkpoint ?? '', handled.length, ...handledArgs, failed.length, ...failedArgs];
        // A retry after a lost reply re-sends the same token: the script answers 2 ("already done").
        const reply = await retryOnce(() => runScript(client, COMMIT, keys, args));
        if (Array.isArray(reply)) throw this.fenced(reply.map(String));
      } else {
        await this.clusterCommit(client, handled, failed, { token, lastIdsJson, at, checkpoint });
      }
    } catch (error) {
      if (error instanceof GroupConsumerFencedError) throw error;
      throw toRedisError(error, 'committing market data');
    }
    this.lastIds = lastIds;
    for (const e of batch.entries) this.outstanding.delete(`${e.stream} ${e.id}`);
    this.counters.acked += handled.length;
    this.metrics?.acked.inc({ group: this.group }, handled.length);
  }

  private async clusterCommit(
    client: RedisClient,
    handled: readonly MarketDataEntry[],
    failed: ReadonlyArray<{ entry: MarketDataEntry; error: string }>,
    c: { token: string; lastIdsJson: string; at: string; checkpoint: string | undefined },
  ): Promise<void> {
    const bySlot = new Map<number, MarketDataEntry[]>();
    for (const e of handled) {
      const slot = this.keys.slotGroup(e.symbol);
      let list = bySlot.get(slot);
      if (list === undefined) bySlot.set(slot, (list = []));
      list.push(e);
    }
    const done = (await client.hget(this.stateKeys.checkpoint, 'commit')) === c.token;
    if (!done) {
      // (1) Ownership, per slot group.
      const lost: string[] = [];
      for (const entries of bySlot.values()) {
        const { keys, pairs } = indexed(entries);
        const reply = (await runScript(client, OWNED, keys, [this.group, this.consumer, entries.length, ...pairs])) as unknown[];
        lost.push(...reply.map(String));
      }
      if (lost.length > 0) throw this.fenced(lost);
      // (2) Checkpoint, error notes and owed acks: one slot, one transaction.
      const owed: Record<string, string[]> = {};
      for (const e of handled) (owed[e.stream] ??= []).push(e.id);
      const tx = client.multi();
      tx.hset(this.stateKeys.checkpoint, 'v', '1', 'lastIds', c.lastIdsJson, 'commit', c.token, 'at', c.at);
      if (c.checkpoint !== undefined) tx.hset(this.stateKeys.checkpoint, 'user', c.checkpoint);
      if (handled.length > 0) tx.hset(this.stateKeys.inflight, this.consumer, JSON.stringify({ token: c.token, owed }));
      for (const f of failed) tx.hset(this.stateKeys.errors, errorField(f.entry.stream, f.entry.id), f.error);
      const replies = await tx.exec();
      if (replies === null) throw new TriquantError('REDIS_TX_ABORTED', 'the commit transaction was aborted', { retryable: true });
      for (const [error] of replies) if (error) throw error;
    }
    // (3) Acks per slot group (the batch is committed already: no ownership check), (4) owed list cleared.
    for (const entries of bySlot.values()) await this.ackEntries(client, entries.map((e) => [e.stream, e.id]));
    if (handled.length > 0) await client.hdel(this.stateKeys.inflight, this.consumer);
  }

  /** XACK `(stream, id)` pairs, one command per stream. */
  private async ackEntries(client: RedisClient, pairs: ReadonlyArray<readonly [string, string]>): Promise<void> {
    const byStream = new Map<string, string[]>();
    for (const [stream, id] of pairs) {
      let list = byStream.get(stream);
      if (list === undefined) byStream.set(stream, (list = []));
      list.push(id);
    }
    await Promise.all([...byStream].map(([stream, ids]) => client.xack(stream, this.group, ...ids)));
  }

  private fenced(entries: string[]): GroupConsumerFencedError {
    this.counters.fenced++;
    this.metrics?.fenced.inc({ group: this.group });
    this.log.warn('commit refused: entries were taken over by another consumer; the caller reloads its checkpoint', { group: this.group, consumer: this.consumer, entries: entries.length });
    // Start over from what we still own: the pending list, handed again.
    this.outstanding.clear();
    this.phase = 'pending';
    for (const s of this.streams.values()) this.resetPending(s);
    return new GroupConsumerFencedError(entries);
  }

  async loadCheckpoint(): Promise<string | undefined> {
    await this.start();
    const user = await this.client().hget(this.stateKeys.checkpoint, 'user');
    return user ?? undefined;
  }

  async setSymbols(symbols: readonly string[]): Promise<void> {
    const next = this.buildStreams(symbols);
    const added = [...next.values()].filter((s) => !this.streams.has(s.key));
    for (const [key, s] of next) {
      const old = this.streams.get(key);
      if (old) next.set(key, old);
      else this.resetPending(s);
    }
    if (this.started) {
      await this.start();
      await this.ensureGroups(added);
    }
    this.streams = next;
    if (added.length > 0) this.phase = 'pending';
    // A blocked read names the old streams: let it return now (standalone; on Cluster it returns within blockMs).
    if (this.readerId !== undefined && this.commands && !this.closed) {
      await this.commands.client.call('CLIENT', 'UNBLOCK', this.readerId).catch(() => undefined);
    }
    this.log.info('market-data symbols changed', { group: this.group, consumer: this.consumer, streams: this.streams.size, added: added.length });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      // Cut the blocking read at once; a commit in flight finishes first on the other connection.
      this.reader?.client.disconnect();
      await this.commitChain;
      await this.reader?.close();
      await this.commands?.close();
    })();
    return this.closing;
  }

  // -------------------------------------------------------------------------------------------

  private client(): RedisClient {
    if (!this.commands) throw new GroupConsumerClosedError();
    return this.commands.client;
  }

  private buildStreams(symbols: readonly string[]): Map<string, StreamState> {
    const out = new Map<string, StreamState>();
    for (const symbol of symbols) {
      const key = this.keys.streamKey(symbol);
      if (out.has(key)) continue;
      out.set(key, { key, symbol, slotGroup: this.keys.slotGroup(symbol), pendingCursor: '0', pendingDone: false, claimCursor: '0-0', claimDone: false });
    }
    return out;
  }

  private resetPending(s: StreamState): void {
    s.pendingCursor = '0';
    s.pendingDone = false;
  }

  private beginReclaim(): void {
    this.phase = 'reclaim';
    for (const s of this.streams.values()) {
      s.claimCursor = '0-0';
      s.claimDone = false;
    }
  }

  /** Streams that one command may name together. */
  private units(streams: Iterable<StreamState>): Unit[] {
    if (!this.cluster) {
      const all = [...streams];
      return all.length > 0 ? [all] : [];
    }
    const bySlot = new Map<number, Unit>();
    for (const s of streams) {
      let unit = bySlot.get(s.slotGroup);
      if (unit === undefined) bySlot.set(s.slotGroup, (unit = []));
      unit.push(s);
    }
    return [...bySlot.values()];
  }

  private async ensureGroups(streams: readonly StreamState[]): Promise<void> {
    const client = this.client();
    await Promise.all(
      streams.map(async (s) => {
        try {
          await client.call('XGROUP', 'CREATE', s.key, this.group, this.startId, 'MKSTREAM');
        } catch (error) {
          if (replyCode(error) !== 'BUSYGROUP') throw toRedisError(error, `creating consumer group ${this.group} on ${s.key}`);
        }
      }),
    );
  }

  private async loadLastIds(): Promise<void> {
    const raw = await this.client().hget(this.stateKeys.checkpoint, 'lastIds');
    this.lastIds = new Map();
    if (!raw) return;
    try {
      for (const [stream, id] of Object.entries(JSON.parse(raw) as Record<string, unknown>)) if (typeof id === 'string') this.lastIds.set(stream, id);
    } catch (error) {
      this.log.warn('checkpoint lastIds unreadable: ignored', { key: this.stateKeys.checkpoint, error: String(error) });
    }
  }

  /** Cluster: acks a commit of ours still owes (we died between its checkpoint and its acks). */
  private async payOwnOwedAcks(): Promise<void> {
    const client = this.client();
    const raw = await client.hget(this.stateKeys.inflight, this.consumer);
    if (!raw) return;
    const owed = parseOwed(raw);
    const pairs: [string, string][] = [];
    for (const [stream, ids] of owed) for (const id of ids) pairs.push([stream, id]);
    await this.ackEntries(client, pairs);
    await client.hdel(this.stateKeys.inflight, this.consumer);
    this.log.info('paid the acks of a commit interrupted before its acknowledgements', { group: this.group, consumer: this.consumer, entries: pairs.length });
  }

  /** One step of the own-pending drain: a batch, or undefined when the whole list was read. */
  private async readOwnPending(): Promise<MarketDataBatch | undefined> {
    const client = this.client();
    while (!this.closed && [...this.streams.values()].some((s) => !s.pendingDone)) {
      const batch = await this.readOwnPendingOnce(client);
      if (batch) return batch;
    }
    return undefined;
  }

  private async readOwnPendingOnce(client: RedisClient): Promise<MarketDataBatch | undefined> {
    for (const unit of this.units([...this.streams.values()].filter((s) => !s.pendingDone))) {
      // History read and delivery counts in one transaction, so both see the same entries
      // (reading the history counts as a delivery: XPENDING then shows the new count).
      const tx = client.multi();
      tx.callBuffer('XREADGROUP', 'GROUP', this.group, this.consumer, 'COUNT', this.count, 'STREAMS', ...unit.map((s) => s.key), ...unit.map((s) => s.pendingCursor));
      for (const s of unit) tx.call('XPENDING', s.key, this.group, s.pendingCursor === '0' ? '-' : `(${s.pendingCursor}`, '+', this.count, this.consumer);
      const replies = await tx.exec();
      if (replies === null) throw new TriquantError('REDIS_TX_ABORTED', 'the pending read was aborted', { retryable: true });
      for (const [error] of replies) if (error) throw error;
      const read = streamEntries(replies[0]![1] as ReadReply);
      const counts = new Map<string, number>();
      for (let i = 1; i < replies.length; i++) for (const row of replies[i]![1] as [string, string, number, number][]) counts.set(`${unit[i - 1]!.key} ${row[0]}`, Number(row[3]));
      const entries: MarketDataEntry[] = [];
      const byKey = new Map(read);
      for (const s of unit) {
        const items = byKey.get(s.key) ?? [];
        if (items.length === 0) {
          s.pendingDone = true;
          continue;
        }
        s.pendingCursor = String(items[items.length - 1]![0]);
        for (const [idBuf, fields] of items) {
          const id = String(idBuf);
          if (this.outstanding.has(`${s.key} ${id}`)) continue;
          const entry = await this.admit(s, id, fields, counts.get(`${s.key} ${id}`) ?? 1);
          if (entry) entries.push(entry);
        }
      }
      if (entries.length > 0) return { entries, origin: 'pending' };
    }
    return undefined;
  }

  /** One step of a reclaim pass (XAUTOCLAIM per stream, cursor looped): a batch, or undefined when the pass is over. */
  private async reclaimStep(): Promise<MarketDataBatch | undefined> {
    const client = this.client();
    const entries: MarketDataEntry[] = [];
    let owedByOthers: Map<string, Set<string>> | undefined;
    for (const s of this.streams.values()) {
      while (!s.claimDone && entries.length < this.count) {
        const reply = (await client.callBuffer('XAUTOCLAIM', s.key, this.group, this.consumer, this.claimIdleMs, s.claimCursor, 'COUNT', this.count)) as [Buffer, RawEntry[], Buffer[]?];
        const cursor = String(reply[0]);
        s.claimCursor = cursor;
        if (cursor === '0-0') s.claimDone = true;
        const deleted = reply[2] ?? [];
        if (deleted.length > 0) this.countLost(s, deleted.length, 'reclaimed');
        const claimed = reply[1];
        if (claimed.length === 0) continue;
        const pipeline = client.pipeline();
        for (const [id] of claimed) pipeline.call('XPENDING', s.key, this.group, String(id), String(id), 1, this.consumer);
        const counts = (await pipeline.exec()) ?? [];
        if (this.cluster) owedByOthers ??= await this.readOwedByOthers(client);
        for (let i = 0; i < claimed.length; i++) {
          const [idBuf, fields] = claimed[i]!;
          const id = String(idBuf);
          if (this.outstanding.has(`${s.key} ${id}`)) continue;
          if (owedByOthers?.get(s.key)?.has(id)) {
            // Committed by a consumer that died before acknowledging (Cluster): acknowledge, do not hand out.
            await client.xack(s.key, this.group, id);
            this.counters.owedAcksPaid++;
            continue;
          }
          const row = ((counts[i]?.[1] ?? []) as [string, string, number, number][])[0];
          this.counters.reclaimed++;
          this.metrics?.reclaimed.inc({ group: this.group });
          const entry = await this.admit(s, id, fields, row ? Number(row[3]) : this.maxDeliveries + 1);
          if (entry) entries.push(entry);
        }
      }
      if (entries.length >= this.count) break;
    }
    return entries.length > 0 ? { entries, origin: 'reclaimed' } : undefined;
  }

  private async readOwedByOthers(client: RedisClient): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>();
    const all = await client.hgetall(this.stateKeys.inflight);
    for (const [consumer, raw] of Object.entries(all)) {
      if (consumer === this.consumer) continue;
      for (const [stream, ids] of parseOwed(raw)) {
        let set = out.get(stream);
        if (set === undefined) out.set(stream, (set = new Set()));
        for (const id of ids) set.add(id);
      }
    }
    return out;
  }

  /** New entries (`>`), blocking up to `blockMs`; undefined on timeout. */
  private async readNew(blockMs: number): Promise<MarketDataBatch | undefined> {
    const reader = this.reader;
    if (!reader) throw new GroupConsumerClosedError();
    const units = this.units(this.streams.values());
    if (units.length === 0) {
      await delay(blockMs);
      return undefined;
    }
    let reply: ReadReply = null;
    if (units.length === 1) {
      const unit = units[0]!;
      reply = (await reader.client.callBuffer('XREADGROUP', 'GROUP', this.group, this.consumer, 'COUNT', this.count, 'BLOCK', blockMs, 'STREAMS', ...unit.map((s) => s.key), ...unit.map(() => '>'))) as ReadReply;
    } else {
      // Cluster with several slot groups: one sweep without blocking, then block briefly on one
      // group in rotation (a blocking read waits on one node only).
      for (let i = 0; i < units.length && reply === null; i++) {
        const unit = units[(this.rotation + i) % units.length]!;
        reply = (await reader.client.callBuffer('XREADGROUP', 'GROUP', this.group, this.consumer, 'COUNT', this.count, 'STREAMS', ...unit.map((s) => s.key), ...unit.map(() => '>'))) as ReadReply;
      }
      if (reply === null) {
        const unit = units[this.rotation++ % units.length]!;
        reply = (await reader.client.callBuffer('XREADGROUP', 'GROUP', this.group, this.consumer, 'COUNT', this.count, 'BLOCK', Math.min(blockMs, 50), 'STREAMS', ...unit.map((s) => s.key), ...unit.map(() => '>'))) as ReadReply;
      }
    }
    if (!reply) return undefined;
    const entries: MarketDataEntry[] = [];
    for (const [key, items] of streamEntries(reply)) {
      const s = this.streams.get(key) ?? { key, symbol: this.keys.symbolOf(key) ?? key, slotGroup: 0, pendingCursor: '0', pendingDone: true, claimCursor: '0-0', claimDone: true };
      const last = this.lastIds.get(key);
      for (const [idBuf, fields] of items) {
        const id = String(idBuf);
        if (last !== undefined && compareEntryIds(id, last) <= 0) {
          // Already committed by this consumer: the group was reset or recreated behind us.
          await this.client().xack(key, this.group, id);
          this.counters.duplicates++;
          this.metrics?.duplicates.inc({ group: this.group });
          continue;
        }
        const entry = await this.admit(s, id, fields, 1);
        if (entry) entries.push(entry);
      }
    }
    return entries.length > 0 ? { entries, origin: 'new' } : undefined;
  }

  /** Decodes one delivered entry; dead-letters it (and returns undefined) when it must not be handed out. */
  private async admit(s: StreamState, id: string, fields: Buffer[] | null, deliveries: number): Promise<MarketDataEntry | undefined> {
    if (fields === null) {
      // Pending, but trimmed or deleted from the stream before it was handled: gone.
      await this.client().xack(s.key, this.group, id);
      this.countLost(s, 1, 'pending');
      return undefined;
    }
    if (deliveries > this.maxDeliveries) {
      await this.deadLetter(s, id, fields, deliveries, 'deliveries', `delivered ${deliveries} times without being committed`);
      return undefined;
    }
    try {
      return { stream: s.key, id, symbol: s.symbol, messages: decodeEntryFields(fields), deliveries };
    } catch (error) {
      this.counters.decodeErrors++;
      this.metrics?.decodeErrors.inc({ group: this.group });
      const message = error instanceof TickCodecError ? error.message : `cannot decode: ${String(error)}`;
      await this.deadLetter(s, id, fields, deliveries, 'decode', message);
      return undefined;
    }
  }

  private async deadLetter(s: StreamState, id: string, fields: Buffer[], deliveries: number, reason: DeadLetterReason, error: string): Promise<void> {
    const client = this.client();
    const meta = [DLQ_FIELD_STREAM, s.key, DLQ_FIELD_ID, id, DLQ_FIELD_GROUP, this.group, DLQ_FIELD_CONSUMER, this.consumer, DLQ_FIELD_DELIVERIES, String(deliveries), DLQ_FIELD_REASON, reason, DLQ_FIELD_AT, String(this.clock.nowMicros())];
    const field = errorField(s.key, id);
    const preferNote = reason === 'deliveries';
    let recorded = error;
    if (!this.cluster) {
      await runScript(client, DEAD_LETTER, [this.stateKeys.deadLetter, s.key, this.stateKeys.errors], [this.group, id, this.deadLetterMaxLen, field, preferNote ? '1' : '0', error, ...meta, ...fields]);
    } else {
      // Other slots: dead letter first, then the ack (a crash in between repeats the dead letter, never loses it).
      if (preferNote) recorded = (await client.hget(this.stateKeys.errors, field)) ?? error;
      const trim = this.deadLetterMaxLen > 0 ? ['MAXLEN', '~', this.deadLetterMaxLen] : [];
      await client.call('XADD', this.stateKeys.deadLetter, ...trim, '*', DLQ_FIELD_ERROR, recorded, ...meta, ...fields);
      await client.xack(s.key, this.group, id);
      await client.hdel(this.stateKeys.errors, field);
    }
    this.counters.deadLettered++;
    this.metrics?.deadLettered.inc({ group: this.group, reason });
    this.log.error('market-data entry dead-lettered', { group: this.group, consumer: this.consumer, stream: s.key, id, deliveries, reason, error: recorded, deadLetter: this.stateKeys.deadLetter });
  }

  private countLost(s: StreamState, n: number, where: string): void {
    this.counters.lost += n;
    this.metrics?.lost.inc({ group: this.group }, n);
    this.log.warn('pending market-data entries were trimmed before being handled: lost', { group: this.group, stream: s.key, entries: n, where });
  }

  private handOut(batch: MarketDataBatch): MarketDataBatch {
    for (const e of batch.entries) this.outstanding.add(`${e.stream} ${e.id}`);
    this.counters.delivered += batch.entries.length;
    if (this.metrics) {
      this.metrics.delivered.inc({ group: this.group, origin: batch.origin }, batch.entries.length);
      const last = batch.entries[batch.entries.length - 1]?.messages.at(-1);
      const received = last ? (last.type === 'tick' ? last.tick.receiveTimeUs : last.trade.receiveTimeUs) : 0;
      if (received > 0) this.metrics.lag.set({ group: this.group }, Math.max(0, this.clock.nowMicros() - received) / 1e6);
    }
    return batch;
  }
}

export function createGroupConsumer(options: GroupConsumerOptions): GroupConsumer {
  return new GroupConsumer(options);
}

// ---------------------------------------------------------------------------------------------

function indexed(entries: readonly MarketDataEntry[]): { keys: string[]; pairs: (string | number)[] } {
  const index = new Map<string, number>();
  const pairs: (string | number)[] = [];
  for (const e of entries) {
    let i = index.get(e.stream);
    if (i === undefined) index.set(e.stream, (i = index.size + 1));
    pairs.push(i, e.id);
  }
  return { keys: [...index.keys()], pairs };
}

function parseOwed(raw: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  try {
    const parsed = JSON.parse(raw) as { owed?: Record<string, unknown> };
    for (const [stream, ids] of Object.entries(parsed.owed ?? {})) if (Array.isArray(ids)) out.set(stream, ids.map(String));
  } catch {
    // An unreadable note owes nothing we could act on.
  }
  return out;
}

/** Retries a command once on a retryable failure (the commit is idempotent by its token). */
async function retryOnce<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (!isRetryable(error)) throw error;
    await delay(RETRY_MS);
    return run();
  }
}

function positiveInt(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new ValidationError(`GroupConsumer option ${name} must be a positive integer (got ${value})`);
  return value;
}

function registerMetrics(registry: Registry) {
  const p = 'triquant_strategy_md_';
  // Several consumers (one per strategy group) may share a registry: reuse what is registered.
  const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
    (registry.getSingleMetric(`${p}${name}`) as Counter<L> | undefined) ?? new Counter<L>({ name: `${p}${name}`, help, labelNames, registers: [registry] });
  return {
    delivered: counter('delivered_total', 'Market-data stream entries handed to strategies, by origin (pending, reclaimed, new)', ['group', 'origin']),
    acked: counter('acked_total', 'Market-data entries acknowledged by commits', ['group']),
    reclaimed: counter('reclaimed_total', 'Market-data entries taken over from idle consumers (XAUTOCLAIM)', ['group']),
    deadLettered: counter('dead_lettered_total', 'Market-data entries moved to the dead-letter stream, by reason (deliveries, decode)', ['group', 'reason']),
    decodeErrors: counter('decode_errors_total', 'Market-data entries whose payload did not decode', ['group']),
    duplicates: counter('duplicates_total', 'New entries skipped as already committed by this consumer (group reset)', ['group']),
    lost: counter('lost_total', 'Pending entries trimmed from their stream before being handled', ['group']),
    fenced: counter('fenced_total', 'Commits refused because another consumer took over entries of the batch', ['group']),
    lag: (registry.getSingleMetric(`${p}lag_seconds`) as Gauge<'group'> | undefined) ??
      new Gauge<'group'>({ name: `${p}lag_seconds`, help: 'Gateway receive time of the last handed tick to its hand-out', labelNames: ['group'], registers: [registry] }),
  };
}
