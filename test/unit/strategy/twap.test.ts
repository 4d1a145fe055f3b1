import { test } from 'node:test';
import assert from 'node:assert/strict';
import twap from '../../../strategies/twap.ts';
import { chinaTimeOfDay, yuan, type SubmitIntent } from '../../../src/strategy/api.ts';
import { StrategyHarness } from '../../../src/strategy/testing.ts';
import { checkLot } from '../../../src/core/lot-rules.ts';
import { parseSymbol } from '../../../src/core/instruments.ts';

function instrumentBoard(symbol: string) {
  const parsed = parseSymbol(symbol);
  if (!parsed.ok) throw new Error(parsed.detail);
  return parsed.value;
}

const SYM = '600000.SH';
const hhmm = (micros: number) => {
  const minutes = Math.floor(chinaTimeOfDay(micros) / 60_000_000);
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
};
const sum = (orders: readonly SubmitIntent[]) => orders.reduce((n, o) => n + o.quantity, 0);

async function run(params: Record<string, unknown>, options: Parameters<typeof StrategyHarness.start>[1] = {}, until = '15:00') {
  const h = await StrategyHarness.start(twap, { params: { symbol: SYM, ...params }, start: Date.UTC(2026, 0, 5, 1, 30) * 1000, ...options });
  await h.tick(SYM, { last: yuan(10) });
  await h.advanceTo(h.at(until));
  return h;
}

test('buy: equal lot slices on the schedule, at the ask, summing to the parent; progress reported', async () => {
  const h = await run({ side: 'BUY', quantity: 1_000, start: '10:00', end: '10:50', slices: 5 });
  assert.deepEqual(h.submitted.map((o) => [hhmm(o.createdAt), o.quantity, o.price]), [
    ['10:00', 200, yuan(10.01)],
    ['10:10', 200, yuan(10.01)],
    ['10:20', 200, yuan(10.01)],
    ['10:30', 200, yuan(10.01)],
    ['10:40', 200, yuan(10.01)],
  ]);
  assert.equal(h.position(SYM).quantity, 1_000);
  assert.equal(h.state.filled, 1_000);
  assert.deepEqual({ filled: h.status.filled, target: h.status.target, percent: h.status.percent, done: h.status.done }, { filled: 1_000, target: 1_000, percent: 100, done: true });
  assert.ok(h.statusHistory.length >= 5);
});

test('uneven parent: slices are whole lots and the last takes the rest', async () => {
  const h = await run({ side: 'BUY', quantity: 1_000, start: '10:00', end: '10:30', slices: 3 });
  assert.deepEqual(h.submitted.map((o) => o.quantity), [300, 300, 400]);
  assert.equal(sum(h.submitted), 1_000);
});

test('sell with an odd lot: whole lots first, the odd part goes whole in the last slice', async () => {
  const h = await run({ side: 'SELL', quantity: 1_050, start: '10:00', end: '10:40', slices: 4 }, { positions: [{ symbol: SYM, quantity: 1_050, avgCost: yuan(9) }] });
  const qty = h.submitted.map((o) => o.quantity);
  assert.deepEqual(qty, [200, 300, 200, 350]);
  assert.equal(sum(h.submitted), 1_050);
  assert.ok(h.submitted.every((o) => o.side === 'SELL' && o.price === yuan(10)), 'sold at the bid');
  assert.equal(h.reports.filter((r) => r.type === 'orderDenied').length, 0, 'every child passed the lot rule');
  assert.equal(h.position(SYM).quantity, 0);
});

test('a window across lunch spreads slices over continuous time only', async () => {
  const h = await run({ side: 'BUY', quantity: 600, start: '11:00', end: '13:30', slices: 6 });
  assert.deepEqual(h.submitted.map((o) => hhmm(o.createdAt)), ['11:00', '11:10', '11:20', '13:00', '13:10', '13:20']);
  for (const o of h.submitted) {
    const t = hhmm(o.createdAt);
    assert.ok(!(t >= '11:30' && t < '13:00'), `no order at lunch (${t})`);
  }
  assert.equal(sum(h.submitted), 600);
});

test('property-like sweep: for many parents and slice counts the children are valid lots and add up', async () => {
  for (const [quantity, slices, symbol] of [
    [100, 1, SYM], [100, 5, SYM], [900, 4, SYM], [12_300, 7, SYM], [5_000, 13, SYM],
    [1_000, 3, '688001.SH'], [450, 2, '688001.SH'], [399, 3, '688001.SH'], [250, 4, '830799.BJ'],
  ] as const) {
    const h = await StrategyHarness.start(twap, { params: { symbol, side: 'BUY', quantity, start: '10:00', end: '11:00', slices }, start: Date.UTC(2026, 0, 5, 1, 30) * 1000 });
    await h.tick(symbol, { last: yuan(10) });
    await h.advanceTo(h.at('11:05'));
    const { board } = instrumentBoard(symbol);
    assert.equal(sum(h.submitted), quantity, `${quantity} in ${slices} slices on ${symbol}`);
    for (const o of h.submitted) assert.ok(checkLot(board, 'BUY', o.quantity).ok, `${o.quantity} is a valid ${board} buy`);
  }
});

