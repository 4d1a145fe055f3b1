/**
 * The simulator's FIX 4.4 order-entry acceptor: the TCP transport around the session layer
 * in src/protocol/fix (docs/protocols/fix.md). One `FixSession` per configured counterparty
 * (SenderCompID/TargetCompID pair), bound to at most one TCP connection at a time; its
 * sequence numbers and sent messages live in a store, so a reconnect continues the sequence
 * and messages sent while the counterparty was away reach it by ResendRequest.
 *
 * Application messages are parsed here and handed, typed, to an injected `FixApplication`
 * (the matching wiring is the simulator's job, not this file's):
 * - a parse problem of the session kind (missing tag, bad format, bad enum) → session Reject;
 * - an order for an unknown security → ExecutionReport Rejected (OrdRejReason 1);
 * - a MsgType we do not handle → BusinessMessageReject (380=3);
 * - an exception in the application → BusinessMessageReject (380=0), logged and counted.
 * Garbled input is counted and skipped (too much of it, or a foreign BeginString, drops the
 * connection with a reason); nothing a client sends can crash the acceptor.
 */
import net from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { Clock } from '../core/clock.ts';
import { LiveClock } from '../core/clock.ts';
import { TriquantError } from '../core/errors.ts';
import { createLogger, type Logger } from '../obs/log.ts';
import { encodeFixMessage, FixDecoder, formatUtcTimestamp, type FixDecodeError, type FixDecodeErrorReason, type FixField, type FixMessage } from '../protocol/fix/codec.ts';
import { BusinessRejectReason, CxlRejReason, CxlRejResponseTo, ExecType, MsgType, OrdStatus, Tag } from '../protocol/fix/fields.ts';
import {
  buildBusinessMessageReject,
  buildExecutionReport,
  buildOrderCancelReject,
  parseNewOrderSingle,
  parseOrderCancelRequest,
  parseOrderStatusRequest,
  type BusinessMessageRejectInit,
  type ExecutionReport,
  type FixParseFailure,
  type NewOrderSingle,
  type OrderCancelReject,
  type OrderCancelRequest,
  type OrderStatusRequest,
} from '../protocol/fix/messages.ts';
import { FixSession, type FixDisconnectReason, type FixSessionEvent, type FixSessionOptions } from '../protocol/fix/session.ts';
import { MemoryFixStore, type FixSessionStore } from '../protocol/fix/store.ts';

/** The default CompID of the simulator. */
export const DEFAULT_ACCEPTOR_COMP_ID = 'SIM';

export class FixAcceptorError extends TriquantError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FIX_ACCEPTOR', message, options);
  }
}

/** What the application sees of a session: stable across reconnects of the same counterparty. */
export interface FixAcceptorSession {
  /** `SENDER->TARGET` from our side, e.g. `SIM->TRIQUANT`. */
  readonly id: string;
  readonly senderCompId: string;
  readonly targetCompId: string;
  readonly isLoggedOn: boolean;
  /** MsgSeqNum of the next message we send / expect (for metrics and reconciliation). */
  readonly nextSenderSeq: number;
  readonly nextTargetSeq: number;
  /**
   * Sends an application message (stored for resend; if the counterparty is not logged on it
   * is delivered by ResendRequest after its next Logon). Returns the MsgSeqNum.
   */
  send(msgType: string, body: readonly FixField[]): number;
  /** Validates the quantity semantics and sends an ExecutionReport (8). */
  sendExecutionReport(report: ExecutionReport): number;
  sendOrderCancelReject(reject: OrderCancelReject): number;
  sendBusinessMessageReject(reject: BusinessMessageRejectInit): number;
  /** Starts an orderly Logout of the current connection, if any. */
  logout(text?: string): void;
}

/**
 * The simulator's side of order entry. Messages arrive in sequence, already validated and
 * typed; `message` is the raw decoded message (e.g. `message.possDup` is true for a resent
 * order, which the application must recognise by ClOrdID and not execute twice).
 */
