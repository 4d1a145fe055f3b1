/** Limits administration, settings validation, trading-state rules and the compliance profile. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, ValidationError } from '../../../../src/core/errors.ts';
import {
  allowedInState,
  DEFAULT_RISK_LIMITS,
  DEFAULT_RISK_SETTINGS,
  effectiveState,
  isTradingState,
  LIMIT_DEFINITIONS,
  LIMIT_NAMES,
  MONEY_LIMIT_KEYS,
  RiskEngine,
  UnknownLimitError,
  validateRiskSettings,
  type RiskSettings,
} from '../../../../src/core/risk/index.ts';
import { ctx, engine, FakeAccount, order, PROFILE, reasonOf, settings } from './fixtures.ts';

test('limits: snake_case names, one per settings key, defaults listed for account ""', () => {
  assert.equal(new Set(LIMIT_NAMES).size, LIMIT_DEFINITIONS.length);
  for (const name of LIMIT_NAMES) assert.match(name, /^[a-z]+(_[a-z]+)*$/);
  assert.deepEqual(new Set(LIMIT_DEFINITIONS.map((d) => d.key)), new Set(Object.keys(DEFAULT_RISK_LIMITS)));
  const risk = engine();
  const defaults = risk.limits();
  assert.equal(defaults.length, LIMIT_NAMES.length);
  assert.deepEqual(defaults.find((e) => e.name === 'max_daily_orders'), { account: '', name: 'max_daily_orders', value: 18_000 });
});

test('setLimit: default and per-account values, previous/current, effect on the next check', () => {
  const risk = engine();
  const account = new FakeAccount();
  assert.deepEqual(risk.setLimit('', 'max_order_qty', 500), { previous: 200_000, current: 500 });
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 600 }), ctx(account))), 'MAX_ORDER_QTY_EXCEEDED');
  assert.deepEqual(risk.setLimit('A1', 'max_order_qty', 1_000), { previous: undefined, current: 1_000 });
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 600 }), ctx(account))), 'OK');
  assert.deepEqual(risk.setLimit('A1', 'max_order_qty', 700), { previous: 1_000, current: 700 });
  assert.deepEqual(
    risk.limits().filter((e) => e.account === 'A1'),
    [{ account: 'A1', name: 'max_order_qty', value: 700 }],
  );
  assert.equal(risk.limits('A1').find((e) => e.name === 'max_order_qty')?.value, 700);
  assert.deepEqual(risk.clearLimit('A1', 'max_order_qty'), { previous: 700, current: 500 });
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 600 }), ctx(account))), 'MAX_ORDER_QTY_EXCEEDED');
});

test('setLimit: unknown names, bad values and inconsistent values are typed errors', () => {
  const risk = engine();
  assert.throws(() => risk.setLimit('', 'max_orders', 1), (e: unknown) => e instanceof UnknownLimitError && e instanceof ValidationError && e.limit === 'max_orders');
  assert.throws(() => risk.setLimit('', 'max_order_qty', -1), ValidationError);
  assert.throws(() => risk.setLimit('', 'max_order_qty', 1.5), ValidationError);
  assert.throws(() => risk.setLimit('', 'max_orders_per_second', 0), ValidationError);
  assert.throws(() => risk.setLimit('A1', 'order_burst', 201), /order_burst/);
  assert.throws(() => risk.setLimit('', 'daily_cancel_reserve', 18_000), /daily_cancel_reserve/);
  // The declared count must leave room for the cancel reserve.
  assert.throws(() => risk.setLimit('A1', 'daily_cancel_reserve', PROFILE.maxDailyOrders), ValidationError);
  assert.equal(risk.limits('A1').find((e) => e.name === 'order_burst')?.value, 50, 'nothing changed');
});

test('setLimit on the rate reconfigures live buckets', () => {
  const risk = engine();
  const account = new FakeAccount();
  risk.onNewAccepted(order());
  risk.setLimit('', 'order_burst', 1); // 49 tokens held, capped to 1
  assert.equal(risk.usage('A1', order().receivedAt).tokens, 1);
  risk.onNewAccepted(order({ price: 98_000 }));
  assert.equal(reasonOf(risk.checkNew(order({ price: 99_000 }), ctx(account))), 'RATE_LIMITED');
});

test('validateRiskSettings: the defaults pass; each mistake names its key', () => {
  validateRiskSettings(settings());
  validateRiskSettings(DEFAULT_RISK_SETTINGS);
  const bad = (patch: Partial<RiskSettings>, key: string) => {
    assert.throws(
      () => validateRiskSettings({ ...settings(), ...patch }, 'execution.risk'),
      (e: unknown) => e instanceof ConfigError && e.key === key,
      key,
    );
  };
  bad({ limits: { ...DEFAULT_RISK_LIMITS, orderBurst: 300 } }, 'execution.risk.limits.orderBurst');
  bad({ limits: { ...DEFAULT_RISK_LIMITS, maxDailyLoss: -1 } }, 'execution.risk.limits.maxDailyLoss');
  bad({ limits: { ...DEFAULT_RISK_LIMITS, maxOrderNotional: 1.5 } }, 'execution.risk.limits.maxOrderNotional');
  bad({ accountLimits: { A1: { maxOrderQty: -5 } } }, 'execution.risk.accountLimits.A1.maxOrderQty');
  bad({ accountLimits: { A1: { maxOrderQtty: 5 } as never } }, 'execution.risk.accountLimits.A1.maxOrderQtty');
  bad({ accountLimits: { A1: { orderBurst: 201 } } }, 'execution.risk.accountLimits.A1.orderBurst');
  bad({ restrictedSymbols: ['600000.sh'] }, 'execution.risk.restrictedSymbols[0]');
  bad({ profiles: { A1: { ...PROFILE, softwareName: ' ' } } }, 'execution.risk.profiles.A1.softwareName');
  bad({ profiles: { A1: { ...PROFILE, maxOrdersPerSecond: 0 } } }, 'execution.risk.profiles.A1.maxOrdersPerSecond');
  bad({ profiles: { A1: { ...PROFILE, maxDailyOrders: 1_000 } } }, 'execution.risk.profiles.A1.maxDailyOrders');
  bad({ marketOrderTypes: { SSE: ['LIMIT'], SZSE: [], BSE: [] } as never }, 'execution.risk.marketOrderTypes.SSE[0]');
  assert.throws(() => new RiskEngine({ ...settings(), limits: { ...DEFAULT_RISK_LIMITS, maxOrdersPerSecond: 0 } }), ConfigError);
});

test('setProfile validates and takes effect; withdrawing it stops trading', () => {
  const risk = engine();
  assert.throws(() => risk.setProfile('A1', { ...PROFILE, responsiblePerson: '' }), ValidationError);
  risk.setProfile('A1', undefined);
  assert.equal(reasonOf(risk.checkNew(order(), ctx(new FakeAccount()))), 'NO_COMPLIANCE_PROFILE');
  risk.setProfile('A1', PROFILE);
  assert.equal(reasonOf(risk.checkNew(order(), ctx(new FakeAccount()))), 'OK');
  assert.deepEqual(risk.profile('A1'), PROFILE);
});

test('trading state: the stricter of global and account state', () => {
  assert.equal(effectiveState('ACTIVE', undefined), 'ACTIVE');
  assert.equal(effectiveState('REDUCING', undefined), 'REDUCING');
  assert.equal(effectiveState('ACTIVE', 'HALTED'), 'HALTED');
  assert.equal(effectiveState('HALTED', 'ACTIVE'), 'HALTED');
  assert.equal(effectiveState('REDUCING', 'ACTIVE'), 'REDUCING');
  assert.equal(effectiveState('REDUCING', 'HALTED'), 'HALTED');
  assert.equal(isTradingState('REDUCING'), true);
  assert.equal(isTradingState('reducing'), false);
});

test('trading state: what each state allows', () => {
  const sell = (quantity: number) => ({ side: 'SELL' as const, quantity });
  assert.equal(allowedInState('ACTIVE', { side: 'BUY', quantity: 100 }, 0).ok, true);
  assert.equal(reasonOf2(allowedInState('HALTED', sell(100), 1_000)), 'TRADING_HALTED');
  assert.equal(reasonOf2(allowedInState('REDUCING', { side: 'BUY', quantity: 100 }, 1_000)), 'TRADING_REDUCING_ONLY');
  assert.equal(allowedInState('REDUCING', sell(1_000), 1_000).ok, true);
  assert.equal(reasonOf2(allowedInState('REDUCING', sell(1_001), 1_000)), 'TRADING_REDUCING_ONLY');
});

function reasonOf2(result: { ok: boolean; reason?: string }): string {
  return result.ok ? 'OK' : (result.reason ?? '');
}

test('money limits are the ones the config loader converts from CNY', () => {
  assert.deepEqual([...MONEY_LIMIT_KEYS].sort(), ['maxDailyLoss', 'maxGrossExposure', 'maxOrderNotional']);
});
