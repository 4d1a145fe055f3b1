/**
 * The gateway's FeedClient against a real FeedServer (src/sim) on 127.0.0.1, with a
 * fault-injecting TCP proxy in between where the test needs one: every message published
 * must arrive exactly once, in order per channel — across mid-frame cuts, lost frames, a
 * server restart (new session), garbage on the wire and a silent server — and what cannot be
 * recovered must be reported, never skipped silently.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { FeedClient, FeedClientError, FeedLogonRejectedError } from '../../src/gateway/feed-client.ts';
import type { FeedClientEvent, FeedClientOptions } from '../../src/gateway/feed-client.ts';
import { ObserverDispatcher } from '../../src/gateway/observers.ts';
import type { MarketDataMessage, TickBatch } from '../../src/gateway/types.ts';
import type { Logger } from '../../src/obs/log.ts';
import { encode } from '../../src/protocol/feed/codec.ts';
import type { PublishableMessage } from '../../src/protocol/feed/codec.ts';
import { HEADER_BYTES, LogonRejectCode, MessageType, RetransmitRejectCode } from '../../src/protocol/feed/frames.ts';
import type { SnapshotMessage, TradeMessage } from '../../src/protocol/feed/frames.ts';
import { FeedServer } from '../../src/sim/feed-server.ts';
import type { FeedServerLogger, FeedServerOptions } from '../../src/sim/feed-server.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import type { TcpProxyOptions } from '../support/tcp-proxy.ts';

const T0 = 1_735_000_000_000_000;

function snapshot(channel: number, i: number): Omit<SnapshotMessage, 'seq'> {
  const px = 100_000 + (i % 50) * 100;
  return {
    type: 'snapshot',
    channel,
    symbol: '600000.SH',
    eventTime: T0 + i,
    phase: 'CONTINUOUS',
    lastPrice: px,
    openPrice: 100_000,
    highPrice: 105_000,
    lowPrice: 99_000,
    prevClosePrice: 100_000,
    upperLimitPrice: 110_000,
    lowerLimitPrice: 90_000,
    volume: i * 100,
    turnover: i * 100 * px,
    bids: Array.from({ length: 10 }, (_, k) => ({ price: px - (k + 1) * 100, qty: 100 * (k + 1), orders: k + 1 })),
    asks: Array.from({ length: 10 }, (_, k) => ({ price: px + k * 100, qty: 100 * (k + 1), orders: k + 1 })),
  };
}

function trade(channel: number, i: number): Omit<TradeMessage, 'seq'> {
  return { type: 'trade', channel, symbol: '000001.SZ', time: T0 + i, price: 123_400, qty: 100 * (1 + (i % 5)), aggressor: i % 2 ? 'BUY' : 'SELL', buyOrderId: 2 * i, sellOrderId: 2 * i + 1 };
}

/** `count` messages for a channel; message i (0-based overall) is a trade every third. */
function mixed(channel: number, from: number, count: number): PublishableMessage[] {
  return Array.from({ length: count }, (_, k) => (k % 3 === 2 ? trade(channel, from + k) : snapshot(channel, from + k)));
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, k) => from + k);
}

interface LogLine {
  level: string;
  message: string;
  fields: Record<string, unknown> | undefined;
}

function memoryLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, fields });
  const logger: Logger & { lines: LogLine[] } = { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}

const quietServerLog: FeedServerLogger = { info() {}, warn() {} };

/** Whatever a test opened is closed after it, even when it failed half-way (no reconnect loop outlives a test). */
const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  const all = opened.splice(0);
  for (const closable of all.reverse()) await closable.close();
});

async function startServer(options: FeedServerOptions = {}): Promise<{ server: FeedServer; port: number }> {
  const server = new FeedServer({ logger: quietServerLog, closeGraceMs: 100, heartbeatIntervalMs: 200, ...options });
  opened.push(server);
  const { port } = await server.start(0, '127.0.0.1');
  return { server, port };
}

async function startProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const proxy = await TcpProxy.start(options);
  opened.push(proxy);
  return proxy;
}

