/**
 * The strategy host end to end on a real redis-server: entries written in the gateway's
 * format (MarketDataKeys streams, `MarketDataBatch` payloads, IDs `<session>-<last seq>`), the
 * real instance process (instance-main: Redis consumer group, dry-run order channel), a
 * strategy that records every tick it handles in its persistent state, and `kill -9` of the
 * instance in the middle of a batch, twice. The committed state must list every tick exactly
 * once, in order; another strategy reading the same stream is not disturbed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { strategyStateKeys } from '../../src/bus/dead-letter.ts';
import { MarketDataKeys } from '../../src/bus/market-data-keys.ts';
import { encodeEntryFields } from '../../src/bus/tick-codec.ts';
import { DEFAULT_STRATEGIES_CONFIG, type InstancePlan, type InstanceSettings } from '../../src/strategy/host-config.ts';
import { StrategyHost } from '../../src/strategy/host.ts';
import { createServiceRegistry } from '../../src/obs/metrics.ts';
import { RedisTestServer, redisServerAvailable } from '../support/redis-server.ts';
import { snapshot, testInstanceSettings } from '../support/strategy-fakes.ts';

const RECORDER = fileURLToPath(new URL('../support/strategies/seq-recorder.ts', import.meta.url));
const SYM = '600000.SH';
const SESSION = 1_767_000_000_000_000;
const TICKS = 400;
const PER_ENTRY = 5;

async function until(what: string, predicate: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('kill -9 mid-batch: the restarted instance handles every tick exactly once; another strategy is undisturbed', { skip: redisServerAvailable() ? false : 'redis-server is not installed' }, async (t) => {
  const redis = await RedisTestServer.start();
  t.after(() => redis.stop());
  const client = new Redis(redis.port, '127.0.0.1');
  t.after(() => client.quit());
  const prefix = `tqhost${process.pid}`;
  const keys = new MarketDataKeys({ prefix, slotGroups: 16 });
  await client.hset(keys.metaKey, keys.metaFields());

  // The gateway's format: one entry per flush of a symbol, ID = <session>-<seq of its last tick>.
  const stream = keys.streamKey(SYM);
  for (let first = 1; first <= TICKS; first += PER_ENTRY) {
    const messages = Array.from({ length: PER_ENTRY }, (_, i) => snapshot(SYM, first + i, 100_000));
    await client.xadd(stream, `${SESSION}-${first + PER_ENTRY - 1}`, ...encodeEntryFields(messages, messages[0]!.eventTime));
  }

  const plan = (name: string, workMs: number): InstancePlan => ({
    key: `${name}/i1`, name, instanceId: 'i1', file: RECORDER, definitionName: 'seq_recorder', account: 'ACC1', symbols: [SYM], params: { workMs }, token: '', capital: 0,
  });
  const settings = (p: InstancePlan): InstanceSettings => testInstanceSettings(p, {
    redis: { mode: 'standalone', url: redis.url, keyPrefix: prefix },
    // 20 entries = 100 ticks per batch; ~3 ms per tick, so a kill lands inside a batch.
    marketData: { ...DEFAULT_STRATEGIES_CONFIG.marketData, startAt: 'earliest', blockMs: 200, count: 20, claimIdleMs: 2_000, maxDeliveries: 10 },
    checkpointIntervalMs: 50,
  });
  const registry = createServiceRegistry('strategy', false);
  const host = new StrategyHost({
    registry,
    plans: [plan('victim', 3), plan('bystander', 0)],
    settingsFor: settings,
    restart: { initialMs: 50, maxMs: 200 },
    crashLoop: { maxRestarts: 5, windowMs: 60_000 },
    stableAfterMs: 60_000,
    stopGraceMs: 10_000,
    output: () => undefined,
  });
  host.start();
  t.after(() => host.stop());
  const victim = () => host.status().find((s) => s.name === 'victim')!;
  const bystander = () => host.status().find((s) => s.name === 'bystander')!;
  const committed = async (name: string): Promise<number[] | undefined> => {
    const text = await client.hget(strategyStateKeys(prefix, name, 'i1').checkpoint, 'user');
    return text === null ? undefined : (JSON.parse(text) as { state: { seen: number[] } }).state.seen;
  };

  // Two kills, each aimed at the middle of a batch (ticks 101-200 and 301-400).
  let midBatch = 0;
  for (const [i, at] of [150, 330].entries()) {
    await until(`victim past tick ${at}`, () => victim().state === 'running' && Number(victim().strategyStatus?.seen ?? 0) >= at);
    const seen = Number(victim().strategyStatus?.seen);
    const pid = victim().pid!;
    process.kill(pid, 'SIGKILL');
    // The ticks handled but not committed when it died: redelivered to the restarted process.
    if (((await committed('victim')) ?? []).length < seen) midBatch += 1;
    await until(`victim restarted (${i + 1})`, () => victim().pid !== undefined && victim().pid !== pid);
  }

  assert.ok(midBatch >= 1, 'at least one kill hit a batch in hand');

  const all = Array.from({ length: TICKS }, (_, i) => i + 1);
  await until('victim committed every tick', async () => ((await committed('victim')) ?? []).length >= TICKS);
  await until('bystander committed every tick', async () => ((await committed('bystander')) ?? []).length >= TICKS);
  assert.deepEqual(await committed('victim'), all, 'every tick exactly once, in order, across two crashes');
  assert.deepEqual(await committed('bystander'), all);
  assert.equal(victim().restarts, 2);
  assert.equal(victim().lastExit?.signal, 'SIGKILL');
  assert.equal(bystander().restarts, 0, 'the other strategy was not disturbed');
  const pending = (await client.xpending(stream, 'victim')) as [number, ...unknown[]];
  assert.equal(pending[0], 0, 'nothing left pending');

  await host.stop();
  assert.equal(victim().lastExit?.code, 0);
  assert.equal(bystander().lastExit?.code, 0);
  // The instances' consumer-group counts reach the host's /metrics with their status reports.
  const metrics = await registry.metrics();
  const count = (what: string) => Number(new RegExp(`triquant_strategy_instance_market_data\\{instance="bystander/i1",what="${what}"[^}]*\\} (\\d+)`).exec(metrics)?.[1]);
  assert.ok(count('delivered') > 0, 'entries delivered to the bystander');
  assert.equal(count('acked'), count('delivered'), 'every delivered entry acknowledged');
  assert.equal(count('deadLettered'), 0);
});
