/**
 * The data-ingestion tier end to end: simulator → (faulty network) → gateway → Redis.
 * A reference client reads the simulator's feed directly; every tick it saw must be in Redis
 * exactly once, in order per symbol, although the gateway's connection is cut mid-frame,
 * loses frames, receives malformed frames, and Redis is killed and restarted meanwhile.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Simulator, FEED_CHANNEL } from '../../src/sim/simulator.ts';
import { buildUniverse } from '../../src/sim/universe.ts';
import { DEFAULT_ORDER_FLOW } from '../../src/sim/order-flow.ts';
import { TradingCalendar } from '../../src/core/calendar.ts';
import { LiveClock } from '../../src/core/clock.ts';
import { RedisConnection } from '../../src/bus/redis-connection.ts';
import { MarketDataKeys } from '../../src/bus/market-data-keys.ts';
import { decodeEntryToFeedMessages } from '../../src/bus/tick-codec.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import type { MarketDataMessage } from '../../src/gateway/types.ts';
import { Registry } from '../../src/obs/metrics.ts';
import { silentLogger } from '../../src/obs/log.ts';
import { FeedTestClient } from '../support/feed-test-client.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { RedisTestServer } from '../support/redis-server.ts';

const CHANNELS = [FEED_CHANNEL.SSE, FEED_CHANNEL.SZSE];
const PREFIX = `e2e${process.pid}`;

/** A frame with a valid header and an unknown type, then one with a truncated snapshot body: both skippable. */
function malformedFrames(): Buffer {
  const unknown = Buffer.from([0x54, 0x51, 0x01, 0x7f, 4, 0, 0, 0, 1, 2, 3, 4]);
  const shortSnapshot = Buffer.from([0x54, 0x51, 0x01, 0x10, 3, 0, 0, 0, 9, 9, 9]);
  return Buffer.concat([unknown, shortSnapshot]);
}

function key(m: MarketDataMessage): string {
  return `${m.channel}:${m.seq}`;
}

function comparable(m: MarketDataMessage): unknown {
  return m.type === 'snapshot'
    ? { ...m, bids: m.bids.filter((l) => l.qty > 0), asks: m.asks.filter((l) => l.qty > 0) }
    : m;
}

test('every simulator tick reaches Redis exactly once and in order, through cuts, lost and malformed frames and a Redis crash', async () => {
  // AOF with fsync on every write: what Redis acknowledged survives the SIGKILL (without persistence a crash loses data by design).
  const redis = await RedisTestServer.start({ appendonly: true, appendfsync: 'always' });
  const clock = new LiveClock();
  const sim = new Simulator({
    clock, calendar: new TradingCalendar(), instruments: buildUniverse(), seed: 21,
    timeMode: { kind: 'continuous' }, flow: { ...DEFAULT_ORDER_FLOW, arrivalsPerSecond: 80 },
  });
  const { feedPort } = await sim.start();
  const reference = await FeedTestClient.connect({ port: feedPort });
  await reference.logon('reference', CHANNELS.map((channel) => ({ channel, mode: 'RESUME' as const, lastSeq: 0 })));
  let dataFrames = 0;
  const proxy = await TcpProxy.start({ targetPort: feedPort, dropFrame: (f) => f.seq !== undefined && ++dataFrames % 29 === 0 });
  const connection = new RedisConnection({ mode: 'standalone', url: redis.url, keyPrefix: PREFIX });
  const registry = new Registry();
  const gateway = new Gateway({
    feeds: [{ name: 'sim', host: '127.0.0.1', port: proxy.port, channels: CHANNELS }],
    clientId: 'e2e', startAt: 'earliest', connection, slotGroups: 4, streamMaxLen: 1_000_000, compression: 'none',
    bufferMaxTicks: 1_000_000, overflowPolicy: 'backpressure', clock, registry, logger: silentLogger,
  });
  try {
    await gateway.start();
    await sleep(400);
    await proxy.cutMidFrame();
    await sleep(400);
    proxy.inject(malformedFrames());
    await sleep(300);
    await redis.kill();
    await sleep(600);
    await redis.restart();
    await sleep(500);
    sim.setFlowEnabled(false);

    // Wait until the gateway and the reference client stand at the same place on every channel
    // with nothing buffered (the simulator may still print a few messages after its flow stops,
    // so "the gateway reached what the reference saw" is not enough: both must agree).
    await reference.waitFor(() => {
      const position = gateway.stats().feeds[0]!.lastSeqByChannel;
      return CHANNELS.every((c) => (position[c] ?? 0) === reference.lastSeq(c)) && gateway.stats().publisher.bufferTicks === 0;
    }, 'the gateway and the reference client to agree', 15_000);
    assert.ok(await gateway.drain(10_000));

    const sent = CHANNELS.flatMap((channel) => reference.delivered(channel)) as MarketDataMessage[];
    const keys = new MarketDataKeys({ prefix: PREFIX, slotGroups: 4 });
    const stored: MarketDataMessage[] = [];
    const symbols = [...new Set(sent.map((m) => m.symbol))];
    for (const symbol of symbols) {
      const entries = (await (connection.client as unknown as {
        xrangeBuffer(k: string, s: string, e: string): Promise<[Buffer, Buffer[]][]>;
      }).xrangeBuffer(keys.streamKey(symbol), '-', '+'));
      const messages = entries.flatMap(([, fields]) => decodeEntryToFeedMessages(fields));
      // In order per symbol: strictly increasing seq within a channel.
      for (let i = 1; i < messages.length; i++) assert.ok(messages[i]!.seq > messages[i - 1]!.seq, `${symbol} out of order at ${i}`);
      stored.push(...messages);
    }
    const storedKeys = stored.map(key);
    assert.equal(new Set(storedKeys).size, storedKeys.length, 'no tick stored twice');
    const byKey = new Map(stored.map((m) => [key(m), m]));
    const missing = sent.filter((m) => !byKey.has(key(m)));
    assert.deepEqual(missing.map(key), [], 'no tick lost');
    assert.equal(stored.length, sent.length);
    for (const m of sent) assert.deepEqual(comparable(byKey.get(key(m))!), comparable(m), `tick ${key(m)} stored as sent`);

    const feed = gateway.stats().feeds[0]!;
    assert.ok(sent.length > 500, `enough traffic (${sent.length})`);
    assert.ok(proxy.framesDropped > 0 && feed.gaps > 0 && feed.retransmitRequests > 0, 'lost frames were recovered by retransmission');
    assert.ok(feed.reconnects > 0, 'the cut connection was re-established');
    assert.ok(feed.malformed >= 2, `malformed frames counted (${feed.malformed})`);
    assert.equal(feed.unrecoverableMessages, 0);
    assert.ok(gateway.stats().publisher.outages > 0, 'the Redis crash was noticed');
    const metrics = await registry.metrics();
    assert.match(metrics, new RegExp(`^triquant_gateway_feed_gaps\\{feed="sim"\\} ${feed.gaps}$`, 'm'));
    assert.match(metrics, new RegExp(`^triquant_gateway_feed_decode_errors\\{feed="sim"\\} [1-9]`, 'm'));
    assert.match(metrics, /^triquant_gateway_ticks_in_total\{feed="sim",type="snapshot"\} [1-9]/m);
  } finally {
    await gateway.close();
    await connection.close();
    await reference.logoutAndClose();
    await proxy.close();
    await sim.close();
    await redis.stop();
  }
});
