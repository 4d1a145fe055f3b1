/**
 * Audit journal append throughput (src/execution/journal): appends of one record per
 * transaction (the OMS's "write before acting" path) and of ten records per transaction, in
 * both durability modes. `sync normal` survives kill -9; `sync full` fsyncs every commit and
 * survives power loss, so its figure is bounded by the disk's fsync latency.
 * The journal lives in a temporary directory under TRIQUANT_BENCH_DIR (default: the OS temp
 * dir); make sure that is a real disk (not tmpfs) for `full` to mean anything.
 *
 *   node_modules/.bin/node bin/triquant.js bench journal --json
 *
 * Result: appends_per_sec_normal / appends_per_sec_full are single-record appends (= commits)
 * per second; records_per_sec_*_tx10 count records in ten-record transactions.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchDefinition } from './harness.ts';
import { measureThroughput } from './harness.ts';
import { LiveClock } from '../src/core/clock.ts';
import type { AuditRecord } from '../src/execution/ports.ts';
import { openJournal, type JournalSync } from '../src/execution/journal/sqlite-journal.ts';

let orderSeq = 0;
/** A realistic record: an order request with the fields the OMS journals. */
function record(): AuditRecord {
  const n = ++orderSeq;
  return {
    kind: 'ORDER_REQUEST', account: 'A1', strategy: 'bench', symbol: '600000.SH', clientOrderId: `b-${n}`, actor: 'strategy:bench',
    data: { side: 'BUY', orderType: 'LIMIT', price: 100_000 + (n % 50) * 10, quantity: 300, tag: 'bench', clientTimeUs: 1_735_781_400_000_000 + n },
  };
}

function measure(dir: string, sync: JournalSync, perTransaction: number, durationMs: number): number {
  const journal = openJournal({ path: join(dir, `${sync}-${perTransaction}.sqlite`), clock: new LiveClock(), sync });
  try {
    const transactionsPerBatch = perTransaction === 1 ? 20 : 5;
    const result = measureThroughput(() => {
      for (let i = 0; i < transactionsPerBatch; i++) journal.append(Array.from({ length: perTransaction }, record));
    }, transactionsPerBatch * perTransaction, durationMs);
    const verified = journal.verify();
    if (!verified.ok) throw new Error(`the chain written by the bench does not verify: ${verified.detail}`);
    return result.opsPerSec;
  } finally {
    journal.close();
  }
}

const bench: BenchDefinition = {
  name: 'journal',
  description: 'audit journal appends per second (1 and 10 records per transaction, sync normal and full)',
  defaultDurationMs: 2_000,
  async run(ctx) {
    const dir = mkdtempSync(join(process.env.TRIQUANT_BENCH_DIR ?? tmpdir(), 'tq-bench-journal-'));
    try {
      const result: Record<string, number> = {};
      for (const sync of ['normal', 'full'] as const) {
        const single = measure(dir, sync, 1, ctx.durationMs);
        ctx.progress({ phase: `${sync} 1 record/tx`, appends_per_sec: single });
        const ten = measure(dir, sync, 10, ctx.durationMs);
        ctx.progress({ phase: `${sync} 10 records/tx`, records_per_sec: ten, transactions_per_sec: Math.round(ten / 10) });
        result[`appends_per_sec_${sync}`] = single;
        result[`records_per_sec_${sync}_tx10`] = ten;
      }
      return result;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
