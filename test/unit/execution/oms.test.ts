import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chinaInstant, ManualClock } from '../../../src/core/clock.ts';
import { computeFeesOnNotional, DEFAULT_FEE_SCHEDULE } from '../../../src/core/fees.ts';
import { Oms, type OmsOptions } from '../../../src/execution/oms.ts';
import { ReferencePriceCache } from '../../../src/execution/reference-prices.ts';
import { AdminCallError, type SessionIdentity, type SubmitOrderCommand, type VenueOrderStatus } from '../../../src/execution/ports.ts';
import { Tick } from '../../../src/protocol/gen/triquant/v1/market_data.ts';
import { PHASE_CODE } from '../../../src/protocol/feed/frames.ts';
import { FakeBroker, FakePublisher, FakeRisk, MemoryJournal, unknownStatus } from './oms-fakes.ts';

const Y = 10_000;
const SYM = '600036.SH';
const START = chinaInstant(20261102, 10, 0);

const ID: SessionIdentity = { strategyId: 'dual_ma', instanceId: 'i1', accounts: ['A'], sessionId: 's1' };

function setup(overrides: Partial<OmsOptions> = {}, shared?: { journal: MemoryJournal; clock: ManualClock }) {
  const clock = shared?.clock ?? new ManualClock(START);
  const journal = shared?.journal ?? new MemoryJournal(clock);
  const broker = new FakeBroker();
  const risk = new FakeRisk();
  const publisher = new FakePublisher();
  const references = new ReferencePriceCache();
  references.onTick(Tick.fromPartial({
    symbol: SYM, eventTimeUs: clock.nowMicros(), phase: PHASE_CODE.CONTINUOUS as Tick['phase'], prevClosePrice: 38 * Y, lastPrice: 38 * Y,
    upperLimitPrice: 418_000, lowerLimitPrice: 342_000, bids: [{ price: 379_900, quantity: 100 }], asks: [{ price: 380_100, quantity: 100 }],
  }));
  const oms = new Oms({
    journal, broker, risk, references, clock, publisher, fees: DEFAULT_FEE_SCHEDULE,
    accounts: [{ id: 'A', cash: 1_000_000 * Y, positions: [{ symbol: SYM, quantity: 1_000, avgCost: 30 * Y }] }, { id: 'B', cash: 100 * Y, positions: [] }],
    strategies: [{ id: 'dual_ma', token: 'secret', accounts: ['A'] }, { id: '*', token: 'any', accounts: ['B'] }],
    evaluateEveryMs: 1_000_000,
    ...overrides,
  });
  return { clock, journal, broker, risk, publisher, references, oms };
}

async function started(overrides: Partial<OmsOptions> = {}) {
  const s = setup(overrides);
  s.oms.recover();
  await s.oms.whenReconciled();
  assert.equal(s.oms.mode, 'ready');
  s.oms.connected(ID);
  return s;
}

function buy(id: string, qty = 1_000, price = 38 * Y, account = 'A'): SubmitOrderCommand {
  return { type: 'SubmitOrder', clientOrderId: id, account, symbol: SYM, side: 'BUY', orderType: 'LIMIT', price, quantity: qty, tag: 't', clientTimeUs: 0 };
}

function sell(id: string, qty = 500, price = 38 * Y): SubmitOrderCommand {
  return { ...buy(id, qty, price), side: 'SELL' };
}

