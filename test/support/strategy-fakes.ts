/**
 * In-memory stand-ins for a strategy instance's ports: a market-data store with consumer-group
 * semantics (pending until committed, redelivered to the next source, checkpoint stored with
 * the commit) and an order channel that records what it is asked to send. Plus builders for
 * feed ticks in the gateway's format. Used by the instance and host tests.
 */
import type { MarketDataBatch, MarketDataEntry, MarketDataSource } from '../../src/bus/market-data-source.ts';
import { DEFAULT_FEE_SCHEDULE } from '../../src/core/fees.ts';
import { snapshotToTick, type MarketDataEntryMessage } from '../../src/bus/tick-codec.ts';
import type { SnapshotMessage } from '../../src/protocol/feed/frames.ts';
import { BOOK_LEVELS } from '../../src/protocol/feed/frames.ts';
import type { CancelIntent, ExecutionEvent, SubmitIntent } from '../../src/strategy/api.ts';
import { DEFAULT_STRATEGIES_CONFIG, type InstancePlan, type InstanceSettings } from '../../src/strategy/host-config.ts';
import type { OrderChannel, OrderChannelState } from '../../src/strategy/ports.ts';

/** An instance process's settings for host tests: dry-run orders, defaults for the rest; `overrides` win. */
export function testInstanceSettings(plan: InstancePlan, overrides: Partial<Omit<InstanceSettings, 'plan'>> = {}): InstanceSettings {
  return {
    plan,
    redis: { mode: 'standalone', url: 'redis://127.0.0.1:1' },
    slotGroups: 16,
    marketData: DEFAULT_STRATEGIES_CONFIG.marketData,
    checkpointIntervalMs: 20,
    execution: 'dry-run',
    reconnect: { initialMs: 100, maxMs: 1_000 },
    logLevel: 'info',
    holidays: [],
    fees: DEFAULT_FEE_SCHEDULE,
    statusIntervalMs: 100,
    ...overrides,
  };
}

/** 2026-01-05 (a Monday) at a China wall-clock time, in µs. */
export function chinaMicros(hh: number, mm: number, ss = 0): number {
  return Date.UTC(2026, 0, 5, hh - 8, mm, ss) * 1000;
}

/** A continuous-trading snapshot; `volume` carries the seq so a strategy can see which message it got. */
export function snapshot(symbol: string, seq: number, last: number, time = chinaMicros(10, 0)): SnapshotMessage {
  const level = (price: number) => ({ price, qty: 1_000, orders: 1 });
  const empty = { price: 0, qty: 0, orders: 0 };
  return {
    type: 'snapshot',
    channel: 1,
    seq,
    symbol,
    eventTime: time,
    phase: 'CONTINUOUS',
    lastPrice: last,
    openPrice: last,
    highPrice: last,
    lowPrice: last,
    prevClosePrice: last,
    upperLimitPrice: Math.round(last * 1.1 / 100) * 100,
    lowerLimitPrice: Math.round(last * 0.9 / 100) * 100,
    volume: seq,
    turnover: seq * last,
    bids: [level(last), ...Array.from({ length: BOOK_LEVELS - 1 }, () => empty)],
    asks: [level(last + 100), ...Array.from({ length: BOOK_LEVELS - 1 }, () => empty)],
  };
}

export function tickMessage(m: SnapshotMessage): MarketDataEntryMessage {
  return { type: 'tick', seq: m.seq, tick: snapshotToTick(m, m.eventTime) };
}

interface StoredEntry {
  readonly entry: Omit<MarketDataEntry, 'deliveries'>;
  deliveries: number;
  acked: boolean;
  /** Handed to a source and not committed yet. */
  owner: FakeMarketDataSource | undefined;
}

export interface CommitRecord {
  readonly ids: readonly string[];
  readonly checkpoint: string | undefined;
  readonly failed: readonly string[];
}

/** One consumer group's view of the streams, shared by the sources made from it (successive "processes"). */
export class FakeMarketData {
  readonly #entries: StoredEntry[] = [];
  checkpoint: string | undefined;
  readonly commits: CommitRecord[] = [];
  readonly #waiters = new Set<() => void>();
  #nextId = 1;