/** Everything a client delivered, checked as it arrives. */
class Collector {
  readonly batches: TickBatch[] = [];
  /** Delivered messages per `sessionId/channel`. */
  readonly streams = new Map<string, MarketDataMessage[]>();
  readonly events: FeedClientEvent[] = [];
  readonly onBatch = (batch: TickBatch): void => {
    assert.ok(batch.messages.length > 0, 'no empty batches');
    this.batches.push(batch);
    for (const m of batch.messages) {
      const key = `${batch.sessionId}/${m.channel}`;
      let list = this.streams.get(key);
      if (list === undefined) this.streams.set(key, (list = []));
      list.push(m);
    }
  };
  readonly onEvent = (event: FeedClientEvent): void => void this.events.push(event);

  seqs(sessionId: number, channel: number): number[] {
    return (this.streams.get(`${sessionId}/${channel}`) ?? []).map((m) => m.seq);
  }

  count(sessionId: number, channel: number): number {
    return this.streams.get(`${sessionId}/${channel}`)?.length ?? 0;
  }

  eventsOf<T extends FeedClientEvent['type']>(type: T): Extract<FeedClientEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<FeedClientEvent, { type: T }> => e.type === type);
  }
}

function client(port: number, collector: Collector, options: Partial<FeedClientOptions> = {}): FeedClient & { logLines: LogLine[] } {
  const logger = memoryLogger();
  const c = new FeedClient({
    host: '127.0.0.1',
    port,
    clientId: 'gw-test',
    channels: [1],
    onBatch: collector.onBatch,
    onEvent: collector.onEvent,
    logger,
    reconnectMinMs: 10,
    reconnectMaxMs: 80,
    random: () => 0.5,
    tickMs: 10,
    retransmitTimeoutMs: 1_000,
    ...options,
  });
  opened.push(c);
  return Object.assign(c, { logLines: logger.lines });
}

