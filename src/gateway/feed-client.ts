/**
 * The gateway's feed client: one TCP connection to a feed server speaking the triquant feed
 * protocol (docs/protocols/feed.md), turned into ordered, de-duplicated `TickBatch`es.
 *
 * - connects with exponential back-off and jitter, logs on with RESUME per channel from the
 *   last seq it delivered (so a reconnect sees no gap and no duplicate), and recognises a new
 *   publishing session (LogonAck `sessionId`) — then every channel starts again from seq 1;
 * - exchanges heartbeats at the server's interval; a silent server (read timeout), a
 *   connect/logon timeout or a fatal framing error drops the connection and reconnects;
 * - decodes incrementally (split and coalesced frames) and skips malformed frames, counting them;
 * - per channel: duplicates (seq ≤ delivered) are dropped and counted; a gap buffers what
 *   follows (bounded), sends one RetransmitRequest at a time and delivers in order once
 *   filled; a range the server no longer has (RetransmitReject) is reported as an
 *   unrecoverable gap — event, counter, range, error log — and what follows is delivered;
 * - a lost *last* message of a burst leaves no later seq to reveal the gap, so once a channel
 *   that had data goes quiet (one heartbeat interval by default) the client sends one tail
 *   probe, RetransmitRequest(delivered + 1, MAX): the server answers NOT_YET if nothing is
 *   missing, or retransmits what was lost;
 * - delivers one batch per socket read (natural batching), messages in channel-seq order, as
 *   validated wire frames (`FrameTickBatch`: decoded only if an observer asks for `messages`);
 * - `pause()`/`resume()` stop and restart reading, for backpressure from reliable observers
 *   (TCP pushes back on the server, which cuts a consumer off only past its buffer bound; a
 *   resume then replays what was missed).
 */
import net from 'node:net';
import type { Socket } from 'node:net';
import type { Clock, Micros } from '../core/clock.ts';
import { LiveClock } from '../core/clock.ts';
import { TriquantError, ValidationError } from '../core/errors.ts';
import { createLogger } from '../obs/log.ts';
import type { Logger } from '../obs/log.ts';
import { copyDataFrame, decodeDataFrame, encode, FeedDecoder } from '../protocol/feed/codec.ts';
import type { DataFrame } from '../protocol/feed/codec.ts';
import { LogonRejectCode, LogoutCode, MAX_CHANNEL, MAX_CLIENT_ID_BYTES, PROTOCOL_VERSION, RetransmitRejectCode } from '../protocol/feed/frames.ts';
import type {
  ChannelSubscription,
  FeedMessage,
  FrameError,
  LogonAckMessage,
  LogonRejectMessage,
  LogoutMessage,
  RetransmitEndMessage,
  RetransmitRejectMessage,
} from '../protocol/feed/frames.ts';
import type { MarketDataMessage, TickBatch } from './types.ts';

/**
 * A batch straight from the feed: the validated wire frames, decoded into messages only when
 * an observer asks for `messages` (the Redis publisher transcodes the frames instead).
 */
export class FrameTickBatch implements TickBatch {
  readonly feed: string;
  readonly sessionId: number;
  readonly receivedAt: Micros;
  readonly frames: readonly DataFrame[];
  private decoded: readonly MarketDataMessage[] | undefined;

  constructor(feed: string, sessionId: number, receivedAt: Micros, frames: readonly DataFrame[]) {
    this.feed = feed;
    this.sessionId = sessionId;
    this.receivedAt = receivedAt;
    this.frames = frames;
  }

  get messages(): readonly MarketDataMessage[] {
    return (this.decoded ??= this.frames.map(decodeDataFrame));
  }
}

/** Misuse of a feed client (started twice, used after close) or a logon it could not complete. */
export class FeedClientError extends TriquantError {
  constructor(message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super('FEED_CLIENT', message, options);
  }
}

/** The server refused the Logon for a reason retrying will not fix (auth, version, channel). */
export class FeedLogonRejectedError extends TriquantError {
  /** LogonReject code (`LogonRejectCode`). */
  readonly rejectCode: number;
  readonly reason: string;

  constructor(feed: string, rejectCode: number, reason: string) {
    super('FEED_LOGON_REJECTED', `feed ${feed}: logon rejected (code ${rejectCode}): ${reason}`);
    this.rejectCode = rejectCode;
    this.reason = reason;
  }
}

/**
 * Where a consumer stands in a feed: enough to resume after a restart — e.g. the Redis
 * publisher's `lastPublished(feed)` checkpoint, which has this shape (with a Map).
 */
export interface FeedPosition {
  /** The publishing session the seqs belong to (LogonAck `sessionId`). */
  readonly sessionId: number;
  /** Last seq delivered (or durably handled) per channel. */
  readonly lastSeqByChannel: ReadonlyMap<number, number> | Readonly<Record<number, number>>;
}

export interface SeqRange {
  readonly channel: number;
  readonly fromSeq: number;
  readonly toSeq: number;
}

export interface UnrecoverableGap extends SeqRange {
  readonly sessionId: number;
  /** RetransmitReject code (`RetransmitRejectCode`; TOO_OLD = fell out of the server's ring). */
  readonly code: number;
  readonly reason: string;
  readonly at: Micros;
}

