/**
 * The publisher's one-command flush (standalone and Sentinel: one Lua script call per flush
 * instead of MULTI, one XADD per entry, EVAL checkpoint, EXEC) against real redis-server
 * processes: entries byte for byte as the codec builds them (binary payloads intact, every
 * compression), the checkpoint's forward-only rule, an entry Redis refuses as a duplicate
 * inside a flush while the rest is stored, SCRIPT FLUSH between flushes (NOSCRIPT), a
 * read-only server failing the whole call, and a redis-server restart mid-run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { ManualClock } from '../../src/core/clock.ts';
import { RedisConnection } from '../../src/bus/redis-connection.ts';
import { decodeEntryToFeedMessages, encodeEntryFields } from '../../src/bus/tick-codec.ts';
import type { TickCompression } from '../../src/bus/tick-codec.ts';
import type { Logger } from '../../src/obs/log.ts';
import { snapshot, T0, trade } from '../support/market-messages.ts';
import { encodeAll, FeedDecoder } from '../../src/protocol/feed/codec.ts';
import type { DataFrame } from '../../src/protocol/feed/codec.ts';
import { FrameTickBatch } from '../../src/gateway/feed-client.ts';
import { RedisStreamPublisher } from '../../src/gateway/redis-publisher.ts';
import type { RedisStreamPublisherOptions } from '../../src/gateway/redis-publisher.ts';
import type { MarketDataMessage, TickBatch } from '../../src/gateway/types.ts';
import { freePort, RedisTestServer, redisServerAvailable } from '../support/redis-server.ts';

const SKIP = redisServerAvailable() ? false : 'redis-server is not installed';
const SESSION = 1_735_000_000_123_456;
const NOW = T0 + 5_000_000; // the publisher's (manual) clock: publish time and checkpoint `at`


/** Symbols on two channels, each message the next seq of its channel, every third a trade. */
class Feed {
  readonly sent: MarketDataMessage[] = [];
  readonly sessionId: number;
  private readonly seqs = new Map<number, number>();
  private readonly symbols: readonly [string, number][];
  private i = 0;

  constructor(sessionId = SESSION, symbols: readonly [string, number][] = [['600000.SH', 1], ['601318.SH', 1], ['000001.SZ', 2], ['300750.SZ', 2]]) {
    this.sessionId = sessionId;
    this.symbols = symbols;
  }

  next(n: number): TickBatch {
    const messages: MarketDataMessage[] = [];
    for (let k = 0; k < n; k++) {
      const [symbol, channel] = this.symbols[this.i % this.symbols.length]!;
      const seq = (this.seqs.get(channel) ?? 0) + 1;
      this.seqs.set(channel, seq);
      messages.push(this.i % 3 === 2 ? trade(symbol, channel, seq) : snapshot(symbol, channel, seq));
      this.i++;
    }
    this.sent.push(...messages);
    return { feed: 'main', sessionId: this.sessionId, receivedAt: T0 + this.i * 10, messages };
  }

  lastSeq(channel: number): number {
    return this.seqs.get(channel) ?? 0;
  }
}

/** The batch as a feed client hands it over: wire frames, not decoded. */
function asFrames(batch: TickBatch): TickBatch {
  const frames: DataFrame[] = [];
  const decoder = new FeedDecoder({ onMessage: () => assert.fail('data frames only'), onDataFrame: (f) => frames.push(f) });
  decoder.push(encodeAll(batch.messages));
  return new FrameTickBatch(batch.feed, batch.sessionId, batch.receivedAt, frames);
}

function uniquePrefix(): string {
  return `s${randomBytes(4).toString('hex')}`;
}

function memoryLogger(lines: { level: string; message: string }[]): Logger {
  const at = (level: string) => (message: string) => void lines.push({ level, message });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}

function publisherOn(url: string, prefix: string, extra: Partial<RedisStreamPublisherOptions> = {}): RedisStreamPublisher {
  return new RedisStreamPublisher({
    connection: { mode: 'standalone', url, keyPrefix: prefix, reconnectMaxMs: 100 },
    clock: new ManualClock(NOW),
    retryInitialMs: 10,
    retryMaxMs: 100,
    closeGraceMs: 2_000,
    ...extra,
  });
}

function accept(publisher: RedisStreamPublisher, batch: TickBatch): void {
  assert.equal(publisher.onBatch(batch), undefined, 'accepted without waiting');
}

/** Hands over one batch and waits until it is in Redis: one batch = one flush. */
async function flushOne(publisher: RedisStreamPublisher, batch: TickBatch): Promise<void> {
  accept(publisher, batch);
  await publisher.drain(10_000);
}