async function waitFor(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('delivers every message once and in order, one batch per read; heartbeats keep an idle session up', async () => {
  const { server, port } = await startServer({ heartbeatIntervalMs: 60 });
  const col = new Collector();
  const c = client(port, col, { channels: [1, 2] });
  try {
    await c.start();
    assert.equal(c.stats().sessionId, server.sessionId);
    server.publish(snapshot(1, 0));
    server.publishBatch([...mixed(1, 1, 99), ...mixed(2, 0, 50)]);
    for (let i = 0; i < 10; i++) server.publishBatch([...mixed(2, 50 + i * 5, 5), ...mixed(1, 100 + i * 10, 10)]);
    await waitFor(() => col.count(server.sessionId, 1) === 200 && col.count(server.sessionId, 2) === 100, 'all messages');
    assert.deepEqual(col.seqs(server.sessionId, 1), range(1, 200));
    assert.deepEqual(col.seqs(server.sessionId, 2), range(1, 100));
    assert.deepEqual(col.streams.get(`${server.sessionId}/1`)![0], { ...snapshot(1, 0), seq: 1 });
    assert.deepEqual(col.streams.get(`${server.sessionId}/1`)![3], { ...trade(1, 3), seq: 4 });
    assert.ok(col.batches.every((b) => b.feed === `127.0.0.1:${port}` && b.sessionId === server.sessionId && b.receivedAt > 0));
    assert.ok(col.batches.length <= 12, `natural batching: ${col.batches.length} batches for 12 publishes`);

    await sleep(400); // > 3 heartbeat intervals with no data either way
    const s = c.stats();
    assert.equal(s.connects, 1);
    assert.equal(s.reconnects, 0);
    assert.equal(s.heartbeatTimeouts, 0);
    assert.equal(server.stats().heartbeatTimeouts, 0, 'our heartbeats keep the server content');
    assert.equal(s.delivered, 300);
    assert.equal(s.messagesIn, 300);
    assert.equal(s.duplicates + s.gaps + s.malformed + s.unrecoverableGaps, 0);
    assert.deepEqual(s.lastSeqByChannel, { 1: 200, 2: 100 });
    assert.deepEqual(c.position(), { sessionId: server.sessionId, lastSeqByChannel: { 1: 200, 2: 100 } });
    assert.equal(s.state, 'live');
    assert.ok(s.framesIn > 300, 'heartbeats are frames too');
  } finally {
    await c.close();
    await server.close();
  }
});

test('a connection cut mid-frame resumes with no gap and no duplicate, again and again', async () => {
  const { server, port } = await startServer();
  const proxy = await startProxy({ targetPort: port });
  const col = new Collector();
  const c = client(proxy.port, col, { channels: [1, 2] });
  try {
    await c.start();
    let published = 0;
    const publishing = (async () => {
      for (; published < 1_500; published += 15) {
        server.publishBatch([...mixed(1, published, 15), ...mixed(2, published, 15)]);
        await sleep(2);
      }
    })();
    for (let cut = 0; cut < 3; cut++) {
      await sleep(30);
      await proxy.cutMidFrame(100 + cut * 37);
    }
    await publishing;
    await waitFor(() => col.count(server.sessionId, 1) === 1_500 && col.count(server.sessionId, 2) === 1_500, 'all 3,000 messages', 8_000);
    assert.deepEqual(col.seqs(server.sessionId, 1), range(1, 1_500));
    assert.deepEqual(col.seqs(server.sessionId, 2), range(1, 1_500));
    const s = c.stats();
    assert.equal(proxy.cuts, 3);
    assert.ok(s.reconnects >= 3, `reconnects ${s.reconnects}`);
    assert.equal(s.connects, s.reconnects + 1);
    assert.equal(s.unrecoverableGaps, 0);
    assert.equal(s.framingErrors, 0, 'a cut leaves a partial frame, not garbage');
    assert.equal(col.eventsOf('newSession').length, 0);
    assert.equal(col.eventsOf('disconnected').length, s.disconnects);
  } finally {
    await c.close();
    await proxy.close();
    await server.close();
  }
});

test('lost frames open gaps that retransmission fills, even when retransmitted frames are lost too', async () => {
  const { server, port } = await startServer();
  // Drop every 7th data frame on the wire — retransmissions included.
  const proxy = await startProxy({ targetPort: port, dropFrame: (f) => f.seq !== undefined && f.index % 7 === 3 });
  const col = new Collector();
  const c = client(proxy.port, col, { channels: [3, 4] });
  try {
    await c.start();
    for (let i = 0; i < 40; i++) {
      server.publishBatch([...mixed(3, i * 10, 10), ...mixed(4, i * 5, 5)]);
      if (i % 4 === 0) await sleep(1);
    }
    // A lost last message is only found by the tail probe, one heartbeat interval (200 ms) later.
    await waitFor(() => col.count(server.sessionId, 3) === 400 && col.count(server.sessionId, 4) === 200, 'all messages', 4_000);
    assert.deepEqual(col.seqs(server.sessionId, 3), range(1, 400));
    assert.deepEqual(col.seqs(server.sessionId, 4), range(1, 200));
    const s = c.stats();
    assert.ok(proxy.framesDropped > 50, `dropped ${proxy.framesDropped}`);
    assert.ok(s.gaps > 0 && s.retransmitRequests >= s.gaps, `gaps ${s.gaps}, requests ${s.retransmitRequests}`);
    assert.equal(col.eventsOf('gap').length, s.gaps);
    assert.equal(s.unrecoverableGaps, 0);
    assert.equal(s.reconnects, 0);
    assert.equal(s.buffered, 0);
    assert.equal(server.stats().retransmitRequests, s.retransmitRequests + s.tailProbes);
    const firstGap = col.eventsOf('gap')[0]!;
    assert.ok(firstGap.toSeq >= firstGap.fromSeq);
  } finally {
    await c.close();
    await proxy.close();
    await server.close();
  }
});

test('chaos: random frame loss and mid-frame cuts together still give every message exactly once, in order', async () => {
  const { server, port } = await startServer({ heartbeatIntervalMs: 100 });
  let seed = 0x2545f491;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x1_0000_0000;
  };
  const proxy = await startProxy({ targetPort: port, dropFrame: (f) => f.seq !== undefined && random() < 0.05 });
  const col = new Collector();
  const c = client(proxy.port, col, { channels: [1, 2] });
  try {
    await c.start();
    const total = { 1: 0, 2: 0 };
    for (let round = 0; round < 100; round++) {
      const n1 = 5 + Math.floor(random() * 25);
      const n2 = Math.floor(random() * 10);
      server.publishBatch([...mixed(1, total[1], n1), ...mixed(2, total[2], n2)]);
      total[1] += n1;
      total[2] += n2;
      if (round % 20 === 10) void proxy.cutMidFrame(1 + Math.floor(random() * 400));
      await sleep(random() < 0.5 ? 1 : 3);
    }
    await waitFor(() => col.count(server.sessionId, 1) === total[1] && col.count(server.sessionId, 2) === total[2], `${total[1]} + ${total[2]} messages`, 6_000);
    assert.deepEqual(col.seqs(server.sessionId, 1), range(1, total[1]));
    assert.deepEqual(col.seqs(server.sessionId, 2), range(1, total[2]));
    const s = c.stats();
    assert.ok(proxy.framesDropped > 20 && proxy.cuts >= 3, `dropped ${proxy.framesDropped}, cuts ${proxy.cuts}`);
    assert.equal(s.unrecoverableGaps, 0);
    assert.equal(s.buffered, 0);
  } finally {
    await c.close();
  }
});

