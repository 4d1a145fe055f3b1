/**
 * The driver of one strategy instance (one per OS process, see instance-main.ts): market data
 * from a `MarketDataSource` → `StrategyRuntime` → intents to an `OrderChannel`; execution
 * events from the channel → runtime; timers; checkpoints. Everything that touches the runtime
 * runs as one task at a time on the driver's queue, so batches, execution events, timers and
 * checkpoint writes never interleave and intents leave in the order they were decided.
 *
 * Why the strategy sees every market-data message exactly once, even when the process is
 * killed at any instruction:
 *
 *  1. A batch is handled completely, then committed: `commit(batch, checkpoint)` acknowledges
 *     the entries and stores the runtime's checkpoint in ONE Redis transaction. Killed before
 *     the commit: the entries stay pending and the checkpoint stays the previous one, so the
 *     restarted instance (or another one, after claimIdleMs) redelivers them to a runtime
 *     restored to the state from before the batch: as if the first attempt never happened.
 *     Killed after: the entries are acknowledged and their effects are in the checkpoint.
 *  2. The checkpoint holds everything the strategy has processed: its state, orders,
 *     positions, timers, client-order-id sequence and the seq of the last execution report. So
 *     execution events handled since the last commit are also "forgotten" by a crash, and the
 *     execution service replays every report after that seq when the channel resumes
 *     (`start(runtime.lastReportSeq)`). Reports already in the checkpoint are ignored by seq.
 *  3. A batch's orders are sent as soon as the batch is handled, then the batch is committed
 *     (waiting for the commit's Redis round trip first would put it on every order's path).
 *     The execution service's journal, not the checkpoint, is the durable record of an order:
 *     - killed after the send, before the commit is stored: the batch is redelivered to a
 *       runtime restored to before it, which decides again with the same client order ids
 *       (the sequence is in the checkpoint); the service ignores a client order id it already
 *       has and replays that order's reports, so the runtime adopts it: nothing is traded
 *       twice (a strategy whose decisions depend on more than its inputs and state, e.g. a
 *       random number, may decide differently the second time; the first order is still
 *       adopted from its reports, see docs/strategy-api.md);
 *     - killed after the commit: `PENDING_NEW` orders of today in the restored checkpoint may
 *       never have reached the service (still queued in the channel), so they are submitted
 *       again with the same ids, and unanswered cancels re-requested.
 *  4. Orders decided in reaction to execution events or timers are sent at once too, and
 *     checkpointed with the next commit, or after `checkpointIntervalMs` when no market data
 *     comes; a crash in between is handled as in 3: the replayed reports are decided on again
 *     with the same client order ids. A timer that fired in that window fires again.
 *  5. Batches are not held up by commits: at most one commit is on its way to Redis, and the
 *     batches handled meanwhile go together in the next one, with the state after the last of
 *     them (taken between two tasks of the driver's queue, so it is the state of exactly the
 *     batches it acknowledges). A commit refused because another instance took the entries
 *     over fails this instance; what it handled but had not committed is redelivered and
 *     decided again with the same client order ids, as in 3. `commitIntervalMs` spaces the
 *     commits further (each one writes the whole checkpoint). Past MAX_UNCOMMITTED_ENTRIES
 *     handled entries the driver waits for the commit (Redis is slow: stop reading ahead).
 *
 * A hook that throws fails the runtime: the driver stops without committing and the process
 * exits non-zero; the supervisor restarts it from the last checkpoint. A batch that always
 * makes the strategy throw is redelivered on each restart until the source dead-letters it
 * (`maxDeliveries`). An entry that cannot be converted to ticks is reported as failed in the
 * commit (left pending, dead-lettered by the source) and the rest of the batch is handled.
 */
import { chinaDate, type Clock, type Micros } from '../core/clock.ts';
import { TriquantError } from '../core/errors.ts';
import { silentLogger, type Logger } from '../obs/log.ts';
import type { MarketDataBatch, MarketDataEntry, MarketDataSource } from '../bus/market-data-source.ts';
import {
  StrategyApiError,
  tickFromProto,
  tradeFromProto,
  type CancelIntent,
  type ExecutionEvent,
  type Intent,
  type JsonObject,
  type MarketTrade,
  type StepResult,
  type StrategyCheckpoint,
  type StrategyDefinition,
  type SubmitIntent,
  type Tick,
} from './api.ts';
import type { OrderChannel, OrderChannelState } from './ports.ts';
import { StrategyRuntime, type RuntimeOptions, type StatusRecord } from './runtime.ts';

