/**
 * `triquant bench fanout`: one market-data stream read by N strategy consumer groups.
 *
 * 1. A private redis-server on a free port (no persistence).
 * 2. For N = 1, 4, 16 in turn: N consumer groups on ONE symbol stream, one consumer each
 *    (`GroupConsumer`, the strategy host's source: two connections per consumer, XREADGROUP
 *    COUNT 256 BLOCK, decode, then `commit` = the ack script, no checkpoint), all in this
 *    process; a producer in a worker thread (so the consumers' event loop does not starve it)
 *    writes entries in the gateway's format (`encodeEntryFields`: a protobuf MarketDataBatch
 *    of TICKS_PER_ENTRY snapshots with 10-level books, entry id `<session>-<last seq>`,
 *    `MAXLEN ~`) as fast as Redis takes them, pipelined, for the warm-up and measured period.
 * 3. Per N: ticks decoded per second per group (mean and slowest group), entries/s, and the
 *    end-to-end lag of each entry from the producer's write time (the ticks' receive time,
 *    stamped just before XADD) to the consumer's decode, p50/p99 over the measured period.
 *
 * The producer writes at full speed, so when the groups together cannot keep up the backlog
 * grows through the measured period and the lag shows that backlog, not a steady latency.
 *
 *   npx triquant bench fanout --json
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';
import type { BenchDefinition } from './harness.ts';
import { latencySummary } from './harness.ts';
import { LiveClock } from '../src/core/clock.ts';
import { MarketDataKeys } from '../src/bus/market-data-keys.ts';
import { encodeEntryFields } from '../src/bus/tick-codec.ts';
import type { FeedMarketData } from '../src/bus/tick-codec.ts';
import { createGroupConsumer } from '../src/bus/group-consumer.ts';
import type { GroupConsumer } from '../src/bus/group-consumer.ts';
import { RedisTestServer } from '../test/support/redis-server.ts';

const PRODUCER_ROLE = 'fanout-bench-producer';
const SYMBOL = '600000.SH';
const TICKS_PER_ENTRY = 10;
const PIPELINE = 32;
const STREAM_MAXLEN = 200_000;
const GROUP_COUNTS = [1, 4, 16] as const;
const SESSION = 1_735_000_000_123_456;

function snapshot(seq: number): FeedMarketData {
  const px = 100_000 + (seq % 50) * 100;
  return {
    type: 'snapshot', channel: 1, seq, symbol: SYMBOL, eventTime: 1_735_000_100_000_000 + seq, phase: 'CONTINUOUS',
    lastPrice: px, openPrice: 100_000, highPrice: 105_000, lowPrice: 99_000, prevClosePrice: 100_000, upperLimitPrice: 110_000, lowerLimitPrice: 90_000,
    volume: seq * 100, turnover: seq * 100 * px,
    bids: Array.from({ length: 10 }, (_, k) => ({ price: px - (k + 1) * 100, qty: 100 * (k + 1), orders: 1 + (k % 3) })),
    asks: Array.from({ length: 10 }, (_, k) => ({ price: px + k * 100, qty: 100 * (k + 2), orders: 1 + (k % 2) })),
  };
}

/** Worker: writes entries to `key` at full speed until told to stop; reports the entries written. */
async function runProducer(options: { port: number; key: string; fromSeq: number }): Promise<void> {
  const out = parentPort!;
  const client = new Redis({ port: options.port, host: '127.0.0.1' });
  const clock = new LiveClock();
  let stopping = false;
  out.on('message', (m) => {
    if (m === 'stop') stopping = true;
  });
  let seq = options.fromSeq;
  let entries = 0;
  // One set of message objects, renumbered for each entry: the producer measures Redis and the consumers, not allocation.
  const messages = Array.from({ length: TICKS_PER_ENTRY }, (_, k) => snapshot(seq + k) as Extract<FeedMarketData, { type: 'snapshot' }>);
  out.postMessage({ ready: true });
  while (!stopping) {
    const pipeline = client.pipeline();
    for (let i = 0; i < PIPELINE; i++) {
      for (const m of messages) {
        m.seq = seq++;
        m.volume = m.seq * 100;
      }
      pipeline.xadd(options.key, 'MAXLEN', '~', STREAM_MAXLEN, `${SESSION}-${seq - 1}`, ...encodeEntryFields(messages, clock.nowMicros()));
    }
    await pipeline.exec();
    entries += PIPELINE;
  }
  client.disconnect();
  out.postMessage({ entries, nextSeq: seq });
}

if (!isMainThread && (workerData as { role?: string } | undefined)?.role === PRODUCER_ROLE) {
  void runProducer(workerData as { port: number; key: string; fromSeq: number });
}

interface GroupTally {
  ticks: number;
  entries: number;
  lagUs: number[];
}