test('passive: rests at the bid, crosses after the timeout', async () => {
  const h = await run({ side: 'BUY', quantity: 200, start: '10:00', end: '10:10', slices: 1, pricing: 'passive', crossAfterSec: 30 });
  assert.deepEqual(h.submitted.map((o) => [hhmm(o.createdAt), o.price]), [
    ['10:00', yuan(10)], // our own best: the bid
    ['10:00', yuan(10.01)], // 30 s later, crossed to the ask
  ]);
  assert.equal(h.cancelled.length, 1);
  assert.equal(h.position(SYM).quantity, 200);
  assert.equal(h.submitted[1]!.createdAt - h.submitted[0]!.createdAt, 30_000_000);
});

test('unfilled children roll into the next slice; filled + working never exceeds the schedule', async () => {
  // limitPrice below the ask: children rest unfilled; the price drops at 10:25 and everything fills.
  const h = await StrategyHarness.start(twap, {
    params: { symbol: SYM, side: 'BUY', quantity: 1_000, start: '10:00', end: '10:50', slices: 5, limitPrice: 9.9 },
    start: Date.UTC(2026, 0, 5, 1, 30) * 1000,
  });
  await h.tick(SYM, { last: yuan(10) });
  const targets = h.state.targets;
  for (let t = h.at('10:00'); t <= h.at('10:50'); t += 60_000_000) {
    await h.advanceTo(t);
    if (t === h.at('10:25')) await h.tick(SYM, { last: yuan(9.85) });
    const working = h.openOrders(SYM).reduce((n, o) => n + o.leavesQty, 0);
    const due = targets[h.state.next - 1] ?? 0;
    assert.ok(h.state.filled + working <= due, `${hhmm(t)}: filled ${h.state.filled} + working ${working} > schedule ${due}`);
  }
  assert.ok(h.cancelled.length >= 2, 'stale children were cancelled at the next slice');
  assert.equal(h.position(SYM).quantity, 1_000);
  assert.ok(h.submitted.every((o) => o.price <= yuan(9.9)), 'never above the limit price');
});

test('restart mid-way: progress survives, nothing is executed twice', async () => {
  const h = await StrategyHarness.start(twap, { params: { symbol: SYM, side: 'BUY', quantity: 1_000, start: '10:00', end: '10:50', slices: 5 }, start: Date.UTC(2026, 0, 5, 1, 30) * 1000 });
  await h.tick(SYM, { last: yuan(10) });
  await h.advanceTo(h.at('10:15'));
  assert.equal(h.state.filled, 400);
  await h.restart();
  await h.advance(1_000);
  await h.tick(SYM, { last: yuan(10) }); // quotes are not checkpointed: the next tick brings one
  await h.advanceTo(h.at('11:00'));
  assert.equal(sum(h.submitted), 1_000);
  assert.equal(h.position(SYM).quantity, 1_000);
  assert.equal(new Set(h.submitted.map((o) => o.clientOrderId)).size, 5);
});

test('a halted symbol gets no children; the schedule catches up after the halt', async () => {
  const h = await StrategyHarness.start(twap, { params: { symbol: SYM, side: 'BUY', quantity: 600, start: '10:00', end: '10:30', slices: 3 }, start: Date.UTC(2026, 0, 5, 1, 30) * 1000 });
  await h.tick(SYM, { last: yuan(10), phase: 'HALTED' });
  await h.advanceTo(h.at('10:15'));
  assert.equal(h.submitted.length, 0);
  await h.tick(SYM, { last: yuan(10) }); // trading resumes
  await h.advanceTo(h.at('10:35'));
  assert.deepEqual(h.submitted.map((o) => [hhmm(o.createdAt), o.quantity]), [['10:20', 600]], 'the 10:20 slice catches up the whole schedule');
});

test('a window with no continuous trading does nothing and says so', async () => {
  const h = await run({ side: 'BUY', quantity: 1_000, start: '11:35', end: '12:55' });
  assert.equal(h.submitted.length, 0);
  assert.ok(h.logs.some((l) => l.level === 'error' && /no continuous trading/.test(l.message)));
});

test('without a quote at start the slices are planned on the first tick (the market may run on another clock)', async () => {
  const h = await StrategyHarness.start(twap, { params: { symbol: SYM, side: 'BUY', quantity: 1_000, start: '10:00', end: '10:50', slices: 5 }, start: Date.UTC(2026, 0, 5, 1, 30) * 1000 });
  assert.equal(h.state.date, null, 'nothing planned before a quote');
  await h.tick(SYM, { last: yuan(10) });
  assert.notEqual(h.state.date, null, 'planned on the first tick');
  await h.advanceTo(h.at('11:00'));
  assert.equal(sum(h.submitted), 1_000);
});
