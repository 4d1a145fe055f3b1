/**
 * The gateway's Redis Streams publisher against real redis-server processes (started here on
 * free ports, unique key prefixes per test): one entry per symbol per flush holding several
 * ticks, IDs and order; exactly once whatever the batch boundaries of a resend (in-process
 * resends, a fresh publisher replaying overlapping ranges, a flush whose outcome is unknown,
 * redis-server SIGKILLed with and without AOF); trimming; compression; both buffer-overflow
 * policies; lastPublished; Redis Cluster and Sentinel. Plus the key scheme and the codec
 * (the hand-written protobuf writer is byte-identical to the generated encoder).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { ManualClock } from '../../src/core/clock.ts';
import {
  checkKeySchemeMeta,
  compareEntryIds,
  entryId,
  fnv1a32,
  isDuplicateIdError,
  KeySchemeMismatchError,
  MarketDataKeys,
  parseEntryId,
} from '../../src/bus/market-data-keys.ts';
import { RedisConnection, RedisConnectionClosedError } from '../../src/bus/redis-connection.ts';
import type { RedisConnectionState } from '../../src/bus/redis-connection.ts';
import {
  decodeEntryBatch,
  decodeEntryFields,
  decodeEntryToFeedMessages,
  encodeEntryFields,
  MarketDataBatchWriter,
  snapshotToTick,
  TickCodecError,
  tradeToProto,
} from '../../src/bus/tick-codec.ts';
import { MarketDataBatch, Tick, Trade } from '../../src/protocol/gen/triquant/v1/market_data.ts';
import type { Logger } from '../../src/obs/log.ts';
import { PHASE_CODE } from '../../src/protocol/feed/frames.ts';
import type { SnapshotMessage, TradeMessage, TradingPhase } from '../../src/protocol/feed/frames.ts';
import { snapshot, T0, trade } from '../support/market-messages.ts';
import { PublisherClosedError, RedisStreamPublisher } from '../../src/gateway/redis-publisher.ts';
import type { RedisStreamPublisherOptions } from '../../src/gateway/redis-publisher.ts';
import type { MarketDataMessage, TickBatch } from '../../src/gateway/types.ts';
import { FrameTickBatch } from '../../src/gateway/feed-client.ts';
import { encodeAll, FeedDecoder } from '../../src/protocol/feed/codec.ts';
import type { DataFrame } from '../../src/protocol/feed/codec.ts';
import { RedisTestCluster, RedisTestServer, redisServerAvailable, startSentinel } from '../support/redis-server.ts';

const SKIP = redisServerAvailable() ? false : 'redis-server is not installed';
const SESSION = 1_735_000_000_123_456; // µs: the feed server's start


/**
 * A deterministic feed: symbols on two channels (SSE = 1, SZSE = 2), each message the next seq
 * of its channel, every 4th a trade. `next(n)` yields a batch of n messages.
 */
class SyntheticFeed {
  readonly feed: string;
  readonly sessionId: number;
  readonly sent: MarketDataMessage[] = [];
  private readonly seqs = new Map<number, number>([[1, 0], [2, 0]]);
  private readonly symbols: [string, number][];
  private i = 0;

  constructor(feed = 'main', sessionId = SESSION, symbols: [string, number][] = [['600000.SH', 1], ['601318.SH', 1], ['000001.SZ', 2], ['300750.SZ', 2]]) {
    this.feed = feed;
    this.sessionId = sessionId;
    this.symbols = symbols;
  }

  next(n: number): TickBatch {
    const messages: MarketDataMessage[] = [];
    for (let k = 0; k < n; k++) {
      const [symbol, channel] = this.symbols[this.i % this.symbols.length]!;
      const seq = this.seqs.get(channel)! + 1;
      this.seqs.set(channel, seq);
      messages.push(this.i % 4 === 3 ? trade(symbol, channel, seq) : snapshot(symbol, channel, seq));
      this.i++;
    }
    this.sent.push(...messages);
    return { feed: this.feed, sessionId: this.sessionId, receivedAt: T0 + this.i * 10, messages };
  }

  /** Re-batches already sent messages `from..to` (indexes into `sent`) into batches of `size`: a resend with other boundaries. */
  resend(from: number, to: number, size: number): TickBatch[] {
    const out: TickBatch[] = [];
    for (let i = from; i < to; i += size) out.push({ feed: this.feed, sessionId: this.sessionId, receivedAt: T0 + i * 10, messages: this.sent.slice(i, Math.min(i + size, to)) });
    return out;
  }

  bySymbol(): Map<string, MarketDataMessage[]> {
    const out = new Map<string, MarketDataMessage[]>();
    for (const m of this.sent) {
      let list = out.get(m.symbol);
      if (!list) out.set(m.symbol, (list = []));
      list.push(m);
    }
    return out;
  }
}

/** The batch as the feed client hands it over: validated wire frames, never decoded (the publisher transcodes them). */
function asFrames(batch: TickBatch): TickBatch {
  const frames: DataFrame[] = [];
  const decoder = new FeedDecoder({ onMessage: () => assert.fail('data frames only'), onDataFrame: (f) => frames.push(f) });
  decoder.push(encodeAll(batch.messages));
  return new FrameTickBatch(batch.feed, batch.sessionId, batch.receivedAt, frames);
}

/** A frame batch whose decoded messages must never be asked for (proves the publisher transcodes). */
function undecodable(batch: TickBatch): TickBatch {
  const frames = asFrames(batch);
  return Object.defineProperty(frames, 'messages', { get: () => assert.fail('the publisher decoded a frame batch') });
}

function uniquePrefix(): string {
  return `t${randomBytes(4).toString('hex')}`;
}

interface LogLine {
  level: string;
  message: string;
  fields: Record<string, unknown> | undefined;
}

function memoryLogger(lines: LogLine[]): Logger {
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, fields });
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}

/** The entries of a stream, decoded: each with its ID and its messages in order. */
async function readEntries(client: Redis, key: string): Promise<{ id: string; messages: MarketDataMessage[] }[]> {
  const entries = await client.xrangeBuffer(key, '-', '+');
  return entries.map(([id, fields]) => ({ id: id.toString(), messages: decodeEntryToFeedMessages(fields) }));
}

/** Every message stored in a stream, in stream order, with the ID of the entry holding it. */
async function readStream(client: Redis, key: string): Promise<{ id: string; message: MarketDataMessage }[]> {
  return (await readEntries(client, key)).flatMap((e) => e.messages.map((message) => ({ id: e.id, message })));
}

