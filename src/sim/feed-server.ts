/**
 * The simulator's market-data feed server: the TCP transport of the feed protocol
 * (docs/protocols/feed.md; codec in src/protocol/feed). It sequences snapshots and trades per
 * channel, fans them out to logged-on subscribers, keeps a bounded retransmission ring per
 * channel, serves gap fills and resumes, exchanges heartbeats, and cuts off slow consumers
 * and clients that send garbage — without ever buffering without bound or crashing.
 */
import net from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { Clock, Micros } from '../core/clock.ts';
import { LiveClock } from '../core/clock.ts';
import { TriquantError, ValidationError } from '../core/errors.ts';
import { dataFrameLength, encode, encodeDataInto, encodeInto, FeedDecoder } from '../protocol/feed/codec.ts';
import type { PublishableMessage } from '../protocol/feed/codec.ts';
import {
  HEADER_BYTES,
  LogonRejectCode,
  LogoutCode,
  MAX_CHANNEL,
  PROTOCOL_VERSION,
  RETRANSMIT_END_BODY_BYTES,
  RetransmitRejectCode,
  SNAPSHOT_FRAME_BYTES,
  TRADE_FRAME_BYTES,
} from '../protocol/feed/frames.ts';
import type { ChannelStatus, FeedMessage, FrameError, LogonMessage } from '../protocol/feed/frames.ts';

/** The server was used after `close()`, or before `start()` where that matters. */
export class FeedServerError extends TriquantError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FEED_SERVER', message, options);
  }
}

export interface FeedServerLogger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** Default logger: warnings as JSON lines on stderr, info dropped. */
export const stderrFeedLogger: FeedServerLogger = {
  info() {},
  warn(message, fields) {
    process.stderr.write(`${JSON.stringify({ level: 'warn', component: 'feed-server', message, ...fields })}\n`);
  },
};

export interface FeedServerOptions {
  /** Time source for heartbeats, timeouts and LogonAck (default: live clock). */
  clock?: Clock;
  /** Frames kept per channel for retransmission (default 65,536). */
  ringDepth?: number;
  /** Server heartbeat period, also the timer tick (default 1,000 ms). */
  heartbeatIntervalMs?: number;
  /** A logged-on client silent for more than this many intervals is dropped (default 3). */
  heartbeatTimeoutIntervals?: number;
  /** A connection that has not logged on within this time is dropped (default: the heartbeat timeout). */
  logonTimeoutMs?: number;
  /** Slow-consumer bound on a client's unsent bytes (`socket.writableLength`) (default 16 MiB). */
  maxBufferedBytes?: number;
  /** Most frames served for one retransmit request or resume (default 10,000); the rest is asked for again. */
  maxRetransmitPerRequest?: number;
  /** Malformed (skipped) frames tolerated per connection before it is dropped (default 100). */
  maxMalformedFrames?: number;
  /** After a Logout/LogonReject the socket is ended, and destroyed after this grace (default 1,000 ms). */
  closeGraceMs?: number;
  /** If set, the only channels that may be published and subscribed. */
  channels?: readonly number[];
  /**
   * The publishing session announced in LogonAck (default: the clock's time at construction,
   * microseconds since the epoch, made unique within the process). Sequence numbers restart
   * with every server, so clients use it to tell a restarted server from a reconnect.
   */
  sessionId?: number;
  /** Accepts or refuses a Logon (default: everyone is accepted). */
  authenticate?: (clientId: string, authToken: string | undefined) => boolean;
  logger?: FeedServerLogger;
}