/** Everything worth knowing about a feed connection, as it happens (all also logged). */
export type FeedClientEvent =
  | { readonly type: 'connected'; readonly feed: string; readonly attempt: number }
  | { readonly type: 'loggedOn'; readonly feed: string; readonly sessionId: number; readonly heartbeatIntervalMs: number; readonly lastSeqByChannel: Readonly<Record<number, number>> }
  | { readonly type: 'disconnected'; readonly feed: string; readonly reason: string; readonly reconnectInMs: number | undefined }
  | { readonly type: 'newSession'; readonly feed: string; readonly previousSessionId: number; readonly sessionId: number; readonly reason: string; readonly previousLastSeqByChannel: Readonly<Record<number, number>> }
  | ({ readonly type: 'gap'; readonly feed: string } & SeqRange)
  | ({ readonly type: 'unrecoverableGap'; readonly feed: string } & UnrecoverableGap)
  | { readonly type: 'bufferOverflow'; readonly feed: string; readonly channel: number; readonly buffered: number }
  | { readonly type: 'logonRejected'; readonly feed: string; readonly code: number; readonly reason: string; readonly terminal: boolean };

export interface FeedClientOptions {
  /** Name of the feed in batches, events and logs (default `host:port`). */
  feed?: string;
  host: string;
  port: number;
  clientId: string;
  authToken?: string;
  /** Channels to subscribe (u16, each once). */
  channels: readonly number[];
  /** Receives one batch per socket read that yielded data. Must not throw (it is caught, logged and counted). */
  onBatch: (batch: TickBatch) => void;
  /** Optional event listener (connections, sessions, gaps, unrecoverable gaps...). */
  onEvent?: (event: FeedClientEvent) => void;
  /**
   * Positions recovered from elsewhere (e.g. the last entries in Redis). If the server's
   * sessionId matches, the listed channels resume from these seqs; otherwise it is a new
   * session and every channel starts from seq 1.
   */
  resumeFrom?: FeedPosition;
  /**
   * Where a channel with no known position starts on the first logon: `live` (the next
   * message published; default) or `earliest` (replay from seq 1, as far as the server's
   * ring reaches — what is already gone is reported as an unrecoverable gap).
   */
  startAt?: 'live' | 'earliest';
  clock?: Clock;
  logger?: Logger;
  /**
   * Reconnect back-off: first delay (default 100 ms), doubling per failed attempt up to the max
   * (default 10 s), each delay drawn from [d/2, d] (jitter). It starts over once a connection
   * has stayed logged on for the max delay.
   */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** Jitter source in [0, 1) (default Math.random). */
  random?: () => number;
  /** TCP connect must finish within this (default 5 s). */
  connectTimeoutMs?: number;
  /** LogonAck must arrive within this after the Logon (default 5 s). */
  logonTimeoutMs?: number;
  /** Nothing received for this many heartbeat intervals (the server's) → reconnect (default 3). */
  heartbeatTimeoutIntervals?: number;
  /** An unanswered RetransmitRequest is sent again after this (default 5 s). */
  retransmitTimeoutMs?: number;
  /**
   * A channel that received data and then stayed quiet this long gets one tail probe, which
   * finds a lost last message (default: the server's heartbeat interval; 0 = never).
   */
  tailProbeAfterMs?: number;
  /** Messages held per channel while a gap is being filled; beyond it the client reconnects and resumes (default 50,000). */
  maxBufferedPerChannel?: number;
  /** Timer resolution for heartbeats and timeouts (default 50 ms). */
  tickMs?: number;
  /** `close()` waits this long for the server to close after our Logout (default 1 s). */
  closeTimeoutMs?: number;
}

export type FeedClientState = 'idle' | 'connecting' | 'loggingOn' | 'live' | 'backoff' | 'failed' | 'closed';

export interface FeedClientStats {
  feed: string;
  state: FeedClientState;
  /** TCP connection established (logged on or not). */
  connected: boolean;
  loggedOn: boolean;
  paused: boolean;
  /** Current (or last seen) publishing session; undefined before the first logon without `resumeFrom`. */
  sessionId: number | undefined;
  connectAttempts: number;
  /** Connection attempts after the first one. */
  reconnects: number;
  connects: number;
  disconnects: number;
  bytesIn: number;
  /** Frames decoded (all types). */
  framesIn: number;
  /** Snapshots and trades decoded (duplicates included). */
  messagesIn: number;
  /** Snapshots and trades delivered in batches. */
  delivered: number;
  batches: number;
  /** Data messages at or below the delivered seq, or already buffered: dropped. */
  duplicates: number;
  /** Holes detected in a channel's seqs (each one opens a gap that retransmission fills). */
  gaps: number;
  retransmitRequests: number;
  /** Tail probes sent (RetransmitRequests after a quiet period; not in retransmitRequests). */
  tailProbes: number;
  retransmitTimeouts: number;
  retransmitRejects: number;
  unrecoverableGaps: number;
  /** Seqs lost for good (sum of the unrecoverable ranges). */
  unrecoverableMessages: number;
  /** The most recent unrecoverable ranges (at most 100). */
  unrecoverableGapRanges: UnrecoverableGap[];
  /** Frames skipped as malformed (unknown type, bad body). */
  malformed: number;
  /** Fatal framing errors (bad magic/version, oversize length): the connection was dropped. */
  framingErrors: number;
  /** Well-formed messages the server should not have sent (data before LogonAck, unknown channel, client-only types). */
  protocolErrors: number;
  heartbeatTimeouts: number;
  bufferOverflows: number;
  logonRejects: number;
  newSessions: number;
  /** Times `onBatch` threw. */
  callbackErrors: number;
  /** Messages currently held in gap buffers. */
  buffered: number;
  lastSeqByChannel: Record<number, number>;
}

type Counters = Omit<
  FeedClientStats,
  'feed' | 'state' | 'connected' | 'loggedOn' | 'paused' | 'sessionId' | 'unrecoverableGapRanges' | 'buffered' | 'lastSeqByChannel'
>;

