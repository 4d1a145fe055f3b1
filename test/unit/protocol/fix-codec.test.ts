import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeFixMessage,
  encodeFixMessage,
  encodeRawFields,
  fixChecksum,
  FixDecoder,
  formatFixPrice,
  formatFixQty,
  formatUtcTimestamp,
  parseFixPrice,
  parseFixQty,
  parseUtcTimestamp,
  type FixDecodeError,
  type FixField,
  type FixMessage,
} from '../../../src/protocol/fix/codec.ts';

const T0 = Date.UTC(2025, 5, 16, 1, 30, 0) * 1000 + 123_456; // 2025-06-16 09:30:00.123456 CST

function sample(seq: number, extra: readonly FixField[] = []): Buffer {
  return encodeFixMessage(
    { msgType: 'D', senderCompId: 'TRIQUANT', targetCompId: 'SIM', msgSeqNum: seq, sendingTime: formatUtcTimestamp(T0 + seq) },
    [[11, `ORD-${seq}`], [55, '600000.SH'], [54, '1'], [60, formatUtcTimestamp(T0)], [38, '1000'], [40, '2'], [44, '10.05'], ...extra],
  );
}

function collect(maxMessageBytes?: number) {
  const messages: FixMessage[] = [];
  const errors: FixDecodeError[] = [];
  const decoder = new FixDecoder({
    onMessage: (m) => messages.push(m),
    onError: (e) => errors.push(e),
    ...(maxMessageBytes === undefined ? {} : { maxMessageBytes }),
  });
  return { decoder, messages, errors };
}

/** An independent reading of the framing rules, to cross-check the encoder. */
function checkFraming(bytes: Buffer): void {
  // SOH shown as '|' (no control characters in regular expressions).
  const text = bytes.toString('latin1').replaceAll('\u0001', '|');
  const match = /^8=FIX\.4\.4\|9=(\d+)\|/.exec(text);
  assert.ok(match, 'starts with 8=FIX.4.4|9=');
  const bodyStart = match[0].length;
  const bodyLength = Number(match[1]);
  assert.equal(text.length, bodyStart + bodyLength + 7, 'BodyLength counts up to the trailer');
  const trailer = text.slice(bodyStart + bodyLength);
  assert.match(trailer, /^10=\d{3}\|$/);
  let sum = 0;
  for (let i = 0; i < bodyStart + bodyLength; i++) sum += bytes[i]!;
  assert.equal(trailer.slice(3, 6), String(sum % 256).padStart(3, '0'));
}

test('encode: framing, BodyLength and CheckSum follow the spec', () => {
  const bytes = sample(7);
  checkFraming(bytes);
  const text = bytes.toString('latin1').replaceAll('\u0001', '|');
  assert.match(text, /^8=FIX\.4\.4\|9=\d+\|35=D\|49=TRIQUANT\|56=SIM\|34=7\|52=20250616-01:30:00\.123\|11=ORD-7\|/);
  // A published FIX 4.4 heartbeat-like vector, checked by hand: sum of the bytes mod 256.
  const hb = encodeRawFields([[35, '0'], [49, 'A'], [56, 'B'], [34, '1'], [52, '20250101-00:00:00.000']]);
  assert.equal(hb.toString('latin1').slice(-7, -1), `10=${fixChecksum(hb, 0, hb.length - 7)}`);
});

test('encode: multi-byte UTF-8 values are counted in bytes', () => {
  const bytes = encodeFixMessage(
    { msgType: 'D', senderCompId: 'A', targetCompId: 'B', msgSeqNum: 1, sendingTime: formatUtcTimestamp(T0) },
    [[58, '浦发银行 order']],
  );
  checkFraming(bytes);
  const decoded = decodeFixMessage(bytes);
  assert.equal(decoded?.get(58), '浦发银行 order');
});

test('encode: programming errors throw (empty value, SOH inside a value, bad seq)', () => {
  const header = { msgType: 'D', senderCompId: 'A', targetCompId: 'B', msgSeqNum: 1, sendingTime: formatUtcTimestamp(T0) };
  assert.throws(() => encodeFixMessage(header, [[58, '']]), /empty value/);
  assert.throws(() => encodeFixMessage(header, [[58, 'a\u0001b']]), /SOH/);
  assert.throws(() => encodeFixMessage({ ...header, msgSeqNum: 0 }, []), /MsgSeqNum/);
  assert.throws(() => encodeFixMessage(header, [[0, 'x']]), /tag/);
});