/** Asserts the entries of a stream: IDs strictly increasing, each `<session>-<seq of its last message>`. */
function assertEntryIds(entries: readonly { id: string; messages: readonly MarketDataMessage[] }[], sessionOf: (id: string) => number, what: string): void {
  entries.forEach((e, i) => {
    assert.ok(e.messages.length > 0, `${what}: entry ${e.id} is empty`);
    assert.equal(e.id, entryId(sessionOf(e.id), e.messages.at(-1)!.seq), `${what}: entry ${i} is named after its last seq`);
    if (i > 0) assert.ok(compareEntryIds(entries[i - 1]!.id, e.id) < 0, `${what}: entry IDs strictly increase`);
  });
}

/** Asserts every stream holds exactly the feed's messages of its symbol, each once, in order, in entries named after their last seq. */
async function assertExactlyOnce(client: Redis, keys: MarketDataKeys, feed: SyntheticFeed): Promise<{ entries: number; ticks: number }> {
  let entries = 0;
  let ticks = 0;
  for (const [symbol, messages] of feed.bySymbol()) {
    const got = await readEntries(client, keys.streamKey(symbol));
    assertEntryIds(got, () => feed.sessionId, symbol);
    const stored = got.flatMap((e) => e.messages);
    assert.equal(stored.length, messages.length, `${symbol}: ${stored.length} ticks stored for ${messages.length} sent`);
    assert.deepEqual(stored, messages, `${symbol}: every tick once, in order, exactly as sent`);
    entries += got.length;
    ticks += stored.length;
  }
  return { entries, ticks };
}

async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Hands a batch over that must be accepted at once (no backpressure). */
function accept(publisher: RedisStreamPublisher, batch: TickBatch): void {
  assert.equal(publisher.onBatch(batch), undefined, 'accepted without waiting');
}

function publisherOn(server: RedisTestServer, prefix: string, extra: Partial<RedisStreamPublisherOptions> = {}): RedisStreamPublisher {
  return new RedisStreamPublisher({
    connection: { mode: 'standalone', url: server.url, keyPrefix: prefix, reconnectMaxMs: 100 },
    clock: new ManualClock(T0 + 1_000_000),
    retryInitialMs: 10,
    retryMaxMs: 100,
    closeGraceMs: 2_000,
    ...extra,
  });
}

// ---------------------------------------------------------------------------------------------