test('an accepted order is journaled (request, decision with references, send intent) in one append before the broker sees it', async () => {
  const { oms, journal, broker, publisher, risk } = await started();
  let journaledAtSubmit: string[] = [];
  broker.onSubmit = () => (journaledAtSubmit = journal.kinds());
  oms.submit(ID, buy('c1'));
  assert.equal(broker.submitted.length, 1);
  assert.deepEqual(journaledAtSubmit.slice(-3), ['ORDER_REQUEST', 'RISK_DECISION', 'ORDER_SENT']);
  const decision = journal.entries.find((e) => e.kind === 'RISK_DECISION')!;
  assert.equal(decision.data.ok, true);
  assert.equal((decision.data.references as { ask: number }).ask, 380_100, 'the reference prices used are journaled');
  const sentTo = broker.submitted[0]!;
  assert.match(sentTo.clientOrderId, /^20261102-1$/);
  assert.equal(sentTo.quantity, 1_000);
  assert.deepEqual(publisher.reports('c1').map((r) => r.execType), ['SENT']);
  assert.equal(risk.accepted.length, 1);
  assert.equal(risk.checked[0]!.ctx.market?.prevClose, 38 * Y);
  assert.ok(oms.ledger.frozenCash('A') >= 38 * Y * 1_000);
});

test('a risk denial is journaled with its reason, published as OrderDenied, and never sent', async () => {
  const { oms, journal, broker, publisher, risk } = await started();
  risk.deny = (o) => (o.quantity > 500 ? { ok: false, rule: 'quantity', reason: 'ABOVE_MAX_ORDER_QTY', detail: 'too big' } : undefined);
  oms.submit(ID, buy('big', 1_000));
  assert.equal(broker.submitted.length, 0);
  assert.deepEqual(journal.kinds().slice(-2), ['ORDER_REQUEST', 'RISK_DECISION']);
  assert.equal(journal.entries.at(-1)!.data.reason, 'ABOVE_MAX_ORDER_QTY');
  const [denied] = publisher.denials();
  assert.equal(denied?.reasonCode, 'ABOVE_MAX_ORDER_QTY');
  assert.equal(oms.order('A', 'big')?.status, 'DENIED');
  assert.equal(oms.ledger.frozenCash('A'), 0);
});

test('the ledger backstops risk: a buy beyond available cash is denied INSUFFICIENT_CASH', async () => {
  const { oms, broker, publisher } = await started();
  oms.submit({ ...ID, accounts: ['B'] }, buy('rich', 1_000, 38 * Y, 'B'));
  assert.equal(broker.submitted.length, 0);
  assert.equal(publisher.denials()[0]?.reasonCode, 'INSUFFICIENT_CASH');
});

test('a resubmitted (account, clientOrderId) is ignored: one order, one send', async () => {
  const { oms, journal, broker, publisher } = await started();
  oms.submit(ID, buy('same'));
  const entries = journal.entries.length;
  oms.submit(ID, buy('same'));
  oms.submit(ID, buy('same', 100));
  assert.equal(broker.submitted.length, 1);
  assert.equal(journal.entries.length, entries);
  assert.equal(oms.counters.duplicates, 2);
  assert.deepEqual(publisher.reports('same').map((r) => r.execType), ['SENT', 'RESTATED', 'RESTATED'], 'the current state answers a resubmission');
});

test('orders for an account outside the session are denied', async () => {
  const { oms, publisher, broker } = await started();
  oms.submit(ID, buy('x', 100, 38 * Y, 'B'));
  assert.equal(broker.submitted.length, 0);
  assert.equal(publisher.denials()[0]?.reasonCode, 'ACCOUNT_NOT_PERMITTED');
});

