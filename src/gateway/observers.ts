/**
 * Fans decoded tick batches out to the gateway's observers (observer pattern), so that a
 * slow observer never stalls the others and the ones that must not lose data do not:
 *
 * - **reliable** observers (Redis publisher, archiver) each get every batch, in order, through
 *   their own unbounded-but-watched queue. When any reliable queue passes the high-water mark
 *   (batches or messages) the dispatcher pauses its sources (`FeedClient.pause()` → TCP
 *   backpressure → the feed server holds or, past its bound, drops us and we resume), and
 *   resumes them once every reliable queue is back under the low-water mark. A failing
 *   reliable observer (throws or rejects) is retried with exponential back-off on the same
 *   batch — it never loses one — and every failure is logged.
 * - **best-effort** observers (metrics, dashboard tap) get batches through a bounded queue
 *   that **drops the oldest** batch when full (the freshest data is what a dashboard or a
 *   rate meter wants) and counts what it dropped; a failing best-effort observer is counted,
 *   logged (rate-limited) and skipped.
 *
 * Observers run concurrently with each other: each has its own pump, and a batch handed to
 * one observer's queue is never held back by another's.
 */
import type { Clock } from '../core/clock.ts';
import { LiveClock } from '../core/clock.ts';
import { TriquantError, ValidationError } from '../core/errors.ts';
import { createLogger } from '../obs/log.ts';
import type { Logger } from '../obs/log.ts';
import { batchSize } from './types.ts';
import type { TickBatch, TickObserver } from './types.ts';

/** Misuse of the dispatcher (duplicate observer name, dispatch after close). */
export class ObserverDispatcherError extends TriquantError {
  constructor(message: string) {
    super('OBSERVER_DISPATCHER', message);
  }
}

/** Something that can stop producing batches for a while (a `FeedClient`). */
export interface FlowControl {
  pause(): void;
  resume(): void;
}

export interface ObserverDispatcherOptions {
  /** Pause the sources when any reliable queue holds more than this many batches (default 256)… */
  highWaterBatches?: number;
  /** …or more than this many messages (default 200,000). */
  highWaterMessages?: number;
  /** Resume when every reliable queue is at or under this many batches (default highWaterBatches / 4)… */
  lowWaterBatches?: number;
  /** …and this many messages (default highWaterMessages / 4). */
  lowWaterMessages?: number;
  /** Capacity of each best-effort queue in batches; when full the oldest is dropped (default 64). */
  bestEffortQueueBatches?: number;
  /** Retry back-off for a failing reliable observer: first delay (default 50 ms), doubling up to the max (default 5 s). */
  retryMinMs?: number;
  retryMaxMs?: number;
  clock?: Clock;
  logger?: Logger;
}

export interface ObserverStats {
  name: string;
  reliable: boolean;
  /** Batches handled successfully. */
  delivered: number;
  deliveredMessages: number;
  /** Batches waiting (the one being handled included). */
  queued: number;
  queuedMessages: number;
  /** Batches dropped because the queue was full (best-effort only; the oldest waiting one goes). */
  dropped: number;
  droppedMessages: number;
  /** Times the observer threw or rejected (a best-effort observer's failed batch is skipped, a reliable one's retried). */
  errors: number;
  /** Retries of a failed batch (reliable only). */
  retries: number;
  lastError: string | undefined;
  /** The observer is handling a batch right now. */
  busy: boolean;
}

export interface ObserverDispatcherStats {
  /** Batches dispatched. */
  batches: number;
  messages: number;
  /** Whether the sources are currently paused for a reliable observer. */
  paused: boolean;
  /** Times the sources were paused. */
  pauses: number;
  /** Batches refused because the dispatcher was closing. */
  refused: number;
  observers: ObserverStats[];
}

/** A FIFO of batches with O(1) push/shift and a running message count. */
class BatchQueue {
  private items: (TickBatch | undefined)[] = [];
  private head = 0;
  messages = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(batch: TickBatch): void {
    this.items.push(batch);
    this.messages += batchSize(batch);
  }

