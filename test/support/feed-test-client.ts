/**
 * A minimal feed client for tests (the production client lives in the gateway). It logs on,
 * decodes everything, re-orders each channel by seq, asks for retransmission of gaps, and
 * can simulate frame loss (`drop`) and a consumer that stops reading (`pause`).
 */
import net from 'node:net';
import type { Socket } from 'node:net';
import { encode, FeedDecoder } from '../../src/protocol/feed/codec.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/feed/frames.ts';
import type {
  ChannelSubscription,
  DataMessage,
  FeedMessage,
  FrameError,
  LogonAckMessage,
  LogonRejectMessage,
  LogoutMessage,
  RetransmitEndMessage,
  RetransmitRejectMessage,
} from '../../src/protocol/feed/frames.ts';

export interface FeedTestClientOptions {
  port: number;
  host?: string;
  /** Return true to discard a data message on arrival (simulated loss). */
  drop?: (message: DataMessage) => boolean;
  /** Send RetransmitRequests for gaps (default true). */
  autoRecover?: boolean;
  /** Send a heartbeat every this many ms (default: never). */
  heartbeatMs?: number;
}

interface ChannelTrack {
  nextSeq: number;
  /** Highest seq known to exist (from LogonAck or data). */
  knownLast: number;
  delivered: DataMessage[];
  pending: Map<number, DataMessage>;
  outstanding: { fromSeq: number; toSeq: number } | undefined;
  lost: { fromSeq: number; toSeq: number }[];
}

export class FeedTestClient {
  readonly socket: Socket;
  /** Every decoded message in arrival order (dropped data messages excluded). */
  readonly messages: FeedMessage[] = [];
  readonly errors: FrameError[] = [];
  readonly rejects: RetransmitRejectMessage[] = [];
  readonly ends: RetransmitEndMessage[] = [];
  logonResponse: LogonAckMessage | LogonRejectMessage | undefined;
  logout: LogoutMessage | undefined;
  duplicates = 0;
  dropped = 0;
  retransmitRequestsSent = 0;
  isClosed = false;
  readonly closed: Promise<void>;
  private readonly decoder: FeedDecoder;
  private readonly tracks = new Map<number, ChannelTrack>();
  private readonly options: FeedTestClientOptions;
  private subscriptions: ChannelSubscription[] = [];
  private heartbeatTimer: NodeJS.Timeout | undefined;