test('fills: journaled before applied, fees per fill, duplicates by fill id ignored, ledger and reports follow', async () => {
  const { oms, journal, broker, publisher, clock } = await started();
  oms.submit(ID, buy('f1', 1_000, 38 * Y));
  const clOrdId = broker.submitted[0]!.clientOrderId;
  broker.emit({ type: 'accepted', clientOrderId: clOrdId, venueOrderId: 'V1', ts: clock.nowMicros() });
  broker.emit({ type: 'filled', clientOrderId: clOrdId, venueOrderId: 'V1', fillId: 'E1', qty: 400, price: 379_000, ts: clock.nowMicros() });
  broker.emit({ type: 'filled', clientOrderId: clOrdId, venueOrderId: 'V1', fillId: 'E1', qty: 400, price: 379_000, ts: clock.nowMicros() });
  broker.emit({ type: 'filled', clientOrderId: clOrdId, venueOrderId: 'V1', fillId: 'E2', qty: 600, price: 380_000, ts: clock.nowMicros() });
  assert.deepEqual(journal.kinds().filter((k) => k === 'FILL').length, 2);
  const reports = publisher.reports('f1');
  assert.deepEqual(reports.map((r) => r.execType), ['SENT', 'ACCEPTED', 'TRADE', 'TRADE']);
  const trades = reports.filter((r) => r.execType === 'TRADE');
  const totalFees = computeFeesOnNotional('BUY', 379_000 * 400 + 380_000 * 600).total;
  assert.equal(trades[0]!.lastFees, computeFeesOnNotional('BUY', 379_000 * 400).total);
  assert.equal(trades[1]!.cumFees, totalFees);
  assert.equal(trades[1]!.status, 'FILLED');
  assert.equal(trades[1]!.cumQty, 1_000);
  assert.equal(oms.ledger.positionQty('A', SYM), 2_000);
  assert.equal(oms.ledger.sellableQty('A', SYM), 1_000, 'T+1');
  assert.equal(oms.ledger.frozenCash('A'), 0);
  assert.equal(oms.ledger.cash('A'), 1_000_000 * Y - (379_000 * 400 + 380_000 * 600) - totalFees);
  assert.equal(journal.entries.filter((e) => e.kind === 'FILL')[0]!.data.fee, trades[0]!.lastFees);
  assert.equal(oms.counters.duplicateFills, 1);
});

test('a new China day settles yesterday\'s buys (T+1) before the order and restarts the day\'s ClOrdIDs', async () => {
  const { oms, broker, publisher, clock } = await started();
  oms.submit(ID, buy('d1', 1_000, 38 * Y));
  const first = broker.submitted[0]!.clientOrderId;
  assert.equal(first, '20261102-1');
  broker.emit({ type: 'filled', clientOrderId: first, venueOrderId: 'V1', fillId: 'E1', qty: 1_000, price: 38 * Y, ts: clock.nowMicros() });
  oms.submit(ID, sell('d2', 1_500));
  assert.equal(publisher.denials().at(-1)?.clientOrderId, 'd2', 'only the 1,000 settled shares are sellable today');
  clock.set(chinaInstant(20261103, 9, 31));
  oms.submit(ID, sell('d3', 1_500));
  assert.equal(oms.ledger.tradingDate, 20261103);
  assert.equal(broker.submitted.at(-1)?.clientOrderId, '20261103-1', 'the new day counts its ClOrdIDs from 1');
  assert.deepEqual(publisher.reports('d3').map((r) => r.execType), ['SENT']);
});

test('cancel: CANCEL_REQUEST journaled before broker.cancel, PENDING_CANCEL then CANCELLED, freeze released', async () => {
  const { oms, journal, broker, publisher, clock } = await started();
  oms.submit(ID, buy('k1'));
  const clOrdId = broker.submitted[0]!.clientOrderId;
  broker.emit({ type: 'accepted', clientOrderId: clOrdId, venueOrderId: 'V1', ts: clock.nowMicros() });
  oms.cancel(ID, { type: 'CancelOrder', clientOrderId: 'k1', account: 'A', clientTimeUs: 0 });
  assert.equal(journal.kinds().at(-1), 'CANCEL_REQUEST');
  assert.equal(broker.cancels.length, 1);
  assert.equal(broker.cancels[0]!.clientOrderId, clOrdId);
  oms.cancel(ID, { type: 'CancelOrder', clientOrderId: 'k1', account: 'A', clientTimeUs: 0 });
  assert.equal(broker.cancels.length, 1, 'a second cancel while one is pending is refused');
  broker.emit({ type: 'cancelled', clientOrderId: clOrdId, reason: 'REQUESTED', ts: clock.nowMicros() });
  assert.deepEqual(publisher.reports('k1').map((r) => r.execType), ['SENT', 'ACCEPTED', 'PENDING_CANCEL', 'CANCEL_REJECTED', 'CANCELLED']);
  assert.equal(oms.ledger.frozenCash('A'), 0);
  oms.cancel(ID, { type: 'CancelOrder', clientOrderId: 'nope', account: 'A', clientTimeUs: 0 });
  const unknown = publisher.reports('nope')[0]!;
  assert.equal(unknown.execType, 'CANCEL_REJECTED');
  assert.equal(unknown.status, undefined);
});