test('a lost last message, with nothing after it to reveal the gap, is found by the tail probe', async () => {
  const { server, port } = await startServer({ heartbeatIntervalMs: 50 });
  let lost = false;
  const proxy = await startProxy({ targetPort: port, dropFrame: (f) => f.seq === 10 && !lost && (lost = true) });
  const col = new Collector();
  const c = client(proxy.port, col, { channels: [1] });
  try {
    await c.start();
    server.publishBatch(mixed(1, 0, 10));
    await waitFor(() => col.count(server.sessionId, 1) === 10, 'seq 10 recovered', 2_000);
    assert.deepEqual(col.seqs(server.sessionId, 1), range(1, 10));
    await sleep(150); // quiet again: a probe that finds nothing (NOT_YET) is not an error
    const s = c.stats();
    assert.equal(lost, true);
    assert.ok(s.tailProbes >= 2, `tail probes ${s.tailProbes}`);
    assert.equal(s.gaps, 0, 'no later seq revealed it');
    assert.equal(s.unrecoverableGaps, 0);
    assert.equal(s.duplicates, 0);
    assert.ok(!c.logLines.some((l) => l.level === 'error'), 'nothing logged as an error');
  } finally {
    await c.close();
    await proxy.close();
    await server.close();
  }
});

test('a restarted server is a new session: the client starts again from seq 1, buffering the replay its RESUME asked for', async () => {
  const a = await startServer();
  const proxy = await startProxy({ targetPort: a.port });
  const col = new Collector();
  const c = client(proxy.port, col, { channels: [1] });
  let b: { server: FeedServer; port: number } | undefined;
  try {
    await c.start();
    a.server.publishBatch(mixed(1, 0, 10));
    await waitFor(() => col.count(a.server.sessionId, 1) === 10, 'session A');
    await a.server.close(); // the client reconnects and is refused until B is up
    await waitFor(() => c.stats().disconnects >= 2, 'refused reconnects');

    b = await startServer();
    assert.notEqual(b.server.sessionId, a.server.sessionId);
    b.server.publishBatch(mixed(1, 100, 30)); // before the client is back: RESUME 10 makes B replay 11..30
    proxy.setTarget(b.port);
    await waitFor(() => c.stats().sessionId === b!.server.sessionId, 'logon to B');
    b.server.publishBatch(mixed(1, 130, 20));
    await waitFor(() => col.count(b!.server.sessionId, 1) === 50, 'session B', 5_000);
    assert.deepEqual(col.seqs(a.server.sessionId, 1), range(1, 10));
    assert.deepEqual(col.seqs(b.server.sessionId, 1), range(1, 50));
    assert.deepEqual(col.streams.get(`${b.server.sessionId}/1`)![0], { ...mixed(1, 100, 1)[0], seq: 1 });
    const [ns, ...more] = col.eventsOf('newSession');
    assert.equal(more.length, 0);
    assert.equal(ns!.previousSessionId, a.server.sessionId);
    assert.equal(ns!.sessionId, b.server.sessionId);
    assert.deepEqual(ns!.previousLastSeqByChannel, { 1: 10 });
    const s = c.stats();
    assert.equal(s.newSessions, 1);
    assert.equal(s.duplicates, 0);
    assert.equal(b.server.stats().retransmittedFrames, 30, 'B replayed 11..30 for the RESUME, then 1..10 on request');
    assert.equal(s.unrecoverableGaps, 0);
    assert.ok(c.logLines.some((l) => l.level === 'warn' && /new feed session/.test(l.message)));
    assert.deepEqual(c.position(), { sessionId: b.server.sessionId, lastSeqByChannel: { 1: 50 } });
  } finally {
    await c.close();
    await proxy.close();
    await a.server.close();
    await b?.server.close();
  }
});

