/**
 * RedisQuoteTail against a real redis-server: priming from the streams' last entries, following
 * new entries (several per stream per read: only the newest is decoded, when asked), an
 * undecodable newest entry, a symbol tracked after start.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisConnection } from '../../src/bus/redis-connection.ts';
import { MarketDataKeys } from '../../src/bus/market-data-keys.ts';
import { encodeEntryFields } from '../../src/bus/tick-codec.ts';
import type { FeedMarketData } from '../../src/bus/tick-codec.ts';
import type { SnapshotMessage, TradeMessage } from '../../src/protocol/feed/frames.ts';
import { RedisQuoteTail, ReferencePriceCache } from '../../src/execution/reference-prices.ts';
import { buildUniverse } from '../../src/sim/universe.ts';
import { RedisTestServer, redisServerAvailable } from '../support/redis-server.ts';

const SKIP = redisServerAvailable() ? false : 'redis-server is not installed';
const A = '600036.SH';
const B = '000001.SZ';
const C = '601318.SH';

function snapshot(symbol: string, seq: number, lastPrice: number): SnapshotMessage {
  return {
    type: 'snapshot', channel: 1, seq, symbol, eventTime: seq * 1_000, phase: 'CONTINUOUS',
    lastPrice, openPrice: 100_000, highPrice: 120_000, lowPrice: 90_000, prevClosePrice: 100_000,
    upperLimitPrice: 110_000, lowerLimitPrice: 90_000, volume: 100 * seq, turnover: 10_000_000 * seq,
    bids: Array.from({ length: 10 }, (_, i) => ({ price: lastPrice - 10 * (i + 1), qty: 100, orders: 1 })),
    asks: Array.from({ length: 10 }, (_, i) => ({ price: lastPrice + 10 * (i + 1), qty: 100, orders: 1 })),
  };
}

function trade(symbol: string, seq: number, price: number): TradeMessage {
  return { type: 'trade', channel: 1, seq, symbol, time: seq * 1_000, price, qty: 100, aggressor: 'SELL', buyOrderId: 1, sellOrderId: 2 };
}

async function waitFor(what: string, probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('RedisQuoteTail (real redis-server)', { skip: SKIP }, () => {
  let redis: RedisTestServer;
  let client: Redis;

  before(async () => {
    redis = await RedisTestServer.start();
    client = new Redis({ port: redis.port, host: '127.0.0.1' });
  });
  after(async () => {
    client.disconnect();
    await redis.stop();
  });

  test('primes, follows, decodes only the newest entry when asked, skips an undecodable one, tracks late symbols', async () => {
    const keys = new MarketDataKeys({ prefix: `rp${randomBytes(4).toString('hex')}`, slotGroups: 16 });
    const seqs = new Map<string, number>();
    const add = async (symbol: string, messages: FeedMarketData[], receiveTimeUs: number) => {
      const last = messages[messages.length - 1]!;
      seqs.set(symbol, last.seq);
      await client.xadd(keys.streamKey(symbol), `1-${last.seq}`, ...encodeEntryFields(messages, receiveTimeUs));
    };
    await add(A, [snapshot(A, 1, 100_100)], 1_000);
    await add(A, [snapshot(A, 2, 100_200)], 2_000);
    await add(B, [snapshot(B, 1, 100_300), trade(B, 2, 100_350)], 3_000);

    const cache = new ReferencePriceCache(buildUniverse());
    const connection = new RedisConnection({ mode: 'standalone', url: redis.url });
    const tail = new RedisQuoteTail({ connection, keys, cache, pollMs: 20, minReadIntervalMs: 5, rescanMs: 60_000 });
    try {
      await connection.whenReady(5_000);
      await tail.start();
      assert.equal(tail.streams, 2);
      assert.equal(tail.entriesRead, 2, 'one entry per stream primes it');
      assert.equal(cache.decodeStats.entriesDecoded, 0, 'nothing decoded before asked');
      assert.equal(cache.reference(A)!.last, 100_200);
      assert.equal(cache.reference(B)!.last, 100_350, 'the trade after the snapshot');
      assert.equal(cache.decodeStats.entriesDecoded, 2);

      // Several entries per stream arrive between reads: the newest decides, the rest are never decoded.
      await add(A, [snapshot(A, 3, 100_400), trade(A, 4, 100_450)], 4_000);
      await add(A, [snapshot(A, 5, 100_500)], 5_000);
      await add(A, [trade(A, 6, 100_550)], 6_000);
      await add(B, [snapshot(B, 3, 100_600)], 7_000);
      await waitFor('the new entries', () => tail.entriesRead === 6);
      const a = cache.reference(A)!;
      assert.deepEqual([a.last, a.bid, a.ask, a.updatedAt], [100_550, 100_490, 100_510, 6_000]);
      assert.equal(cache.reference(B)!.last, 100_600);
      assert.equal(cache.decodeStats.entriesDecoded, 5, 'A: the trades-only entry and the snapshot before it; B: its newest');
      assert.equal(cache.decodeStats.entriesSuperseded, 1);

      // An undecodable newest entry: counted, and the state before it stands.
      await client.xadd(keys.streamKey(A), '1-7', 't', 'b', 'd', Buffer.from([0x0a, 0x7f, 0x01]));
      await waitFor('the bad entry', () => tail.entriesRead === 7);
      assert.equal(cache.reference(A)!.last, 100_550);
      assert.equal(tail.errors, 1);

      // A stream created after start joins when its symbol is asked for (no rescan within the test).
      await add(C, [snapshot(C, 1, 100_700)], 8_000);
      assert.equal(cache.reference(C), undefined, 'unknown yet: asking tracks it');
      await waitFor('the tracked symbol', () => cache.reference(C) !== undefined);
      assert.equal(cache.reference(C)!.last, 100_700);
      assert.equal(tail.streams, 3);
    } finally {
      await tail.close();
      await connection.close();
    }
  });
});