export interface StrategyInstanceOptions<P = unknown, S extends object = JsonObject> {
  readonly definition: StrategyDefinition<P, S>;
  readonly instanceId: string;
  readonly account: string;
  /** Raw parameters (validated by the definition's schema). */
  readonly params: unknown;
  /** Symbols subscribed from the start. */
  readonly symbols: readonly string[];
  readonly source: MarketDataSource;
  readonly channel: OrderChannel;
  readonly clock: Clock;
  readonly log?: Logger;
  /** Checkpoint state changed by execution events or timers at most this long after the change when no batch commits it (default 1000 ms). */
  readonly checkpointIntervalMs?: number;
  /**
   * Least time between the starts of two market-data commits (default 0: as soon as the one in
   * flight is stored). Batches handled meanwhile go in the next commit: fewer checkpoint
   * writes, at the price of more entries handled again after a crash.
   */
  readonly commitIntervalMs?: number;
  /** Further runtime settings (calendar, sessions, fees, lots, instruments, portfolio seed). */
  readonly runtime?: Omit<RuntimeOptions, 'instanceId' | 'account' | 'params' | 'symbols' | 'clock' | 'log' | 'checkpoint'>;
  /** Learns market time from each tick (see MarketTimeClock); pass the same clock as `clock`. */
  readonly marketTime?: { observe(venueTime: Micros, receivedAt: Micros): void };
  /** Called with the strategy's status record whenever a hook changes it. */
  readonly onStatus?: (status: Readonly<StatusRecord>) => void;
  /** First wait after a retryable source failure (doubles up to 5 s; default 100 ms). */
  readonly retryInitialMs?: number;
}

export type InstanceState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

export interface InstanceStats {
  readonly state: InstanceState;
  readonly restored: boolean;
  readonly batches: number;
  readonly entries: number;
  readonly ticks: number;
  readonly trades: number;
  readonly failedEntries: number;
  readonly executionEvents: number;
  readonly ordersSent: number;
  readonly cancelsSent: number;
  readonly commits: number;
  readonly lastReportSeq: number;
  readonly channel: OrderChannelState;
  readonly subscriptions: readonly string[];
  readonly status: Readonly<StatusRecord>;
}

/** The instance stopped because of a failure (a hook threw, a checkpoint could not be made or stored). */
export class InstanceFailedError extends TriquantError {
  /** The source refused a commit because another instance took over entries (restart and reload; not a crash of the strategy). */
  readonly fenced: boolean;
  constructor(message: string, options?: { cause?: unknown }) {
    super('STRATEGY_INSTANCE_FAILED', message, options);
    this.fenced = (options?.cause as { code?: unknown } | undefined)?.code === 'MD_CONSUMER_FENCED';
  }
}

type Step = { kind: 'tick'; tick: Tick } | { kind: 'trade'; trade: MarketTrade };

/** The ticks and trades of one entry as the strategy API types, in feed order. Throws for a malformed message. */
export function entryToSteps(entry: MarketDataEntry): Step[] {
  return entry.messages.map((m): Step =>
    m.type === 'tick'
      ? { kind: 'tick', tick: tickFromProto(m.tick) }
      : { kind: 'trade', trade: tradeFromProto(m.trade) },
  );
}

/** Handled but uncommitted entries at which the driver waits for the commit in flight. */
const MAX_UNCOMMITTED_ENTRIES = 1_000;

const EMPTY_BATCH: MarketDataBatch = Object.freeze({ entries: Object.freeze([]) as readonly MarketDataEntry[], origin: 'new' as const });

function isRetryable(error: unknown): boolean {
  return error instanceof TriquantError && error.retryable;
}

