import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/core/clock.ts';
import { ConfigError } from '../../../src/core/errors.ts';
import { computeFees } from '../../../src/core/fees.ts';
import {
  defineStrategy,
  yuan,
  z,
  StrategyApiError,
  type ExecutionReportEvent,
  type JsonObject,
  type OrderUpdate,
  type StrategyContext,
  type StrategyHooks,
  type Tick,
} from '../../../src/strategy/api.ts';
import { StrategyHarness, StrategyHookError, StrategyRuntime } from '../../../src/strategy/testing.ts';

const SYM = '600000.SH';
const P10 = yuan(10); // 100_000 units

/** 2026-01-05 at a China wall-clock time. */
const h0 = (hhmm: string) => {
  const [hh, mm] = hhmm.split(':').map(Number) as [number, number];
  return Date.UTC(2026, 0, 5, hh - 8, mm) * 1000;
};

type Ctx = StrategyContext<{ qty: number }, JsonObject>;

/** A strategy whose hooks are given by the test. */
function probe(hooks: StrategyHooks<{ qty: number }, JsonObject> = {}, state: () => JsonObject = () => ({ n: 0 })) {
  return defineStrategy({
    name: 'probe',
    version: '1.0.0',
    params: z.strictObject({ qty: z.number().int().positive().default(100) }),
    state,
    create: () => hooks,
  });
}

/** Buys `qty` at the ask on every tick while `buying` is set. */
function buyer(onUpdate?: (ctx: Ctx, u: OrderUpdate) => void) {
  const updates: OrderUpdate[] = [];
  const def = probe({
    onTick(ctx, tick) {
      if (ctx.state.buying === true && tick.ask !== undefined) {
        ctx.buy(tick.symbol, ctx.params.qty, tick.ask, { tag: 'probe' });
        ctx.state.buying = false;
      }
    },
    onOrderUpdate(ctx, u) {
      updates.push(u);
      onUpdate?.(ctx, u);
    },
  }, () => ({ buying: true }));
  return { def, updates };
}

test('a tick in, an order out: id, fields, fill, position and cash', async () => {
  const { def, updates } = buyer();
  const h = await StrategyHarness.start(def, { symbols: [SYM], params: { qty: 300 } });
  await h.tick(SYM, { last: P10 }); // bid 10.00, ask 10.01
  assert.equal(h.submitted.length, 1);
  const order = h.submitted[0]!;
  assert.equal(order.clientOrderId, 'probe.test-20260105-1');
  assert.deepEqual(
    { symbol: order.symbol, side: order.side, type: order.orderType, price: order.price, qty: order.quantity, tag: order.tag, account: order.account },
    { symbol: SYM, side: 'BUY', type: 'LIMIT', price: 100_100, qty: 300, tag: 'probe', account: 'SIM' },
  );
  assert.deepEqual(updates.map((u) => u.kind), ['SENT', 'ACCEPTED', 'FILL']);
  const pos = h.position(SYM);
  assert.equal(pos.quantity, 300);
  assert.equal(pos.boughtToday, 300);
  assert.equal(pos.sellable, 0, 'T+1: bought today is not sellable');
  // 300 × 10.01 = 3003 CNY; commission min 5 CNY + transfer fee 0.03 CNY
  const fees = 50_000 + 300;
  assert.equal(h.order(order.clientOrderId)?.fees, fees);
  assert.equal(h.cash().available, 10_000_000_000 - 300 * 100_100 - fees);
  assert.equal(h.cash().frozen, 0);
  assert.equal(pos.avgCost, Math.round((300 * 100_100 + fees) / 300));
  assert.deepEqual(h.broker().position(SYM), pos, 'the strategy view matches the venue account');
  assert.deepEqual(h.broker().cash(), h.cash());
});

test('an open buy freezes cash (price × qty + estimated fees); a cancel releases it', async () => {
  let id = '';
  const h = await StrategyHarness.start(
    probe({
      onTick(ctx) {
        if (id === '') id = ctx.buy(SYM, 1_000, yuan(9.5));
      },
      onTimer(ctx) {
        assert.equal(ctx.cancel(id), true);
        assert.equal(ctx.cancel(id), false, 'a second cancel while one is outstanding is refused');
      },
      onStart(ctx) {
        ctx.setTimer('cancel', { at: ctx.now() + 60_000_000 });
      },
    }),
    { symbols: [SYM] },
  );
  await h.tick(SYM, { last: P10 });
  assert.equal(h.openOrders(SYM).length, 1);
  const frozen = 1_000 * 95_000 + computeFees('BUY', 95_000, 1_000).total; // 9,500 CNY + min commission 5 + transfer fee 0.10
  assert.equal(frozen, 95_000_000 + 50_000 + 1_000);
  assert.deepEqual(h.cash(), { available: 10_000_000_000 - frozen, frozen });
  await h.advance(60_000);
  assert.deepEqual(h.cancelled, [id]);
  assert.equal(h.order(id)?.status, 'CANCELLED');
  assert.deepEqual(h.cash(), { available: 10_000_000_000, frozen: 0 });
});

