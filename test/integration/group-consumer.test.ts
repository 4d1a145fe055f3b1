/**
 * The strategy-side consumer-group source (src/bus/group-consumer.ts) against a real
 * redis-server (unique key prefix per test): two consumers split the work; an uncommitted
 * batch comes back from the pending list after a restart; a consumer process SIGKILLed
 * mid-batch (while holding a batch, and at a random moment) loses nothing and doubles nothing
 * — the union of what every instance committed (its checkpoint) is every entry exactly once;
 * a stale consumer's commit is refused (fenced); commit retries are idempotent; poison and
 * malformed entries are dead-lettered; startAt; setSymbols; and the same basics on Cluster.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { ManualClock } from '../../src/core/clock.ts';
import { MarketDataKeys } from '../../src/bus/market-data-keys.ts';
import { encodeEntryFields } from '../../src/bus/tick-codec.ts';
import { createGroupConsumer, GroupConsumer, GroupConsumerFencedError } from '../../src/bus/group-consumer.ts';
import type { GroupConsumerOptions } from '../../src/bus/group-consumer.ts';
import type { MarketDataBatch } from '../../src/bus/market-data-source.ts';
import { readDeadLetters, strategyStateKeys } from '../../src/bus/dead-letter.ts';
import type { SnapshotMessage } from '../../src/protocol/feed/frames.ts';
import { Registry } from 'prom-client';
import { RedisTestCluster, RedisTestServer, redisServerAvailable } from '../support/redis-server.ts';

const SKIP = redisServerAvailable() ? false : 'redis-server is not installed';
const SESSION = 1_735_000_000_123_456;
const T0 = 1_735_000_100_000_000;
const SLOT_GROUPS = 4;
const CHILD = fileURLToPath(new URL('../support/group-consumer-child.ts', import.meta.url));

function snapshot(symbol: string, seq: number): SnapshotMessage {
  const px = 100_000 + (seq % 50) * 100;
  const level = (price: number) => ({ price, qty: 100, orders: 1 });
  return {
    type: 'snapshot', channel: 1, seq, symbol, eventTime: T0 + seq * 1_000, phase: 'CONTINUOUS',
    lastPrice: px, openPrice: 100_000, highPrice: 105_000, lowPrice: 99_000, prevClosePrice: 100_000,
    upperLimitPrice: 110_000, lowerLimitPrice: 90_000, volume: seq * 100, turnover: seq * 100 * px,
    bids: Array.from({ length: 10 }, (_, k) => level(px - (k + 1) * 100)),
    asks: Array.from({ length: 10 }, (_, k) => level(px + k * 100)),
  };
}

/** Writes `entries` entries of `ticksPerEntry` snapshots each to a symbol's stream, as the gateway does; returns their ids. */
async function produce(client: Redis, keys: MarketDataKeys, symbol: string, entries: number, options: { fromSeq?: number; ticksPerEntry?: number } = {}): Promise<string[]> {
  const per = options.ticksPerEntry ?? 3;
  let seq = options.fromSeq ?? 1;
  const ids: string[] = [];
  const pipeline = client.pipeline();
  for (let i = 0; i < entries; i++) {
    const messages = Array.from({ length: per }, () => snapshot(symbol, seq++));
    const id = `${SESSION}-${seq - 1}`;
    pipeline.xadd(keys.streamKey(symbol), id, ...encodeEntryFields(messages, T0));
    ids.push(`${keys.streamKey(symbol)} ${id}`);
  }
  const replies = await pipeline.exec();
  for (const [error] of replies ?? []) if (error) throw error;
  return ids;
}

const idsOf = (batch: MarketDataBatch) => batch.entries.map((e) => `${e.stream} ${e.id}`);