export interface FeedServerStats {
  /** Open connections (logged on or not). */
  clients: number;
  loggedOnClients: number;
  channels: number;
  messagesPublished: number;
  framesSent: number;
  bytesSent: number;
  framesReceived: number;
  bytesReceived: number;
  retransmitRequests: number;
  /** Retransmissions actually served (requests and resumes with at least one frame). */
  retransmissionsServed: number;
  retransmittedFrames: number;
  retransmitRejects: number;
  logonRejects: number;
  slowConsumerDisconnects: number;
  heartbeatTimeouts: number;
  /** Frames from clients skipped as malformed (unknown type, bad body). */
  malformedFrames: number;
  /** Fatal framing errors (bad magic/version, oversize frame): the client was dropped. */
  framingErrors: number;
  /** Well-formed messages that break the session rules (e.g. data before Logon). */
  protocolErrors: number;
  disconnects: number;
  /** Largest `socket.writableLength` among connected clients right now. */
  maxClientBufferedBytes: number;
}

type Counters = Omit<FeedServerStats, 'clients' | 'loggedOnClients' | 'channels' | 'maxClientBufferedBytes'>;

/** Fixed-slot ring of encoded data frames for one channel; storage grows up to `capacity` slots. */
class FrameRing {
  static readonly SLOT_BYTES = Math.max(SNAPSHOT_FRAME_BYTES, TRADE_FRAME_BYTES);
  readonly capacity: number;
  private arena: Buffer;
  private lengths: Uint32Array;
  private slots: number;
  private count = 0;
  lastSeq = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.slots = Math.min(capacity, 1024);
    this.arena = Buffer.allocUnsafe(this.slots * FrameRing.SLOT_BYTES);
    this.lengths = new Uint32Array(this.slots);
  }

  /** Oldest seq held (0 = empty). */
  get firstSeq(): number {
    return this.count === 0 ? 0 : this.lastSeq - this.count + 1;
  }

  /** Appends the frame `src[start, end)` as seq `lastSeq + 1`. */
  append(src: Buffer, start: number, end: number): void {
    const seq = this.lastSeq + 1;
    const slot = (seq - 1) % this.capacity;
    if (slot >= this.slots) this.grow();
    src.copy(this.arena, slot * FrameRing.SLOT_BYTES, start, end);
    this.lengths[slot] = end - start;
    this.lastSeq = seq;
    if (this.count < this.capacity) this.count++;
  }

  /** Bytes of frames `from..to` (inclusive, all held). */
  byteLength(from: number, to: number): number {
    let total = 0;
    for (let seq = from; seq <= to; seq++) total += this.lengths[(seq - 1) % this.capacity]!;
    return total;
  }

  /** Copies frames `from..to` (inclusive, all held) into `dst` at `offset`; returns the new offset. */
  copyRange(from: number, to: number, dst: Buffer, offset: number): number {
    for (let seq = from; seq <= to; seq++) {
      const slot = (seq - 1) % this.capacity;
      const start = slot * FrameRing.SLOT_BYTES;
      offset += this.arena.copy(dst, offset, start, start + this.lengths[slot]!);
    }
    return offset;
  }

  private grow(): void {
    const slots = Math.min(this.capacity, this.slots * 2);
    const arena = Buffer.allocUnsafe(slots * FrameRing.SLOT_BYTES);
    this.arena.copy(arena, 0, 0, this.slots * FrameRing.SLOT_BYTES);
    const lengths = new Uint32Array(slots);
    lengths.set(this.lengths);
    this.arena = arena;
    this.lengths = lengths;
    this.slots = slots;
  }
}

interface Channel {
  readonly id: number;
  readonly ring: FrameRing;
  readonly subscribers: Set<Session>;
  /** Seq assigned while encoding the current batch (valid when batchEpoch matches). */
  tentativeSeq: number;
  batchEpoch: number;
}

type SessionState = 'awaitingLogon' | 'loggedOn' | 'closing';

interface Session {
  readonly id: number;
  readonly socket: Socket;
  readonly remote: string;
  readonly decoder: FeedDecoder;
  readonly subscriptions: Set<number>;
  readonly connectedAt: Micros;
  readonly closed: Promise<void>;
  state: SessionState;
  clientId: string | undefined;
  lastReceivedAt: Micros;
  malformed: number;
  destroyTimer: NodeJS.Timeout | undefined;
}

