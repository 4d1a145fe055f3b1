/**
 * A TCP proxy for fault-injection tests: sits between a client and a server on 127.0.0.1 and
 * can cut connections (also in the middle of a frame), drop feed frames, delay traffic, stop
 * forwarding without closing (a silent peer), and inject raw bytes.
 *
 * Server → client traffic is parsed into feed-protocol frames by their header lengths (magic
 * "TQ", version, type, u32 body length; see src/protocol/feed/frames.ts), so drops and cuts are
 * frame-exact; bytes that are not feed frames switch that connection to plain pass-through.
 * Client → server traffic is passed through as is.
 */
import net from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { HEADER_BYTES, MAGIC_0, MAGIC_1, MessageType } from '../../src/protocol/feed/frames.ts';

/** A server → client feed frame as seen by the proxy. */
export interface ProxyFrame {
  /** Proxied connection number (1, 2, … in accept order). */
  readonly connection: number;
  /** Frame number on this connection's downstream (0-based, dropped frames included). */
  readonly index: number;
  /** Header type byte (`MessageType`). */
  readonly type: number;
  /** Snapshot/Trade only: channel and seq read from the body. */
  readonly channel: number | undefined;
  readonly seq: number | undefined;
  /** The whole frame (header included). */
  readonly bytes: Buffer;
}

export interface TcpProxyOptions {
  targetPort: number;
  targetHost?: string;
  /** Return true to drop a server → client frame. */
  dropFrame?: (frame: ProxyFrame) => boolean;
  /** Delay both directions by this many ms (order is kept). */
  delayMs?: number;
}

interface Pair {
  readonly id: number;
  readonly client: Socket;
  readonly server: Socket;
  /** Downstream bytes not yet a whole frame. */
  pending: Buffer;
  raw: boolean;
  frames: number;
  /** Forwards nothing more (being cut). */
  frozen: boolean;
  closed: boolean;
}

interface Delayed {
  readonly at: number;
  readonly socket: Socket;
  readonly bytes: Buffer;
}

export class TcpProxy {
  readonly port: number;
  dropFrame: ((frame: ProxyFrame) => boolean) | undefined;
  delayMs: number;
  /** While true nothing is forwarded (either way) and nothing is closed: a hung link. */
  blackholed = false;
  /** While true nothing server → client is forwarded (the client still reaches the server): a server gone silent. */
  blackholedDown = false;
  connections = 0;
  framesForwarded = 0;
  framesDropped = 0;
  bytesDown = 0;
  bytesUp = 0;
  cuts = 0;
  private readonly server: Server;
  private readonly pairs = new Set<Pair>();
  private targetPort: number;
  private targetHost: string;
  private cutArmed: { resolve: () => void; keepBytes: number | undefined } | undefined;
  private readonly delayed: Delayed[] = [];
  private delayTimer: NodeJS.Timeout | undefined;
  private closePromise: Promise<void> | undefined;

  private constructor(server: Server, port: number, options: TcpProxyOptions) {
    this.server = server;
    this.port = port;
    this.targetPort = options.targetPort;
    this.targetHost = options.targetHost ?? '127.0.0.1';
    this.dropFrame = options.dropFrame;
    this.delayMs = options.delayMs ?? 0;
  }