  peek(): TickBatch | undefined {
    return this.items[this.head];
  }

  shift(): TickBatch | undefined {
    if (this.head >= this.items.length) return undefined;
    const batch = this.items[this.head];
    this.items[this.head++] = undefined;
    if (batch !== undefined) this.messages -= batchSize(batch);
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return batch;
  }

  /** Removes the batch `index` places from the head (small queues only: O(n)). */
  removeAt(index: number): TickBatch | undefined {
    if (index === 0) return this.shift();
    if (index >= this.length) return undefined;
    const [batch] = this.items.splice(this.head + index, 1);
    if (batch !== undefined) this.messages -= batchSize(batch);
    return batch;
  }
}

interface Slot {
  readonly observer: TickObserver;
  readonly queue: BatchQueue;
  readonly stats: ObserverStats;
  running: boolean;
  retryTimer: NodeJS.Timeout | undefined;
  wakeRetry: (() => void) | undefined;
}

const MAX_LOGGED_BEST_EFFORT_ERRORS = 10;

function intOption(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) throw new ValidationError(`ObserverDispatcher option ${name} must be an integer ≥ ${min} (got ${value})`);
  return value;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

export class ObserverDispatcher {
  private readonly highWaterBatches: number;
  private readonly highWaterMessages: number;
  private readonly lowWaterBatches: number;
  private readonly lowWaterMessages: number;
  private readonly bestEffortQueueBatches: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly slots: Slot[] = [];
  private readonly sources = new Set<FlowControl>();
  private readonly idleWaiters = new Set<() => void>();
  private paused = false;
  private pausedAt = 0;
  private pauses = 0;
  private batches = 0;
  private messages = 0;
  private refused = 0;
  private closing = false;
  private stopped = false;
  private closePromise: Promise<void> | undefined;

  constructor(options: ObserverDispatcherOptions = {}) {
    this.highWaterBatches = intOption('highWaterBatches', options.highWaterBatches ?? 256, 1);
    this.highWaterMessages = intOption('highWaterMessages', options.highWaterMessages ?? 200_000, 1);
    this.lowWaterBatches = intOption('lowWaterBatches', options.lowWaterBatches ?? Math.floor(this.highWaterBatches / 4), 0);
    this.lowWaterMessages = intOption('lowWaterMessages', options.lowWaterMessages ?? Math.floor(this.highWaterMessages / 4), 0);
    if (this.lowWaterBatches >= this.highWaterBatches) throw new ValidationError(`ObserverDispatcher option lowWaterBatches (${this.lowWaterBatches}) must be below highWaterBatches (${this.highWaterBatches})`);
    if (this.lowWaterMessages >= this.highWaterMessages) throw new ValidationError(`ObserverDispatcher option lowWaterMessages (${this.lowWaterMessages}) must be below highWaterMessages (${this.highWaterMessages})`);
    this.bestEffortQueueBatches = intOption('bestEffortQueueBatches', options.bestEffortQueueBatches ?? 64, 1);
    this.retryMinMs = intOption('retryMinMs', options.retryMinMs ?? 50, 1);
    this.retryMaxMs = intOption('retryMaxMs', options.retryMaxMs ?? 5_000, this.retryMinMs);
    this.clock = options.clock ?? new LiveClock();
    this.log = options.logger ?? createLogger({ component: 'gateway.observers' });
  }

  /** Registers an observer; it receives batches dispatched from now on. */
  add(observer: TickObserver): void {
    if (this.closing) throw new ObserverDispatcherError('observer dispatcher is closed');
    if (this.slots.some((s) => s.observer.name === observer.name)) throw new ObserverDispatcherError(`an observer named ${observer.name} is already registered`);
    this.slots.push({
      observer,
      queue: new BatchQueue(),
      stats: {
        name: observer.name,
        reliable: observer.reliable,
        delivered: 0,
        deliveredMessages: 0,
        queued: 0,
        queuedMessages: 0,
        dropped: 0,
        droppedMessages: 0,
        errors: 0,
        retries: 0,
        lastError: undefined,
        busy: false,
      },
      running: false,
      retryTimer: undefined,
      wakeRetry: undefined,
    });
  }

