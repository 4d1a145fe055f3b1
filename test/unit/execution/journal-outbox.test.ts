import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../../src/core/clock.ts';
import { openJournal } from '../../../src/execution/journal/sqlite-journal.ts';
import { SqliteOutboxStore } from '../../../src/execution/journal/sqlite-outbox.ts';

function tempPath(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tq-outbox-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'audit.sqlite');
}

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (payload: Uint8Array) => new TextDecoder().decode(payload);

test('outbox assigns seq per (strategy, instance) and reads after a seq, in order, up to a limit', (t) => {
  const journal = openJournal({ path: tempPath(t), clock: new ManualClock() });
  t.after(() => journal.close());
  const outbox = new SqliteOutboxStore(journal.database);
  assert.equal(outbox.lastSeq('s1', 'i1'), 0);
  assert.equal(outbox.firstRetainedSeq('s1', 'i1'), 1);
  for (let i = 1; i <= 5; i++) assert.equal(outbox.append('s1', 'i1', (seq) => bytes(`m${seq}`)), i);
  assert.equal(outbox.append('s1', 'i2', (seq) => bytes(`other${seq}`)), 1);
  assert.equal(outbox.append('s2', 'i1', (seq) => bytes(`s2-${seq}`)), 1);
  assert.deepEqual(outbox.readAfter('s1', 'i1', 2, 2).map((m) => [m.seq, text(m.payload)]), [[3, 'm3'], [4, 'm4']]);
  assert.deepEqual(outbox.readAfter('s1', 'i1', 0, 100).map((m) => m.seq), [1, 2, 3, 4, 5]);
  assert.deepEqual(outbox.readAfter('s1', 'i1', 5, 100), []);
  assert.deepEqual(outbox.readAfter('s1', 'i2', 0, 100).map((m) => text(m.payload)), ['other1']);
  assert.equal(outbox.lastSeq('s1', 'i1'), 5);
  assert.equal(outbox.firstRetainedSeq('s1', 'i1'), 1);
});

test('outbox keeps at most N messages per stream and firstRetainedSeq follows the trimming', (t) => {
  const journal = openJournal({ path: tempPath(t), clock: new ManualClock() });
  t.after(() => journal.close());
  const outbox = new SqliteOutboxStore(journal.database, { maxMessagesPerStream: 3 });
  for (let i = 1; i <= 7; i++) outbox.append('s', 'i', (seq) => bytes(`m${seq}`));
  outbox.append('s', 'other', (seq) => bytes(`x${seq}`));
  assert.equal(outbox.lastSeq('s', 'i'), 7);
  assert.equal(outbox.firstRetainedSeq('s', 'i'), 5);
  assert.deepEqual(outbox.readAfter('s', 'i', 0, 100).map((m) => text(m.payload)), ['m5', 'm6', 'm7']);
  assert.equal(outbox.firstRetainedSeq('s', 'other'), 1, 'other streams are trimmed on their own');
  // A lower limit after a restart trims the excess on the next append.
  const tighter = new SqliteOutboxStore(journal.database, { maxMessagesPerStream: 1 });
  tighter.append('s', 'i', (seq) => bytes(`m${seq}`));
  assert.deepEqual(tighter.readAfter('s', 'i', 0, 100).map((m) => m.seq), [8]);
  assert.equal(tighter.firstRetainedSeq('s', 'i'), 8);
  assert.throws(() => new SqliteOutboxStore(journal.database, { maxMessagesPerStream: 0 }), /maxMessagesPerStream/);
});

test('outbox survives a restart and keeps its seqs', (t) => {
  const path = tempPath(t);
  const first = openJournal({ path, clock: new ManualClock() });
  new SqliteOutboxStore(first.database).append('s', 'i', () => bytes('a'));
  new SqliteOutboxStore(first.database).append('s', 'i', () => bytes('b'));
  first.close();
  const second = openJournal({ path, clock: new ManualClock() });
  t.after(() => second.close());
  const outbox = new SqliteOutboxStore(second.database);
  assert.equal(outbox.lastSeq('s', 'i'), 2);
  assert.equal(outbox.append('s', 'i', () => bytes('c')), 3);
  assert.deepEqual(outbox.readAfter('s', 'i', 0, 10).map((m) => text(m.payload)), ['a', 'b', 'c']);
});

test('an encoder that throws stores nothing and does not use up the seq', (t) => {
  const journal = openJournal({ path: tempPath(t), clock: new ManualClock() });
  t.after(() => journal.close());
  const outbox = new SqliteOutboxStore(journal.database);
  outbox.append('s', 'i', () => bytes('a'));
  assert.throws(() => outbox.append('s', 'i', () => { throw new Error('encode failed'); }), /encode failed/);
  assert.equal(outbox.lastSeq('s', 'i'), 1);
  assert.equal(outbox.append('s', 'i', () => bytes('b')), 2);
});

test('journal and outbox appends in one journal.transaction commit together or not at all', (t) => {
  const journal = openJournal({ path: tempPath(t), clock: new ManualClock() });
  t.after(() => journal.close());
  const outbox = new SqliteOutboxStore(journal.database);
  journal.transaction(() => {
    journal.append([{ kind: 'VENUE_ACK', clientOrderId: 'o1', data: {} }]);
    outbox.append('s', 'i', () => bytes('ack'));
  });
  assert.equal(journal.lastSeq, 1);
  assert.equal(outbox.lastSeq('s', 'i'), 1);
  assert.throws(() => journal.transaction(() => {
    journal.append([{ kind: 'FILL', clientOrderId: 'o1', data: {} }]);
    outbox.append('s', 'i', () => bytes('fill'));
    throw new Error('crash before commit');
  }), /crash before commit/);
  assert.equal(journal.lastSeq, 1);
  assert.equal(outbox.lastSeq('s', 'i'), 1);
  assert.deepEqual(outbox.readAfter('s', 'i', 0, 10).map((m) => text(m.payload)), ['ack']);
  assert.equal(journal.verify().ok, true);
});