test('decode: round trip of header, body and trailer fields', () => {
  const bytes = sample(42, [[58, 'hello=world']]);
  const { decoder, messages, errors } = collect();
  decoder.push(bytes);
  assert.equal(errors.length, 0);
  assert.equal(messages.length, 1);
  const m = messages[0]!;
  assert.equal(m.msgType, 'D');
  assert.equal(m.seqNum, 42);
  assert.equal(m.get(49), 'TRIQUANT');
  assert.equal(m.get(44), '10.05');
  assert.equal(m.get(58), 'hello=world', 'only the first = separates tag and value');
  assert.deepEqual(m.fields.map(([t]) => t).slice(0, 3), [8, 9, 35]);
  assert.equal(m.fields.at(-1)![0], 10);
  assert.deepEqual(m.raw, bytes);
  assert.equal(decoder.bufferedBytes, 0);
});

test('decode: coalesced messages in one chunk, and a message split byte by byte', () => {
  const stream = Buffer.concat([sample(1), sample(2), sample(3)]);
  const whole = collect();
  whole.decoder.push(stream);
  assert.deepEqual(whole.messages.map((m) => m.seqNum), [1, 2, 3]);
  const bytewise = collect();
  for (const byte of stream) bytewise.decoder.push(Buffer.from([byte]));
  assert.deepEqual(bytewise.messages.map((m) => m.raw), whole.messages.map((m) => m.raw));
  assert.equal(bytewise.errors.length, 0);
});

test('decode: bad checksum is reported, counted and skipped; the next message is decoded', () => {
  const bad = Buffer.from(sample(1));
  const digit = bad.length - 2; // last checksum digit
  bad[digit] = bad[digit] === 0x30 ? 0x31 : 0x30;
  const { decoder, messages, errors } = collect();
  decoder.push(Buffer.concat([bad, sample(2)]));
  assert.deepEqual(messages.map((m) => m.seqNum), [2]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.reason, 'CHECKSUM');
  assert.equal(decoder.stats.errorsByReason.CHECKSUM, 1);
});

test('decode: wrong BodyLength is reported and the decoder resyncs on the next 8=', () => {
  const good = sample(1).toString('latin1');
  const length = Number(/9=(\d+)/.exec(good)![1]);
  for (const wrong of [length - 3, length + 3, 5]) {
    const bad = Buffer.from(good.replace(`9=${length}\u0001`, `9=${wrong}\u0001`), 'latin1');
    const { decoder, messages, errors } = collect();
    decoder.push(Buffer.concat([bad, sample(2), sample(3)]));
    assert.deepEqual(messages.map((m) => m.seqNum), [2, 3], `BodyLength ${wrong}`);
    assert.deepEqual(errors.map((e) => e.reason), ['BODY_LENGTH']);
  }
  for (const broken of ['9=x\u0001', '9=\u0001', '9=012\u0001']) {
    const bad = Buffer.from(good.replace(`9=${length}\u0001`, broken), 'latin1');
    const { decoder, messages, errors } = collect();
    decoder.push(Buffer.concat([bad, sample(2)]));
    assert.deepEqual(messages.map((m) => m.seqNum), [2], broken);
    assert.equal(errors[0]?.reason, 'BODY_LENGTH');
  }
});

test('decode: garbage before a message is skipped and reported once', () => {
  const { decoder, messages, errors } = collect();
  const garbage = Buffer.from('hello world 8=FOO 18=3\u0001 8=FI', 'latin1');
  decoder.push(garbage);
  decoder.push(sample(1));
  assert.deepEqual(messages.map((m) => m.seqNum), [1]);
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.reason, 'GARBAGE');
  assert.equal(errors[0]!.discardedBytes, garbage.length);
});

test('decode: another BeginString is reported as BEGIN_STRING', () => {
  const fix42 = Buffer.from(sample(1).toString('latin1').replace('FIX.4.4', 'FIX.4.2'), 'latin1');
  const { decoder, messages, errors } = collect();
  decoder.push(Buffer.concat([fix42, sample(2)]));
  assert.deepEqual(messages.map((m) => m.seqNum), [2]);
  assert.equal(errors[0]!.reason, 'BEGIN_STRING');
});

test('decode: malformed fields and a misplaced MsgType are garbled messages', () => {
  const cases: FixField[][] = [
    [[49, 'A'], [35, 'D'], [56, 'B']], // 35 not third
    [[35, 'D'], [49, 'A']], // fine
  ];
  const { decoder, messages, errors } = collect();
  decoder.push(encodeRawFields(cases[0]!));
  decoder.push(Buffer.from(encodeRawFields(cases[1]!)));
  // A non-numeric tag, built by hand with a correct checksum.
  const body = '35=D\u0001x9=1\u0001';
  const head = `8=FIX.4.4\u00019=${body.length}\u0001`;
  const raw = Buffer.from(head + body, 'latin1');
  decoder.push(Buffer.concat([raw, Buffer.from(`10=${fixChecksum(raw)}\u0001`, 'latin1')]));
  assert.equal(messages.length, 1);
  assert.deepEqual(errors.map((e) => e.reason), ['MALFORMED_FIELD', 'MALFORMED_FIELD']);
});

