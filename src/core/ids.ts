/**
 * Identifiers. Client order ids must be unique per account and stable across retries, so a
 * resubmitted order is recognised (idempotency); they carry a prefix (strategy instance),
 * the trading date, and a sequence number.
 */
import type { TradingDate } from './clock.ts';

export type OrderId = string;

/** Generates `<prefix>-<date>-<seq>` ids, resuming after `lastSeq` (e.g. after a restart). */
export class SequentialIds {
  private seq: number;
  private readonly prefix: string;
  private readonly date: TradingDate;

  constructor(prefix: string, date: TradingDate, lastSeq = 0) {
    if (!/^[A-Za-z0-9_.]+$/.test(prefix)) throw new RangeError(`id prefix must be [A-Za-z0-9_.]+: "${prefix}"`);
    this.prefix = prefix;
    this.date = date;
    this.seq = lastSeq;
  }

  next(): OrderId {
    this.seq += 1;
    return `${this.prefix}-${this.date}-${this.seq}`;
  }

  get lastSeq(): number {
    return this.seq;
  }
}
