import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { copyDataFrame, dataFrameBytes, dataFrameEventTime, decodeAll, decodeDataFrame, encode, encodeAll, encodeDataInto, encodeInto, FeedDecoder, frameLength } from '../../../src/protocol/feed/codec.ts';
import type { DataFrame } from '../../../src/protocol/feed/codec.ts';
import {
  HEADER_BYTES,
  MAX_FRAME_BYTES,
  MessageType,
  PHASE_BY_CODE,
  PHASE_CODE,
  SNAPSHOT_BODY_BYTES,
  SNAPSHOT_FRAME_BYTES,
  TRADE_FRAME_BYTES,
  TradingPhase,
} from '../../../src/protocol/feed/frames.ts';
import type { BookLevel, FeedMessage, FrameError, SnapshotMessage, TradeMessage } from '../../../src/protocol/feed/frames.ts';
import { ValidationError } from '../../../src/core/errors.ts';

const MAX = Number.MAX_SAFE_INTEGER;

function levels(base: number): BookLevel[] {
  return Array.from({ length: 10 }, (_, i) => ({ price: base + i * 100, qty: (i + 1) * 100, orders: i + 1 }));
}

const SNAPSHOT: SnapshotMessage = {
  type: 'snapshot',
  channel: 3,
  seq: 42,
  symbol: '600000.SH',
  eventTime: 1_735_000_000_123_456,
  phase: 'CONTINUOUS',
  lastPrice: 100_500,
  openPrice: 99_000,
  highPrice: 101_000,
  lowPrice: 98_500,
  prevClosePrice: 99_500,
  upperLimitPrice: 109_500,
  lowerLimitPrice: 89_600,
  volume: 12_345_600,
  turnover: 1_234_567_890_123_456,
  bids: levels(100_400),
  asks: levels(100_500),
};

const TRADE: TradeMessage = {
  type: 'trade',
  channel: 3,
  seq: 43,
  symbol: '000001.SZ',
  time: 1_735_000_000_223_456,
  price: 100_500,
  qty: 300,
  aggressor: 'SELL',
  buyOrderId: 7,
  sellOrderId: MAX,
};

const ONE_OF_EACH: FeedMessage[] = [
  { type: 'logon', protocolVersion: 1, clientId: 'gateway-1', authToken: 'sécret token', channels: [{ channel: 1, mode: 'LIVE', lastSeq: 0 }, { channel: 2, mode: 'RESUME', lastSeq: 1_000_000 }] },
  { type: 'logon', protocolVersion: 1, clientId: 'x', channels: [] },
  { type: 'logonAck', heartbeatIntervalMs: 1_000, serverTime: 1_735_000_000_000_000, sessionId: 1_734_999_000_000_001, channels: [{ channel: 1, lastSeq: 99, firstAvailableSeq: 10 }] },
  { type: 'logonReject', code: 2, reason: 'authentication failed' },
  { type: 'heartbeat', time: -5 },
  { type: 'logout', code: 1, reason: 'slow consumer：慢' },
  SNAPSHOT,
  TRADE,
  { type: 'retransmitRequest', channel: 65_535, fromSeq: 1, toSeq: MAX },
  { type: 'retransmitEnd', channel: 0, fromSeq: 5, toSeq: 9 },
  { type: 'retransmitReject', channel: 9, fromSeq: 1, toSeq: 4, firstAvailableSeq: 5, lastSeq: 20, code: 1, reason: 'too old' },
];

// ---------------------------------------------------------------------------------------------
// Arbitraries

const safeInt = fc.maxSafeInteger();
const safeNat = fc.maxSafeNat();
const symbolArb = fc.stringMatching(/^[\x21-\x7e]{1,16}$/);
const levelArb = fc.record({ price: safeInt, qty: safeNat, orders: fc.nat({ max: 0xffff_ffff }) });
const channelArb = fc.integer({ min: 0, max: 0xffff });
const textArb = fc.string({ maxLength: 40 });

