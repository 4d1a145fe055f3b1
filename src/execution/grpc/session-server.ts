/**
 * The Trading session server: one bidirectional gRPC stream per strategy instance
 * (proto/triquant/v1/trading.proto, docs/protocols/grpc.md).
 *
 * Every sequenced message (execution report, denial, trading-state change) is appended to the
 * `SessionOutboxStore` first and only then written to the stream, so the outbox is the queue:
 * a stream that is replaying, or waiting for `drain` (backpressure), is fed from the outbox by
 * one "pump" per stream, and a live stream that keeps up gets each message written directly.
 * Order and exactly-once hold because a stream's `cursor` (last seq handed to grpc-js) only ever
 * advances by one.
 */
import { randomUUID } from 'node:crypto';
import { constants as http2Constants } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import type { Clock } from '../../core/clock.ts';
import type { Logger } from '../../obs/log.ts';
import { Counter, Gauge, type Registry } from '../../obs/metrics.ts';
import { ServerMessage, TradingService, type Hello } from '../../protocol/gen/triquant/v1/trading.ts';
import type { SessionEvent, SessionIdentity, SessionOutboxStore, SessionPublisher, TradingSessionHandler } from '../ports.ts';
import {
  decodeClientMessage,
  encodeSessionEvent,
  helloProblem,
  isMalformed,
  tradingStateRecordToProto,
  validateCancelOrder,
  validateNewOrder,
  type DecodedClientMessage,
} from './convert.ts';

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;
/** A peer silent for this many heartbeat intervals is dead (trading.proto Welcome). */
export const SILENT_INTERVALS = 3;
/**
 * Sequenced messages a live stream may be behind (waiting for `drain`) before it is ended with
 * RESOURCE_EXHAUSTED. They wait in the outbox, not in memory, so the bound is about how stale a
 * client may get, not about memory; one OMS burst (a kill switch cancelling every order) must fit.
 */
export const DEFAULT_MAX_QUEUED_PER_STREAM = 50_000;
export const DEFAULT_REPLAY_BATCH = 500;

/**
 * Same method as the generated `TradingService`, with our own codecs: requests are decoded
 * leniently (a bad field becomes a denial with a reason instead of an INTERNAL status for the
 * whole stream), and responses may be pre-encoded bytes straight from the outbox.
 */
export const TradingSessionService = {
  session: {
    ...TradingService.session,
    requestDeserialize: (bytes: Buffer): DecodedClientMessage => decodeClientMessage(bytes),
    responseSerialize: (value: ServerMessage | Uint8Array): Buffer =>
      value instanceof Uint8Array
        ? Buffer.from(value.buffer, value.byteOffset, value.byteLength)
        : Buffer.from(ServerMessage.encode(value).finish()),
  },
} as const;

export type SessionCall = grpc.ServerDuplexStream<DecodedClientMessage, ServerMessage | Uint8Array>;

export interface TradingSessionServerOptions {
  readonly handler: TradingSessionHandler;
  readonly outbox: SessionOutboxStore;
  /** Stamps Welcome and heartbeats (server_time_us). Liveness timers use the monotonic timer. */
  readonly clock: Clock;
  readonly log: Logger;
  readonly heartbeatIntervalMs?: number;
  readonly maxQueuedPerStream?: number;
  /** Outbox rows read per query while replaying or catching up. */
  readonly replayBatch?: number;
  /** How long an ended stream may take to flush before it is reset (a client that stopped reading). Default 3 heartbeat intervals. */
  readonly stallGraceMs?: number;
  /** prom-client registry for the counters below (optional; `stats` is always kept). */
  readonly registry?: Registry;
}