export interface FixApplication {
  onLogon?(session: FixAcceptorSession): void;
  /** The logged-on connection ended (Logout, timeout, drop); `reason` is a stable code. */
  onLogout?(session: FixAcceptorSession, reason: string): void;
  onNewOrderSingle(session: FixAcceptorSession, order: NewOrderSingle, message: FixMessage): void;
  onOrderCancelRequest(session: FixAcceptorSession, request: OrderCancelRequest, message: FixMessage): void;
  onOrderStatusRequest(session: FixAcceptorSession, request: OrderStatusRequest, message: FixMessage): void;
}

export interface FixAcceptorSessionConfig {
  /** The counterparty's CompID (its SenderCompID, our TargetCompID). */
  targetCompId: string;
  /** Our CompID for this session (default: the acceptor's `compId`). */
  senderCompId?: string;
  /** Sequence/message store (default: in memory, kept for the acceptor's lifetime). */
  store?: FixSessionStore;
}

type SessionTuning = Pick<
  FixSessionOptions,
  'minHeartBtIntSeconds' | 'maxHeartBtIntSeconds' | 'testRequestDelayFactor' | 'logoutTimeoutMs' | 'maxLatencySeconds' | 'maxQueuedMessages' | 'timestampPrecision'
>;

export interface FixAcceptorOptions {
  application: FixApplication;
  sessions: readonly FixAcceptorSessionConfig[];
  /** Our default CompID (default `SIM`). */
  compId?: string;
  clock?: Clock;
  logger?: Logger;
  /** Session timer resolution (default 100 ms). */
  tickIntervalMs?: number;
  /** A connection must complete Logon within this time (default 10 s). */
  logonTimeoutMs?: number;
  maxMessageBytes?: number;
  /** Garbled messages tolerated per connection before it is dropped (default 100). */
  maxMalformedPerConnection?: number;
  /** Slow-consumer bound on a connection's unsent bytes (default 16 MiB). */
  maxBufferedBytes?: number;
  /** After a disconnect the socket is ended, then destroyed after this grace; also close()'s wait for Logouts (default 2 s). */
  closeGraceMs?: number;
  session?: SessionTuning;
}

export interface FixAcceptorStats {
  /** Open TCP connections. */
  connections: number;
  /** Sessions logged on now. */
  sessionsLoggedOn: number;
  connectionsAccepted: number;
  logons: number;
  logonRejects: number;
  messagesIn: number;
  messagesOut: number;
  bytesIn: number;
  bytesOut: number;
  applicationIn: number;
  applicationOut: number;
  sessionRejectsSent: number;
  sessionRejectsReceived: number;
  businessRejectsSent: number;
  orderRejectsSent: number;
  resendRequestsSent: number;
  resendRequestsReceived: number;
  messagesResent: number;
  gapFillsSent: number;
  duplicatesIgnored: number;
  /** Garbled input reported by the decoder, in total and by reason. */
  malformed: number;
  malformedByReason: Record<FixDecodeErrorReason, number>;
  applicationErrors: number;
  disconnects: number;
  disconnectReasons: Record<string, number>;
}

type DropReason = FixDisconnectReason | 'peer_closed' | 'socket_error' | 'malformed' | 'begin_string' | 'unknown_session' | 'duplicate_session' | 'slow_consumer' | 'shutdown';

interface Connection {
  readonly socket: Socket;
  readonly decoder: FixDecoder;
  readonly connectedAt: number;
  readonly remote: string;
  handle: SessionHandle | undefined;
  malformed: number;
  closing: boolean;
}

class SessionHandle implements FixAcceptorSession {
  readonly id: string;
  readonly senderCompId: string;
  readonly targetCompId: string;
  readonly store: FixSessionStore;
  session!: FixSession;
  connection: Connection | undefined;
  loggedOnConnection: Connection | undefined;
  private readonly acceptor: FixAcceptor;

  constructor(acceptor: FixAcceptor, senderCompId: string, targetCompId: string, store: FixSessionStore) {
    this.acceptor = acceptor;
    this.senderCompId = senderCompId;
    this.targetCompId = targetCompId;
    this.id = `${senderCompId}->${targetCompId}`;
    this.store = store;
  }

