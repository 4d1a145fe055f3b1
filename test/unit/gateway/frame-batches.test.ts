/**
 * Batches straight from a feed carry validated wire frames and decode them only on demand:
 * the dispatcher and the latest-quote tap work on the frames, and never make the hot path
 * decode a batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { FrameTickBatch } from '../../../src/gateway/feed-client.ts';
import { LatestQuoteTap } from '../../../src/gateway/gateway.ts';
import { ObserverDispatcher } from '../../../src/gateway/observers.ts';
import { batchSize } from '../../../src/gateway/types.ts';
import type { TickBatch } from '../../../src/gateway/types.ts';
import { encodeAll, FeedDecoder } from '../../../src/protocol/feed/codec.ts';
import type { DataFrame } from '../../../src/protocol/feed/codec.ts';
import type { SnapshotMessage, TradeMessage } from '../../../src/protocol/feed/frames.ts';
import { silentLogger } from '../../../src/obs/log.ts';

function snapshot(symbol: string, seq: number): SnapshotMessage {
  const level = (price: number) => ({ price, qty: 100, orders: 1 });
  return {
    type: 'snapshot', channel: 1, seq, symbol, eventTime: 1_000 + seq, phase: 'CONTINUOUS', lastPrice: 100_000 + seq, openPrice: 100_000,
    highPrice: 101_000, lowPrice: 99_000, prevClosePrice: 100_000, upperLimitPrice: 110_000, lowerLimitPrice: 90_000, volume: seq * 100,
    turnover: seq * 10_000_000, bids: Array.from({ length: 10 }, (_, k) => level(99_900 - k * 100)), asks: Array.from({ length: 10 }, (_, k) => level(100_100 + k * 100)),
  };
}

function trade(symbol: string, seq: number): TradeMessage {
  return { type: 'trade', channel: 1, seq, symbol, time: 1_000 + seq, price: 100_000, qty: 100, aggressor: 'BUY', buyOrderId: seq, sellOrderId: seq + 1 };
}

/** The messages as a feed client delivers them, plus the chunk the frames live in. */
function frameBatch(messages: (SnapshotMessage | TradeMessage)[]): { batch: FrameTickBatch; chunk: Buffer } {
  const chunk = encodeAll(messages);
  const frames: DataFrame[] = [];
  new FeedDecoder({ onMessage: () => assert.fail('data frames only'), onDataFrame: (f) => frames.push(f) }).push(chunk);
  return { batch: new FrameTickBatch('f', 7, 123, frames), chunk };
}

/** A frame batch that fails the test if anything decodes it. */
function sealed(messages: (SnapshotMessage | TradeMessage)[]): TickBatch {
  const { batch } = frameBatch(messages);
  return Object.defineProperty(batch, 'messages', { get: () => assert.fail('decoded a frame batch') });
}

test('a frame batch decodes its messages only when asked, once', () => {
  const messages = [snapshot('600000.SH', 1), trade('600000.SH', 2), snapshot('000001.SZ', 3)];
  const { batch } = frameBatch(messages);
  assert.equal(batchSize(batch), 3);
  assert.deepEqual(batch.messages, messages);
  assert.equal(batch.messages, batch.messages, 'decoded once and kept');
  assert.deepEqual(batch.frames.map((f) => [f.type, f.seq, f.symbol]), [['snapshot', 1, '600000.SH'], ['trade', 2, '600000.SH'], ['snapshot', 3, '000001.SZ']]);
});

test('the dispatcher counts and queues frame batches without decoding them', async () => {
  const dispatcher = new ObserverDispatcher({ logger: silentLogger, highWaterMessages: 4, lowWaterMessages: 1 });
  const sizes: number[] = [];
  dispatcher.add({ name: 'reliable', reliable: true, onBatch: (b) => void sizes.push(b.frames?.length ?? -1) });
  dispatcher.add({ name: 'best-effort', reliable: false, onBatch: () => {} });
  dispatcher.dispatch(sealed([trade('A', 1), trade('A', 2)]));
  dispatcher.dispatch(sealed([trade('A', 3), trade('A', 4), trade('A', 5)]));
  assert.ok(await dispatcher.drain(1_000));
  await nextTurn();
  const stats = dispatcher.stats();
  assert.equal(stats.messages, 5);
  assert.deepEqual(sizes, [2, 3]);
  assert.deepEqual(stats.observers.map((o) => o.deliveredMessages), [5, 5]);
});

test('the latest-quote tap keeps the newest snapshot per symbol from frame batches, as its own copy', () => {
  const tap = new LatestQuoteTap();
  const first = frameBatch([snapshot('600000.SH', 1), snapshot('000001.SZ', 2), snapshot('600000.SH', 3), trade('600000.SH', 4)]);
  tap.onBatch(first.batch);
  assert.deepEqual(tap.symbols(), ['000001.SZ', '600000.SH']);
  assert.deepEqual(tap.quote('600000.SH'), snapshot('600000.SH', 3), 'the newest of the batch; trades ignored');
  first.chunk.fill(0); // the socket's chunk is gone: the quote must not depend on it
  assert.deepEqual(tap.quote('000001.SZ'), snapshot('000001.SZ', 2));
  tap.onBatch(frameBatch([snapshot('600000.SH', 5)]).batch);
  assert.deepEqual(tap.quote('600000.SH'), snapshot('600000.SH', 5));
  tap.onBatch({ feed: 'f', sessionId: 7, receivedAt: 1, messages: [snapshot('000001.SZ', 6)] });
  assert.deepEqual(tap.quote('000001.SZ'), snapshot('000001.SZ', 6), 'batches of messages too');
  assert.equal(tap.quote('300750.SZ'), undefined);
});