describe('key scheme, entry IDs and payload codec', () => {
  test('stream keys carry the slot-group hash tag; groupKeys groups symbols by slot', () => {
    const keys = new MarketDataKeys({ prefix: 'tq', slotGroups: 16 });
    assert.equal(fnv1a32(''), 0x811c9dc5);
    assert.equal(fnv1a32('a'), 0xe40c292c);
    const g = fnv1a32('600000.SH') % 16;
    assert.equal(keys.streamKey('600000.SH'), `tq:md:{g${g}}:600000.SH`);
    assert.equal(keys.symbolOf(keys.streamKey('600000.SH')), '600000.SH');
    assert.equal(keys.symbolOf('tq:md:{g99}:600000.SH'), undefined);
    const symbols = ['600000.SH', '601318.SH', '000001.SZ', '300750.SZ', '688981.SH', '600000.SH'];
    const groups = keys.groupKeys(symbols);
    assert.equal([...groups.values()].flat().length, 5, 'duplicates removed');
    for (const [group, list] of groups) for (const key of list) assert.ok(key.includes(`{g${group}}`));
    assert.deepEqual([...groups.keys()], [...groups.keys()].sort((a, b) => a - b));
    assert.equal(keys.checkpointKey('main'), 'tq:md:ckpt:main');
    assert.throws(() => keys.streamKey(''), /symbol/);
    assert.throws(() => keys.streamKey('600 000'), /symbol/);
    assert.throws(() => new MarketDataKeys({ prefix: 'a{b}' }), /prefix/);
    assert.throws(() => new MarketDataKeys({ prefix: 'tq', slotGroups: 0 }), /slotGroups/);
  });

  test('entry IDs increase with seq within a session and across sessions', () => {
    assert.equal(entryId(SESSION, 7), `${SESSION}-7`);
    assert.deepEqual(parseEntryId(entryId(SESSION, 7)), { sessionId: SESSION, seq: 7 });
    assert.equal(parseEntryId('garbage'), undefined);
    assert.ok(compareEntryIds(entryId(SESSION, 9), entryId(SESSION, 10)) < 0);
    assert.ok(compareEntryIds(entryId(SESSION, 999_999), entryId(SESSION + 1, 1)) < 0, 'a later session sorts after');
    assert.equal(compareEntryIds('5-5', '5-5'), 0);
    assert.throws(() => entryId(SESSION, 0), /seq/);
    assert.throws(() => entryId(-1, 1), /sessionId/);
    assert.throws(() => entryId(SESSION, 2 ** 53), /seq/);
  });

  test('codec: an entry of several snapshots and trades round-trips exactly, with and without compression', () => {
    const messages: MarketDataMessage[] = [snapshot('600000.SH', 1, 8), trade('600000.SH', 1, 9), snapshot('600000.SH', 1, 41), trade('600000.SH', 1, 44), snapshot('600000.SH', 1, 45)];
    for (const compression of ['none', 'gzip', 'deflate'] as const) {
      const fields = encodeEntryFields(messages, T0 + 5, compression, T0 + 9);
      assert.deepEqual(fields.slice(0, 2), ['t', 'b']);
      assert.equal(fields.includes('z'), compression !== 'none');
      assert.deepEqual(decodeEntryToFeedMessages(fields), messages, 'feed order restored: ticks and trades merged by seq');
      // Payloads handed over as latin1 strings decode too (ioredis' string replies are UTF-8: use the Buffer variants).
      const decoded = decodeEntryFields(fields.map((f) => (Buffer.isBuffer(f) ? f.toString('latin1') : f)));
      assert.deepEqual(decoded.map((m) => [m.type, m.seq]), [['tick', 8], ['trade', 9], ['tick', 41], ['trade', 44], ['tick', 45]]);
      assert.ok(decoded.every((m) => (m.type === 'tick' ? m.tick.receiveTimeUs : m.trade.receiveTimeUs) === T0 + 5));
      assert.equal(decodeEntryBatch(fields).publishTimeUs, T0 + 9);
    }
    // One receive time per message (a flush spans several socket reads).
    const perMessage = decodeEntryFields(encodeEntryFields(messages, messages.map((_, i) => T0 + i)));
    assert.deepEqual(perMessage.map((m) => (m.type === 'tick' ? m.tick.receiveTimeUs : m.trade.receiveTimeUs)), [T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4]);
    // Entries of the first format (one Tick or Trade each) still decode.
    const tick = snapshot('600000.SH', 1, 3);
    assert.deepEqual(decodeEntryToFeedMessages(['t', 's', 'd', Buffer.from(Tick.encode(snapshotToTick(tick, T0)).finish())]), [tick]);
    const tr = trade('600000.SH', 1, 4);
    assert.deepEqual(decodeEntryToFeedMessages(['t', 't', 'd', Buffer.from(Trade.encode(tradeToProto(tr, T0)).finish())]), [tr]);
  });

  test('codec: the wire writer is byte-identical to the generated MarketDataBatch encoder, and the round trip is exact', () => {
    const int = fc.oneof(fc.constant(0), fc.integer({ min: -5, max: 300 }), fc.integer({ min: -(2 ** 31), max: 2 ** 32 + 5 }), fc.maxSafeInteger());
    const uint = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 2 ** 20 }), fc.maxSafeNat());
    const level = fc.oneof(fc.constant({ price: 0, qty: 0, orders: 0 }), fc.record({ price: int, qty: int, orders: int }, { noNullPrototype: true }));
    const symbol = fc.oneof(fc.constantFrom('600000.SH', '000001.SZ', '830799.BJ'), fc.string({ minLength: 1, maxLength: 40 }), fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }));
    const snapshotArb = fc.record({
      type: fc.constant('snapshot' as const),
      channel: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      symbol,
      eventTime: int,
      phase: fc.constantFrom(...(Object.keys(PHASE_CODE) as TradingPhase[])),
      lastPrice: int,
      openPrice: int,
      highPrice: int,
      lowPrice: int,
      prevClosePrice: int,
      upperLimitPrice: int,
      lowerLimitPrice: int,
      volume: int,
      turnover: int,
      bids: fc.array(level, { minLength: 10, maxLength: 10 }),
      asks: fc.array(level, { minLength: 10, maxLength: 10 }),
    }, { noNullPrototype: true });
    const tradeArb = fc.record({
      type: fc.constant('trade' as const),
      channel: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      symbol,
      time: int,
      price: int,
      qty: int,
      aggressor: fc.constantFrom('NONE' as const, 'BUY' as const, 'SELL' as const),
      buyOrderId: uint,
      sellOrderId: uint,
    }, { noNullPrototype: true });
    const writer = new MarketDataBatchWriter(1_024); // small: the writer must grow
    fc.assert(
      fc.property(fc.array(fc.oneof(snapshotArb, tradeArb), { minLength: 1, maxLength: 12 }), int, int, (messages, receivedAt, publishTimeUs) => {
        const snapshots = messages.filter((m): m is SnapshotMessage => m.type === 'snapshot');
        const trades = messages.filter((m): m is TradeMessage => m.type === 'trade');
        writer.reset();
        for (const m of [...snapshots, ...trades]) writer.append(m, receivedAt);
        writer.publishTime(publishTimeUs);
        const expected = MarketDataBatch.encode({ ticks: snapshots.map((m) => snapshotToTick(m, receivedAt)), trades: trades.map((m) => tradeToProto(m, receivedAt)), publishTimeUs }).finish();
        assert.deepEqual(writer.toBuffer(), Buffer.from(expected));
        const decoded = MarketDataBatch.decode(writer.view());
        assert.deepEqual(decoded.ticks.map((t) => t.seq), snapshots.map((m) => m.seq));
        assert.deepEqual(decoded.publishTimeUs, publishTimeUs);
      }),
      { numRuns: 300 },
    );
    // Feed messages as the decoder yields them come back exactly.
    fc.assert(
      fc.property(fc.array(fc.oneof(snapshotArb, tradeArb), { minLength: 1, maxLength: 8 }), (raw) => {
        const messages = raw.map((m, i) => ({ ...m, channel: 1, seq: 1 + i * 3, symbol: '600000.SH' }));
        assert.deepEqual(decodeEntryToFeedMessages(encodeEntryFields(messages, T0)), messages);
      }),
      { numRuns: 200 },
    );
  });

  test('codec: values the protobuf cannot carry are refused with TickCodecError, leaving the writer as it was', () => {
    const writer = new MarketDataBatchWriter();
    writer.append(snapshot('600000.SH', 1, 1), T0);
    const before = writer.toBuffer();
    const bad: MarketDataMessage[] = [
      { ...snapshot('600000.SH', 1, 2), lastPrice: 1.5 },
      { ...snapshot('600000.SH', 1, 2), volume: 2 ** 53 },
      { ...snapshot('600000.SH', 1, 2), turnover: Number.NaN },
      { ...snapshot('600000.SH', 1, 2), phase: 'LUNCH' as TradingPhase },
      { ...snapshot('600000.SH', 1, 2), bids: [{ price: 1, qty: 1, orders: 0.5 }] },
      { ...snapshot('600000.SH', 1, 2), channel: -1 },
      { ...trade('600000.SH', 1, 2), seq: -3 },
      { ...trade('600000.SH', 1, 2), buyOrderId: -1 },
      { ...trade('600000.SH', 1, 2), aggressor: 'UP' as TradeMessage['aggressor'] },
    ];
    for (const m of bad) assert.throws(() => writer.append(m, T0), TickCodecError, JSON.stringify(m).slice(0, 120));
    assert.throws(() => writer.append(snapshot('600000.SH', 1, 2), 0.5), TickCodecError);
    assert.deepEqual(writer.toBuffer(), before);
  });

  test('malformed entries raise TickCodecError, never anything else', () => {
    const batch = (ticks: Tick[], trades: Trade[] = []) => Buffer.from(MarketDataBatch.encode({ ticks, trades, publishTimeUs: 0 }).finish());
    const t = (seq: number) => snapshotToTick(snapshot('600000.SH', 1, seq), T0);
    const bad: (string | Buffer)[][] = [
      [],
      ['t', 'b'],
      ['t', 'x', 'd', Buffer.from([1, 2, 3])],
      ['t', 'b', 'd', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])],
      ['t', 's', 'd', Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])],
      ['t', 'b', 'd', Buffer.from('not gzip'), 'z', 'g'],
      ['t', 'b', 'd', Buffer.from([1, 2]), 'z', '?'],
      ['t', 's', 'd', Buffer.from([0x30, 0x63])], // field 6 (phase) = 99: decodes, but no such phase
      ['t', 'b', 'd', batch([])], // no messages
      ['t', 'b', 'd', batch([t(5), t(5)])], // the same seq twice
      ['t', 'b', 'd', batch([t(7), t(5)])], // out of order
      ['t', 'b', 'd', batch([t(5)], [tradeToProto(trade('600000.SH', 1, 5), T0)])], // a tick and a trade with one seq
      ['t', 'b', 'd', batch([{ ...t(5), phase: 99 as Tick['phase'] }])],
    ];
    for (const fields of bad) assert.throws(() => decodeEntryToFeedMessages(fields), TickCodecError, JSON.stringify(fields));
  });
});

