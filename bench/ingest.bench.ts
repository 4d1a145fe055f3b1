/**
 * `triquant bench ingest`: simulator → gateway → Redis, then redis-benchmark on the same Redis.
 *
 * 1. A private redis-server on a free port (no persistence).
 * 2. `triquant sim --load N` in its own process (continuous trading, synthetic orders).
 * 3. The gateway in this process, ingesting the SSE and SZSE channels into Redis Streams for
 *    the measuring time; ticks_per_sec = ticks Redis stored / seconds.
 * 4. With sim and gateway stopped: `redis-benchmark -P 16` running XADD with a payload of the
 *    same size as an average stored entry, on the same Redis: baseline_xadd_per_sec.
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
import type { BenchDefinition } from './harness.ts';
import { LiveClock } from '../src/core/clock.ts';
import { RedisConnection } from '../src/bus/redis-connection.ts';
import { Gateway } from '../src/gateway/gateway.ts';
import { Registry } from '../src/obs/metrics.ts';
import { RedisTestServer } from '../test/support/redis-server.ts';

const BIN = fileURLToPath(new URL('../bin/triquant.js', import.meta.url));
const LOAD = Number(process.env.TRIQUANT_BENCH_INGEST_LOAD ?? 250_000);
const PIPELINE = 16;

const bench: BenchDefinition = {
  name: 'ingest',
  description: 'simulator → gateway → Redis Streams ticks per second, against redis-benchmark XADD on the same Redis',
  defaultDurationMs: 5_000,
  async run(ctx) {
    const redis = await RedisTestServer.start();
    const dir = mkdtempSync(join(tmpdir(), 'tq-bench-ingest-'));
    const portsFile = join(dir, 'ports.json');
    const sim = spawn(process.execPath, [BIN, 'sim', '--load', String(LOAD), '--ports-json', portsFile], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, TRIQUANT__LOG_LEVEL: 'warn' },
    });
    let simErr = '';
    sim.stderr.on('data', (chunk: Buffer) => (simErr += chunk.toString()));
    const connection = new RedisConnection({ mode: 'standalone', url: redis.url, keyPrefix: 'bench' });
    let gateway: Gateway | undefined;
    try {
      const deadline = Date.now() + 15_000;
      while (!existsSync(portsFile)) {
        if (Date.now() > deadline || sim.exitCode !== null) throw new Error(`sim did not start: ${simErr.slice(-500)}`);
        await sleep(50);
      }
      const { feed } = JSON.parse(readFileSync(portsFile, 'utf8')) as { feed: number };
      await connection.whenReady(5_000);
      gateway = new Gateway({
        feeds: [{ name: 'sim', host: '127.0.0.1', port: feed, channels: [1, 2] }],
        clientId: 'bench', startAt: 'live', connection, slotGroups: 16, streamMaxLen: 1_000_000, compression: 'none',
        bufferMaxTicks: 1_000_000, overflowPolicy: 'backpressure', clock: new LiveClock(), registry: new Registry(),
      });
      await gateway.start();
      await sleep(1_000); // warm-up
      const before = gateway.stats();
      const start = performance.now();
      await sleep(ctx.durationMs);
      const seconds = (performance.now() - start) / 1000;
      const after = gateway.stats();
      const ticksOut = after.publisher.ticksOut - before.publisher.ticksOut;
      const ticksIn = after.ticksIn - before.ticksIn;
      const flushes = after.publisher.flushes - before.publisher.flushes;
      ctx.progress({ phase: 'ingest', ticks_per_sec: Math.round(ticksOut / seconds), ticks_in_per_sec: Math.round(ticksIn / seconds) });
      await gateway.close();
      gateway = undefined;
      sim.kill('SIGTERM');
      // Size of an average stored entry's fields, to give redis-benchmark the same payload.
      const entryBytes = await averageEntryBytes(connection, redis);

      const baseline = redisBenchmarkXadd(redis.port, entryBytes, 300_000);
      const ticksPerSec = Math.round(ticksOut / seconds);
      return {
        ticks_per_sec: ticksPerSec,
        baseline_xadd_per_sec: baseline,
        ratio: Number((ticksPerSec / baseline).toFixed(3)),
        ticks_in_per_sec: Math.round(ticksIn / seconds),
        flushes_per_sec: Math.round(flushes / seconds),
        entry_bytes: entryBytes,
        load_orders_per_sec: LOAD,
        redis_benchmark_pipeline: PIPELINE,
        duplicates: after.publisher.duplicates,
        dropped: after.publisher.dropped,
        seconds: Number(seconds.toFixed(3)),
      };
    } finally {
      await gateway?.close();
      await connection.close();
      if (sim.exitCode === null) {
        sim.kill('SIGTERM');
        await new Promise((resolve) => sim.once('exit', resolve));
      }
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

async function averageEntryBytes(connection: RedisConnection, redis: RedisTestServer): Promise<number> {
  const keys = redis.cli('--scan', '--pattern', 'bench:md:{*').trim().split('\n').filter(Boolean).slice(0, 10);
  let bytes = 0;
  let entries = 0;
  const client = connection.client as unknown as { xrangeBuffer(key: string, start: string, end: string, count: 'COUNT', n: number): Promise<[Buffer, Buffer[]][]> };
  for (const key of keys) {
    for (const [, fields] of await client.xrangeBuffer(key, '-', '+', 'COUNT', 200)) {
      entries++;
      for (const field of fields) bytes += field.length;
    }
  }
  return entries > 0 ? Math.max(16, Math.round(bytes / entries)) : 256;
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