const snapshotArb: fc.Arbitrary<SnapshotMessage> = fc.record({
  type: fc.constant('snapshot' as const),
  channel: channelArb,
  seq: safeNat,
  symbol: symbolArb,
  eventTime: safeInt,
  phase: fc.constantFrom(...Object.values(TradingPhase)),
  lastPrice: safeInt,
  openPrice: safeInt,
  highPrice: safeInt,
  lowPrice: safeInt,
  prevClosePrice: safeInt,
  upperLimitPrice: safeInt,
  lowerLimitPrice: safeInt,
  volume: safeNat,
  turnover: safeInt,
  bids: fc.array(levelArb, { minLength: 10, maxLength: 10 }),
  asks: fc.array(levelArb, { minLength: 10, maxLength: 10 }),
});

const tradeArb: fc.Arbitrary<TradeMessage> = fc.record({
  type: fc.constant('trade' as const),
  channel: channelArb,
  seq: safeNat,
  symbol: symbolArb,
  time: safeInt,
  price: safeInt,
  qty: safeNat,
  aggressor: fc.constantFrom('BUY' as const, 'SELL' as const, 'NONE' as const),
  buyOrderId: safeNat,
  sellOrderId: safeNat,
});

const messageArb: fc.Arbitrary<FeedMessage> = fc.oneof(
  snapshotArb,
  tradeArb,
  fc.record({ type: fc.constant('heartbeat' as const), time: safeInt }),
  fc.record({ type: fc.constant('logout' as const), code: fc.integer({ min: 0, max: 0xffff }), reason: textArb }),
  fc.record({ type: fc.constant('logonReject' as const), code: fc.integer({ min: 0, max: 0xffff }), reason: textArb }),
  fc.record({ type: fc.constant('retransmitRequest' as const), channel: channelArb, fromSeq: safeNat, toSeq: safeNat }),
  fc.record({ type: fc.constant('retransmitEnd' as const), channel: channelArb, fromSeq: safeNat, toSeq: safeNat }),
  fc.record({
    type: fc.constant('retransmitReject' as const),
    channel: channelArb,
    fromSeq: safeNat,
    toSeq: safeNat,
    firstAvailableSeq: safeNat,
    lastSeq: safeNat,
    code: fc.integer({ min: 0, max: 0xffff }),
    reason: textArb,
  }),
  fc.record(
    {
      type: fc.constant('logon' as const),
      protocolVersion: fc.integer({ min: 0, max: 0xffff }),
      clientId: fc.stringMatching(/^[\x21-\x7e]{1,64}$/),
      authToken: fc.string({ minLength: 1, maxLength: 30 }),
      channels: fc.uniqueArray(
        fc.record({ channel: channelArb, mode: fc.constantFrom('LIVE' as const, 'RESUME' as const), lastSeq: safeNat }),
        { maxLength: 5, selector: (s) => s.channel },
      ),
    },
    { requiredKeys: ['type', 'protocolVersion', 'clientId', 'channels'] },
  ),
  fc.record({
    type: fc.constant('logonAck' as const),
    heartbeatIntervalMs: fc.nat({ max: 0xffff_ffff }),
    serverTime: safeInt,
    sessionId: safeNat,
    channels: fc.array(fc.record({ channel: channelArb, lastSeq: safeNat, firstAvailableSeq: safeNat }), { maxLength: 5 }),
  }),
);

/** Splits `bytes` at the given cut points (any order, duplicates allowed). */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(prev, p));
    prev = p;
  }
  chunks.push(bytes.subarray(prev));
  return chunks;
}

function collect(): { decoder: FeedDecoder; messages: FeedMessage[]; errors: FrameError[] } {
  const messages: FeedMessage[] = [];
  const errors: FrameError[] = [];
  const decoder = new FeedDecoder({ onMessage: (m) => messages.push(m), onError: (e) => errors.push(e) });
  return { decoder, messages, errors };
}

