/** Dynamic risk: rate limit, daily count, cancels, account-level triggers and compliance monitors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chinaInstant } from '../../../../src/core/clock.ts';
import { APPROVED, RiskEngine } from '../../../../src/core/risk/index.ts';
import { ctx, DATE, engine, FakeAccount, market, MS, order, PROFILE, reasonOf, SECOND, settings, T0 } from './fixtures.ts';

/** Sends `n` distinct accepted orders at `at` (distinct prices: no duplicates). */
function sendOrders(risk: RiskEngine, n: number, at: number, account = 'A1'): void {
  for (let i = 0; i < n; i += 1) risk.onNewAccepted(order({ account, receivedAt: at, price: 90_000 + i * 100 }));
}

test('rate limit: the burst passes at one instant, the next order is RATE_LIMITED until a token refills', () => {
  // L = 10/s, burst 4: refill 7/s, so no second holds more than 10.
  const risk = engine({ maxOrdersPerSecond: 10, orderBurst: 4 });
  const account = new FakeAccount();
  sendOrders(risk, 3, T0);
  assert.equal(risk.checkNew(order(), ctx(account)), APPROVED, 'the 4th of a burst of 4');
  sendOrders(risk, 1, T0);
  const limited = risk.checkNew(order(), ctx(account));
  assert.equal(reasonOf(limited), 'RATE_LIMITED');
  assert.equal(limited.ok ? '' : limited.rule, 'rate_limit');
  // One token per 1/7 s = 142,858 µs (rounded up).
  assert.equal(reasonOf(risk.checkNew(order(), ctx(account, market(), T0 + 142_857))), 'RATE_LIMITED');
  assert.equal(risk.checkNew(order(), ctx(account, market(), T0 + 142_858)), APPROVED);
});

test('rate limit: cancels share the bucket and are paced, never denied by rules', () => {
  const risk = engine({ maxOrdersPerSecond: 3, orderBurst: 2 });
  // No profile, halted elsewhere: neither matters to a cancel.
  assert.equal(risk.checkCancel('NOPROFILE', T0), APPROVED);
  risk.onNewAccepted(order({ receivedAt: T0 }));
  risk.onCancelSent('A1', 'c-x', T0 - 5 * SECOND, T0);
  const paced = risk.checkCancel('A1', T0);
  assert.equal(reasonOf(paced), 'RATE_LIMITED');
  assert.equal(risk.checkCancel('A1', T0 + SECOND / 2), APPROVED);
});

test('the declared profile tightens the rate: the stricter of limit and declaration', () => {
  const risk = new RiskEngine(settings({ maxOrdersPerSecond: 200, orderBurst: 50 }, { profiles: { A1: { ...PROFILE, maxOrdersPerSecond: 3 } } }));
  const account = new FakeAccount();
  sendOrders(risk, 3, T0);
  assert.equal(reasonOf(risk.checkNew(order(), ctx(account))), 'RATE_LIMITED');
  assert.equal(risk.usage('A1', T0).maxOrdersPerSecond, 3);
  const limits = Object.fromEntries(risk.limits('A1').map((e) => [e.name, e.value]));
  assert.equal(limits.max_orders_per_second, 3);
  assert.equal(limits.order_burst, 3);
});

test('daily count: warning at 80%, new orders stop before the cap (cancel reserve), cancels at the cap; next day resets', () => {
  const risk = engine({ maxDailyOrders: 10, dailyCancelReserve: 2, dailyCountWarningPct: 80, maxOrdersPerSecond: 1_000, orderBurst: 1_000 });
  const account = new FakeAccount();
  sendOrders(risk, 6, T0);
  assert.equal(risk.checkNew(order(), ctx(account)), APPROVED, 'the 7th: 70%');
  sendOrders(risk, 1, T0);
  const warned = risk.checkNew(order(), ctx(account));
  assert.equal(warned.ok, true);
  assert.deepEqual(warned.ok ? warned.warnings.map((w) => w.code) : [], ['DAILY_COUNT_WARNING'], 'the 8th reaches 80%');
  sendOrders(risk, 1, T0);
  assert.deepEqual(risk.drainAlerts().map((a) => a.code), ['DAILY_COUNT_WARNING']);
  assert.deepEqual(risk.drainAlerts(), [], 'drained');
  const stopped = risk.checkNew(order(), ctx(account));
  assert.equal(reasonOf(stopped), 'DAILY_COUNT_EXCEEDED');
  // Cancels go on up to the cap of 10.
  assert.equal(risk.checkCancel('A1', T0), APPROVED);
  risk.onCancelSent('A1', 'c1', T0 - 10 * SECOND, T0);
  risk.onCancelSent('A1', 'c2', T0 - 10 * SECOND, T0);
  assert.equal(reasonOf(risk.checkCancel('A1', T0)), 'DAILY_COUNT_EXCEEDED');
  assert.equal(risk.usage('A1', T0).dailyCount, 10);
  assert.deepEqual(risk.drainAlerts(), [], 'the warning is raised once a day');
  // China midnight: a new day.
  const nextDay = chinaInstant(DATE + 1, 9, 30);
  assert.equal(risk.checkCancel('A1', nextDay), APPROVED);
  assert.equal(risk.checkNew(order({ receivedAt: nextDay }), ctx(account, market('600000.SH', { updatedAt: nextDay }), nextDay)), APPROVED);
  assert.equal(risk.usage('A1', nextDay).dailyCount, 0);
});