test('a range that fell out of the ring is reported as an unrecoverable gap — live or on resume — and what follows is delivered', async () => {
  const { server, port } = await startServer({ ringDepth: 16 });
  const lose = new Set(range(10, 30));
  const proxy = await startProxy({ targetPort: port, dropFrame: (f) => f.seq !== undefined && lose.delete(f.seq) });
  const col = new Collector();
  const c = client(proxy.port, col, { channels: [1], reconnectMinMs: 150, reconnectMaxMs: 150 });
  try {
    await c.start();
    server.publishBatch(mixed(1, 0, 100)); // 10..30 lost on the wire; the ring keeps only 85..100
    await waitFor(() => col.count(server.sessionId, 1) === 79, '1..9 and 31..100');
    assert.deepEqual(col.seqs(server.sessionId, 1), [...range(1, 9), ...range(31, 100)]);
    let s = c.stats();
    assert.equal(s.unrecoverableGaps, 1);
    assert.equal(s.unrecoverableMessages, 21);
    assert.deepEqual(
      s.unrecoverableGapRanges.map(({ channel, fromSeq, toSeq, code, sessionId }) => ({ channel, fromSeq, toSeq, code, sessionId })),
      [{ channel: 1, fromSeq: 10, toSeq: 30, code: RetransmitRejectCode.TOO_OLD, sessionId: server.sessionId }],
    );
    const [event] = col.eventsOf('unrecoverableGap');
    assert.equal(event?.fromSeq, 10);
    assert.equal(event?.toSeq, 30);
    assert.ok(c.logLines.some((l) => l.level === 'error' && /lost for good/.test(l.message) && l.fields?.fromSeq === 10));

    // Disconnected while 50 are published: on resume 101..134 are gone, 135..150 replayed.
    proxy.cutAll();
    await waitFor(() => c.stats().state === 'backoff', 'disconnect seen');
    server.publishBatch(mixed(1, 100, 50));
    await waitFor(() => c.stats().lastSeqByChannel[1] === 150, 'resume');
    server.publishBatch(mixed(1, 150, 5));
    await waitFor(() => col.count(server.sessionId, 1) === 79 + 21, 'after resume');
    assert.deepEqual(col.seqs(server.sessionId, 1).slice(79), range(135, 155));
    s = c.stats();
    assert.equal(s.unrecoverableGaps, 2);
    assert.equal(s.unrecoverableMessages, 21 + 34);
    assert.deepEqual(s.unrecoverableGapRanges.map((r) => [r.fromSeq, r.toSeq]), [[10, 30], [101, 134]]);
    assert.equal(s.duplicates, 0);
  } finally {
    await c.close();
    await proxy.close();
    await server.close();
  }
});

test('malformed frames are counted and skipped on a live connection; garbage that breaks framing reconnects without loss', async () => {
  const { server, port } = await startServer();
  const proxy = await startProxy({ targetPort: port });
  const col = new Collector();
  const c = client(proxy.port, col, { channels: [1] });
  try {
    await c.start();
    server.publishBatch(mixed(1, 0, 20));
    await waitFor(() => col.count(server.sessionId, 1) === 20, 'first 20');
    const unknownType = Buffer.from([0x54, 0x51, 1, 0x7f, 3, 0, 0, 0, 1, 2, 3]);
    const badTrade = encode({ ...trade(1, 0), seq: 21 });
    badTrade[HEADER_BYTES + 50] = 9; // invalid aggressor code
    const shortSnapshot = Buffer.concat([Buffer.from([0x54, 0x51, 1, MessageType.SNAPSHOT, 10, 0, 0, 0]), Buffer.alloc(10)]);
    proxy.inject(Buffer.concat([unknownType, badTrade, shortSnapshot]));
    server.publishBatch(mixed(1, 20, 20));
    await waitFor(() => col.count(server.sessionId, 1) === 40, 'next 20');
    let s = c.stats();
    assert.equal(s.malformed, 3);
    assert.equal(s.connects, 1, 'malformed frames do not cost the connection');
    assert.equal(c.logLines.filter((l) => /malformed feed frame/.test(l.message)).length, 3);

    proxy.inject(Buffer.from('this is not a feed frame at all'));
    server.publishBatch(mixed(1, 40, 20));
    await waitFor(() => c.stats().connects === 2 && col.count(server.sessionId, 1) === 60, 'reconnect and the last 20');
    server.publishBatch(mixed(1, 60, 5));
    await waitFor(() => col.count(server.sessionId, 1) === 65, 'live again');
    assert.deepEqual(col.seqs(server.sessionId, 1), range(1, 65));
    s = c.stats();
    assert.equal(s.framingErrors, 1);
    assert.equal(s.malformed, 3);
    assert.equal(s.duplicates, 0);
    assert.equal(s.unrecoverableGaps, 0);
  } finally {
    await c.close();
    await proxy.close();
    await server.close();
  }
});

