/**
 * Durable per-stream outbox of sequenced session messages, in the journal's SQLite file
 * (see ./sqlite-journal.ts for the store and durability modes). Given the journal's
 * connection (`journal.database`), an outbox append inside `journal.transaction()` commits
 * together with the journal entries written there.
 *
 * Retention: at most `maxMessagesPerStream` messages are kept per (strategy, instance); older
 * ones are deleted by the append that pushes them out, and `firstRetainedSeq` moves up. A
 * client resuming from before that answers with a gap (the gRPC server restates open orders).
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { SessionOutboxStore } from '../ports.ts';
import { JournalDataError } from './errors.ts';
import { inTransaction } from './transaction.ts';

export const DEFAULT_OUTBOX_MAX_MESSAGES_PER_STREAM = 100_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS session_outbox_stream (
  strategy_id TEXT    NOT NULL,
  instance_id TEXT    NOT NULL,
  last_seq    INTEGER NOT NULL,
  PRIMARY KEY (strategy_id, instance_id)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS session_outbox (
  strategy_id TEXT    NOT NULL,
  instance_id TEXT    NOT NULL,
  seq         INTEGER NOT NULL,
  payload     BLOB    NOT NULL,
  PRIMARY KEY (strategy_id, instance_id, seq)
) STRICT, WITHOUT ROWID;
`;

export interface SqliteOutboxOptions {
  /** Messages kept per (strategy, instance); default 100,000. */
  readonly maxMessagesPerStream?: number;
}

export class SqliteOutboxStore implements SessionOutboxStore {
  readonly maxMessagesPerStream: number;
  private readonly database: DatabaseSync;
  private readonly selectLast: StatementSync;
  private readonly upsertLast: StatementSync;
  private readonly insert: StatementSync;
  private readonly trim: StatementSync;
  private readonly selectAfter: StatementSync;
  private readonly selectFirst: StatementSync;

  /** `database`: the journal's connection (`journal.database`), writable. Creates the tables if missing. */
  constructor(database: DatabaseSync, options: SqliteOutboxOptions = {}) {
    const max = options.maxMessagesPerStream ?? DEFAULT_OUTBOX_MAX_MESSAGES_PER_STREAM;
    if (!Number.isSafeInteger(max) || max < 1) throw new JournalDataError(`maxMessagesPerStream must be a whole number >= 1, got ${max}`);
    this.maxMessagesPerStream = max;
    this.database = database;
    inTransaction(database, () => database.exec(SCHEMA));
    this.selectLast = database.prepare('SELECT last_seq FROM session_outbox_stream WHERE strategy_id = ? AND instance_id = ?');
    this.upsertLast = database.prepare(
      'INSERT INTO session_outbox_stream (strategy_id, instance_id, last_seq) VALUES (?, ?, ?) ' +
        'ON CONFLICT (strategy_id, instance_id) DO UPDATE SET last_seq = excluded.last_seq',
    );
    this.insert = database.prepare('INSERT INTO session_outbox (strategy_id, instance_id, seq, payload) VALUES (?, ?, ?, ?)');
    this.trim = database.prepare('DELETE FROM session_outbox WHERE strategy_id = ? AND instance_id = ? AND seq <= ?');
    this.selectAfter = database.prepare(
      'SELECT seq, payload FROM session_outbox WHERE strategy_id = ? AND instance_id = ? AND seq > ? ORDER BY seq LIMIT ?',
    );
    this.selectFirst = database.prepare('SELECT seq FROM session_outbox WHERE strategy_id = ? AND instance_id = ? ORDER BY seq LIMIT 1');
  }

  /** One transaction (or savepoint inside an open one): if `encode` throws, nothing is stored and the seq is not used. */
  append(strategyId: string, instanceId: string, encode: (seq: number) => Uint8Array): number {
    return inTransaction(this.database, () => {
      const seq = this.lastSeq(strategyId, instanceId) + 1;
      const payload = encode(seq);
      this.insert.run(strategyId, instanceId, seq, payload);
      this.upsertLast.run(strategyId, instanceId, seq);
      // Usually deletes exactly the one message pushed out; after a lower limit, everything beyond it.
      if (seq > this.maxMessagesPerStream) this.trim.run(strategyId, instanceId, seq - this.maxMessagesPerStream);
      return seq;
    });
  }

  readAfter(strategyId: string, instanceId: string, afterSeq: number, limit: number): Array<{ seq: number; payload: Uint8Array }> {
    if (limit <= 0) return [];
    const rows = this.selectAfter.all(strategyId, instanceId, afterSeq, limit) as unknown as Array<{ seq: number; payload: Uint8Array }>;
    return rows.map((row) => ({ seq: row.seq, payload: row.payload }));
  }

  lastSeq(strategyId: string, instanceId: string): number {
    const row = this.selectLast.get(strategyId, instanceId) as { last_seq: number } | undefined;
    return row?.last_seq ?? 0;
  }

  firstRetainedSeq(strategyId: string, instanceId: string): number {
    const row = this.selectFirst.get(strategyId, instanceId) as { seq: number } | undefined;
    return row?.seq ?? this.lastSeq(strategyId, instanceId) + 1;
  }
}
