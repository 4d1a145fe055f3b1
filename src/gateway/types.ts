/**
 * What flows through the gateway: decoded market data in batches. A batch is what one socket
 * read yielded (natural batching): it goes to every observer together, and the Redis
 * publisher writes it as one pipeline.
 */
import type { Micros } from '../core/clock.ts';
import type { DataFrame } from '../protocol/feed/codec.ts';
import type { SnapshotMessage, TradeMessage } from '../protocol/feed/frames.ts';

export type MarketDataMessage = SnapshotMessage | TradeMessage;

export interface TickBatch {
  /** The configured feed name (several feeds can run at once). */
  readonly feed: string;
  /**
   * The feed server's publishing session (its LogonAck `sessionId`, microseconds since the
   * epoch when the server started). Sequence numbers restart with a new session, so
   * (sessionId, channel, seq) identifies a message for ever.
   */
  readonly sessionId: number;
  /** When the bytes were read from the socket. */
  readonly receivedAt: Micros;
  /**
   * In channel-sequence order within each channel, no duplicates, no gaps (gaps are filled first).
   * A batch from a feed decodes these from `frames` on first access: observers on the hot path
   * read `frames` (and count with `batchSize`) instead.
   */
  readonly messages: readonly MarketDataMessage[];
  /**
   * The same messages as validated wire frames (`decodeDataFrame(frames[i])` equals
   * `messages[i]`), when the batch came from a feed; absent in batches built from messages.
   */
  readonly frames?: readonly DataFrame[];
}

/** Number of messages in a batch, without decoding it. */
export function batchSize(batch: TickBatch): number {
  return batch.frames !== undefined ? batch.frames.length : batch.messages.length;
}

/**
 * An observer of decoded market data (observer pattern). Reliable observers (the Redis
 * publisher, the archiver) must see everything: while one is behind, the gateway stops
 * reading the feed (TCP backpressure; the feed retransmits or resumes) rather than drop.
 * Best-effort observers (metrics, the dashboard tap) get batches through a bounded queue
 * that drops and counts when they are slow, so they can never stall the others.
 */
export interface TickObserver {
  readonly name: string;
  readonly reliable: boolean;
  /** Handles one batch; a returned promise means "busy until it settles". */
  onBatch(batch: TickBatch): void | Promise<void>;
  close?(): Promise<void>;
}