describe('RedisStreamPublisher on a standalone redis-server', { skip: SKIP }, () => {
  let server: RedisTestServer;
  let client: Redis;

  before(async () => {
    server = await RedisTestServer.start();
    client = new Redis(server.port, '127.0.0.1');
  });
  after(async () => {
    client?.disconnect();
    await server?.stop();
  });

  test('publishes batches: exact payloads, derived IDs, order per symbol, checkpoint', { timeout: 20_000 }, async (t) => {
    const prefix = uniquePrefix();
    const publisher = publisherOn(server, prefix);
    t.after(() => publisher.close());
    const feed = new SyntheticFeed();
    for (let i = 0; i < 20; i++) assert.equal(publisher.onBatch(feed.next(1 + (i % 7))), undefined, 'accepted at once');
    await publisher.drain(5_000);
    const stored = await assertExactlyOnce(client, publisher.keys, feed);
    const stats = publisher.stats();
    assert.equal(stats.ticksOut, feed.sent.length);
    assert.equal(stats.entriesOut, stored.entries);
    assert.ok(stored.entries < stored.ticks, `entries hold several ticks: ${stored.entries} entries for ${stored.ticks} ticks`);
    assert.equal(stats.duplicates, 0);
    assert.equal(stats.topReads, 4, 'each new stream\'s top read once');
    assert.equal(stats.bufferTicks, 0);
    assert.ok(stats.flushes >= 1 && stats.flushes <= 20, `natural batching: ${stats.flushes} flushes for 20 batches`);
    const position = await publisher.lastPublished('main');
    assert.equal(position?.sessionId, SESSION);
    const lastSeq = (channel: number) => Math.max(...feed.sent.filter((m) => m.channel === channel).map((m) => m.seq));
    assert.deepEqual([...(position?.lastSeqByChannel ?? [])].sort(), [[1, lastSeq(1)], [2, lastSeq(2)]]);
    assert.equal(await publisher.lastPublished('other'), undefined);
    assert.deepEqual(await client.hgetall(`${prefix}:md:meta`), { slotGroups: '16', idRule: '2', hash: 'fnv1a32' });
    const metrics = await publisher.registry.metrics();
    assert.match(metrics, new RegExp(`triquant_gateway_redis_ticks_out_total ${feed.sent.length}`));
    assert.match(metrics, new RegExp(`triquant_gateway_redis_entries_out_total ${stored.entries}`));
    assert.match(metrics, /triquant_gateway_redis_publish_latency_seconds_count 20/);
    await publisher.close();
  });

  test('batches of wire frames (as from a feed) are stored byte for byte as the same messages would be, without decoding them', { timeout: 20_000 }, async (t) => {
    const fromMessages = publisherOn(server, uniquePrefix());
    const fromFrames = publisherOn(server, uniquePrefix());
    t.after(() => Promise.all([fromMessages.close(), fromFrames.close()]));
    await Promise.all([fromMessages.connection.ready, fromFrames.connection.ready]);
    const feed = new SyntheticFeed();
    for (let i = 0; i < 12; i++) {
      const batch = feed.next(1 + ((i * 5) % 23));
      accept(fromMessages, batch);
      accept(fromFrames, undecodable(batch));
      // The same flush boundaries for both: drain after each batch.
      await Promise.all([fromMessages.drain(5_000), fromFrames.drain(5_000)]);
    }
    await assertExactlyOnce(client, fromFrames.keys, feed);
    for (const symbol of feed.bySymbol().keys()) {
      const a = await client.xrangeBuffer(fromMessages.keys.streamKey(symbol), '-', '+');
      const b = await client.xrangeBuffer(fromFrames.keys.streamKey(symbol), '-', '+');
      assert.deepEqual(b, a, `${symbol}: same IDs and payload bytes`);
    }
    assert.deepEqual({ ...fromFrames.stats() }, { ...fromMessages.stats() });
  });

  test('one entry per symbol per flush: all its ticks in seq order, ID = last seq, payload = the generated MarketDataBatch bytes', { timeout: 20_000 }, async (t) => {
    const publisher = publisherOn(server, uniquePrefix());
    t.after(() => publisher.close());
    await publisher.connection.ready;
    const feed = new SyntheticFeed('main', SESSION, [['600000.SH', 1], ['601318.SH', 1], ['000001.SZ', 2]]);
    const batch = feed.next(42); // 3 symbols: 14 messages each, every 4th a trade
    accept(publisher, batch);
    await publisher.drain(5_000);
    assert.equal(publisher.stats().flushes, 1);
    assert.equal(publisher.stats().entriesOut, 3);
    for (const [symbol, messages] of feed.bySymbol()) {
      const raw = await client.xrangeBuffer(publisher.keys.streamKey(symbol), '-', '+');
      assert.equal(raw.length, 1, `${symbol}: one entry`);
      const [id, fields] = raw[0]!;
      assert.equal(id.toString(), entryId(SESSION, messages.at(-1)!.seq));
      assert.deepEqual(fields.map((f, i) => (i === 3 ? '<payload>' : f.toString())), ['t', 'b', 'd', '<payload>']);
      const snapshots = messages.filter((m): m is SnapshotMessage => m.type === 'snapshot');
      const trades = messages.filter((m): m is TradeMessage => m.type === 'trade');
      assert.ok(snapshots.length > 1 && trades.length > 0);
      const expected = MarketDataBatch.encode({
        ticks: snapshots.map((m) => snapshotToTick(m, batch.receivedAt)),
        trades: trades.map((m) => tradeToProto(m, batch.receivedAt)),
        publishTimeUs: T0 + 1_000_000, // the publisher's clock
      }).finish();
      assert.deepEqual(fields[3], Buffer.from(expected), 'byte-identical to the generated encoder');
      assert.deepEqual(decodeEntryToFeedMessages(fields), messages, 'and back to the exact feed messages, in order');
      assert.deepEqual(decodeEntryFields(fields).map((m) => m.seq), messages.map((m) => m.seq));
    }
    await publisher.close();
  });

  test('a resend never creates a duplicate: ticks at or below the stream top are dropped and counted, whatever the boundaries', { timeout: 20_000 }, async (t) => {
    const publisher = publisherOn(server, uniquePrefix());
    t.after(() => publisher.close());
    const feed = new SyntheticFeed();
    const batches = Array.from({ length: 10 }, () => feed.next(5));
    for (const b of batches) await publisher.onBatch(b);
    await publisher.drain(5_000);
    // A gateway restart replays everything; a retransmission overlaps the tail; a resend
    // regroups the ticks (other batch boundaries) and runs past the end.
    for (const b of batches) await publisher.onBatch(b);
    await publisher.onBatch({ ...batches[9]!, messages: batches[9]!.messages.slice(2) });
    feed.next(6); // six new ticks: they reach the publisher only inside the regrouped resend
    for (const b of feed.resend(41, 56, 4)) await publisher.onBatch(b);
    await publisher.drain(5_000);
    await assertExactlyOnce(client, publisher.keys, feed);
    assert.equal(publisher.stats().ticksOut, 56);
    assert.equal(publisher.stats().duplicates, 53 + 9);
    assert.equal(publisher.stats().errors, 0);
    // A new feed session (larger sessionId, seqs restart at 1) appends after the old one.
    const next = new SyntheticFeed('main', SESSION + 60_000_000);
    await publisher.onBatch(next.next(8));
    await publisher.drain(5_000);
    const entries = await readStream(client, publisher.keys.streamKey('600000.SH'));
    assert.equal(entries.at(-1)!.id, entryId(SESSION + 60_000_000, 3));
    assert.equal((await publisher.lastPublished('main'))?.sessionId, SESSION + 60_000_000);
    assert.deepEqual([...(await publisher.lastPublished('main'))!.lastSeqByChannel].sort(), [[1, 4], [2, 4]]);
    // Redis' own refusal is what makes this work:
    await assert.rejects(client.xadd(publisher.keys.streamKey('600000.SH'), entryId(SESSION, 1), 'x', '1'), (e: unknown) => isDuplicateIdError(e));
    await publisher.close();
  });

  test('a fresh publisher (nothing in memory) replaying overlapping ranges with other batch boundaries stores every tick exactly once', { timeout: 20_000 }, async (t) => {
    const prefix = uniquePrefix();
    const first = publisherOn(server, prefix);
    t.after(() => first.close());
    const feed = new SyntheticFeed();
    for (let i = 0; i < 15; i++) accept(first, feed.next(7));
    await first.drain(5_000);
    await first.close();
    const storedBefore = feed.sent.length; // 105
    feed.next(40);
    // A restarted gateway resumes from an older position (a lagging checkpoint) with batches
    // of 11: most batches are all old, one straddles the stream tops, the rest are new.
    const second = publisherOn(server, prefix);
    t.after(() => second.close());
    for (const b of feed.resend(60, feed.sent.length, 11)) await second.onBatch(b);
    // ...and a retransmission overlapping both, grouped once more differently.
    for (const b of feed.resend(90, 130, 17)) await second.onBatch(b);
    await second.drain(5_000);
    const stored = await assertExactlyOnce(client, second.keys, feed);
    assert.ok(stored.entries < stored.ticks);
    assert.equal(second.stats().ticksOut, 40);
    assert.equal(second.stats().duplicates, storedBefore - 60 + 40);
    assert.equal(second.stats().topReads, 4, 'the tops of the four streams were read once, before the first write');
    const position = await second.lastPublished('main');
    assert.deepEqual([...(position?.lastSeqByChannel ?? [])].sort(), [[1, 73], [2, 72]]);
    await second.close();
  });

  test('MAXLEN ~ trims every stream to about maxLen entries; maxTicksPerEntry splits a symbol\'s ticks', { timeout: 20_000 }, async (t) => {
    const publisher = publisherOn(server, uniquePrefix(), { maxLen: 100, maxTicksPerEntry: 2 });
    t.after(() => publisher.close());
    const feed = new SyntheticFeed('main', SESSION, [['600000.SH', 1]]);
    for (let i = 0; i < 40; i++) accept(publisher, feed.next(50));
    await publisher.drain(10_000);
    const key = publisher.keys.streamKey('600000.SH');
    const len = await client.xlen(key);
    assert.ok(len >= 100 && len <= 300, `XLEN ${len}: approximately trimmed to 100 (whole nodes of 100 entries)`);
    const [last] = await client.xrevrange(key, '+', '-', 'COUNT', 1);
    assert.equal(last?.[0], entryId(SESSION, 2_000));
    assert.equal(publisher.stats().entriesOut, 1_000, '2,000 ticks in entries of 2');
    const tail = await readEntries(client, key);
    assert.ok(tail.every((e) => e.messages.length === 2));
    assertEntryIds(tail, () => SESSION, 'trimmed stream');
    await publisher.close();
  });

  test('compressed payloads (gzip, deflate) round-trip through Redis', { timeout: 20_000 }, async (t) => {
    for (const compression of ['gzip', 'deflate'] as const) {
      const publisher = publisherOn(server, uniquePrefix(), { compression });
      t.after(() => publisher.close());
      const feed = new SyntheticFeed();
      for (let i = 0; i < 5; i++) accept(publisher, feed.next(10));
      await publisher.drain(5_000);
      const stored = await assertExactlyOnce(client, publisher.keys, feed);
      assert.ok(stored.entries < stored.ticks);
      const [entry] = await client.xrange(publisher.keys.streamKey('600000.SH'), '-', '+', 'COUNT', 1);
      assert.equal(entry?.[1][4], 'z');
      assert.equal(entry?.[1][5], compression === 'gzip' ? 'g' : 'd');
      await publisher.close();
    }
  });

  test('malformed messages are counted, logged and skipped; the rest is published', { timeout: 20_000 }, async (t) => {
    const lines: LogLine[] = [];
    const publisher = publisherOn(server, uniquePrefix(), { logger: memoryLogger(lines) });
    t.after(() => publisher.close());
    const good = snapshot('600000.SH', 1, 1);
    const batch: TickBatch = { feed: 'main', sessionId: SESSION, receivedAt: T0, messages: [good, { ...snapshot('600000.SH', 1, 2), symbol: '' }, { ...trade('600000.SH', 1, 3), seq: 0 }, snapshot('600000.SH', 1, 4)] };
    assert.equal(publisher.onBatch(batch), undefined);
    assert.equal(publisher.onBatch({ ...batch, sessionId: -5, messages: [snapshot('600000.SH', 1, 9)] }), undefined);
    await publisher.drain(5_000);
    const got = await readStream(client, publisher.keys.streamKey('600000.SH'));
    assert.deepEqual(got.map((e) => e.message.seq), [1, 4]);
    assert.equal(publisher.stats().dropped, 3);
    assert.equal(lines.filter((l) => l.level === 'error' && /not publishable/.test(l.message)).length, 3);
    assert.match(await publisher.registry.metrics(), /triquant_gateway_redis_dropped_ticks_total\{reason="invalid"\} 3/);
    await publisher.close();
  });

  test('Redis refusing writes (OOM) is an outage: buffered, retried in order, then stored once', { timeout: 20_000 }, async (t) => {
    const publisher = publisherOn(server, uniquePrefix());
    t.after(async () => {
      await client.config('SET', 'maxmemory', '0');
      await publisher.close();
    });
    await publisher.connection.ready;
    const feed = new SyntheticFeed();
    accept(publisher, feed.next(3));
    await publisher.drain(5_000);
    await client.config('SET', 'maxmemory', '1');
    for (let i = 0; i < 10; i++) accept(publisher, feed.next(4));
    await waitFor(() => publisher.stats().errors >= 2, 'failed flushes');
    assert.equal(publisher.stats().bufferTicks, 40, 'all held in the buffer');
    assert.equal(publisher.stats().outages, 1);
    await client.config('SET', 'maxmemory', '0');
    await publisher.drain(5_000);
    await assertExactlyOnce(client, publisher.keys, feed);
    assert.equal(publisher.stats().dropped, 0);
  });

  test('an entry Redis refuses for good (WRONGTYPE) is counted, logged and skipped; the rest goes on', { timeout: 20_000 }, async (t) => {
    const lines: LogLine[] = [];
    const publisher = publisherOn(server, uniquePrefix(), { logger: memoryLogger(lines) });
    t.after(() => publisher.close());
    await client.set(publisher.keys.streamKey('601318.SH'), 'not a stream');
    const feed = new SyntheticFeed();
    accept(publisher, feed.next(8));
    await publisher.drain(5_000);
    assert.equal(publisher.stats().ticksOut, 6);
    assert.equal(publisher.stats().dropped, 2);
    assert.equal((await readStream(client, publisher.keys.streamKey('600000.SH'))).length, 2);
    const refused = lines.filter((l) => l.level === 'error' && /refused/.test(l.message));
    assert.equal(refused.length, 1, 'one entry, holding both ticks of the symbol');
    assert.equal(refused[0]!.fields?.ticks, 2);
    assert.match(await publisher.registry.metrics(), /triquant_gateway_redis_dropped_ticks_total\{reason="rejected"\} 2/);
  });

  test('a slot-group mismatch with what Redis records is refused', { timeout: 10_000 }, async () => {
    const prefix = uniquePrefix();
    await checkKeySchemeMeta(client, new MarketDataKeys({ prefix, slotGroups: 8 }), { write: true });
    await checkKeySchemeMeta(client, new MarketDataKeys({ prefix, slotGroups: 8 }), { write: false });
    await assert.rejects(checkKeySchemeMeta(client, new MarketDataKeys({ prefix, slotGroups: 16 }), { write: false }), KeySchemeMismatchError);
    await checkKeySchemeMeta(client, new MarketDataKeys({ prefix: uniquePrefix() }), { write: false });
  });

  test('close() is idempotent, drains first, then refuses batches; a shared connection stays open', { timeout: 10_000 }, async (t) => {
    const connection = new RedisConnection({ mode: 'standalone', url: server.url, keyPrefix: uniquePrefix() });
    t.after(() => connection.close());
    await connection.ready;
    const publisher = new RedisStreamPublisher({ connection, clock: new ManualClock(T0) });
    const feed = new SyntheticFeed();
    accept(publisher, feed.next(20));
    const closing = publisher.close();
    assert.equal(publisher.close(), closing);
    await closing;
    await assertExactlyOnce(client, publisher.keys, feed);
    await assert.rejects(Promise.resolve(publisher.onBatch(feed.next(1))), PublisherClosedError);
    assert.equal(connection.state, 'connected');
    assert.equal(await connection.client.ping(), 'PONG');
    await connection.close();
    await connection.close();
    assert.equal(connection.state, 'closed');
  });
});

