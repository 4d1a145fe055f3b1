import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load.ts';
import { ConfigError } from '../../../src/core/errors.ts';

function userFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tq-config-'));
  const file = join(dir, 'triquant.yaml');
  writeFileSync(file, text);
  return file;
}

test('the shipped defaults validate, with money converted to integer units', () => {
  const config = loadConfig({ env: {} });
  assert.equal(config.mode, 'paper');
  assert.equal(config.fees.minCommission, 50_000);
  assert.equal(config.monitor.host, '127.0.0.1');
});

test('a user file merges over the defaults', () => {
  const config = loadConfig({ env: {}, file: userFile('monitor:\n  port: 9100\nfees:\n  minCommission: "0.1"\n') });
  assert.equal(config.monitor.port, 9100);
  assert.equal(config.monitor.host, '127.0.0.1');
  assert.equal(config.fees.minCommission, 1_000);
});

test('environment variables override files, parsed as YAML scalars', () => {
  const config = loadConfig({
    file: userFile('monitor:\n  port: 9100\n'),
    env: { TRIQUANT__MONITOR__PORT: '9200', TRIQUANT__REDIS__KEY_PREFIX: 'desk1', TRIQUANT__KAFKA__BROKERS: '[k1:9092, k2:9092]' },
  });
  assert.equal(config.monitor.port, 9200);
  assert.equal(config.redis.keyPrefix, 'desk1');
  assert.deepEqual(config.kafka.brokers, ['k1:9092', 'k2:9092']);
});

function assertConfigError(fn: () => unknown, key: string, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    assert.equal(error.key, key);
    assert.match(error.message, pattern);
    return true;
  });
}

test('a bad value is one clear error naming the key and its origin', () => {
  assertConfigError(() => loadConfig({ env: { TRIQUANT__MONITOR__PORT: 'eighty' } }), 'monitor.port', /TRIQUANT__MONITOR__PORT/);
  assertConfigError(() => loadConfig({ env: {}, file: userFile('fees:\n  minCommission: 5.00001\n') }), 'fees.minCommission', /4 decimals/);
  assertConfigError(() => loadConfig({ env: { TRIQUANT__MODE: 'yolo' } }), 'mode', /paper|live/);
});

test('an unknown key is an error, so typos never fall back to defaults', () => {
  assertConfigError(() => loadConfig({ env: {}, file: userFile('monitor:\n  prot: 1\n') }), 'monitor.prot', /unknown key "prot"/);
  assertConfigError(() => loadConfig({ env: {}, file: userFile('moniter: {}\n') }), 'moniter', /unknown key/);
});

test('cross-field rules: sentinel mode needs sentinels', () => {
  assertConfigError(() => loadConfig({ env: { TRIQUANT__REDIS__MODE: 'sentinel' } }), 'redis.sentinels', /at least one sentinel/);
});

test('unreadable or malformed files are clear errors', () => {
  assertConfigError(() => loadConfig({ env: {}, file: '/nonexistent/triquant.yaml' }), '(file)', /ENOENT/);
  assertConfigError(() => loadConfig({ env: {}, file: userFile('monitor: [\n') }), '(file)', /not valid YAML/);
  assertConfigError(() => loadConfig({ env: {}, file: userFile('- 1\n- 2\n') }), '(root)', /mapping/);
});

test('the shipped ST schedule and fees agree with the core defaults', async () => {
  const { DEFAULT_PRICE_LIMIT_SETTINGS } = await import('../../../src/core/price-rules.ts');
  const { DEFAULT_FEE_SCHEDULE } = await import('../../../src/core/fees.ts');
  const config = loadConfig({ env: {} });
  assert.deepEqual(config.market.stLimitSchedule, DEFAULT_PRICE_LIMIT_SETTINGS.stLimitPctSchedule.map((r) => ({ from: r.from, ppm: r.ppm })));
  assert.deepEqual(config.fees, { ...DEFAULT_FEE_SCHEDULE });
  assert.ok(config.market.holidays.includes(20261001));
});

test('execution: paper defaults give one paper account with ample cash, risk limits in units, the local sim as broker', () => {
  const config = loadConfig({ env: {} });
  const ex = config.execution;
  assert.equal(ex.accounts.length, 1);
  assert.equal(ex.accounts[0]!.id, 'PAPER');
  assert.ok(ex.accounts[0]!.cash >= 1_000_000 * 10_000);
  assert.deepEqual(ex.strategies[0]!.accounts, ['PAPER']);
  assert.equal(ex.risk.limits.maxOrdersPerSecond, 200);
  assert.equal(ex.risk.limits.maxDailyOrders, 18_000);
  assert.equal(ex.risk.limits.dailyCountWarningPct, 80);
  assert.equal(ex.risk.limits.maxDailyLoss, 500_000 * 10_000);
  assert.equal(ex.broker.port, 0);
  assert.equal(ex.broker.senderCompId, 'TRIQUANT');
  assert.equal(ex.adminToken, '');
});

test('execution: live mode needs real tokens; strategies must name configured accounts', () => {
  assertConfigError(() => loadConfig({ env: { TRIQUANT__MODE: 'live' } }), 'execution.adminToken', /16 characters/);
  assertConfigError(
    () => loadConfig({ env: { TRIQUANT__MODE: 'live', TRIQUANT__EXECUTION__ADMIN_TOKEN: 'x'.repeat(20) } }),
    'execution.strategies.0.token', /16 characters/,
  );
  assertConfigError(
    () => loadConfig({ env: {}, file: userFile('execution:\n  strategies:\n    - { id: s1, token: t, accounts: [NOPE] }\n') }),
    'execution.strategies.0.accounts.0', /no account NOPE/,
  );
  assertConfigError(() => loadConfig({ env: {}, file: userFile('execution:\n  risk:\n    limits:\n      maxOrderQty: -1\n') }), 'execution.risk.limits.maxOrderQty', /.+/);
  assertConfigError(() => loadConfig({ env: {}, file: userFile('execution:\n  audit:\n    sync: sometimes\n') }), 'execution.audit.sync', /.+/);
});

test('execution: accounts with positions and per-account limits convert CNY to units', () => {
  const config = loadConfig({
    env: { TRIQUANT__EXECUTION__ADMIN_TOKEN: '12345' },
    file: userFile(
      'execution:\n  accounts:\n    - id: A1\n      cash: "1000.50"\n      positions: [{ symbol: 600036.SH, quantity: 500, avgCost: "38.12" }]\n' +
        '      profile: { strategyType: t, maxOrdersPerSecond: 10, maxDailyOrders: 5000, softwareName: s, softwareVersion: "1", responsiblePerson: p }\n' +
        '  strategies: [{ id: "*", token: tok, accounts: ["*"] }]\n  risk:\n    accountLimits: { A1: { maxDailyLoss: 1000 } }\n',
    ),
  });
  const account = config.execution.accounts[0]!;
  assert.equal(account.cash, 10_005_000);
  assert.equal(account.positions[0]!.avgCost, 381_200);
  assert.equal(config.execution.risk.accountLimits.A1!.maxDailyLoss, 10_000_000);
  assert.equal(config.execution.adminToken, '12345', 'a numeric-looking token stays a string');
});
