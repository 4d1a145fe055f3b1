/**
 * `MonitorService` against a real redis-server: consumer-group lag and Redis memory reach the
 * dashboard snapshot (pushed over SSE) and the monitor's own /metrics; an unreachable service
 * is shown down and raises an alert.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { silentLogger } from '../../src/obs/log.ts';
import { MonitorService } from '../../src/monitor/monitor.ts';
import { freePort, redisServerAvailable, RedisTestServer } from '../support/redis-server.ts';

const skip = redisServerAvailable() ? false : 'redis-server is not installed';

test('group lag and Redis memory reach the pushed snapshot and /metrics; a dead service is an alert', { skip }, async (t) => {
  const redis = await RedisTestServer.start();
  t.after(() => redis.stop());
  const prefix = `tqmon${randomUUID().slice(0, 8)}`;
  const client = new Redis(redis.url);
  t.after(() => client.disconnect());
  const stream = `${prefix}:md:{g0}:600000.SH`;
  for (let i = 1; i <= 3; i++) await client.xadd(stream, `1-${i}`, 'd', 'x');
  await client.xgroup('CREATE', stream, 'dual_ma', '0');

  const deadPort = await freePort();
  const monitor = await MonitorService.start({
    host: '127.0.0.1', port: 0, intervalMs: 100, historyPoints: 10,
    targets: [{ name: 'gateway', url: `http://127.0.0.1:${deadPort}/metrics` }],
    redis: { mode: 'standalone', url: redis.url, keyPrefix: prefix },
    keyPrefix: prefix, accounts: ['PAPER'],
    thresholds: { consumerLagEntries: 3, redisMemoryPct: 80, redisMemoryBytes: 1e12, orderRatePct: 80, dailyCountPct: 80, grpcDisconnectedMs: 10_000 },
    log: silentLogger,
  });
  t.after(() => monitor.close());

  // The pushed snapshot (Server-Sent Events), read until it carries the group.
  const response = await fetch(`${monitor.url}events`);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let state: { groups: Array<{ group: string; lag: number }>; redis: { up: boolean; usedMemory: number; streams: number }; services: Array<{ name: string; up: boolean }>; alerts: Array<{ id: string }> } | undefined;
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && !(state?.groups.length && state.alerts.length)) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = frame.split('\n').find((l) => l.startsWith('data: '));
      if (data) state = JSON.parse(data.slice(6)) as typeof state;
    }
  }
  await reader.cancel();
  assert.ok(state, 'a snapshot was pushed');
  assert.deepEqual(state.groups.map((g) => [g.group, g.lag]), [['dual_ma', 3]]);
  assert.equal(state.redis.up, true);
  assert.equal(state.redis.streams, 1);
  assert.ok(state.redis.usedMemory > 0);
  assert.deepEqual(state.services.map((s) => [s.name, s.up]), [['gateway', false]]);
  const ids = state.alerts.map((a) => a.id).sort();
  assert.deepEqual(ids, ['consumer_lag:dual_ma', 'service_down:gateway']);

  const metrics = await (await fetch(`${monitor.url}metrics`)).text();
  assert.match(metrics, /^triquant_redis_consumer_group_lag\{group="dual_ma",service="monitor"\} 3$/m);
  assert.match(metrics, /^triquant_redis_used_memory_bytes\{service="monitor"\} [1-9]\d*$/m);
  assert.match(metrics, /^triquant_monitor_alerts\{severity="critical",service="monitor"\} 1$/m);
});
