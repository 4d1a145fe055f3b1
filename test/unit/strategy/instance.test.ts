import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/core/clock.ts';
import { defineStrategy, z, type ExecutionReportEvent, type StrategyCheckpoint } from '../../../src/strategy/api.ts';
import { DryRunOrderChannel, StrategyInstance } from '../../../src/strategy/instance.ts';
import { chinaMicros, FakeMarketData, FakeOrderChannel, snapshot, tickMessage } from '../../support/strategy-fakes.ts';

const SYM = '600000.SH';
const SYM2 = '000001.SZ';

type State = { seen: number[]; updates: string[]; timers: number; stopped: boolean };

/** Records the seq of every tick (carried in `volume`) and does what its params ask. */
const recorder = defineStrategy({
  name: 'recorder',
  version: '1.0.0',
  params: z.strictObject({
    buyAt: z.number().int().optional(),
    throwAt: z.number().int().optional(),
    subscribeAt: z.number().int().optional(),
    timerMs: z.number().int().optional(),
  }),
  state: (): State => ({ seen: [], updates: [], timers: 0, stopped: false }),
  create: (p) => ({
    onStart(ctx) {
      if (p.timerMs !== undefined && !ctx.restored) ctx.setTimer('t', p.timerMs);
    },
    onTick(ctx, tick) {
      if (p.throwAt === tick.volume) throw new Error(`poison at ${tick.volume}`);
      ctx.state.seen.push(tick.volume);
      if (p.buyAt === tick.volume) ctx.buy(tick.symbol, 100, tick.ask ?? tick.last!);
      if (p.subscribeAt === tick.volume) ctx.subscribe(SYM2);
    },
    onOrderUpdate(ctx, update) {
      ctx.state.updates.push(update.kind);
      if (update.kind === 'ACCEPTED') ctx.cancel(update.order.clientOrderId);
    },
    onTimer(ctx) {
      ctx.state.timers += 1;
    },
    onStop(ctx) {
      ctx.state.stopped = true;
      ctx.cancelAll();
    },
  }),
});

