/**
 * `FixBrokerAdapter`: the execution tier's FIX 4.4 initiator, a `BrokerAdapter` over one
 * `FixSession` (src/protocol/fix/session.ts) on a node:net socket. It works against the
 * simulator's acceptor and standard third-party engines (tested against QuickFIX/J).
 *
 * - Connects, logs on, and reconnects after any drop with exponential back-off; the session
 *   and its store survive reconnects, and with a `FileFixStore` they survive restarts, so the
 *   sequence continues and whatever the venue sent while we were away (fills included) arrives
 *   by ResendRequest with PossDupFlag=Y.
 * - `submit` / `cancel` write NewOrderSingle / OrderCancelRequest only while logged on: the
 *   message is in the store before it reaches the socket; otherwise they reject with a
 *   retryable `BrokerNotConnectedError` (the OMS decides what to do; nothing is queued).
 * - A ClOrdID is never sent twice: the ClOrdIDs of every NewOrderSingle in the store are known
 *   (rebuilt from the store on construction), and a second `submit` of one rejects with
 *   `DuplicateClientOrderIdError`. The only repetition is the FIX resend of a stored message
 *   (PossDupFlag=Y), which venues de-duplicate by ClOrdID.
 * - ExecutionReports and OrderCancelRejects become `BrokerEvent`s in arrival (= sequence)
 *   order. Resent (PossDup) reports are forwarded like any other: the OMS de-duplicates fills
 *   by `fillId` (ExecID) and state changes by its state machine.
 * - `reconcile` asks OrderStatusRequest per order and collects the ExecType=I answers.
 *
 * See README.md in this folder for the mapping tables and the crash-safety argument.
 */
import net from 'node:net';
import type { Socket } from 'node:net';
import type { Clock, Micros } from '../../core/clock.ts';
import { LiveClock } from '../../core/clock.ts';
import type { OrderStatus } from '../../core/order-state.ts';
import { decodeFixMessage, FixDecoder, FixMessage, type FixField } from '../../protocol/fix/codec.ts';
import { BusinessRejectReason, CxlRejReason, ExecType, MsgType, OrdRejReason, OrdStatus, Tag } from '../../protocol/fix/fields.ts';
import {
  buildNewOrderSingle,
  buildOrderCancelRequest,
  buildOrderStatusRequest,
  parseExecutionReport,
  parseOrderCancelReject,
  type ExecutionReport,
  type SymbolStyle,
} from '../../protocol/fix/messages.ts';
import { FixSession, type FixDisconnectReason, type FixSessionEvent, type FixSessionOptions } from '../../protocol/fix/session.ts';
import { FileFixStore, type FileFixStoreOptions, type FixSessionStore } from '../../protocol/fix/store.ts';
import type { Logger } from '../../obs/log.ts';
import { silentLogger } from '../../obs/log.ts';
import type { BrokerAdapter, BrokerCancel, BrokerConnectionState, BrokerEvent, BrokerOrder, VenueOrderStatus } from '../ports.ts';
import { BrokerClosedError, BrokerNotConnectedError, BrokerRequestRejectedError, BrokerTimeoutError, DuplicateClientOrderIdError } from './errors.ts';

export interface FixBrokerReconnectOptions {
  /** First wait after a drop or a failed attempt (default 500 ms); doubles per failure. */
  initialMs?: number;
  /** Longest wait between attempts (default 30 s). */
  maxMs?: number;
}

export type FixBrokerSessionTuning = Pick<
  FixSessionOptions,
  'logonTimeoutMs' | 'logoutTimeoutMs' | 'maxLatencySeconds' | 'testRequestDelayFactor' | 'maxQueuedMessages' | 'timestampPrecision'
>;