test('partial fills release frozen cash share by share and keep the order open', async () => {
  let id = '';
  const h = await StrategyHarness.start(
    probe({ onTick: (ctx) => void (id ||= ctx.buy(SYM, 1_000, yuan(9.5))) }),
    { symbols: [SYM], venue: { fills: 'manual' } },
  );
  await h.tick(SYM, { last: P10 });
  await h.fill(id, { qty: 300, price: yuan(9.49) });
  const o = h.order(id)!;
  assert.deepEqual([o.status, o.filledQty, o.leavesQty, o.avgPrice], ['PARTIALLY_FILLED', 300, 700, 94_900]);
  assert.equal(h.cash().frozen, 1_000 * 95_000 + 51_000 - 300 * 95_000, 'the fee estimate stays frozen until the order is done');
  await h.fill(id);
  assert.equal(h.order(id)?.status, 'FILLED');
  assert.equal(h.cash().frozen, 0);
  assert.equal(h.position(SYM).quantity, 1_000);
  assert.deepEqual(h.broker().cash(), h.cash());
});

test('T+1: shares bought today cannot be sold until the next trading day', async () => {
  const denials: OrderUpdate[] = [];
  const h = await StrategyHarness.start(
    probe({
      onTick(ctx, tick) {
        const pos = ctx.position(SYM);
        if (pos.quantity === 0 && ctx.openOrders().length === 0) ctx.buy(SYM, 500, tick.ask!);
        else if (ctx.state.trySell === true) {
          ctx.state.trySell = false;
          ctx.sell(SYM, 500, tick.bid!);
        }
      },
      onOrderUpdate: (_ctx, u) => void (u.kind === 'DENIED' && denials.push(u)),
    }),
    { symbols: [SYM] },
  );
  await h.tick(SYM, { last: P10 });
  assert.equal(h.position(SYM).sellable, 0);
  h.state.trySell = true;
  await h.tick(SYM, { last: P10 });
  assert.equal(denials.length, 1);
  assert.equal(denials[0]!.reason, 'EXCEEDS_SELLABLE_POSITION');
  assert.equal(h.position(SYM).quantity, 500);

  await h.advanceTo(h.at('09:30', 20260106)); // next trading day
  assert.equal(h.position(SYM).sellable, 500);
  h.state.trySell = true;
  await h.tick(SYM, { last: yuan(10.5) });
  const pos = h.position(SYM);
  assert.equal(pos.quantity, 0);
  assert.ok(pos.realizedPnl > 0, `realised a profit: ${pos.realizedPnl}`);
  assert.deepEqual(h.broker().position(SYM), pos);
});

test('seeded positions are sellable; selling freezes them; a partial odd-lot sell is denied', async () => {
  const updates: OrderUpdate[] = [];
  const h = await StrategyHarness.start(
    probe({
      onTick(ctx) {
        if (ctx.state.n === 0) {
          ctx.sell(SYM, 30, yuan(11)); // splits the odd lot (50) of 1,050: denied
          ctx.sell(SYM, 1_000, yuan(11)); // whole lots: rests above the market
          ctx.state.n = 1;
        }
      },
      onOrderUpdate: (_c, u) => void updates.push(u),
    }),
    { symbols: [SYM], positions: [{ symbol: SYM, quantity: 1_050, avgCost: yuan(9) }], venue: { fills: 'manual' } },
  );
  await h.tick(SYM, { last: P10 });
  const denied = updates.find((u) => u.kind === 'DENIED');
  assert.equal(denied?.reason, 'ODD_LOT_NOT_WHOLE_POSITION');
  const pos = h.position(SYM);
  assert.deepEqual([pos.quantity, pos.frozen, pos.sellable], [1_050, 1_000, 50]);
});

