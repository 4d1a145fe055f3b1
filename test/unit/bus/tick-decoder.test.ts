/**
 * The hand-written `MarketDataBatch` decoder must return exactly what the generated decoder
 * returns for every valid encoding (the generated one is the reference), and throw, never
 * return garbage or hang, for truncated or malformed input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { decodeMarketDataBatch, TickDecodeError } from '../../../src/bus/tick-decoder.ts';
import { decodeEntryBatch, FIELD_DATA, FIELD_TYPE, MarketDataBatchWriter, TickCodecError, TYPE_BATCH } from '../../../src/bus/tick-codec.ts';
import { MarketDataBatch, Tick, Trade } from '../../../src/protocol/gen/triquant/v1/market_data.ts';
import type { Level } from '../../../src/protocol/gen/triquant/v1/market_data.ts';
import { encode as encodeFrame } from '../../../src/protocol/feed/codec.ts';
import { feedIntArb, feedSnapshotArb, feedTradeArb } from '../../support/market-messages.ts';

/** The generated decoder's result, or the string 'throws'. */
function reference(bytes: Uint8Array): MarketDataBatch | 'throws' {
  try {
    return MarketDataBatch.decode(bytes);
  } catch {
    return 'throws';
  }
}

function ours(bytes: Uint8Array): MarketDataBatch | 'throws' {
  try {
    return decodeMarketDataBatch(bytes);
  } catch (error) {
    assert.ok(error instanceof TickDecodeError, `unexpected error type: ${String(error)}`);
    return 'throws';
  }
}

// Integers that stress every varint length: small, 32-bit edges, up to ±(2^53−1).
const int64Arb = fc.oneof(
  fc.constant(0),
  fc.integer({ min: -300, max: 300 }),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, -1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, -(2 ** 32), -(2 ** 31) - 1, 2 ** 35, 2 ** 52),
  fc.integer({ min: 2 ** 31, max: 2 ** 33 }),
  fc.maxSafeInteger(),
);
const uint64Arb = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 }), fc.constantFrom(Number.MAX_SAFE_INTEGER, 2 ** 32, 2 ** 32 - 1), fc.maxSafeNat());
const uint32Arb = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 300 }), fc.constant(0xffff_ffff), fc.nat({ max: 0xffff_ffff }));
const enumArb = fc.oneof(fc.integer({ min: 0, max: 10 }), fc.constantFrom(-1, 2 ** 31 - 1, -(2 ** 31)));
const symbolArb = fc.oneof(
  fc.constantFrom('', '600000.SH', '000001.SZ', '\ufeffBOM', '平安银行'),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }), // lone surrogates: encoded as U+FFFD by both sides
  fc.string({ minLength: 60, maxLength: 80 }),
);

const levelArb: fc.Arbitrary<Level> = fc.record({ price: int64Arb, quantity: int64Arb, orders: fc.option(int64Arb, { nil: undefined }) });
const bookArb = fc.array(levelArb, { maxLength: 10 });
const tickArb: fc.Arbitrary<Tick> = fc.record({
  symbol: symbolArb, channel: uint32Arb, seq: uint64Arb, eventTimeUs: int64Arb, receiveTimeUs: int64Arb,
  phase: enumArb as fc.Arbitrary<Tick['phase']>,
  lastPrice: int64Arb, openPrice: int64Arb, highPrice: int64Arb, lowPrice: int64Arb, prevClosePrice: int64Arb,
  volume: int64Arb, turnover: int64Arb, bids: bookArb, asks: bookArb, upperLimitPrice: int64Arb, lowerLimitPrice: int64Arb,
});
const tradeArb: fc.Arbitrary<Trade> = fc.record({
  symbol: symbolArb, channel: uint32Arb, seq: uint64Arb, eventTimeUs: int64Arb, receiveTimeUs: int64Arb,
  price: int64Arb, quantity: int64Arb, aggressorSide: enumArb as fc.Arbitrary<Trade['aggressorSide']>,
  buyOrderRef: uint64Arb, sellOrderRef: uint64Arb,
});
const batchArb: fc.Arbitrary<MarketDataBatch> = fc.record({
  ticks: fc.array(tickArb, { maxLength: 4 }),
  trades: fc.array(tradeArb, { maxLength: 4 }),
  publishTimeUs: int64Arb,
});

test('property: decodes what the generated encoder writes exactly as the generated decoder does', () => {
  fc.assert(
    fc.property(batchArb, (batch) => {
      const bytes = MarketDataBatch.encode(batch).finish();
      const expected = MarketDataBatch.decode(bytes);
      const actual = decodeMarketDataBatch(bytes);
      assert.deepStrictEqual(actual, expected);
      // Same own-key order as the generated objects (createBase*), so the shapes match too.
      for (let i = 0; i < actual.ticks.length; i++) {
        assert.deepEqual(Object.keys(actual.ticks[i]!), Object.keys(expected.ticks[i]!));
        for (let k = 0; k < actual.ticks[i]!.bids.length; k++) assert.deepEqual(Object.keys(actual.ticks[i]!.bids[k]!), Object.keys(expected.ticks[i]!.bids[k]!));
      }
      for (let i = 0; i < actual.trades.length; i++) assert.deepEqual(Object.keys(actual.trades[i]!), Object.keys(expected.trades[i]!));
    }),
    { numRuns: 300 },
  );
});

