import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { ManualClock } from '../../../src/core/clock.ts';
import type { AuditRecord } from '../../../src/execution/ports.ts';
import { openJournal, openJournalReader, type SqliteJournal } from '../../../src/execution/journal/sqlite-journal.ts';
import { JournalDataError, JournalLockedError, JournalNotFoundError } from '../../../src/execution/journal/errors.ts';
import { entryHash, GENESIS_HASH } from '../../../src/execution/journal/hash-chain.ts';

const T0 = 1_735_781_400_000_000; // 2025-01-02 09:30 CST

function tempJournalPath(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tq-journal-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'execution', 'audit.sqlite');
}

function open(path: string, clock = new ManualClock(T0)): SqliteJournal {
  return openJournal({ path, clock });
}

/** A small day of activity: two accounts, two strategies, two orders. */
function sampleRecords(): AuditRecord[] {
  return [
    { kind: 'SERVICE', actor: 'system', data: { event: 'start' } },
    { kind: 'ORDER_REQUEST', account: 'A1', strategy: 's1', symbol: '600000.SH', clientOrderId: 'o1', actor: 'strategy:s1', data: { side: 'BUY', price: 100_000, qty: 300 } },
    { kind: 'RISK_DECISION', account: 'A1', strategy: 's1', symbol: '600000.SH', clientOrderId: 'o1', actor: 'risk:pre-trade', data: { ok: true, refs: { bestBid: 99_900, bestAsk: 100_000, last: 100_000 } } },
    { kind: 'ORDER_SENT', account: 'A1', strategy: 's1', symbol: '600000.SH', clientOrderId: 'o1', actor: 'system', data: {} },
    { kind: 'ORDER_REQUEST', account: 'A2', strategy: 's2', symbol: '000001.SZ', clientOrderId: 'o2', actor: 'strategy:s2', data: { side: 'SELL', price: 12_340, qty: 100 } },
    { kind: 'VENUE_ACK', account: 'A1', strategy: 's1', symbol: '600000.SH', clientOrderId: 'o1', actor: 'venue', data: { venueOrderId: 'v1' } },
    { kind: 'FILL', account: 'A1', strategy: 's1', symbol: '600000.SH', clientOrderId: 'o1', actor: 'venue', data: { fillId: 'f1', qty: 300, price: 100_000 } },
    { kind: 'LIMIT_CHANGE', account: 'A2', actor: 'operator:alice', data: { name: 'maxOrderValue', previous: 1_000_000, value: 2_000_000 } },
  ];
}

/** Appends the sample one record per call, the clock moving one second between them. */
function appendSample(journal: SqliteJournal, clock: ManualClock): void {
  for (const record of sampleRecords()) {
    journal.append([record]);
    clock.advance(1_000_000);
  }
}

test('append assigns seq 1, 2, 3 … with ts from the clock and links each hash to the one before', (t) => {
  const clock = new ManualClock(T0);
  const journal = open(tempJournalPath(t), clock);
  t.after(() => journal.close());
  const [first] = journal.append([{ kind: 'SERVICE', data: { event: 'start' } }]);
  clock.advance(5);
  const batch = journal.append([
    { kind: 'ORDER_REQUEST', account: 'A1', clientOrderId: 'o1', data: { qty: 100 } },
    { kind: 'ORDER_SENT', account: 'A1', clientOrderId: 'o1', data: {} },
  ]);
  assert.deepEqual([first!, ...batch].map((e) => e.seq), [1, 2, 3]);
  assert.deepEqual([first!, ...batch].map((e) => e.ts), [T0, T0 + 5, T0 + 5]);
  assert.equal(first!.prevHash, GENESIS_HASH);
  assert.equal(batch[0]!.prevHash, first!.hash);
  assert.equal(batch[1]!.prevHash, batch[0]!.hash);
  assert.equal(batch[1]!.hash, entryHash(batch[0]!.hash, batch[1]!));
  assert.equal(journal.lastSeq, 3);
  assert.equal(journal.lastHash, batch[1]!.hash);
  assert.deepEqual(journal.append([]), []);
});

test('replay returns what append returned, in order, from any seq', (t) => {
  const clock = new ManualClock(T0);
  const journal = open(tempJournalPath(t), clock);
  t.after(() => journal.close());
  const appended = sampleRecords().flatMap((record) => journal.append([record]));
  assert.deepEqual([...journal.replay()], appended);
  assert.deepEqual([...journal.replay(5)].map((e) => e.seq), [6, 7, 8]);
  assert.deepEqual([...journal.replay(8)], []);
  const stored = [...journal.replay()][7]!;
  assert.equal(stored.account, 'A2');
  assert.equal('strategy' in stored, false, 'absent optional fields stay absent');
});