test('timers fire on the manual clock, in order, with ctx.now() at the due time', async () => {
  const fired: [string, number][] = [];
  const h = await StrategyHarness.start(
    probe({
      onStart(ctx) {
        ctx.setTimer('beat', 1_000);
        ctx.setTimer('once', { at: ctx.now() + 2_500_000 });
      },
      onTimer(ctx, name) {
        fired.push([name, ctx.now()]);
        if (name === 'beat' && fired.filter(([n]) => n === 'beat').length === 4) ctx.clearTimer('beat');
      },
    }),
  );
  const t0 = h.now();
  await h.advance(10_000);
  assert.deepEqual(fired, [
    ['beat', t0 + 1_000_000],
    ['beat', t0 + 2_000_000],
    ['once', t0 + 2_500_000],
    ['beat', t0 + 3_000_000],
    ['beat', t0 + 4_000_000],
  ]);
  assert.equal(h.now(), t0 + 10_000_000);
});

test('state, timers and open orders survive a restart; ids continue', async () => {
  const starts: boolean[] = [];
  const ticks: number[] = [];
  const def = probe(
    {
      onStart(ctx) {
        starts.push(ctx.restored);
        if (!ctx.restored) ctx.setTimer('t', 60_000);
      },
      onTick(ctx, tick) {
        ctx.state.n = (ctx.state.n as number) + 1;
        ticks.push(tick.time);
        ctx.buy(SYM, 100, yuan(9));
      },
      onTimer(ctx) {
        ctx.state.timerFired = true;
      },
    },
    () => ({ n: 0, timerFired: false }),
  );
  const h = await StrategyHarness.start(def, { symbols: [SYM] });
  await h.tick(SYM, { last: P10 });
  await h.tick(SYM, { last: P10 });
  assert.deepEqual(h.submitted.map((s) => s.clientOrderId), ['probe.test-20260105-1', 'probe.test-20260105-2']);
  await h.restart();
  assert.deepEqual(starts, [false, true]);
  assert.equal(h.state.n, 2);
  assert.equal(h.openOrders(SYM).length, 2, 'open orders come back from the checkpoint');
  assert.equal(h.cash().frozen, h.broker().cash().frozen);
  await h.tick(SYM, { last: P10 });
  assert.equal(h.submitted.at(-1)?.clientOrderId, 'probe.test-20260105-3', 'no id is reused after a restart');
  await h.advance(60_000);
  assert.equal(h.state.timerFired, true, 'the timer set before the restart still fires');
});

test('restarting from an older checkpoint and re-handling the same tick re-sends the same ids: the venue ignores them', async () => {
  const def = probe({
    onTick(ctx, tick) {
      if (tick.last !== undefined && tick.last < yuan(10)) ctx.buy(SYM, 100, tick.ask!);
    },
  });
  const h = await StrategyHarness.start(def, { symbols: [SYM], venue: { fills: 'manual' } });
  await h.tick(SYM, { last: P10 }); // no order
  const before = h.checkpoint();
  await h.tick(SYM, { last: yuan(9.9) }); // order 1
  await h.tick(SYM, { last: yuan(9.8) }); // order 2
  assert.equal(h.submitted.length, 2);

  // Crash before the checkpoint after these ticks was saved: resume from `before`. The resumed
  // report stream tells the runtime about orders 1 and 2 first; the redelivered ticks make the
  // same decisions with the same ids, which are recognised and not sent again.
  await h.restart({ from: before });
  assert.equal(h.openOrders(SYM).length, 2);
  await h.tick(SYM, { last: yuan(9.9) });
  await h.tick(SYM, { last: yuan(9.8) });
  assert.equal(h.submitted.length, 2, 'nothing new was sent');
  assert.equal(h.openOrders(SYM).length, 2);
  assert.equal(h.cash().frozen, h.broker().cash().frozen, 'no double reservation');

  // Without the replayed reports (the stream resumes later), the re-sent submits carry the same
  // ids and the execution service treats them as duplicates.
  const h2 = await StrategyHarness.start(def, { symbols: [SYM], venue: { fills: 'manual' } });
  await h2.tick(SYM, { last: P10 });
  const old = h2.checkpoint();
  await h2.tick(SYM, { last: yuan(9.9) });
  const rt = new StrategyRuntime(def, { instanceId: 'test', account: 'SIM', clock: h2.clock, checkpoint: old });
  await rt.start();
  const replay = await rt.deliverTick(tickOf(yuan(9.9), h2.now()));
  assert.equal(replay.intents.length, 1);
  assert.equal(replay.intents[0]!.type === 'submit' && replay.intents[0]!.clientOrderId, 'probe.test-20260105-1');
});