test('empty input and empty nested messages decode to the defaults', () => {
  assert.deepStrictEqual(decodeMarketDataBatch(new Uint8Array(0)), { ticks: [], trades: [], publishTimeUs: 0 });
  const bytes = Uint8Array.from([10, 0, 18, 0, 10, 2, 114, 0]); // empty tick, empty trade, tick with one empty level
  assert.deepStrictEqual(decodeMarketDataBatch(bytes), MarketDataBatch.decode(bytes));
  assert.deepStrictEqual(decodeMarketDataBatch(bytes).ticks[1]!.bids, [{ price: 0, quantity: 0, orders: undefined }]);
});

// --- feed messages through MarketDataBatchWriter (the publisher's bytes)

test('property: bytes written by MarketDataBatchWriter (append and appendFrame) decode like the generated decoder', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(feedSnapshotArb, feedTradeArb), { maxLength: 6 }), fc.maxSafeNat(), feedIntArb, (messages, receivedAt, publishedAt) => {
      const w = new MarketDataBatchWriter(1_024);
      const wf = new MarketDataBatchWriter(1_024);
      for (const m of messages) {
        w.append(m, receivedAt);
        wf.appendFrame(encodeFrame(m), 0, receivedAt);
      }
      w.publishTime(publishedAt);
      wf.publishTime(publishedAt);
      for (const bytes of [w.toBuffer(), wf.toBuffer()]) assert.deepStrictEqual(decodeMarketDataBatch(bytes), MarketDataBatch.decode(bytes));
    }),
    { numRuns: 200 },
  );
});

// --- unknown fields

/** Writes one unknown field of a random wire type with field number `fieldNo`. */
const unknownFieldArb = fc.record({
  fieldNo: fc.oneof(fc.integer({ min: 18, max: 100 }), fc.integer({ min: 1000, max: 2 ** 29 - 1 })),
  kind: fc.constantFrom('varint', 'fixed64', 'bytes', 'fixed32', 'group'),
  value: fc.oneof(fc.constant(0), fc.maxSafeInteger(), fc.constant(-1)),
  payload: fc.uint8Array({ maxLength: 20 }),
});
function writeUnknown(w: BinaryWriter, u: { fieldNo: number; kind: string; value: number; payload: Uint8Array }): void {
  switch (u.kind) {
    case 'varint': w.tag(u.fieldNo, 0).int64(u.value); break;
    case 'fixed64': w.tag(u.fieldNo, 1).sfixed64(u.value); break;
    case 'bytes': w.tag(u.fieldNo, 2).bytes(u.payload); break;
    case 'fixed32': w.tag(u.fieldNo, 5).fixed32(u.value >>> 0); break;
    default: // a group holding a varint, a bytes field and a nested group
      w.tag(u.fieldNo, 3).tag(1, 0).int64(u.value).tag(2, 2).bytes(u.payload).tag(3, 3).tag(3, 4).tag(u.fieldNo, 4);
  }
}

test('property: unknown fields of every wire type, and known numbers with the wrong wire type, are skipped', () => {
  fc.assert(
    fc.property(tickArb, tradeArb, fc.array(unknownFieldArb, { minLength: 1, maxLength: 4 }), int64Arb, (tick, trade, unknown, publish) => {
      // Unknown fields before, between and after the known ones at every nesting level.
      const w = new BinaryWriter();
      writeUnknown(w, unknown[0]!);
      const tw = w.uint32(10).fork();
      for (const u of unknown) writeUnknown(tw, u);
      // The tick's fields, a level carrying unknowns, then `symbol` (field 1) with the wrong wire type.
      tw.raw(Tick.encode(tick).finish());
      tw.uint32(114).fork().tag(1, 0).int64(5).tag(9, 5).fixed32(7).join();
      tw.tag(1, 0).int64(12345);
      tw.join();
      writeUnknown(w, unknown[unknown.length - 1]!);
      w.uint32(18).fork().tag(3, 2).bytes(new Uint8Array([1, 2])).raw(Trade.encode(trade).finish()).tag(77, 1).sfixed64(-1).join();
      w.uint32(24).int64(publish);
      w.tag(3, 5).fixed32(9); // publish_time_us with the wrong wire type: skipped
      const bytes = w.finish();
      const expected = MarketDataBatch.decode(bytes);
      assert.deepStrictEqual(decodeMarketDataBatch(bytes), expected);
      assert.equal(expected.ticks[0]!.symbol, tick.symbol);
      assert.equal(expected.publishTimeUs, publish);
    }),
    { numRuns: 200 },
  );
});