interface Outstanding {
  fromSeq: number;
  toSeq: number;
  sentAt: Micros;
  /** A resume replay the server started by itself after LogonAck. */
  byServer: boolean;
  /** A tail probe (NOT_YET is the expected answer). */
  probe: boolean;
}

interface ChannelState {
  readonly channel: number;
  /** Last seq delivered (or skipped as unrecoverable); the RESUME position. */
  delivered: number;
  /** Whether `delivered` is a position in the current session (else: the start-at policy). */
  known: boolean;
  /** Highest seq known to exist (from data or LogonAck). */
  highestSeen: number;
  /** Messages above delivered + 1, waiting for a gap to fill. */
  readonly pending: Map<number, DataFrame>;
  outstanding: Outstanding | undefined;
  /** When the last data message arrived, and whether one did since the last tail probe. */
  lastDataAt: Micros;
  dataSinceProbe: boolean;
}

interface Connection {
  readonly id: number;
  readonly socket: Socket;
  readonly decoder: FeedDecoder;
  readonly openedAt: Micros;
  connected: boolean;
  loggedOn: boolean;
  loggedOnAt: Micros;
  dead: boolean;
  logonSentAt: Micros;
  lastReceivedAt: Micros;
  lastSentAt: Micros;
  heartbeatIntervalMs: number;
  /** Subscriptions sent in the Logon, by channel. */
  subscriptions: Map<number, ChannelSubscription>;
  /** Data delivered from the chunk being decoded (validated frames, not decoded: see FrameTickBatch). */
  out: DataFrame[];
  error: string | undefined;
  logout: LogoutMessage | undefined;
  malformedLogged: number;
}

const MAX_KEPT_RANGES = 100;
const MAX_LOGGED_MALFORMED = 5;
/** Logon rejects that retrying cannot fix. */
const TERMINAL_REJECTS: ReadonlySet<number> = new Set([
  LogonRejectCode.UNSUPPORTED_VERSION,
  LogonRejectCode.AUTH_FAILED,
  LogonRejectCode.UNKNOWN_CHANNEL,
  LogonRejectCode.INVALID_LOGON,
]);