describe('GroupConsumer (Redis Streams consumer groups)', { skip: SKIP }, () => {
  let redis: RedisTestServer;
  let client: Redis;
  const open: GroupConsumer[] = [];
  const children: ChildProcess[] = [];

  before(async () => {
    redis = await RedisTestServer.start();
    client = new Redis({ port: redis.port, host: '127.0.0.1' });
  });
  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(open.map((c) => c.close()));
    client.disconnect();
    await redis.stop();
  });

  function setup(): { prefix: string; keys: MarketDataKeys; consumer: (o: Partial<GroupConsumerOptions> & { consumer: string }) => GroupConsumer } {
    const prefix = `t${randomBytes(4).toString('hex')}`;
    const keys = new MarketDataKeys({ prefix, slotGroups: SLOT_GROUPS });
    return {
      prefix,
      keys,
      consumer: (o) => {
        const c = createGroupConsumer({
          redis: { mode: 'standalone', url: redis.url },
          keyPrefix: prefix, slotGroups: SLOT_GROUPS, group: 'strat', symbols: ['600000.SH', '000001.SZ'],
          startAt: 'earliest', blockMs: 50, count: 16, clock: new ManualClock(T0), ...o,
        });
        open.push(c);
        return c;
      },
    };
  }

  /** Reads and commits until `until()` holds; returns every entry handled, in order. */
  async function drain(c: GroupConsumer, until: () => boolean, onBatch?: (batch: MarketDataBatch) => Promise<void>): Promise<string[]> {
    const seen: string[] = [];
    const deadline = Date.now() + 20_000;
    while (!until()) {
      assert.ok(Date.now() < deadline, 'drain did not finish in 20 s');
      const batch = await c.next();
      assert.ok(batch);
      seen.push(...idsOf(batch));
      if (onBatch) await onBatch(batch);
      else await c.commit(batch, undefined);
    }
    return seen;
  }

  test('two consumers split the work: every entry once, none twice', async () => {
    const { keys, consumer } = setup();
    const all = [...(await produce(client, keys, '600000.SH', 150)), ...(await produce(client, keys, '000001.SZ', 150))];
    const a = consumer({ consumer: 'a' });
    const b = consumer({ consumer: 'b' });
    await Promise.all([a.start(), b.start()]);
    const seenA: string[] = [];
    const seenB: string[] = [];
    const done = () => seenA.length + seenB.length >= all.length;
    const run = async (c: GroupConsumer, seen: string[]) => {
      while (!done()) {
        const batch = await c.next();
        assert.ok(batch);
        seen.push(...idsOf(batch));
        await c.commit(batch, undefined);
        await sleep(1); // let the other one read too
      }
    };
    await Promise.all([run(a, seenA), run(b, seenB)]);
    assert.ok(seenA.length > 0 && seenB.length > 0, `both consumers got work (${seenA.length}, ${seenB.length})`);
    assert.equal(new Set([...seenA, ...seenB]).size, seenA.length + seenB.length, 'no entry handed to both');
    assert.deepEqual([...seenA, ...seenB].sort(), [...all].sort());
    const pending = (await client.xpending(keys.streamKey('600000.SH'), 'strat')) as [number, ...unknown[]];
    assert.equal(pending[0], 0, 'everything acknowledged');
    // Each entry's messages decode to the ticks written.
    const batchAgain = await a.next();
    assert.equal(batchAgain?.entries.length, 0);
  });

  test('an uncommitted batch comes back from the pending list after a restart, with its delivery count; the checkpoint survives', async () => {
    const { keys, consumer } = setup();
    await produce(client, keys, '600000.SH', 40);
    const first = consumer({ consumer: 'a', symbols: ['600000.SH'] });
    const committed = await first.next();
    assert.equal(committed?.origin, 'new');
    await first.commit(committed!, 'state-1');
    const lost = await first.next();
    assert.ok(lost && lost.entries.length > 0);
    assert.ok(lost.entries.every((e) => e.deliveries === 1));
    await first.close(); // "crash": no commit
    assert.equal(await first.next(), undefined, 'next() after close() is undefined');

    const again = consumer({ consumer: 'a', symbols: ['600000.SH'] });
    assert.equal(await again.loadCheckpoint(), 'state-1');
    const redelivered = await again.next();
    assert.equal(redelivered?.origin, 'pending');
    assert.deepEqual(idsOf(redelivered!), idsOf(lost));
    assert.ok(redelivered!.entries.every((e) => e.deliveries === 2));
    assert.deepEqual(redelivered!.entries[0]!.messages.map((m) => m.seq), lost.entries[0]!.messages.map((m) => m.seq));
    await again.commit(redelivered!, 'state-2');
    const next = await again.next();
    assert.equal(next?.origin, 'new');
    assert.ok(compareIds(next!.entries[0]!.id, lost.entries.at(-1)!.id) > 0, 'then new entries, after the lost ones');
    assert.equal(await again.loadCheckpoint(), 'state-2');
  });

  test('a commit whose reply was lost is retried with the same token and counts once', async () => {
    const { keys, consumer } = setup();
    await produce(client, keys, '600000.SH', 5);
    const c = consumer({ consumer: 'a', symbols: ['600000.SH'] });
    const batch = (await c.next())!;
    // The first EVALSHA runs on Redis, then its reply is "lost with the connection".
    const redisClient = (c as unknown as { commands: { client: Redis } }).commands.client;
    const call = redisClient.call.bind(redisClient) as (...args: unknown[]) => Promise<unknown>;
    let lostOnce = false;
    (redisClient as unknown as { call: (...args: unknown[]) => Promise<unknown> }).call = async (...args: unknown[]) => {
      const reply = await call(...args);
      if ((args[0] === 'EVALSHA' || args[0] === 'EVAL') && !lostOnce) {
        lostOnce = true;
        throw new Error('Connection is closed.');
      }
      return reply;
    };
    await c.commit(batch, 'after-5');
    assert.ok(lostOnce);
    assert.equal(await c.loadCheckpoint(), 'after-5');
    assert.equal(c.stats().acked, 5);
    assert.equal(c.stats().fenced, 0, 'the retry saw its own token, not a takeover');
    const pending = (await client.xpending(keys.streamKey('600000.SH'), 'strat')) as [number, ...unknown[]];
    assert.equal(pending[0], 0);
  });

  test('a commit is refused (fenced, nothing stored) when another consumer took the entries over', async () => {
    const { keys, consumer } = setup();
    await produce(client, keys, '600000.SH', 10);
    const a = consumer({ consumer: 'a', symbols: ['600000.SH'], claimIdleMs: 50 });
    const batch = await a.next();
    assert.ok(batch && batch.entries.length === 10);
    await sleep(80); // a is "paused" longer than claimIdleMs
    const b = consumer({ consumer: 'b', symbols: ['600000.SH'], claimIdleMs: 50 });
    const taken = await b.next();
    assert.equal(taken?.origin, 'reclaimed');
    assert.deepEqual(idsOf(taken!), idsOf(batch));
    assert.ok(taken!.entries.every((e) => e.deliveries === 2));
    await assert.rejects(a.commit(batch, 'a-state'), (error: unknown) => error instanceof GroupConsumerFencedError && error.entries.length === 10);
    assert.equal(await a.loadCheckpoint(), undefined, 'nothing stored by the refused commit');
    await b.commit(taken!, 'b-state');
    assert.equal(await b.loadCheckpoint(), 'b-state');
    assert.equal(a.stats().fenced, 1);
  });

  test('a consumer process SIGKILLed while holding a batch: another instance reclaims it, every entry committed exactly once', async () => {
    const { prefix, keys, consumer } = setup();
    const symbols = ['600000.SH', '000001.SZ'];
    const all = [...(await produce(client, keys, symbols[0]!, 120)), ...(await produce(client, keys, symbols[1]!, 120))];
    const child = startChild({ url: redis.url, prefix, group: 'strat', consumer: 'a', symbols, count: 10, claimIdleMs: 60_000, holdAtBatch: 3 });
    await child.waitFor((e) => e.event === 'holding');
    child.process.kill('SIGKILL');
    await child.exited;
    const committedA = await committedBy(prefix, 'a');
    assert.ok(committedA.length > 0, 'a committed two batches before the kill');

    const b = consumer({ consumer: 'b', symbols, count: 10, claimIdleMs: 100 });
    let state: string[] = [];
    const origins = new Set<string>();
    await drain(b, () => committedA.length + state.length >= all.length, async (batch) => {
      origins.add(batch.origin);
      state = [...state, ...idsOf(batch)];
      await b.commit(batch, JSON.stringify(state));
    });
    assert.ok(origins.has('reclaimed'), 'the held batch was reclaimed with XAUTOCLAIM');
    const union = [...committedA, ...JSON.parse((await b.loadCheckpoint())!) as string[]];
    assert.equal(new Set(union).size, union.length, 'no entry committed twice');
    assert.deepEqual(union.sort(), [...all].sort());
  });

  test('a consumer process SIGKILLed at a random moment (before or after EXEC), then restarted beside another instance: exactly once overall', async () => {
    const { prefix, keys, consumer } = setup();
    const symbols = ['600000.SH', '000001.SZ'];
    const all = [...(await produce(client, keys, symbols[0]!, 150)), ...(await produce(client, keys, symbols[1]!, 150))];
    const options = { url: redis.url, prefix, group: 'strat', consumer: 'a', symbols, count: 5, claimIdleMs: 150, handleMs: 2 };
    const first = startChild(options);
    await first.waitFor((e) => e.event === 'committed' && Number(e.n) >= 2);
    await sleep(Math.floor(Math.random() * 30));
    first.process.kill('SIGKILL');
    await first.exited;

    // The same instance restarts (drains its pending list) while b reclaims what it can.
    const restarted = startChild(options);
    await restarted.waitFor((e) => e.event === 'ready');
    const b = consumer({ consumer: 'b', symbols, count: 5, claimIdleMs: 150 });
    let state: string[] = [];
    let committedA: string[] = [];
    await drain(b, () => state.length + committedA.length >= all.length, async (batch) => {
      state = [...state, ...idsOf(batch)];
      await b.commit(batch, JSON.stringify(state));
      committedA = await committedBy(prefix, 'a');
    });
    restarted.process.kill('SIGKILL');
    await restarted.exited;
    const union = [...(await committedBy(prefix, 'a')), ...state];
    assert.equal(new Set(union).size, union.length, 'no entry committed twice');
    assert.deepEqual(union.sort(), [...all].sort());
  });

  test('a poison entry is dead-lettered after maxDeliveries with the handler error; the rest flows', async () => {
    const { prefix, keys, consumer } = setup();
    const all = await produce(client, keys, '600000.SH', 6);
    const poison = all[2]!;
    const c = consumer({ consumer: 'a', symbols: ['600000.SH'], claimIdleMs: 40, maxDeliveries: 3, registry: new Registry() });
    const handled = new Set<string>();
    const deliveries: number[] = [];
    const deadline = Date.now() + 15_000;
    while (c.stats().deadLettered === 0) {
      assert.ok(Date.now() < deadline, 'poison entry not dead-lettered within 15 s');
      const batch = (await c.next())!;
      const failed = batch.entries.filter((e) => `${e.stream} ${e.id}` === poison).map((entry) => ({ entry, error: `boom #${entry.deliveries}` }));
      for (const f of failed) deliveries.push(f.entry.deliveries);
      for (const e of batch.entries) if (`${e.stream} ${e.id}` !== poison) handled.add(`${e.stream} ${e.id}`);
      await c.commit(batch, undefined, failed);
    }
    assert.deepEqual(deliveries, [1, 2, 3], 'handed maxDeliveries times, then not again');
    assert.deepEqual([...handled].sort(), all.filter((id) => id !== poison).sort());
    const letters = await readDeadLetters(client, strategyStateKeys(prefix, 'strat', 'a').deadLetter);
    assert.equal(letters.length, 1);
    assert.equal(`${letters[0]!.stream} ${letters[0]!.sourceId}`, poison);
    assert.equal(letters[0]!.reason, 'deliveries');
    assert.equal(letters[0]!.deliveries, 4);
    assert.equal(letters[0]!.error, 'boom #3', 'carries the last handler error');
    assert.ok(letters[0]!.payload.length >= 4, 'payload copied');
    const pending = (await client.xpending(keys.streamKey('600000.SH'), 'strat')) as [number, ...unknown[]];
    assert.equal(pending[0], 0, 'acknowledged after dead-lettering');
  });

  test('a malformed payload is dead-lettered at once and counted; the other entries are delivered', async () => {
    const { prefix, keys, consumer } = setup();
    const registry = new Registry();
    const key = keys.streamKey('600000.SH');
    const good1 = await produce(client, keys, '600000.SH', 2);
    await client.xadd(key, `${SESSION}-100`, 't', 'b', 'd', 'not protobuf \xff\xfe');
    await client.xadd(key, `${SESSION}-101`, 'x', 'y');
    const good2 = await produce(client, keys, '600000.SH', 2, { fromSeq: 102 });
    const c = consumer({ consumer: 'a', symbols: ['600000.SH'], registry });
    const seen = await drain(c, () => c.stats().delivered >= 4);
    assert.deepEqual(seen, [...good1, ...good2]);
    assert.equal(c.stats().decodeErrors, 2);
    const letters = await readDeadLetters(client, strategyStateKeys(prefix, 'strat', 'a').deadLetter);
    assert.deepEqual(letters.map((l) => l.sourceId), [`${SESSION}-100`, `${SESSION}-101`]);
    assert.ok(letters.every((l) => l.reason === 'decode' && l.deliveries === 1 && /protobuf|lacks/.test(l.error)), JSON.stringify(letters.map((l) => l.error)));
    const text = await registry.metrics();
    assert.match(text, /triquant_strategy_md_decode_errors_total\{group="strat"\} 2/);
    assert.match(text, /triquant_strategy_md_dead_lettered_total\{group="strat",reason="decode"\} 2/);
  });

  test('startAt: earliest reads what is retained, live only what comes after the group was created', async () => {
    const { keys, consumer } = setup();
    const old = await produce(client, keys, '600000.SH', 3);
    const early = consumer({ consumer: 'e', group: 'early', symbols: ['600000.SH'] });
    const live = consumer({ consumer: 'l', group: 'live', symbols: ['600000.SH'], startAt: 'live' });
    await Promise.all([early.start(), live.start()]);
    const fresh = await produce(client, keys, '600000.SH', 2, { fromSeq: 10 });
    assert.deepEqual(await drain(early, () => early.stats().delivered >= 5), [...old, ...fresh]);
    assert.deepEqual(await drain(live, () => live.stats().delivered >= 2), fresh);
  });

  test('setSymbols adds streams (creating the group) and drops others', async () => {
    const { keys, consumer } = setup();
    const c = consumer({ consumer: 'a', symbols: ['600000.SH'] });
    await c.start();
    const a1 = await produce(client, keys, '600000.SH', 2);
    assert.deepEqual(await drain(c, () => c.stats().delivered >= 2), a1);
    // A symbol whose stream does not exist yet: MKSTREAM creates it with the group.
    await c.setSymbols(['600000.SH', '300750.SZ']);
    assert.deepEqual(c.symbols.sort(), ['300750.SZ', '600000.SH']);
    const b1 = await produce(client, keys, '300750.SZ', 2);
    assert.deepEqual(await drain(c, () => c.stats().delivered >= 4), b1);
    await c.setSymbols(['300750.SZ']);
    await produce(client, keys, '600000.SH', 2, { fromSeq: 100 });
    const b2 = await produce(client, keys, '300750.SZ', 1, { fromSeq: 100 });
    assert.deepEqual(await drain(c, () => c.stats().delivered >= 5), b2);
    const batch = await c.next();
    assert.equal(batch?.entries.length, 0, 'the dropped symbol is not read');
  });

  test('new entries at or below the last committed id are skipped (group recreated behind the consumer)', async () => {
    const { keys, consumer } = setup();
    const all = await produce(client, keys, '600000.SH', 5);
    const c = consumer({ consumer: 'a', symbols: ['600000.SH'] });
    await drain(c, () => c.stats().delivered >= 5);
    await c.close();
    await client.xgroup('DESTROY', keys.streamKey('600000.SH'), 'strat');
    const more = await produce(client, keys, '600000.SH', 2, { fromSeq: 100 });
    const again = consumer({ consumer: 'a', symbols: ['600000.SH'] });
    assert.deepEqual(await drain(again, () => again.stats().delivered >= 2), more);
    assert.equal(again.stats().duplicates, all.length);
  });

  function startChild(options: Record<string, unknown>): { process: ChildProcess; exited: Promise<void>; waitFor: (match: (e: Record<string, unknown>) => boolean) => Promise<void> } {
    const child = spawn(process.execPath, [CHILD, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const events: Record<string, unknown>[] = [];
    const waiters: { match: (e: Record<string, unknown>) => boolean; resolve: () => void }[] = [];
    let buffered = '';
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const event = JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>;
        buffered = buffered.slice(nl + 1);
        events.push(event);
        for (const w of [...waiters]) if (w.match(event)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve();
        }
      }
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return {
      process: child,
      exited,
      waitFor: (match) =>
        events.some(match)
          ? Promise.resolve()
          : new Promise<void>((resolve, reject) => {
              const timer = setTimeout(() => reject(new Error(`child did not report in time; stderr: ${stderr.slice(-1_000)}`)), 20_000);
              waiters.push({ match, resolve: () => (clearTimeout(timer), resolve()) });
              void exited.then(() => setTimeout(() => reject(new Error(`child exited: ${stderr.slice(-1_000)}`)), 50));
            }),
    };
  }

  async function committedBy(prefix: string, consumerName: string): Promise<string[]> {
    const raw = await client.hget(strategyStateKeys(prefix, 'strat', consumerName).checkpoint, 'user');
    return raw ? (JSON.parse(raw) as string[]) : [];
  }
});