test('a silent server (hung connection) trips the heartbeat timeout; the client reconnects and resumes', async () => {
  const { server, port } = await startServer({ heartbeatIntervalMs: 50 });
  const proxy = await startProxy({ targetPort: port });
  const col = new Collector();
  const c = client(proxy.port, col, {
    channels: [1],
    onEvent: (e) => {
      col.onEvent(e);
      if (e.type === 'disconnected') proxy.blackholedDown = false;
    },
  });
  try {
    await c.start();
    server.publishBatch(mixed(1, 0, 10));
    await waitFor(() => col.count(server.sessionId, 1) === 10, 'first 10');
    proxy.blackholedDown = true; // the server still hears our heartbeats, we hear nothing
    server.publishBatch(mixed(1, 10, 10)); // swallowed by the hung link
    await waitFor(() => c.stats().heartbeatTimeouts === 1, 'heartbeat timeout', 2_000);
    await waitFor(() => col.count(server.sessionId, 1) === 20, 'resumed');
    assert.deepEqual(col.seqs(server.sessionId, 1), range(1, 20));
    assert.match(col.eventsOf('disconnected')[0]!.reason, /heartbeat timeout/);
  } finally {
    await c.close();
    await proxy.close();
    await server.close();
  }
});

test('two feeds at once into one dispatcher: a slow reliable observer pauses both, nothing is lost', async () => {
  const one = await startServer();
  const two = await startServer();
  const dispatcher = new ObserverDispatcher({ highWaterBatches: 3, lowWaterBatches: 1, logger: memoryLogger() });
  const seen = new Map<string, number[]>();
  dispatcher.add({
    name: 'slow-publisher',
    reliable: true,
    async onBatch(batch) {
      await sleep(3);
      for (const m of batch.messages) {
        const key = `${batch.feed}/${m.channel}`;
        seen.set(key, [...(seen.get(key) ?? []), m.seq]);
      }
    },
  });
  let tapped = 0;
  dispatcher.add({ name: 'tap', reliable: false, onBatch: (b) => void (tapped += b.messages.length) });
  const col = new Collector();
  const a = client(one.port, col, { feed: 'sse', clientId: 'gw-a', channels: [1, 2], onBatch: dispatcher.dispatch });
  const b = client(two.port, col, { feed: 'szse', clientId: 'gw-b', channels: [1], onBatch: dispatcher.dispatch });
  dispatcher.attachSource(a);
  dispatcher.attachSource(b);
  try {
    await Promise.all([a.start(), b.start()]);
    for (let i = 0; i < 60; i++) {
      one.server.publishBatch([...mixed(1, i * 5, 5), ...mixed(2, i * 2, 2)]);
      two.server.publishBatch(mixed(1, i * 4, 4));
      await sleep(1);
    }
    await waitFor(() => (seen.get('sse/1')?.length ?? 0) === 300 && (seen.get('sse/2')?.length ?? 0) === 120 && (seen.get('szse/1')?.length ?? 0) === 240, 'both feeds', 10_000);
    assert.deepEqual(seen.get('sse/1'), range(1, 300));
    assert.deepEqual(seen.get('sse/2'), range(1, 120));
    assert.deepEqual(seen.get('szse/1'), range(1, 240));
    assert.equal(await dispatcher.drain(2_000), true);
    const ds = dispatcher.stats();
    assert.ok(ds.pauses > 0, 'the slow reliable observer paused the feeds');
    assert.equal(ds.paused, false);
    assert.ok(!a.isPaused && !b.isPaused);
    const tap = ds.observers.find((o) => o.name === 'tap')!;
    assert.equal(tapped + tap.droppedMessages, 660, 'the tap saw or counted every message');
    assert.equal(a.stats().delivered + b.stats().delivered, 660);
  } finally {
    await Promise.all([a.close(), b.close()]);
    await dispatcher.close(1_000);
    await one.server.close();
    await two.server.close();
  }
});