test('a cancel that failed validation is journaled and answered CANCEL_REJECTED with its reason; the order is untouched', async () => {
  const { oms, journal, broker, publisher, clock } = await started();
  oms.submit(ID, buy('k1'));
  broker.emit({ type: 'accepted', clientOrderId: broker.submitted[0]!.clientOrderId, venueOrderId: 'V1', ts: clock.nowMicros() });
  oms.invalidCancel(ID, 'k1', 'Z9', 'ACCOUNT_NOT_ALLOWED', 'account Z9 is not one of this session\'s accounts');
  const decision = journal.entries.at(-1)!;
  assert.equal(decision.kind, 'RISK_DECISION');
  assert.equal(decision.clientOrderId, 'k1');
  assert.deepEqual({ ...(decision.data as Record<string, unknown>) }, {
    ok: false, rule: 'validation', reason: 'ACCOUNT_NOT_ALLOWED', detail: 'account Z9 is not one of this session\'s accounts', instanceId: 'i1', invalid: true, cancel: true,
  });
  const reports = publisher.reports('k1');
  assert.equal(reports.at(-1)!.execType, 'CANCEL_REJECTED');
  assert.equal(reports.at(-1)!.text, 'ACCOUNT_NOT_ALLOWED: account Z9 is not one of this session\'s accounts');
  assert.equal(broker.cancels.length, 0, 'nothing went to the venue');
  assert.equal(oms.order('A', 'k1')!.status, 'ACCEPTED', 'the order it named is untouched');
});

test('cancels are paced by the rate limit, never denied: sent once the limit allows', async () => {
  const { oms, broker, risk, clock } = await started({ cancelRetryMs: 5 });
  oms.submit(ID, buy('p1'));
  broker.emit({ type: 'accepted', clientOrderId: broker.submitted[0]!.clientOrderId, venueOrderId: 'V1', ts: clock.nowMicros() });
  risk.cancelPacing = { ok: false, reason: 'RATE_LIMITED', detail: 'slow down' };
  oms.cancel(ID, { type: 'CancelOrder', clientOrderId: 'p1', account: 'A', clientTimeUs: 0 });
  assert.equal(broker.cancels.length, 0);
  risk.cancelPacing = { ok: true };
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(broker.cancels.length, 1);
  oms.close();
});

test('kill switch from the admin API: HALTED is journaled with actor and reason, announced, cancels working orders, denies new ones', async () => {
  const { oms, journal, broker, publisher, clock } = await started();
  oms.submit(ID, buy('w1'));
  broker.emit({ type: 'accepted', clientOrderId: broker.submitted[0]!.clientOrderId, venueOrderId: 'V1', ts: clock.nowMicros() });
  const { previous, current } = oms.setTradingState('ACCOUNT', 'A', 'HALTED', 'operator:alice', 'runaway strategy');
  assert.equal(previous.state, 'ACTIVE');
  assert.equal(current.state, 'HALTED');
  const entry = journal.entries.find((e) => e.kind === 'TRADING_STATE')!;
  assert.equal(entry.actor, 'operator:alice');
  assert.equal(entry.data.reason, 'runaway strategy');
  assert.equal(publisher.stateChanges()[0]?.current.state, 'HALTED');
  assert.equal(broker.cancels.length, 1, 'the working order is cancelled');
  oms.submit(ID, buy('w2'));
  assert.equal(publisher.denials().at(-1)?.reasonCode, 'TRADING_HALTED');
  assert.throws(() => oms.setTradingState('ACCOUNT', 'NOPE', 'HALTED', 'x', 'y'), AdminCallError);
});