test('decode: empty values and duplicate tags are decoded (the session rejects them)', () => {
  const m = decodeFixMessage(encodeRawFields([[35, 'D'], [49, 'A'], [58, ''], [11, 'x'], [11, 'y']]))!;
  assert.equal(m.emptyValueTag, 58);
  assert.equal(m.duplicateTag, 11);
  assert.equal(m.get(11), 'x');
});

test('decode: a message larger than the maximum is refused without buffering it', () => {
  const big = sample(1, [[58, 'x'.repeat(2000)]]);
  const { decoder, messages, errors } = collect(1024);
  decoder.push(big.subarray(0, 40));
  assert.equal(errors[0]?.reason, 'TOO_LARGE');
  decoder.push(big.subarray(40));
  decoder.push(sample(2));
  assert.deepEqual(messages.map((m) => m.seqNum), [2]);
  assert.ok(decoder.bufferedBytes <= 1024);
});

test('decode: the buffer never holds more than the maximum message size', () => {
  const { decoder } = collect(256);
  // A valid-looking header promising 200 bytes, then endless filler.
  decoder.push(Buffer.from('8=FIX.4.4\u00019=200\u000135=D\u0001', 'latin1'));
  for (let i = 0; i < 50; i++) {
    decoder.push(Buffer.alloc(100, 0x41));
    assert.ok(decoder.bufferedBytes <= 256, `buffered ${decoder.bufferedBytes}`);
  }
});

test('decode: a throwing handler is contained and counted', () => {
  let calls = 0;
  const decoder = new FixDecoder({
    onMessage: () => {
      calls++;
      throw new Error('boom');
    },
  });
  assert.doesNotThrow(() => decoder.push(Buffer.concat([sample(1), sample(2)])));
  assert.equal(calls, 2);
  assert.equal(decoder.stats.handlerErrors, 2);
});

// ---------------------------------------------------------------------------------------------
// Properties

const messagesArb = fc.array(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 1, maxLength: 8 }).map((seqs) => seqs.map((s) => sample(s)));

test('property: any chunking of a stream decodes to the same messages', () => {
  fc.assert(
    fc.property(messagesArb, fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 200 }), (msgs, cuts) => {
      const stream = Buffer.concat(msgs);
      const { decoder, messages, errors } = collect();
      let pos = 0;
      let i = 0;
      while (pos < stream.length) {
        const size = cuts[i++ % cuts.length]!;
        decoder.push(stream.subarray(pos, pos + size));
        pos += size;
      }
      assert.equal(errors.length, 0);
      assert.deepEqual(messages.map((m) => m.raw), msgs);
      assert.equal(decoder.bufferedBytes, 0);
    }),
    { numRuns: 300 },
  );
});

test('property: random bytes never throw and every byte is accounted for', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }), (chunks) => {
      const { decoder } = collect(512);
      for (const chunk of chunks) decoder.push(chunk);
      const total = chunks.reduce((n, c) => n + c.length, 0);
      assert.equal(decoder.stats.bytes, total);
      assert.ok(decoder.bufferedBytes <= 512);
    }),
    { numRuns: 500 },
  );
});

test('property: random bytes with FIX-looking fragments never throw', () => {
  const fragment = fc.constantFrom('8=FIX.4.4\u0001', '9=', '35=D\u0001', '10=000\u0001', '\u0001', '8=FIX', '9=99999999\u0001', '=', '34=');
  fc.assert(
    fc.property(fc.array(fc.oneof(fragment, fc.string({ maxLength: 10 })), { maxLength: 60 }), fc.integer({ min: 1, max: 17 }), (parts, chunk) => {
      const stream = Buffer.from(parts.join(''), 'latin1');
      const { decoder } = collect(256);
      for (let i = 0; i < stream.length; i += chunk) decoder.push(stream.subarray(i, i + chunk));
      assert.ok(decoder.bufferedBytes <= 256);
    }),
    { numRuns: 500 },
  );
});