/** A frame with a valid header around an arbitrary body. */
function rawFrame(type: number, body: Buffer | number[]): Buffer {
  const b = Buffer.from(body);
  const frame = Buffer.alloc(HEADER_BYTES + b.length);
  frame.write('TQ', 0, 'latin1');
  frame[2] = 1;
  frame[3] = type;
  frame.writeUInt32LE(b.length, 4);
  b.copy(frame, HEADER_BYTES);
  return frame;
}

// ---------------------------------------------------------------------------------------------

test('every message type round-trips', () => {
  for (const message of ONE_OF_EACH) {
    const bytes = encode(message);
    assert.equal(bytes.length, frameLength(message), message.type);
    const { messages, errors, trailingBytes } = decodeAll(bytes);
    assert.deepEqual(errors, [], message.type);
    assert.equal(trailingBytes, 0);
    assert.deepEqual(messages, [message], message.type);
  }
});

test('the header is magic "TQ", version 1, type, little-endian body length', () => {
  const bytes = encode({ type: 'heartbeat', time: 1 });
  assert.deepEqual([...bytes.subarray(0, HEADER_BYTES)], [0x54, 0x51, 1, MessageType.HEARTBEAT, 8, 0, 0, 0]);
  assert.deepEqual([...bytes.subarray(HEADER_BYTES)], [1, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(encode(SNAPSHOT).length, SNAPSHOT_FRAME_BYTES);
  assert.equal(SNAPSHOT_BODY_BYTES, 507);
  assert.equal(encode(TRADE).length, TRADE_FRAME_BYTES);
});

test('LogonAck layout: interval u32, serverTime i64, sessionId u64, channel count, 18-byte channel statuses', () => {
  const ack: FeedMessage = { type: 'logonAck', heartbeatIntervalMs: 500, serverTime: -3, sessionId: 2 ** 32 + 7, channels: [{ channel: 9, lastSeq: 5, firstAvailableSeq: 1 }] };
  const bytes = encode(ack);
  assert.deepEqual([...bytes.subarray(0, HEADER_BYTES)], [0x54, 0x51, 1, MessageType.LOGON_ACK, 40, 0, 0, 0]);
  const body = bytes.subarray(HEADER_BYTES);
  assert.equal(body.readUInt32LE(0), 500);
  assert.equal(body.readBigInt64LE(4), -3n);
  assert.equal(body.readBigUInt64LE(12), 2n ** 32n + 7n);
  assert.equal(body.readUInt16LE(20), 1);
  assert.equal(body.readUInt16LE(22), 9);
  assert.equal(body.readBigUInt64LE(24), 5n);
  assert.equal(body.readBigUInt64LE(32), 1n);
  assert.deepEqual(decodeAll(bytes).messages, [ack]);
  // The pre-sessionId layout (14-byte fixed part) is now a malformed body, not a misread.
  const old = rawFrame(MessageType.LOGON_ACK, Buffer.concat([body.subarray(0, 12), body.subarray(20)]));
  const { messages, errors } = decodeAll(old);
  assert.deepEqual(messages, []);
  assert.equal(errors[0]?.reason, 'BAD_BODY');
});

test('64-bit fields are exact integers across the whole safe range, negative included', () => {
  const extremes: SnapshotMessage = { ...SNAPSHOT, lastPrice: -MAX, openPrice: MAX, highPrice: -1, lowPrice: 2 ** 32, turnover: -(2 ** 32) - 1, volume: MAX, seq: MAX };
  assert.deepEqual(decodeAll(encode(extremes)).messages, [extremes]);
  // i64 on the wire: two's complement, low word first.
  const bytes = encode({ type: 'heartbeat', time: -2 });
  assert.deepEqual([...bytes.subarray(HEADER_BYTES)], [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
});

test('the phase code table is 1..10 in session order and covers every phase', () => {
  assert.deepEqual(Object.values(PHASE_CODE), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  for (const phase of Object.values(TradingPhase)) assert.equal(PHASE_BY_CODE[PHASE_CODE[phase]], phase);
  assert.equal(PHASE_BY_CODE[0], undefined);
});

test('the encoder pads short books with empty levels and refuses what does not fit', () => {
  const short = { ...SNAPSHOT, bids: [{ price: 1, qty: 2, orders: 3 }], asks: [] };
  const [decoded] = decodeAll(encode(short)).messages as SnapshotMessage[];
  assert.equal(decoded!.bids.length, 10);
  assert.deepEqual(decoded!.bids[0], { price: 1, qty: 2, orders: 3 });
  assert.deepEqual(decoded!.bids[9], { price: 0, qty: 0, orders: 0 });
  assert.deepEqual(decoded!.asks[0], { price: 0, qty: 0, orders: 0 });

  assert.throws(() => encode({ ...SNAPSHOT, lastPrice: 1.5 }), ValidationError);
  assert.throws(() => encode({ ...SNAPSHOT, lastPrice: 2 ** 53 }), ValidationError);
  assert.throws(() => encode({ ...SNAPSHOT, volume: -1 }), ValidationError);
  assert.throws(() => encode({ ...SNAPSHOT, symbol: '' }), ValidationError);
  assert.throws(() => encode({ ...SNAPSHOT, symbol: 'ABCDEFGHIJKLMNOPQ' }), ValidationError);
  assert.throws(() => encode({ ...SNAPSHOT, symbol: '中国' }), ValidationError);
  assert.throws(() => encode({ ...SNAPSHOT, channel: 70_000 }), ValidationError);
  assert.throws(() => encode({ ...SNAPSHOT, phase: 'LUNCH' as never }), ValidationError);
  assert.throws(() => encode({ ...SNAPSHOT, bids: levels(1).concat(levels(2)) }), ValidationError);
  assert.throws(() => encode({ ...TRADE, aggressor: 'BOTH' as never }), ValidationError);
  assert.throws(() => encode({ type: 'logout', code: 0, reason: 'x'.repeat(2_000) }), ValidationError);
  assert.throws(() => encode({ type: 'logon', protocolVersion: 1, clientId: 'has space', channels: [] }), ValidationError);
});

test('encodeInto writes into a reusable buffer; encodeDataInto overrides the seq', () => {
  const scratch = Buffer.alloc(4_096);
  const n = encodeInto(SNAPSHOT, scratch, 100);
  assert.equal(n, SNAPSHOT_FRAME_BYTES);
  assert.deepEqual(decodeAll(scratch.subarray(100, 100 + n)).messages, [SNAPSHOT]);
  const m = encodeDataInto(TRADE, 7, scratch, 0);
  assert.deepEqual(decodeAll(scratch.subarray(0, m)).messages, [{ ...TRADE, seq: 7 }]);
  assert.throws(() => encodeInto(SNAPSHOT, Buffer.alloc(10), 0), RangeError);
});

test('coalesced frames in one chunk all decode, in order', () => {
  const bytes = encodeAll(ONE_OF_EACH);
  const { decoder, messages, errors } = collect();
  decoder.push(bytes);
  assert.deepEqual(errors, []);
  assert.deepEqual(messages, ONE_OF_EACH);
  assert.equal(decoder.stats.frames, ONE_OF_EACH.length);
  assert.equal(decoder.bufferedBytes, 0);
});

test('a stream fed one byte at a time decodes exactly', () => {
  const bytes = encodeAll([...ONE_OF_EACH, ...ONE_OF_EACH]);
  const { decoder, messages, errors } = collect();
  for (let i = 0; i < bytes.length; i++) decoder.push(bytes.subarray(i, i + 1));
  assert.deepEqual(errors, []);
  assert.deepEqual(messages, [...ONE_OF_EACH, ...ONE_OF_EACH]);
});

test('property: any messages, any chunk split, decode to exactly the messages encoded', () => {
  fc.assert(
    fc.property(fc.array(messageArb, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 30 }), (input, cuts) => {
      const bytes = encodeAll(input);
      const { decoder, messages, errors } = collect();
      for (const chunk of split(bytes, cuts)) decoder.push(chunk);
      assert.deepEqual(errors, []);
      // fast-check may build null-prototype records; compare plain copies.
      assert.deepEqual(messages, structuredClone(input));
      assert.equal(decoder.bufferedBytes, 0);
    }),
    { numRuns: 300 },
  );
});

test('chunks that are plain Uint8Array views (not Buffers) decode too', () => {
  const bytes = encodeAll([SNAPSHOT, TRADE]);
  const copy = new Uint8Array(bytes.length + 10);
  copy.set(bytes, 5);
  const { decoder, messages } = collect();
  decoder.push(copy.subarray(5, 300));
  decoder.push(copy.subarray(300, 5 + bytes.length));
  assert.deepEqual(messages, [SNAPSHOT, TRADE]);
});

test('an unknown message type is skipped by its length, reported, and the stream continues', () => {
  const bytes = Buffer.concat([encode(TRADE), rawFrame(0x7f, [1, 2, 3, 4, 5]), encode(SNAPSHOT)]);
  const { decoder, messages, errors } = collect();
  for (let i = 0; i < bytes.length; i += 7) decoder.push(bytes.subarray(i, i + 7));
  assert.deepEqual(messages, [TRADE, SNAPSHOT]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.reason, 'UNKNOWN_TYPE');
  assert.equal(errors[0]!.fatal, false);
  assert.equal(errors[0]!.messageType, 0x7f);
  assert.equal(errors[0]!.streamOffset, TRADE_FRAME_BYTES);
  assert.equal(decoder.stats.malformedFrames, 1);
  assert.equal(decoder.failed, undefined);
});

test('malformed bodies of known types are skipped and the next valid frame still decodes', () => {
  const badSnapshotPhase = encode(SNAPSHOT);
  badSnapshotPhase[HEADER_BYTES + 34] = 0; // phase code 0 is invalid
  const badSymbol = encode(TRADE);
  badSymbol[HEADER_BYTES + 10] = 0x20; // space is not allowed in a symbol
  const unsafeSeq = encode(TRADE);
  unsafeSeq.writeUInt32LE(0xffff_ffff, HEADER_BYTES + 6); // seq high word beyond 2^53
  const bad: Buffer[] = [
    rawFrame(MessageType.HEARTBEAT, [1, 2, 3]), // wrong length
    rawFrame(MessageType.SNAPSHOT, Buffer.alloc(100)), // truncated
    badSnapshotPhase,
    badSymbol,
    unsafeSeq,
    rawFrame(MessageType.LOGOUT, [0, 0, 10, 0, 65]), // text runs past the body
    rawFrame(MessageType.LOGON, [1, 0, 0]), // empty client id
    rawFrame(MessageType.TRADE, Buffer.concat([encode(TRADE).subarray(HEADER_BYTES), Buffer.from([0])])), // trailing byte
  ];
  for (const frame of bad) {
    const bytes = Buffer.concat([frame, encode(TRADE)]);
    for (const chunked of [false, true]) {
      const { decoder, messages, errors } = collect();
      if (chunked) for (const b of bytes) decoder.push(Buffer.from([b]));
      else decoder.push(bytes);
      assert.deepEqual(messages, [TRADE], errors[0]?.message);
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.reason, 'BAD_BODY');
      assert.equal(errors[0]!.fatal, false);
      assert.equal(decoder.stats.malformedFrames, 1);
    }
  }
});

test('bad magic, bad version and an oversize length are fatal: reported once, later input ignored', () => {
  const good = encode(TRADE);
  const badVersion = Buffer.from(good);
  badVersion[2] = 9;
  const oversize = Buffer.from(good);
  oversize.writeUInt32LE(MAX_FRAME_BYTES - HEADER_BYTES + 1, 4);
  const cases: [Buffer, string][] = [
    [Buffer.from('GET / HTTP/1.1\r\n\r\n'), 'BAD_MAGIC'],
    [badVersion, 'BAD_VERSION'],
    [oversize, 'FRAME_TOO_LARGE'],
  ];
  for (const [bytes, reason] of cases) {
    const { decoder, messages, errors } = collect();
    decoder.push(Buffer.concat([good, bytes]));
    decoder.push(good);
    assert.deepEqual(messages, [TRADE]);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.reason, reason);
    assert.equal(errors[0]!.fatal, true);
    assert.equal(errors[0]!.streamOffset, good.length);
    assert.equal(decoder.failed?.reason, reason);
    assert.equal(decoder.stats.fatalErrors, 1);
    decoder.reset();
    decoder.push(good);
    assert.equal(messages.length, 2, 'reset allows a fresh stream');
  }
  // The largest legal frame is fine.
  const { decoder, errors } = collect();
  decoder.push(rawFrame(0x7e, Buffer.alloc(MAX_FRAME_BYTES - HEADER_BYTES)));
  assert.equal(errors[0]?.reason, 'UNKNOWN_TYPE');
});

test('a lower maxFrameBytes makes longer frames fatal', () => {
  const messages: FeedMessage[] = [];
  const errors: FrameError[] = [];
  const decoder = new FeedDecoder({ onMessage: (m) => messages.push(m), onError: (e) => errors.push(e), maxFrameBytes: 100 });
  decoder.push(encode(TRADE));
  decoder.push(encode(SNAPSHOT));
  assert.equal(messages.length, 1);
  assert.equal(errors[0]?.reason, 'FRAME_TOO_LARGE');
  assert.throws(() => new FeedDecoder({ onMessage: () => {}, maxFrameBytes: MAX_FRAME_BYTES + 1 }), ValidationError);
});

test('a throwing message or error callback never escapes push', () => {
  let seen = 0;
  const errors: FrameError[] = [];
  const decoder = new FeedDecoder({
    onMessage: () => {
      seen++;
      throw new Error('consumer bug');
    },
    onError: (e) => errors.push(e),
  });
  decoder.push(encodeAll([TRADE, SNAPSHOT]));
  assert.equal(seen, 2);
  assert.equal(decoder.stats.handlerErrors, 2);
  assert.equal(errors[0]!.reason, 'HANDLER_ERROR');
  const silent = new FeedDecoder({
    onMessage: () => {},
    onError: () => {
      throw new Error('error handler bug');
    },
  });
  assert.doesNotThrow(() => silent.push(Buffer.from('garbage garbage')));
  assert.equal(silent.stats.fatalErrors, 1);
});

test('fuzz: random bytes never throw out of push, and errors are reported', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 8, maxLength: 2_000 }), fc.array(fc.nat(), { maxLength: 20 }), (bytes, cuts) => {
      const { decoder, errors } = collect();
      for (const chunk of split(Buffer.from(bytes), cuts)) decoder.push(chunk);
      // 8+ random bytes start with a header; unless it is "TQ" v1, that is fatal.
      if (!(bytes[0] === 0x54 && bytes[1] === 0x51 && bytes[2] === 1)) assert.equal(decoder.failed?.fatal, true);
      assert.equal(decoder.stats.bytes, bytes.length);
      assert.equal(errors.length, decoder.stats.malformedFrames + decoder.stats.fatalErrors);
    }),
    { numRuns: 500 },
  );
});

