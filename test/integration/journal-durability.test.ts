/**
 * The journal across processes: entries committed before a kill -9 are all there afterwards,
 * the chain still verifies, the writer lock dies with its process, and a second live writer
 * in another process is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ManualClock } from '../../src/core/clock.ts';
import { openJournal, openJournalReader } from '../../src/execution/journal/sqlite-journal.ts';

const JOURNAL_MODULE = new URL('../../src/execution/journal/sqlite-journal.ts', import.meta.url).href;
const CLOCK_MODULE = new URL('../../src/core/clock.ts', import.meta.url).href;

/** A child that appends forever (batches of 1 and 3) and reports each committed last seq on stdout. */
function writerScript(path: string, sync: 'normal' | 'full'): string {
  return `
    import { writeSync } from 'node:fs';
    import { openJournal } from ${JSON.stringify(JOURNAL_MODULE)};
    import { LiveClock } from ${JSON.stringify(CLOCK_MODULE)};
    const journal = openJournal({ path: ${JSON.stringify(path)}, clock: new LiveClock(), sync: ${JSON.stringify(sync)} });
    writeSync(1, 'ready\\n');
    for (let i = 0; ; i++) {
      const size = i % 2 === 0 ? 1 : 3;
      const records = Array.from({ length: size }, (_, k) => ({ kind: 'FILL', account: 'A1', clientOrderId: 'o' + i, data: { i, k } }));
      const entries = journal.append(records);
      writeSync(1, entries.at(-1).seq + '\\n');
    }
  `;
}

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tq-journal-int-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

for (const sync of ['normal', 'full'] as const) {
  test(`kill -9 mid-stream loses no committed entry (sync ${sync})`, async (t) => {
    const path = join(tempDir(t), 'audit.sqlite');
    const child = spawn(process.execPath, ['--input-type=module', '-e', writerScript(path, sync)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    let lastReported = 0;
    const lines = createInterface({ input: child.stdout });
    for await (const line of lines) {
      if (line === 'ready') continue;
      lastReported = Number(line);
      // Kill well into the stream, while appends are in full flight.
      if (lastReported >= 300 && child.exitCode === null && !child.killed) child.kill('SIGKILL');
    }
    assert.equal(await exited, 'SIGKILL', `the writer should die by SIGKILL, not by itself: ${stderr}`);
    assert.ok(lastReported >= 300, `the child reported ${lastReported} seqs: ${stderr}`);

    const reader = openJournalReader({ path });
    const stored = new Set([...reader.replay()].map((e) => e.seq));
    for (let seq = 1; seq <= lastReported; seq++) assert.ok(stored.has(seq), `committed seq ${seq} must survive kill -9`);
    assert.ok(reader.lastSeq >= lastReported);
    const verification = reader.verify();
    assert.equal(verification.ok, true, JSON.stringify(verification));
    reader.close();

    // The dead writer's lock died with it: a new writer continues the chain.
    const journal = openJournal({ path, clock: new ManualClock(1) });
    const [next] = journal.append([{ kind: 'SERVICE', data: { event: 'restart after crash' } }]);
    assert.equal(next!.seq, stored.size + 1);
    assert.equal(journal.verify().ok, true);
    journal.close();
  });
}

test('a second writer in another process is refused while the first lives, and welcome after', (t) => {
  const path = join(tempDir(t), 'audit.sqlite');
  const first = openJournal({ path, clock: new ManualClock(1) });
  const tryWrite = () =>
    spawnSync(process.execPath, ['--input-type=module', '-e', `
      import { openJournal } from ${JSON.stringify(JOURNAL_MODULE)};
      import { ManualClock } from ${JSON.stringify(CLOCK_MODULE)};
      try {
        const journal = openJournal({ path: ${JSON.stringify(path)}, clock: new ManualClock(2) });
        journal.append([{ kind: 'SERVICE', data: { from: 'second' } }]);
        journal.close();
        console.log('WROTE');
      } catch (error) {
        console.log(error.name + ' ' + error.code);
      }
    `], { encoding: 'utf8', timeout: 30_000 });
  const refused = tryWrite();
  assert.equal(refused.stdout.trim(), 'JournalLockedError JOURNAL_LOCKED', refused.stderr);
  first.append([{ kind: 'SERVICE', data: { from: 'first' } }]);
  first.close();
  const welcome = tryWrite();
  assert.equal(welcome.stdout.trim(), 'WROTE', welcome.stderr);
  const reader = openJournalReader({ path });
  assert.deepEqual([...reader.replay()].map((e) => e.data), [{ from: 'first' }, { from: 'second' }]);
  reader.close();
});