  get isLoggedOn(): boolean {
    return this.session.isLoggedOn;
  }

  get nextSenderSeq(): number {
    return this.session.nextSenderSeq;
  }

  get nextTargetSeq(): number {
    return this.session.nextTargetSeq;
  }

  send(msgType: string, body: readonly FixField[]): number {
    if (this.acceptor.isClosed) throw new FixAcceptorError(`session ${this.id}: acceptor is closed`);
    return this.session.sendApplication(msgType, body).seq;
  }

  sendExecutionReport(report: ExecutionReport): number {
    return this.send(MsgType.ExecutionReport, buildExecutionReport(report));
  }

  sendOrderCancelReject(reject: OrderCancelReject): number {
    return this.send(MsgType.OrderCancelReject, buildOrderCancelReject(reject));
  }

  sendBusinessMessageReject(reject: BusinessMessageRejectInit): number {
    return this.send(MsgType.BusinessMessageReject, buildBusinessMessageReject(reject));
  }

  logout(text?: string): void {
    this.session.logout(text);
  }
}

export class FixAcceptor {
  private readonly application: FixApplication;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly tickIntervalMs: number;
  private readonly logonTimeoutMicros: number;
  private readonly maxMessageBytes: number | undefined;
  private readonly maxMalformed: number;
  private readonly maxBufferedBytes: number;
  private readonly closeGraceMs: number;
  private readonly handles = new Map<string, SessionHandle>();
  private readonly connections = new Set<Connection>();
  private readonly counters: Omit<FixAcceptorStats, 'connections' | 'sessionsLoggedOn' | 'applicationOut'>;
  private server: Server | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private closePromise: Promise<void> | undefined;
  private rejectIds = 0;
  private readonly rejectIdPrefix: string;

  constructor(options: FixAcceptorOptions) {
    this.application = options.application;
    this.clock = options.clock ?? new LiveClock();
    this.logger = options.logger ?? createLogger({ component: 'sim.fix-acceptor', level: 'warn' });
    this.tickIntervalMs = options.tickIntervalMs ?? 100;
    this.logonTimeoutMicros = (options.logonTimeoutMs ?? 10_000) * 1000;
    this.maxMessageBytes = options.maxMessageBytes;
    this.maxMalformed = options.maxMalformedPerConnection ?? 100;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 16 * 1024 * 1024;
    this.closeGraceMs = options.closeGraceMs ?? 2_000;
    this.rejectIdPrefix = `R${this.clock.nowMicros().toString(36)}-`;
    this.counters = {
      connectionsAccepted: 0,
      logons: 0,
      logonRejects: 0,
      messagesIn: 0,
      messagesOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      applicationIn: 0,
      sessionRejectsSent: 0,
      sessionRejectsReceived: 0,
      businessRejectsSent: 0,
      orderRejectsSent: 0,
      resendRequestsSent: 0,
      resendRequestsReceived: 0,
      messagesResent: 0,
      gapFillsSent: 0,
      duplicatesIgnored: 0,
      malformed: 0,
      malformedByReason: { GARBAGE: 0, BEGIN_STRING: 0, BODY_LENGTH: 0, CHECKSUM: 0, TOO_LARGE: 0, MALFORMED_FIELD: 0 },
      applicationErrors: 0,
      disconnects: 0,
      disconnectReasons: {},
    };
    const compId = options.compId ?? DEFAULT_ACCEPTOR_COMP_ID;
    if (options.sessions.length === 0) throw new FixAcceptorError('at least one session (counterparty CompID) must be configured');
    for (const config of options.sessions) {
      const sender = config.senderCompId ?? compId;
      const key = sessionKey(sender, config.targetCompId);
      if (this.handles.has(key)) throw new FixAcceptorError(`session ${sender}->${config.targetCompId} configured twice`);
      const handle = new SessionHandle(this, sender, config.targetCompId, config.store ?? new MemoryFixStore());
      handle.session = new FixSession({
        ...options.session,
        role: 'acceptor',
        senderCompId: sender,
        targetCompId: config.targetCompId,
        store: handle.store,
        clock: this.clock,
        handler: {
          send: (bytes) => this.write(handle, bytes),
          disconnect: (reason, text) => {
            if (handle.connection) this.drop(handle.connection, reason, text);
          },
          onApplicationMessage: (message) => this.dispatch(handle, message),
          onEvent: (event) => this.onSessionEvent(handle, event),
        },
      });
      this.handles.set(key, handle);
    }
  }