export class StrategyInstance<P = unknown, S extends object = JsonObject> {
  readonly #o: StrategyInstanceOptions<P, S>;
  readonly #log: Logger;
  #runtime: StrategyRuntime<P, S> | undefined;
  #state: InstanceState = 'new';
  #queue: Promise<void> = Promise.resolve();
  #failure: Error | undefined;
  #rejectFatal: ((error: Error) => void) | undefined;
  readonly #fatal: Promise<never>;
  #loop: Promise<void> | undefined;
  #starting: Promise<void> | undefined;
  #dirty = false;
  #checkpointTimer: NodeJS.Timeout | undefined;
  /** Handled batches no commit has carried yet. */
  #uncommitted: { batch: MarketDataBatch; failed: { entry: MarketDataEntry; error: string }[] }[] = [];
  #uncommittedEntries = 0;
  /** The commit on its way to Redis (at most one at a time). */
  #commitInFlight: Promise<void> | undefined;
  /** When the last commit started (performance.now(), ms) and the timer of the next one (commitIntervalMs). */
  #lastCommitAt = -Infinity;
  #commitTimer: NodeJS.Timeout | undefined;
  #strategyTimer: NodeJS.Timeout | undefined;
  #symbols = '';
  #stats = { batches: 0, entries: 0, ticks: 0, trades: 0, failedEntries: 0, executionEvents: 0, ordersSent: 0, cancelsSent: 0, commits: 0 };

  constructor(options: StrategyInstanceOptions<P, S>) {
    this.#o = options;
    this.#log = options.log ?? silentLogger;
    this.#fatal = new Promise<never>((_, reject) => (this.#rejectFatal = reject));
    this.#fatal.catch(() => undefined);
  }

  get state(): InstanceState {
    return this.#state;
  }

