/**
 * `triquant bench ingest`: simulator → gateway → Redis, then redis-benchmark on the same Redis.
 *
 * 1. A private redis-server on a free port (no persistence).
 * 2. Two sources, measured one after the other:
 *    - replay (the headline figure): the simulator's market is recorded in-process (load mode,
 *      manual clock), then the simulator's FeedServer replays it as fast as the gateway takes
 *      it, from a worker thread — this measures the gateway and Redis, not the matching engine;
 *    - live: `triquant sim --load N` in its own process (matching engine included; on two
 *      cores it is the bottleneck, so this figure shows the whole chain's limit).
 * 3. The gateway in this process ingests the SSE and SZSE channels into Redis Streams for
 *    the measuring time; ticks_per_sec = ticks Redis stored / seconds.
 * 4. With sim and gateway stopped: `redis-benchmark -P 16` running XADD with a payload of the
 *    size of one stored tick, on the same Redis: baseline_xadd_per_sec.
 * ratio = ticks_per_sec / baseline_xadd_per_sec (goal ≥ 1.0: several ticks share an entry).
 *
 *   npx triquant bench ingest --json
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { BenchDefinition } from './harness.ts';
import { TradingCalendar } from '../src/core/calendar.ts';
import { ManualClock } from '../src/core/clock.ts';
import type { PublishableMessage } from '../src/protocol/feed/codec.ts';
import { FeedServer } from '../src/sim/feed-server.ts';
import { Simulator } from '../src/sim/simulator.ts';
import { buildUniverse } from '../src/sim/universe.ts';
import { DEFAULT_ORDER_FLOW } from '../src/sim/order-flow.ts';
import { LiveClock } from '../src/core/clock.ts';
import { RedisConnection } from '../src/bus/redis-connection.ts';
import { decodeEntryFields } from '../src/bus/tick-codec.ts';
import { Gateway } from '../src/gateway/gateway.ts';
import { Registry } from '../src/obs/metrics.ts';
import { RedisTestServer } from '../test/support/redis-server.ts';

const BIN = fileURLToPath(new URL('../bin/triquant.js', import.meta.url));
const REPLAY_ROLE = 'ingest-bench-replay';
const REPLAY_BATCH = 256;
const HIGH_WATER_BYTES = 8 * 1024 * 1024;

/** Worker: a FeedServer replaying recorded simulator messages in a loop until told to stop. */
async function runReplayServer(pool: PublishableMessage[]): Promise<void> {
  const out = parentPort!;
  const server = new FeedServer({ logger: { info() {}, warn() {} }, maxBufferedBytes: 256 * 1024 * 1024 });
  const { port } = await server.start(0, '127.0.0.1');
  let stopping = false;
  out.on('message', (message) => {
    if (message === 'stop') stopping = true;
  });
  out.postMessage({ port });
  const batch = new Array<PublishableMessage>(REPLAY_BATCH);
  let cursor = 0;
  while (!stopping) {
    for (let b = 0; b < 16 && server.stats().loggedOnClients > 0 && server.stats().maxClientBufferedBytes < HIGH_WATER_BYTES; b++) {
      for (let i = 0; i < REPLAY_BATCH; i++) {
        batch[i] = pool[cursor]!;
        cursor = cursor + 1 === pool.length ? 0 : cursor + 1;
      }
      server.publishBatch(batch);
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  await server.close();
}

if (!isMainThread && (workerData as { role?: string } | undefined)?.role === REPLAY_ROLE) {
  void runReplayServer((workerData as { pool: PublishableMessage[] }).pool);
}

/** Records what the simulator publishes in load mode (manual clock: as fast as it can). */
function recordSimulatorMarket(messages: number): PublishableMessage[] {
  const clock = new ManualClock(Date.now() * 1000);
  const sim = new Simulator({
    clock, calendar: new TradingCalendar(), instruments: buildUniverse(), seed: 1, timeMode: { kind: 'continuous' },
    flow: DEFAULT_ORDER_FLOW, loadOrdersPerSecond: 200_000,
  });
  const pool: PublishableMessage[] = [];
  sim.feed.publishBatch = (batch) => {
    for (const m of batch) if (m.channel !== 3) pool.push(m);
    return batch.length;
  };
  while (pool.length < messages) {
    clock.advance(10_000);
    sim.step();
  }
  return pool;
}
const LOAD = Number(process.env.TRIQUANT_BENCH_INGEST_LOAD ?? 250_000);
const PIPELINE = 16;

interface IngestFigures {
  ticksPerSec: number;
  ticksInPerSec: number;
  ticksPerEntry: number;
  flushesPerSec: number;
  duplicates: number;
  dropped: number;
  seconds: number;
}

/** Runs a gateway from `feedPort` into Redis (keys under `prefix`) and measures the stored ticks per second. */
async function measureGateway(connection: RedisConnection, feedPort: number, durationMs: number): Promise<IngestFigures> {
  const gateway = new Gateway({
    feeds: [{ name: 'bench', host: '127.0.0.1', port: feedPort, channels: [1, 2] }],
    clientId: 'bench', startAt: 'live', connection, slotGroups: 16, streamMaxLen: 1_000_000, compression: 'none',
    bufferMaxTicks: 1_000_000, overflowPolicy: 'backpressure', clock: new LiveClock(), registry: new Registry(),
  });
  try {
    await gateway.start();
    await sleep(1_000); // warm-up
    const before = gateway.stats();
    const start = performance.now();
    await sleep(durationMs);
    const seconds = (performance.now() - start) / 1000;
    const after = gateway.stats();
    const ticksOut = after.publisher.ticksOut - before.publisher.ticksOut;
    return {
      ticksPerSec: Math.round(ticksOut / seconds),
      ticksInPerSec: Math.round((after.ticksIn - before.ticksIn) / seconds),
      ticksPerEntry: Number((ticksOut / Math.max(1, after.publisher.entriesOut - before.publisher.entriesOut)).toFixed(1)),
      flushesPerSec: Math.round((after.publisher.flushes - before.publisher.flushes) / seconds),
      duplicates: after.publisher.duplicates,
      dropped: after.publisher.dropped,
      seconds: Number(seconds.toFixed(3)),
    };
  } finally {
    await gateway.close();
  }
}

async function replaySource(): Promise<{ port: number; stop: () => Promise<void> }> {
  const pool = recordSimulatorMarket(200_000);
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: REPLAY_ROLE, pool } });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', (m: { port: number }) => resolve(m.port));
    worker.once('error', reject);
  });
  return {
    port,
    stop: async () => {
      worker.postMessage('stop');
      await Promise.race([new Promise((resolve) => worker.once('exit', resolve)), sleep(3_000)]);
      await worker.terminate();
    },
  };
}