  /** A source to pause while a reliable observer is behind (e.g. each `FeedClient`). */
  attachSource(source: FlowControl): void {
    this.sources.add(source);
    if (this.paused) source.pause();
  }

  detachSource(source: FlowControl): void {
    if (this.sources.delete(source) && this.paused) source.resume();
  }

  /** Hands a batch to every observer's queue. Never throws; bound, so it can be passed as a callback. */
  readonly dispatch = (batch: TickBatch): void => {
    if (this.closing) {
      this.refused++;
      if (this.refused === 1 || this.refused % 1000 === 0) {
        this.log.error('batches dispatched after close are refused (close the feeds first)', { feed: batch.feed, messages: batchSize(batch), refused: this.refused });
      }
      return;
    }
    this.batches++;
    this.messages += batchSize(batch);
    for (const slot of this.slots) {
      if (!slot.observer.reliable && slot.queue.length >= this.bestEffortQueueBatches) {
        // Drop the oldest waiting batch (never the one being handled right now).
        const dropAt = slot.running ? 1 : 0;
        if (slot.queue.length > dropAt) this.dropOldest(slot, dropAt);
      }
      slot.queue.push(batch);
      if (!slot.running) void this.pump(slot);
    }
    this.checkHighWater();
  };

  stats(): ObserverDispatcherStats {
    return {
      batches: this.batches,
      messages: this.messages,
      paused: this.paused,
      pauses: this.pauses,
      refused: this.refused,
      observers: this.slots.map((s) => ({ ...s.stats, queued: s.queue.length, queuedMessages: s.queue.messages })),
    };
  }