  /** Appends one entry of `symbol` holding `messages`. */
  append(symbol: string, messages: readonly MarketDataEntryMessage[]): string {
    const id = `1-${this.#nextId++}`;
    this.#entries.push({ entry: { stream: `tq:md:${symbol}`, id, symbol, messages }, deliveries: 0, acked: false, owner: undefined });
    for (const wake of this.#waiters) wake();
    return id;
  }

  /** A new consumer (as a restarted process would make). */
  source(options: { count?: number } = {}): FakeMarketDataSource {
    return new FakeMarketDataSource(this, options.count ?? 100);
  }

  get unacked(): number {
    return this.#entries.filter((e) => !e.acked).length;
  }

  /** @internal */
  take(source: FakeMarketDataSource, symbols: ReadonlySet<string>, count: number): MarketDataBatch {
    // Entries of a dead consumer (never committed) come back first, like XAUTOCLAIM.
    const reclaim = this.#entries.filter((e) => !e.acked && e.owner !== undefined && e.owner !== source && e.owner.dead);
    const fresh = this.#entries.filter((e) => !e.acked && e.owner === undefined && symbols.has(e.entry.symbol));
    const origin = reclaim.length > 0 ? 'reclaimed' : 'new';
    const chosen = (reclaim.length > 0 ? reclaim : fresh).slice(0, count);
    for (const e of chosen) {
      e.owner = source;
      e.deliveries += 1;
    }
    return { entries: chosen.map((e) => ({ ...e.entry, deliveries: e.deliveries })), origin };
  }

  /** @internal */
  commit(batch: MarketDataBatch, checkpoint: string | undefined, failed: readonly string[]): void {
    const ids = new Set(batch.entries.map((e) => e.id));
    for (const e of this.#entries) if (ids.has(e.entry.id) && !failed.includes(e.entry.id)) e.acked = true;
    this.checkpoint = checkpoint;
    this.commits.push({ ids: [...ids], checkpoint, failed });
  }

  /** @internal Resolves on the next append or after `ms`. */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
    });
  }
}

export class FakeMarketDataSource implements MarketDataSource {
  readonly #store: FakeMarketData;
  readonly #count: number;
  #symbols = new Set<string>();
  #closed = false;
  /** Set by `kill()`: the "process" is gone; its uncommitted entries may be reclaimed. */
  dead = false;
  started = false;
  readonly symbolHistory: string[][] = [];
  /** Called inside commit, before the store applies it (lets a test look at what was sent by then). */
  onCommit: ((batch: MarketDataBatch, checkpoint: string | undefined) => void) | undefined;

  constructor(store: FakeMarketData, count: number) {
    this.#store = store;
    this.#count = count;
  }

  start(): Promise<void> {
    this.started = true;
    return Promise.resolve();
  }

  /** Like XREADGROUP … BLOCK: a batch, or an empty one after the block time (20 ms here). */
  async next(): Promise<MarketDataBatch | undefined> {
    if (this.#closed || this.dead) return undefined;
    let batch = this.#store.take(this, this.#symbols, this.#count);
    if (batch.entries.length > 0) return batch;
    await this.#store.wait(20);
    if (this.#closed || this.dead) return undefined;
    batch = this.#store.take(this, this.#symbols, this.#count);
    return batch;
  }

  commit(batch: MarketDataBatch, checkpoint: string | undefined, failed?: ReadonlyArray<{ entry: MarketDataEntry; error: string }>): Promise<void> {
    if (this.dead) return Promise.reject(new Error('the consumer is dead'));
    this.onCommit?.(batch, checkpoint);
    this.#store.commit(batch, checkpoint, (failed ?? []).map((f) => f.entry.id));
    return Promise.resolve();
  }

  loadCheckpoint(): Promise<string | undefined> {
    return Promise.resolve(this.#store.checkpoint);
  }

  setSymbols(symbols: readonly string[]): Promise<void> {
    this.#symbols = new Set(symbols);
    this.symbolHistory.push([...symbols]);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  /** Simulates the process dying: no more reads or commits. */
  kill(): void {
    this.dead = true;
  }
}

export type SentRecord = { type: 'submit'; intent: SubmitIntent } | { type: 'cancel'; intent: CancelIntent };

export class FakeOrderChannel implements OrderChannel {
  readonly sent: SentRecord[] = [];
  resumeFromSeq: number | undefined;
  closed = false;
  #state: OrderChannelState = 'connecting';
  #lastSeq = 0;
  readonly #listeners: ((event: ExecutionEvent) => void)[] = [];
  readonly #stateListeners: ((state: OrderChannelState, detail: string) => void)[] = [];

  get state(): OrderChannelState {
    return this.#state;
  }
  get lastSeq(): number {
    return this.#lastSeq;
  }
  get submits(): SubmitIntent[] {
    return this.sent.flatMap((s) => (s.type === 'submit' ? [s.intent] : []));
  }
  get cancels(): CancelIntent[] {
    return this.sent.flatMap((s) => (s.type === 'cancel' ? [s.intent] : []));
  }

  start(resumeFromSeq: number): Promise<void> {
    this.resumeFromSeq = resumeFromSeq;
    this.#lastSeq = resumeFromSeq;
    this.#state = 'connected';
    for (const l of this.#stateListeners) l('connected', 'fake');
    return Promise.resolve();
  }
  submit(intent: SubmitIntent): void {
    this.sent.push({ type: 'submit', intent });
  }
  cancel(intent: CancelIntent): void {
    this.sent.push({ type: 'cancel', intent });
  }
  onEvent(listener: (event: ExecutionEvent) => void): void {
    this.#listeners.push(listener);
  }
  onStateChange(listener: (state: OrderChannelState, detail: string) => void): void {
    this.#stateListeners.push(listener);
  }
  /** Delivers an execution event as the server would. */
  emit(event: ExecutionEvent): void {
    if (event.seq > 0) this.#lastSeq = event.seq;
    for (const l of this.#listeners) l(event);
  }
  close(): Promise<void> {
    this.closed = true;
    this.#state = 'closed';
    return Promise.resolve();
  }
}