/** Counters of everything refused, ignored or ended; exposed for tests, the dashboard and metrics. */
export interface SessionServerStats {
  sessionsOpened: number;
  /** Streams refused before or at Hello, by gRPC status name. */
  refused: Record<string, number>;
  /** Streams ended after Welcome, by gRPC status name (CANCELLED = the client went away). */
  ended: Record<string, number>;
  /** Orders denied by validation, by reason code. */
  invalid: Record<string, number>;
  /** Client messages ignored with a log line: EMPTY_BODY, DUPLICATE_HELLO. */
  ignored: Record<string, number>;
  /** Streams ended because a message was not a ClientMessage at all. */
  undecodable: number;
  published: number;
  /** Messages written from the outbox (replay and catch-up after backpressure). */
  replayed: number;
  restated: number;
  /** Times a stream's write() returned false. */
  backpressureWaits: number;
  handlerErrors: number;
}

interface Connection {
  readonly id: string;
  readonly call: SessionCall;
  identity: SessionIdentity | undefined;
  key: string;
  /** Last seq handed to grpc-js. */
  cursor: number;
  /** Outbox rows read but not yet written (kept across drain waits). */
  batch: Array<{ seq: number; payload: Uint8Array }>;
  batchPos: number;
  /** Caught up with the outbox: new publishes are written directly. */
  live: boolean;
  waitingDrain: boolean;
  ended: boolean;
  flushed: boolean;
  lastHeardMs: number;
  timer: NodeJS.Timeout | undefined;
}

const STATUS_NAME = new Map<number, string>(Object.entries(grpc.status).map(([name, code]) => [code as number, name]));
const statusName = (code: grpc.status): string => STATUS_NAME.get(code) ?? String(code);
const nowMs = (): number => performance.now();

export class TradingSessionServer implements SessionPublisher {
  readonly stats: SessionServerStats = {
    sessionsOpened: 0,
    refused: {},
    ended: {},
    invalid: {},
    ignored: {},
    undecodable: 0,
    published: 0,
    replayed: 0,
    restated: 0,
    backpressureWaits: 0,
    handlerErrors: 0,
  };
  /** Pass to `grpc.Server.addService` together with `implementation` (or call `addTo`). */
  readonly service = TradingSessionService;
  readonly implementation: grpc.UntypedServiceImplementation;
  readonly heartbeatIntervalMs: number;

  private readonly handler: TradingSessionHandler;
  private readonly outbox: SessionOutboxStore;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly maxQueued: number;
  private readonly replayBatch: number;
  private readonly stallGraceMs: number;
  /** Streams that said Hello, by (strategy, instance). */
  private readonly sessions = new Map<string, Connection>();
  /** Every open stream, Hello or not (for shutdown). */
  private readonly connections = new Set<Connection>();
  private closing = false;
  private readonly metrics: {
    status: Counter<'code' | 'phase'>;
    invalid: Counter<'reason'>;
    ignored: Counter<'kind'>;
    backpressure: Counter;
  } | undefined;

  constructor(options: TradingSessionServerOptions) {
    this.handler = options.handler;
    this.outbox = options.outbox;
    this.clock = options.clock;
    this.log = options.log;
    this.heartbeatIntervalMs = positive('heartbeatIntervalMs', options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS);
    this.maxQueued = positive('maxQueuedPerStream', options.maxQueuedPerStream ?? DEFAULT_MAX_QUEUED_PER_STREAM);
    this.replayBatch = positive('replayBatch', options.replayBatch ?? DEFAULT_REPLAY_BATCH);
    this.stallGraceMs = positive('stallGraceMs', options.stallGraceMs ?? SILENT_INTERVALS * this.heartbeatIntervalMs);
    this.implementation = { session: (call: SessionCall) => this.onCall(call) };
    const registry = options.registry;
    if (registry !== undefined) {
      const sessions = this.sessions;
      new Gauge({
        name: 'triquant_grpc_sessions',
        help: 'Strategy instances with an open session stream',
        registers: [registry],
        collect() {
          this.set(sessions.size);
        },
      });
      this.metrics = {
        status: new Counter({ name: 'triquant_grpc_session_status_total', help: 'Session streams refused (phase=hello) or ended (phase=session), by gRPC status', labelNames: ['code', 'phase'], registers: [registry] }),
        invalid: new Counter({ name: 'triquant_grpc_invalid_messages_total', help: 'Orders denied by request validation, by reason code', labelNames: ['reason'], registers: [registry] }),
        ignored: new Counter({ name: 'triquant_grpc_ignored_messages_total', help: 'Client messages ignored (empty, second Hello)', labelNames: ['kind'], registers: [registry] }),
        backpressure: new Counter({ name: 'triquant_grpc_backpressure_waits_total', help: 'Times a session stream write had to wait for drain', registers: [registry] }),
      };
    }
  }

