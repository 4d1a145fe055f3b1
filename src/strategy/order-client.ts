/**
 * The strategy side of the Trading session (proto/triquant/v1/trading.proto): one gRPC
 * bidirectional stream per strategy instance, kept up across drops.
 *
 * - Hello carries `resume_from_seq` = the last seq delivered; messages at or below it are
 *   dropped, so every report reaches the listener exactly once and in order.
 * - Submits and cancels wait in an "unacknowledged" list until the server answers them (a
 *   report or a denial naming the client order id). After a reconnect they are re-sent once the
 *   replay is over (the server's first heartbeat after Welcome marks its end), so a report the
 *   server already sent acknowledges them first; anything still unanswered is sent again and
 *   the OMS ignores a client order id it already has.
 * - Reconnects use exponential back-off with jitter; an authentication failure, a resume the
 *   server cannot honour, or being replaced by a newer stream closes the channel instead
 *   (retrying cannot help and would only storm the server).
 * - Both sides send heartbeats; a server silent for 3 of its intervals is treated as gone.
 */
import * as grpc from '@grpc/grpc-js';
import type { Clock, Micros } from '../core/clock.ts';
import { TriquantError } from '../core/errors.ts';
import type { Side } from '../core/instruments.ts';
import type { TradingState } from '../core/risk/types.ts';
import type { Logger } from '../obs/log.ts';
import {
  OrderType as PbOrderType,
  Side as PbSide,
  type TradingStateRecord as PbTradingStateRecord,
} from '../protocol/gen/triquant/v1/common.ts';
import {
  ExecType as PbExecType,
  TradingClient,
  type ClientMessage,
  type ExecutionReport,
  type OrderDenied,
  type ServerMessage,
  type TradingStateChanged,
} from '../protocol/gen/triquant/v1/trading.ts';
import type { CancelIntent, ExecutionEvent, ExecutionReportEvent, OrderDeniedEvent, SubmitIntent } from './api.ts';
import type { OrderChannel, OrderChannelState } from './ports.ts';
import { EXEC_TYPE, ORDER_STATUS, ORDER_TYPE, SCOPE, SIDE, TERMINAL_ORDER_STATUSES, TRADING_STATE } from '../protocol/trading-enums.ts';

export interface GrpcOrderChannelOptions {
  /** "host:port" of the execution service. */
  readonly target: string;
  readonly strategyId: string;
  readonly instanceId: string;
  readonly token: string;
  readonly accounts: readonly string[];
  readonly clock: Clock;
  readonly log: Logger;
  /** Back-off between attempts: starts at initialMs, doubles up to maxMs, with jitter. */
  readonly reconnect?: { readonly initialMs?: number; readonly maxMs?: number };
  /** How often this side sends heartbeats (default: the interval the server announces in Welcome). */
  readonly heartbeatIntervalMs?: number;
  /** Time from opening a stream to its Welcome before the attempt is abandoned. */
  readonly connectTimeoutMs?: number;
  /** HTTP/2 keepalive pings (see docs/protocols/grpc.md). */
  readonly keepalive?: { readonly timeMs?: number; readonly timeoutMs?: number };
  /** Jitter source in [0, 1) (tests pass a fixed one). */
  readonly random?: () => number;
}

/** A trading-state record or change (Welcome snapshot: seq 0 and previous undefined). */
export interface TradingStateUpdate {
  readonly seq: number;
  readonly scope: 'GLOBAL' | 'ACCOUNT';
  /** '' for GLOBAL. */
  readonly account: string;
  readonly state: TradingState;
  readonly previous: TradingState | undefined;
  readonly actor: string;
  readonly reason: string;
  readonly time: Micros;
}

export interface OrderChannelStats {
  /** Streams that got a Welcome. */
  connects: number;
  /** Messages dropped because their seq was at or below the last one delivered. */
  duplicatesDropped: number;
  /** Submits and cancels sent again on a new stream. */
  resent: number;
}

/** The channel is closed (by `close()` or a terminal refusal); `code` is the gRPC status name or CLOSED. */
export class OrderChannelClosedError extends TriquantError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ORDER_CHANNEL_CLOSED', message, options);
  }
}

export const DEFAULT_RECONNECT = { initialMs: 200, maxMs: 10_000 } as const;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_HEARTBEAT_MS = 5_000;
const SILENT_INTERVALS = 3;
/** The server cannot help by being asked again. */
const TERMINAL = new Set<number>([grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED, grpc.status.FAILED_PRECONDITION, grpc.status.ABORTED]);
const STATUS_NAME = new Map<number, string>(Object.entries(grpc.status).map(([name, code]) => [code as number, name]));