  get isClosed(): boolean {
    return this.closePromise !== undefined;
  }

  /** Starts listening (default 127.0.0.1, port 0 = any free port) and resolves with the bound address. */
  async start(options: { port?: number; host?: string } = {}): Promise<{ host: string; port: number }> {
    if (this.server) throw new FixAcceptorError('already started');
    if (this.closePromise) throw new FixAcceptorError('closed');
    const server = net.createServer((socket) => this.accept(socket));
    this.server = server;
    server.on('error', (error) => this.logger.error('FIX acceptor server error', { error }));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.ticker = setInterval(() => this.tick(), this.tickIntervalMs);
    this.ticker.unref();
    const address = server.address() as AddressInfo;
    this.logger.info('FIX acceptor listening', { host: address.address, port: address.port });
    return { host: address.address, port: address.port };
  }

  /** The bound address, once started. */
  get address(): { host: string; port: number } | undefined {
    const address = this.server?.address();
    return address && typeof address === 'object' ? { host: address.address, port: address.port } : undefined;
  }

  /** The handle of the session with this counterparty CompID (and our CompID if several). */
  session(targetCompId: string, senderCompId?: string): FixAcceptorSession | undefined {
    for (const handle of this.handles.values()) {
      if (handle.targetCompId === targetCompId && (senderCompId === undefined || handle.senderCompId === senderCompId)) return handle;
    }
    return undefined;
  }

  stats(): FixAcceptorStats {
    let loggedOn = 0;
    let applicationOut = 0;
    for (const handle of this.handles.values()) {
      if (handle.session.isLoggedOn) loggedOn++;
      applicationOut += handle.session.stats.applicationOut;
    }
    return {
      ...this.counters,
      applicationOut,
      malformedByReason: { ...this.counters.malformedByReason },
      disconnectReasons: { ...this.counters.disconnectReasons },
      connections: this.connections.size,
      sessionsLoggedOn: loggedOn,
    };
  }