  /** Adds the Trading service to a server (which may also host Admin). */
  addTo(server: grpc.Server): void {
    server.addService(this.service, this.implementation);
  }

  /** (strategy, instance) pairs with an open session. */
  connectedInstances(): Array<{ strategyId: string; instanceId: string; sessionId: string }> {
    return [...this.sessions.values()].flatMap((c) =>
      c.identity ? [{ strategyId: c.identity.strategyId, instanceId: c.identity.instanceId, sessionId: c.id }] : [],
    );
  }

  publish(strategyId: string, instanceId: string, event: SessionEvent): number {
    const { seq, payload } = this.append(strategyId, instanceId, event);
    this.stats.published++;
    const conn = this.sessions.get(sessionKey(strategyId, instanceId));
    if (conn !== undefined && !conn.ended && conn.live) {
      if (!conn.waitingDrain && conn.cursor === seq - 1) {
        conn.cursor = seq;
        this.write(conn, payload);
      } else if (seq - conn.cursor > this.maxQueued) {
        this.finish(conn, grpc.status.RESOURCE_EXHAUSTED, `the client is ${seq - conn.cursor} messages behind (limit ${this.maxQueued}): it does not read fast enough; reconnect and resume from the last seq processed`);
      }
      // Otherwise the pump delivers it from the outbox once the stream drains.
    }
    return seq;
  }

  /** Stops accepting streams and ends every open one with UNAVAILABLE (clients reconnect elsewhere or later). */
  shutdown(reason = 'the execution service is shutting down'): void {
    this.closing = true;
    for (const conn of [...this.connections]) this.finish(conn, grpc.status.UNAVAILABLE, reason);
  }

  // -------------------------------------------------------------------------------------------

  private onCall(call: SessionCall): void {
    const conn: Connection = {
      id: randomUUID(),
      call,
      identity: undefined,
      key: '',
      cursor: 0,
      batch: [],
      batchPos: 0,
      live: false,
      waitingDrain: false,
      ended: false,
      flushed: false,
      lastHeardMs: nowMs(),
      timer: undefined,
    };
    this.connections.add(conn);
    call.on('data', (message: DecodedClientMessage) => this.onMessage(conn, message));
    call.on('end', () => this.finish(conn, grpc.status.OK, 'the client closed its side of the stream'));
    call.on('cancelled', () => this.dropped(conn, 'cancelled by the client or the connection dropped'));
    call.on('finish', () => (conn.flushed = true));
    call.on('close', () => this.dropped(conn, 'stream closed'));
    call.on('error', (error: Error) => this.log.debug('session stream error', { session: conn.id, error }));
    if (this.closing) {
      this.finish(conn, grpc.status.UNAVAILABLE, 'the execution service is shutting down');
      return;
    }
    conn.timer = setInterval(() => this.tick(conn), this.heartbeatIntervalMs);
    conn.timer.unref();
  }