export interface FixBrokerAdapterOptions {
  host: string;
  port: number;
  /** Our CompID (49). */
  senderCompId: string;
  /** The venue's CompID (56). */
  targetCompId: string;
  /** HeartBtInt proposed in our Logon, seconds (default 30). */
  heartBtIntSeconds?: number;
  /**
   * Sequence numbers and sent messages. Use a `FileFixStore` (see `openFixBrokerStore`) in
   * production: it is what makes restarts resume the sequence and get missed reports resent.
   * The adapter owns it: `close()` closes it.
   */
  store: FixSessionStore;
  clock?: Clock;
  log?: Logger;
  reconnect?: FixBrokerReconnectOptions;
  /** How symbols are written on orders (default `suffix`: `55=600000.SH`). */
  symbolStyle?: SymbolStyle;
  /** triquant account → FIX Account (1) value; accounts not listed are sent unchanged. */
  accountMap?: Readonly<Record<string, string>>;
  /** Send the Account (1) tag at all (default true; some venues bind the account to the session). */
  sendAccount?: boolean;
  /** How long `reconcile` waits for each status answer (default 10 s). */
  reconcileTimeoutMs?: number;
  /** TCP connect timeout per attempt (default 5 s). */
  connectTimeoutMs?: number;
  /** Session timer resolution (default 100 ms). */
  tickIntervalMs?: number;
  /** Adapter name for logs and metrics (default `fix:SENDER->TARGET`). */
  name?: string;
  /**
   * Runs after every logon (first and reconnects) before the adapter reports `connected` and
   * accepts `submit`/`cancel`; `reconcile` works meanwhile. This is where the OMS reconciles its
   * open orders, so no new order leaves before the venue's view is known. If it throws, the
   * adapter logs out and tries again after the back-off.
   */
  beforeReady?: () => Promise<void>;
  session?: FixBrokerSessionTuning;
}

export interface FixBrokerStats {
  logons: number;
  connectAttempts: number;
  disconnects: Record<string, number>;
  ordersSent: number;
  cancelsSent: number;
  statusRequestsSent: number;
  executionReports: number;
  /** Reports that arrived with PossDupFlag=Y (resent by the venue); forwarded all the same. */
  possDupReports: number;
  events: number;
  statusAnswers: number;
  /** Reports or rejects we could not map (logged at error level). */
  unmapped: number;
  /** Venue "duplicate ClOrdID" rejects, not forwarded (the original order lives at the venue). */
  duplicateRejectsSuppressed: number;
}

/** Opens the durable store for a session under `dir` (files named `SENDER-TARGET.*`). */
export function openFixBrokerStore(dir: string, senderCompId: string, targetCompId: string, options: FileFixStoreOptions = {}): FileFixStore {
  return new FileFixStore(dir, `${senderCompId}-${targetCompId}`, options);
}

interface StatusWaiter {
  resolve(status: VenueOrderStatus): void;
  reject(error: Error): void;
}

interface SentRef {
  msgType: string;
  clOrdId: string;
}

/** Most `seq → message` references kept for mapping session Rejects (a trading day is far less). */
const MAX_SENT_REFS = 200_000;

export class FixBrokerAdapter implements BrokerAdapter {
  readonly name: string;
  readonly stats: FixBrokerStats = {
    logons: 0, connectAttempts: 0, disconnects: {}, ordersSent: 0, cancelsSent: 0, statusRequestsSent: 0, executionReports: 0,
    possDupReports: 0, events: 0, statusAnswers: 0, unmapped: 0, duplicateRejectsSuppressed: 0,
  };
  private readonly options: FixBrokerAdapterOptions;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly session: FixSession;
  private readonly store: FixSessionStore;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly symbolStyle: SymbolStyle;
  private readonly reconcileTimeoutMs: number;

  private currentState: BrokerConnectionState = 'disconnected';
  private readonly eventListeners: Array<(event: BrokerEvent) => void> = [];
  private readonly stateListeners: Array<(state: BrokerConnectionState) => void> = [];
  private socket: Socket | undefined;
  private socketClosed: Promise<void> = Promise.resolve();
  private ticker: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;
  private started = false;
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private startWaiters: Array<{ resolve(): void; reject(error: Error): void }> = [];
  /** Logged on and `beforeReady` done: submit/cancel allowed. */
  private ready = false;
  /** Incremented per connection, so a slow `beforeReady` cannot bless a later one. */
  private connectionSeq = 0;

  /** ClOrdIDs of every NewOrderSingle in the store: never sent twice. */
  private readonly sentOrders = new Set<string>();
  /** Cancel ClOrdID → the order's ClOrdID (reports about a cancel name the cancel's id). */
  private readonly cancelToOrder = new Map<string, string>();
  /** Our ClOrdID → venue OrderID, once acknowledged (sent on cancels and status requests). */
  private readonly venueIds = new Map<string, string>();
  /** MsgSeqNum → what we sent under it, to map session Rejects back to an order. */
  private readonly sentRefs = new Map<number, SentRef>();
  private readonly statusWaiters = new Map<string, StatusWaiter[]>();

