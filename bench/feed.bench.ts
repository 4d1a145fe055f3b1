/**
 * Feed throughput: a FeedServer on 127.0.0.1 pushes synthetic Level-2 snapshots in batches
 * to one client that decodes every frame. The client runs in a worker thread (this same
 * file, see `runClient`) so encoding and decoding do not share one event loop, as in
 * production where sim and gateway are separate processes. Only events the client actually
 * decoded, in sequence, count.
 *
 *   node_modules/.bin/node bin/triquant.js bench feed --json
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { BenchContext, BenchDefinition } from './harness.ts';
import { encode, FeedDecoder } from '../src/protocol/feed/codec.ts';
import type { PublishableMessage } from '../src/protocol/feed/codec.ts';
import { SNAPSHOT_FRAME_BYTES } from '../src/protocol/feed/frames.ts';
import type { SnapshotMessage } from '../src/protocol/feed/frames.ts';
import { FeedServer } from '../src/sim/feed-server.ts';

const CLIENT_ROLE = 'feed-bench-client';
const CHANNEL = 1;
const BATCH = 256;
/** Publisher stops adding batches while the client's socket has this much unsent. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;
const MAX_BATCHES_PER_TURN = 16;

interface ClientReport {
  events: number;
  bytes: number;
  malformed: number;
  gaps: number;
}

type FromClient = { kind: 'ready' } | ({ kind: 'report' } & ClientReport) | { kind: 'error'; message: string };

// ---------------------------------------------------------------------------------------------
// Client side (worker thread)

function runClient(port: number): void {
  const out = parentPort!;
  const report: ClientReport = { events: 0, bytes: 0, malformed: 0, gaps: 0 };
  let lastSeq = 0;
  const decoder = new FeedDecoder({
    onMessage: (m) => {
      if (m.type === 'snapshot' || m.type === 'trade') {
        report.events++;
        if (m.seq !== lastSeq + 1) report.gaps++;
        lastSeq = m.seq;
      } else if (m.type === 'logonAck') {
        lastSeq = m.channels[0]?.lastSeq ?? 0;
        out.postMessage({ kind: 'ready' } satisfies FromClient);
      } else if (m.type === 'logonReject' || m.type === 'logout') {
        out.postMessage({ kind: 'error', message: `${m.type}: ${m.reason}` } satisfies FromClient);
      }
    },
    onError: () => report.malformed++,
  });
  const socket = net.createConnection({ port, host: '127.0.0.1', noDelay: true });
  socket.on('data', (chunk: Buffer) => {
    report.bytes += chunk.length;
    decoder.push(chunk);
  });
  socket.on('error', (error) => out.postMessage({ kind: 'error', message: error.message } satisfies FromClient));
  socket.on('connect', () => {
    socket.write(encode({ type: 'logon', protocolVersion: 1, clientId: 'bench', channels: [{ channel: CHANNEL, mode: 'LIVE', lastSeq: 0 }] }));
  });
  const heartbeat = setInterval(() => socket.write(encode({ type: 'heartbeat', time: Date.now() * 1000 })), 500);
  out.on('message', (msg: string) => {
    if (msg === 'report') out.postMessage({ kind: 'report', ...report } satisfies FromClient);
    else if (msg === 'stop') {
      clearInterval(heartbeat);
      socket.destroy();
      out.close();
    }
  });
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === CLIENT_ROLE) {
  runClient((workerData as { port: number }).port);
}

// ---------------------------------------------------------------------------------------------
// Publisher side (main thread)

/** A pool of distinct, realistic snapshots to publish round-robin. */
function syntheticSnapshots(count: number): PublishableMessage[] {
  const pool: Omit<SnapshotMessage, 'seq'>[] = [];
  for (let i = 0; i < count; i++) {
    const px = 50_000 + (i % 500) * 100;
    pool.push({
      type: 'snapshot',
      channel: CHANNEL,
      symbol: `${String(600_000 + (i % 2_000)).padStart(6, '0')}.SH`,
      eventTime: 1_735_000_000_000_000 + i * 1_000,
      phase: 'CONTINUOUS',
      lastPrice: px,
      openPrice: px - 500,
      highPrice: px + 1_000,
      lowPrice: px - 1_000,
      prevClosePrice: px - 200,
      upperLimitPrice: px + 5_000,
      lowerLimitPrice: px - 5_000,
      volume: 1_000_000 + i * 100,
      turnover: (1_000_000 + i * 100) * px,
      bids: Array.from({ length: 10 }, (_, k) => ({ price: px - (k + 1) * 100, qty: 100 * (k + 1 + (i % 7)), orders: 1 + ((i + k) % 9) })),
      asks: Array.from({ length: 10 }, (_, k) => ({ price: px + k * 100, qty: 100 * (k + 2 + (i % 5)), orders: 1 + ((i + 2 * k) % 9) })),
    });
  }
  return pool;
}