function tickOf(last: number, time: number): Tick {
  return Object.freeze({
    symbol: SYM, time, receivedAt: time, phase: 'CONTINUOUS', last, open: last, high: last, low: last, prevClose: last,
    upperLimit: undefined, lowerLimit: undefined, volume: 0, turnover: 0, bid: last, ask: last + 100, bidQty: 100, askQty: 100,
    bids: [{ price: last, qty: 100, orders: 1 }], asks: [{ price: last + 100, qty: 100, orders: 1 }],
  });
}

test('a re-made decision that differs from the known order skips the id instead of reusing it', async () => {
  let price = yuan(9.9);
  const def = probe({ onTick: (ctx) => void ctx.buy(SYM, 100, price) });
  const h = await StrategyHarness.start(def, { symbols: [SYM], venue: { fills: 'manual' } });
  const before = h.checkpoint();
  await h.tick(SYM, { last: P10 }); // order 1 at 9.90
  await h.restart({ from: before });
  price = yuan(9.8);
  await h.tick(SYM, { last: P10 }); // different decision: must not take id 1
  assert.deepEqual(h.submitted.map((s) => [s.clientOrderId, s.price]), [
    ['probe.test-20260105-1', 99_000],
    ['probe.test-20260105-2', 98_000],
  ]);
  assert.ok(h.logs.some((l) => l.level === 'warn' && /skipping/.test(l.message)));
});

test('rule violations come back as DENIED updates with core reason codes', async () => {
  const reasons: (string | undefined)[] = [];
  const h = await StrategyHarness.start(
    probe({
      onTick(ctx) {
        ctx.buy(SYM, 150, P10); // not a lot multiple
        ctx.buy(SYM, 100, 100_050); // 10.005: off the tick grid
        ctx.buy(SYM, 100, yuan(12)); // above the +10% limit
        ctx.buy(SYM, 100_000_000, P10); // above the maximum order size
      },
      onOrderUpdate: (_c, u) => void (u.kind === 'DENIED' && reasons.push(u.reason)),
    }),
    { symbols: [SYM] },
  );
  await h.tick(SYM, { last: P10 });
  assert.deepEqual(reasons, ['NOT_LOT_MULTIPLE', 'PRICE_OFF_TICK', 'ABOVE_UPPER_LIMIT', 'ABOVE_MAX_ORDER_QTY']);
  assert.deepEqual(h.cash(), { available: 10_000_000_000, frozen: 0 });
});

test('orders at lunch are denied (MARKET_CLOSED); ctx.phase and ctx.sessions follow the calendar', async () => {
  const seen: string[] = [];
  const h = await StrategyHarness.start(
    probe({
      onTimer(ctx) {
        seen.push(ctx.phase(SYM));
        ctx.buy(SYM, 100, P10);
      },
      onStart(ctx) {
        ctx.setTimer('lunch', { at: ctx.now() + 2 * 3_600_000_000 + 60_000_000 }); // 11:31
        const s = ctx.sessions(SYM);
        assert.equal(s.find((i) => i.phase === 'LUNCH_BREAK')?.from, h0('11:30'));
      },
      onOrderUpdate: (_c, u) => void seen.push(`${u.kind}:${u.reason}`),
    }),
  );
  await h.advance(3 * 3_600_000);
  assert.deepEqual(seen, ['LUNCH_BREAK', 'DENIED:MARKET_CLOSED']);
});

test('open orders expire when the trading day ends', async () => {
  const kinds: string[] = [];
  const h = await StrategyHarness.start(
    probe({ onTick: (ctx) => void ctx.buy(SYM, 100, yuan(9)), onOrderUpdate: (_c, u) => void kinds.push(u.kind) }),
    { symbols: [SYM] },
  );
  await h.tick(SYM, { last: P10 });
  await h.advanceTo(h.at('09:30', 20260106));
  assert.deepEqual(kinds, ['SENT', 'ACCEPTED', 'EXPIRED']);
  assert.equal(h.cash().frozen, 0);
});

