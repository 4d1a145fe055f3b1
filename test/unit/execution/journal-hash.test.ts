import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { canonicalContent, canonicalJson, entryHash, GENESIS_HASH } from '../../../src/execution/journal/hash-chain.ts';
import { JournalDataError } from '../../../src/execution/journal/errors.ts';

test('canonical JSON sorts keys at every depth and has no whitespace', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } }), '{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
});

test('canonical JSON sorts keys by UTF-16 code units (RFC 8785), not by locale', () => {
  assert.equal(canonicalJson({ b: 1, B: 2, é: 3, '\u{1F600}': 4, '\uFFFD': 5 }), '{"B":2,"b":1,"é":3,"\u{1F600}":4,"\uFFFD":5}');
});

test('canonical JSON leaves out undefined properties like JSON.stringify, and escapes strings the same way', () => {
  assert.equal(canonicalJson({ a: undefined, b: 'line\n"q"\u0001' }), JSON.stringify({ b: 'line\n"q"\u0001' }));
});

test('canonical JSON refuses values an export could not show faithfully', () => {
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 1n, new Date(0), new Map(), () => 1, Symbol('s'), [undefined]]) {
    assert.throws(() => canonicalJson({ v: bad }), JournalDataError, `should refuse ${String(bad)}`);
  }
});

test('the hand-written content serialization equals canonical JSON of the whole entry', () => {
  const full = { seq: 7, ts: 1_735_781_400_123_456, kind: 'FILL' as const, account: 'A"1', strategy: 's', symbol: '600000.SH', clientOrderId: 'c-1', actor: 'venue', data: { qty: 100, price: 100_100 } };
  assert.equal(canonicalContent(full), canonicalJson(full));
  const sparse = { seq: 1, ts: 5, kind: 'SERVICE' as const, data: {} };
  assert.equal(
    canonicalContent(sparse),
    canonicalJson({ ...sparse, account: null, strategy: null, symbol: null, clientOrderId: null, actor: null }),
  );
});

test('entry hash is SHA-256 over prevHash followed by the canonical content', () => {
  const entry = { seq: 1, ts: 10, kind: 'SERVICE' as const, data: { event: 'start' } };
  const expected = createHash('sha256').update(GENESIS_HASH + canonicalContent(entry)).digest('hex');
  assert.equal(entryHash(GENESIS_HASH, entry), expected);
  assert.match(expected, /^[0-9a-f]{64}$/);
  assert.notEqual(entryHash('1'.repeat(64), entry), expected);
});
