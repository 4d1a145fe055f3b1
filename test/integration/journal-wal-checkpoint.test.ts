import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/core/clock.ts';
import { openJournal, openJournalReader } from '../../src/execution/journal/sqlite-journal.ts';

async function until(what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('appends never checkpoint the WAL themselves; the background worker copies it into the database file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tq-journal-wal-'));
  const path = join(dir, 'audit.sqlite');
  try {
    // A long interval first: nothing but the worker may checkpoint, so the file must not grow.
    const journal = openJournal({ path, clock: new ManualClock(1_000_000), checkpointIntervalMs: 60_000 });
    const before = statSync(path).size;
    const payload = 'x'.repeat(2_000);
    for (let i = 0; i < 3_000; i++) {
      journal.append([{ kind: 'SERVICE', actor: 'test', data: { i, payload } }]);
    }
    // ~6 MB went to the WAL: far past the 1,000 pages at which SQLite would checkpoint inside a COMMIT.
    assert.ok(statSync(`${path}-wal`).size > 4_000_000, 'the appends went to the WAL');
    assert.equal(statSync(path).size, before, 'no append copied the WAL into the database file');
    journal.close();
    // The worker's last checkpoint (on close) copies it; the chain reads back whole.
    await until('the final checkpoint', () => statSync(path).size > 4_000_000);
    const reader = openJournalReader({ path });
    assert.equal(reader.verify().ok, true);
    assert.equal([...reader.replay()].length, 3_000);
    reader.close();

    // A short interval: the worker checkpoints while the journal stays open.
    const again = openJournal({ path, clock: new ManualClock(2_000_000), checkpointIntervalMs: 50 });
    const size = statSync(path).size;
    for (let i = 0; i < 1_000; i++) again.append([{ kind: 'SERVICE', actor: 'test', data: { i, payload } }]);
    await until('a background checkpoint', () => statSync(path).size > size + 1_000_000);
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