test('REDUCING allows sells of held shares only; the global state is the floor for every account', async () => {
  const { oms, broker, publisher } = await started();
  oms.setTradingState('GLOBAL', '', 'REDUCING', 'operator:bob', 'close out');
  oms.submit(ID, buy('r1', 100));
  assert.equal(publisher.denials().at(-1)?.reasonCode, 'TRADING_REDUCING_ONLY');
  oms.submit(ID, sell('r2', 500));
  assert.equal(broker.submitted.length, 1);
  assert.equal(oms.ledger.sellableQty('A', SYM), 500, 'the sell freezes shares');
  oms.setTradingState('GLOBAL', '', 'ACTIVE', 'operator:bob', 'done');
  oms.submit(ID, buy('r3', 100));
  assert.equal(broker.submitted.length, 2);
});

test('an automatic trigger from risk (after a fill) halts the account with actor risk:<rule>', async () => {
  const { oms, broker, risk, publisher, clock } = await started();
  oms.submit(ID, buy('a1', 100));
  const clOrdId = broker.submitted[0]!.clientOrderId;
  risk.triggers = [{ account: 'A', state: 'HALTED', rule: 'daily_loss', reason: 'DAILY_LOSS_LIMIT' }];
  broker.emit({ type: 'filled', clientOrderId: clOrdId, venueOrderId: 'V', fillId: 'E', qty: 100, price: 38 * Y, ts: clock.nowMicros() });
  assert.equal(oms.effectiveState('A'), 'HALTED');
  const change = publisher.stateChanges().at(-1)!;
  assert.equal(change.current.actor, 'risk:daily_loss');
  assert.equal(change.current.reason, 'DAILY_LOSS_LIMIT');
});

