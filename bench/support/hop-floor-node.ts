/**
 * One process of the hop-floor bench (bench/hop-floor.bench.ts): `venue`, `gateway`,
 * `strategy` or `execution`, each its own OS process like the tick-to-order topology, but
 * doing no application work — only the same hops.
 *
 * Deliberately hand-written: plain `node:net` sockets, a length-prefixed binary frame and a
 * minimal RESP encoder/parser, no ioredis, no gRPC, no FIX. The point is the floor of the
 * machine (process wake-ups, loopback TCP, a real redis-server hop) without any library cost,
 * so that it can be subtracted from tick-to-order's figures.
 *
 * Frames (all hops): u16 LE total length, u8 kind, u32 LE id, padding. Kinds: DATA and
 * MARKED (venue → gateway, 100–300 bytes), ORDER (strategy → execution, 150 bytes),
 * VENUE_ORDER (execution → venue, 200 bytes).
 *
 * Stamps are `process.hrtime` (CLOCK_MONOTONIC, one clock for every process of the machine)
 * in µs. Protocol with the parent (IPC), as bench/support/order-path-node.ts: the child sends
 * {type:'ready', info}; the parent sends {type:'counters'} (→ {type:'counters', counters, at}),
 * {type:'collect'} (→ {type:'collected', data}) and {type:'stop'} (the child closes and exits 0).
 */
import net from 'node:net';
import { monoMicros, serveParent, type ChildHandlers } from './child-node.ts';

export type FloorRole = 'venue' | 'gateway' | 'strategy' | 'execution';

export interface FloorSettings {
  role: FloorRole;
  // venue
  /** Background messages per second (marked ones included); 0: only the marked messages. */
  ratePerSecond?: number;
  /** One marked message per this many ms. */
  markIntervalMs?: number;
  // gateway, strategy
  redisPort?: number;
  streamKey?: string;
  // gateway
  feedPort?: number;
  // execution
  venueOrderPort?: number;
  // strategy
  executionPort?: number;
}


const KIND_DATA = 1;
const KIND_MARKED = 2;
const KIND_ORDER = 3;
const KIND_VENUE_ORDER = 4;
const HEADER = 7;
const ORDER_BYTES = 150;
const VENUE_ORDER_BYTES = 200;

function frame(kind: number, id: number, size: number): Buffer {
  const b = Buffer.alloc(size, 0x61);
  b.writeUInt16LE(size, 0);
  b.writeUInt8(kind, 2);
  b.writeUInt32LE(id, 3);
  return b;
}

/** Splits a byte stream into frames; returns the bytes of the complete frames of this read. */
class FrameSplitter {
  private rest: Buffer | undefined;

  push(chunk: Buffer, onFrame: (kind: number, id: number) => void): Buffer {
    const buf = this.rest === undefined ? chunk : Buffer.concat([this.rest, chunk]);
    const end = forEachFrame(buf, onFrame);
    this.rest = end < buf.length ? buf.subarray(end) : undefined;
    return buf.subarray(0, end);
  }
}

/** Calls onFrame for each complete frame in buf; returns the end of the last complete one. */
function forEachFrame(buf: Buffer, onFrame: (kind: number, id: number) => void): number {
  let at = 0;
  while (buf.length - at >= HEADER) {
    const size = buf.readUInt16LE(at);
    if (size < HEADER) throw new Error(`corrupt frame of ${size} bytes`);
    if (buf.length - at < size) break;
    onFrame(buf.readUInt8(at + 2), buf.readUInt32LE(at + 3));
    at += size;
  }
  return at;
}

// ---- minimal RESP2 ---------------------------------------------------------------------------

type Resp = Buffer | string | number | null | RespError | Resp[];

class RespError {
  readonly message: string;
  constructor(message: string) {
    this.message = message;
  }
}

const INCOMPLETE = Symbol('incomplete');

