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
 * The progress lines also say where the CPU went in each measuring window (`cpu`): the
 * gateway's event loop and thread (and its CPU per stored tick, the figure the machine's
 * load changes least), the replay source's worker, GC helper threads, redis-server, the live
 * simulator. They explain the ratio; they are not part of it.
 *
 *   npx triquant bench ingest --json
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { EventLoopUtilization } from 'node:perf_hooks';
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

/** A client is logged on and its send buffer is under the high-water mark. */
function canPublish(server: FeedServer): boolean {
  const stats = server.stats();
  return stats.loggedOnClients > 0 && stats.maxClientBufferedBytes < HIGH_WATER_BYTES;
}

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
    let published = 0;
    for (let b = 0; b < 16 && canPublish(server); b++) {
      for (let i = 0; i < REPLAY_BATCH; i++) {
        batch[i] = pool[cursor]!;
        cursor = cursor + 1 === pool.length ? 0 : cursor + 1;
      }
      published += server.publishBatch(batch);
    }
    // Over the high-water mark (or no client yet) wait a millisecond instead of spinning: a
    // busy-waiting source would take CPU from the gateway and Redis on the same two cores.
    if (published > 0) await new Promise((resolve) => setImmediate(resolve));
    else await sleep(1);
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
  /** Where the CPU went during the measuring window (see cpuProbe). */
  cpu: Record<string, number>;
  ticksInPerSec: number;
  ticksPerEntry: number;
  flushesPerSec: number;
  duplicates: number;
  dropped: number;
  seconds: number;
}

interface CpuSample {
  at: number;
  loop: EventLoopUtilization;
  sourceLoop: EventLoopUtilization | undefined;
  process: NodeJS.CpuUsage;
  thread: NodeJS.CpuUsage;
  threads: Map<string, number>;
  redisSeconds: number;
  sourceProcessSeconds: number;
}

/** CPU accounting over the measuring window, in cores (CPU seconds per wall-clock second). */
interface CpuProbe {
  read(): CpuSample;
  since(before: CpuSample): Record<string, number>;
}

/** utime + stime in seconds of each thread of this process, summed by thread name (Linux /proc; empty elsewhere). */
function threadCpuSeconds(): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100);
    }
  } catch {
    // Not Linux: no per-thread figures.
  }
  return out;
}

/** utime + stime of a process in seconds (Linux /proc; 0 where unavailable). */
function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

/**
 * Where the CPU goes: the gateway's event loop (this thread), the replay source's event loop
 * (its worker), this whole process (gateway, replay worker, GC and libuv threads), the live
 * simulator's process and redis-server. The figures explain the ratio; they are not part of it.
 */
function cpuProbe(redisPid: number | undefined, source: { worker?: Worker; pid?: number }): CpuProbe {
  const read = (): CpuSample => ({
    at: performance.now(),
    loop: performance.eventLoopUtilization(),
    sourceLoop: source.worker?.performance.eventLoopUtilization(),
    process: process.cpuUsage(),
    thread: process.threadCpuUsage(),
    threads: threadCpuSeconds(),
    redisSeconds: processCpuSeconds(redisPid),
    sourceProcessSeconds: processCpuSeconds(source.pid),
  });
  return {
    read,
    since(before) {
      const now = read();
      const seconds = (now.at - before.at) / 1000;
      const cores = (v: number) => Number((v / seconds).toFixed(2));
      const usage = process.cpuUsage(before.process);
      const thread = process.threadCpuUsage(before.thread);
      const out: Record<string, number> = {
        gateway_loop: Number(performance.eventLoopUtilization(now.loop, before.loop).utilization.toFixed(2)),
        gateway_thread_cores: cores((thread.user + thread.system) / 1e6),
        process_cores: cores((usage.user + usage.system) / 1e6),
        redis_cores: cores(now.redisSeconds - before.redisSeconds),
      };
      // MainThread = the gateway, WorkerThread = the replay source, V8Worker = GC and compiler helpers.
      for (const [name, secs] of now.threads) {
        const used = cores(secs - (before.threads.get(name) ?? 0));
        if (used >= 0.01) out[`thread_cores_${name}`] = used;
      }
      if (now.sourceLoop !== undefined && before.sourceLoop !== undefined) {
        out.replay_source_loop = Number(source.worker!.performance.eventLoopUtilization(now.sourceLoop, before.sourceLoop).utilization.toFixed(2));
      }
      if (source.pid !== undefined) out.sim_process_cores = cores(now.sourceProcessSeconds - before.sourceProcessSeconds);
      return out;
    },
  };
}