  /** The runtime (after start). */
  get runtime(): StrategyRuntime<P, S> {
    if (this.#runtime === undefined) throw new StrategyApiError('the instance is not started');
    return this.#runtime;
  }

  stats(): InstanceStats {
    const r = this.#runtime;
    return {
      state: this.#state,
      restored: r?.restored ?? false,
      ...this.#stats,
      lastReportSeq: r?.lastReportSeq ?? 0,
      channel: this.#o.channel.state,
      subscriptions: r?.subscriptions() ?? [],
      status: r?.statusRecord ?? {},
    };
  }

  /**
   * Restores the runtime from the source's checkpoint, runs `onStart`, connects the order
   * channel (resuming after the checkpoint's last report), re-sends what may not have reached
   * the execution service, then starts the market-data source. Throws if any of it fails.
   */
  start(): Promise<void> {
    if (this.#state !== 'new') return Promise.reject(new StrategyApiError('start() was already called'));
    this.#state = 'starting';
    this.#starting = this.#start().catch((error: unknown) => {
      this.#state = 'failed';
      this.#clearTimers();
      throw error;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    const o = this.#o;
    const text = await o.source.loadCheckpoint();
    let checkpoint: StrategyCheckpoint | undefined;
    if (text !== undefined && text !== '') {
      try {
        checkpoint = JSON.parse(text) as StrategyCheckpoint;
      } catch (error) {
        throw new InstanceFailedError(`the stored checkpoint of ${o.definition.name}.${o.instanceId} is not JSON: ${(error as Error).message}`, { cause: error });
      }
    }
    const runtime = new StrategyRuntime(o.definition, {
      ...o.runtime,
      instanceId: o.instanceId,
      account: o.account,
      params: o.params,
      symbols: o.symbols,
      clock: o.clock,
      log: this.#log.child('strategy'),
      ...(checkpoint === undefined ? {} : { checkpoint }),
    });
    this.#runtime = runtime;
    o.channel.onEvent((event) => this.#enqueueEvent(event));
    o.channel.onStateChange((state, detail) => {
      const level = state === 'reconnecting' ? 'warn' : 'info';
      this.#log[level](`order channel ${state}`, { detail });
    });
    const started = await runtime.start();
    this.#status(started);
    await o.source.setSymbols(runtime.subscriptions());
    this.#symbols = runtime.subscriptions().join(',');
    await o.channel.start(runtime.lastReportSeq);
    if (runtime.restored) this.#resendUnanswered();
    this.#send(started.intents);
    this.#markDirty();
    await o.source.start();
    if (this.#state !== 'starting') return; // stop() came meanwhile
    this.#state = 'running';
    this.#armStrategyTimer();
    this.#log.info('instance running', { restored: runtime.restored, lastReportSeq: runtime.lastReportSeq, symbols: runtime.subscriptions().length });
  }

  /**
   * Reads and handles batches until `stop()` or a failure. Resolves when stopped; rejects with
   * the failure (the caller exits non-zero).
   */
  run(): Promise<void> {
    if (this.#state !== 'running') throw new StrategyApiError(`run() needs a started instance (state ${this.#state})`);
    this.#loop ??= Promise.race([this.#readLoop(), this.#fatal]);
    return this.#loop;
  }

  /**
   * Graceful stop: no new batches; the batch in hand is finished and committed; `onStop` runs;
   * the final checkpoint is stored; its intents are sent; the channel and source are closed.
   */
  async stop(): Promise<void> {
    if (this.#state === 'starting') await this.#starting?.catch(() => undefined);
    if (this.#state === 'stopped' || this.#state === 'stopping') return;
    if (this.#state === 'failed') {
      await this.#closePorts();
      return;
    }
    const wasRunning = this.#state === 'running';
    this.#state = 'stopping';
    this.#clearTimers();
    if (wasRunning && this.#loop !== undefined) await this.#loop.catch(() => undefined);
    if (this.#failure === undefined && this.#runtime?.phase === 'running') {
      try {
        await this.#enqueue(async () => {
          const runtime = this.runtime;
          const stopped = await runtime.stop();
          this.#status(stopped);
          await this.#commitAll();
          this.#send(stopped.intents);
        });
      } catch (error) {
        this.#log.error('stopping the strategy failed', { error });
      }
    }
    await this.#closePorts();
    if (this.#state === 'stopping') this.#state = 'stopped';
    this.#log.info('instance stopped', { batches: this.#stats.batches, ticks: this.#stats.ticks });
  }

  /** Fires the strategy's due timers now (the driver's own timer calls this; tests with a manual clock too). */
  fireDueTimers(): Promise<void> {
    return this.#enqueue(async () => {
      const runtime = this.runtime;
      if (runtime.phase !== 'running') return;
      const next = runtime.nextTimerAt();
      if (next === undefined || next > this.#o.clock.nowMicros()) return;
      const result = await runtime.fireDueTimers();
      await this.#afterStep(result);
      this.#markDirty();
    });
  }

  /** Stores the checkpoint now if anything changed since the last commit. */
  flushCheckpoint(): Promise<void> {
    return this.#enqueue(async () => {
      if ((this.#dirty || this.#uncommitted.length > 0) && this.runtime.phase === 'running') await this.#commitAll();
    });
  }

  // --- internals -----------------------------------------------------------------------------

  async #readLoop(): Promise<void> {
    let delay = this.#o.retryInitialMs ?? 100;
    // The batch being handled and committed while the next one is read (see 5. above).
    let inHand: Promise<void> | undefined;
    while (this.#state === 'running') {
      let batch: MarketDataBatch | undefined;
      try {
        batch = await this.#o.source.next();
        delay = this.#o.retryInitialMs ?? 100;
      } catch (error) {
        if (!isRetryable(error) || this.#state !== 'running') throw error;
        this.#log.warn('reading market data failed; retrying', { error, inMs: delay });
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 5_000);
        continue;
      }
      if (batch === undefined) break;
      if (batch.entries.length === 0) continue;
      await inHand;
      // A batch read after stop() began is not handled: it stays pending and is redelivered.
      if (this.#state !== 'running') break;
      inHand = this.#enqueue(() => this.#handleBatch(batch));
      // Marked handled now (a failure also reaches run() through #fatal); awaited above.
      inHand.catch(() => undefined);
    }
    await inHand;
  }

  async #handleBatch(batch: MarketDataBatch): Promise<void> {
    const runtime = this.runtime;
    const intents: Intent[] = [];
    const failed: { entry: MarketDataEntry; error: string }[] = [];
    for (const entry of batch.entries) {
      let steps: Step[];
      try {
        steps = entryToSteps(entry);
      } catch (error) {
        this.#log.error('market-data entry cannot be read; leaving it to the dead-letter stream', { stream: entry.stream, id: entry.id, error });
        failed.push({ entry, error: (error as Error).message });
        continue;
      }
      for (const step of steps) {
        let result: StepResult;
        if (step.kind === 'tick') {
          this.#o.marketTime?.observe(step.tick.time, step.tick.receivedAt);
          result = await runtime.deliverTick(step.tick);
          this.#stats.ticks += 1;
        } else {
          result = await runtime.deliverTrade(step.trade);
          this.#stats.trades += 1;
        }
        this.#status(result);
        intents.push(...result.intents);
      }
      this.#stats.entries += 1;
    }
    await this.#syncSymbols(intents);
    if (this.#send(intents) > 0) {
      // HTTP/2 writes leave the process in the next event-loop turn: let the orders go out
      // before the checkpoint is serialised and written.
      await new Promise((resolve) => setImmediate(resolve));
    }
    this.#uncommitted.push({ batch, failed });
    this.#uncommittedEntries += batch.entries.length;
    this.#stats.batches += 1;
    this.#stats.failedEntries += failed.length;
    if (this.#uncommittedEntries >= MAX_UNCOMMITTED_ENTRIES) await this.#commitAll(); // Redis is slow: stop reading ahead
    else this.#requestCommit();
    this.#armStrategyTimer();
  }

  /**
   * Inside a driver task: stores the checkpoint with every handled batch not yet committed,
   * after the commit in flight. Resolves once it is stored.
   */
  async #commitAll(): Promise<void> {
    if (this.#commitTimer !== undefined) clearTimeout(this.#commitTimer);
    this.#commitTimer = undefined;
    while (this.#commitInFlight !== undefined) await this.#commitInFlight.catch(() => undefined);
    if (this.#failure !== undefined) throw this.#failure;
    this.#startCommit();
    await this.#commitInFlight;
  }

  /** Inside a driver task: commits the handled batches now, or when the commit in flight is stored and commitIntervalMs has passed. */
  #requestCommit(): void {
    if (this.#commitInFlight !== undefined || this.#commitTimer !== undefined || this.#uncommitted.length === 0) return;
    const wait = this.#lastCommitAt + (this.#o.commitIntervalMs ?? 0) - performance.now();
    if (wait <= 0) {
      this.#startCommit();
      return;
    }
    this.#commitTimer = setTimeout(() => {
      this.#commitTimer = undefined;
      this.#enqueue(async () => this.#requestCommit()).catch(() => undefined); // a failure is reported through #fatal
    }, wait);
  }

  /**
   * Inside a driver task, so the runtime's state is that of exactly the batches handled so far:
   * starts ONE commit of all of them with that state (see 5. above). When it is stored and more
   * batches were handled meanwhile, a task commits those.
   */
  #startCommit(): void {
    this.#lastCommitAt = performance.now();
    const items = this.#uncommitted;
    this.#uncommitted = [];
    this.#uncommittedEntries = 0;
    const batch: MarketDataBatch = items.length === 0 ? EMPTY_BATCH
      : items.length === 1 ? items[0]!.batch
      : { entries: items.flatMap((i) => i.batch.entries), origin: items[items.length - 1]!.batch.origin };
    const failed = items.flatMap((i) => i.failed);
    const text = JSON.stringify(this.runtime.checkpoint());
    this.#dirty = false;
    if (this.#checkpointTimer !== undefined) {
      clearTimeout(this.#checkpointTimer);
      this.#checkpointTimer = undefined;
    }
    const run = this.#store(batch, text, failed).then(
      () => {
        this.#stats.commits += 1;
        this.#commitInFlight = undefined;
        if (this.#uncommitted.length > 0 && this.#failure === undefined) {
          this.#enqueue(async () => this.#requestCommit()).catch(() => undefined); // a failure is reported through #fatal
        }
      },
      (error: unknown) => {
        this.#commitInFlight = undefined;
        this.#fail(error);
        throw this.#failure;
      },
    );
    run.catch(() => undefined); // reported through #fatal; awaited by #commitAll
    this.#commitInFlight = run;
  }

  /** Stores `text` with (the acknowledgement of) `batch`, retrying transient failures. */
  async #store(batch: MarketDataBatch, text: string, failed: { entry: MarketDataEntry; error: string }[]): Promise<void> {
    let delay = this.#o.retryInitialMs ?? 100;
    for (;;) {
      try {
        await this.#o.source.commit(batch, text, failed.length > 0 ? failed : undefined);
        return;
      } catch (error) {
        // Retry while the instance should keep running; a stopping instance gives up (its batch is redelivered).
        if (!isRetryable(error) || this.#state === 'stopped' || this.#state === 'failed') throw error;
        this.#log.warn('storing the checkpoint failed; retrying', { error, inMs: delay });
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 5_000);
      }
    }
  }

  #enqueueEvent(event: ExecutionEvent): void {
    this.#enqueue(async () => {
      const runtime = this.runtime;
      if (runtime.phase !== 'running' && runtime.phase !== 'stopped') return;
      this.#stats.executionEvents += 1;
      const result = await runtime.deliverExecution(event);
      await this.#afterStep(result);
      this.#markDirty();
    }).catch(() => undefined); // the failure is reported through #fatal
  }

  async #afterStep(result: StepResult): Promise<void> {
    this.#status(result);
    await this.#syncSymbols(result.intents);
    this.#send(result.intents);
    this.#armStrategyTimer();
  }