test('a non-integer price throws at the call site; the runtime fails and refuses further events', async () => {
  const h = await StrategyHarness.start(probe({ onTick: (ctx) => void ctx.buy(SYM, 100, 10.05) }), { symbols: [SYM] });
  await assert.rejects(h.tick(SYM, { last: P10 }), (e: unknown) => {
    assert.ok(e instanceof StrategyHookError);
    assert.equal(e.hook, 'onTick');
    assert.match(e.message, /yuan\(10\.05\)/);
    return true;
  });
  assert.equal(h.runtime.phase, 'failed');
  assert.equal(h.submitted.length, 0);
  await assert.rejects(h.tick(SYM, { last: P10 }), /has failed/);
});

test('actions outside a hook throw (no stray callbacks)', async () => {
  let saved: Ctx | undefined;
  const h = await StrategyHarness.start(probe({ onStart: (ctx) => void (saved = ctx) }));
  assert.ok(saved);
  assert.throws(() => saved!.buy(SYM, 100, P10), (e: unknown) => e instanceof StrategyApiError && /outside a hook/.test(e.message));
  assert.equal(h.submitted.length, 0);
});

test('async hooks are awaited one at a time and may act after an await', async () => {
  const order: string[] = [];
  const h = await StrategyHarness.start(
    probe({
      async onTick(ctx, tick) {
        order.push(`start ${tick.last}`);
        await new Promise((r) => setTimeout(r, 5));
        ctx.buy(SYM, 100, tick.ask!);
        order.push(`end ${tick.last}`);
      },
    }),
    { symbols: [SYM] },
  );
  await Promise.all([h.runtime.deliverTick(tickOf(P10, h.now())), h.runtime.deliverTick(tickOf(yuan(10.1), h.now()))]);
  assert.deepEqual(order, ['start 100000', 'end 100000', 'start 101000', 'end 101000']);
});

test('state must stay JSON: a Map in ctx.state fails the checkpoint with its path', async () => {
  const h = StrategyHarness.start(probe({ onTick: (ctx) => void (ctx.state.bad = new Map() as unknown as JsonObject) }), { symbols: [SYM] });
  await assert.rejects((await h).tick(SYM, { last: P10 }), /ctx\.state\.bad is a Map/);
});

test('parameters are validated with the schema; a bad one names its key', async () => {
  await assert.rejects(StrategyHarness.start(probe(), { params: { qty: -1 } }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.equal(e.key, 'strategies.probe.params.qty');
    return true;
  });
  await assert.rejects(StrategyHarness.start(probe(), { params: { qtty: 1 } }), /strategies\.probe\.params\.qtty: unknown parameter/);
});

test('runtime: a replayed report seq and a repeated fill id are ignored', async () => {
  const fills: number[] = [];
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 2, 0) * 1000);
  const rt = new StrategyRuntime(
    probe({ onTick: (ctx) => void ctx.buy(SYM, 200, P10), onFill: (_c, f) => void fills.push(f.qty) }),
    { instanceId: 'i1', account: 'A1', clock, symbols: [SYM], portfolio: { cash: yuan(100_000) } },
  );
  await rt.start();
  const step = await rt.deliverTick(tickOf(P10, clock.nowMicros()));
  const intent = step.intents[0]!;
  assert.equal(intent.type, 'submit');
  const id = intent.type === 'submit' ? intent.clientOrderId : '';
  assert.equal(id, 'probe.i1-20260105-1');
  const base: ExecutionReportEvent = {
    type: 'executionReport', seq: 1, clientOrderId: id, venueOrderId: 'V1', symbol: SYM, side: 'BUY', orderType: 'LIMIT', price: P10, quantity: 200,
    execType: 'TRADE', status: 'PARTIALLY_FILLED', fillId: 'X1', lastQty: 100, lastPrice: P10, cumQty: 100, leavesQty: 100, avgPrice: P10,
    lastFees: 50_100, cumFees: 50_100, text: '', time: clock.nowMicros(),
  };
  await rt.deliverExecution(base);
  await rt.deliverExecution(base); // same seq
  await rt.deliverExecution({ ...base, seq: 2 }); // new seq, same fill id
  assert.deepEqual(fills, [100]);
  assert.equal(rt.position(SYM).quantity, 100);
  assert.equal(rt.lastReportSeq, 2);
});