/** Runs a gateway from `feedPort` into Redis (keys under `prefix`) and measures the stored ticks per second. */
async function measureGateway(connection: RedisConnection, feedPort: number, durationMs: number, probe: CpuProbe): Promise<IngestFigures> {
  const gateway = new Gateway({
    feeds: [{ name: 'bench', host: '127.0.0.1', port: feedPort, channels: [1, 2] }],
    clientId: 'bench', startAt: 'live', connection, slotGroups: 16, streamMaxLen: 1_000_000, compression: 'none',
    bufferMaxTicks: 1_000_000, overflowPolicy: 'backpressure', clock: new LiveClock(), registry: new Registry(),
  });
  try {
    await gateway.start();
    await sleep(1_000); // warm-up
    const before = gateway.stats();
    const cpuBefore = probe.read();
    const start = performance.now();
    await sleep(durationMs);
    const seconds = (performance.now() - start) / 1000;
    const after = gateway.stats();
    const cpu = probe.since(cpuBefore);
    const storedTicks = after.publisher.ticksOut - before.publisher.ticksOut;
    // CPU of the gateway's own thread per stored tick: what the machine's load does not change.
    if (storedTicks > 0 && cpu.gateway_thread_cores !== undefined) cpu.gateway_thread_us_per_tick = Number(((cpu.gateway_thread_cores * seconds * 1e6) / storedTicks).toFixed(3));
    const ticksOut = after.publisher.ticksOut - before.publisher.ticksOut;
    return {
      ticksPerSec: Math.round(ticksOut / seconds),
      cpu,
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

async function replaySource(): Promise<{ port: number; worker: Worker; stop: () => Promise<void> }> {
  // 20,000 recorded messages (all 10 symbols, the same snapshot/trade mix as longer
  // recordings), replayed in a loop with fresh seqs. The pool lives as JS objects in the
  // source's heap: at 200,000 (~240 MB) the source's full GCs, several a second on the same two
  // cores, took up to half a core from the gateway (measured: GC helper threads 0.27–0.72 cores).
  const pool = recordSimulatorMarket(20_000);
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: REPLAY_ROLE, pool } });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', (m: { port: number }) => resolve(m.port));
    worker.once('error', reject);
  });
  return {
    port,
    worker,
    stop: async () => {
      worker.postMessage('stop');
      await Promise.race([new Promise((resolve) => worker.once('exit', resolve)), sleep(3_000)]);
      await worker.terminate();
    },
  };
}

async function liveSimSource(dir: string): Promise<{ port: number; pid: number | undefined; stop: () => Promise<void> }> {
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
  return { port: (JSON.parse(readFileSync(portsFile, 'utf8')) as { feed: number }).feed, pid: sim.pid, stop };
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
      const replayed = await measureGateway(replayConnection, replay.port, ctx.durationMs, cpuProbe(redis.pid, { worker: replay.worker })).finally(() => replay.stop());
      ctx.progress({ phase: 'replay', ticks_per_sec: replayed.ticksPerSec, ticks_per_entry: replayed.ticksPerEntry, flushes_per_sec: replayed.flushesPerSec, cpu: replayed.cpu });
      const live = await liveSimSource(dir);
      const lived = await measureGateway(liveConnection, live.port, ctx.durationMs, cpuProbe(redis.pid, { pid: live.pid })).finally(() => live.stop());
      ctx.progress({ phase: 'live', ticks_per_sec: lived.ticksPerSec, ticks_per_entry: lived.ticksPerEntry, flushes_per_sec: lived.flushesPerSec, cpu: lived.cpu });

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