async function until(what: string, predicate: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function setup(params: Record<string, unknown> = {}, store = new FakeMarketData(), clock = new ManualClock(chinaMicros(10, 0))) {
  const source = store.source({ count: 3 });
  const channel = new FakeOrderChannel();
  const instance = new StrategyInstance({
    definition: recorder,
    instanceId: 'i1',
    account: 'ACC1',
    params,
    symbols: [SYM],
    source,
    channel,
    clock,
    checkpointIntervalMs: 10,
  });
  return { store, source, channel, instance, clock };
}

function stored(store: FakeMarketData): StrategyCheckpoint & { state: State } {
  assert.ok(store.checkpoint !== undefined, 'a checkpoint was stored');
  return JSON.parse(store.checkpoint) as StrategyCheckpoint & { state: State };
}

function appendTicks(store: FakeMarketData, from: number, to: number, symbol = SYM, perEntry = 2): void {
  for (let seq = from; seq <= to; seq += perEntry) {
    const msgs = [];
    for (let s = seq; s < seq + perEntry && s <= to; s += 1) msgs.push(tickMessage(snapshot(symbol, s, 100_000)));
    store.append(symbol, msgs);
  }
}

function report(seq: number, clientOrderId: string, execType: ExecutionReportEvent['execType'], status: ExecutionReportEvent['status']): ExecutionReportEvent {
  return {
    type: 'executionReport', seq, clientOrderId, venueOrderId: 'v1', symbol: SYM, side: 'BUY', orderType: 'LIMIT', price: 100_100, quantity: 100, execType, status,
    fillId: '', lastQty: 0, lastPrice: 0, cumQty: 0, leavesQty: 100, avgPrice: 0, lastFees: 0, cumFees: 0, text: '', time: chinaMicros(10, 0),
  };
}

test('ticks reach the strategy in order, each batch is committed after it is handled, with the checkpoint of its effects', async () => {
  const { store, instance } = setup();
  await instance.start();
  const done = instance.run();
  appendTicks(store, 1, 20);
  await until('all ticks committed', () => store.unacked === 0);
  await instance.stop();
  await done;
  assert.deepEqual(stored(store).state.seen, Array.from({ length: 20 }, (_, i) => i + 1));
  // Every commit's checkpoint holds exactly the ticks of the batches committed so far.
  const tickCommits = store.commits.filter((c) => c.ids.length > 0);
  assert.ok(tickCommits.length >= 4, 'several batches (3 entries each at most)');
  let entries = 0;
  for (const c of tickCommits) {
    entries += c.ids.length;
    const cp = JSON.parse(c.checkpoint!) as { state: State };
    assert.equal(cp.state.seen.length, Math.min(20, entries * 2));
  }
  assert.equal(stored(store).state.stopped, true, 'onStop ran and its state was stored');
});

test('a batch’s orders are sent before its commit (off the order path); execution events reach the strategy and their intents go out at once', async () => {
  const { store, source, channel, instance } = setup({ buyAt: 3 });
  let sentAtCommit = -1;
  let checkpointedSeq = -1;
  source.onCommit = (batch, checkpoint) => {
    if (batch.entries.some((e) => e.messages.some((m) => m.seq === 3))) {
      sentAtCommit = channel.submits.length;
      // The checkpoint stored with the batch holds the order, with the id that was sent.
      checkpointedSeq = (JSON.parse(checkpoint!) as StrategyCheckpoint).ids.lastSeq;
    }
  };
  await instance.start();
  const done = instance.run();
  appendTicks(store, 1, 4);
  await until('the buy', () => channel.submits.length === 1);
  await until('the batch committed', () => sentAtCommit !== -1);
  assert.equal(sentAtCommit, 1, 'the order left before the batch’s commit');
  assert.equal(checkpointedSeq, 1);
  const order = channel.submits[0]!;
  assert.equal(order.clientOrderId.startsWith('recorder.i1-20260105-'), true);
  assert.equal(order.account, 'ACC1');
  channel.emit(report(1, order.clientOrderId, 'ACCEPTED', 'ACCEPTED'));
  await until('the cancel decided on ACCEPTED', () => channel.cancels.length === 1);
  assert.equal(channel.cancels[0]!.clientOrderId, order.clientOrderId);
  // The state changed by the report is checkpointed without market data (checkpointIntervalMs).
  await until('the report checkpointed', () => stored(store).lastReportSeq === 1);
  assert.deepEqual(stored(store).state.updates, ['ACCEPTED']);
  await instance.stop();
  await done;
});

test('a restarted instance resumes from the stored checkpoint: state, lastReportSeq for the channel, unanswered orders re-sent', async () => {
  const store = new FakeMarketData();
  const first = setup({ buyAt: 2 }, store);
  await first.instance.start();
  const run1 = first.instance.run();
  appendTicks(store, 1, 4);
  await until('the buy', () => first.channel.submits.length === 1);
  first.channel.emit(report(7, first.channel.submits[0]!.clientOrderId, 'SENT', 'SENT'));
  await until('report 7 checkpointed', () => stored(store).lastReportSeq === 7);
  // Crash: the process is gone without stopping.
  first.source.kill();
  await run1;

  const second = setup({ buyAt: 2 }, store);
  await second.instance.start();
  assert.equal(second.instance.runtime.restored, true);
  assert.equal(second.channel.resumeFromSeq, 7, 'the channel resumes after the last processed report');
  assert.deepEqual(second.instance.runtime.state.seen, [1, 2, 3, 4]);
  assert.equal(second.channel.submits.length, 0, 'a SENT order is known to the service: not re-sent');
  await second.instance.stop();

  // An order still PENDING_NEW in the checkpoint may never have left: it is re-sent with the same id.
  const store2 = new FakeMarketData();
  const a = setup({ buyAt: 1 }, store2);
  await a.instance.start();
  const runA = a.instance.run();
  appendTicks(store2, 1, 2);
  await until('the buy', () => a.channel.submits.length === 1);
  a.source.kill();
  await runA;
  const b = setup({ buyAt: 1 }, store2);
  await b.instance.start();
  assert.deepEqual(b.channel.submits.map((s) => s.clientOrderId), [a.channel.submits[0]!.clientOrderId]);
  await b.instance.stop();
});

test('killed after a batch’s order left but before its commit: the batch is decided again with the same client order id', async () => {
  const store = new FakeMarketData();
  const first = setup({ buyAt: 3 }, store);
  first.source.onCommit = (batch) => {
    if (batch.entries.some((e) => e.messages.some((m) => m.seq === 3))) {
      first.source.kill();
      throw new Error('killed');
    }
  };
  await first.instance.start();
  const run1 = first.instance.run();
  appendTicks(store, 1, 4);
  await assert.rejects(run1);
  assert.equal(first.channel.submits.length, 1, 'the order left before the commit');
  assert.ok(store.checkpoint === undefined || !stored(store).state.seen.includes(3), 'the batch with tick 3 was not committed');

  const second = setup({ buyAt: 3 }, store);
  await second.instance.start();
  const run2 = second.instance.run();
  await until('all acknowledged', () => store.unacked === 0);
  await second.instance.stop();
  await run2;
  // Same id: the execution service recognises it and answers with the order's reports (not traded twice).
  assert.deepEqual(second.channel.submits.map((o) => o.clientOrderId), [first.channel.submits[0]!.clientOrderId]);
  assert.deepEqual(stored(store).state.seen, [1, 2, 3, 4]);
});

test('batches are handled while a commit is on its way; the next commit carries them all with the state after the last', async () => {
  const { store, source, instance } = setup();
  let release: () => void = () => undefined;
  let gate = new Promise<void>((resolve) => (release = resolve));
  const commit = source.commit.bind(source);
  let started = 0;
  source.commit = async (batch, checkpoint, failed) => {
    started += 1;
    await gate;
    return commit(batch, checkpoint, failed);
  };
  await instance.start();
  const run = instance.run();
  appendTicks(store, 1, 2); // one entry
  await until('the first commit on its way', () => started === 1);
  appendTicks(store, 3, 6); // two more entries, handled while the first commit waits
  await until('ticks 3–6 handled', () => instance.runtime.state.seen.length === 6);
  assert.equal(started, 1, 'no second commit while one is in flight');
  assert.equal(store.commits.length, 0);
  release();
  await until('both commits stored', () => store.unacked === 0);
  const [first, second] = store.commits;
  assert.equal(first!.ids.length, 1);
  assert.deepEqual((JSON.parse(first!.checkpoint!) as { state: State }).state.seen, [1, 2]);
  assert.equal(second!.ids.length, 2, 'the two entries handled meanwhile, in one commit');
  assert.deepEqual((JSON.parse(second!.checkpoint!) as { state: State }).state.seen, [1, 2, 3, 4, 5, 6]);
  gate = Promise.resolve();
  await instance.stop();
  await run;
});

test('commitIntervalMs spaces the commits: batches handled in between share one', async () => {
  const store = new FakeMarketData();
  const source = store.source({ count: 1 }); // one entry per batch
  const instance = new StrategyInstance({
    definition: recorder, instanceId: 'i1', account: 'ACC1', params: {}, symbols: [SYM], source, channel: new FakeOrderChannel(),
    clock: new ManualClock(chinaMicros(10, 0)), checkpointIntervalMs: 10_000, commitIntervalMs: 400,
  });
  await instance.start();
  const run = instance.run();
  appendTicks(store, 1, 2); // entry 1: committed at once
  await until('the first commit', () => store.commits.length === 1);
  appendTicks(store, 3, 12); // entries 2–6, five batches, handled within the interval
  await until('ticks 3–12 handled', () => instance.runtime.state.seen.length === 12);
  assert.equal(store.commits.length, 1, 'no commit before the interval is over');
  await until('the second commit', () => store.unacked === 0);
  assert.equal(store.commits.length, 2);
  assert.equal(store.commits[1]!.ids.length, 5, 'the five batches in one commit');
  assert.deepEqual((JSON.parse(store.commits[1]!.checkpoint!) as { state: State }).state.seen, Array.from({ length: 12 }, (_, i) => i + 1));
  await instance.stop();
  await run;
});

test('killed mid-batch: the uncommitted batch is redelivered and each tick is seen exactly once by the strategy', async () => {
  const store = new FakeMarketData();
  appendTicks(store, 1, 30, SYM, 1);
  const first = setup({}, store);
  let commits = 0;
  // Die inside the third commit: that batch was handled but is neither acknowledged nor checkpointed.
  first.source.onCommit = () => {
    commits += 1;
    if (commits === 3) {
      first.source.kill();
      throw new Error('killed');
    }
  };
  await first.instance.start();
  await assert.rejects(first.instance.run());
  assert.ok(first.instance.runtime.state.seen.length >= 9, 'the crashed runtime had handled the third batch');
  assert.deepEqual(stored(store).state.seen, [1, 2, 3, 4, 5, 6]);

  const second = setup({}, store);
  await second.instance.start();
  const run = second.instance.run();
  await until('all acknowledged', () => store.unacked === 0);
  await second.instance.stop();
  await run;
  assert.deepEqual(stored(store).state.seen, Array.from({ length: 30 }, (_, i) => i + 1));
});

test('a hook that throws fails the instance without committing; the poison batch stays pending', async () => {
  const { store, instance } = setup({ throwAt: 5 });
  await instance.start();
  const run = instance.run();
  appendTicks(store, 1, 8, SYM, 1);
  await assert.rejects(run, /poison at 5/);
  assert.equal(instance.state, 'failed');
  const last = stored(store);
  assert.ok(!last.state.seen.includes(5));
  assert.ok(store.unacked >= 4, 'the entry of tick 5 and later are not acknowledged');
  await instance.stop();
});

test('subscribe intents change the source’s symbols; an unreadable entry is reported as failed and the rest handled', async () => {
  const { store, source, instance } = setup({ subscribeAt: 2 });
  await instance.start();
  const run = instance.run();
  appendTicks(store, 1, 2);
  await until('subscription', () => source.symbolHistory.some((s) => s.includes(SYM2)));
  const bad = tickMessage(snapshot(SYM2, 3, 100_000));
  (bad as { tick: { phase: number } }).tick.phase = 999; // unknown phase: tickFromProto throws
  const badId = store.append(SYM2, [bad]);
  store.append(SYM2, [tickMessage(snapshot(SYM2, 4, 100_000))]);
  await until('tick 4', () => instance.runtime.state.seen.includes(4));
  await until('the commit naming the bad entry', () => store.commits.some((c) => c.failed.includes(badId)));
  await instance.stop();
  await run;
  assert.deepEqual(stored(store).state.seen, [1, 2, 4]);
});

test('due timers fire through the instance and are checkpointed', async () => {
  const { store, instance, clock } = setup({ timerMs: 1_000 });
  await instance.start();
  const run = instance.run();
  clock.advance(1_500_000);
  await instance.fireDueTimers();
  assert.equal(instance.runtime.state.timers, 1);
  await instance.flushCheckpoint();
  assert.equal(stored(store).state.timers, 1);
  await instance.stop();
  await run;
});

test('graceful stop: onStop runs, its cancels are sent after the final checkpoint, ports are closed', async () => {
  const { store, channel, source, instance } = setup({ buyAt: 1 });
  await instance.start();
  const run = instance.run();
  appendTicks(store, 1, 1, SYM, 1);
  await until('the buy', () => channel.submits.length === 1);
  await instance.stop();
  await run;
  assert.equal(channel.cancels.length, 1, 'onStop cancelled the open order');
  assert.equal(stored(store).state.stopped, true);
  assert.equal(channel.closed, true);
  assert.equal(await source.next(), undefined, 'source closed');
});

test('the dry-run channel denies every order with DRY_RUN', async () => {
  const store = new FakeMarketData();
  const clock = new ManualClock(chinaMicros(10, 0));
  const channel = new DryRunOrderChannel(clock);
  const instance = new StrategyInstance({ definition: recorder, instanceId: 'i1', account: 'A', params: { buyAt: 1 }, symbols: [SYM], source: store.source(), channel, clock });
  await instance.start();
  const run = instance.run();
  appendTicks(store, 1, 1, SYM, 1);
  await until('the denial', () => instance.runtime.state.updates.includes('DENIED'));
  assert.equal(instance.runtime.openOrders().length, 0);
  assert.equal(instance.runtime.order(channel.submitted[0]!.clientOrderId)?.reason, 'DRY_RUN');
  await instance.stop();
  await run;
});
