/**
 * Two FIX sessions (an initiator CLIENT and an acceptor SIM) joined by an in-memory wire and
 * a manual clock, for driving the session state machine deterministically. Messages go
 * through the real encoder and decoder; `pump()` delivers them one at a time until the wire
 * is quiet, and a `drop` filter simulates loss.
 */
import { ManualClock } from '../../src/core/clock.ts';
import { decodeFixMessage, encodeFixMessage, formatUtcTimestamp, type FixField, type FixMessage } from '../../src/protocol/fix/codec.ts';
import { FixSession, type FixDisconnectReason, type FixSessionEvent, type FixSessionOptions } from '../../src/protocol/fix/session.ts';
import { MemoryFixStore, type FixSessionStore } from '../../src/protocol/fix/store.ts';

export type Side = 'client' | 'sim';

export const T0 = Date.UTC(2025, 5, 16, 1, 30, 0) * 1000;

export interface Endpoint {
  readonly name: Side;
  readonly session: FixSession;
  readonly store: FixSessionStore;
  /** Everything this endpoint put on the wire, decoded. */
  readonly sent: FixMessage[];
  /** Application messages delivered to this endpoint. */
  readonly app: FixMessage[];
  readonly events: FixSessionEvent[];
  disconnects: { reason: FixDisconnectReason; text: string }[];
  /** Optional application behaviour. */
  onApp: ((message: FixMessage, session: FixSession) => void) | undefined;
}

export interface HarnessOptions {
  client?: Partial<FixSessionOptions>;
  sim?: Partial<FixSessionOptions>;
  clientStore?: FixSessionStore;
  simStore?: FixSessionStore;
}

export class SessionPair {
  readonly clock = new ManualClock(T0);
  readonly client: Endpoint;
  readonly sim: Endpoint;
  /** Return true to lose a message in flight. */
  drop: ((from: Side, message: FixMessage) => boolean) | undefined;
  private readonly wire: { to: Side; message: FixMessage }[] = [];
  private connectedNow = false;
  /** The side that asked to disconnect: what it sent before still arrives, then the transport closes. */
  private closedBy: Side | undefined;

  constructor(options: HarnessOptions = {}) {
    this.client = this.endpoint('client', options.clientStore ?? new MemoryFixStore(), {
      role: 'initiator',
      senderCompId: 'CLIENT',
      targetCompId: 'SIM',
      heartBtIntSeconds: 30,
      ...options.client,
    });
    this.sim = this.endpoint('sim', options.simStore ?? new MemoryFixStore(), {
      role: 'acceptor',
      senderCompId: 'SIM',
      targetCompId: 'CLIENT',
      ...options.sim,
    });
  }

  private endpoint(name: Side, store: FixSessionStore, options: Partial<FixSessionOptions>): Endpoint {
    const endpoint: Endpoint = {
      name,
      store,
      sent: [],
      app: [],
      events: [],
      disconnects: [],
      onApp: undefined,
      session: undefined as unknown as FixSession,
    };
    const session = new FixSession({
      role: 'acceptor',
      senderCompId: '?',
      targetCompId: '?',
      ...options,
      store,
      clock: this.clock,
      handler: {
        send: (bytes) => {
          const message = decodeFixMessage(bytes);
          if (message === undefined) throw new Error(`${name} sent a garbled message: ${bytes.toString('latin1')}`);
          endpoint.sent.push(message);
          if (!this.connectedNow || this.closedBy !== undefined) return;
          if (this.drop?.(name, message)) return;
          this.wire.push({ to: name === 'client' ? 'sim' : 'client', message });
        },
        disconnect: (reason, text) => {
          endpoint.disconnects.push({ reason, text });
          if (this.connectedNow && this.closedBy === undefined) this.closedBy = name;
        },
        onApplicationMessage: (message) => {
          endpoint.app.push(message);
          endpoint.onApp?.(message, endpoint.session);
        },
        onEvent: (event) => endpoint.events.push(event),
      },
    });
    (endpoint as { session: FixSession }).session = session;
    return endpoint;
  }

  /** Connects the transport: the acceptor waits, the initiator sends Logon. Then pumps. */
  connect(): void {
    this.connectedNow = true;
    this.closedBy = undefined;
    this.sim.session.connected();
    this.client.session.connected();
    this.pump();
  }

  /** The transport breaks: both sides see it, messages in flight are lost. */
  cut(): void {
    if (!this.connectedNow) return;
    this.connectedNow = false;
    this.closedBy = undefined;
    this.wire.length = 0;
    this.client.session.transportClosed();
    this.sim.session.transportClosed();
  }

  get connected(): boolean {
    return this.connectedNow;
  }

  /** Delivers messages until the wire is empty (bounded). Returns how many were delivered. */
  pump(limit = 10_000): number {
    let n = 0;
    while (this.wire.length > 0) {
      if (++n > limit) throw new Error('pump: wire never went quiet');
      const { to, message } = this.wire.shift()!;
      if (to === this.closedBy) continue; // the closer reads nothing more
      (to === 'client' ? this.client : this.sim).session.receive(message);
    }
    if (this.closedBy !== undefined) this.cut();
    return n;
  }

  /** Advances the clock in steps, ticking both sessions and pumping after each step. */
  advance(ms: number, stepMs = 100): void {
    for (let t = 0; t < ms; t += stepMs) {
      this.clock.advance(Math.min(stepMs, ms - t) * 1000);
      this.client.session.tick();
      this.sim.session.tick();
      this.pump();
    }
  }

  /** Builds a message as `from` would send it, with an explicit seq (for crafting bad input). */
  craft(from: Side, msgType: string, seq: number, body: readonly FixField[], header: { possDup?: boolean; origSendingTime?: string; sendingTime?: string } = {}): FixMessage {
    const bytes = encodeFixMessage(
      {
        msgType,
        senderCompId: from === 'client' ? 'CLIENT' : 'SIM',
        targetCompId: from === 'client' ? 'SIM' : 'CLIENT',
        msgSeqNum: seq,
        sendingTime: header.sendingTime ?? formatUtcTimestamp(this.clock.nowMicros()),
        ...(header.possDup ? { possDup: true } : {}),
        ...(header.origSendingTime ? { origSendingTime: header.origSendingTime } : {}),
      },
      body,
    );
    return decodeFixMessage(bytes)!;
  }

  /** Delivers a crafted message to the other side and pumps the consequences. */
  inject(from: Side, message: FixMessage): void {
    (from === 'client' ? this.sim : this.client).session.receive(message);
    this.pump();
  }
}

/** MsgTypes of a list of messages, for compact assertions. */
export function types(messages: readonly FixMessage[]): string[] {
  return messages.map((m) => m.msgType);
}