  /** Runs `task` after every task queued before it. A failing task fails the instance. */
  #enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(async () => {
      if (this.#failure !== undefined) throw this.#failure;
      try {
        await task();
      } catch (error) {
        this.#fail(error);
        throw this.#failure;
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #fail(error: unknown): void {
    if (this.#failure !== undefined) return;
    this.#failure = error instanceof InstanceFailedError ? error : new InstanceFailedError(`instance ${this.#o.definition.name}.${this.#o.instanceId} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
    this.#state = 'failed';
    this.#clearTimers();
    this.#log.error('instance failed; it must restart from its last checkpoint', { error });
    this.#rejectFatal?.(this.#failure);
  }

  #status(result: StepResult): void {
    if (result.status !== undefined) this.#o.onStatus?.(result.status);
  }

  async #syncSymbols(intents: readonly Intent[]): Promise<void> {
    if (!intents.some((i) => i.type === 'subscribe' || i.type === 'unsubscribe')) return;
    const symbols = this.runtime.subscriptions();
    const key = symbols.join(',');
    if (key === this.#symbols) return;
    await this.#o.source.setSymbols(symbols);
    this.#symbols = key;
  }

  /** Hands the orders and cancels among `intents` to the channel; returns how many. */
  #send(intents: readonly Intent[]): number {
    let sent = 0;
    for (const intent of intents) {
      if (intent.type === 'submit') {
        this.#o.channel.submit(intent);
        this.#stats.ordersSent += 1;
        sent += 1;
      } else if (intent.type === 'cancel') {
        this.#o.channel.cancel(intent);
        this.#stats.cancelsSent += 1;
        sent += 1;
      }
    }
    return sent;
  }