  private constructor(socket: Socket, options: FeedTestClientOptions) {
    this.socket = socket;
    this.options = options;
    this.decoder = new FeedDecoder({ onMessage: (m) => this.onMessage(m), onError: (e) => this.errors.push(e) });
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
        resolve();
      }),
    );
  }

  static async connect(options: FeedTestClientOptions): Promise<FeedTestClient> {
    const socket = net.createConnection({ port: options.port, host: options.host ?? '127.0.0.1', noDelay: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new FeedTestClient(socket, options);
    if (options.heartbeatMs !== undefined) {
      client.heartbeatTimer = setInterval(() => client.send({ type: 'heartbeat', time: Date.now() * 1000 }), options.heartbeatMs);
    }
    return client;
  }

  send(message: FeedMessage): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(encode(message));
  }

  sendRaw(bytes: Uint8Array): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(bytes);
  }

  /** Sends a Logon and waits for LogonAck or LogonReject. */
  async logon(clientId: string, channels: ChannelSubscription[], extra: { authToken?: string; protocolVersion?: number } = {}): Promise<LogonAckMessage | LogonRejectMessage> {
    this.subscriptions = channels;
    const logon: FeedMessage = { type: 'logon', protocolVersion: extra.protocolVersion ?? PROTOCOL_VERSION, clientId, channels };
    if (extra.authToken !== undefined) logon.authToken = extra.authToken;
    this.send(logon);
    await this.waitFor(() => this.logonResponse !== undefined, 'a logon response');
    return this.logonResponse!;
  }

  requestRetransmit(channel: number, fromSeq: number, toSeq: number): void {
    this.retransmitRequestsSent++;
    this.send({ type: 'retransmitRequest', channel, fromSeq, toSeq });
  }

  /** In-order, gap-free data delivered on a channel. */
  delivered(channel: number): DataMessage[] {
    return this.tracks.get(channel)?.delivered ?? [];
  }

  /** The last seq delivered in order on a channel (what a reconnect resumes from). */
  lastSeq(channel: number): number {
    const track = this.tracks.get(channel);
    return track === undefined ? 0 : track.nextSeq - 1;
  }

  lost(channel: number): { fromSeq: number; toSeq: number }[] {
    return this.tracks.get(channel)?.lost ?? [];
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Polls `predicate` every few ms; rejects after `timeoutMs`. */
  async waitFor(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Logs out politely and waits for the connection to close. */
  async logoutAndClose(): Promise<void> {
    this.send({ type: 'logout', code: 0, reason: 'bye' });
    this.socket.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.closed, new Promise((resolve) => (timer = setTimeout(resolve, 2_000)))]);
    clearTimeout(timer);
    this.destroy();
  }

  destroy(): void {
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    this.socket.destroy();
  }

  private onMessage(m: FeedMessage): void {
    if (m.type === 'snapshot' || m.type === 'trade') {
      if (this.options.drop?.(m)) {
        this.dropped++;
        return;
      }
      this.messages.push(m);
      this.onData(m);
      return;
    }
    this.messages.push(m);
    switch (m.type) {
      case 'logonAck':
        this.logonResponse = m;
        for (const sub of this.subscriptions) {
          const status = m.channels.find((c) => c.channel === sub.channel);
          const last = status?.lastSeq ?? 0;
          const resumeFrom = sub.mode === 'RESUME' ? sub.lastSeq : last;
          this.tracks.set(sub.channel, {
            nextSeq: resumeFrom + 1,
            knownLast: last,
            delivered: [],
            pending: new Map(),
            // The server replays a resume gap on its own, right after the ack.
            outstanding: resumeFrom < last ? { fromSeq: resumeFrom + 1, toSeq: last } : undefined,
            lost: [],
          });
        }
        return;
      case 'logonReject':
        this.logonResponse = m;
        return;
      case 'logout':
        this.logout = m;
        return;
      case 'retransmitEnd': {
        this.ends.push(m);
        const track = this.tracks.get(m.channel);
        if (track === undefined) return;
        track.outstanding = undefined;
        this.maybeRequest(m.channel, track);
        return;
      }
      case 'retransmitReject': {
        this.rejects.push(m);
        const track = this.tracks.get(m.channel);
        if (track === undefined) return;
        track.lost.push({ fromSeq: m.fromSeq, toSeq: m.toSeq });
        if (track.nextSeq >= m.fromSeq && track.nextSeq <= m.toSeq) {
          track.nextSeq = m.toSeq + 1;
          this.drain(track);
        }
        // A partial reject is followed by the served rest and a RetransmitEnd.
        if (track.outstanding === undefined || m.toSeq >= track.outstanding.toSeq) {
          track.outstanding = undefined;
          this.maybeRequest(m.channel, track);
        }
        return;
      }
      default:
        return;
    }
  }

  private onData(m: DataMessage): void {
    const track = this.tracks.get(m.channel);
    if (track === undefined) return;
    if (m.seq > track.knownLast) track.knownLast = m.seq;
    if (m.seq < track.nextSeq || track.pending.has(m.seq)) {
      this.duplicates++;
      return;
    }
    if (m.seq === track.nextSeq) {
      track.delivered.push(m);
      track.nextSeq++;
      this.drain(track);
    } else {
      track.pending.set(m.seq, m);
    }
    this.maybeRequest(m.channel, track);
  }

  private drain(track: ChannelTrack): void {
    for (let next = track.pending.get(track.nextSeq); next !== undefined; next = track.pending.get(track.nextSeq)) {
      track.pending.delete(track.nextSeq);
      track.delivered.push(next);
      track.nextSeq++;
    }
    // Anything pending below nextSeq (after a skip over a lost range) is stale.
    for (const seq of track.pending.keys()) if (seq < track.nextSeq) track.pending.delete(seq);
  }

  private maybeRequest(channel: number, track: ChannelTrack): void {
    if (this.options.autoRecover === false || track.outstanding !== undefined) return;
    let gapEnd = track.knownLast;
    for (const seq of track.pending.keys()) if (seq - 1 < gapEnd) gapEnd = seq - 1;
    if (track.pending.size === 0 && track.nextSeq > track.knownLast) return;
    if (gapEnd < track.nextSeq) return;
    track.outstanding = { fromSeq: track.nextSeq, toSeq: gapEnd };
    this.requestRetransmit(channel, track.nextSeq, gapEnd);
  }
}