test('restart: orders, ledger, trading states and limits come back from the journal; the venue is asked before new orders go', async () => {
  const first = await started();
  const { oms, broker, clock, journal } = first;
  oms.submit(ID, buy('o1', 1_000));
  oms.submit(ID, buy('o2', 200));
  oms.submit(ID, buy('o3', 300));
  const [c1, c2, c3] = broker.submitted.map((o) => o.clientOrderId);
  broker.emit({ type: 'accepted', clientOrderId: c1!, venueOrderId: 'V1', ts: clock.nowMicros() });
  broker.emit({ type: 'filled', clientOrderId: c1!, venueOrderId: 'V1', fillId: 'E1', qty: 1_000, price: 38 * Y, ts: clock.nowMicros() });
  broker.emit({ type: 'accepted', clientOrderId: c2!, venueOrderId: 'V2', ts: clock.nowMicros() });
  oms.setTradingState('ACCOUNT', 'A', 'REDUCING', 'operator:carol', 'test');
  oms.setLimit('A', 'max_order_qty', 5_000, 'operator:carol', 'smaller');
  const cashBefore = oms.ledger.cash('A');
  const frozenBefore = oms.ledger.frozenCash('A');
  oms.close();

  // "kill -9": a new OMS over the same journal. The venue knows o2 (working, 100 filled meanwhile) but never got o3.
  clock.advance(1_000_000);
  const second = setup({}, { journal, clock });
  const statuses = new Map<string, VenueOrderStatus>([
    [c2!, { clientOrderId: c2!, status: 'PARTIALLY_FILLED', venueOrderId: 'V2', cumQty: 100, leavesQty: 100, avgPrice: 38 * Y, text: '' }],
  ]);
  second.broker.venueStatus = (o) => statuses.get(o.clientOrderId) ?? unknownStatus(o.clientOrderId);
  second.broker.state = 'connecting';
  second.oms.recover();
  assert.equal(second.oms.mode, 'recovering');
  second.oms.submit(ID, sell('after', 100));
  assert.equal(second.broker.submitted.length, 0, 'new orders wait for the reconcile');
  second.broker.setState('connected');
  await second.oms.whenReconciled();
  assert.equal(second.oms.mode, 'ready');
  assert.deepEqual(second.broker.reconciled[0]!.map((o) => o.clientOrderId).sort(), [c2, c3].sort());
  assert.equal(second.oms.order('A', 'o1')?.status, 'FILLED');
  assert.equal(second.oms.order('A', 'o2')?.status, 'PARTIALLY_FILLED');
  assert.equal(second.oms.order('A', 'o2')?.cumQty, 100);
  assert.equal(second.oms.order('A', 'o3')?.status, 'REJECTED', 'sent-intent but unknown at the venue: rejected, never resent');
  assert.match(second.oms.order('A', 'o3')!.text, /NOT_AT_VENUE/);
  assert.equal(second.oms.effectiveState('A'), 'REDUCING');
  assert.equal(second.risk.accountLimits.get('A/max_order_qty'), 5_000);
  assert.equal(second.risk.accepted.length, 4, 'risk counters are rebuilt from the 3 sends, plus the queued order');
  assert.equal(second.oms.ledger.positionQty('A', SYM), 1_000 + 1_000 + 100);
  assert.ok(second.oms.ledger.cash('A') < cashBefore, 'the reconciled fill is booked');
  assert.ok(second.oms.ledger.frozenCash('A') < frozenBefore, 'o3 released its freeze');
  // The queued order went after the reconcile, with a fresh ClOrdID of the day.
  assert.equal(second.broker.submitted.length, 1);
  assert.equal(second.broker.submitted[0]!.clientOrderId, '20261102-4');
  // A resubmission of an order the first process knew is still idempotent.
  second.oms.submit(ID, buy('o3', 300));
  assert.equal(second.broker.submitted.length, 1);
  second.oms.close();
});

test('after an unclean restart the orders of the last journaled events are restated (their reports may not have been stored); not after a clean stop', async () => {
  const first = await started();
  const { oms, broker, clock, journal } = first;
  oms.submit(ID, buy('f1', 1_000));
  oms.submit(ID, buy('f2', 200));
  const [c1] = broker.submitted.map((o) => o.clientOrderId);
  broker.emit({ type: 'accepted', clientOrderId: c1!, venueOrderId: 'V1', ts: clock.nowMicros() });
  // The fill is journaled; its report is "lost" (the crash came before the outbox commit).
  broker.emit({ type: 'filled', clientOrderId: c1!, venueOrderId: 'V1', fillId: 'E1', qty: 1_000, price: 38 * Y, ts: clock.nowMicros() });
  oms.close();

  const second = setup({ publisher: undefined }, { journal, clock });
  second.oms.recover();
  const publisher = new FakePublisher();
  second.oms.setPublisher(publisher);
  const restated = publisher.reports('f1');
  assert.equal(restated.length, 1);
  assert.equal(restated[0]!.execType, 'RESTATED');
  assert.equal(restated[0]!.status, 'FILLED');
  assert.equal(restated[0]!.cumQty, 1_000, 'the strategy reconciles the missing fill from it');
  assert.equal(restated[0]!.text, 'RESTATED_AFTER_RESTART');
  second.oms.setPublisher(publisher);
  assert.equal(publisher.reports('f1').length, 1, 'restated once');

  // A clean stop journals SERVICE stopped last: nothing to restate.
  second.oms.close();
  journal.append([{ kind: 'SERVICE', actor: 'system', data: { event: 'stopped' } }]);
  const third = setup({}, { journal, clock });
  third.oms.recover();
  assert.deepEqual(third.publisher.reports(), []);
});