  static async start(options: TcpProxyOptions): Promise<TcpProxy> {
    const server = net.createServer({ noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const proxy = new TcpProxy(server, (server.address() as AddressInfo).port, options);
    server.on('connection', (client) => proxy.accept(client));
    return proxy;
  }

  /** Where new connections go (existing ones are kept). */
  setTarget(port: number, host = '127.0.0.1'): void {
    this.targetPort = port;
    this.targetHost = host;
  }

  /** Open proxied connections. */
  get openConnections(): number {
    return this.pairs.size;
  }

  /** Destroys every open connection now (both sides). */
  cutAll(): void {
    for (const pair of this.pairs) this.closePair(pair);
    this.cuts++;
  }

  /**
   * Arms a mid-frame cut: the next server → client frame (of any connection) is forwarded
   * only up to `keepBytes` of it (default: half), then both sides of that connection are
   * destroyed. Resolves when the cut happened.
   */
  cutMidFrame(keepBytes?: number): Promise<void> {
    return new Promise<void>((resolve) => (this.cutArmed = { resolve, keepBytes }));
  }

  /** Writes raw bytes to every client, between two frames. */
  inject(bytes: Buffer): void {
    for (const pair of this.pairs) this.write(pair.client, bytes);
  }

  close(): Promise<void> {
    this.closePromise ??= (async () => {
      if (this.delayTimer !== undefined) clearTimeout(this.delayTimer);
      for (const pair of this.pairs) this.closePair(pair);
      await new Promise<void>((resolve) => this.server.close(() => resolve()));
    })();
    return this.closePromise;
  }

  // ---------------------------------------------------------------------------------------------

  private accept(client: Socket): void {
    const id = ++this.connections;
    const server = net.createConnection({ port: this.targetPort, host: this.targetHost, noDelay: true });
    const pair: Pair = { id, client, server, pending: Buffer.alloc(0), raw: false, frames: 0, frozen: false, closed: false };
    this.pairs.add(pair);
    client.setNoDelay(true);
    client.on('data', (chunk: Buffer) => {
      if (pair.frozen || this.blackholed) return;
      this.bytesUp += chunk.length;
      this.write(server, chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (pair.frozen || this.blackholed || this.blackholedDown) return;
      this.bytesDown += chunk.length;
      this.downstream(pair, chunk);
    });
    for (const socket of [client, server]) {
      socket.on('error', () => {});
      socket.on('close', () => this.closePair(pair));
    }
  }

  private closePair(pair: Pair): void {
    if (pair.closed) return;
    pair.closed = true;
    pair.frozen = true;
    this.pairs.delete(pair);
    pair.client.destroy();
    pair.server.destroy();
  }

  private downstream(pair: Pair, chunk: Buffer): void {
    if (pair.raw) {
      this.write(pair.client, chunk);
      return;
    }
    const buf = pair.pending.length === 0 ? chunk : Buffer.concat([pair.pending, chunk]);
    const out: Buffer[] = [];
    let pos = 0;
    while (buf.length - pos >= HEADER_BYTES) {
      if (buf[pos] !== MAGIC_0 || buf[pos + 1] !== MAGIC_1) {
        pair.raw = true; // not the feed protocol (any more): pass everything through
        out.push(buf.subarray(pos));
        pos = buf.length;
        break;
      }
      const length = HEADER_BYTES + buf.readUInt32LE(pos + 4);
      if (buf.length - pos < length) break;
      const bytes = buf.subarray(pos, pos + length);
      pos += length;
      const type = bytes[3]!;
      const data = type === MessageType.SNAPSHOT || type === MessageType.TRADE;
      const frame: ProxyFrame = {
        connection: pair.id,
        index: pair.frames++,
        type,
        channel: data ? bytes.readUInt16LE(HEADER_BYTES) : undefined,
        seq: data ? Number(bytes.readBigUInt64LE(HEADER_BYTES + 2)) : undefined,
        bytes,
      };
      if (this.cutArmed !== undefined) {
        const armed = this.cutArmed;
        this.cutArmed = undefined;
        out.push(bytes.subarray(0, Math.min(length - 1, Math.max(1, armed.keepBytes ?? Math.floor(length / 2)))));
        this.write(pair.client, Buffer.concat(out));
        this.cuts++;
        // Let the partial frame reach the client before the connection dies.
        const cut = () => {
          this.closePair(pair);
          armed.resolve();
        };
        setTimeout(cut, this.delayMs + 5);
        pair.pending = Buffer.alloc(0);
        pair.frozen = true; // forward nothing more
        return;
      }
      if (this.dropFrame?.(frame)) {
        this.framesDropped++;
        continue;
      }
      this.framesForwarded++;
      out.push(bytes);
    }
    pair.pending = pos < buf.length ? Buffer.from(buf.subarray(pos)) : Buffer.alloc(0);
    if (out.length > 0) this.write(pair.client, out.length === 1 ? out[0]! : Buffer.concat(out));
  }

  private write(socket: Socket, bytes: Buffer): void {
    if (this.delayMs <= 0 && this.delayed.length === 0) {
      if (!socket.destroyed) socket.write(bytes);
      return;
    }
    this.delayed.push({ at: Date.now() + this.delayMs, socket, bytes: Buffer.from(bytes) });
    this.scheduleDelayed();
  }

  private scheduleDelayed(): void {
    if (this.delayTimer !== undefined) return;
    const next = this.delayed[0];
    if (next === undefined) return;
    this.delayTimer = setTimeout(() => {
      this.delayTimer = undefined;
      const now = Date.now();
      while (this.delayed.length > 0 && this.delayed[0]!.at <= now) {
        const item = this.delayed.shift()!;
        if (!item.socket.destroyed) item.socket.write(item.bytes);
      }
      this.scheduleDelayed();
    }, Math.max(0, next.at - Date.now()));
  }
}