async function measure(redis: RedisTestServer, groups: number, durationMs: number, fromSeq: number): Promise<{ figures: Record<string, number>; nextSeq: number }> {
  const prefix = `fan${groups}`;
  const keys = new MarketDataKeys({ prefix, slotGroups: 16 });
  const clock = new LiveClock();
  const consumers: GroupConsumer[] = [];
  for (let g = 0; g < groups; g++) {
    consumers.push(createGroupConsumer({
      redis: { mode: 'standalone', url: redis.url }, keyPrefix: prefix, slotGroups: 16, group: `strategy${g}`, consumer: 'c0',
      symbols: [SYMBOL], startAt: 'live', blockMs: 100, count: 256, clock,
    }));
  }
  await Promise.all(consumers.map((c) => c.start()));
  const tallies: GroupTally[] = consumers.map(() => ({ ticks: 0, entries: 0, lagUs: [] }));
  let measuring = false;
  let running = true;
  const loops = consumers.map(async (c, g) => {
    const tally = tallies[g]!;
    while (running) {
      const batch = await c.next();
      if (!batch) return;
      const now = clock.nowMicros();
      if (measuring) {
        for (const e of batch.entries) {
          tally.entries++;
          tally.ticks += e.messages.length;
          const first = e.messages[0]!;
          tally.lagUs.push(now - (first.type === 'tick' ? first.tick.receiveTimeUs : first.trade.receiveTimeUs));
        }
      }
      if (batch.entries.length > 0) await c.commit(batch, undefined);
    }
  });
  const producer = new Worker(new URL(import.meta.url), { workerData: { role: PRODUCER_ROLE, port: redis.port, key: keys.streamKey(SYMBOL), fromSeq } });
  await new Promise((resolve, reject) => {
    producer.once('message', resolve);
    producer.once('error', reject);
  });
  await sleep(Math.min(1_000, durationMs / 4)); // warm-up
  measuring = true;
  const start = performance.now();
  await sleep(durationMs);
  measuring = false;
  const seconds = (performance.now() - start) / 1000;
  const produced = new Promise<{ entries: number; nextSeq: number }>((resolve) => producer.once('message', resolve));
  producer.postMessage('stop');
  const { entries: producedEntries, nextSeq } = await produced;
  await producer.terminate();
  running = false;
  await Promise.all(loops); // each returns within blockMs once the stream is drained or running is off
  await Promise.all(consumers.map((c) => c.close()));

  const perGroup = tallies.map((t) => t.ticks / seconds);
  const lag = latencySummary(tallies.flatMap((t) => t.lagUs));
  return {
    nextSeq,
    figures: {
      ticks_per_sec_per_group: Math.round(perGroup.reduce((a, b) => a + b, 0) / groups),
      slowest_group_ticks_per_sec: Math.round(Math.min(...perGroup)),
      entries_per_sec_per_group: Math.round(tallies.reduce((a, t) => a + t.entries, 0) / groups / seconds),
      total_ticks_per_sec: Math.round(perGroup.reduce((a, b) => a + b, 0)),
      producer_entries_total: producedEntries,
      lag_p50_us: Math.round(lag.p50),
      lag_p99_us: Math.round(lag.p99),
      lag_max_us: Math.round(lag.max),
      seconds: Number(seconds.toFixed(3)),
    },
  };
}

const bench: BenchDefinition = {
  name: 'fanout',
  description: 'one market-data stream read by N = 1, 4, 16 strategy consumer groups: ticks/s per group and end-to-end lag',
  defaultDurationMs: 5_000,
  async run(ctx) {
    const redis = await RedisTestServer.start();
    const perN: Record<string, Record<string, number>> = {};
    try {
      let seq = 1;
      for (const n of GROUP_COUNTS) {
        const { figures, nextSeq } = await measure(redis, n, ctx.durationMs, seq);
        seq = nextSeq;
        perN[String(n)] = figures;
        ctx.progress({ groups: n, ...figures });
        redis.cli('FLUSHALL'); // each N starts from an empty Redis
      }
    } finally {
      await redis.stop();
    }
    const pick = (field: string) => Object.fromEntries(Object.entries(perN).map(([n, f]) => [n, f[field]]));
    return {
      ticks_per_sec_per_group: pick('ticks_per_sec_per_group'),
      slowest_group_ticks_per_sec: pick('slowest_group_ticks_per_sec'),
      entries_per_sec_per_group: pick('entries_per_sec_per_group'),
      total_ticks_per_sec: pick('total_ticks_per_sec'),
      lag_p50_us: pick('lag_p50_us'),
      lag_p99_us: pick('lag_p99_us'),
      ticks_per_entry: TICKS_PER_ENTRY,
      consumer_count_per_read: 256,
      producer_pipeline: PIPELINE,
    };
  },
};

export default bench;