  /**
   * After a restart: today's orders the checkpoint knows as PENDING_NEW may never have reached
   * the execution service (see point 3 above), and a cancel requested but unanswered may not
   * have either. Both are sent again; the service ignores ids it already has.
   */
  #resendUnanswered(): void {
    const runtime = this.runtime;
    const today = chinaDate(this.#o.clock.nowMicros());
    const again: Intent[] = [];
    for (const order of runtime.openOrders()) {
      if (chinaDate(order.createdAt) !== today) continue;
      if (order.status === 'PENDING_NEW') {
        const submit: SubmitIntent = {
          type: 'submit',
          clientOrderId: order.clientOrderId,
          account: runtime.account,
          symbol: order.symbol,
          side: order.side,
          orderType: order.type,
          price: order.price,
          quantity: order.quantity,
          tag: order.tag,
          createdAt: order.createdAt,
        };
        again.push(submit);
      }
      if (order.cancelRequested && order.status !== 'PENDING_CANCEL') {
        const cancel: CancelIntent = { type: 'cancel', clientOrderId: order.clientOrderId, account: runtime.account, createdAt: this.#o.clock.nowMicros() };
        again.push(cancel);
      }
    }
    if (again.length > 0) this.#log.info('re-sending orders and cancels the execution service may not have received', { count: again.length });
    this.#send(again);
  }

  #markDirty(): void {
    this.#dirty = true;
    if (this.#checkpointTimer !== undefined || this.#state === 'stopping' || this.#state === 'stopped' || this.#state === 'failed') return;
    this.#checkpointTimer = setTimeout(() => {
      this.#checkpointTimer = undefined;
      this.flushCheckpoint().catch(() => undefined);
    }, this.#o.checkpointIntervalMs ?? 1_000);
    this.#checkpointTimer.unref();
  }