test('runtime: an order unknown locally is adopted from its report', async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 5, 2, 0) * 1000);
  const rt = new StrategyRuntime(probe(), { instanceId: 'i1', account: 'A1', clock, portfolio: { cash: yuan(100_000) } });
  await rt.start();
  await rt.deliverExecution({
    type: 'executionReport', seq: 7, clientOrderId: 'probe.i1-20260105-9', venueOrderId: 'V9', symbol: SYM, side: 'BUY', orderType: 'LIMIT',
    price: P10, quantity: 100, execType: 'ACCEPTED', status: 'ACCEPTED', fillId: '', lastQty: 0, lastPrice: 0, cumQty: 0, leavesQty: 100,
    avgPrice: 0, lastFees: 0, cumFees: 0, text: '', time: clock.nowMicros(),
  });
  assert.equal(rt.openOrders().length, 1);
  assert.ok(rt.cash().frozen >= 100 * P10);
});

test('subscriptions: ticks of other symbols are not delivered; subscribe adds one and is an intent', async () => {
  const seen: string[] = [];
  const h = await StrategyHarness.start(
    probe({
      onTick(ctx, tick) {
        seen.push(tick.symbol);
        ctx.subscribe(['000001.sz']);
      },
    }),
    { symbols: [SYM] },
  );
  await h.tick('000001.SZ', { last: P10 });
  await h.tick(SYM, { last: P10 });
  await h.tick('000001.SZ', { last: P10 });
  assert.deepEqual(seen, [SYM, '000001.SZ']);
  assert.deepEqual(h.actions.filter((a) => a.type === 'subscribe').map((a) => a.type === 'subscribe' && a.symbols), [['000001.SZ']]);
  assert.deepEqual(h.checkpoint().subscriptions, [SYM, '000001.SZ']);
});

test('ctx.status publishes progress; the harness records it', async () => {
  const h = await StrategyHarness.start(probe({ onTick: (ctx, t) => ctx.status({ last: t.last ?? 0, ok: true }) }), { symbols: [SYM] });
  await h.tick(SYM, { last: P10 });
  await h.tick(SYM, { last: yuan(10.1) });
  assert.deepEqual(h.status, { last: 101_000, ok: true });
  assert.equal(h.statusHistory.length, 2);
});

test('graceful stop runs onStop and sends its cancels', async () => {
  const h = await StrategyHarness.start(
    probe({ onTick: (ctx) => void ctx.buy(SYM, 100, yuan(9)), onStop: (ctx) => void ctx.cancelAll() }),
    { symbols: [SYM] },
  );
  await h.tick(SYM, { last: P10 });
  await h.stop();
  assert.equal(h.cancelled.length, 1);
  assert.equal(h.openOrders().length, 0);
  assert.equal(h.runtime.phase, 'stopped');
});

test('market orders: fill at the opposite best, or are cancelled when that side is empty', async () => {
  const kinds: string[] = [];
  const h = await StrategyHarness.start(
    probe({
      onTick(ctx, tick) {
        ctx.buy(SYM, 100, { type: 'MARKET_BEST5_IOC' });
        if (tick.ask === undefined) kinds.push('no ask');
      },
      onOrderUpdate: (_c, u) => void kinds.push(u.kind),
    }),
    { symbols: [SYM] },
  );
  await h.tick(SYM, { last: P10 });
  assert.equal(h.submitted[0]!.orderType, 'MARKET_BEST5_IOC');
  assert.equal(h.submitted[0]!.price, 0, 'no protection price');
  assert.equal(h.order(h.submitted[0]!.clientOrderId)?.avgPrice, P10 + 100);
  await h.tick(SYM, { last: yuan(11), ask: undefined }); // limit up: nobody sells
  assert.deepEqual(kinds, ['SENT', 'ACCEPTED', 'FILL', 'no ask', 'SENT', 'ACCEPTED', 'CANCELLED']);
  assert.equal(h.position(SYM).quantity, 100);
  assert.equal(h.cash().frozen, 0);
});

test('a late fill after a cancel still books shares and cash (it traded before the cancel)', async () => {
  let id = '';
  const h = await StrategyHarness.start(
    probe({ onTick: (ctx) => void (id ||= ctx.buy(SYM, 500, yuan(9.9))), onTimer: (ctx) => void ctx.cancel(id), onStart: (ctx) => ctx.setTimer('x', 1_000) }),
    { symbols: [SYM], venue: { fills: 'manual' } },
  );
  await h.tick(SYM, { last: P10 });
  await h.advance(1_000);
  assert.equal(h.order(id)?.status, 'CANCELLED');
  await h.fill(id, { qty: 200, price: yuan(9.9) });
  const o = h.order(id)!;
  assert.deepEqual([o.status, o.filledQty], ['CANCELLED', 200]);
  assert.equal(h.position(SYM).quantity, 200);
  assert.deepEqual(h.cash(), h.broker().cash());
});