  constructor(options: FixBrokerAdapterOptions) {
    this.options = options;
    this.clock = options.clock ?? new LiveClock();
    this.log = options.log ?? silentLogger;
    this.store = options.store;
    this.name = options.name ?? `fix:${options.senderCompId}->${options.targetCompId}`;
    this.initialBackoffMs = options.reconnect?.initialMs ?? 500;
    this.maxBackoffMs = Math.max(this.initialBackoffMs, options.reconnect?.maxMs ?? 30_000);
    this.backoffMs = this.initialBackoffMs;
    this.symbolStyle = options.symbolStyle ?? 'suffix';
    this.reconcileTimeoutMs = options.reconcileTimeoutMs ?? 10_000;
    this.session = new FixSession({
      ...options.session,
      role: 'initiator',
      senderCompId: options.senderCompId,
      targetCompId: options.targetCompId,
      store: this.store,
      clock: this.clock,
      heartBtIntSeconds: options.heartBtIntSeconds ?? 30,
      // Never reset: the resend of what was missed, and the duplicate check, live in the store.
      resetSeqNumOnLogon: false,
      handler: {
        send: (bytes) => this.write(bytes),
        disconnect: (reason, text) => this.onSessionDisconnect(reason, text),
        onApplicationMessage: (message) => this.onApplicationMessage(message),
        onEvent: (event) => this.onSessionEvent(event),
      },
    });
    this.rebuildFromStore();
  }

  get state(): BrokerConnectionState {
    return this.currentState;
  }

  /** Next MsgSeqNum we send / expect (diagnostics). */
  get sequenceNumbers(): { nextSender: number; nextTarget: number } {
    return { nextSender: this.store.getNextSenderSeq(), nextTarget: this.store.getNextTargetSeq() };
  }

  onEvent(listener: (event: BrokerEvent) => void): void {
    this.eventListeners.push(listener);
  }

  onStateChange(listener: (state: BrokerConnectionState) => void): void {
    this.stateListeners.push(listener);
  }

  /**
   * Starts connecting; resolves at the first logon. Keeps retrying (with back-off) until then;
   * rejects only if `close()` is called first. Calling it again returns the same wait.
   */
  start(): Promise<void> {
    if (this.closing) return Promise.reject(new BrokerClosedError(`${this.name} is closed`));
    if (this.currentState === 'connected') return Promise.resolve();
    const waiting = new Promise<void>((resolve, reject) => this.startWaiters.push({ resolve, reject }));
    if (!this.started) {
      this.started = true;
      this.dial();
    }
    return waiting;
  }

  async submit(order: BrokerOrder): Promise<void> {
    this.checkCanSend('submit');
    if (this.sentOrders.has(order.clientOrderId)) throw new DuplicateClientOrderIdError(order.clientOrderId);
    const account = this.fixAccount(order.account);
    const body = buildNewOrderSingle({
      clOrdId: order.clientOrderId,
      ...(account === undefined ? {} : { account }),
      symbol: order.symbol,
      symbolStyle: this.symbolStyle,
      side: order.side,
      orderType: order.orderType,
      // A market order's price is its optional protection price; 0 means none.
      ...(order.orderType === 'LIMIT' || order.price > 0 ? { price: order.price } : {}),
      orderQty: order.quantity,
      transactTime: order.createdAt,
    });
    this.sendApplication(MsgType.NewOrderSingle, body, order.clientOrderId);
    this.sentOrders.add(order.clientOrderId);
    this.stats.ordersSent++;
  }

  /**
   * Sends OrderCancelRequest. Idempotent per `cancelId`: a cancel already sent (in this process
   * or before a restart) is not sent again — FIX resend guarantees its delivery.
   */
  async cancel(request: BrokerCancel): Promise<void> {
    this.checkCanSend('cancel');
    if (this.cancelToOrder.has(request.cancelId)) {
      this.log.info('cancel already sent; not sending it again', { cancelId: request.cancelId, clientOrderId: request.clientOrderId });
      return;
    }
    const orderId = this.venueIds.get(request.clientOrderId);
    const body = buildOrderCancelRequest({
      origClOrdId: request.clientOrderId,
      clOrdId: request.cancelId,
      ...(orderId === undefined ? {} : { orderId }),
      symbol: request.symbol,
      symbolStyle: this.symbolStyle,
      side: request.side,
      orderQty: request.quantity,
      transactTime: request.createdAt,
    });
    this.sendApplication(MsgType.OrderCancelRequest, body, request.cancelId);
    this.cancelToOrder.set(request.cancelId, request.clientOrderId);
    this.stats.cancelsSent++;
  }