test('replay pages through more entries than fit one page without losing or repeating any', (t) => {
  const journal = open(tempJournalPath(t));
  t.after(() => journal.close());
  const records: AuditRecord[] = Array.from({ length: 2_345 }, (_, i) => ({ kind: 'ALERT', data: { i } }));
  journal.append(records);
  const seqs = [...journal.replay()].map((e) => e.seq);
  assert.equal(seqs.length, 2_345);
  assert.ok(seqs.every((seq, i) => seq === i + 1));
  assert.equal([...journal.replay(1_000)].length, 1_345);
  assert.equal(journal.query({ descending: true, limit: 1_500 }).at(-1)!.seq, 846);
});

test('query filters by account, strategy, symbol, order, kind and time, with limit and descending', (t) => {
  const clock = new ManualClock(T0);
  const journal = open(tempJournalPath(t), clock);
  t.after(() => journal.close());
  appendSample(journal, clock);
  const seqs = (q: Parameters<SqliteJournal['query']>[0]) => journal.query(q).map((e) => e.seq);
  assert.deepEqual(seqs({ account: 'A1' }), [2, 3, 4, 6, 7]);
  assert.deepEqual(seqs({ account: 'A2' }), [5, 8]);
  assert.deepEqual(seqs({ strategy: 's2' }), [5]);
  assert.deepEqual(seqs({ symbol: '000001.SZ' }), [5]);
  assert.deepEqual(seqs({ clientOrderId: 'o1' }), [2, 3, 4, 6, 7]);
  assert.deepEqual(seqs({ kinds: ['ORDER_REQUEST', 'FILL'] }), [2, 5, 7]);
  assert.deepEqual(seqs({ kinds: [] }), []);
  assert.deepEqual(seqs({ fromTs: T0 + 2_000_000, toTs: T0 + 5_000_000 }), [3, 4, 5], 'from inclusive, to exclusive');
  assert.deepEqual(seqs({ account: 'A1', kinds: ['FILL', 'VENUE_ACK'] }), [6, 7]);
  assert.deepEqual(seqs({ limit: 3 }), [1, 2, 3]);
  assert.deepEqual(seqs({ descending: true, limit: 3 }), [8, 7, 6]);
  assert.deepEqual(seqs({ afterSeq: 6 }), [7, 8]);
  assert.deepEqual(seqs({ afterSeq: 6, descending: true, account: 'A1' }), [4, 3, 2]);
  assert.deepEqual(seqs({ account: 'nobody' }), []);
  assert.deepEqual(seqs({ limit: 0 }), []);
  assert.throws(() => journal.query({ limit: -1 }), JournalDataError);
  const [risk] = journal.query({ kinds: ['RISK_DECISION'] });
  assert.deepEqual(risk!.data, { ok: true, refs: { bestBid: 99_900, bestAsk: 100_000, last: 100_000 } });
});

test('verify accepts an intact chain, including an empty one', (t) => {
  const clock = new ManualClock(T0);
  const journal = open(tempJournalPath(t), clock);
  t.after(() => journal.close());
  assert.deepEqual(journal.verify(), { ok: true, entries: 0, lastHash: GENESIS_HASH });
  appendSample(journal, clock);
  assert.deepEqual(journal.verify(), { ok: true, entries: 8, lastHash: journal.lastHash });
});

/** Builds a sample journal, closes it, tampers through a separate connection, and verifies. */
function tamperAndVerify(t: { after: (fn: () => void) => void }, tamper: (db: DatabaseSync) => void) {
  const path = tempJournalPath(t);
  const clock = new ManualClock(T0);
  const journal = open(path, clock);
  appendSample(journal, clock);
  journal.close();
  const db = new DatabaseSync(path);
  tamper(db);
  db.close();
  const reader = openJournalReader({ path });
  try {
    return reader.verify();
  } finally {
    reader.close();
  }
}

test('verify names the first bad seq when a row was changed', (t) => {
  const result = tamperAndVerify(t, (db) => db.prepare("UPDATE audit_journal SET data = '{\"fillId\":\"f1\",\"price\":100000,\"qty\":30}' WHERE seq = 7").run());
  assert.equal(result.ok, false);
  assert.ok(!result.ok);
  assert.equal(result.badSeq, 7);
  assert.equal(result.entries, 6);
  assert.match(result.detail, /does not match its hash/);
});

test('verify catches a changed indexed column and a re-hashed row (the link after it breaks)', (t) => {
  const changedAccount = tamperAndVerify(t, (db) => db.prepare("UPDATE audit_journal SET account = 'A9' WHERE seq = 3").run());
  assert.ok(!changedAccount.ok);
  assert.equal(changedAccount.badSeq, 3);
  const rehashed = tamperAndVerify(t, (db) => {
    const row = db.prepare('SELECT * FROM audit_journal WHERE seq = 4').get() as Record<string, string | number | null>;
    const forged = { seq: 4, ts: row.ts as number, kind: 'ORDER_SENT' as const, account: 'A1', strategy: 's1', symbol: '600000.SH', clientOrderId: 'o1', actor: 'system', data: { forged: true } };
    db.prepare('UPDATE audit_journal SET data = ?, hash = ? WHERE seq = 4').run('{"forged":true}', entryHash(row.prev_hash as string, forged));
  });
  assert.ok(!rehashed.ok);
  assert.equal(rehashed.badSeq, 5);
  assert.match(rehashed.detail, /prevHash does not match the hash of entry 4/);
});