  private onMessage(conn: Connection, message: DecodedClientMessage): void {
    if (conn.ended) return;
    conn.lastHeardMs = nowMs();
    try {
      if (isMalformed(message)) {
        this.stats.undecodable++;
        this.log.warn('undecodable client message; ending the stream', { session: conn.id, detail: message.malformed });
        this.finish(conn, grpc.status.INVALID_ARGUMENT, `undecodable ClientMessage: ${message.malformed}`);
        return;
      }
      const body = message.body;
      if (conn.identity === undefined) {
        if (body?.$case !== 'hello') {
          this.finish(conn, grpc.status.INVALID_ARGUMENT, `the first message of a session must be Hello, got ${body?.$case ?? 'a message without a body'}`);
        } else {
          try {
            this.onHello(conn, body.value);
          } catch (error) {
            this.stats.handlerErrors++;
            this.log.error('session setup failed', { session: conn.id, error, stack: error instanceof Error ? error.stack : undefined });
            this.finish(conn, grpc.status.INTERNAL, 'session setup failed on the server (logged)');
          }
        }
        return;
      }
      const identity = conn.identity;
      switch (body?.$case) {
        case undefined:
          this.ignore(conn, 'EMPTY_BODY', 'client message without a body');
          return;
        case 'hello':
          this.ignore(conn, 'DUPLICATE_HELLO', 'a second Hello on the same stream');
          return;
        case 'heartbeat':
          return;
        case 'newOrder': {
          const result = validateNewOrder(body.value, identity.accounts);
          if (result.ok) {
            this.handler.submit(identity, result.command);
          } else {
            this.countInvalid(result.reasonCode);
            this.log.info('order failed validation', { session: conn.id, clientOrderId: result.clientOrderId, reason: result.reasonCode, detail: result.detail });
            this.handler.invalid(identity, result.clientOrderId, result.account, result.symbol, result.reasonCode, result.detail);
          }
          return;
        }
        case 'cancelOrder': {
          const result = validateCancelOrder(body.value, identity.accounts);
          if (result.ok) {
            this.handler.cancel(identity, result.command);
          } else {
            this.countInvalid(result.reasonCode);
            this.log.info('cancel failed validation', { session: conn.id, clientOrderId: result.clientOrderId, reason: result.reasonCode, detail: result.detail });
            this.handler.invalidCancel(identity, result.clientOrderId, result.account, result.reasonCode, result.detail);
          }
          return;
        }
      }
    } catch (error) {
      // The OMS promises not to throw; if it does, the stream and the server stay up.
      this.stats.handlerErrors++;
      this.log.error('session handler failed', { session: conn.id, error, stack: error instanceof Error ? error.stack : undefined });
    }
  }

  private onHello(conn: Connection, hello: Hello): void {
    const problem = helloProblem(hello);
    if (problem !== undefined) {
      this.finish(conn, grpc.status.INVALID_ARGUMENT, problem);
      return;
    }
    const accounts = [...new Set(hello.accounts)];
    const auth = this.handler.authenticate(hello.strategyId, hello.instanceId, hello.authToken, accounts);
    if (!auth.ok) {
      const code = auth.code === 'UNAUTHENTICATED' ? grpc.status.UNAUTHENTICATED : grpc.status.PERMISSION_DENIED;
      this.log.warn('session refused', { session: conn.id, strategy: hello.strategyId, instance: hello.instanceId, code: auth.code, reason: auth.message });
      this.finish(conn, code, auth.message);
      return;
    }
    const { strategyId, instanceId } = hello;
    const last = this.outbox.lastSeq(strategyId, instanceId);
    if (hello.resumeFromSeq > last) {
      this.finish(
        conn,
        grpc.status.FAILED_PRECONDITION,
        `resume_from_seq ${hello.resumeFromSeq} is ahead of the last seq ${last} of ${strategyId}/${instanceId}: the server lost messages it sent; an operator must look`,
      );
      return;
    }
    const key = sessionKey(strategyId, instanceId);
    const previous = this.sessions.get(key);
    if (previous !== undefined) this.finish(previous, grpc.status.ABORTED, `replaced by a newer stream of ${strategyId}/${instanceId} (session ${conn.id})`);
    const identity: SessionIdentity = { strategyId, instanceId, accounts, sessionId: conn.id };
    conn.identity = identity;
    conn.key = key;
    this.sessions.set(key, conn);

    const firstRetained = this.outbox.firstRetainedSeq(strategyId, instanceId);
    const gap = hello.resumeFromSeq + 1 < firstRetained;
    const states = this.handler.tradingStates(accounts);
    this.write(conn, {
      body: {
        $case: 'welcome',
        value: {
          sessionId: conn.id,
          serverTimeUs: this.clock.nowMicros(),
          nextSeq: gap ? firstRetained : hello.resumeFromSeq + 1,
          globalState: tradingStateRecordToProto(states.global),
          accountStates: states.accounts.map(tradingStateRecordToProto),
          heartbeatIntervalMs: this.heartbeatIntervalMs,
        },
      },
    });
    conn.cursor = gap ? firstRetained - 1 : hello.resumeFromSeq;
    if (gap) {
      // The missed messages are gone: what the client needs instead is the current state of
      // every open order, as new sequenced messages after the retained ones.
      for (const report of this.handler.openOrders(identity)) {
        this.append(strategyId, instanceId, { type: 'executionReport', report: { ...report, execType: 'RESTATED' } });
        this.stats.restated++;
      }
    }
    this.stats.sessionsOpened++;
    this.log.info('session opened', { session: conn.id, strategy: strategyId, instance: instanceId, resumeFrom: hello.resumeFromSeq, lastSeq: last, gap });
    this.handler.connected?.(identity);
    this.pump(conn);
  }

