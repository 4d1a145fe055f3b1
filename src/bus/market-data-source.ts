/**
 * The contract of a strategy instance's market-data input (implemented over Redis Streams
 * consumer groups by group-consumer.ts; a replay source can implement it for backtests).
 *
 * Delivery model: the source hands out batches of stream entries; the caller handles them
 * and then `commit`s the batch. Commit acknowledges the entries (XACK) and, in the same Redis
 * transaction, stores the caller's checkpoint blob, so "handled" and "acknowledged" can never
 * disagree after a crash: a batch is either committed with the state it produced or it is
 * redelivered (to this or another consumer of the group) as if never seen. `next()` may be
 * called while a commit is in flight (the strategy instance reads ahead); commits are applied
 * in call order.
 */
import type { MarketDataEntryMessage } from './tick-codec.ts';

/** One stream entry: all ticks/trades of one symbol from one gateway flush. */
export interface MarketDataEntry {
  readonly stream: string;
  /** Redis entry id `<sessionId>-<lastSeq>` (strictly increasing per stream). */
  readonly id: string;
  readonly symbol: string;
  readonly messages: readonly MarketDataEntryMessage[];
  /** How many times the group delivered this entry (1 = first time). */
  readonly deliveries: number;
}

export interface MarketDataBatch {
  readonly entries: readonly MarketDataEntry[];
  /** Where the entries came from: own pending list, reclaimed from a dead consumer, or new. */
  readonly origin: 'pending' | 'reclaimed' | 'new';
}

/** What a source has done so far (counts since it was made). */
export interface MarketDataSourceStats {
  readonly delivered: number;
  readonly acked: number;
  readonly reclaimed: number;
  readonly deadLettered: number;
  readonly decodeErrors: number;
  readonly duplicates: number;
  readonly lost: number;
  readonly fenced: number;
}

export interface MarketDataSource {
  /** Creates the consumer group(s) if needed, then drains own pending, then reclaims idle ones. */
  start(): Promise<void>;
  /** The next batch, waiting up to the block timeout; undefined after close(). */
  next(): Promise<MarketDataBatch | undefined>;
  /**
   * Acknowledges `batch` and stores `checkpoint` (opaque bytes, e.g. the strategy's JSON
   * state) atomically. Entries the handler could not process go to `failed` and are left
   * pending (dead-lettered after too many deliveries).
   */
  commit(batch: MarketDataBatch, checkpoint: string | undefined, failed?: ReadonlyArray<{ entry: MarketDataEntry; error: string }>): Promise<void>;
  /** The checkpoint stored by the last commit of this consumer (undefined = none). */
  loadCheckpoint(): Promise<string | undefined>;
  /** Changes the symbols read (strategy subscribe/unsubscribe). */
  setSymbols(symbols: readonly string[]): Promise<void>;
  close(): Promise<void>;
  /** Counters for monitoring, where the source keeps them. */
  stats?(): MarketDataSourceStats;
}
