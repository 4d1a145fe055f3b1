/**
 * The publisher's hot path writes stream entries straight from feed frames
 * (`MarketDataBatchWriter.appendFrame`): the bytes must be exactly those written from the
 * decoded messages (`append`), which the tick-codec tests tie to the generated protobuf encoder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MarketDataBatchWriter, TickCodecError, decodeEntryToFeedMessages, FIELD_DATA, FIELD_TYPE, TYPE_BATCH } from '../../../src/bus/tick-codec.ts';
import { encode, encodeAll } from '../../../src/protocol/feed/codec.ts';
import { HEADER_BYTES } from '../../../src/protocol/feed/frames.ts';
import type { SnapshotMessage, TradeMessage } from '../../../src/protocol/feed/frames.ts';
import { EMPTY_LEVEL, feedSnapshotArb, feedTradeArb } from '../../support/market-messages.ts';

const receiveArb = fc.oneof(fc.constant(0), fc.maxSafeNat(), fc.integer({ min: 1_700_000_000_000_000, max: 1_800_000_000_000_000 }));

test('property: a frame transcodes to exactly the bytes of its decoded message', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(feedSnapshotArb, feedTradeArb), { minLength: 1, maxLength: 8 }), receiveArb, fc.nat({ max: 50 }), (messages, receivedAt, pad) => {
      const fromMessages = new MarketDataBatchWriter(1_024);
      const fromFrames = new MarketDataBatchWriter(1_024);
      const frames = Buffer.concat([Buffer.alloc(pad, 0xee), encodeAll(messages)]);
      let offset = pad;
      for (const m of messages) {
        fromMessages.append(m, receivedAt);
        fromFrames.appendFrame(frames, offset, receivedAt);
        offset += encode(m).length;
      }
      assert.deepEqual(Buffer.from(fromFrames.view()), Buffer.from(fromMessages.view()));
    }),
    { numRuns: 2_000 },
  );
});

test('an entry written from frames decodes back to the feed messages', () => {
  const snapshot: SnapshotMessage = {
    type: 'snapshot', channel: 1, seq: 7, symbol: '600000.SH', eventTime: 1_735_000_000_123_456, phase: 'CONTINUOUS',
    lastPrice: 100_500, openPrice: 99_000, highPrice: 101_000, lowPrice: 98_500, prevClosePrice: 99_500,
    upperLimitPrice: 109_500, lowerLimitPrice: 89_600, volume: 12_345_600, turnover: -5,
    bids: [{ price: 100_400, qty: 100, orders: 1 }, ...Array.from({ length: 9 }, () => EMPTY_LEVEL)],
    asks: [{ price: 100_500, qty: 200, orders: 0 }, EMPTY_LEVEL, { price: 100_700, qty: 300, orders: 3 }, ...Array.from({ length: 7 }, () => EMPTY_LEVEL)],
  };
  const trade: TradeMessage = { type: 'trade', channel: 1, seq: 8, symbol: '600000.SH', time: 1_735_000_000_223_456, price: 100_500, qty: 300, aggressor: 'NONE', buyOrderId: 0, sellOrderId: Number.MAX_SAFE_INTEGER };
  const w = new MarketDataBatchWriter();
  w.appendFrame(encode(snapshot), 0, 1);
  w.appendFrame(encode(trade), 0, 2);
  assert.deepEqual(decodeEntryToFeedMessages([FIELD_TYPE, TYPE_BATCH, FIELD_DATA, w.toBuffer()]), [snapshot, trade]);
});

test('a frame that is not a snapshot or trade of the right length is refused with nothing written', () => {
  const w = new MarketDataBatchWriter();
  assert.throws(() => w.appendFrame(encode({ type: 'heartbeat', time: 1 }), 0, 0), TickCodecError);
  const short = Buffer.from(encode({ type: 'trade', channel: 1, seq: 1, symbol: 'X', time: 1, price: 1, qty: 1, aggressor: 'BUY', buyOrderId: 1, sellOrderId: 1 }));
  short.writeUInt32LE(66, 4);
  assert.throws(() => w.appendFrame(short, 0, 0), TickCodecError);
  assert.equal(w.length, 0);
  assert.equal(HEADER_BYTES, 8);
});