test('daily count: the declared maximum daily count is enforced when stricter', () => {
  const risk = new RiskEngine(
    settings({ maxDailyOrders: 18_000, dailyCancelReserve: 1, maxOrdersPerSecond: 1_000, orderBurst: 1_000 }, { profiles: { A1: { ...PROFILE, maxDailyOrders: 5 } } }),
  );
  sendOrders(risk, 4, T0);
  assert.equal(reasonOf(risk.checkNew(order(), ctx(new FakeAccount()))), 'DAILY_COUNT_EXCEEDED');
  assert.equal(risk.checkCancel('A1', T0), APPROVED);
});

test('evaluate: daily loss → HALTED, exposure → REDUCING, each once per breach', () => {
  const risk = engine({ maxDailyLoss: 1_000_000_000, maxGrossExposure: 5_000_000_000 });
  const account = new FakeAccount();
  assert.deepEqual(risk.evaluate(account, T0), []);
  account.pnl = -1_000_000_000;
  assert.deepEqual(risk.evaluate(account, T0), [{ account: 'A1', state: 'HALTED', rule: 'daily_loss', reason: 'DAILY_LOSS_LIMIT' }]);
  assert.deepEqual(risk.evaluate(account, T0 + SECOND), [], 'not repeated while the breach lasts');
  account.pnl = 0;
  assert.deepEqual(risk.evaluate(account, T0 + 2 * SECOND), []);
  account.pnl = -2_000_000_000;
  assert.equal(risk.evaluate(account, T0 + 3 * SECOND).length, 1, 'a new breach triggers again');
  account.gross = 5_000_000_001;
  assert.deepEqual(risk.evaluate(account, T0 + 4 * SECOND), [
    { account: 'A1', state: 'REDUCING', rule: 'gross_exposure', reason: 'MAX_GROSS_EXPOSURE_EXCEEDED' },
  ]);
});

test('monitors: fast cancels within 1 s of sending raise FAST_CANCEL at each multiple of the threshold', () => {
  const risk = engine({ fastCancelMs: 1_000, fastCancelAlertCount: 2, cancelRatioAlertPct: 0, orderRateSpikePerSecond: 0 });
  risk.onCancelSent('A1', 'c1', T0, T0 + 999 * MS);
  risk.onCancelSent('A1', 'c2', T0, T0 + 1_000 * MS); // not fast: exactly one second
  assert.deepEqual(risk.drainAlerts(), []);
  risk.onCancelSent('A1', 'c3', T0 + 1_000 * MS, T0 + 1_100 * MS);
  const alerts = risk.drainAlerts();
  assert.deepEqual(alerts.map((a) => [a.account, a.code, a.at]), [['A1', 'FAST_CANCEL', T0 + 1_100 * MS]]);
  assert.match(alerts[0]?.detail ?? '', /2 cancels within 1000 ms.*c3 after 100 ms/);
  assert.equal(risk.usage('A1', T0 + 2 * SECOND).fastCancels, 2);
});

test('monitors: a high cancel ratio raises HIGH_CANCEL_RATIO once a day, from the minimum order count', () => {
  const risk = engine({ cancelRatioAlertPct: 50, cancelRatioMinOrders: 4, fastCancelAlertCount: 0, orderRateSpikePerSecond: 0 });
  for (let i = 0; i < 3; i += 1) risk.onCancelSent('A1', `c${i}`, T0 - 10 * SECOND, T0);
  sendOrders(risk, 3, T0);
  assert.deepEqual(risk.drainAlerts(), [], 'fewer than 4 orders: not judged');
  sendOrders(risk, 1, T0 + SECOND);
  assert.deepEqual(risk.drainAlerts().map((a) => a.code), ['HIGH_CANCEL_RATIO']);
  risk.onCancelSent('A1', 'c9', T0 - 10 * SECOND, T0 + SECOND);
  assert.deepEqual(risk.drainAlerts(), []);
});

test('monitors: an order-rate spike is reported when it starts, and again only after it ended', () => {
  const risk = engine({ orderRateSpikePerSecond: 3, fastCancelAlertCount: 0, cancelRatioAlertPct: 0 });
  sendOrders(risk, 2, T0);
  risk.onNewAccepted(order({ receivedAt: T0 + 999_999, price: 80_000 }));
  assert.deepEqual(risk.drainAlerts().map((a) => a.code), ['ORDER_RATE_SPIKE']);
  risk.onCancelSent('A1', 'cx', T0, T0 + 999_999);
  assert.deepEqual(risk.drainAlerts(), [], 'still the same spike');
  risk.onNewAccepted(order({ receivedAt: T0 + 5 * SECOND, price: 81_000 }));
  sendOrders(risk, 2, T0 + 5 * SECOND + 1);
  assert.deepEqual(risk.drainAlerts().map((a) => a.code), ['ORDER_RATE_SPIKE']);
});