  /**
   * Waits until every queue is empty and no observer is busy. Resolves true when drained,
   * false if `timeoutMs` passed first (batches still queued — see `stats()`).
   */
  drain(timeoutMs = 5_000): Promise<boolean> {
    if (this.isIdle()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const done = (drained: boolean) => {
        clearTimeout(timer);
        this.idleWaiters.delete(onIdle);
        resolve(drained);
      };
      const onIdle = () => done(true);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.idleWaiters.add(onIdle);
    });
  }

  /**
   * Phased shutdown: refuses further batches, drains for up to `graceMs`, stops the pumps
   * (what is still queued is logged as abandoned, per observer, never silently), then closes
   * each observer that has `close()`. Idempotent.
   */
  close(graceMs = 5_000): Promise<void> {
    this.closePromise ??= this.shutdown(graceMs);
    return this.closePromise;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.closing = true;
    const drained = await this.drain(graceMs);
    this.stopped = true;
    for (const slot of this.slots) {
      if (slot.retryTimer !== undefined) clearTimeout(slot.retryTimer);
      slot.wakeRetry?.();
      if (slot.queue.length > 0) {
        this.log.error('observer did not drain before shutdown: batches abandoned', {
          observer: slot.observer.name,
          reliable: slot.observer.reliable,
          batches: slot.queue.length,
          messages: slot.queue.messages,
          lastError: slot.stats.lastError,
        });
      }
    }
    if (!drained) this.log.warn('observer dispatcher closed before every queue drained', { graceMs });
    if (this.paused) this.setPaused(false);
    for (const slot of this.slots) {
      if (slot.observer.close === undefined) continue;
      try {
        await slot.observer.close();
      } catch (error) {
        this.log.error('observer close failed', { observer: slot.observer.name, error: errorText(error) });
      }
    }
  }

  // ---------------------------------------------------------------------------------------------

  private dropOldest(slot: Slot, index: number): void {
    const batch = index === 0 ? slot.queue.shift() : slot.queue.removeAt(index);
    if (batch === undefined) return;
    slot.stats.dropped++;
    slot.stats.droppedMessages += batchSize(batch);
    if (slot.stats.dropped === 1 || slot.stats.dropped % 1000 === 0) {
      this.log.warn('best-effort observer is behind: oldest batches dropped', { observer: slot.observer.name, dropped: slot.stats.dropped, droppedMessages: slot.stats.droppedMessages });
    }
  }

  /** Handles a slot's queue until it is empty; at most one pump per slot. */
  private async pump(slot: Slot): Promise<void> {
    slot.running = true;
    let failures = 0;
    try {
      while (!this.stopped) {
        const batch = slot.queue.peek();
        if (batch === undefined) break;
        slot.stats.busy = true;
        let failed: unknown;
        let ok = true;
        try {
          const result = slot.observer.onBatch(batch);
          if (isPromiseLike(result)) await result;
        } catch (error) {
          ok = false;
          failed = error;
        }
        slot.stats.busy = false;
        if (ok) {
          failures = 0;
          slot.queue.shift();
          slot.stats.delivered++;
          slot.stats.deliveredMessages += batchSize(batch);
          if (slot.observer.reliable) this.checkLowWater();
          continue;
        }
        slot.stats.errors++;
        slot.stats.lastError = errorText(failed);
        if (!slot.observer.reliable) {
          slot.queue.shift();
          if (slot.stats.errors <= MAX_LOGGED_BEST_EFFORT_ERRORS) {
            this.log.warn('best-effort observer failed on a batch; skipped', { observer: slot.observer.name, feed: batch.feed, messages: batchSize(batch), errors: slot.stats.errors, error: slot.stats.lastError });
          }
          continue;
        }
        // Reliable: keep the batch at the head and try again after a back-off.
        const delay = Math.min(this.retryMaxMs, this.retryMinMs * 2 ** Math.min(failures, 30));
        failures++;
        this.log.error('reliable observer failed on a batch; retrying', {
          observer: slot.observer.name,
          feed: batch.feed,
          messages: batchSize(batch),
          attempt: failures,
          retryInMs: delay,
          queued: slot.queue.length,
          error: slot.stats.lastError,
        });
        await this.sleep(slot, delay);
        if (!this.stopped) slot.stats.retries++;
      }
    } finally {
      slot.running = false;
      slot.stats.busy = false;
      this.notifyIfIdle();
    }
  }

  private sleep(slot: Slot, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(slot.retryTimer);
        slot.retryTimer = undefined;
        slot.wakeRetry = undefined;
        resolve();
      };
      slot.wakeRetry = wake;
      slot.retryTimer = setTimeout(wake, ms);
    });
  }

  private checkHighWater(): void {
    if (this.paused) return;
    for (const slot of this.slots) {
      if (!slot.observer.reliable) continue;
      if (slot.queue.length > this.highWaterBatches || slot.queue.messages > this.highWaterMessages) {
        this.pauses++;
        this.log.info('reliable observer behind: pausing the feed', { observer: slot.observer.name, queued: slot.queue.length, queuedMessages: slot.queue.messages, pauses: this.pauses });
        if (this.sources.size === 0) this.log.warn('no source attached to pause: the reliable queue keeps growing', { observer: slot.observer.name });
        this.setPaused(true);
        return;
      }
    }
  }

  private checkLowWater(): void {
    if (!this.paused) return;
    for (const slot of this.slots) {
      if (slot.observer.reliable && (slot.queue.length > this.lowWaterBatches || slot.queue.messages > this.lowWaterMessages)) return;
    }
    this.log.info('reliable observers caught up: resuming the feed', { pausedForMs: Math.round((this.clock.nowMicros() - this.pausedAt) / 1000) });
    this.setPaused(false);
  }

  private setPaused(paused: boolean): void {
    this.paused = paused;
    if (paused) this.pausedAt = this.clock.nowMicros();
    for (const source of this.sources) {
      try {
        if (paused) source.pause();
        else source.resume();
      } catch (error) {
        this.log.error(`source ${paused ? 'pause' : 'resume'} threw`, { error: errorText(error) });
      }
    }
  }

  private isIdle(): boolean {
    return this.slots.every((s) => !s.running && s.queue.length === 0);
  }

  private notifyIfIdle(): void {
    if (this.idleWaiters.size === 0 || !this.isIdle()) return;
    for (const waiter of [...this.idleWaiters]) waiter();
  }
}