  /**
   * One OrderStatusRequest per order; resolves with the answers in the same order. Rejects
   * with `BrokerNotConnectedError` when not logged on, `BrokerTimeoutError` when an answer
   * takes longer than `reconcileTimeoutMs`, `BrokerRequestRejectedError` when the venue refuses
   * status requests.
   */
  async reconcile(orders: readonly BrokerOrder[]): Promise<VenueOrderStatus[]> {
    this.checkCanSend('reconcile', false);
    return Promise.all(orders.map((order) => this.requestStatus(order)));
  }

  /** Logs out (waiting for the answer within the session's logout timeout), stops reconnecting, closes the store. Idempotent. */
  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  /**
   * Stops at once without Logout, as a crash would (tests of restart recovery): the socket is
   * destroyed and the store's files are left exactly as they are (closed without another write,
   * as the OS does for a killed process).
   */
  kill(): void {
    this.closing = true;
    this.ready = false;
    this.closePromise ??= Promise.resolve();
    this.stopTimers();
    this.socket?.destroy();
    this.socket = undefined;
    this.session.transportClosed();
    this.store.close();
    this.failWaiters(new BrokerClosedError(`${this.name} was killed`));
    this.setState('closed');
  }

  // -------------------------------------------------------------------------------------------
  // Connection

  private dial(): void {
    if (this.closing) return;
    this.retryTimer = undefined;
    this.stats.connectAttempts++;
    this.connectionSeq++;
    this.setState('connecting');
    const socket = net.connect({ host: this.options.host, port: this.options.port });
    socket.setNoDelay(true);
    this.socket = socket;
    const decoder = new FixDecoder({
      onMessage: (message) => {
        if (this.socket === socket) this.session.receive(message);
      },
      onError: (error) => this.log.warn('garbled FIX input skipped', { broker: this.name, reason: error.reason, detail: error.message }),
      onHandlerError: (error) => this.log.error('error handling a FIX message', { broker: this.name, error }),
    });
    const connectTimer = setTimeout(() => socket.destroy(new Error('connect timeout')), this.options.connectTimeoutMs ?? 5_000);
    connectTimer.unref();
    this.socketClosed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.once('connect', () => {
      clearTimeout(connectTimer);
      if (this.socket !== socket) return;
      this.ticker = setInterval(() => this.session.tick(), this.options.tickIntervalMs ?? 100);
      this.ticker.unref();
      this.session.connected();
    });
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', (error) => this.log.debug('FIX socket error', { broker: this.name, error: error.message }));
    socket.once('close', () => {
      clearTimeout(connectTimer);
      this.onSocketClosed(socket);
    });
  }