function intOption(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) throw new ValidationError(`FeedClient option ${name} must be an integer ≥ ${min} (got ${value})`);
  return value;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class FeedClient {
  readonly feed: string;
  private readonly host: string;
  private readonly port: number;
  private readonly clientId: string;
  private readonly authToken: string | undefined;
  private readonly onBatch: (batch: TickBatch) => void;
  private readonly onEvent: ((event: FeedClientEvent) => void) | undefined;
  private readonly startAt: 'live' | 'earliest';
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly reconnectMinMs: number;
  private readonly reconnectMaxMs: number;
  private readonly random: () => number;
  private readonly connectTimeoutMicros: number;
  private readonly logonTimeoutMicros: number;
  private readonly heartbeatTimeoutIntervals: number;
  private readonly retransmitTimeoutMicros: number;
  private readonly tailProbeAfterMicros: number | undefined;
  private readonly maxBufferedPerChannel: number;
  private readonly tickMs: number;
  private readonly closeTimeoutMs: number;

  private readonly channels = new Map<number, ChannelState>();
  private readonly counters: Counters = {
    connectAttempts: 0,
    reconnects: 0,
    connects: 0,
    disconnects: 0,
    bytesIn: 0,
    framesIn: 0,
    messagesIn: 0,
    delivered: 0,
    batches: 0,
    duplicates: 0,
    gaps: 0,
    retransmitRequests: 0,
    tailProbes: 0,
    retransmitTimeouts: 0,
    retransmitRejects: 0,
    unrecoverableGaps: 0,
    unrecoverableMessages: 0,
    malformed: 0,
    framingErrors: 0,
    protocolErrors: 0,
    heartbeatTimeouts: 0,
    bufferOverflows: 0,
    logonRejects: 0,
    newSessions: 0,
    callbackErrors: 0,
  };
  private readonly unrecoverable: UnrecoverableGap[] = [];
  private state: FeedClientState = 'idle';
  private sessionId: number | undefined;
  private conn: Connection | undefined;
  private nextConnId = 1;
  private attempt = 0;
  private paused = false;
  private timer: NodeJS.Timeout | undefined;
  private backoffTimer: NodeJS.Timeout | undefined;
  private startPromise: Promise<void> | undefined;
  private settleStart: { resolve: () => void; reject: (error: Error) => void } | undefined;
  private closePromise: Promise<void> | undefined;

  constructor(options: FeedClientOptions) {
    if (typeof options.host !== 'string' || options.host.length === 0) throw new ValidationError('FeedClient option host must be a non-empty string');
    this.port = intOption('port', options.port, 1);
    if (this.port > 0xffff) throw new ValidationError(`FeedClient option port must be ≤ 65535 (got ${options.port})`);
    this.host = options.host;
    if (!/^[\x21-\x7e]+$/.test(options.clientId) || options.clientId.length > MAX_CLIENT_ID_BYTES) {
      throw new ValidationError(`FeedClient option clientId must be 1..${MAX_CLIENT_ID_BYTES} printable ASCII characters without spaces (got ${JSON.stringify(options.clientId)})`);
    }
    this.clientId = options.clientId;
    this.authToken = options.authToken;
    this.feed = options.feed ?? `${options.host}:${options.port}`;
    if (options.channels.length === 0) throw new ValidationError('FeedClient option channels must list at least one channel');
    for (const channel of options.channels) {
      if (!Number.isInteger(channel) || channel < 0 || channel > MAX_CHANNEL) throw new ValidationError(`FeedClient option channels: ${channel} is not a u16 channel id`);
      if (this.channels.has(channel)) throw new ValidationError(`FeedClient option channels: ${channel} is listed twice`);
      this.channels.set(channel, { channel, delivered: 0, known: false, highestSeen: 0, pending: new Map(), outstanding: undefined, lastDataAt: 0, dataSinceProbe: false });
    }
    if (typeof options.onBatch !== 'function') throw new ValidationError('FeedClient option onBatch must be a function');
    this.onBatch = options.onBatch;
    this.onEvent = options.onEvent;
    this.startAt = options.startAt ?? 'live';
    if (this.startAt !== 'live' && this.startAt !== 'earliest') throw new ValidationError(`FeedClient option startAt must be 'live' or 'earliest' (got ${String(this.startAt)})`);
    this.clock = options.clock ?? new LiveClock();
    this.log = options.logger ?? createLogger({ component: 'gateway.feed' });
    this.reconnectMinMs = intOption('reconnectMinMs', options.reconnectMinMs ?? 100, 1);
    this.reconnectMaxMs = intOption('reconnectMaxMs', options.reconnectMaxMs ?? 10_000, this.reconnectMinMs);
    this.random = options.random ?? Math.random;
    this.connectTimeoutMicros = intOption('connectTimeoutMs', options.connectTimeoutMs ?? 5_000, 1) * 1_000;
    this.logonTimeoutMicros = intOption('logonTimeoutMs', options.logonTimeoutMs ?? 5_000, 1) * 1_000;
    this.heartbeatTimeoutIntervals = intOption('heartbeatTimeoutIntervals', options.heartbeatTimeoutIntervals ?? 3, 1);
    this.retransmitTimeoutMicros = intOption('retransmitTimeoutMs', options.retransmitTimeoutMs ?? 5_000, 1) * 1_000;
    this.tailProbeAfterMicros = options.tailProbeAfterMs === undefined ? undefined : intOption('tailProbeAfterMs', options.tailProbeAfterMs, 0) * 1_000;
    this.maxBufferedPerChannel = intOption('maxBufferedPerChannel', options.maxBufferedPerChannel ?? 50_000, 1);
    this.tickMs = intOption('tickMs', options.tickMs ?? 50, 1);
    this.closeTimeoutMs = intOption('closeTimeoutMs', options.closeTimeoutMs ?? 1_000, 0);

    const resume = options.resumeFrom;
    if (resume !== undefined) {
      intOption('resumeFrom.sessionId', resume.sessionId, 1);
      this.sessionId = resume.sessionId;
      const positions = resume.lastSeqByChannel;
      const entries: [number | string, number][] = positions instanceof Map ? [...(positions as ReadonlyMap<number, number>)] : Object.entries(positions);
      for (const [key, seq] of entries) {
        const ch = this.channels.get(Number(key));
        if (ch === undefined) continue; // a channel no longer subscribed
        ch.delivered = intOption(`resumeFrom.lastSeqByChannel[${key}]`, seq, 0);
        ch.highestSeen = ch.delivered;
        ch.known = true;
      }
    }
  }

  /**
   * Starts connecting (and reconnecting, until `close()`). Resolves at the first LogonAck;
   * rejects with `FeedLogonRejectedError` when the server refuses the logon for good, or with
   * `FeedClientError` if the client is closed first. Network failures are retried, not thrown.
   */
  start(): Promise<void> {
    if (this.startPromise !== undefined) throw new FeedClientError(`feed ${this.feed}: already started`);
    if (this.state === 'closed') throw new FeedClientError(`feed ${this.feed}: closed`);
    this.startPromise = new Promise<void>((resolve, reject) => (this.settleStart = { resolve, reject }));
    this.startPromise.catch(() => {}); // the caller may not wait; the rejection is also logged
    this.timer = setInterval(() => this.runTimers(), this.tickMs);
    this.timer.unref();
    this.connect();
    return this.startPromise;
  }

  /** Stops reading from the socket (TCP backpressure) until `resume()`. Idempotent. */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.conn?.socket.pause();
  }

  /** Resumes reading after `pause()`. Idempotent. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const conn = this.conn;
    if (conn === undefined) return;
    // Nothing could be read while paused: restart the read and retransmit timers.
    const now = this.clock.nowMicros();
    conn.lastReceivedAt = now;
    for (const ch of this.channels.values()) if (ch.outstanding !== undefined) ch.outstanding.sentAt = now;
    conn.socket.resume();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** The position to resume from later (undefined before the first logon without `resumeFrom`). */
  position(): { sessionId: number; lastSeqByChannel: Record<number, number> } | undefined {
    if (this.sessionId === undefined) return undefined;
    const lastSeqByChannel: Record<number, number> = {};
    for (const ch of this.channels.values()) if (ch.known) lastSeqByChannel[ch.channel] = ch.delivered;
    return { sessionId: this.sessionId, lastSeqByChannel };
  }

  stats(): FeedClientStats {
    let buffered = 0;
    const lastSeqByChannel: Record<number, number> = {};
    for (const ch of this.channels.values()) {
      buffered += ch.pending.size;
      lastSeqByChannel[ch.channel] = ch.delivered;
    }
    return {
      feed: this.feed,
      state: this.state,
      connected: this.conn?.connected ?? false,
      loggedOn: this.conn?.loggedOn ?? false,
      paused: this.paused,
      sessionId: this.sessionId,
      ...this.counters,
      unrecoverableGapRanges: [...this.unrecoverable],
      buffered,
      lastSeqByChannel,
    };
  }

  /**
   * One timer tick (runs every `tickMs`; public so tests with a manual clock can drive it):
   * connect/logon timeouts, the read (heartbeat) timeout, our heartbeats, retransmit timeouts.
   */
  runTimers(): void {
    const conn = this.conn;
    if (conn === undefined || conn.dead) return;
    const now = this.clock.nowMicros();
    if (!conn.connected) {
      if (now - conn.openedAt > this.connectTimeoutMicros) this.drop(conn, `connect timeout after ${this.connectTimeoutMicros / 1000} ms`, 'warn');
      return;
    }
    if (!conn.loggedOn) {
      if (now - conn.logonSentAt > this.logonTimeoutMicros) this.drop(conn, `no LogonAck within ${this.logonTimeoutMicros / 1000} ms`, 'warn');
      return;
    }
    const intervalMicros = conn.heartbeatIntervalMs * 1_000;
    if (!this.paused && now - conn.lastReceivedAt > intervalMicros * this.heartbeatTimeoutIntervals) {
      this.counters.heartbeatTimeouts++;
      this.drop(conn, `heartbeat timeout: nothing received for ${Math.round((now - conn.lastReceivedAt) / 1000)} ms`, 'warn');
      return;
    }
    if (now - conn.lastSentAt >= intervalMicros - this.tickMs * 1_000) this.send(conn, { type: 'heartbeat', time: now });
    if (this.paused) return;
    const probeAfter = this.tailProbeAfterMicros ?? intervalMicros;
    for (const ch of this.channels.values()) {
      const o = ch.outstanding;
      if (o === undefined) {
        if (probeAfter > 0 && ch.dataSinceProbe && ch.pending.size === 0 && now - ch.lastDataAt >= probeAfter) this.probeTail(conn, ch, now);
        continue;
      }
      if (now - o.sentAt <= this.retransmitTimeoutMicros) continue;
      this.counters.retransmitTimeouts++;
      this.log.warn('retransmission not answered in time; asking again', { feed: this.feed, channel: ch.channel, fromSeq: o.fromSeq, toSeq: o.toSeq });
      ch.outstanding = undefined;
      this.maybeRequest(conn, ch);
    }
  }

  /** Logs out, closes the connection and stops reconnecting. Idempotent. */
  close(): Promise<void> {
    this.closePromise ??= this.shutdown();
    return this.closePromise;
  }

  private async shutdown(): Promise<void> {
    this.state = 'closed';
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.backoffTimer !== undefined) clearTimeout(this.backoffTimer);
    this.failStart(new FeedClientError(`feed ${this.feed}: closed before logon`));
    const conn = this.conn;
    this.conn = undefined;
    if (conn !== undefined && !conn.dead) {
      conn.dead = true;
      const socket = conn.socket;
      const closed = new Promise<void>((resolve) => {
        if (socket.destroyed) resolve();
        else socket.once('close', () => resolve());
      });
      if (conn.loggedOn && socket.writable) {
        socket.resume(); // read the server's answering Logout, so it can close
        socket.end(encode({ type: 'logout', code: LogoutCode.NORMAL, reason: 'client closing' }));
      } else {
        socket.destroy();
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.closeTimeoutMs)))]);
      clearTimeout(timer);
      socket.destroy();
    }
    this.log.info('feed client closed', { feed: this.feed, ...this.counters });
  }

  // ---------------------------------------------------------------------------------------------
  // Connection lifecycle

  private connect(): void {
    if (this.state === 'closed' || this.state === 'failed') return;
    this.backoffTimer = undefined;
    this.state = 'connecting';
    this.counters.connectAttempts++;
    if (this.counters.connectAttempts > 1) this.counters.reconnects++;
    const now = this.clock.nowMicros();
    const socket = net.createConnection({ host: this.host, port: this.port, noDelay: true });
    const conn: Connection = {
      id: this.nextConnId++,
      socket,
      decoder: new FeedDecoder({ onMessage: (m) => this.onMessage(conn, m), onDataFrame: (f) => this.onDataFrame(conn, f), onError: (e) => this.onFrameError(conn, e) }),
      openedAt: now,
      connected: false,
      loggedOn: false,
      loggedOnAt: 0,
      dead: false,
      logonSentAt: now,
      lastReceivedAt: now,
      lastSentAt: now,
      heartbeatIntervalMs: 1_000,
      subscriptions: new Map(),
      out: [],
      error: undefined,
      logout: undefined,
      malformedLogged: 0,
    };
    this.conn = conn;
    if (this.paused) socket.pause();
    socket.on('connect', () => this.onConnected(conn));
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('error', (error) => (conn.error ??= error.message));
    socket.on('close', () => {
      if (conn.dead) return;
      const why = conn.logout !== undefined ? `server logged out (code ${conn.logout.code}): ${conn.logout.reason}` : conn.error !== undefined ? conn.error : 'connection closed by the server';
      this.drop(conn, why, conn.logout?.code === LogoutCode.NORMAL ? 'info' : 'warn');
    });
  }

  private onConnected(conn: Connection): void {
    if (conn.dead) return;
    conn.connected = true;
    this.counters.connects++;
    this.state = 'loggingOn';
    conn.socket.setKeepAlive(true, 10_000);
    this.emit({ type: 'connected', feed: this.feed, attempt: this.attempt });
    this.log.info('feed connected', { feed: this.feed, host: this.host, port: this.port, attempt: this.attempt });
    const subscriptions: ChannelSubscription[] = [];
    for (const ch of this.channels.values()) {
      const sub: ChannelSubscription = ch.known
        ? { channel: ch.channel, mode: 'RESUME', lastSeq: ch.delivered }
        : this.startAt === 'earliest'
          ? { channel: ch.channel, mode: 'RESUME', lastSeq: 0 }
          : { channel: ch.channel, mode: 'LIVE', lastSeq: 0 };
      subscriptions.push(sub);
      conn.subscriptions.set(ch.channel, sub);
    }
    const logon: FeedMessage = { type: 'logon', protocolVersion: PROTOCOL_VERSION, clientId: this.clientId, channels: subscriptions };
    if (this.authToken !== undefined) logon.authToken = this.authToken;
    conn.logonSentAt = this.clock.nowMicros();
    this.send(conn, logon);
  }

  /**
   * Ends a connection (idempotent per connection): forgets gap buffers and outstanding
   * requests (a resume replays them) and schedules a reconnect unless closed or failed.
   */
  private drop(conn: Connection, reason: string, level: 'info' | 'warn' | 'error'): void {
    if (conn.dead) return;
    conn.dead = true;
    conn.socket.destroy();
    if (this.conn !== conn) return;
    this.conn = undefined;
    this.counters.disconnects++;
    for (const ch of this.channels.values()) {
      ch.pending.clear();
      ch.outstanding = undefined;
      ch.highestSeen = ch.delivered;
    }
    if (this.state === 'closed' || this.state === 'failed') {
      this.emit({ type: 'disconnected', feed: this.feed, reason, reconnectInMs: undefined });
      return;
    }
    // The back-off starts over only after a connection that stayed logged on for a while, so a
    // link that flaps right after logon (or two gateways sharing a clientId) backs off too.
    if (conn.loggedOn && this.clock.nowMicros() - conn.loggedOnAt >= this.reconnectMaxMs * 1_000) this.attempt = 0;
    const base = Math.min(this.reconnectMaxMs, this.reconnectMinMs * 2 ** Math.min(this.attempt, 30));
    const delay = Math.max(1, Math.round(base / 2 + this.random() * (base / 2)));
    this.attempt++;
    this.state = 'backoff';
    this.log[level](`feed disconnected: ${reason}`, { feed: this.feed, reconnectInMs: delay, lastSeqByChannel: this.stats().lastSeqByChannel });
    this.emit({ type: 'disconnected', feed: this.feed, reason, reconnectInMs: delay });
    this.backoffTimer = setTimeout(() => this.connect(), delay);
  }

  private send(conn: Connection, message: FeedMessage): void {
    const socket = conn.socket;
    if (conn.dead || socket.destroyed || !socket.writable) return;
    socket.write(encode(message));
    conn.lastSentAt = this.clock.nowMicros();
  }

  private emit(event: FeedClientEvent): void {
    if (this.onEvent === undefined) return;
    try {
      this.onEvent(event);
    } catch (error) {
      this.log.error('feed event listener threw', { feed: this.feed, event: event.type, error: errorText(error) });
    }
  }

  private failStart(error: Error): void {
    const settle = this.settleStart;
    this.settleStart = undefined;
    settle?.reject(error);
  }

  // ---------------------------------------------------------------------------------------------
  // Reading

  private onData(conn: Connection, chunk: Buffer): void {
    if (conn.dead) return;
    const receivedAt = this.clock.nowMicros();
    conn.lastReceivedAt = receivedAt;
    this.counters.bytesIn += chunk.length;
    conn.decoder.push(chunk);
    const messages = conn.out;
    if (messages.length === 0) return;
    conn.out = [];
    // Delivered even if the connection died while decoding: these are in order and counted as delivered.
    this.counters.batches++;
    this.counters.delivered += messages.length;
    try {
      this.onBatch(new FrameTickBatch(this.feed, this.sessionId!, receivedAt, messages));
    } catch (error) {
      this.counters.callbackErrors++;
      this.log.error('feed batch callback threw; the batch counts as delivered', { feed: this.feed, messages: messages.length, error: errorText(error) });
    }
  }

  private onFrameError(conn: Connection, error: FrameError): void {
    if (conn.dead) return;
    if (error.fatal) {
      this.counters.framingErrors++;
      this.drop(conn, error.message, 'warn');
      return;
    }
    if (error.reason === 'HANDLER_ERROR') {
      // A bug in this client's own message handling: state may be inconsistent; resume from scratch.
      this.log.error('feed client failed handling a message; reconnecting', { feed: this.feed, error: error.message });
      this.drop(conn, `internal error: ${error.message}`, 'error');
      return;
    }
    this.counters.malformed++;
    if (conn.malformedLogged < MAX_LOGGED_MALFORMED) {
      conn.malformedLogged++;
      this.log.warn('malformed feed frame skipped', { feed: this.feed, reason: error.reason, streamOffset: error.streamOffset, error: error.message, malformed: this.counters.malformed });
    }
  }

  private onMessage(conn: Connection, m: FeedMessage): void {
    if (conn.dead) return;
    this.counters.framesIn++;
    switch (m.type) {
      case 'heartbeat':
        return;
      case 'logonAck':
        if (conn.loggedOn) return this.protocolError(conn, 'second LogonAck', true);
        this.onLogonAck(conn, m);
        return;
      case 'logonReject':
        this.onLogonReject(conn, m);
        return;
      case 'logout':
        conn.logout = m; // the server closes next; reported then
        return;
      case 'retransmitEnd':
        this.onRetransmitEnd(conn, m);
        return;
      case 'retransmitReject':
        this.onRetransmitReject(conn, m);
        return;
      default:
        this.protocolError(conn, `a server may not send ${m.type}`, false);
    }
  }

  /** A snapshot or trade (validated by the decoder, passed on as bytes). */
  private onDataFrame(conn: Connection, f: DataFrame): void {
    if (conn.dead) return;
    this.counters.framesIn++;
    this.counters.messagesIn++;
    if (!conn.loggedOn) return this.protocolError(conn, `${f.type} before LogonAck`, true);
    this.onDataMessage(conn, f);
  }

  private protocolError(conn: Connection, reason: string, fatal: boolean): void {
    this.counters.protocolErrors++;
    this.log.warn(`feed protocol error: ${reason}`, { feed: this.feed, reconnect: fatal });
    if (fatal) this.drop(conn, `protocol error: ${reason}`, 'warn');
  }

  private onLogonReject(conn: Connection, m: LogonRejectMessage): void {
    this.counters.logonRejects++;
    const terminal = TERMINAL_REJECTS.has(m.code);
    this.emit({ type: 'logonRejected', feed: this.feed, code: m.code, reason: m.reason, terminal });
    if (terminal) {
      this.state = 'failed';
      const error = new FeedLogonRejectedError(this.feed, m.code, m.reason);
      this.log.error(`${error.message}; not reconnecting`, { feed: this.feed, code: m.code });
      this.failStart(error);
      if (this.timer !== undefined) clearInterval(this.timer);
    }
    this.drop(conn, `logon rejected (code ${m.code}): ${m.reason}`, 'error');
  }

  private onLogonAck(conn: Connection, m: LogonAckMessage): void {
    const now = this.clock.nowMicros();
    conn.loggedOn = true;
    conn.loggedOnAt = now;
    conn.heartbeatIntervalMs = Math.max(1, m.heartbeatIntervalMs);
    this.state = 'live';
    const status = new Map(m.channels.map((c) => [c.channel, c]));
    const previous = this.sessionId;
    let why: string | undefined;
    if (previous !== undefined && m.sessionId !== previous) why = `server session changed from ${previous} to ${m.sessionId}`;
    else if (previous !== undefined) {
      for (const ch of this.channels.values()) {
        const last = status.get(ch.channel)?.lastSeq ?? 0;
        if (ch.known && last < ch.delivered) {
          why = `channel ${ch.channel} went back from seq ${ch.delivered} to ${last} within session ${m.sessionId}`;
          break;
        }
      }
    }
    const before = this.stats().lastSeqByChannel;
    this.sessionId = m.sessionId;
    for (const ch of this.channels.values()) {
      const st = status.get(ch.channel);
      if (st === undefined) this.protocolError(conn, `LogonAck does not list channel ${ch.channel}`, false);
      const last = st?.lastSeq ?? 0;
      const sub = conn.subscriptions.get(ch.channel)!;
      ch.pending.clear();
      if (why !== undefined) ch.delivered = 0; // a new session numbers from 1 again
      else if (sub.mode === 'LIVE') ch.delivered = last;
      else ch.delivered = sub.lastSeq;
      ch.known = true;
      ch.highestSeen = Math.max(ch.delivered, last);
      // The server replays a RESUME position below its last seq by itself, right after the ack.
      ch.outstanding = sub.mode === 'RESUME' && sub.lastSeq < last ? { fromSeq: sub.lastSeq + 1, toSeq: last, sentAt: now, byServer: true, probe: false } : undefined;
      ch.dataSinceProbe = false;
    }
    if (why !== undefined) {
      this.counters.newSessions++;
      this.log.warn(`new feed session: ${why}; every channel restarts from seq 1 (what the old session published after our positions is not recoverable)`, {
        feed: this.feed,
        previousSessionId: previous,
        sessionId: m.sessionId,
        previousLastSeqByChannel: before,
      });
      this.emit({ type: 'newSession', feed: this.feed, previousSessionId: previous!, sessionId: m.sessionId, reason: why, previousLastSeqByChannel: before });
    }
    const positions = this.stats().lastSeqByChannel;
    this.log.info('feed logged on', { feed: this.feed, sessionId: m.sessionId, heartbeatIntervalMs: m.heartbeatIntervalMs, lastSeqByChannel: positions });
    this.emit({ type: 'loggedOn', feed: this.feed, sessionId: m.sessionId, heartbeatIntervalMs: m.heartbeatIntervalMs, lastSeqByChannel: positions });
    const settle = this.settleStart;
    this.settleStart = undefined;
    settle?.resolve();
    for (const ch of this.channels.values()) this.maybeRequest(conn, ch);
  }

  private onDataMessage(conn: Connection, m: DataFrame): void {
    const ch = this.channels.get(m.channel);
    if (ch === undefined) return this.protocolError(conn, `data on channel ${m.channel}, which is not subscribed`, false);
    const seq = m.seq;
    ch.lastDataAt = conn.lastReceivedAt;
    ch.dataSinceProbe = true;
    if (seq <= ch.delivered || ch.pending.has(seq)) {
      this.counters.duplicates++;
      return;
    }
    if (seq > ch.highestSeen + 1) {
      this.counters.gaps++;
      const gap = { channel: ch.channel, fromSeq: ch.highestSeen + 1, toSeq: seq - 1 };
      this.log.info('feed gap detected', { feed: this.feed, ...gap });
      this.emit({ type: 'gap', feed: this.feed, ...gap });
    }
    if (seq > ch.highestSeen) ch.highestSeen = seq;
    if (seq === ch.delivered + 1) {
      conn.out.push(m);
      ch.delivered = seq;
      if (ch.pending.size > 0) this.drainPending(conn, ch);
    } else {
      // Its own copy: a frame held for a while must not keep its whole socket chunk alive.
      ch.pending.set(seq, copyDataFrame(m));
      if (ch.pending.size > this.maxBufferedPerChannel) {
        this.counters.bufferOverflows++;
        this.emit({ type: 'bufferOverflow', feed: this.feed, channel: ch.channel, buffered: ch.pending.size });
        this.drop(conn, `gap buffer of channel ${ch.channel} over ${this.maxBufferedPerChannel} messages; reconnecting to resume from seq ${ch.delivered + 1}`, 'warn');
        return;
      }
    }
    if (ch.highestSeen > ch.delivered) this.maybeRequest(conn, ch);
  }

  /** Moves buffered messages that are now next in line to the output. */
  private drainPending(conn: Connection, ch: ChannelState): void {
    for (let next = ch.pending.get(ch.delivered + 1); next !== undefined; next = ch.pending.get(ch.delivered + 1)) {
      ch.pending.delete(next.seq);
      conn.out.push(next);
      ch.delivered = next.seq;
    }
  }

  /** Asks for the first hole of a channel, unless a request is already outstanding. */
  private maybeRequest(conn: Connection, ch: ChannelState): void {
    if (ch.outstanding !== undefined || !conn.loggedOn || conn.dead) return;
    const fromSeq = ch.delivered + 1;
    let toSeq = ch.highestSeen;
    if (ch.pending.size > 0) for (const seq of ch.pending.keys()) if (seq - 1 < toSeq) toSeq = seq - 1;
    if (toSeq < fromSeq) return;
    ch.outstanding = { fromSeq, toSeq, sentAt: this.clock.nowMicros(), byServer: false, probe: false };
    this.counters.retransmitRequests++;
    this.send(conn, { type: 'retransmitRequest', channel: ch.channel, fromSeq, toSeq });
  }

  /** Asks for anything after the last delivered seq: finds a lost last message of a burst. */
  private probeTail(conn: Connection, ch: ChannelState, now: Micros): void {
    ch.dataSinceProbe = false;
    const fromSeq = ch.delivered + 1;
    ch.outstanding = { fromSeq, toSeq: Number.MAX_SAFE_INTEGER, sentAt: now, byServer: false, probe: true };
    this.counters.tailProbes++;
    this.send(conn, { type: 'retransmitRequest', channel: ch.channel, fromSeq, toSeq: Number.MAX_SAFE_INTEGER });
  }

  private onRetransmitEnd(conn: Connection, m: RetransmitEndMessage): void {
    const ch = this.channels.get(m.channel);
    if (ch === undefined) return this.protocolError(conn, `RetransmitEnd for channel ${m.channel}, which is not subscribed`, false);
    ch.outstanding = undefined;
    // The served range exists: if some of it did not arrive (lost again), or less was served
    // than asked (the per-request cap), ask for the rest.
    if (m.toSeq > ch.highestSeen) ch.highestSeen = m.toSeq;
    this.maybeRequest(conn, ch);
  }

  private onRetransmitReject(conn: Connection, m: RetransmitRejectMessage): void {
    const ch = this.channels.get(m.channel);
    if (ch === undefined) return this.protocolError(conn, `RetransmitReject for channel ${m.channel}, which is not subscribed`, false);
    this.counters.retransmitRejects++;
    const o = ch.outstanding;
    if (m.code === RetransmitRejectCode.TOO_OLD) {
      this.skip(conn, ch, Math.max(m.fromSeq, ch.delivered + 1), m.toSeq, m.code, m.reason);
      // A partial reject is followed by the served rest and a RetransmitEnd.
      if (o === undefined || m.toSeq >= o.toSeq) ch.outstanding = undefined;
    } else if (m.code === RetransmitRejectCode.NOT_YET && o?.probe === true && ch.pending.size === 0) {
      ch.outstanding = undefined; // the tail probe's expected answer: nothing was lost
      if (m.lastSeq > ch.highestSeen) ch.highestSeen = m.lastSeq;
    } else {
      // NOT_YET, NOT_SUBSCRIBED, INVALID_RANGE: the server has nothing for the range. Should not
      // happen; if data above it is waiting, that hole cannot be filled — say so, never stall.
      ch.outstanding = undefined;
      this.log.error('feed retransmission refused', { feed: this.feed, channel: m.channel, fromSeq: m.fromSeq, toSeq: m.toSeq, code: m.code, reason: m.reason, serverLastSeq: m.lastSeq });
      if (ch.pending.size > 0) {
        let firstPending = Infinity;
        for (const seq of ch.pending.keys()) if (seq < firstPending) firstPending = seq;
        this.skip(conn, ch, ch.delivered + 1, firstPending - 1, m.code, m.reason);
      } else {
        ch.highestSeen = Math.max(ch.delivered, Math.min(ch.highestSeen, m.lastSeq));
      }
    }
    this.maybeRequest(conn, ch);
  }

  /** Gives up `[fromSeq, toSeq]` of a channel for good — loudly — and delivers what follows. */
  private skip(conn: Connection, ch: ChannelState, fromSeq: number, toSeq: number, code: number, reason: string): void {
    if (toSeq < fromSeq || toSeq <= ch.delivered) return;
    const gap: UnrecoverableGap = { channel: ch.channel, fromSeq, toSeq, sessionId: this.sessionId!, code, reason, at: this.clock.nowMicros() };
    this.counters.unrecoverableGaps++;
    this.counters.unrecoverableMessages += toSeq - fromSeq + 1;
    this.unrecoverable.push(gap);
    if (this.unrecoverable.length > MAX_KEPT_RANGES) this.unrecoverable.shift();
    this.log.error('feed gap cannot be recovered: messages lost for good', { feed: this.feed, ...gap, unrecoverableGaps: this.counters.unrecoverableGaps });
    this.emit({ type: 'unrecoverableGap', feed: this.feed, ...gap });
    ch.delivered = toSeq;
    if (ch.highestSeen < toSeq) ch.highestSeen = toSeq;
    for (const seq of ch.pending.keys()) if (seq <= toSeq) ch.pending.delete(seq);
    this.drainPending(conn, ch);
  }
}