describe('GroupConsumer on Redis Cluster', { skip: SKIP }, () => {
  let cluster: RedisTestCluster;
  before(async () => {
    cluster = await RedisTestCluster.start(3);
  });
  after(async () => {
    await cluster.stop();
  });

  test('reads several slot groups, commits (checkpoint, then acks per slot group), reclaims, dead-letters', async () => {
    const prefix = `c${randomBytes(4).toString('hex')}`;
    const keys = new MarketDataKeys({ prefix, slotGroups: 16 });
    const symbols = ['600000.SH', '000001.SZ', '300750.SZ', '688981.SH'];
    assert.ok(new Set(symbols.map((s) => keys.slotGroup(s))).size >= 3, 'symbols span several slot groups');
    const writer = new Redis.Cluster(cluster.seeds);
    const opts = (consumer: string): GroupConsumerOptions => ({
      redis: { mode: 'cluster', url: `redis://127.0.0.1:${cluster.nodes[0]!.port}`, clusterNodes: cluster.seeds },
      keyPrefix: prefix, slotGroups: 16, group: 'strat', consumer, symbols, startAt: 'earliest', blockMs: 50, count: 8, claimIdleMs: 100, maxDeliveries: 2, clock: new ManualClock(T0),
    });
    const a = createGroupConsumer(opts('a'));
    const b = createGroupConsumer(opts('b'));
    try {
      const all: string[] = [];
      for (const s of symbols) {
        const ids: string[] = [];
        const pipelineWriter = writer as unknown as Redis;
        for (let i = 0; i < 20; i++) {
          const id = `${SESSION}-${3 * i + 3}`;
          await pipelineWriter.xadd(keys.streamKey(s), id, ...encodeEntryFields([1, 2, 3].map((k) => snapshot(s, 3 * i + k)), T0));
          ids.push(`${keys.streamKey(s)} ${id}`);
        }
        all.push(...ids);
      }
      await writer.xadd(keys.streamKey(symbols[0]!), `${SESSION}-1000`, 't', 'b', 'd', 'garbage');
      // a takes one batch and "dies"; b takes over everything, a's batch included.
      const held = await a.next();
      assert.ok(held && held.entries.length > 0);
      let state: string[] = [];
      const origins = new Set<string>();
      const deadline = Date.now() + 20_000;
      while (state.length < all.length) {
        assert.ok(Date.now() < deadline, `b drained ${state.length} of ${all.length}`);
        const batch = (await b.next())!;
        origins.add(batch.origin);
        state = [...state, ...idsOf(batch)];
        await b.commit(batch, JSON.stringify(state));
      }
      assert.ok(origins.has('reclaimed'));
      assert.equal(new Set(state).size, state.length);
      assert.deepEqual([...state].sort(), [...all].sort());
      assert.deepEqual(JSON.parse((await b.loadCheckpoint())!), state);
      await assert.rejects(a.commit(held, 'stale'), GroupConsumerFencedError);
      assert.equal(b.stats().decodeErrors, 1);
      const letters = await readDeadLetters(writer as unknown as Redis, strategyStateKeys(prefix, 'strat', 'b').deadLetter);
      assert.equal(letters.length, 1);
      for (const s of symbols) {
        const pending = (await writer.xpending(keys.streamKey(s), 'strat')) as [number, ...unknown[]];
        assert.equal(pending[0], 0, `${s}: everything acknowledged`);
      }
      assert.equal(await writer.hget(strategyStateKeys(prefix, 'strat', 'b').inflight, 'b'), null, 'no acks owed');
    } finally {
      await a.close();
      await b.close();
      writer.disconnect();
    }
  });
});

function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am === bm ? Number(as - bs) : am < bm ? -1 : 1;
}