  private onSocketClosed(socket: Socket): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.ready = false;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    this.session.transportClosed();
    if (this.closing) {
      this.setState('closed');
      return;
    }
    this.setState('disconnected');
    const wait = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
    this.log.info('FIX connection down; reconnecting', { broker: this.name, inMs: wait });
    this.retryTimer = setTimeout(() => this.dial(), wait);
    this.retryTimer.unref();
  }

  private write(bytes: Buffer): void {
    const socket = this.socket;
    if (socket && !socket.destroyed && !socket.writableEnded) socket.write(bytes);
  }

  private onSessionDisconnect(reason: FixDisconnectReason, text: string): void {
    this.stats.disconnects[reason] = (this.stats.disconnects[reason] ?? 0) + 1;
    const level = reason === 'logout' ? 'info' : 'warn';
    this.log[level]('FIX session ended', { broker: this.name, reason, text });
    const socket = this.socket;
    if (!socket) return;
    socket.end();
    // Give the last message (our Logout) a moment to leave, then make sure the socket closes.
    setTimeout(() => socket.destroy(), 1_000).unref();
  }

  private onSessionEvent(event: FixSessionEvent): void {
    switch (event.type) {
      case 'logon':
        this.stats.logons++;
        this.backoffMs = this.initialBackoffMs;
        this.log.info('FIX logged on', { broker: this.name, heartBtInt: event.heartBtInt, ...this.sequenceNumbers });
        void this.becomeReady(this.connectionSeq);
        return;
      case 'resend-requested':
        this.log.info('FIX gap: resend requested', { broker: this.name, from: event.beginSeqNo });
        return;
      case 'resend-served':
        this.log.info('FIX resend served', { broker: this.name, from: event.beginSeqNo, resent: event.resent, gapFills: event.gapFills });
        return;
      case 'reject-received':
        this.onSessionReject(event.message);
        return;
      case 'reject-sent':
        this.log.warn('FIX session Reject sent', { broker: this.name, refSeqNum: event.refSeqNum, refMsgType: event.refMsgType, text: event.text });
        return;
      case 'application-error':
        this.log.error('FIX application message handling failed', { broker: this.name, error: event.error });
        return;
      default:
        return;
    }
  }

  private async becomeReady(connection: number): Promise<void> {
    if (this.options.beforeReady) {
      try {
        await this.options.beforeReady();
      } catch (error) {
        this.log.error('beforeReady failed after logon; logging out to try again', { broker: this.name, error });
        if (connection === this.connectionSeq && this.session.isLoggedOn) this.session.logout('not ready: reconciliation failed');
        return;
      }
    }
    if (connection !== this.connectionSeq || !this.session.isLoggedOn || this.closing) return;
    this.ready = true;
    this.setState('connected');
    for (const waiter of this.startWaiters.splice(0)) waiter.resolve();
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    this.ready = false;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.failWaiters(new BrokerClosedError(`${this.name} is closed`));
    const socket = this.socket;
    if (socket) {
      if (this.session.isLoggedOn) this.session.logout('closing');
      else socket.destroy();
      // The session disconnects on the Logout answer or at its logout timeout (ticks go on).
      const limit = (this.options.session?.logoutTimeoutMs ?? 2_000) + 2_000;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.socketClosed, new Promise((resolve) => (timer = setTimeout(resolve, limit)))]);
      clearTimeout(timer);
      socket.destroy();
    }
    this.stopTimers();
    this.session.transportClosed();
    this.store.close();
    this.setState('closed');
  }

  private stopTimers(): void {
    if (this.ticker) clearInterval(this.ticker);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.ticker = undefined;
    this.retryTimer = undefined;
  }

  private failWaiters(error: Error): void {
    for (const waiter of this.startWaiters.splice(0)) waiter.reject(error);
    for (const waiters of this.statusWaiters.values()) for (const waiter of waiters) waiter.reject(error);
    this.statusWaiters.clear();
  }

  private setState(state: BrokerConnectionState): void {
    if (this.currentState === state) return;
    this.currentState = state;
    for (const listener of this.stateListeners) {
      try {
        listener(state);
      } catch (error) {
        this.log.error('broker state listener failed', { broker: this.name, error });
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /** submit/cancel need `ready` (after beforeReady); reconcile only a logon. */
  private checkCanSend(what: string, needReady = true): void {
    if (this.closing) throw new BrokerClosedError(`${what}: ${this.name} is closed`);
    if (!this.session.isLoggedOn || (needReady && !this.ready)) {
      throw new BrokerNotConnectedError(`${what}: ${this.name} is not ready (${this.currentState})`);
    }
  }

  private sendApplication(msgType: string, body: readonly FixField[], clOrdId: string): void {
    const { seq } = this.session.sendApplication(msgType, body);
    this.rememberSent(seq, { msgType, clOrdId });
  }

  private rememberSent(seq: number, ref: SentRef): void {
    this.sentRefs.set(seq, ref);
    if (this.sentRefs.size > MAX_SENT_REFS) {
      const oldest = this.sentRefs.keys().next().value;
      if (oldest !== undefined) this.sentRefs.delete(oldest);
    }
  }

  private fixAccount(account: string): string | undefined {
    if (this.options.sendAccount === false) return undefined;
    const mapped = this.options.accountMap?.[account] ?? account;
    return mapped === '' ? undefined : mapped;
  }

  private requestStatus(order: BrokerOrder): Promise<VenueOrderStatus> {
    return new Promise<VenueOrderStatus>((resolve, reject) => {
      const id = order.clientOrderId;
      const timer = setTimeout(() => {
        this.removeWaiter(id, waiter);
        reject(new BrokerTimeoutError(`no OrderStatus answer for ${id} within ${this.reconcileTimeoutMs} ms`));
      }, this.reconcileTimeoutMs);
      timer.unref();
      const waiter: StatusWaiter = {
        resolve: (status) => {
          clearTimeout(timer);
          resolve(status);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const list = this.statusWaiters.get(id);
      if (list) list.push(waiter);
      else this.statusWaiters.set(id, [waiter]);
      try {
        const orderId = this.venueIds.get(id);
        const body = buildOrderStatusRequest({
          clOrdId: id, ...(orderId === undefined ? {} : { orderId }), symbol: order.symbol, symbolStyle: this.symbolStyle, side: order.side,
        });
        this.sendApplication(MsgType.OrderStatusRequest, body, id);
        this.stats.statusRequestsSent++;
      } catch (error) {
        this.removeWaiter(id, waiter);
        waiter.reject(error as Error);
      }
    });
  }

  private removeWaiter(id: string, waiter: StatusWaiter): void {
    const list = this.statusWaiters.get(id);
    if (!list) return;
    const index = list.indexOf(waiter);
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0) this.statusWaiters.delete(id);
  }

  private answerStatus(id: string, status: VenueOrderStatus | Error): void {
    const list = this.statusWaiters.get(id);
    if (!list) return;
    this.statusWaiters.delete(id);
    for (const waiter of list) {
      if (status instanceof Error) waiter.reject(status);
      else waiter.resolve(status);
    }
  }

  /** The ClOrdIDs already used, from the stored messages (what a restart must not send again). */
  private rebuildFromStore(): void {
    const last = this.store.getNextSenderSeq() - 1;
    if (last < 1) return;
    for (const stored of this.store.getSent(1, last)) {
      const message = decodeFixMessage(stored.message);
      const clOrdId = message?.get(Tag.ClOrdID);
      if (message === undefined || clOrdId === undefined) continue;
      if (message.msgType === MsgType.NewOrderSingle) this.sentOrders.add(clOrdId);
      else if (message.msgType === MsgType.OrderCancelRequest) this.cancelToOrder.set(clOrdId, message.get(Tag.OrigClOrdID) ?? clOrdId);
      this.rememberSent(stored.seq, { msgType: message.msgType, clOrdId });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  private onApplicationMessage(message: FixMessage): void {
    switch (message.msgType) {
      case MsgType.ExecutionReport:
        this.onExecutionReport(message);
        return;
      case MsgType.OrderCancelReject:
        this.onOrderCancelReject(message);
        return;
      case MsgType.BusinessMessageReject:
        this.onBusinessReject(message);
        return;
      default:
        this.unmapped('application message type not handled', message);
    }
  }

  private onExecutionReport(raw: FixMessage): void {
    this.stats.executionReports++;
    if (raw.possDup) this.stats.possDupReports++;
    const message = normalizeExecType(raw);
    const parsed = parseExecutionReport(message);
    if (!parsed.ok) {
      // The session already consumed it: tell the venue (session-level problems), and shout.
      if (parsed.level === 'session') this.session.sendReject(raw, parsed.reason, parsed.tag, parsed.text);
      this.unmapped(`unparseable ExecutionReport: ${parsed.text}`, raw);
      return;
    }
    const er = parsed.value;
    const ts: Micros = er.transactTime > 0 ? er.transactTime : this.clock.nowMicros();
    const clientOrderId = this.orderIdOf(er.clOrdId, er.origClOrdId);
    const venueOrderId = er.orderId;
    if (venueOrderId !== '' && venueOrderId !== 'NONE') this.venueIds.set(clientOrderId, venueOrderId);
    switch (er.execType) {
      case ExecType.New:
        this.emit({ type: 'accepted', clientOrderId, venueOrderId, ts });
        return;
      case ExecType.Trade: {
        if (er.lastQty === undefined || er.lastQty <= 0 || er.lastPx === undefined || er.lastPx <= 0) {
          this.unmapped('Trade report without LastQty/LastPx', raw);
          return;
        }
        this.emit({ type: 'filled', clientOrderId, venueOrderId, fillId: er.execId, qty: er.lastQty, price: er.lastPx, ts });
        return;
      }
      case ExecType.Canceled:
        this.emit({ type: 'cancelled', clientOrderId, reason: er.text ?? '', ts });
        return;
      case ExecType.Rejected:
        if (er.ordRejReason === OrdRejReason.DuplicateOrder) {
          // Our ClOrdID is already at the venue (e.g. a store was lost): that order lives on,
          // so this must not read as "the order was rejected". Reconcile gives its state.
          this.stats.duplicateRejectsSuppressed++;
          this.log.error('venue reports a duplicate ClOrdID; not forwarded as a reject', { broker: this.name, clientOrderId, text: er.text });
          return;
        }
        this.emit({ type: 'rejected', clientOrderId, reason: rejectText(er), ts });
        return;
      case ExecType.Expired:
      case ExecType.DoneForDay:
        this.emit({ type: 'expired', clientOrderId, ts });
        return;
      case ExecType.OrderStatus:
        this.stats.statusAnswers++;
        this.answerStatus(er.clOrdId, venueStatus(er, clientOrderId));
        return;
      case ExecType.PendingNew:
      case ExecType.PendingCancel:
      case ExecType.PendingReplace:
      case ExecType.Restated:
      case ExecType.Calculated:
      case ExecType.Suspended:
      case ExecType.Stopped:
        // Intermediate states the port has no event for; the final outcome follows.
        this.log.debug('ExecutionReport without a broker event', { broker: this.name, clientOrderId, execType: er.execType });
        return;
      default:
        // Replaced, TradeCorrect, TradeCancel: we never send replaces; busts need an operator.
        this.unmapped(`ExecType ${er.execType} not supported`, raw);
    }
  }

  private onOrderCancelReject(message: FixMessage): void {
    const parsed = parseOrderCancelReject(message);
    if (!parsed.ok) {
      if (parsed.level === 'session') this.session.sendReject(message, parsed.reason, parsed.tag, parsed.text);
      this.unmapped(`unparseable OrderCancelReject: ${parsed.text}`, message);
      return;
    }
    const r = parsed.value;
    const clientOrderId = this.cancelToOrder.get(r.clOrdId) ?? r.origClOrdId;
    const reason = r.text ?? (r.cxlRejReason === undefined ? 'cancel rejected' : cxlRejReasonName(r.cxlRejReason));
    this.emit({ type: 'cancelRejected', clientOrderId, reason, ts: this.clock.nowMicros() });
  }

  /** BusinessMessageReject (j): the venue refused one of our messages outright. */
  private onBusinessReject(message: FixMessage): void {
    const refMsgType = message.get(Tag.RefMsgType) ?? '';
    const reasonCode = Number(message.get(Tag.BusinessRejectReason) ?? BusinessRejectReason.Other);
    const text = message.get(Tag.Text) ?? `BusinessMessageReject ${reasonCode}`;
    const refSeq = Number(message.get(Tag.RefSeqNum) ?? 0);
    const clOrdId = message.get(Tag.BusinessRejectRefID) ?? this.sentRefs.get(refSeq)?.clOrdId;
    if (clOrdId === undefined) {
      this.unmapped('BusinessMessageReject without a reference we know', message);
      return;
    }
    this.refused(refMsgType, clOrdId, text, reasonCode === BusinessRejectReason.UnknownId);
  }

  /** Session Reject (35=3) of one of our application messages: the venue did not process it. */
  private onSessionReject(message: FixMessage): void {
    const refSeq = Number(message.get(Tag.RefSeqNum) ?? 0);
    const ref = this.sentRefs.get(refSeq);
    const text = `session Reject: ${message.get(Tag.Text) ?? `reason ${message.get(Tag.SessionRejectReason) ?? '?'}`}`;
    if (ref === undefined) {
      this.log.warn('FIX session Reject received', { broker: this.name, refSeq, text });
      return;
    }
    this.refused(ref.msgType, ref.clOrdId, text, false);
  }

  private refused(msgType: string, clOrdId: string, text: string, unknownId: boolean): void {
    const ts = this.clock.nowMicros();
    if (msgType === MsgType.NewOrderSingle) {
      this.emit({ type: 'rejected', clientOrderId: clOrdId, reason: text, ts });
    } else if (msgType === MsgType.OrderCancelRequest) {
      this.emit({ type: 'cancelRejected', clientOrderId: this.cancelToOrder.get(clOrdId) ?? clOrdId, reason: text, ts });
    } else if (msgType === MsgType.OrderStatusRequest) {
      if (unknownId) this.answerStatus(clOrdId, unknownStatus(clOrdId, text));
      else this.answerStatus(clOrdId, new BrokerRequestRejectedError(`OrderStatusRequest for ${clOrdId} refused: ${text}`));
    } else {
      this.log.warn('venue refused a message', { broker: this.name, msgType, clOrdId, text });
    }
  }

  /** The order a report is about: ours, even when the report names a cancel's ClOrdID. */
  private orderIdOf(clOrdId: string, origClOrdId: string | undefined): string {
    return this.cancelToOrder.get(clOrdId) ?? origClOrdId ?? clOrdId;
  }

  private emit(event: BrokerEvent): void {
    this.stats.events++;
    for (const listener of this.eventListeners) {
      try {
        listener(event);
      } catch (error) {
        this.log.error('broker event listener failed', { broker: this.name, event: event.type, clientOrderId: event.clientOrderId, error });
      }
    }
  }

  private unmapped(what: string, message: FixMessage): void {
    this.stats.unmapped++;
    this.log.error(what, { broker: this.name, message: message.toString() });
  }
}

// ---------------------------------------------------------------------------------------------
// Mapping helpers

/** FIX 4.2-style ExecType 1 (partial fill) / 2 (fill), still sent by some engines, read as Trade (F). */
function normalizeExecType(message: FixMessage): FixMessage {
  const execType = message.get(Tag.ExecType);
  if (execType !== '1' && execType !== '2') return message;
  return new FixMessage(message.fields.map((field) => (field[0] === Tag.ExecType ? ([Tag.ExecType, ExecType.Trade] as const) : field)), message.raw);
}

const ORD_REJ_REASON_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(OrdRejReason).map(([name, code]) => [code, name]));
const CXL_REJ_REASON_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(CxlRejReason).map(([name, code]) => [code, name]));

function rejectText(er: ExecutionReport): string {
  if (er.text !== undefined && er.text !== '') return er.text;
  if (er.ordRejReason !== undefined) return `OrdRejReason ${er.ordRejReason} (${ORD_REJ_REASON_NAMES[er.ordRejReason] ?? 'unknown'})`;
  return 'rejected by the venue';
}

function cxlRejReasonName(code: number): string {
  return `CxlRejReason ${code} (${CXL_REJ_REASON_NAMES[code] ?? 'unknown'})`;
}

/** A status answer saying "no such order": OrdRejReason 5, or a Rejected answer whose text says so. */
function isUnknownOrder(er: ExecutionReport): boolean {
  if (er.ordStatus !== OrdStatus.Rejected) return false;
  if (er.ordRejReason === OrdRejReason.UnknownOrder) return true;
  return er.ordRejReason === undefined && /unknown[ _]order|order not found|no such order/i.test(er.text ?? '');
}

function unknownStatus(clientOrderId: string, text: string): VenueOrderStatus {
  return { clientOrderId, status: 'UNKNOWN', venueOrderId: undefined, cumQty: 0, leavesQty: 0, avgPrice: 0, text };
}

function venueStatus(er: ExecutionReport, clientOrderId: string): VenueOrderStatus {
  if (isUnknownOrder(er)) return unknownStatus(clientOrderId, er.text ?? 'unknown order');
  return {
    clientOrderId,
    status: orderStatusOf(er),
    venueOrderId: er.orderId === '' || er.orderId === 'NONE' ? undefined : er.orderId,
    cumQty: er.cumQty,
    leavesQty: er.leavesQty,
    avgPrice: er.avgPx,
    text: er.text ?? '',
  };
}

/** FIX OrdStatus (39) → core OrderStatus; the working states split on CumQty. */
export function orderStatusOf(er: Pick<ExecutionReport, 'ordStatus' | 'cumQty' | 'orderQty'>): OrderStatus {
  const working: OrderStatus = er.cumQty > 0 ? 'PARTIALLY_FILLED' : 'ACCEPTED';
  switch (er.ordStatus) {
    case OrdStatus.New:
      return 'ACCEPTED';
    case OrdStatus.PartiallyFilled:
      return 'PARTIALLY_FILLED';
    case OrdStatus.Filled:
      return 'FILLED';
    case OrdStatus.Canceled:
      return 'CANCELLED';
    case OrdStatus.PendingCancel:
      return 'PENDING_CANCEL';
    case OrdStatus.Rejected:
      return 'REJECTED';
    case OrdStatus.PendingNew:
      return 'SENT';
    case OrdStatus.Expired:
      return 'EXPIRED';
    case OrdStatus.DoneForDay:
      // Day orders: done for the day is over; fully filled if the quantity was.
      return er.orderQty > 0 && er.cumQty >= er.orderQty ? 'FILLED' : 'EXPIRED';
    case OrdStatus.Stopped:
    case OrdStatus.Suspended:
    case OrdStatus.Calculated:
    case OrdStatus.AcceptedForBidding:
    case OrdStatus.PendingReplace:
      return working;
  }
}