interface Unacked {
  readonly message: ClientMessage;
  /** Generation of the stream it was last written to (-1 = never). */
  sentOn: number;
}

export class GrpcOrderChannel implements OrderChannel {
  readonly stats: OrderChannelStats = { connects: 0, duplicatesDropped: 0, resent: 0 };
  private readonly options: GrpcOrderChannelOptions;
  private readonly client: TradingClient;
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly connectTimeoutMs: number;
  private readonly eventListeners: Array<(event: ExecutionEvent) => void> = [];
  private readonly stateListeners: Array<(state: OrderChannelState, detail: string) => void> = [];
  private readonly tradingStateListeners: Array<(update: TradingStateUpdate) => void> = [];
  private readonly unacked = new Map<string, Unacked>();
  private currentState: OrderChannelState = 'connecting';
  private seq = 0;
  private started = false;
  /** Bumped for every stream; events of older streams are ignored. */
  private generation = 0;
  private call: grpc.ClientDuplexStream<ClientMessage, ServerMessage> | undefined;
  private welcomed = false;
  private replayDone = false;
  private writeBlocked = false;
  private pendingWrites: ClientMessage[] = [];
  private attempt = 0;
  private serverHeartbeatMs = DEFAULT_HEARTBEAT_MS;
  private lastHeardMs = 0;
  private connectTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private startWaiter: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: GrpcOrderChannelOptions) {
    if (options.accounts.length === 0) throw new RangeError('GrpcOrderChannel needs at least one account');
    this.options = options;
    this.log = options.log;
    this.random = options.random ?? Math.random;
    this.initialBackoffMs = options.reconnect?.initialMs ?? DEFAULT_RECONNECT.initialMs;
    this.maxBackoffMs = Math.max(this.initialBackoffMs, options.reconnect?.maxMs ?? DEFAULT_RECONNECT.maxMs);
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.client = new TradingClient(options.target, grpc.credentials.createInsecure(), {
      'grpc.keepalive_time_ms': options.keepalive?.timeMs ?? 30_000,
      'grpc.keepalive_timeout_ms': options.keepalive?.timeoutMs ?? 10_000,
      'grpc.keepalive_permit_without_calls': 1,
      // Our own loop re-opens the stream; keep the channel's reconnects prompt so it is ready.
      'grpc.initial_reconnect_backoff_ms': this.initialBackoffMs,
      'grpc.max_reconnect_backoff_ms': this.maxBackoffMs,
    });
  }

  get state(): OrderChannelState {
    return this.currentState;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** Submits and cancels not yet answered by the server. */
  get unacknowledged(): number {
    return this.unacked.size;
  }

  start(resumeFromSeq: number): Promise<void> {
    if (this.started) return Promise.reject(new Error('GrpcOrderChannel.start() called twice'));
    if (!Number.isSafeInteger(resumeFromSeq) || resumeFromSeq < 0) return Promise.reject(new RangeError(`resumeFromSeq must be a non-negative integer, got ${resumeFromSeq}`));
    if (this.currentState === 'closed') return Promise.reject(new OrderChannelClosedError('the order channel is closed'));
    this.started = true;
    this.seq = resumeFromSeq;
    const waiting = new Promise<void>((resolve, reject) => (this.startWaiter = { resolve, reject }));
    this.open();
    return waiting;
  }

  submit(intent: SubmitIntent): void {
    this.enqueue(`N:${intent.clientOrderId}`, intent.clientOrderId, {
      body: {
        $case: 'newOrder',
        value: {
          clientOrderId: intent.clientOrderId,
          account: intent.account,
          symbol: intent.symbol,
          side: SIDE.toProto[intent.side] as PbSide,
          orderType: ORDER_TYPE.toProto[intent.orderType] as PbOrderType,
          price: intent.price,
          quantity: intent.quantity,
          tag: intent.tag,
          clientTimeUs: intent.createdAt,
        },
      },
    });
  }

  cancel(intent: CancelIntent): void {
    this.enqueue(`C:${intent.clientOrderId}`, intent.clientOrderId, {
      body: { $case: 'cancelOrder', value: { clientOrderId: intent.clientOrderId, account: intent.account, clientTimeUs: intent.createdAt } },
    });
  }

  onEvent(listener: (event: ExecutionEvent) => void): void {
    this.eventListeners.push(listener);
  }

  onStateChange(listener: (state: OrderChannelState, detail: string) => void): void {
    this.stateListeners.push(listener);
  }

  /** Trading states: the Welcome snapshot on every connect (seq 0), then each sequenced change. */
  onTradingState(listener: (update: TradingStateUpdate) => void): void {
    this.tradingStateListeners.push(listener);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown('closed by the client', undefined);
    return this.closing;
  }

  // -------------------------------------------------------------------------------------------

  private open(): void {
    const generation = ++this.generation;
    this.welcomed = false;
    this.replayDone = false;
    this.writeBlocked = false;
    this.pendingWrites = [];
    const call = this.client.session();
    this.call = call;
    let status: grpc.StatusObject | undefined;
    let handled = false;
    const handleEnd = () => {
      if (handled || generation !== this.generation || status === undefined) return;
      handled = true;
      this.onStreamEnd(status.code, status.details);
    };
    call.on('data', (message: ServerMessage) => {
      if (generation === this.generation) this.onServerMessage(message);
    });
    call.on('error', () => {}); // the status event below carries the same information
    call.on('status', (s: grpc.StatusObject) => {
      status = s;
      // 'end' follows once buffered messages are delivered; the timer is a backstop.
      setTimeout(handleEnd, 1_000).unref();
    });
    call.on('end', handleEnd);
    this.lastHeardMs = performance.now();
    this.connectTimer = setTimeout(() => {
      if (generation === this.generation && !this.welcomed) this.abandon(`no Welcome within ${this.connectTimeoutMs} ms`);
    }, this.connectTimeoutMs);
    this.connectTimer.unref();
    this.write({
      body: {
        $case: 'hello',
        value: {
          strategyId: this.options.strategyId,
          instanceId: this.options.instanceId,
          authToken: this.options.token,
          accounts: [...this.options.accounts],
          resumeFromSeq: this.seq,
        },
      },
    });
  }

  private onServerMessage(message: ServerMessage): void {
    this.lastHeardMs = performance.now();
    const body = message.body;
    if (body === undefined) return;
    if (!this.welcomed && body.$case !== 'welcome') {
      this.log.warn('server message before Welcome ignored', { kind: body.$case });
      return;
    }
    switch (body.$case) {
      case 'welcome':
        this.onWelcome(body.value.heartbeatIntervalMs, body.value.nextSeq, body.value.sessionId, body.value.globalState, body.value.accountStates);
        return;
      case 'heartbeat':
        if (!this.replayDone) {
          this.replayDone = true;
          this.flushUnacked();
        }
        return;
      case 'executionReport':
        this.onSequenced(body.value.seq, () => this.onReport(body.value));
        return;
      case 'orderDenied':
        this.onSequenced(body.value.seq, () => this.onDenied(body.value));
        return;
      case 'tradingStateChanged':
        this.onSequenced(body.value.seq, () => this.onStateChanged(body.value));
        return;
    }
  }

  private onWelcome(heartbeatMs: number, nextSeq: number, sessionId: string, global: PbTradingStateRecord | undefined, accounts: PbTradingStateRecord[]): void {
    if (this.welcomed) return;
    this.welcomed = true;
    clearTimeout(this.connectTimer);
    this.attempt = 0;
    this.stats.connects++;
    this.serverHeartbeatMs = heartbeatMs > 0 ? heartbeatMs : DEFAULT_HEARTBEAT_MS;
    const sendEvery = this.options.heartbeatIntervalMs ?? this.serverHeartbeatMs;
    clearInterval(this.heartbeatTimer);
    const generation = this.generation;
    this.heartbeatTimer = setInterval(() => this.onHeartbeatTimer(generation), Math.min(sendEvery, this.serverHeartbeatMs));
    this.heartbeatTimer.unref();
    if (nextSeq > this.seq + 1) {
      this.log.warn('resume gap: the server no longer has every missed message; open orders will be restated', { lastSeq: this.seq, nextSeq });
    }
    this.setState('connected', `session ${sessionId}, resuming after seq ${this.seq}`);
    for (const record of [global, ...accounts]) {
      const update = record === undefined ? undefined : stateUpdateFromRecord(record);
      if (update !== undefined) this.emit(this.tradingStateListeners, update);
    }
    const waiter = this.startWaiter;
    this.startWaiter = undefined;
    waiter?.resolve();
  }

  private onHeartbeatTimer(generation: number): void {
    if (generation !== this.generation || this.currentState !== 'connected') return;
    const silentMs = performance.now() - this.lastHeardMs;
    if (silentMs >= SILENT_INTERVALS * this.serverHeartbeatMs) {
      this.abandon(`nothing from the server for ${Math.round(silentMs)} ms (${SILENT_INTERVALS} heartbeat intervals of ${this.serverHeartbeatMs} ms)`);
      return;
    }
    if (!this.writeBlocked) this.write({ body: { $case: 'heartbeat', value: { clientTimeUs: this.options.clock.nowMicros() } } });
  }

  private onSequenced(seq: number, deliver: () => void): void {
    if (seq <= this.seq) {
      this.stats.duplicatesDropped++;
      return;
    }
    this.seq = seq;
    deliver();
  }

  private onReport(report: ExecutionReport): void {
    const event = executionEventFromProto(report);
    this.unacked.delete(`N:${report.clientOrderId}`);
    if (report.execType === PbExecType.PENDING_CANCEL || report.execType === PbExecType.CANCELLED || report.execType === PbExecType.CANCEL_REJECTED || isDoneStatus(report.status)) {
      this.unacked.delete(`C:${report.clientOrderId}`);
    }
    if (event === undefined) {
      this.log.error('execution report with an unknown exec type skipped', { seq: report.seq, clientOrderId: report.clientOrderId, execType: report.execType });
      return;
    }
    this.emit(this.eventListeners, event);
  }

  private onDenied(denied: OrderDenied): void {
    this.unacked.delete(`N:${denied.clientOrderId}`);
    this.unacked.delete(`C:${denied.clientOrderId}`);
    this.emit(this.eventListeners, deniedEventFromProto(denied));
  }

  private onStateChanged(change: TradingStateChanged): void {
    const scope = SCOPE.fromProto.get(change.scope);
    const state = TRADING_STATE.fromProto.get(change.state);
    if (scope === undefined || state === undefined) {
      this.log.error('trading-state change with unknown values skipped', { seq: change.seq, scope: change.scope, state: change.state });
      return;
    }
    this.emit(this.tradingStateListeners, {
      seq: change.seq,
      scope,
      account: change.account,
      state,
      previous: TRADING_STATE.fromProto.get(change.previousState),
      actor: change.actor,
      reason: change.reason,
      time: change.eventTimeUs,
    });
  }

  private enqueue(key: string, clientOrderId: string, message: ClientMessage): void {
    if (this.currentState === 'closed') {
      // Tell the strategy instead of losing the order silently (unsequenced: seq 0).
      const denial: OrderDeniedEvent = {
        type: 'orderDenied',
        seq: 0,
        clientOrderId,
        reasonCode: 'ORDER_CHANNEL_CLOSED',
        detail: 'the order channel to the execution service is closed',
        time: this.options.clock.nowMicros(),
      };
      if (key.startsWith('N:')) queueMicrotask(() => this.emit(this.eventListeners, denial));
      this.log.error('order intent after the channel closed', { clientOrderId, kind: key.slice(0, 1) });
      return;
    }
    const entry: Unacked = { message, sentOn: -1 };
    this.unacked.delete(key); // a repeated id moves to the end (keeps submit-before-cancel order)
    this.unacked.set(key, entry);
    if (this.welcomed && this.replayDone) {
      entry.sentOn = this.generation;
      this.write(message);
    }
  }

  private flushUnacked(): void {
    for (const entry of this.unacked.values()) {
      if (entry.sentOn === this.generation) continue;
      if (entry.sentOn !== -1) this.stats.resent++;
      entry.sentOn = this.generation;
      this.write(entry.message);
    }
  }

  /** Writes to the current stream, honouring backpressure (queued until 'drain'). */
  private write(message: ClientMessage): void {
    const call = this.call;
    if (call === undefined) return;
    if (this.writeBlocked) {
      this.pendingWrites.push(message);
      return;
    }
    if (!call.write(message)) {
      this.writeBlocked = true;
      const generation = this.generation;
      call.once('drain', () => {
        if (generation !== this.generation) return;
        this.writeBlocked = false;
        const queued = this.pendingWrites;
        this.pendingWrites = [];
        for (const next of queued) this.write(next);
      });
    }
  }

  /** Gives up on the current stream (timeout, silent server) and tries again. */
  private abandon(reason: string): void {
    this.log.warn('abandoning the session stream', { reason });
    this.dropCall(true);
    this.scheduleReconnect(reason);
  }

  private onStreamEnd(code: number, details: string): void {
    if (this.currentState === 'closed') return;
    const reason = `${STATUS_NAME.get(code) ?? code}: ${details}`;
    this.dropCall(false);
    if (TERMINAL.has(code)) {
      this.log.error('session refused; the order channel closes', { reason });
      void this.shutdown(reason, new OrderChannelClosedError(`the execution service refused the session (${reason})`));
      return;
    }
    this.log.warn('session stream ended; reconnecting', { reason });
    this.scheduleReconnect(reason);
  }

  private dropCall(cancel: boolean): void {
    this.generation++;
    clearTimeout(this.connectTimer);
    clearInterval(this.heartbeatTimer);
    const call = this.call;
    this.call = undefined;
    this.welcomed = false;
    this.replayDone = false;
    if (cancel && call !== undefined) call.cancel();
  }

  private scheduleReconnect(reason: string): void {
    if (this.currentState === 'closed') return;
    const ceiling = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    // "Equal jitter": at least half the ceiling, so a fleet restarting together spreads out
    // without any client retrying immediately.
    const delay = Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
    this.setState('reconnecting', `${reason}; retrying in ${delay} ms`);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.currentState !== 'closed') this.open();
    }, delay);
  }

  private async shutdown(reason: string, error: Error | undefined): Promise<void> {
    if (this.currentState === 'closed') return;
    clearTimeout(this.reconnectTimer);
    const call = this.call;
    this.dropCall(false);
    this.setState('closed', reason);
    const waiter = this.startWaiter;
    this.startWaiter = undefined;
    waiter?.reject(error ?? new OrderChannelClosedError(`the order channel closed before it connected (${reason})`));
    if (call !== undefined) {
      // Half-close so the server ends the stream cleanly; cancel if it does not answer soon.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          call.cancel();
          resolve();
        }, 500);
        call.once('status', () => {
          clearTimeout(timer);
          resolve();
        });
        call.end();
      });
    }
    this.client.close();
  }

  private setState(state: OrderChannelState, detail: string): void {
    if (this.currentState === 'closed') return;
    this.currentState = state;
    for (const listener of this.stateListeners) {
      try {
        listener(state, detail);
      } catch (error) {
        this.log.error('order channel state listener failed', { error });
      }
    }
  }

  private emit<T>(listeners: ReadonlyArray<(value: T) => void>, value: T): void {
    for (const listener of listeners) {
      try {
        listener(value);
      } catch (error) {
        this.log.error('order channel listener failed', { error, stack: error instanceof Error ? error.stack : undefined });
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// proto → Strategy API conversion (the strategy tier cannot import the execution tier's convert.ts)

const isDoneStatus = (status: number): boolean => TERMINAL_ORDER_STATUSES.has(status);

/**
 * An ExecutionReport as the Strategy API's event; undefined for an exec type this build does
 * not know. An unknown side or order type (a CANCEL_REJECTED of an order the server does not
 * know carries none) becomes BUY / LIMIT: the runner identifies orders by client order id.
 */
export function executionEventFromProto(report: ExecutionReport): ExecutionReportEvent | undefined {
  const execType = EXEC_TYPE.fromProto.get(report.execType);
  if (execType === undefined) return undefined;
  const side: Side = SIDE.fromProto.get(report.side) ?? 'BUY'; // unspecified: as before the shared maps
  return {
    type: 'executionReport',
    seq: report.seq,
    clientOrderId: report.clientOrderId,
    venueOrderId: report.venueOrderId,
    symbol: report.symbol,
    side,
    orderType: ORDER_TYPE.fromProto.get(report.orderType) ?? 'LIMIT',
    price: report.price,
    quantity: report.quantity,
    execType,
    status: ORDER_STATUS.fromProto.get(report.status),
    fillId: report.execId,
    lastQty: report.lastQty,
    lastPrice: report.lastPrice,
    cumQty: report.cumQty,
    leavesQty: report.leavesQty,
    avgPrice: report.avgPrice,
    lastFees: report.lastFees,
    cumFees: report.cumFees,
    text: report.text,
    time: report.eventTimeUs,
  };
}

export function deniedEventFromProto(denied: OrderDenied): OrderDeniedEvent {
  return {
    type: 'orderDenied',
    seq: denied.seq,
    clientOrderId: denied.clientOrderId,
    reasonCode: denied.reasonCode,
    detail: denied.detail,
    time: denied.eventTimeUs,
  };
}

function stateUpdateFromRecord(record: PbTradingStateRecord): TradingStateUpdate | undefined {
  const scope = SCOPE.fromProto.get(record.scope);
  const state = TRADING_STATE.fromProto.get(record.state);
  if (scope === undefined || state === undefined) return undefined;
  return { seq: 0, scope, account: record.account, state, previous: undefined, actor: record.actor, reason: record.reason, time: record.changedTimeUs };
}