const MAX_REASON_CHARS = 300;
const MAX_LOGGED_MALFORMED = 5;

/** Last session id handed out in this process: two servers never share one. */
let lastSessionId = 0;

function newSessionId(clock: Clock): number {
  const id = Math.max(clock.nowMicros(), lastSessionId + 1, 1);
  lastSessionId = id;
  return id;
}

function positiveInt(name: string, value: number, min = 1): number {
  if (!Number.isSafeInteger(value) || value < min) throw new ValidationError(`FeedServer option ${name} must be an integer ≥ ${min} (got ${value})`);
  return value;
}

function clip(text: string): string {
  return text.length <= MAX_REASON_CHARS ? text : `${text.slice(0, MAX_REASON_CHARS - 1)}…`;
}

export class FeedServer {
  /** The publishing session (LogonAck `sessionId`): seqs of this server are unique within it. */
  readonly sessionId: number;
  private readonly clock: Clock;
  private readonly ringDepth: number;
  private readonly heartbeatIntervalMs: number;
  private readonly silenceTimeoutMicros: number;
  private readonly logonTimeoutMicros: number;
  private readonly maxBufferedBytes: number;
  private readonly maxRetransmitPerRequest: number;
  private readonly maxMalformedFrames: number;
  private readonly closeGraceMs: number;
  private readonly allowedChannels: ReadonlySet<number> | undefined;
  private readonly authenticate: FeedServerOptions['authenticate'];
  private readonly log: FeedServerLogger;

  private readonly channelsById = new Map<number, Channel>();
  private readonly sessions = new Set<Session>();
  private readonly sessionsByClientId = new Map<string, Session>();
  private readonly counters: Counters = {
    messagesPublished: 0,
    framesSent: 0,
    bytesSent: 0,
    framesReceived: 0,
    bytesReceived: 0,
    retransmitRequests: 0,
    retransmissionsServed: 0,
    retransmittedFrames: 0,
    retransmitRejects: 0,
    logonRejects: 0,
    slowConsumerDisconnects: 0,
    heartbeatTimeouts: 0,
    malformedFrames: 0,
    framingErrors: 0,
    protocolErrors: 0,
    disconnects: 0,
  };
  private server: Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closePromise: Promise<void> | undefined;
  private nextSessionId = 1;
  private batchEpoch = 0;
  private frameOffsets = new Uint32Array(256);
  private frameChannels: Channel[] = [];

  constructor(options: FeedServerOptions = {}) {
    this.clock = options.clock ?? new LiveClock();
    this.ringDepth = positiveInt('ringDepth', options.ringDepth ?? 65_536);
    this.heartbeatIntervalMs = positiveInt('heartbeatIntervalMs', options.heartbeatIntervalMs ?? 1_000);
    const intervals = positiveInt('heartbeatTimeoutIntervals', options.heartbeatTimeoutIntervals ?? 3);
    this.silenceTimeoutMicros = intervals * this.heartbeatIntervalMs * 1_000;
    this.logonTimeoutMicros = positiveInt('logonTimeoutMs', options.logonTimeoutMs ?? intervals * this.heartbeatIntervalMs) * 1_000;
    this.maxBufferedBytes = positiveInt('maxBufferedBytes', options.maxBufferedBytes ?? 16 * 1024 * 1024, 64 * 1024);
    this.maxRetransmitPerRequest = positiveInt('maxRetransmitPerRequest', options.maxRetransmitPerRequest ?? 10_000);
    if (this.maxRetransmitPerRequest * SNAPSHOT_FRAME_BYTES >= this.maxBufferedBytes) {
      throw new ValidationError(
        `FeedServer option maxRetransmitPerRequest (${this.maxRetransmitPerRequest}) × ${SNAPSHOT_FRAME_BYTES} bytes must stay below maxBufferedBytes (${this.maxBufferedBytes}), or every large retransmission would trip the slow-consumer bound`,
      );
    }
    this.maxMalformedFrames = positiveInt('maxMalformedFrames', options.maxMalformedFrames ?? 100, 0);
    this.closeGraceMs = positiveInt('closeGraceMs', options.closeGraceMs ?? 1_000, 0);
    if (options.channels !== undefined) {
      for (const ch of options.channels) {
        if (!Number.isInteger(ch) || ch < 0 || ch > MAX_CHANNEL) throw new ValidationError(`FeedServer option channels: ${ch} is not a u16 channel id`);
      }
      this.allowedChannels = new Set(options.channels);
    }
    this.authenticate = options.authenticate;
    this.log = options.logger ?? stderrFeedLogger;
    this.sessionId = options.sessionId === undefined ? newSessionId(this.clock) : positiveInt('sessionId', options.sessionId);
  }

