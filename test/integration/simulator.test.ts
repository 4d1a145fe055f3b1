import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Simulator, FEED_CHANNEL, SYNTHETIC_ACCOUNT } from '../../src/sim/simulator.ts';
import { buildUniverse } from '../../src/sim/universe.ts';
import { DEFAULT_ORDER_FLOW } from '../../src/sim/order-flow.ts';
import { TradingCalendar } from '../../src/core/calendar.ts';
import { LiveClock, ManualClock, chinaInstant, MICROS_PER_SECOND } from '../../src/core/clock.ts';
import { timeOfDay } from '../../src/core/sessions.ts';
import type { Trade } from '../../src/matching/index.ts';
import { NO_EVENTS } from '../../src/matching/index.ts';
import { FeedTestClient } from '../support/feed-test-client.ts';

const calendar = new TradingCalendar();

test('a simulated day from 09:15: opening auction uncrosses at 09:25, then continuous trading, close expires orders', async () => {
  const real = new ManualClock(chinaInstant(20261124, 20, 0));
  const sim = new Simulator({
    clock: real, calendar, instruments: buildUniverse(), seed: 3,
    timeMode: { kind: 'accelerated', speed: 60, startTimeOfDay: timeOfDay(9, 15) },
    flow: { ...DEFAULT_ORDER_FLOW, arrivalsPerSecond: 2 },
  });
  const trades: Trade[] = [];
  sim.setMemberEvents({ ...NO_EVENTS, tradeExecuted: (t) => trades.push(t) });
  const stepFor = (realSeconds: number) => {
    for (let i = 0; i < realSeconds * 10; i++) {
      real.advance(MICROS_PER_SECOND / 10);
      sim.step();
    }
  };
  stepFor(9); // 09:24 simulated: still the opening call
  assert.equal(sim.stats().phase, 'OPENING_CALL_NO_CANCEL');
  assert.equal(trades.length, 0, 'no trades during the call auction');
  assert.ok(sim.stats().syntheticOrders > 100);
  stepFor(2); // 09:26: uncrossed
  const auctionTrades = trades.filter((t) => t.aggressor === 'NONE');
  assert.ok(auctionTrades.length > 0, 'the opening auction traded');
  for (const symbol of new Set(auctionTrades.map((t) => t.symbol))) {
    const prices = new Set(auctionTrades.filter((t) => t.symbol === symbol).map((t) => t.price));
    assert.equal(prices.size, 1, `${symbol}: one auction price`);
  }
  stepFor(10); // 09:36: continuous
  assert.equal(sim.stats().phase, 'CONTINUOUS');
  assert.ok(trades.some((t) => t.aggressor !== 'NONE'), 'continuous trades have an aggressor');
  const book = sim.engine.snapshot('600519.SH');
  assert.ok(book.bids.length > 0 && book.asks.length > 0 && book.bids[0]!.price < book.asks[0]!.price);
  stepFor(340); // 15:16: closed
  assert.equal(sim.stats().phase, 'CLOSED');
  const closed = sim.engine.snapshot('600519.SH');
  assert.equal(closed.bids.length + closed.asks.length, 0, 'day orders expire at the close');
  await sim.close();
});

test('market data reaches a feed client on per-exchange channels with consecutive sequence numbers', async () => {
  const sim = new Simulator({
    clock: new LiveClock(), calendar, instruments: buildUniverse(), seed: 5,
    timeMode: { kind: 'continuous' }, flow: { ...DEFAULT_ORDER_FLOW, arrivalsPerSecond: 200 },
  });
  const { feedPort } = await sim.start();
  const client = await FeedTestClient.connect({ port: feedPort });
  try {
    await client.logon('test', [
      { channel: FEED_CHANNEL.SSE, mode: 'RESUME', lastSeq: 0 },
      { channel: FEED_CHANNEL.SZSE, mode: 'RESUME', lastSeq: 0 },
    ]);
    await client.waitFor(() => client.delivered(FEED_CHANNEL.SSE).some((m) => m.type === 'trade') && client.delivered(FEED_CHANNEL.SZSE).length > 50, 'market data on both channels');
    for (const channel of [FEED_CHANNEL.SSE, FEED_CHANNEL.SZSE]) {
      const seqs = client.delivered(channel).map((m) => m.seq);
      assert.deepEqual(seqs, seqs.map((_, i) => i + 1), `channel ${channel} sequence is 1..n without gaps`);
    }
    const shSymbols = new Set(client.delivered(FEED_CHANNEL.SSE).map((m) => m.symbol));
    assert.ok([...shSymbols].every((s) => s.endsWith('.SH')));
    const snapshot = client.delivered(FEED_CHANNEL.SSE).find((m) => m.type === 'snapshot');
    assert.ok(snapshot && snapshot.type === 'snapshot' && snapshot.phase === 'CONTINUOUS' && snapshot.prevClosePrice > 0);
    assert.equal(client.errors.length, 0);
  } finally {
    await client.logoutAndClose();
    await sim.close();
  }
  assert.ok(sim.stats().trades > 0);
  assert.equal(SYNTHETIC_ACCOUNT, 'SIM-FLOW');
});