async function liveSimSource(dir: string): Promise<{ port: number; stop: () => Promise<void> }> {
  const portsFile = join(dir, 'ports.json');
  const sim = spawn(process.execPath, [BIN, 'sim', '--load', String(LOAD), '--ports-json', portsFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, TRIQUANT__LOG_LEVEL: 'warn' },
  });
  let simErr = '';
  sim.stderr.on('data', (chunk: Buffer) => (simErr += chunk.toString()));
  const stop = async () => {
    if (sim.exitCode === null) {
      sim.kill('SIGTERM');
      await new Promise((resolve) => sim.once('exit', resolve));
    }
  };
  const deadline = Date.now() + 15_000;
  while (!existsSync(portsFile)) {
    if (Date.now() > deadline || sim.exitCode !== null) {
      await stop();
      throw new Error(`sim did not start: ${simErr.slice(-500)}`);
    }
    await sleep(50);
  }
  return { port: (JSON.parse(readFileSync(portsFile, 'utf8')) as { feed: number }).feed, stop };
}

const bench: BenchDefinition = {
  name: 'ingest',
  description: 'simulator → gateway → Redis Streams ticks per second, against redis-benchmark XADD on the same Redis',
  defaultDurationMs: 5_000,
  async run(ctx) {
    const redis = await RedisTestServer.start();
    const dir = mkdtempSync(join(tmpdir(), 'tq-bench-ingest-'));
    const replayConnection = new RedisConnection({ mode: 'standalone', url: redis.url, keyPrefix: 'bench' });
    const liveConnection = new RedisConnection({ mode: 'standalone', url: redis.url, keyPrefix: 'benchlive' });
    try {
      await replayConnection.whenReady(5_000);
      await liveConnection.whenReady(5_000);
      const replay = await replaySource();
      const replayed = await measureGateway(replayConnection, replay.port, ctx.durationMs).finally(() => replay.stop());
      ctx.progress({ phase: 'replay', ticks_per_sec: replayed.ticksPerSec, ticks_per_entry: replayed.ticksPerEntry });
      const live = await liveSimSource(dir);
      const lived = await measureGateway(liveConnection, live.port, ctx.durationMs).finally(() => live.stop());
      ctx.progress({ phase: 'live', ticks_per_sec: lived.ticksPerSec, ticks_per_entry: lived.ticksPerEntry });

      // redis-benchmark stores one tick's worth of payload per XADD, on the same Redis, with nothing else running.
      const tickBytes = await averageTickBytes(replayConnection, redis);
      const baseline = redisBenchmarkXadd(redis.port, tickBytes, 300_000);
      return {
        ticks_per_sec: replayed.ticksPerSec,
        baseline_xadd_per_sec: baseline,
        ratio: Number((replayed.ticksPerSec / baseline).toFixed(3)),
        ticks_per_entry: replayed.ticksPerEntry,
        flushes_per_sec: replayed.flushesPerSec,
        live_sim_ticks_per_sec: lived.ticksPerSec,
        live_sim_ratio: Number((lived.ticksPerSec / baseline).toFixed(3)),
        live_sim_load_orders_per_sec: LOAD,
        tick_bytes: tickBytes,
        redis_benchmark_pipeline: PIPELINE,
        duplicates: replayed.duplicates + lived.duplicates,
        dropped: replayed.dropped + lived.dropped,
        seconds: replayed.seconds,
      };
    } finally {
      await replayConnection.close();
      await liveConnection.close();
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/** Stored payload bytes per tick (entries hold several ticks), from a sample of entries. */
async function averageTickBytes(connection: RedisConnection, redis: RedisTestServer): Promise<number> {
  const keys = redis.cli('--scan', '--pattern', 'bench:md:{*').trim().split('\n').filter(Boolean).slice(0, 10);
  let bytes = 0;
  let ticks = 0;
  const client = connection.client as unknown as { xrangeBuffer(key: string, start: string, end: string, count: 'COUNT', n: number): Promise<[Buffer, Buffer[]][]> };
  for (const key of keys) {
    for (const [, fields] of await client.xrangeBuffer(key, '-', '+', 'COUNT', 200)) {
      ticks += decodeEntryFields(fields).length;
      for (const field of fields) bytes += field.length;
    }
  }
  return ticks > 0 ? Math.max(16, Math.round(bytes / ticks)) : 256;
}

function redisBenchmarkXadd(port: number, payloadBytes: number, requests: number): number {
  const payload = 'x'.repeat(payloadBytes);
  const csv = execFileSync(
    'redis-benchmark',
    ['-h', '127.0.0.1', '-p', String(port), '-P', String(PIPELINE), '-n', String(requests), '-r', '1000', '--csv',
      'XADD', 'baseline:__rand_int__', 'MAXLEN', '~', '100000', '*', 'd', payload],
    { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  const line = csv.trim().split('\n').find((l) => l.startsWith('"XADD'));
  if (!line) throw new Error(`unexpected redis-benchmark output: ${csv.slice(0, 300)}`);
  return Math.round(Number(JSON.parse(`[${line}]`)[1]));
}

export default bench;
