/**
 * The strategy host's connection to the execution tier: one gRPC bidirectional session per
 * instance (implemented by order-client.ts over trading.proto).
 */
import type { CancelIntent, ExecutionEvent, SubmitIntent } from './api.ts';

export type OrderChannelState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface OrderChannel {
  /** Connects, says Hello (resuming after `resumeFromSeq`), resolves on Welcome. */
  start(resumeFromSeq: number): Promise<void>;
  /**
   * Queues an order; sent now if connected, else on reconnect. Retried after a reconnect until
   * the server has acknowledged it with a report or a denial (client order ids make the retry
   * idempotent on the server).
   */
  submit(intent: SubmitIntent): void;
  cancel(intent: CancelIntent): void;
  /** Execution reports and denials, each exactly once and in seq order (duplicates dropped). */
  onEvent(listener: (event: ExecutionEvent) => void): void;
  onStateChange(listener: (state: OrderChannelState, detail: string) => void): void;
  readonly state: OrderChannelState;
  /** Last seq delivered to the listener. */
  readonly lastSeq: number;
  close(): Promise<void>;
}