test('a journal that refuses an append stops the action: nothing is sent', async () => {
  const { oms, journal, broker, publisher } = await started();
  journal.failNext = true;
  oms.submit(ID, buy('j1'));
  assert.equal(broker.submitted.length, 0);
  assert.equal(publisher.denials()[0]?.reasonCode, 'JOURNAL_UNAVAILABLE');
});

test('authentication: token per strategy, "*" entries, accounts checked', () => {
  const { oms } = setup();
  assert.deepEqual(oms.authenticate('dual_ma', 'i', 'secret', ['A']), { ok: true });
  assert.equal(oms.authenticate('dual_ma', 'i', 'wrong', ['A']).ok, false);
  const denied = oms.authenticate('dual_ma', 'i', 'secret', ['B']);
  assert.equal(!denied.ok && denied.code, 'PERMISSION_DENIED');
  assert.deepEqual(oms.authenticate('grid', 'i', 'any', ['B']), { ok: true });
  assert.equal(oms.authenticate('grid', 'i', 'any', ['ZZ']).ok, false);
});

test('admin: listOrders newest first with filters, positions, limits with journaled changes', async () => {
  const { oms, journal } = await started();
  oms.submit(ID, buy('l1', 100));
  oms.submit(ID, buy('l2', 100));
  const { orders, truncated } = oms.listOrders({ limit: 1 });
  assert.equal(orders[0]?.clientOrderId, 'l2');
  assert.equal(truncated, true);
  assert.equal(oms.listOrders({ limit: 10, statuses: ['FILLED'] }).orders.length, 0);
  const [position] = oms.listPositions('A');
  assert.equal(position?.quantity, 1_000);
  assert.equal(position?.sellableQuantity, 1_000);
  assert.throws(() => oms.setLimit('A', 'no_such_limit', 1, 'op', 'r'), (e: unknown) => e instanceof AdminCallError && e.code === 'INVALID_ARGUMENT');
  const change = oms.setLimit('', 'max_orders_per_second', 100, 'operator:dan', 'calmer');
  assert.equal(change.previous?.value, 200);
  assert.equal(journal.entries.at(-1)?.kind, 'LIMIT_CHANGE');
  assert.equal(journal.entries.at(-1)?.actor, 'operator:dan');
});

test('reconcile through the broker hook (before the adapter says connected): ready comes with the connected state, cancels pending at the crash go again', async () => {
  const first = await started();
  first.oms.submit(ID, buy('h1', 100));
  const clOrdId = first.broker.submitted[0]!.clientOrderId;
  first.broker.emit({ type: 'accepted', clientOrderId: clOrdId, venueOrderId: 'V9', ts: first.clock.nowMicros() });
  first.oms.cancel(ID, { type: 'CancelOrder', clientOrderId: 'h1', account: 'A', clientTimeUs: 0 });
  first.oms.close();

  const second = setup({}, { journal: first.journal, clock: first.clock });
  second.broker.state = 'connecting';
  second.broker.venueStatus = (o) => ({ clientOrderId: o.clientOrderId, status: 'ACCEPTED', venueOrderId: 'V9', cumQty: 0, leavesQty: 100, avgPrice: 0, text: '' });
  second.oms.recover();
  await second.oms.reconcileNow();
  assert.equal(second.oms.mode, 'recovering', 'not ready before the adapter is');
  assert.equal(second.broker.cancels.length, 0);
  second.broker.setState('connected');
  assert.equal(second.oms.mode, 'ready');
  assert.equal(second.broker.cancels.length, 1, 'the cancel pending at the crash is sent again');
  assert.equal(second.broker.cancels[0]!.cancelId, `${clOrdId}-C2`);
  assert.equal(second.oms.order('A', 'h1')?.status, 'PENDING_CANCEL');
  second.oms.close();
});