  /**
   * Stops accepting, logs out every logged-on session (waiting up to `closeGraceMs` for the
   * answers), then closes every connection. Idempotent.
   */
  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  private async shutdown(): Promise<void> {
    const serverClosed = this.server
      ? new Promise<void>((resolve) => this.server!.close(() => resolve()))
      : Promise.resolve();
    for (const conn of [...this.connections]) {
      const session = conn.handle?.session;
      if (conn.handle?.connection === conn && session?.isLoggedOn) session.logout('acceptor shutting down');
      else this.drop(conn, 'shutdown', 'acceptor shutting down');
    }
    const deadline = Date.now() + this.closeGraceMs;
    while (this.connections.size > 0 && Date.now() < deadline) {
      this.tick();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    for (const conn of [...this.connections]) {
      this.drop(conn, 'shutdown', 'acceptor shutting down');
      conn.socket.destroy();
    }
    if (this.ticker) clearInterval(this.ticker);
    await serverClosed;
  }

  // -------------------------------------------------------------------------------------------
  // Connections

  private accept(socket: Socket): void {
    if (this.closePromise) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const conn: Connection = {
      socket,
      connectedAt: this.clock.nowMicros(),
      remote: `${socket.remoteAddress}:${socket.remotePort}`,
      handle: undefined,
      malformed: 0,
      closing: false,
      decoder: new FixDecoder({
        onMessage: (message) => this.onMessage(conn, message),
        onError: (error) => this.onDecodeError(conn, error),
        onHandlerError: (error) => {
          this.counters.applicationErrors++;
          this.logger.error('FIX acceptor: unexpected error handling a message', { remote: conn.remote, error });
        },
        ...(this.maxMessageBytes === undefined ? {} : { maxMessageBytes: this.maxMessageBytes }),
      }),
    };
    this.connections.add(conn);
    this.counters.connectionsAccepted++;
    socket.on('data', (chunk: Buffer) => {
      if (conn.closing) return;
      this.counters.bytesIn += chunk.length;
      conn.decoder.push(chunk);
    });
    socket.on('error', (error) => {
      this.logger.debug('FIX acceptor: socket error', { remote: conn.remote, error });
      this.drop(conn, 'socket_error', error.message);
    });
    socket.on('close', () => {
      this.drop(conn, 'peer_closed', 'connection closed by peer');
      this.connections.delete(conn);
    });
  }

  private onMessage(conn: Connection, message: FixMessage): void {
    if (conn.closing) return;
    this.counters.messagesIn++;
    if (conn.handle === undefined) {
      this.bind(conn, message);
      if (conn.handle === undefined) return;
    }
    const handle = conn.handle;
    if (handle.connection !== conn) return;
    handle.session.receive(message);
  }

  /** Binds a new connection to its session by the CompIDs of its Logon. */
  private bind(conn: Connection, message: FixMessage): void {
    if (message.msgType !== MsgType.Logon) {
      this.drop(conn, 'first_not_logon', `first message was MsgType ${message.msgType}, not Logon`);
      return;
    }
    const theirs = message.get(Tag.SenderCompID) ?? '';
    const ours = message.get(Tag.TargetCompID) ?? '';
    const handle = this.handles.get(sessionKey(ours, theirs));
    if (handle === undefined) {
      this.rejectLogon(conn, message, `unknown session ${theirs}->${ours}`);
      this.drop(conn, 'unknown_session', `unknown session ${theirs}->${ours}`);
      return;
    }
    const existing = handle.connection;
    if (existing !== undefined && !existing.closing) {
      this.rejectLogon(conn, message, `session ${theirs}->${ours} is already logged on`);
      this.drop(conn, 'duplicate_session', `session ${handle.id} already has a connection`);
      return;
    }
    if (existing !== undefined) this.release(existing);
    conn.handle = handle;
    handle.connection = conn;
    handle.session.transportClosed(); // idempotent: the session must be 'disconnected' to reconnect
    handle.session.connected();
  }

  /** Refuses a Logon outside any session: a Logout with the CompIDs swapped, then close. */
  private rejectLogon(conn: Connection, message: FixMessage, text: string): void {
    this.counters.logonRejects++;
    const theirs = message.get(Tag.SenderCompID);
    const ours = message.get(Tag.TargetCompID);
    this.logger.warn('FIX acceptor: Logon refused', { remote: conn.remote, text });
    if (!theirs || !ours || theirs.includes('\u0001') || ours.includes('\u0001')) return;
    const bytes = encodeFixMessage(
      { msgType: MsgType.Logout, senderCompId: ours, targetCompId: theirs, msgSeqNum: 1, sendingTime: formatUtcTimestamp(this.clock.nowMicros()) },
      [[Tag.Text, text]],
    );
    this.writeRaw(conn, bytes);
  }

  private onDecodeError(conn: Connection, error: FixDecodeError): void {
    this.counters.malformed++;
    this.counters.malformedByReason[error.reason]++;
    conn.malformed++;
    this.logger.warn('FIX acceptor: garbled input skipped', { remote: conn.remote, session: conn.handle?.id, reason: error.reason, detail: error.message });
    if (error.reason === 'BEGIN_STRING') {
      const session = conn.handle?.connection === conn ? conn.handle.session : undefined;
      if (session?.isLoggedOn) session.logout(error.message);
      this.drop(conn, 'begin_string', error.message);
    } else if (conn.malformed > this.maxMalformed) {
      this.drop(conn, 'malformed', `more than ${this.maxMalformed} garbled messages`);
    }
  }

  private write(handle: SessionHandle, bytes: Buffer): void {
    const conn = handle.connection;
    if (conn === undefined) return;
    this.writeRaw(conn, bytes);
  }

  private writeRaw(conn: Connection, bytes: Buffer): void {
    if (conn.socket.destroyed || conn.socket.writableEnded) return;
    this.counters.messagesOut++;
    this.counters.bytesOut += bytes.length;
    conn.socket.write(bytes);
    if (conn.socket.writableLength > this.maxBufferedBytes) {
      this.drop(conn, 'slow_consumer', `more than ${this.maxBufferedBytes} bytes unsent`);
      conn.socket.destroy();
    }
  }

  /** Ends a connection once, counting the reason; the socket is destroyed after a grace. */
  private drop(conn: Connection, reason: DropReason, text: string): void {
    if (conn.closing) return;
    conn.closing = true;
    this.counters.disconnects++;
    this.counters.disconnectReasons[reason] = (this.counters.disconnectReasons[reason] ?? 0) + 1;
    const level = reason === 'logout' || reason === 'peer_closed' || reason === 'shutdown' ? 'info' : 'warn';
    this.logger[level]('FIX acceptor: connection closed', { remote: conn.remote, session: conn.handle?.id, reason, text });
    this.release(conn, reason);
    if (!conn.socket.destroyed) {
      conn.socket.end();
      setTimeout(() => conn.socket.destroy(), this.closeGraceMs).unref();
    }
  }

  /** Detaches a connection from its session (idempotent). */
  private release(conn: Connection, reason: string = 'replaced'): void {
    const handle = conn.handle;
    if (handle === undefined || handle.connection !== conn) return;
    handle.connection = undefined;
    handle.session.transportClosed();
    if (handle.loggedOnConnection === conn) {
      handle.loggedOnConnection = undefined;
      this.callApplication(() => this.application.onLogout?.(handle, reason));
    }
  }

  private tick(): void {
    const now = this.clock.nowMicros();
    for (const conn of this.connections) {
      if (conn.closing) continue;
      if (conn.handle === undefined) {
        if (now - conn.connectedAt >= this.logonTimeoutMicros) this.drop(conn, 'logon_timeout', 'no Logon within the logon timeout');
      } else if (conn.handle.connection === conn) {
        conn.handle.session.tick();
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Application messages

  private onSessionEvent(handle: SessionHandle, event: FixSessionEvent): void {
    switch (event.type) {
      case 'logon':
        this.counters.logons++;
        handle.loggedOnConnection = handle.connection;
        this.logger.info('FIX session logged on', { session: handle.id, heartBtInt: event.heartBtInt, reset: event.resetSeqNum });
        this.callApplication(() => this.application.onLogon?.(handle));
        return;
      case 'reject-sent':
        this.counters.sessionRejectsSent++;
        this.logger.warn('FIX session Reject sent', { session: handle.id, refSeqNum: event.refSeqNum, refMsgType: event.refMsgType, reason: event.reason, refTagId: event.refTagId, text: event.text });
        return;
      case 'reject-received':
        this.counters.sessionRejectsReceived++;
        this.logger.warn('FIX session Reject received', { session: handle.id, message: event.message.toString() });
        return;
      case 'resend-requested':
        this.counters.resendRequestsSent++;
        return;
      case 'resend-served':
        this.counters.resendRequestsReceived++;
        this.counters.messagesResent += event.resent;
        this.counters.gapFillsSent += event.gapFills;
        return;
      case 'duplicate-ignored':
        this.counters.duplicatesIgnored++;
        return;
      case 'application-error':
        this.counters.applicationErrors++;
        this.logger.error('FIX acceptor: application error', { session: handle.id, error: event.error });
        return;
      default:
        return;
    }
  }

  private dispatch(handle: SessionHandle, message: FixMessage): void {
    this.counters.applicationIn++;
    try {
      switch (message.msgType) {
        case MsgType.NewOrderSingle: {
          const parsed = parseNewOrderSingle(message);
          if (!parsed.ok) return this.parseFailed(handle, message, parsed);
          this.application.onNewOrderSingle(handle, parsed.value, message);
          return;
        }
        case MsgType.OrderCancelRequest: {
          const parsed = parseOrderCancelRequest(message);
          if (!parsed.ok) return this.parseFailed(handle, message, parsed);
          this.application.onOrderCancelRequest(handle, parsed.value, message);
          return;
        }
        case MsgType.OrderStatusRequest: {
          const parsed = parseOrderStatusRequest(message);
          if (!parsed.ok) return this.parseFailed(handle, message, parsed);
          this.application.onOrderStatusRequest(handle, parsed.value, message);
          return;
        }
        default:
          this.businessReject(handle, message, BusinessRejectReason.UnsupportedMessageType, `unsupported MsgType ${message.msgType}`);
      }
    } catch (error) {
      this.counters.applicationErrors++;
      this.logger.error('FIX acceptor: application failed on a message', { session: handle.id, msgType: message.msgType, error });
      try {
        this.businessReject(handle, message, BusinessRejectReason.Other, 'internal error processing the message');
      } catch {
        // Nothing more to do: counted and logged.
      }
    }
  }

  private parseFailed(handle: SessionHandle, message: FixMessage, failure: FixParseFailure): void {
    if (failure.level === 'session') {
      handle.session.sendReject(message, failure.reason, failure.tag, failure.text);
      return;
    }
    const clOrdId = message.get(Tag.ClOrdID) ?? 'NONE';
    if (message.msgType === MsgType.NewOrderSingle) {
      // An ExecutionReport built from the raw fields: the symbol could not be mapped.
      this.rejectIds++;
      const now = formatUtcTimestamp(this.clock.nowMicros());
      const body: FixField[] = [
        [Tag.AvgPx, '0'],
        [Tag.ClOrdID, clOrdId],
        [Tag.CumQty, '0'],
        [Tag.ExecID, `${this.rejectIdPrefix}${this.rejectIds}`],
        [Tag.OrderID, 'NONE'],
        [Tag.OrderQty, message.get(Tag.OrderQty)!],
        [Tag.OrdStatus, OrdStatus.Rejected],
        [Tag.Side, message.get(Tag.Side)!],
        [Tag.Symbol, message.get(Tag.Symbol)!],
        [Tag.Text, failure.text],
        [Tag.TransactTime, now],
        [Tag.OrdRejReason, String(failure.ordRejReason)],
        [Tag.ExecType, ExecType.Rejected],
        [Tag.LeavesQty, '0'],
      ];
      const exchange = message.get(Tag.SecurityExchange);
      if (exchange !== undefined) body.splice(9, 0, [Tag.SecurityExchange, exchange]);
      this.counters.orderRejectsSent++;
      handle.send(MsgType.ExecutionReport, body);
    } else if (message.msgType === MsgType.OrderCancelRequest) {
      this.counters.orderRejectsSent++;
      handle.sendOrderCancelReject({
        orderId: message.get(Tag.OrderID) ?? 'NONE',
        clOrdId,
        origClOrdId: message.get(Tag.OrigClOrdID) ?? 'NONE',
        ordStatus: OrdStatus.Rejected,
        cxlRejResponseTo: CxlRejResponseTo.OrderCancelRequest,
        cxlRejReason: CxlRejReason.UnknownOrder,
        text: failure.text,
      });
    } else {
      this.businessReject(handle, message, BusinessRejectReason.UnknownSecurity, failure.text);
    }
  }

  private businessReject(handle: SessionHandle, message: FixMessage, reason: BusinessRejectReason, text: string): void {
    this.counters.businessRejectsSent++;
    const init: BusinessMessageRejectInit = { refMsgType: message.msgType, businessRejectReason: reason, text };
    const seq = message.seqNum;
    if (seq !== undefined) init.refSeqNum = seq;
    const refId = message.get(Tag.ClOrdID);
    if (refId !== undefined) init.businessRejectRefId = refId;
    handle.sendBusinessMessageReject(init);
  }

  private callApplication(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.counters.applicationErrors++;
      this.logger.error('FIX acceptor: application callback failed', { error });
    }
  }
}

function sessionKey(ourCompId: string, theirCompId: string): string {
  return `${ourCompId}\u0001${theirCompId}`;
}