// --- truncated and malformed input

test('property: every prefix of a valid encoding throws exactly when the generated decoder throws, else decodes equal', () => {
  fc.assert(
    fc.property(batchArb.filter((b) => b.ticks.length + b.trades.length > 0), (batch) => {
      const bytes = MarketDataBatch.encode(batch).finish();
      for (let n = 0; n < bytes.length; n++) {
        const prefix = bytes.subarray(0, n);
        assert.deepStrictEqual(ours(prefix), reference(prefix), `prefix of ${n} of ${bytes.length} bytes`);
      }
    }),
    { numRuns: 40 },
  );
});

test('property: random bytes throw TickDecodeError or decode equal to the generated decoder (never hang)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const mine = ours(bytes);
      // The generated decoder stops early on tag 0 or an end-group tag and lets a field overrun its
      // enclosing message; this one rejects those, so it may throw where the generated one returns.
      if (mine !== 'throws') assert.deepStrictEqual(mine, reference(bytes));
    }),
    { numRuns: 2_000 },
  );
});

test('64-bit values beyond ±(2^53−1) throw, like the generated decoder', () => {
  const big = (tag: number, v: bigint) => new BinaryWriter().uint32(tag).int64(v).finish();
  const cases: [string, Uint8Array][] = [
    ['publish 2^53', big(24, 2n ** 53n)],
    ['publish 2^63-1', big(24, 2n ** 63n - 1n)],
    ['publish -2^53', big(24, -(2n ** 53n))],
    ['publish -2^63', big(24, -(2n ** 63n))],
    ['tick seq 2^53', new BinaryWriter().uint32(10).fork().uint32(24).uint64(2n ** 53n).join().finish()],
    ['tick seq 2^64-1', new BinaryWriter().uint32(10).fork().uint32(24).uint64(2n ** 64n - 1n).join().finish()],
    ['level price -2^60', new BinaryWriter().uint32(10).fork().uint32(114).fork().uint32(8).int64(-(2n ** 60n)).join().join().finish()],
    ['trade buy ref 2^53+1', new BinaryWriter().uint32(18).fork().uint32(72).uint64(2n ** 53n + 1n).join().finish()],
  ];
  for (const [name, bytes] of cases) {
    assert.throws(() => MarketDataBatch.decode(bytes), Error, `generated: ${name}`);
    assert.throws(() => decodeMarketDataBatch(bytes), TickDecodeError, name);
  }
  // The edges themselves decode.
  const edge = decodeMarketDataBatch(new BinaryWriter().uint32(10).fork().uint32(32).int64(Number.MIN_SAFE_INTEGER).uint32(40).int64(Number.MAX_SAFE_INTEGER).join().finish());
  assert.equal(edge.ticks[0]!.eventTimeUs, Number.MIN_SAFE_INTEGER);
  assert.equal(edge.ticks[0]!.receiveTimeUs, Number.MAX_SAFE_INTEGER);
});

test('malformed input throws TickDecodeError', () => {
  const cases: [string, number[]][] = [
    ['varint of 11 bytes', [24, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
    ['tick longer than the buffer', [10, 5, 16, 1]],
    ['level overrunning its length', [10, 4, 114, 2, 8, 0x96, 0x01]],
    ['tag 0', [0, 1]],
    ['stray end-group', [12]],
    ['wire type 6', [14, 1]],
    ['wire type 7', [15, 1]],
    ['unterminated group', [0x1b, 8, 1]],
    ['mismatched end group', [0x1b, 0x24]],
    ['fixed64 cut short', [0x19, 1, 2, 3]],
    ['string past the end', [10, 4, 10, 9, 0x41]],
  ];
  for (const [name, bytes] of cases) assert.throws(() => decodeMarketDataBatch(Uint8Array.from(bytes)), TickDecodeError, name);
});

test('decodeEntryBatch uses the decoder and still turns failures into TickCodecError', () => {
  const w = new MarketDataBatchWriter(1_024);
  w.publishTime(1_735_000_000_000_000);
  assert.deepStrictEqual(decodeEntryBatch([FIELD_TYPE, TYPE_BATCH, FIELD_DATA, w.toBuffer()]), { ticks: [], trades: [], publishTimeUs: 1_735_000_000_000_000 });
  assert.throws(() => decodeEntryBatch([FIELD_TYPE, TYPE_BATCH, FIELD_DATA, Buffer.from([10, 5, 16])]), TickCodecError);
  // Tag 0: the generated decoder stops there and returns an empty batch; the hand-written one rejects it.
  assert.throws(() => decodeEntryBatch([FIELD_TYPE, TYPE_BATCH, FIELD_DATA, Buffer.from([0])]), TickCodecError);
  assert.throws(() => decodeEntryBatch([FIELD_TYPE, TYPE_BATCH, FIELD_DATA, Buffer.from(new BinaryWriter().uint32(24).int64(2n ** 60n).finish())]), TickCodecError);
});