test('fuzz: valid headers around random bodies never throw and never desynchronise', () => {
  const types = Object.values(MessageType);
  fc.assert(
    fc.property(
      fc.array(
        fc.record({ type: fc.oneof(fc.constantFrom(...types), fc.integer({ min: 0, max: 255 })), body: fc.uint8Array({ maxLength: 600 }) }),
        { minLength: 1, maxLength: 10 },
      ),
      fc.array(fc.nat(), { maxLength: 20 }),
      (frames, cuts) => {
        const bytes = Buffer.concat([...frames.map((f) => rawFrame(f.type, Buffer.from(f.body))), encode(TRADE)]);
        const { decoder, messages, errors } = collect();
        for (const chunk of split(bytes, cuts)) decoder.push(chunk);
        assert.equal(decoder.failed, undefined);
        assert.equal(messages.length + errors.length, frames.length + 1);
        assert.deepEqual(messages.at(-1), TRADE);
      },
    ),
    { numRuns: 300 },
  );
});

test('a bit flip anywhere in a stream never throws', () => {
  const bytes = encodeAll(ONE_OF_EACH);
  fc.assert(
    fc.property(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 0, max: 7 }), fc.array(fc.nat(), { maxLength: 10 }), (at, bit, cuts) => {
      const mutated = Buffer.from(bytes);
      mutated[at]! ^= 1 << bit;
      const { decoder } = collect();
      assert.doesNotThrow(() => {
        for (const chunk of split(mutated, cuts)) decoder.push(chunk);
      });
    }),
    { numRuns: 500 },
  );
});