test('property: a mutated message is never delivered, and valid messages around it are', () => {
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), value: fc.constant(0) }),
  );
  fc.assert(
    fc.property(mutation, fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 10 }), (mut, cuts) => {
      const a = sample(1);
      const b = Buffer.from(sample(2));
      const c = sample(3);
      const d = sample(4);
      // Inserting before the first or after the last byte leaves the message intact: inside only.
      const at = mut.kind === 'insert' ? 1 + (mut.at % (b.length - 1)) : mut.at % b.length;
      let mutated: Buffer;
      if (mut.kind === 'flip') {
        mutated = Buffer.from(b);
        mutated[at] = (mutated[at]! + mut.value) & 0xff;
      } else if (mut.kind === 'insert') {
        // An SOH inserted just before the final SOH leaves the same message plus a stray byte.
        const value = at === b.length - 1 && mut.value === 0x01 ? 0x02 : mut.value;
        mutated = Buffer.concat([b.subarray(0, at), Buffer.from([value]), b.subarray(at)]);
      } else {
        mutated = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]);
      }
      // Filler longer than the maximum message lets a mutated (too long) BodyLength fail and resync.
      const stream = Buffer.concat([a, mutated, c, Buffer.alloc(1100, 0x78), d]);
      const { decoder, messages, errors } = collect(1024);
      let pos = 0;
      let i = 0;
      while (pos < stream.length) {
        const size = cuts[i++ % cuts.length]!;
        decoder.push(stream.subarray(pos, pos + size));
        pos += size;
      }
      assert.deepEqual(messages.map((m) => m.seqNum), [1, 3, 4]);
      assert.ok(errors.length >= 1);
    }),
    { numRuns: 1000 },
  );
});

// ---------------------------------------------------------------------------------------------
// Values

test('prices: decimal strings to integer units exactly, and back', () => {
  assert.equal(parseFixPrice('10.05'), 100_500);
  assert.equal(parseFixPrice('10'), 100_000);
  assert.equal(parseFixPrice('10.'), 100_000);
  assert.equal(parseFixPrice('0.0001'), 1);
  assert.equal(parseFixPrice('10.050000'), 100_500, 'trailing zeros beyond 4 decimals are exact');
  assert.equal(parseFixPrice('-3.5'), -35_000);
  assert.equal(parseFixPrice('0.1'), 1_000);
  for (const bad of ['10.00001', '1e3', '+1', '.5', '', ' 1', '1,5', 'NaN', '10.0.1', '9999999999999']) {
    assert.equal(parseFixPrice(bad), undefined, bad);
  }
  assert.equal(formatFixPrice(100_500), '10.05');
  assert.equal(formatFixPrice(100_000), '10');
  assert.equal(formatFixPrice(1), '0.0001');
  assert.equal(formatFixPrice(-35_000), '-3.5');
  assert.equal(formatFixPrice(0), '0');
  fc.assert(
    fc.property(fc.integer({ min: -1e12, max: 1e12 }), (units) => {
      assert.equal(parseFixPrice(formatFixPrice(units)), units);
    }),
  );
});

test('quantities: whole shares only', () => {
  assert.equal(parseFixQty('1000'), 1000);
  assert.equal(parseFixQty('1000.00'), 1000);
  assert.equal(parseFixQty('0'), 0);
  for (const bad of ['1000.5', '-1', '1e3', '', 'abc']) assert.equal(parseFixQty(bad), undefined, bad);
  assert.equal(formatFixQty(1500), '1500');
  assert.throws(() => formatFixQty(1.5));
});

test('UTCTimestamp: millis and micros both ways; invalid dates refused', () => {
  assert.equal(formatUtcTimestamp(T0), '20250616-01:30:00.123');
  assert.equal(formatUtcTimestamp(T0, 'micros'), '20250616-01:30:00.123456');
  assert.equal(parseUtcTimestamp('20250616-01:30:00.123456'), T0);
  assert.equal(parseUtcTimestamp('20250616-01:30:00.123'), T0 - 456);
  assert.equal(parseUtcTimestamp('20250616-01:30:00.123456789'), T0, 'nanoseconds are truncated');
  assert.equal(parseUtcTimestamp('20250616-01:30:00'), T0 - 123_456);
  for (const bad of ['20250230-00:00:00', '20251301-00:00:00', '20250616-24:00:00', '20250616 01:30:00', '20250616-01:30:00.12', '']) {
    assert.equal(parseUtcTimestamp(bad), undefined, bad);
  }
  fc.assert(
    fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (micros) => {
      assert.equal(parseUtcTimestamp(formatUtcTimestamp(micros, 'micros')), micros);
      assert.equal(parseUtcTimestamp(formatUtcTimestamp(micros, 'millis')), micros - (micros % 1000));
    }),
  );
});