  /** Writes outbox messages after `cursor` until caught up or the stream pushes back. */
  private pump(conn: Connection): void {
    if (conn.ended || conn.waitingDrain || conn.identity === undefined) return;
    const { strategyId, instanceId } = conn.identity;
    for (;;) {
      if (conn.batchPos >= conn.batch.length) {
        if (conn.cursor >= this.outbox.lastSeq(strategyId, instanceId)) break;
        conn.batch = this.outbox.readAfter(strategyId, instanceId, conn.cursor, this.replayBatch);
        conn.batchPos = 0;
        if (conn.batch[0]?.seq !== conn.cursor + 1) {
          conn.batch = [];
          const first = this.outbox.firstRetainedSeq(strategyId, instanceId);
          this.finish(conn, grpc.status.RESOURCE_EXHAUSTED, `the stream fell behind the outbox retention (needs seq ${conn.cursor + 1}, oldest kept ${first}); reconnect to get the open orders restated`);
          return;
        }
      }
      const item = conn.batch[conn.batchPos++]!;
      conn.cursor = item.seq;
      this.stats.replayed++;
      if (!this.write(conn, item.payload)) return; // 'drain' resumes the pump
    }
    conn.batch = [];
    conn.batchPos = 0;
    if (!conn.live) {
      conn.live = true;
      // Marks the end of the replay: the client re-sends unacknowledged orders only now, so a
      // replayed report can acknowledge them first.
      this.write(conn, this.heartbeat());
    }
  }

  private write(conn: Connection, message: ServerMessage | Uint8Array): boolean {
    if (conn.ended) return false;
    let accepted: boolean;
    try {
      accepted = conn.call.write(message);
    } catch (error) {
      this.log.warn('session write failed', { session: conn.id, error });
      this.dropped(conn, 'write failed');
      return false;
    }
    if (!accepted) {
      conn.waitingDrain = true;
      this.stats.backpressureWaits++;
      this.metrics?.backpressure.inc();
      conn.call.once('drain', () => {
        conn.waitingDrain = false;
        this.pump(conn);
      });
    }
    return accepted;
  }

  private heartbeat(): ServerMessage {
    return { body: { $case: 'heartbeat', value: { serverTimeUs: this.clock.nowMicros() } } };
  }

  private tick(conn: Connection): void {
    if (conn.ended) return;
    const silentMs = Math.round(nowMs() - conn.lastHeardMs);
    const limit = SILENT_INTERVALS * this.heartbeatIntervalMs;
    if (silentMs >= limit) {
      this.finish(
        conn,
        grpc.status.DEADLINE_EXCEEDED,
        conn.identity === undefined
          ? `no Hello within ${limit} ms`
          : `no message from the client for ${silentMs} ms (${SILENT_INTERVALS} heartbeat intervals of ${this.heartbeatIntervalMs} ms): considered dead`,
      );
      return;
    }
    if (conn.identity !== undefined && conn.live && !conn.waitingDrain) this.write(conn, this.heartbeat());
  }