describe('RedisConnection', { skip: SKIP }, () => {
  test('reports state changes across a redis-server kill and restart; duplicate() is its own socket', { timeout: 20_000 }, async () => {
    const server = await RedisTestServer.start();
    const connection = new RedisConnection({ mode: 'standalone', url: server.url, keyPrefix: 'tq', reconnectMaxMs: 50 });
    const states: RedisConnectionState[] = [];
    connection.on('state', (change) => states.push(change.state));
    try {
      await connection.ready;
      const reader = connection.duplicate({ failFast: false, connectionName: 'reader' });
      await reader.ready;
      const blocked = reader.client.blpop('nothing', 1);
      assert.equal(await connection.client.ping(), 'PONG', 'the shared connection is not blocked by the reader');
      assert.equal(await blocked, null);
      await server.kill();
      await waitFor(() => connection.state === 'reconnecting', 'reconnecting');
      // Fail fast: nothing is queued in ioredis while disconnected.
      await assert.rejects(connection.client.ping(), /enableOfflineQueue|Connection is closed|Stream isn't writeable/);
      await server.restart();
      await connection.whenReady(5_000);
      assert.deepEqual(states.slice(0, 3), ['connected', 'reconnecting', 'connected']);
      await reader.close();
    } finally {
      await connection.close();
      await server.stop();
    }
  });

  test('ready rejects when closed before Redis was reachable', { timeout: 10_000 }, async () => {
    const connection = new RedisConnection({ mode: 'standalone', url: 'redis://127.0.0.1:1', keyPrefix: 'tq', reconnectMaxMs: 50 });
    connection.on('error', () => {});
    await assert.rejects(connection.whenReady(200), /not ready within 200 ms/);
    await connection.close();
    await assert.rejects(connection.ready, RedisConnectionClosedError);
  });
});

describe('Redis outages', { skip: SKIP }, () => {
  for (const form of ['messages', 'wire frames'] as const) test(`redis-server SIGKILLed and restarted mid-publish (AOF), batches of ${form}: every tick exactly once, in order`, { timeout: 60_000 }, async () => {
    const server = await RedisTestServer.start({ appendonly: true });
    const client = new Redis({ port: server.port, host: '127.0.0.1', retryStrategy: () => 20, maxRetriesPerRequest: null });
    client.on('error', () => {});
    const lines: LogLine[] = [];
    const publisher = publisherOn(server, uniquePrefix(), { logger: memoryLogger(lines) });
    const feed = new SyntheticFeed();
    try {
      for (let i = 0; i < 300; i++) {
        const batch = feed.next(1 + (i % 9));
        await publisher.onBatch(form === 'messages' ? batch : undecodable(batch));
        if (i === 100) await server.kill();
        if (i === 200) await server.restart();
        await sleep(i % 10 === 0 ? 2 : 0);
      }
      await publisher.drain(20_000);
      await assertExactlyOnce(client, publisher.keys, feed);
      const stats = publisher.stats();
      assert.equal(stats.dropped, 0);
      assert.equal(stats.ticksOut + stats.duplicates >= feed.sent.length, true);
      assert.ok(stats.outages >= 1, 'the outage was noticed');
      assert.ok(lines.some((l) => /Redis unavailable/.test(l.message)) && lines.some((l) => /resumed/.test(l.message)), 'and logged');
      const position = await publisher.lastPublished('main');
      assert.equal(position?.lastSeqByChannel.get(1), Math.max(...feed.sent.filter((m) => m.channel === 1).map((m) => m.seq)));
    } finally {
      await publisher.close();
      client.disconnect();
      await server.stop();
    }
  });

  test('without AOF, Redis loses what it had, but everything unacknowledged at the kill is re-sent, in order, once; a restarted gateway replaying with other boundaries adds nothing twice', { timeout: 60_000 }, async () => {
    const server = await RedisTestServer.start({ appendonly: false });
    const client = new Redis({ port: server.port, host: '127.0.0.1', retryStrategy: () => 20, maxRetriesPerRequest: null });
    client.on('error', () => {});
    const prefix = uniquePrefix();
    const publisher = publisherOn(server, prefix);
    const feed = new SyntheticFeed();
    let ackedAtKill = new Map<number, number>();
    let restarted: RedisStreamPublisher | undefined;
    try {
      for (let i = 0; i < 200; i++) {
        await publisher.onBatch(feed.next(5));
        if (i === 80) {
          ackedAtKill = new Map(publisher.publishedInProcess('main')?.lastSeqByChannel ?? []);
          await server.kill();
        }
        if (i === 140) await server.restart();
      }
      await publisher.drain(20_000);
      const survivors = (m: MarketDataMessage) => m.seq > (ackedAtKill.get(m.channel) ?? 0);
      const check = async (expectedOf: (messages: MarketDataMessage[]) => MarketDataMessage[]) => {
        for (const [symbol, messages] of feed.bySymbol()) {
          const entries = await readEntries(client, publisher.keys.streamKey(symbol));
          assertEntryIds(entries, () => SESSION, symbol);
          assert.ok(entries.some((e) => e.messages.length > 1), `${symbol}: entries hold several ticks`);
          assert.deepEqual(entries.flatMap((e) => e.messages), expectedOf(messages), `${symbol}: every tick after the last acknowledged seq, once, in order`);
        }
      };
      await check((messages) => messages.filter(survivors));
      await publisher.close();

      // The gateway restarts (a fresh publisher: nothing in memory) and the feed replays from
      // seq 1 — the checkpoint went with Redis — grouped into other batches, then goes on.
      // Everything at or below each stream's top is dropped, including what Redis had lost.
      const replayed = feed.sent.length;
      feed.next(37);
      restarted = publisherOn(server, prefix);
      for (const b of feed.resend(0, feed.sent.length, 13)) await restarted.onBatch(b);
      await restarted.drain(20_000);
      await check((messages) => messages.filter(survivors));
      assert.equal(restarted.stats().ticksOut, 37);
      assert.equal(restarted.stats().duplicates, replayed);
      assert.equal(restarted.stats().topReads, 4);
    } finally {
      await publisher.close();
      await restarted?.close();
      client.disconnect();
      await server.stop();
    }
  });

  test('a flush whose outcome is unknown (command timeout while Redis is paused) is retried with other entry boundaries, and still stores each tick once', { timeout: 30_000 }, async () => {
    const server = await RedisTestServer.start();
    const client = new Redis(server.port, '127.0.0.1');
    const publisher = new RedisStreamPublisher({
      connection: { mode: 'standalone', url: server.url, keyPrefix: uniquePrefix(), reconnectMaxMs: 100, commandTimeoutMs: 100 },
      clock: new ManualClock(T0),
      retryInitialMs: 20,
      retryMaxMs: 50,
    });
    const feed = new SyntheticFeed();
    try {
      accept(publisher, feed.next(8));
      await publisher.drain(5_000);
      // Writes wait while Redis is paused: the EXEC of the next flush is queued on the
      // connection, the publisher's command times out, and Redis runs it when the pause ends.
      await client.call('CLIENT', 'PAUSE', '700', 'WRITE');
      accept(publisher, feed.next(12));
      await waitFor(() => publisher.stats().errors >= 1, 'a timed-out flush');
      // More batches arrive: the retry covers the first attempt's ticks and these, so every
      // entry it would write ends at a higher seq than the first attempt's.
      for (let i = 0; i < 4; i++) await publisher.onBatch(feed.next(6));
      await publisher.drain(10_000);
      await assertExactlyOnce(client, publisher.keys, feed);
      const stats = publisher.stats();
      assert.equal(stats.ticksOut + stats.duplicates, feed.sent.length);
      assert.equal(stats.duplicates, 12, 'the first attempt was stored after all: its ticks were dropped from the retry');
      assert.ok(stats.topReads >= 8, 'tops read again before the retry');
    } finally {
      await client.call('CLIENT', 'UNPAUSE').catch(() => undefined);
      await publisher.close();
      client.disconnect();
      await server.stop();
    }
  });

  test('buffer full with backpressure: onBatch holds the feed until there is room; nothing is lost', { timeout: 30_000 }, async () => {
    const server = await RedisTestServer.start({ appendonly: true });
    const client = new Redis({ port: server.port, host: '127.0.0.1', retryStrategy: () => 20, maxRetriesPerRequest: null });
    client.on('error', () => {});
    const publisher = publisherOn(server, uniquePrefix(), { bufferMaxTicks: 50, overflow: 'backpressure' });
    const feed = new SyntheticFeed();
    try {
      await publisher.connection.ready;
      await server.kill();
      await waitFor(() => !publisher.connection.isReady, 'disconnect');
      for (let i = 0; i < 5; i++) assert.equal(publisher.onBatch(feed.next(10)), undefined, `batch ${i} fits`);
      const held = publisher.onBatch(feed.next(10));
      assert.ok(held instanceof Promise, 'the sixth batch waits');
      let settled = false;
      void held.then(() => (settled = true));
      const held2 = publisher.onBatch(feed.next(10));
      await sleep(300);
      assert.equal(settled, false, 'still held while Redis is down');
      assert.equal(publisher.stats().waiting, 2);
      assert.match(await publisher.registry.metrics(), /triquant_gateway_redis_backpressure 1/);
      await server.restart();
      await held;
      await held2;
      await publisher.drain(10_000);
      await assertExactlyOnce(client, publisher.keys, feed);
      assert.equal(publisher.stats().dropped, 0);
    } finally {
      await publisher.close();
      client.disconnect();
      await server.stop();
    }
  });

  test('buffer full with drop-oldest: the oldest batches are dropped, counted and logged with seq ranges', { timeout: 30_000 }, async () => {
    const server = await RedisTestServer.start({ appendonly: true });
    const client = new Redis({ port: server.port, host: '127.0.0.1', retryStrategy: () => 20, maxRetriesPerRequest: null });
    client.on('error', () => {});
    const lines: LogLine[] = [];
    const publisher = publisherOn(server, uniquePrefix(), { bufferMaxTicks: 50, overflow: 'drop-oldest', logger: memoryLogger(lines) });
    const feed = new SyntheticFeed('main', SESSION, [['600000.SH', 1]]);
    try {
      await publisher.connection.ready;
      await server.kill();
      await waitFor(() => !publisher.connection.isReady, 'disconnect');
      for (let i = 0; i < 10; i++) assert.equal(publisher.onBatch(feed.next(10)), undefined, 'never waits');
      assert.equal(publisher.stats().dropped, 50);
      assert.equal(publisher.stats().bufferTicks, 50);
      await server.restart();
      await publisher.drain(10_000);
      const got = await readStream(client, publisher.keys.streamKey('600000.SH'));
      assert.deepEqual(got.map((e) => e.message.seq), Array.from({ length: 50 }, (_, i) => 51 + i), 'the newest 50 survive');
      await waitFor(() => lines.some((l) => /dropped/.test(l.message)), 'the drop report', 3_000);
      const report = lines.find((l) => /dropped/.test(l.message))!;
      assert.equal(report.level, 'error');
      assert.deepEqual({ channel: report.fields?.channel, seqRanges: report.fields?.seqRanges, ticks: report.fields?.ticks }, { channel: 1, seqRanges: '1-50', ticks: 50 });
      assert.match(await publisher.registry.metrics(), /triquant_gateway_redis_dropped_ticks_total\{reason="overflow"\} 50/);
    } finally {
      await publisher.close();
      client.disconnect();
      await server.stop();
    }
  });

  test('lastPublished survives a gateway restart and a redis-server crash (AOF)', { timeout: 30_000 }, async () => {
    const server = await RedisTestServer.start({ appendonly: true });
    const prefix = uniquePrefix();
    try {
      const first = publisherOn(server, prefix);
      const feed = new SyntheticFeed();
      for (let i = 0; i < 10; i++) accept(first, feed.next(7));
      await first.close();
      const expected = new Map([1, 2].map((ch) => [ch, Math.max(...feed.sent.filter((m) => m.channel === ch).map((m) => m.seq))]));
      await server.kill();
      await server.restart();
      const second = publisherOn(server, prefix);
      const position = await second.lastPublished('main');
      assert.equal(position?.sessionId, SESSION);
      assert.deepEqual(new Map(position?.lastSeqByChannel), expected);
      assert.equal(position?.updatedAt, T0 + 1_000_000);
      await second.close();
    } finally {
      await server.stop();
    }
  });
});

describe('Redis Cluster and Sentinel', { skip: SKIP }, () => {
  test('cluster: the publisher writes every slot group; one XREADGROUP reads all keys of a group', { timeout: 60_000 }, async () => {
    const cluster = await RedisTestCluster.start(3);
    const prefix = uniquePrefix();
    const symbols: [string, number][] = Array.from({ length: 24 }, (_, i) => [`${600000 + i}.SH`, 1]);
    const publisher = new RedisStreamPublisher({
      connection: { mode: 'cluster', url: 'redis://127.0.0.1:1', clusterNodes: cluster.seeds, keyPrefix: prefix },
      clock: new ManualClock(T0),
      slotGroups: 4,
    });
    const reader = new RedisConnection({ mode: 'cluster', url: 'redis://127.0.0.1:1', clusterNodes: cluster.seeds, keyPrefix: prefix, failFast: false });
    let replay: RedisStreamPublisher | undefined;
    try {
      const feed = new SyntheticFeed('main', SESSION, symbols);
      for (let i = 0; i < 10; i++) accept(publisher, feed.next(12));
      await publisher.drain(20_000);
      await reader.ready;
      const groups = publisher.keys.groupKeys(symbols.map(([s]) => s));
      assert.equal(groups.size, 4);
      const nodesUsed = new Set<number>();
      let total = 0;
      for (const [, keys] of groups) {
        for (const key of keys) await reader.client.xgroup('CREATE', key, 'strategy-a', '0');
        const reply = (await reader.client.xreadgroupBuffer('GROUP', 'strategy-a', 'c1', 'COUNT', 1_000, 'STREAMS', ...keys, ...keys.map(() => '>'))) as [Buffer, [Buffer, Buffer[]][]][];
        assert.equal(reply.length, keys.length, 'one XREADGROUP answered for every key of the group');
        for (const [key, entries] of reply) {
          const symbol = publisher.keys.symbolOf(key.toString())!;
          const expected = feed.sent.filter((m) => m.symbol === symbol);
          assert.deepEqual(entries.flatMap(([, fields]) => decodeEntryToFeedMessages(fields)), expected);
          assert.ok(entries.length < expected.length, 'entries hold several ticks');
          total += expected.length;
        }
        nodesUsed.add(Number(cluster.nodes[0]!.cli('cluster', 'keyslot', keys[0]!)));
      }
      assert.equal(total, feed.sent.length);
      // Keys of different groups cannot be read together on a cluster: the reason for the hash tags.
      const [a, b] = [...groups.values()].map((k) => k[0]!);
      await assert.rejects(reader.client.xread('STREAMS', a!, b!, '0', '0'), /CROSSSLOT/);
      const position = await publisher.lastPublished('main');
      assert.equal(position?.lastSeqByChannel.get(1), 120);
      await publisher.close();
      // A restarted gateway on a cluster whose checkpoint lagged (it is written after the
      // groups' transactions) replays an overlapping range, grouped differently: the top-ID
      // rule drops what is stored, on every node.
      feed.next(30);
      replay = new RedisStreamPublisher({
        connection: { mode: 'cluster', url: 'redis://127.0.0.1:1', clusterNodes: cluster.seeds, keyPrefix: prefix },
        clock: new ManualClock(T0),
        slotGroups: 4,
      });
      for (const b of feed.resend(70, feed.sent.length, 19)) accept(replay, b);
      await replay.drain(20_000);
      assert.equal(replay.stats().ticksOut, 30);
      assert.equal(replay.stats().duplicates, 50);
      for (const [symbol, expected] of feed.bySymbol()) {
        const entries = (await reader.client.xrangeBuffer(publisher.keys.streamKey(symbol), '-', '+')).map(([id, fields]) => ({ id: id.toString(), messages: decodeEntryToFeedMessages(fields) }));
        assertEntryIds(entries, () => SESSION, symbol);
        assert.deepEqual(entries.flatMap((e) => e.messages), expected, `${symbol}: every tick once, in order`);
      }
    } finally {
      await publisher.close();
      await replay?.close();
      await reader.close();
      await cluster.stop();
    }
  });

  test('sentinel: the publisher finds the master through a Sentinel and publishes', { timeout: 30_000 }, async () => {
    const master = await RedisTestServer.start();
    const sentinel = await startSentinel({ host: master.host, port: master.port }, 'tqmaster');
    const client = new Redis(master.port, '127.0.0.1');
    const publisher = new RedisStreamPublisher({
      connection: { mode: 'sentinel', url: 'redis://127.0.0.1', sentinels: [{ host: '127.0.0.1', port: sentinel.port }], sentinelMasterName: 'tqmaster', keyPrefix: uniquePrefix() },
      clock: new ManualClock(T0),
    });
    try {
      const feed = new SyntheticFeed();
      for (let i = 0; i < 5; i++) accept(publisher, feed.next(10));
      await publisher.drain(10_000);
      await assertExactlyOnce(client, publisher.keys, feed);
    } finally {
      await publisher.close();
      client.disconnect();
      await sentinel.stop();
      await master.stop();
    }
  });
});