/** Parses one RESP2 value at `at`; INCOMPLETE when the buffer ends first. */
function parseResp(buf: Buffer, at: number): { value: Resp; next: number } | typeof INCOMPLETE {
  const eol = buf.indexOf('\r\n', at + 1, 'latin1');
  if (eol < 0) return INCOMPLETE;
  const type = buf[at];
  const line = buf.toString('latin1', at + 1, eol);
  switch (type) {
    case 0x2b: // +
      return { value: line, next: eol + 2 };
    case 0x2d: // -
      return { value: new RespError(line), next: eol + 2 };
    case 0x3a: // :
      return { value: Number(line), next: eol + 2 };
    case 0x24: { // $
      const n = Number(line);
      if (n < 0) return { value: null, next: eol + 2 };
      if (buf.length < eol + 2 + n + 2) return INCOMPLETE;
      return { value: buf.subarray(eol + 2, eol + 2 + n), next: eol + 2 + n + 2 };
    }
    case 0x2a: { // *
      const n = Number(line);
      if (n < 0) return { value: null, next: eol + 2 };
      const items: Resp[] = [];
      let next = eol + 2;
      for (let i = 0; i < n; i++) {
        const item = parseResp(buf, next);
        if (item === INCOMPLETE) return INCOMPLETE;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new Error(`unexpected RESP type byte ${String(type)}`);
  }
}

/** Feeds socket chunks, hands out each complete reply in order. */
class RespReader {
  private pending: Buffer | undefined;

  push(chunk: Buffer, onReply: (reply: Resp) => void): void {
    const buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    let at = 0;
    while (at < buf.length) {
      const r = parseResp(buf, at);
      if (r === INCOMPLETE) break;
      at = r.next;
      onReply(r.value);
    }
    this.pending = at < buf.length ? buf.subarray(at) : undefined;
  }
}

/** One RESP command as a single buffer (so one write syscall); the last argument may be binary. */
function command(args: ReadonlyArray<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`, 'latin1')];
  for (const arg of args) {
    const b = typeof arg === 'string' ? Buffer.from(arg, 'latin1') : arg;
    parts.push(Buffer.from(`$${b.length}\r\n`, 'latin1'), b, CRLF);
  }
  return Buffer.concat(parts);
}
const CRLF = Buffer.from('\r\n', 'latin1');

// ---- sockets -----------------------------------------------------------------------------------

let stopping = false;
/** Connections that broke before `stop` (reported to the parent, which fails the run on any). */
const broken: string[] = [];

function fail(where: string, error: unknown): void {
  if (stopping) return; // peers close while everything stops
  broken.push(`${where}: ${error instanceof Error ? error.message : String(error)}`);
}

function connect(port: number, where: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.setNoDelay(true);
      socket.on('error', (error) => fail(where, error));
      socket.on('close', () => fail(where, new Error('connection closed')));
      resolve(socket);
    });
  });
}

/** A server on a free loopback port; `close()` also ends its accepted connections. */
function listen(onSocket: (socket: net.Socket) => void, where: string): Promise<{ port: number; close(): Promise<void> }> {
  const accepted = new Set<net.Socket>();
  return new Promise((resolve, reject) => {
    const server = net.createServer({ noDelay: true }, (socket) => {
      socket.setNoDelay(true);
      accepted.add(socket);
      socket.on('error', (error) => fail(where, error));
      socket.on('close', () => accepted.delete(socket));
      onSocket(socket);
    });
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({
      port: (server.address() as net.AddressInfo).port,
      close: () => new Promise<void>((done) => {
        server.close(() => done());
        for (const socket of accepted) socket.destroy();
      }),
    }));
  });
}

type Handlers = ChildHandlers;
type Started = { info: Record<string, unknown>; handlers: Handlers };

// ---- roles ---------------------------------------------------------------------------------------

/**
 * Emits market data to the gateway once it connects: every 1 ms the messages due at the
 * configured rate (about 10 at 10,000/s) as one write; the last one of the burst after each
 * mark interval is MARKED and its emit time kept. Rate 0: one MARKED message per mark
 * interval and nothing else. Also accepts execution's order connection and stamps arrivals.
 */
async function startVenue(s: FloorSettings): Promise<Started> {
  const rate = s.ratePerSecond ?? 10_000;
  const markUs = (s.markIntervalMs ?? 50) * 1000;
  const emitted: Array<[number, number]> = [];
  const arrivals: Array<[number, number]> = [];
  let messages = 0;
  let bursts = 0;
  let nextId = 1;
  let seed = 7;
  const size = () => {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    return 100 + (seed % 201); // 100–300 bytes
  };
  let timer: NodeJS.Timeout | undefined;
  const feed = await listen((socket) => {
    if (timer !== undefined) {
      socket.destroy();
      fail('venue feed', new Error('a second feed client'));
      return;
    }
    socket.on('data', () => undefined);
    const startedAt = monoMicros();
    let nextMarkAt = startedAt + markUs;
    const emit = () => {
      const now = monoMicros();
      // Due by the rate since the start, so timer lateness does not lower the delivered rate.
      let due = rate > 0 ? Math.floor(((now - startedAt) * rate) / 1e6) - messages : 0;
      const mark = rate === 0 || now >= nextMarkAt;
      if (mark) {
        nextMarkAt = now + markUs;
        if (due < 1) due = 1;
      }
      if (due < 1) return;
      const frames: Buffer[] = [];
      for (let i = 0; i < due; i++) frames.push(frame(mark && i === due - 1 ? KIND_MARKED : KIND_DATA, nextId++, size()));
      const burst = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
      messages += due;
      bursts++;
      if (mark) emitted.push([nextId - 1, monoMicros()]);
      socket.write(burst);
    };
    timer = setInterval(emit, rate > 0 ? 1 : markUs / 1000);
  }, 'venue feed');
  const orders = await listen((socket) => {
    const splitter = new FrameSplitter();
    socket.on('data', (chunk: Buffer) => {
      const at = monoMicros();
      try {
        splitter.push(chunk, (kind, id) => {
          if (kind === KIND_VENUE_ORDER) arrivals.push([id, at]);
        });
      } catch (error) {
        fail('venue orders', error);
      }
    });
  }, 'venue orders');
  return {
    info: { feedPort: feed.port, orderPort: orders.port },
    handlers: {
      counters: () => ({ messages, bursts, marked: emitted.length, arrivals: arrivals.length }),
      collect: () => ({ emitted, arrivals }),
      stop: async () => {
        clearInterval(timer);
        await Promise.all([feed.close(), orders.close()]);
      },
    },
  };
}

/**
 * Reads the feed; per read, one `XADD <key> MAXLEN ~ 10000 * d <complete frames of the read>`
 * (our gateway batches too), written without waiting for earlier replies; replies are consumed
 * in order to count acknowledged messages and stamp the marked ones.
 */
async function startGateway(s: FloorSettings): Promise<Started> {
  const redis = await connect(s.redisPort!, 'gateway redis');
  const key = s.streamKey!;
  const head = [`XADD`, key, 'MAXLEN', '~', '10000', '*', 'd'];
  type Pending = { count: number; marks: Array<[number, number]> };
  const inFlight: Pending[] = [];
  const stamps: Array<[number, number, number]> = []; // id, received, XADD reply
  let messagesIn = 0;
  let messagesAcked = 0;
  let xadds = 0;
  let errors = 0;
  let firstError = '';
  const reader = new RespReader();
  redis.on('data', (chunk: Buffer) => {
    const at = monoMicros();
    try {
      reader.push(chunk, (reply) => {
        const p = inFlight.shift();
        if (p === undefined) throw new Error('a reply without a command');
        if (reply instanceof RespError) {
          errors++;
          firstError ||= reply.message;
          return;
        }
        messagesAcked += p.count;
        for (const [id, received] of p.marks) stamps.push([id, received, at]);
      });
    } catch (error) {
      fail('gateway redis', error);
    }
  });
  const feed = await connect(s.feedPort!, 'gateway feed');
  const splitter = new FrameSplitter();
  feed.on('data', (chunk: Buffer) => {
    const at = monoMicros();
    const pending: Pending = { count: 0, marks: [] };
    try {
      const complete = splitter.push(chunk, (kind, id) => {
        pending.count++;
        if (kind === KIND_MARKED) pending.marks.push([id, at]);
      });
      if (pending.count === 0) return;
      messagesIn += pending.count;
      xadds++;
      inFlight.push(pending);
      redis.write(command([...head, complete]));
    } catch (error) {
      fail('gateway feed', error);
    }
  });
  return {
    info: {},
    handlers: {
      counters: () => ({ messagesIn, messagesAcked, xadds, errors }),
      collect: () => ({ stamps, firstError }),
      stop: async () => {
        stopping = true;
        feed.destroy();
        redis.destroy();
      },
    },
  };
}

/**
 * A blocking XREAD loop from the newest entry on (`$`, then the last id seen); for each MARKED
 * message read, one small order to execution.
 */
async function startStrategy(s: FloorSettings): Promise<Started> {
  const execution = await connect(s.executionPort!, 'strategy execution');
  execution.on('data', () => undefined);
  const redis = await connect(s.redisPort!, 'strategy redis');
  const key = s.streamKey!;
  const stamps: Array<[number, number, number]> = []; // id, read, order written
  let lastId = '$';
  let reads = 0;
  let entries = 0;
  let messages = 0;
  const xread = () => redis.write(command(['XREAD', 'BLOCK', '0', 'STREAMS', key, lastId]));
  const reader = new RespReader();
  redis.on('data', (chunk: Buffer) => {
    const at = monoMicros();
    try {
      reader.push(chunk, (reply) => {
        if (reply instanceof RespError) throw new Error(`XREAD: ${reply.message}`);
        reads++;
        // [[key, [[id, [field, value]], ...]]] or null (never, with BLOCK 0)
        const streams = (reply ?? []) as Resp[][];
        for (const stream of streams) {
          for (const entry of stream[1] as Resp[][]) {
            entries++;
            lastId = (entry[0] as Buffer).toString('latin1');
            const payload = (entry[1] as Resp[])[1] as Buffer;
            forEachFrame(payload, (kind, id) => {
              messages++;
              if (kind !== KIND_MARKED) return;
              execution.write(frame(KIND_ORDER, id, ORDER_BYTES));
              stamps.push([id, at, monoMicros()]);
            });
          }
        }
        xread();
      });
    } catch (error) {
      fail('strategy redis', error);
    }
  });
  xread();
  return {
    info: {},
    handlers: {
      counters: () => ({ reads, entries, messages, orders: stamps.length }),
      collect: () => ({ stamps }),
      stop: async () => {
        stopping = true;
        redis.destroy();
        execution.destroy();
      },
    },
  };
}

/** Forwards each order from the strategy to the venue as a 200-byte message. */
async function startExecution(s: FloorSettings): Promise<Started> {
  const venue = await connect(s.venueOrderPort!, 'execution venue');
  venue.on('data', () => undefined);
  const stamps: Array<[number, number, number]> = []; // id, received, forwarded
  const inbound = await listen((socket) => {
    const splitter = new FrameSplitter();
    socket.on('data', (chunk: Buffer) => {
      const at = monoMicros();
      try {
        splitter.push(chunk, (kind, id) => {
          if (kind !== KIND_ORDER) return;
          venue.write(frame(KIND_VENUE_ORDER, id, VENUE_ORDER_BYTES));
          stamps.push([id, at, monoMicros()]);
        });
      } catch (error) {
        fail('execution orders', error);
      }
    });
  }, 'execution orders');
  return {
    info: { port: inbound.port },
    handlers: {
      counters: () => ({ orders: stamps.length }),
      collect: () => ({ stamps }),
      stop: async () => {
        stopping = true;
        venue.destroy();
        await inbound.close();
      },
    },
  };
}

async function main(): Promise<void> {
  const settings = JSON.parse(process.env.TRIQUANT_BENCH_FLOOR_NODE ?? '{}') as FloorSettings;
  const start = { venue: startVenue, gateway: startGateway, strategy: startStrategy, execution: startExecution }[settings.role];
  const { info, handlers } = await start(settings);
  serveParent(info, {
    ...handlers,
    stop: () => {
      stopping = true;
      return handlers.stop();
    },
  }, () => ({ broken }));
}

if (import.meta.main) {
  main().catch((error: unknown) => {
    process.stderr.write(`hop-floor node failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