  private append(strategyId: string, instanceId: string, event: SessionEvent): { seq: number; payload: Uint8Array } {
    let payload: Uint8Array | undefined;
    const seq = this.outbox.append(strategyId, instanceId, (s) => (payload = encodeSessionEvent(s, event)));
    return { seq, payload: payload! };
  }

  /** Ends the stream with a status (OK = a clean end) and forgets it. Idempotent. */
  private finish(conn: Connection, code: grpc.status, details: string): void {
    if (conn.ended) return;
    const stalled = conn.waitingDrain;
    this.release(conn, details);
    const name = statusName(code);
    const phase = conn.identity === undefined ? 'hello' : 'session';
    const bucket = phase === 'hello' ? this.stats.refused : this.stats.ended;
    bucket[name] = (bucket[name] ?? 0) + 1;
    this.metrics?.status.inc({ code: name, phase });
    if (code !== grpc.status.OK) this.log.info('session stream ended', { session: conn.id, code: name, details });
    try {
      if (code === grpc.status.OK) conn.call.end();
      else conn.call.emit('error', Object.assign(new Error(details), { code, details }));
    } catch (error) {
      this.log.debug('ending a session stream failed', { session: conn.id, error });
    }
    if (stalled) {
      // The status waits behind data the client does not read; reset the stream if it stays stuck.
      const timer = setTimeout(() => {
        if (!conn.flushed) forceCancel(conn.call);
      }, this.stallGraceMs);
      timer.unref();
    }
  }

  /** The stream went away without us ending it. */
  private dropped(conn: Connection, reason: string): void {
    if (conn.ended) return;
    this.release(conn, reason);
    if (conn.identity !== undefined) {
      this.stats.ended.CANCELLED = (this.stats.ended.CANCELLED ?? 0) + 1;
      this.metrics?.status.inc({ code: 'CANCELLED', phase: 'session' });
      this.log.info('session stream dropped', { session: conn.id, reason });
    }
  }

  private release(conn: Connection, reason: string): void {
    conn.ended = true;
    conn.batch = [];
    if (conn.timer !== undefined) clearInterval(conn.timer);
    this.connections.delete(conn);
    if (conn.identity === undefined) return;
    if (this.sessions.get(conn.key) === conn) this.sessions.delete(conn.key);
    try {
      this.handler.disconnected?.(conn.identity, reason);
    } catch (error) {
      this.stats.handlerErrors++;
      this.log.error('session handler disconnected() failed', { session: conn.id, error });
    }
  }

  private ignore(conn: Connection, kind: string, detail: string, fields: Record<string, unknown> = {}): void {
    this.stats.ignored[kind] = (this.stats.ignored[kind] ?? 0) + 1;
    this.metrics?.ignored.inc({ kind });
    this.log.warn('client message ignored', { session: conn.id, kind, detail, ...fields });
  }

  private countInvalid(reason: string): void {
    this.stats.invalid[reason] = (this.stats.invalid[reason] ?? 0) + 1;
    this.metrics?.invalid.inc({ reason });
  }
}

function sessionKey(strategyId: string, instanceId: string): string {
  return `${strategyId}\u0000${instanceId}`;
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

/**
 * Resets the HTTP/2 stream under a grpc-js server call. grpc-js has no public way to abort a
 * server stream whose status is stuck behind unread data, so this reaches into the call; if
 * the internals change it does nothing and the connection's keepalive is the backstop.
 */
function forceCancel(call: SessionCall): void {
  const inner = (call as unknown as { call?: { stream?: { close?: (code: number) => void; destroyed?: boolean } } }).call;
  const stream = inner?.stream;
  if (stream !== undefined && typeof stream.close === 'function' && stream.destroyed !== true) {
    stream.close(http2Constants.NGHTTP2_CANCEL);
  }
}