async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** `INFO <section>` lines `<prefix><name>:…calls=N…` (or `count=N`) as name → N. */
async function infoCounts(client: Redis, section: string, prefix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await client.info(section)).split('\r\n')) {
    const m = new RegExp(`^${prefix}([^:]+):(?:calls|count)=(\\d+)`).exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** Asserts every stream holds exactly the feed's messages of its symbol, each once, in order, in entries `<session>-<last seq>`. */
async function assertExactlyOnce(client: Redis, publisher: RedisStreamPublisher, feed: Feed): Promise<void> {
  const bySymbol = new Map<string, MarketDataMessage[]>();
  for (const m of feed.sent) {
    let list = bySymbol.get(m.symbol);
    if (!list) bySymbol.set(m.symbol, (list = []));
    list.push(m);
  }
  for (const [symbol, messages] of bySymbol) {
    const entries = await client.xrangeBuffer(publisher.keys.streamKey(symbol), '-', '+');
    const stored: MarketDataMessage[] = [];
    for (const [id, fields] of entries) {
      const decoded = decodeEntryToFeedMessages(fields);
      assert.equal(id.toString(), `${feed.sessionId}-${decoded.at(-1)!.seq}`, `${symbol}: entry named after its last seq`);
      stored.push(...decoded);
    }
    assert.equal(stored.length, messages.length, `${symbol}: ${stored.length} ticks stored for ${messages.length} sent`);
    assert.deepEqual(stored, messages, `${symbol}: every tick once, in order, as sent`);
  }
}

describe('the publisher flush as one script call (standalone)', { skip: SKIP }, () => {
  let server: RedisTestServer;
  let client: Redis;

  before(async () => {
    server = await RedisTestServer.start();
    client = new Redis({ port: server.port, host: '127.0.0.1', retryStrategy: () => 20, maxRetriesPerRequest: null });
    client.on('error', () => {});
  });

  after(async () => {
    client.disconnect();
    await server.stop();
  });

  for (const compression of ['none', 'gzip', 'deflate'] as TickCompression[]) {
    test(`entries are stored byte for byte as the codec builds them (compression ${compression}), binary payloads intact, by one EVALSHA per flush`, { timeout: 20_000 }, async (t) => {
      const publisher = publisherOn(server.url, uniquePrefix(), { compression, maxTicksPerEntry: 4 });
      t.after(() => publisher.close());
      await publisher.connection.ready;
      await client.config('RESETSTAT');
      const feed = new Feed();
      const batches = [feed.next(1), feed.next(7), feed.next(24), feed.next(13)];
      for (const [i, batch] of batches.entries()) await flushOne(publisher, i % 2 === 1 ? asFrames(batch) : batch);

      // Expected: per flush (= batch) and symbol, runs of up to maxTicksPerEntry ticks, each
      // run one entry holding exactly what encodeEntryFields gives for its messages.
      const expected = new Map<string, { id: string; fields: (string | Buffer)[] }[]>();
      for (const batch of batches) {
        const bySymbol = new Map<string, MarketDataMessage[]>();
        for (const m of batch.messages) bySymbol.set(m.symbol, [...(bySymbol.get(m.symbol) ?? []), m]);
        for (const [symbol, messages] of bySymbol) {
          let list = expected.get(symbol);
          if (!list) expected.set(symbol, (list = []));
          for (let i = 0; i < messages.length; i += 4) {
            const run = messages.slice(i, i + 4);
            list.push({ id: `${SESSION}-${run.at(-1)!.seq}`, fields: encodeEntryFields(run, batch.receivedAt, compression, NOW) });
          }
        }
      }
      let notUtf8 = 0;
      for (const [symbol, want] of expected) {
        const got = await client.xrangeBuffer(publisher.keys.streamKey(symbol), '-', '+');
        assert.deepEqual(
          got.map(([id]) => id.toString()),
          want.map((e) => e.id),
          `${symbol}: entry IDs`,
        );
        got.forEach(([, fields], k) => {
          const wantFields = want[k]!.fields.map((f) => (Buffer.isBuffer(f) ? f : Buffer.from(f)));
          assert.equal(fields.length, wantFields.length, `${symbol} entry ${k}: field count`);
          fields.forEach((f, j) => assert.ok(f.equals(wantFields[j]!), `${symbol} entry ${k}: field ${j} byte for byte`));
          const data = fields[3]!;
          if (!Buffer.from(data.toString('utf8'), 'utf8').equals(data)) notUtf8++;
        });
      }
      assert.ok(notUtf8 > 0, 'payloads hold bytes that are not UTF-8 (so a string conversion anywhere would have shown)');
      assert.deepEqual(await client.hgetall(publisher.keys.checkpointKey('main')), {
        session: String(SESSION),
        'c:1': String(feed.lastSeq(1)),
        'c:2': String(feed.lastSeq(2)),
        at: String(NOW),
      });
      const calls = await infoCounts(client, 'commandstats', 'cmdstat_');
      assert.equal(calls.get('multi') ?? 0, 0, 'no MULTI');
      assert.equal(calls.get('exec') ?? 0, 0, 'no EXEC');
      assert.ok((calls.get('evalsha') ?? 0) >= batches.length - 1, `one EVALSHA per flush after the first (${calls.get('evalsha') ?? 0})`);
      assert.equal(publisher.stats().flushes, batches.length);
      assert.equal(publisher.stats().ticksOut, feed.sent.length);
      assert.equal(publisher.stats().entriesOut, [...expected.values()].flat().length);
    });
  }

  test('the checkpoint only moves forward: a newer session replaces it, an older one leaves it as it is', { timeout: 20_000 }, async (t) => {
    const publisher = publisherOn(server.url, uniquePrefix());
    t.after(() => publisher.close());
    const key = publisher.keys.checkpointKey('main');
    const first = new Feed(SESSION);
    await flushOne(publisher, first.next(12));
    assert.deepEqual(await client.hgetall(key), { session: String(SESSION), 'c:1': String(first.lastSeq(1)), 'c:2': String(first.lastSeq(2)), at: String(NOW) });
    // A newer session on channel 1 only: the hash starts again (c:2 gone).
    const newer = new Feed(SESSION + 1, [['600000.SH', 1], ['601318.SH', 1]]);
    await flushOne(publisher, newer.next(3));
    assert.deepEqual(await client.hgetall(key), { session: String(SESSION + 1), 'c:1': '3', at: String(NOW) });
    // An older session (on streams that have no entry yet, so its ticks are stored): ignored by the checkpoint.
    const older = new Feed(SESSION - 1, [['688981.SH', 1]]);
    await flushOne(publisher, older.next(5));
    assert.equal((await client.xlen(publisher.keys.streamKey('688981.SH'))), 1);
    assert.deepEqual(await client.hgetall(key), { session: String(SESSION + 1), 'c:1': '3', at: String(NOW) });
    assert.equal(publisher.stats().errors, 0);
  });

  test('an entry Redis refuses as not above its stream top is booked as duplicates; the rest of the flush is stored; the top is read again', { timeout: 20_000 }, async (t) => {
    const lines: { level: string; message: string }[] = [];
    const publisher = publisherOn(server.url, uniquePrefix(), { logger: memoryLogger(lines) });
    t.after(() => publisher.close());
    const feed = new Feed();
    await flushOne(publisher, feed.next(4)); // seqs 1-2 on both channels: every stream known
    // Something else writes above the publisher's view of the first symbol's top.
    const foreign = publisher.keys.streamKey('600000.SH');
    await client.xadd(foreign, `${SESSION}-1000`, 'x', 'y');
    const topReads = publisher.stats().topReads;
    const batch = feed.next(8); // 600000.SH is the first entry of the flush: it fails, the others go on
    assert.equal(batch.messages[0]!.symbol, '600000.SH');
    await flushOne(publisher, batch);
    const stats = publisher.stats();
    assert.equal(stats.duplicates, 2, "600000.SH's two ticks of the flush");
    assert.equal(stats.ticksOut, 4 + 6);
    assert.equal(stats.dropped, 0);
    assert.equal(stats.errors, 0);
    assert.equal(lines.filter((l) => l.level === 'warn' && /not above the stream top/.test(l.message)).length, 1);
    for (const symbol of ['601318.SH', '000001.SZ', '300750.SZ']) {
      const messages = (await client.xrangeBuffer(publisher.keys.streamKey(symbol), '-', '+')).flatMap(([, f]) => decodeEntryToFeedMessages(f));
      assert.deepEqual(messages, feed.sent.filter((m) => m.symbol === symbol), `${symbol}: stored`);
    }
    assert.equal((await client.hgetall(publisher.keys.checkpointKey('main')))['c:2'], String(feed.lastSeq(2)), 'the checkpoint is written too');
    // The next flush reads that stream's top again (1000) and drops its ticks below it.
    await flushOne(publisher, feed.next(4));
    assert.equal(publisher.stats().topReads, topReads + 1);
    assert.equal(publisher.stats().duplicates, 3);
    assert.equal(await client.xlen(foreign), 2, 'the first flush and the foreign entry only');
  });

  test('SCRIPT FLUSH between flushes: the NOSCRIPT reply is answered by sending the script again; nothing lost or doubled', { timeout: 20_000 }, async (t) => {
    const publisher = publisherOn(server.url, uniquePrefix());
    t.after(() => publisher.close());
    await publisher.connection.ready;
    await client.config('RESETSTAT');
    const feed = new Feed();
    await flushOne(publisher, feed.next(6));
    await flushOne(publisher, feed.next(6));
    for (let i = 0; i < 3; i++) {
      await client.script('FLUSH');
      await flushOne(publisher, feed.next(5 + i));
    }
    await assertExactlyOnce(client, publisher, feed);
    const errors = await infoCounts(client, 'errorstats', 'errorstat_');
    assert.equal(errors.get('NOSCRIPT'), 3, 'each flush after SCRIPT FLUSH met NOSCRIPT once');
    const stats = publisher.stats();
    assert.equal(stats.errors, 0, 'not a failed flush');
    assert.equal(stats.flushes, 5);
    assert.equal(stats.duplicates, 0);
  });

  test('a read-only Redis (a replica now) fails the whole call with READONLY, which ioredis sees (Sentinel reconnects on it); nothing is written until it is writable again', { timeout: 20_000 }, async (t) => {
    const seen: string[] = [];
    const shared = new Redis({
      port: server.port,
      host: '127.0.0.1',
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => 20,
      reconnectOnError: (error) => {
        seen.push(error.message);
        return false;
      },
    });
    shared.on('error', () => {});
    const connection = new RedisConnection(shared, { keyPrefix: uniquePrefix() });
    const publisher = new RedisStreamPublisher({ connection, clock: new ManualClock(NOW), retryInitialMs: 10, retryMaxMs: 50 });
    t.after(async () => {
      await client.replicaof('NO', 'ONE');
      await publisher.close();
      shared.disconnect();
    });
    await connection.ready;
    const feed = new Feed();
    await flushOne(publisher, feed.next(8));
    // A master that is not there: the server stays read-only and keeps its data.
    await client.replicaof('127.0.0.1', String(await freePort()));
    accept(publisher, feed.next(8));
    await waitFor(() => publisher.stats().errors >= 2, 'failed flushes');
    assert.ok(seen.some((m) => m.startsWith('READONLY')), `READONLY reached reconnectOnError (saw ${JSON.stringify(seen)})`);
    assert.equal(publisher.stats().bufferTicks, 8);
    for (const symbol of ['600000.SH', '000001.SZ']) assert.equal(await client.xlen(publisher.keys.streamKey(symbol)), 1, `${symbol}: nothing written while read-only`);
    await client.replicaof('NO', 'ONE');
    await publisher.drain(10_000);
    await assertExactlyOnce(client, publisher, feed);
    assert.equal(publisher.stats().dropped, 0);
  });
});

describe('the publisher flush as one script call across a redis-server restart', { skip: SKIP }, () => {
  test('redis-server SIGKILLed and restarted mid-run (AOF; its script cache empty): every tick stored exactly once, in order', { timeout: 60_000 }, async () => {
    const server = await RedisTestServer.start({ appendonly: true, appendfsync: 'always' });
    const client = new Redis({ port: server.port, host: '127.0.0.1', retryStrategy: () => 20, maxRetriesPerRequest: null });
    client.on('error', () => {});
    const publisher = publisherOn(server.url, uniquePrefix());
    const feed = new Feed();
    try {
      for (let i = 0; i < 240; i++) {
        const batch = feed.next(1 + (i % 7));
        await publisher.onBatch(i % 2 === 0 ? batch : asFrames(batch));
        if (i === 80) await server.kill();
        if (i === 160) await server.restart();
        if (i % 10 === 0) await sleep(2);
      }
      await publisher.drain(20_000);
      await assertExactlyOnce(client, publisher, feed);
      const stats = publisher.stats();
      assert.equal(stats.dropped, 0);
      assert.ok(stats.outages >= 1, 'the outage was noticed');
      const calls = await infoCounts(client, 'commandstats', 'cmdstat_');
      assert.ok((calls.get('evalsha') ?? 0) + (calls.get('eval') ?? 0) > 0, 'the restarted server ran the flush script');
      assert.equal(calls.get('multi') ?? 0, 0);
      // ioredis sends the script's text first on every new socket: no NOSCRIPT round trip needed.
      assert.equal((await infoCounts(client, 'errorstats', 'errorstat_')).get('NOSCRIPT') ?? 0, 0);
      const position = await publisher.lastPublished('main');
      assert.equal(position?.lastSeqByChannel.get(1), feed.lastSeq(1));
      assert.equal(position?.lastSeqByChannel.get(2), feed.lastSeq(2));
    } finally {
      await publisher.close();
      client.disconnect();
      await server.stop();
    }
  });
});
