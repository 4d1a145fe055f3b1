/** One SQLite transaction around `work`, nesting as a savepoint inside an open one. */
import type { DatabaseSync } from 'node:sqlite';

let savepoints = 0;

/**
 * Runs `work` atomically: all its writes commit together or none do. Inside an already open
 * transaction (a caller grouping a journal append with an outbox append) it becomes a
 * SAVEPOINT, so the outer transaction decides when everything commits.
 */
export function inTransaction<T>(db: DatabaseSync, work: () => T): T {
  if (db.isTransaction) {
    const name = `tq_sp_${++savepoints}`;
    db.exec(`SAVEPOINT ${name}`);
    try {
      const result = work();
      db.exec(`RELEASE ${name}`);
      return result;
    } catch (error) {
      db.exec(`ROLLBACK TO ${name}`);
      db.exec(`RELEASE ${name}`);
      throw error;
    }
  }
  // IMMEDIATE takes the write lock up front: no deadlock-prone upgrade from a read lock.
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    db.exec('COMMIT');
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw error;
  }
}
