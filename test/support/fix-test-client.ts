/**
 * A FIX initiator for tests: our own session layer (initiator role) over node:net. One
 * `FixSession` and store survive reconnects, as in the execution tier's broker adapter.
 * It records every decoded inbound message, the application messages the session delivered,
 * the session events and decode errors, and offers bounded waits.
 */
import net from 'node:net';
import type { Socket } from 'node:net';
import { LiveClock, type Clock } from '../../src/core/clock.ts';
import { FixDecoder, type FixDecodeError, type FixField, type FixMessage } from '../../src/protocol/fix/codec.ts';
import { FixSession, type FixDisconnectReason, type FixSessionEvent } from '../../src/protocol/fix/session.ts';
import { MemoryFixStore, type FixSessionStore } from '../../src/protocol/fix/store.ts';

export interface FixTestClientOptions {
  port: number;
  host?: string;
  senderCompId?: string;
  targetCompId?: string;
  store?: FixSessionStore;
  heartBtIntSeconds?: number;
  resetSeqNumOnLogon?: boolean;
  clock?: Clock;
  /** Return true to discard an inbound message before the session sees it (simulated loss). */
  dropInbound?: (message: FixMessage) => boolean;
}

export class FixTestClient {
  readonly session: FixSession;
  readonly store: FixSessionStore;
  /** Every decoded inbound message, in arrival order (dropped ones included). */
  readonly received: FixMessage[] = [];
  /** Application messages the session delivered (in sequence, gap-free). */
  readonly app: FixMessage[] = [];
  readonly events: FixSessionEvent[] = [];
  readonly decodeErrors: FixDecodeError[] = [];
  readonly disconnects: { reason: FixDisconnectReason; text: string }[] = [];
  dropInbound: ((message: FixMessage) => boolean) | undefined;
  private socket: Socket | undefined;
  private closedPromise: Promise<void> = Promise.resolve();
  private ticker: NodeJS.Timeout | undefined;
  private readonly options: FixTestClientOptions;
  private readonly waiters = new Set<() => void>();

  constructor(options: FixTestClientOptions) {
    this.options = options;
    this.store = options.store ?? new MemoryFixStore();
    this.dropInbound = options.dropInbound;
    this.session = new FixSession({
      role: 'initiator',
      senderCompId: options.senderCompId ?? 'TRIQUANT',
      targetCompId: options.targetCompId ?? 'SIM',
      store: this.store,
      clock: options.clock ?? new LiveClock(),
      heartBtIntSeconds: options.heartBtIntSeconds ?? 30,
      resetSeqNumOnLogon: options.resetSeqNumOnLogon ?? false,
      logonTimeoutMs: 5_000,
      logoutTimeoutMs: 2_000,
      handler: {
        send: (bytes) => {
          if (this.socket && !this.socket.destroyed) this.socket.write(bytes);
        },
        disconnect: (reason, text) => {
          this.disconnects.push({ reason, text });
          this.socket?.end();
          this.notify();
        },
        onApplicationMessage: (message) => {
          this.app.push(message);
          this.notify();
        },
        onEvent: (event) => {
          this.events.push(event);
          this.notify();
        },
      },
    });
  }

  get connected(): boolean {
    return this.socket !== undefined && !this.socket.destroyed;
  }

  /** Opens a TCP connection and sends Logon. Resolves once the TCP connection is up. */
  async connect(): Promise<void> {
    const socket = net.connect({ port: this.options.port, host: this.options.host ?? '127.0.0.1' });
    socket.setNoDelay(true);
    this.socket = socket;
    const decoder = new FixDecoder({
      onMessage: (message) => {
        this.received.push(message);
        this.notify();
        if (this.dropInbound?.(message)) return;
        this.session.receive(message);
      },
      onError: (error) => {
        this.decodeErrors.push(error);
        this.notify();
      },
    });
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', () => {});
    this.closedPromise = new Promise((resolve) => {
      socket.on('close', () => {
        if (this.socket === socket) {
          this.session.transportClosed();
          if (this.ticker) clearInterval(this.ticker);
        }
        this.notify();
        resolve();
      });
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    this.ticker = setInterval(() => this.session.tick(), 50);
    this.ticker.unref();
    this.session.connected();
  }

  /** Connects and waits for the Logon exchange to finish. */
  async logon(timeoutMs = 3_000): Promise<void> {
    const before = this.events.filter((e) => e.type === 'logon').length;
    await this.connect();
    await this.until(() => this.events.filter((e) => e.type === 'logon').length > before, timeoutMs, 'logon');
  }

  send(msgType: string, body: readonly FixField[]): number {
    return this.session.sendApplication(msgType, body).seq;
  }

  /** Writes raw bytes to the socket, bypassing the session (malformed-input tests). */
  sendRaw(bytes: Uint8Array): void {
    this.socket?.write(bytes);
  }

  /** Orderly Logout; resolves when the connection has closed. */
  async logout(text?: string, timeoutMs = 3_000): Promise<void> {
    this.session.logout(text);
    await this.waitClosed(timeoutMs);
  }

  /** Drops the TCP connection without a Logout (a crash or network cut). */
  async kill(): Promise<void> {
    this.socket?.destroy();
    await this.waitClosed(1_000);
  }

  async waitClosed(timeoutMs = 3_000): Promise<void> {
    await Promise.race([
      this.closedPromise,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
  }

  /**
   * Resolves when `predicate()` holds; rejects after `timeoutMs`. Checked on every client event
   * and every 10 ms (for conditions on the other side, e.g. acceptor stats).
   */
  until(predicate: () => boolean, timeoutMs = 3_000, what = 'condition'): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        clearInterval(poll);
        this.waiters.delete(check);
      };
      const check = () => {
        if (!predicate()) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const poll = setInterval(check, 10);
      this.waiters.add(check);
    });
  }

  /** The first application message (from index `from`) matching `predicate`. */
  async waitForApp(predicate: (m: FixMessage) => boolean, what: string, timeoutMs = 3_000): Promise<FixMessage> {
    await this.until(() => this.app.some(predicate), timeoutMs, what);
    return this.app.find(predicate)!;
  }

  /** The first inbound message of any kind matching `predicate`. */
  async waitForReceived(predicate: (m: FixMessage) => boolean, what: string, timeoutMs = 3_000): Promise<FixMessage> {
    await this.until(() => this.received.some(predicate), timeoutMs, what);
    return this.received.find(predicate)!;
  }

  /** Closes everything (idempotent). */
  async close(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    if (this.socket && !this.socket.destroyed) {
      this.socket.destroy();
      await this.closedPromise;
    }
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}