// ---------------------------------------------------------------------------------------------
// Data frames passed on undecoded (onDataFrame)

/** The decoder in data-frame mode: data frames as frames, the rest as messages, one ordered log. */
function collectFrames(): { decoder: FeedDecoder; log: (FeedMessage | DataFrame)[]; errors: FrameError[] } {
  const log: (FeedMessage | DataFrame)[] = [];
  const errors: FrameError[] = [];
  const decoder = new FeedDecoder({ onMessage: (m) => log.push(m), onDataFrame: (f) => log.push(f), onError: (e) => errors.push(e) });
  return { decoder, log, errors };
}

function materialise(item: FeedMessage | DataFrame): FeedMessage {
  return 'buf' in item ? decodeDataFrame(item) : item;
}

test('property: in data-frame mode any messages, any chunk split, give the same messages, in order, as a full decode', () => {
  fc.assert(
    fc.property(fc.array(messageArb, { minLength: 1, maxLength: 15 }), fc.array(fc.nat(), { maxLength: 30 }), (messages, cuts) => {
      const bytes = encodeAll(messages);
      const { decoder, log, errors } = collectFrames();
      // Fresh chunks, as a socket delivers them (a DataFrame refers to the chunk it came in).
      for (const chunk of split(bytes, cuts)) decoder.push(Buffer.from(chunk));
      assert.deepEqual(errors, []);
      assert.deepEqual(log.map(materialise), structuredClone(messages));
      for (const item of log) {
        if (!('buf' in item)) continue;
        const m = decodeDataFrame(item);
        assert.equal(item.type, m.type);
        assert.equal(item.channel, m.channel);
        assert.equal(item.seq, m.seq);
        assert.equal(item.symbol, m.symbol);
        assert.equal(dataFrameEventTime(item), m.type === 'snapshot' ? m.eventTime : m.time);
        assert.equal(dataFrameBytes(item), frameLength(m));
        assert.deepEqual(item.buf.subarray(item.offset, item.offset + dataFrameBytes(item)), encode(m));
      }
    }),
    { numRuns: 300 },
  );
});

