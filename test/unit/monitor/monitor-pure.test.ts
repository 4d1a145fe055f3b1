import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Registry } from 'prom-client';
import { byLabel, parsePrometheusText, sumOf } from '../../../src/monitor/prom-text.ts';
import { diffAlerts, evaluateAlerts, type AlertInputs, type AlertThresholds } from '../../../src/monitor/alerts.ts';
import { parseKillSwitchRequest } from '../../../src/monitor/server.ts';

test('prometheus text written by prom-client reads back, labels and escapes included', async () => {
  const registry = new Registry();
  const orders = new Counter({ name: 'tq_orders_total', help: 'h', labelNames: ['account', 'note'], registers: [registry] });
  const state = new Gauge({ name: 'tq_state', help: 'h', registers: [registry] });
  orders.inc({ account: 'A1', note: 'quote " and \\ and\nnewline' }, 3);
  orders.inc({ account: 'A2', note: 'x' }, 4);
  state.set(-2.5);
  const { samples, errors } = parsePrometheusText(await registry.metrics());
  assert.equal(errors, 0);
  assert.equal(sumOf(samples, 'tq_orders_total'), 7);
  assert.equal(sumOf(samples, 'tq_orders_total', { account: 'A2' }), 4);
  assert.equal(sumOf(samples, 'tq_state'), -2.5);
  assert.equal(sumOf(samples, 'tq_missing'), undefined);
  assert.deepEqual([...byLabel(samples, 'tq_orders_total', 'account')], [['A1', 3], ['A2', 4]]);
  const a1 = samples.find((s) => s.labels.account === 'A1');
  assert.equal(a1?.labels.note, 'quote " and \\ and\nnewline');
});

test('malformed exposition lines are counted and skipped, the rest is kept', () => {
  const { samples, errors } = parsePrometheusText('ok 1\nbroken{a="x" 2\nnovalue\nbad{a="1"} notanumber\nalso_ok{a="b"} +Inf\n');
  assert.equal(errors, 3);
  assert.deepEqual(samples.map((s) => [s.name, s.value]), [['ok', 1], ['also_ok', Number.POSITIVE_INFINITY]]);
});

const thresholds: AlertThresholds = { consumerLagEntries: 1000, redisMemoryPct: 80, redisMemoryBytes: 1e9, orderRatePct: 80, dailyCountPct: 80, grpcDisconnectedMs: 5000 };
const quiet: AlertInputs = {
  now: 100_000,
  servicesDown: [],
  groups: [{ group: 'dual_ma', lag: 999 }],
  redis: { usedMemory: 79, maxMemory: 100 },
  accounts: [{ account: 'A', ratePerSec: 159, rateLimit: 200, dailyCount: 15_999, dailyLimit: 20_000 }],
  sessions: [{ strategy: 's', instance: '1', connected: false, downSince: 95_001 }],
  crashLoops: [],
  complianceAlerts: [{ account: 'A', code: 'FAST_CANCEL', count: 0 }],
  tradingState: { global: 'ACTIVE', accounts: [{ account: 'A', state: 'ACTIVE' }] },
};

test('alerts stay quiet just below every threshold', () => {
  assert.deepEqual(evaluateAlerts(quiet, thresholds), []);
});

test('each alert fires at its threshold', () => {
  const ids = evaluateAlerts(
    {
      ...quiet,
      servicesDown: [{ name: 'gateway', error: 'ECONNREFUSED' }],
      groups: [{ group: 'dual_ma', lag: 1000 }],
      redis: { usedMemory: 80, maxMemory: 100 },
      accounts: [{ account: 'A', ratePerSec: 160, rateLimit: 200, dailyCount: 16_000, dailyLimit: 20_000 }],
      sessions: [{ strategy: 's', instance: '1', connected: false, downSince: 95_000 }],
      crashLoops: [{ strategy: 'grid', instance: '0' }],
      complianceAlerts: [{ account: 'A', code: 'FAST_CANCEL', count: 2 }],
      tradingState: { global: 'HALTED', accounts: [{ account: 'A', state: 'REDUCING' }] },
    },
    thresholds,
  ).map((a) => a.id);
  assert.deepEqual(ids, [
    'service_down:gateway', 'consumer_lag:dual_ma', 'redis_memory', 'order_rate:A', 'daily_count:A',
    'grpc_disconnected:s.1', 'crash_loop:grid.0', 'compliance:A:FAST_CANCEL', 'kill_switch:global', 'kill_switch:A',
  ]);
  const noMax = evaluateAlerts({ ...quiet, redis: { usedMemory: 1e9, maxMemory: 0 } }, thresholds);
  assert.deepEqual(noMax.map((a) => a.id), ['redis_memory']);
});

test('diffAlerts tells which alerts started and cleared', () => {
  const a = { id: 'a', severity: 'warning' as const, message: 'a' };
  const b = { id: 'b', severity: 'critical' as const, message: 'b' };
  const c = { id: 'c', severity: 'warning' as const, message: 'c' };
  assert.deepEqual(diffAlerts([a, b], [b, c]), { started: [c], cleared: [a] });
});

test('the kill-switch body is validated with a reason for each mistake', () => {
  assert.deepEqual(parseKillSwitchRequest({ state: 'HALTED', actor: ' ops ', reason: ' test ' }), { scope: 'GLOBAL', account: '', state: 'HALTED', actor: 'ops', reason: 'test' });
  assert.deepEqual(parseKillSwitchRequest({ scope: 'ACCOUNT', account: 'A', state: 'REDUCING', actor: 'x', reason: 'y' }), { scope: 'ACCOUNT', account: 'A', state: 'REDUCING', actor: 'x', reason: 'y' });
  assert.match(String(parseKillSwitchRequest(null)), /JSON object/);
  assert.match(String(parseKillSwitchRequest({ scope: 'ALL', state: 'HALTED', actor: 'x', reason: 'y' })), /scope/);
  assert.match(String(parseKillSwitchRequest({ scope: 'ACCOUNT', state: 'HALTED', actor: 'x', reason: 'y' })), /account is required/);
  assert.match(String(parseKillSwitchRequest({ scope: 'GLOBAL', account: 'A', state: 'HALTED', actor: 'x', reason: 'y' })), /must be empty/);
  assert.match(String(parseKillSwitchRequest({ state: 'STOP', actor: 'x', reason: 'y' })), /state must be/);
  assert.match(String(parseKillSwitchRequest({ state: 'HALTED', actor: '', reason: 'y' })), /actor/);
  assert.match(String(parseKillSwitchRequest({ state: 'HALTED', actor: 'x' })), /reason/);
});
