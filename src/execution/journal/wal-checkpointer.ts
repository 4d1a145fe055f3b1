/**
 * Checkpoints a journal's write-ahead log from a worker thread, so the writer never does.
 *
 * With SQLite's automatic checkpoint, the COMMIT that pushes the WAL past 1,000 pages copies
 * it into the database file and syncs it: one order in a few thousand waited 10–30 ms
 * (measured: append p99 11 ms with it, 0.4 ms without). The writer turns the automatic
 * checkpoint off and this worker runs `PRAGMA wal_checkpoint(PASSIVE)` on its own connection
 * every `intervalMs`: PASSIVE never blocks the writer (it copies what no reader still needs),
 * and the writer starts the log over once a checkpoint has copied all of it. Durability is
 * unchanged: a committed transaction is in the WAL either way.
 *
 * The worker's code is a plain-JavaScript string (no module file): a worker thread would
 * otherwise need the TypeScript loader of the parent, which is not given to it everywhere.
 */
import { Worker } from 'node:worker_threads';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const db = new DatabaseSync(workerData.path, { timeout: 0 });
const checkpoint = () => {
  try {
    db.exec('PRAGMA wal_checkpoint(PASSIVE)');
  } catch (error) {
    // SQLITE_BUSY (another checkpoint, a reader): the next interval tries again.
    parentPort.postMessage({ type: 'error', message: String(error && error.message || error) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'stop') {
    clearInterval(timer);
    checkpoint();
    db.close();
    parentPort.close();
  }
});
`;

export interface WalCheckpointerOptions {
  /** The SQLite file in WAL mode. */
  readonly path: string;
  /** How often to checkpoint (default 1,000 ms). */
  readonly intervalMs?: number;
  /** A checkpoint that failed (it is tried again at the next interval). */
  readonly onError?: (message: string) => void;
}

export class WalCheckpointer {
  readonly #worker: Worker;
  #stopped = false;
  /** Checkpoints that failed (tried again at the next interval). */
  errors = 0;

  constructor(options: WalCheckpointerOptions) {
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path: options.path, intervalMs: options.intervalMs ?? 1_000 } });
    this.#worker.unref(); // never what keeps the process alive
    this.#worker.on('message', (m: { type: string; message: string }) => {
      if (m.type !== 'error') return;
      this.errors++;
      options.onError?.(m.message);
    });
    this.#worker.on('error', (error) => {
      this.errors++;
      options.onError?.(error.message);
    });
  }

  /** Runs a last checkpoint and ends the worker; resolves when it has exited. */
  stop(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#stopped = true;
    return new Promise((resolve) => {
      this.#worker.once('exit', () => resolve());
      this.#worker.postMessage('stop');
    });
  }
}