test('verify names the missing seq when a row was deleted', (t) => {
  const result = tamperAndVerify(t, (db) => db.prepare('DELETE FROM audit_journal WHERE seq = 4').run());
  assert.ok(!result.ok);
  assert.equal(result.badSeq, 4);
  assert.match(result.detail, /entry 4 is missing/);
});

test('verify catches two rows swapped', (t) => {
  const result = tamperAndVerify(t, (db) => {
    db.exec('UPDATE audit_journal SET seq = -1 WHERE seq = 5');
    db.exec('UPDATE audit_journal SET seq = 5 WHERE seq = 6');
    db.exec('UPDATE audit_journal SET seq = 6 WHERE seq = -1');
  });
  assert.ok(!result.ok);
  assert.equal(result.badSeq, 5);
});

test('re-opening continues the chain where it stopped', (t) => {
  const path = tempJournalPath(t);
  const clock = new ManualClock(T0);
  const first = open(path, clock);
  appendSample(first, clock);
  const lastHash = first.lastHash;
  first.close();
  const second = open(path, clock);
  t.after(() => second.close());
  assert.equal(second.lastSeq, 8);
  const [next] = second.append([{ kind: 'SERVICE', data: { event: 'restart' } }]);
  assert.equal(next!.seq, 9);
  assert.equal(next!.prevHash, lastHash);
  assert.deepEqual(second.verify(), { ok: true, entries: 9, lastHash: next!.hash });
});

test('a batch with one bad record stores nothing and leaves the chain usable', (t) => {
  const journal = open(tempJournalPath(t));
  t.after(() => journal.close());
  journal.append([{ kind: 'SERVICE', data: {} }]);
  const bad: AuditRecord[] = [
    { kind: 'ORDER_REQUEST', data: { qty: 100 } },
    { kind: 'ORDER_SENT', data: { price: Number.NaN } },
  ];
  assert.throws(() => journal.append(bad), JournalDataError);
  assert.throws(() => journal.append([{ kind: 'NOPE' as never, data: {} }]), /unknown kind/);
  assert.throws(() => journal.append([{ kind: 'ALERT', account: 7 as never, data: {} }]), /account must be a string/);
  assert.equal(journal.lastSeq, 1);
  // A failure inside the transaction (after rows were inserted) rolls back too.
  assert.throws(() => journal.transaction(() => {
    journal.append([{ kind: 'ORDER_REQUEST', data: { qty: 100 } }, { kind: 'ORDER_SENT', data: {} }]);
    throw new Error('broker refused');
  }), /broker refused/);
  assert.equal(journal.lastSeq, 1);
  const [next] = journal.append([{ kind: 'ALERT', data: {} }]);
  assert.equal(next!.seq, 2);
  assert.equal(journal.verify().ok, true);
});

test('a second writer on the same file is refused with JournalLockedError until the first closes', (t) => {
  const path = tempJournalPath(t);
  const first = open(path);
  assert.throws(() => open(path), (error: unknown) => error instanceof JournalLockedError && error.code === 'JOURNAL_LOCKED' && /already open for writing/.test(error.message));
  // A reader is not a writer: it may look while the writer runs.
  first.append([{ kind: 'SERVICE', data: {} }]);
  const reader = openJournalReader({ path });
  assert.equal(reader.lastSeq, 1);
  reader.close();
  first.close();
  const second = open(path);
  assert.equal(second.lastSeq, 1);
  second.close();
});

test('a reader never creates a journal and refuses a file that is not one', (t) => {
  const path = tempJournalPath(t);
  assert.throws(() => openJournalReader({ path }), JournalNotFoundError);
  open(path).close();
  const other = `${path}.other`;
  const plain = new DatabaseSync(other);
  plain.exec('CREATE TABLE t (x)');
  plain.close();
  assert.throws(() => openJournalReader({ path: other }), /not an audit journal/);
});

test('sync full opens and appends like normal', (t) => {
  const journal = openJournal({ path: tempJournalPath(t), clock: new ManualClock(T0), sync: 'full' });
  t.after(() => journal.close());
  assert.equal(journal.sync, 'full');
  journal.append([{ kind: 'SERVICE', data: {} }]);
  assert.equal((journal.database.prepare('PRAGMA synchronous').get() as { synchronous: number }).synchronous, 2);
  assert.equal((journal.database.prepare('PRAGMA journal_mode').get() as { journal_mode: string }).journal_mode, 'wal');
});