  /** Starts listening; resolves with the bound address (port 0 = a free port). */
  async start(port = 0, host = '127.0.0.1'): Promise<AddressInfo> {
    if (this.closePromise !== undefined) throw new FeedServerError('feed server is closed');
    if (this.server !== undefined) throw new FeedServerError('feed server already started');
    const server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => {
        this.server = undefined;
        reject(new FeedServerError(`feed server cannot listen on ${host}:${port}: ${error.message}`, { cause: error }));
      };
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        resolve();
      });
    });
    server.on('error', (error) => this.log.warn('feed server socket error', { error: error.message }));
    this.timer = setInterval(() => this.runTimers(), this.heartbeatIntervalMs);
    this.timer.unref();
    const address = server.address() as AddressInfo;
    this.log.info('feed server listening', { host: address.address, port: address.port, sessionId: this.sessionId });
    return address;
  }

  /** The bound address, once started. */
  address(): AddressInfo | undefined {
    const address = this.server?.address();
    return address !== null && typeof address === 'object' ? address : undefined;
  }

  /** Publishes one snapshot or trade; returns the seq assigned on its channel. */
  publish(message: PublishableMessage): number {
    this.publishBatch([message]);
    return this.channelsById.get(message.channel)!.ring.lastSeq;
  }

  /**
   * Publishes snapshots and trades in order: assigns each its channel's next seq, keeps it for
   * retransmission, and sends the batch to each subscriber in one write. All messages are
   * validated and encoded before any seq is committed: an invalid message throws a
   * `ValidationError` and nothing of the batch is published. Returns the number published.
   */
  publishBatch(messages: readonly PublishableMessage[]): number {
    if (this.closePromise !== undefined) throw new FeedServerError('feed server is closed');
    const n = messages.length;
    if (n === 0) return 0;
    if (this.frameOffsets.length < n + 1) this.frameOffsets = new Uint32Array(Math.max(n + 1, this.frameOffsets.length * 2));
    const offsets = this.frameOffsets;
    const chans = this.frameChannels;
    const epoch = ++this.batchEpoch;
    const touched: Channel[] = [];

    let total = 0;
    for (let i = 0; i < n; i++) total += dataFrameLength(messages[i]!);
    const out = Buffer.allocUnsafe(total);
    let off = 0;
    for (let i = 0; i < n; i++) {
      const m = messages[i]!;
      const ch = this.channel(m.channel);
      if (ch.batchEpoch !== epoch) {
        ch.batchEpoch = epoch;
        ch.tentativeSeq = ch.ring.lastSeq;
        touched.push(ch);
      }
      offsets[i] = off;
      chans[i] = ch;
      off += encodeDataInto(m, ++ch.tentativeSeq, out, off);
    }
    offsets[n] = off;

    // Commit: every frame is valid, so the seqs are now taken.
    for (let i = 0; i < n; i++) chans[i]!.ring.append(out, offsets[i]!, offsets[i + 1]!);
    this.counters.messagesPublished += n;

    if (touched.length === 1) {
      for (const s of touched[0]!.subscribers) this.send(s, out, n);
    } else {
      const receivers = new Set<Session>();
      for (const ch of touched) for (const s of ch.subscribers) receivers.add(s);
      for (const s of receivers) {
        if (touched.every((ch) => s.subscriptions.has(ch.id))) this.send(s, out, n);
        else this.sendRuns(s, out, n);
      }
    }
    chans.length = 0;
    return n;
  }

  /** Last seq and oldest retransmittable seq of a channel (undefined if never used). */
  channelStatus(channel: number): ChannelStatus | undefined {
    const ch = this.channelsById.get(channel);
    return ch === undefined ? undefined : { channel, lastSeq: ch.ring.lastSeq, firstAvailableSeq: ch.ring.firstSeq };
  }

  stats(): FeedServerStats {
    let loggedOn = 0;
    let maxBuffered = 0;
    for (const s of this.sessions) {
      if (s.state === 'loggedOn') loggedOn++;
      if (s.socket.writableLength > maxBuffered) maxBuffered = s.socket.writableLength;
    }
    return { clients: this.sessions.size, loggedOnClients: loggedOn, channels: this.channelsById.size, ...this.counters, maxClientBufferedBytes: maxBuffered };
  }

  /**
   * One timer tick (run every heartbeat interval; public so tests with a manual clock can
   * drive it): sends heartbeats, drops silent clients and connections that never logged on.
   */
  runTimers(): void {
    if (this.closePromise !== undefined) return;
    const now = this.clock.nowMicros();
    let heartbeat: Buffer | undefined;
    for (const s of this.sessions) {
      if (s.state === 'closing') continue;
      if (s.state === 'awaitingLogon') {
        if (now - s.connectedAt > this.logonTimeoutMicros) this.disconnect(s, LogoutCode.LOGON_TIMEOUT, `no logon within ${this.logonTimeoutMicros / 1000} ms`, 'warn');
        continue;
      }
      if (now - s.lastReceivedAt > this.silenceTimeoutMicros) {
        this.counters.heartbeatTimeouts++;
        this.disconnect(s, LogoutCode.HEARTBEAT_TIMEOUT, `heartbeat timeout: nothing received for ${Math.round((now - s.lastReceivedAt) / 1000)} ms`, 'warn');
        continue;
      }
      heartbeat ??= encode({ type: 'heartbeat', time: now });
      this.send(s, heartbeat, 1);
    }
  }

  /**
   * Stops accepting, sends every client a Logout ("server shutting down"), waits for them to
   * close (at most the close grace), then stops the listener. Idempotent.
   */
  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  private async shutdown(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    const server = this.server;
    const listenerClosed = server === undefined || !server.listening ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sessions) this.disconnect(s, LogoutCode.SERVER_SHUTDOWN, 'server shutting down', 'info');
    await Promise.all([...this.sessions].map((s) => s.closed));
    await listenerClosed;
    this.log.info('feed server closed', { ...this.counters });
  }

  // -------------------------------------------------------------------------------------------

  private channel(id: number): Channel {
    let ch = this.channelsById.get(id);
    if (ch !== undefined) return ch;
    if (!Number.isInteger(id) || id < 0 || id > MAX_CHANNEL) throw new ValidationError(`feed channel must be a u16 (got ${id})`);
    if (this.allowedChannels !== undefined && !this.allowedChannels.has(id)) throw new ValidationError(`feed channel ${id} is not configured`);
    ch = { id, ring: new FrameRing(this.ringDepth), subscribers: new Set(), tentativeSeq: 0, batchEpoch: 0 };
    this.channelsById.set(id, ch);
    return ch;
  }

  private accept(socket: Socket): void {
    const now = this.clock.nowMicros();
    let resolveClosed!: () => void;
    const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
    const s: Session = {
      id: this.nextSessionId++,
      socket,
      remote: `${socket.remoteAddress}:${socket.remotePort}`,
      decoder: new FeedDecoder({ onMessage: (m) => this.onClientMessage(s, m), onError: (e) => this.onFrameError(s, e) }),
      subscriptions: new Set(),
      connectedAt: now,
      closed,
      state: 'awaitingLogon',
      clientId: undefined,
      lastReceivedAt: now,
      malformed: 0,
      destroyTimer: undefined,
    };
    this.sessions.add(s);
    socket.on('data', (chunk: Buffer) => {
      this.counters.bytesReceived += chunk.length;
      s.lastReceivedAt = this.clock.nowMicros();
      if (s.state !== 'closing') s.decoder.push(chunk);
    });
    socket.on('error', (error) => this.log.info('feed client socket error', { ...this.who(s), error: error.message }));
    socket.on('close', () => {
      if (s.destroyTimer !== undefined) clearTimeout(s.destroyTimer);
      if (s.state !== 'closing') {
        this.counters.disconnects++;
        this.log.info('feed client disconnected', this.who(s));
      }
      s.state = 'closing';
      this.unsubscribe(s);
      this.sessions.delete(s);
      resolveClosed();
    });
    if (this.closePromise !== undefined) this.disconnect(s, LogoutCode.SERVER_SHUTDOWN, 'server shutting down', 'info');
  }

  private who(s: Session): Record<string, unknown> {
    return { session: s.id, remote: s.remote, clientId: s.clientId };
  }

  private unsubscribe(s: Session): void {
    for (const id of s.subscriptions) this.channelsById.get(id)?.subscribers.delete(s);
    if (s.clientId !== undefined && this.sessionsByClientId.get(s.clientId) === s) this.sessionsByClientId.delete(s.clientId);
  }

  /** Writes `buf` (holding `frames` frames); enforces the slow-consumer bound. */
  private send(s: Session, buf: Buffer, frames: number): void {
    if (s.state === 'closing') return;
    s.socket.write(buf);
    this.counters.framesSent += frames;
    this.counters.bytesSent += buf.length;
    this.checkBacklog(s);
  }

  /** Writes only the frames of `out` on channels `s` subscribes to, as contiguous runs. */
  private sendRuns(s: Session, out: Buffer, n: number): void {
    if (s.state === 'closing') return;
    const offsets = this.frameOffsets;
    const chans = this.frameChannels;
    s.socket.cork();
    let runStart = -1;
    for (let i = 0; i <= n; i++) {
      const wanted = i < n && s.subscriptions.has(chans[i]!.id);
      if (wanted && runStart < 0) runStart = i;
      else if (!wanted && runStart >= 0) {
        s.socket.write(out.subarray(offsets[runStart], offsets[i]));
        this.counters.framesSent += i - runStart;
        this.counters.bytesSent += offsets[i]! - offsets[runStart]!;
        runStart = -1;
      }
    }
    s.socket.uncork();
    this.checkBacklog(s);
  }

  private checkBacklog(s: Session): void {
    const buffered = s.socket.writableLength;
    if (buffered > this.maxBufferedBytes && s.state !== 'closing') {
      this.counters.slowConsumerDisconnects++;
      this.disconnect(s, LogoutCode.SLOW_CONSUMER, `slow consumer: ${buffered} bytes unsent, limit ${this.maxBufferedBytes}`, 'warn');
    }
  }

  private sendControl(s: Session, m: FeedMessage): void {
    this.send(s, encode(m), 1);
  }

  /**
   * Ends a session: a final Logout (or the given frame), half-close, and a hard destroy after
   * the close grace in case the peer never reads. Idempotent.
   */
  private disconnect(s: Session, code: number, reason: string, level: 'info' | 'warn', finalFrame?: Buffer): void {
    if (s.state === 'closing') return;
    s.state = 'closing';
    this.counters.disconnects++;
    this.unsubscribe(s);
    this.log[level](`feed client disconnected: ${reason}`, { ...this.who(s), code });
    const socket = s.socket;
    if (socket.destroyed) return;
    try {
      socket.end(finalFrame ?? encode({ type: 'logout', code, reason: clip(reason) }));
    } catch (error) {
      this.log.info('feed client end failed', { ...this.who(s), error: error instanceof Error ? error.message : String(error) });
      socket.destroy();
      return;
    }
    s.destroyTimer = setTimeout(() => socket.destroy(), this.closeGraceMs);
    s.destroyTimer.unref();
  }

  private protocolError(s: Session, reason: string): void {
    this.counters.protocolErrors++;
    this.disconnect(s, LogoutCode.PROTOCOL_ERROR, `protocol error: ${reason}`, 'warn');
  }

  private onFrameError(s: Session, error: FrameError): void {
    if (error.fatal) {
      this.counters.framingErrors++;
      this.disconnect(s, LogoutCode.PROTOCOL_ERROR, `framing error: ${error.message}`, 'warn');
      return;
    }
    if (error.reason === 'HANDLER_ERROR') {
      // A bug in this server's message handling: keep serving others, drop this session.
      this.log.warn('feed server failed handling a client message', { ...this.who(s), error: error.message });
      this.disconnect(s, LogoutCode.PROTOCOL_ERROR, 'internal error handling your message', 'warn');
      return;
    }
    this.counters.malformedFrames++;
    s.malformed++;
    if (s.malformed <= MAX_LOGGED_MALFORMED) this.log.warn('malformed frame from feed client skipped', { ...this.who(s), reason: error.reason, error: error.message });
    if (s.malformed > this.maxMalformedFrames) {
      this.disconnect(s, LogoutCode.PROTOCOL_ERROR, `too many malformed frames (${s.malformed})`, 'warn');
    }
  }

  private onClientMessage(s: Session, m: FeedMessage): void {
    if (s.state === 'closing') return;
    this.counters.framesReceived++;
    switch (m.type) {
      case 'logon':
        this.onLogon(s, m);
        return;
      case 'heartbeat':
        return; // liveness is tracked on every received byte
      case 'retransmitRequest': {
        if (s.state !== 'loggedOn') return this.protocolError(s, 'retransmit request before logon');
        this.counters.retransmitRequests++;
        const ch = this.channelsById.get(m.channel);
        if (ch === undefined || !s.subscriptions.has(m.channel)) {
          this.reject(s, m.channel, m.fromSeq, m.toSeq, ch, RetransmitRejectCode.NOT_SUBSCRIBED, `not subscribed to channel ${m.channel}`);
          return;
        }
        this.serveRange(s, ch, m.fromSeq, m.toSeq);
        return;
      }
      case 'logout':
        this.disconnect(s, LogoutCode.NORMAL, `client logged out${m.reason ? `: ${m.reason}` : ''}`, 'info');
        return;
      default:
        this.protocolError(s, `a client may not send ${m.type}`);
    }
  }

  private onLogon(s: Session, m: LogonMessage): void {
    if (s.state !== 'awaitingLogon') return this.protocolError(s, 'logon on a session already logged on');
    const refuse = (code: number, reason: string) => {
      this.counters.logonRejects++;
      this.disconnect(s, code, `logon rejected: ${reason}`, 'warn', encode({ type: 'logonReject', code, reason: clip(reason) }));
    };
    if (this.closePromise !== undefined) return refuse(LogonRejectCode.SERVER_CLOSING, 'server shutting down');
    if (m.protocolVersion !== PROTOCOL_VERSION) return refuse(LogonRejectCode.UNSUPPORTED_VERSION, `protocol version ${m.protocolVersion} not supported (server speaks ${PROTOCOL_VERSION})`);
    if (this.authenticate !== undefined) {
      let ok = false;
      try {
        ok = this.authenticate(m.clientId, m.authToken);
      } catch (error) {
        this.log.warn('feed authenticate callback threw', { ...this.who(s), error: error instanceof Error ? error.message : String(error) });
      }
      if (!ok) return refuse(LogonRejectCode.AUTH_FAILED, `authentication failed for client ${m.clientId}`);
    }
    for (const sub of m.channels) {
      if (this.allowedChannels !== undefined && !this.allowedChannels.has(sub.channel)) return refuse(LogonRejectCode.UNKNOWN_CHANNEL, `unknown channel ${sub.channel}`);
    }
    const prior = this.sessionsByClientId.get(m.clientId);
    if (prior !== undefined && prior !== s) this.disconnect(prior, LogoutCode.SESSION_REPLACED, `session replaced by a new logon from ${s.remote}`, 'info');

    s.state = 'loggedOn';
    s.clientId = m.clientId;
    this.sessionsByClientId.set(m.clientId, s);
    const statuses: ChannelStatus[] = [];
    for (const sub of m.channels) {
      const ch = this.channel(sub.channel);
      ch.subscribers.add(s);
      s.subscriptions.add(ch.id);
      statuses.push({ channel: ch.id, lastSeq: ch.ring.lastSeq, firstAvailableSeq: ch.ring.firstSeq });
    }
    this.log.info('feed client logged on', { ...this.who(s), channels: m.channels });
    s.socket.cork();
    this.sendControl(s, {
      type: 'logonAck',
      heartbeatIntervalMs: this.heartbeatIntervalMs,
      serverTime: this.clock.nowMicros(),
      sessionId: this.sessionId,
      channels: statuses,
    });
    for (const sub of m.channels) {
      const ch = this.channelsById.get(sub.channel)!;
      if (sub.mode === 'RESUME' && sub.lastSeq < ch.ring.lastSeq && s.state === 'loggedOn') this.serveRange(s, ch, sub.lastSeq + 1, ch.ring.lastSeq);
    }
    s.socket.uncork();
  }

  private reject(s: Session, channel: number, fromSeq: number, toSeq: number, ch: Channel | undefined, code: number, reason: string): void {
    if (s.state === 'closing') return;
    this.counters.retransmitRejects++;
    this.sendControl(s, {
      type: 'retransmitReject',
      channel,
      fromSeq,
      toSeq,
      firstAvailableSeq: ch?.ring.firstSeq ?? 0,
      lastSeq: ch?.ring.lastSeq ?? 0,
      code,
      reason,
    });
  }

  /**
   * Serves `from..to` (inclusive) of a channel the session subscribes to: the part that fell
   * out of the ring is rejected (TOO_OLD); up to maxRetransmitPerRequest held frames follow in
   * one write, closed by a RetransmitEnd naming the range actually served.
   */
  private serveRange(s: Session, ch: Channel, from: number, to: number): void {
    if (s.state === 'closing') return; // e.g. cut off as a slow consumer by an earlier range
    const last = ch.ring.lastSeq;
    if (from < 1 || to < from) return this.reject(s, ch.id, from, to, ch, RetransmitRejectCode.INVALID_RANGE, `invalid range ${from}..${to}`);
    if (from > last) return this.reject(s, ch.id, from, to, ch, RetransmitRejectCode.NOT_YET, `range ${from}..${to} starts after the last seq ${last}`);
    if (to > last) to = last;
    const first = ch.ring.firstSeq;
    if (from < first) {
      this.reject(s, ch.id, from, Math.min(to, first - 1), ch, RetransmitRejectCode.TOO_OLD, `seqs before ${first} are no longer available`);
      if (to < first) return;
      from = first;
    }
    if (to - from + 1 > this.maxRetransmitPerRequest) to = from + this.maxRetransmitPerRequest - 1;
    const count = to - from + 1;
    const out = Buffer.allocUnsafe(ch.ring.byteLength(from, to) + HEADER_BYTES + RETRANSMIT_END_BODY_BYTES);
    const off = ch.ring.copyRange(from, to, out, 0);
    encodeInto({ type: 'retransmitEnd', channel: ch.id, fromSeq: from, toSeq: to }, out, off);
    this.counters.retransmissionsServed++;
    this.counters.retransmittedFrames += count;
    this.send(s, out, count + 1);
  }
}