class ClientHandle {
  private readonly worker: Worker;
  private last: ClientReport = { events: 0, bytes: 0, malformed: 0, gaps: 0 };
  private ready = false;
  private failure: string | undefined;

  constructor(port: number) {
    this.worker = new Worker(new URL(import.meta.url), { workerData: { role: CLIENT_ROLE, port } });
    this.worker.on('message', (msg: FromClient) => {
      if (msg.kind === 'ready') this.ready = true;
      else if (msg.kind === 'report') this.last = msg;
      else this.failure = msg.message;
    });
    this.worker.on('error', (error) => (this.failure = error.message));
  }

  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!this.ready) {
      this.check();
      if (performance.now() > deadline) throw new Error('feed bench client did not log on');
      await sleep(5);
    }
  }

  /** Fresh counters from the worker. */
  async report(): Promise<ClientReport> {
    this.check();
    const before = this.last;
    this.worker.postMessage('report');
    const deadline = performance.now() + 2_000;
    while (this.last === before && performance.now() < deadline) await sleep(1);
    this.check();
    return this.last;
  }

  /** Waits until the client has decoded `events` events (bounded). */
  async waitFor(events: number, timeoutMs: number): Promise<ClientReport> {
    const deadline = performance.now() + timeoutMs;
    let r = await this.report();
    while (r.events < events && performance.now() < deadline) r = await this.report();
    return r;
  }

  async stop(): Promise<void> {
    this.worker.postMessage('stop');
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    await Promise.race([exited, sleep(2_000)]);
    await this.worker.terminate();
  }

  private check(): void {
    if (this.failure !== undefined) throw new Error(`feed bench client failed: ${this.failure}`);
  }
}

async function publishFor(server: FeedServer, pool: readonly PublishableMessage[], durationMs: number, onSecond?: (published: number) => void): Promise<number> {
  let published = 0;
  let cursor = 0;
  const batch: PublishableMessage[] = new Array<PublishableMessage>(BATCH);
  const end = performance.now() + durationMs;
  let nextReport = performance.now() + 1_000;
  while (performance.now() < end) {
    for (let b = 0; b < MAX_BATCHES_PER_TURN && server.stats().maxClientBufferedBytes < HIGH_WATER_BYTES; b++) {
      for (let i = 0; i < BATCH; i++) {
        batch[i] = pool[cursor]!;
        cursor = cursor + 1 === pool.length ? 0 : cursor + 1;
      }
      published += server.publishBatch(batch);
    }
    if (onSecond && performance.now() >= nextReport) {
      onSecond(published);
      nextReport += 1_000;
    }
    await nextTurn();
  }
  return published;
}

const bench: BenchDefinition = {
  name: 'feed',
  description: 'feed server → one TCP client on loopback: snapshots/s decoded (batched publishing)',
  defaultDurationMs: 3_000,
  async run(ctx: BenchContext) {
    const server = new FeedServer({ logger: { info() {}, warn() {} }, maxBufferedBytes: 64 * 1024 * 1024 });
    const { port } = await server.start(0, '127.0.0.1');
    const client = new ClientHandle(port);
    try {
      await client.waitReady(10_000);
      const pool = syntheticSnapshots(4_096);

      // Warm-up (JIT, socket buffers), then wait for the client to drain it.
      const warm = await publishFor(server, pool, Math.min(500, ctx.durationMs / 4));
      const base = await client.waitFor(warm, 10_000);
      if (base.events !== warm) throw new Error(`warm-up: client decoded ${base.events} of ${warm}`);

      const start = performance.now();
      let lastProgress = { t: start, events: base.events };
      const published = await publishFor(server, pool, ctx.durationMs, () => {
        void client.report().then((r) => {
          const t = performance.now();
          ctx.progress({ events_per_sec: Math.round(((r.events - lastProgress.events) * 1_000) / (t - lastProgress.t)) });
          lastProgress = { t, events: r.events };
        });
      });
      const done = await client.waitFor(base.events + published, 15_000);
      const seconds = (performance.now() - start) / 1_000;
      const events = done.events - base.events;
      const bytes = done.bytes - base.bytes;
      const stats = server.stats();
      return {
        events_per_sec: Math.round(events / seconds),
        mb_per_sec: Math.round((bytes / seconds / 1e6) * 10) / 10,
        events,
        published,
        seconds: Math.round(seconds * 1_000) / 1_000,
        frame_bytes: SNAPSHOT_FRAME_BYTES,
        batch_size: BATCH,
        malformed: done.malformed,
        gaps: done.gaps,
        slow_consumer_disconnects: stats.slowConsumerDisconnects,
        server_frames_sent: stats.framesSent,
      };
    } finally {
      await client.stop();
      await server.close();
    }
  },
};

export default bench;