test('positions recovered from elsewhere resume the same session; another session or startAt earliest replays from seq 1', async () => {
  const { server, port } = await startServer();
  try {
    server.publishBatch(mixed(1, 0, 40));
    const first = new Collector();
    const c1 = client(port, first, { clientId: 'gw-1', startAt: 'earliest' });
    await c1.start();
    await waitFor(() => first.count(server.sessionId, 1) === 40, 'earliest replays 1..40');
    assert.deepEqual(first.seqs(server.sessionId, 1), range(1, 40));
    const position = c1.position()!;
    await c1.close();
    assert.deepEqual(position, { sessionId: server.sessionId, lastSeqByChannel: { 1: 40 } });
    server.publishBatch(mixed(1, 40, 20));

    const second = new Collector();
    // As the Redis publisher's checkpoint has it: a Map.
    const c2 = client(port, second, { clientId: 'gw-2', resumeFrom: { sessionId: position.sessionId, lastSeqByChannel: new Map([[1, 40]]) } });
    await c2.start();
    await waitFor(() => second.count(server.sessionId, 1) === 20, 'resume 41..60');
    assert.deepEqual(second.seqs(server.sessionId, 1), range(41, 60));
    assert.equal(second.eventsOf('newSession').length, 0);
    await c2.close();

    const third = new Collector();
    const c3 = client(port, third, { clientId: 'gw-3', resumeFrom: { sessionId: 12_345, lastSeqByChannel: { 1: 55 } } });
    await c3.start();
    await waitFor(() => third.count(server.sessionId, 1) === 60, 'new session: 1..60');
    assert.deepEqual(third.seqs(server.sessionId, 1), range(1, 60));
    assert.equal(third.eventsOf('newSession')[0]?.previousSessionId, 12_345);
    await c3.close();

    const fourth = new Collector();
    const c4 = client(port, fourth, { clientId: 'gw-4' }); // startAt live (default)
    await c4.start();
    server.publish(snapshot(1, 60));
    await waitFor(() => fourth.count(server.sessionId, 1) === 1, 'live only');
    assert.deepEqual(fourth.seqs(server.sessionId, 1), [61]);
    await c4.close();
  } finally {
    await server.close();
  }
});

test('a refused logon fails start() and stops; close is idempotent, logs out, and fails a pending start', async () => {
  const { server, port } = await startServer({ authenticate: (_id, token) => token === 'ok' });
  try {
    const col = new Collector();
    const bad = client(port, col, { authToken: 'wrong' });
    await assert.rejects(bad.start(), (e: unknown) => e instanceof FeedLogonRejectedError && e.rejectCode === LogonRejectCode.AUTH_FAILED && e.code === 'FEED_LOGON_REJECTED');
    await sleep(50);
    assert.equal(bad.stats().state, 'failed');
    assert.equal(bad.stats().connectAttempts, 1, 'no retry of a terminal reject');
    assert.equal(col.eventsOf('logonRejected')[0]?.terminal, true);
    await bad.close();

    const good = client(port, col, { authToken: 'ok', clientId: 'gw-ok' });
    await good.start();
    assert.throws(() => void good.start(), FeedClientError);
    const closing = good.close();
    assert.equal(good.close(), closing);
    await closing;
    await waitFor(() => server.stats().clients === 0, 'server saw the logout');
    assert.equal(good.stats().state, 'closed');

    // Nothing listening: start() keeps retrying until close() fails it.
    const nowhere = await startServer();
    const deadPort = nowhere.port;
    await nowhere.server.close();
    const orphanEvents = new Collector();
    const orphan = client(deadPort, orphanEvents);
    try {
      const pending = orphan.start();
      await waitFor(() => orphanEvents.eventsOf('disconnected').length >= 5, 'retries with back-off');
      // min 10 ms doubling to max 80 ms, each delay drawn from [d/2, d] (random() = 0.5 here).
      assert.deepEqual(orphanEvents.eventsOf('disconnected').slice(0, 5).map((e) => e.reconnectInMs), [8, 15, 30, 60, 60]);
      assert.equal(orphan.stats().connects, 0);
      await orphan.close();
      await assert.rejects(pending, FeedClientError);
    } finally {
      await orphan.close();
    }
  } finally {
    await server.close();
  }
});