  /** A real timer for the strategy's next due timer (re-armed after every task; capped so clock drift is corrected). */
  #armStrategyTimer(): void {
    if (this.#strategyTimer !== undefined) clearTimeout(this.#strategyTimer);
    this.#strategyTimer = undefined;
    if (this.#state !== 'running' && this.#state !== 'starting') return;
    const next = this.#runtime?.nextTimerAt();
    if (next === undefined) return;
    const delayMs = Math.min(60_000, Math.max(0, Math.ceil((next - this.#o.clock.nowMicros()) / 1_000)));
    this.#strategyTimer = setTimeout(() => {
      this.#strategyTimer = undefined;
      this.fireDueTimers().then(
        () => this.#armStrategyTimer(),
        () => undefined,
      );
    }, delayMs);
    this.#strategyTimer.unref();
  }

  #clearTimers(): void {
    if (this.#checkpointTimer !== undefined) clearTimeout(this.#checkpointTimer);
    if (this.#strategyTimer !== undefined) clearTimeout(this.#strategyTimer);
    if (this.#commitTimer !== undefined) clearTimeout(this.#commitTimer);
    this.#checkpointTimer = undefined;
    this.#strategyTimer = undefined;
    this.#commitTimer = undefined;
  }

  async #closePorts(): Promise<void> {
    await this.#o.channel.close().catch((error: unknown) => this.#log.warn('closing the order channel failed', { error }));
    await this.#o.source.close().catch((error: unknown) => this.#log.warn('closing the market-data source failed', { error }));
  }
}

/**
 * An order channel that trades nothing: every order is denied at once with reason `DRY_RUN`
 * (unsequenced), cancels are ignored. For `triquant strategy --dry-run` (watch what strategies
 * would do without an execution service) and for tests.
 */
export class DryRunOrderChannel implements OrderChannel {
  readonly #listeners: ((event: ExecutionEvent) => void)[] = [];
  readonly #stateListeners: ((state: OrderChannelState, detail: string) => void)[] = [];
  readonly #clock: Clock;
  #state: OrderChannelState = 'connecting';
  readonly submitted: SubmitIntent[] = [];
  readonly cancelled: CancelIntent[] = [];

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get state(): OrderChannelState {
    return this.#state;
  }
  get lastSeq(): number {
    return 0;
  }

  start(): Promise<void> {
    this.#setState('connected', 'dry run: no execution service');
    return Promise.resolve();
  }

  submit(intent: SubmitIntent): void {
    this.submitted.push(intent);
    const event: ExecutionEvent = { type: 'orderDenied', seq: 0, clientOrderId: intent.clientOrderId, reasonCode: 'DRY_RUN', detail: 'dry run: orders are not sent', time: this.#clock.nowMicros() };
    setImmediate(() => {
      for (const listener of this.#listeners) listener(event);
    });
  }

  cancel(intent: CancelIntent): void {
    this.cancelled.push(intent);
  }

  onEvent(listener: (event: ExecutionEvent) => void): void {
    this.#listeners.push(listener);
  }

  onStateChange(listener: (state: OrderChannelState, detail: string) => void): void {
    this.#stateListeners.push(listener);
  }

  close(): Promise<void> {
    this.#setState('closed', 'closed');
    return Promise.resolve();
  }

  #setState(state: OrderChannelState, detail: string): void {
    this.#state = state;
    for (const listener of this.#stateListeners) listener(state, detail);
  }
}