test('a data frame split across chunks owns its bytes: reusing the decoder buffer later does not change it', () => {
  const bytes = encodeAll([SNAPSHOT, TRADE, SNAPSHOT]);
  const { decoder, log } = collectFrames();
  for (let i = 0; i < bytes.length; i += 7) decoder.push(Buffer.from(bytes.subarray(i, i + 7)));
  assert.deepEqual(log.map(materialise), [SNAPSHOT, TRADE, SNAPSHOT]);
});

test('fuzz: in data-frame mode a corrupted stream is judged exactly as by a full decode (same frames skipped, same reasons)', () => {
  const bytes = encodeAll([SNAPSHOT, TRADE, { type: 'heartbeat', time: 1 }, SNAPSHOT, TRADE]);
  fc.assert(
    fc.property(
      fc.array(fc.record({ at: fc.nat({ max: bytes.length - 1 }), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (edits, cuts) => {
        const mutated = Buffer.from(bytes);
        for (const { at, value } of edits) mutated[at] = value;
        const full = collect();
        const raw = collectFrames();
        for (const chunk of split(mutated, cuts)) {
          full.decoder.push(chunk);
          raw.decoder.push(Buffer.from(chunk));
        }
        assert.deepEqual(raw.log.map(materialise), full.messages);
        assert.deepEqual(raw.errors.map((e) => [e.reason, e.message, e.fatal]), full.errors.map((e) => [e.reason, e.message, e.fatal]));
        assert.deepEqual(raw.decoder.stats, full.decoder.stats);
      },
    ),
    { numRuns: 1_000 },
  );
});

test('fuzz: in data-frame mode random snapshot and trade bodies are accepted or refused exactly as by a full decode', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(MessageType.SNAPSHOT, MessageType.TRADE),
      fc.oneof(fc.constant(SNAPSHOT), fc.constant(TRADE)),
      fc.array(fc.record({ at: fc.nat({ max: SNAPSHOT_BODY_BYTES - 1 }), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 3 }),
      (type, base, edits) => {
        const body = Buffer.from(encode(base).subarray(HEADER_BYTES));
        for (const { at, value } of edits) if (at < body.length) body[at] = value;
        const frame = rawFrame(type, body);
        const full = collect();
        const raw = collectFrames();
        full.decoder.push(frame);
        raw.decoder.push(frame);
        assert.deepEqual(raw.log.map(materialise), full.messages);
        assert.deepEqual(raw.errors.map((e) => e.message), full.errors.map((e) => e.message));
      },
    ),
    { numRuns: 2_000 },
  );
});

test('decodeDataFrame refuses bytes that are not a valid frame of the type', () => {
  const bytes = encode(TRADE);
  bytes[HEADER_BYTES + 50] = 9; // unknown aggressor
  assert.throws(() => decodeDataFrame({ type: 'trade', buf: bytes, offset: 0 }), (e: FrameError) => e.reason === 'BAD_BODY');
});

test('data-frame symbols: the same string for the same symbol, right for 70,000 distinct ones (table growth and restart)', () => {
  const trades: TradeMessage[] = [];
  for (let i = 0; i < 70_000; i++) trades.push({ ...TRADE, seq: i + 1, symbol: `S${i.toString(36)}.${i % 7}` });
  trades.push({ ...TRADE, seq: 70_001, symbol: 'S0.0' }, { ...TRADE, seq: 70_002, symbol: 'S0.0' });
  const frames: DataFrame[] = [];
  const decoder = new FeedDecoder({ onMessage: () => assert.fail('only data frames here'), onDataFrame: (f) => frames.push(f) });
  decoder.push(encodeAll(trades));
  assert.equal(frames.length, trades.length);
  for (let i = 0; i < trades.length; i++) assert.equal(frames[i]!.symbol, trades[i]!.symbol);
  assert.ok(Object.is(frames.at(-1)!.symbol, frames.at(-2)!.symbol));
});

test('copyDataFrame keeps the frame without its chunk', () => {
  const chunk = encodeAll([SNAPSHOT, TRADE]);
  const frames: DataFrame[] = [];
  new FeedDecoder({ onMessage: () => {}, onDataFrame: (f) => frames.push(f) }).push(chunk);
  const copy = copyDataFrame(frames[1]!);
  chunk.fill(0);
  assert.equal(copy.buf.length, dataFrameBytes(copy));
  assert.deepEqual(decodeDataFrame(copy), TRADE);
  assert.deepEqual([copy.type, copy.channel, copy.seq, copy.symbol, copy.offset], ['trade', TRADE.channel, TRADE.seq, TRADE.symbol, 0]);
});
