/**
 * In-memory `SessionOutboxStore`: the sequenced session messages of each (strategy, instance),
 * keeping the newest `retainPerStream` of them. For tests, paper runs without a journal, and as
 * the reference behaviour of the durable (SQLite) outbox. Lost on restart by nature.
 */
import type { SessionOutboxStore } from '../ports.ts';

interface Entry {
  readonly seq: number;
  readonly payload: Uint8Array;
}

interface StreamLog {
  /** Retained entries are `entries[head..]`; dropped ones are cut off in batches (no O(n) shift per append). */
  entries: Entry[];
  head: number;
  last: number;
}

export interface MemorySessionOutboxOptions {
  /** Messages kept per (strategy, instance); older ones are dropped (a resume from before them gets RESTATED). */
  readonly retainPerStream?: number;
}

export const DEFAULT_OUTBOX_RETENTION = 100_000;

export class MemorySessionOutbox implements SessionOutboxStore {
  private readonly retain: number;
  private readonly streams = new Map<string, StreamLog>();

  constructor(options: MemorySessionOutboxOptions = {}) {
    this.retain = options.retainPerStream ?? DEFAULT_OUTBOX_RETENTION;
    if (!Number.isSafeInteger(this.retain) || this.retain < 1) throw new RangeError(`retainPerStream must be a positive integer, got ${this.retain}`);
  }

  append(strategyId: string, instanceId: string, encode: (seq: number) => Uint8Array): number {
    const log = this.log(strategyId, instanceId, true)!;
    const seq = log.last + 1;
    const payload = encode(seq); // may throw: then nothing is appended and the seq is not used
    log.entries.push({ seq, payload });
    log.last = seq;
    if (log.entries.length - log.head > this.retain) log.head = log.entries.length - this.retain;
    if (log.head > 1024 && log.head * 2 > log.entries.length) {
      log.entries = log.entries.slice(log.head);
      log.head = 0;
    }
    return seq;
  }

  readAfter(strategyId: string, instanceId: string, afterSeq: number, limit: number): Array<{ seq: number; payload: Uint8Array }> {
    const log = this.log(strategyId, instanceId, false);
    if (log === undefined || limit <= 0) return [];
    const first = log.entries[log.head];
    if (first === undefined) return [];
    // Seqs are contiguous, so the position of afterSeq + 1 is arithmetic.
    const start = log.head + Math.max(0, afterSeq + 1 - first.seq);
    return log.entries.slice(start, start + limit).map((e) => ({ seq: e.seq, payload: e.payload }));
  }

  lastSeq(strategyId: string, instanceId: string): number {
    return this.log(strategyId, instanceId, false)?.last ?? 0;
  }

  firstRetainedSeq(strategyId: string, instanceId: string): number {
    const log = this.log(strategyId, instanceId, false);
    if (log === undefined) return 1;
    return log.entries[log.head]?.seq ?? log.last + 1;
  }

  /** Drops every message with seq ≤ `seq` (what a retention sweep does; tests use it to make a gap). */
  trimThrough(strategyId: string, instanceId: string, seq: number): void {
    const log = this.log(strategyId, instanceId, false);
    if (log === undefined) return;
    while (log.head < log.entries.length && log.entries[log.head]!.seq <= seq) log.head++;
  }

  private log(strategyId: string, instanceId: string, create: boolean): StreamLog | undefined {
    const key = `${strategyId}\u0000${instanceId}`;
    let log = this.streams.get(key);
    if (log === undefined && create) {
      log = { entries: [], head: 0, last: 0 };
      this.streams.set(key, log);
    }
    return log;
  }
}
