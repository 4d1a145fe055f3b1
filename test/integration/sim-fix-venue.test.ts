/**
 * The whole simulated venue over real TCP: a FIX client trades against the synthetic market
 * (matching engine + order flow) through the acceptor and the venue bridge.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Simulator } from '../../src/sim/simulator.ts';
import { buildUniverse } from '../../src/sim/universe.ts';
import { DEFAULT_ORDER_FLOW } from '../../src/sim/order-flow.ts';
import { FixAcceptor } from '../../src/sim/fix-acceptor.ts';
import { FixVenue } from '../../src/sim/fix-venue.ts';
import { TradingCalendar } from '../../src/core/calendar.ts';
import { LiveClock } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/obs/log.ts';
import { MsgType, Tag } from '../../src/protocol/fix/fields.ts';
import { buildNewOrderSingle, buildOrderCancelRequest, buildOrderStatusRequest } from '../../src/protocol/fix/messages.ts';
import type { FixMessage } from '../../src/protocol/fix/codec.ts';
import { parseYuan } from '../../src/core/units.ts';
import { FixTestClient } from '../support/fix-test-client.ts';

const SYMBOL = '600036.SH';
const now = () => Date.now() * 1000;
const execFor = (clOrdId: string, execType?: string) => (m: FixMessage) =>
  m.msgType === MsgType.ExecutionReport && m.get(Tag.ClOrdID) === clOrdId && (execType === undefined || m.get(Tag.ExecType) === execType);

async function startVenue() {
  const clock = new LiveClock();
  const sim = new Simulator({
    clock, calendar: new TradingCalendar(), instruments: buildUniverse(), seed: 9,
    timeMode: { kind: 'continuous' }, flow: { ...DEFAULT_ORDER_FLOW, arrivalsPerSecond: 300 },
  });
  const venue = new FixVenue(sim, clock, silentLogger);
  sim.setMemberEvents(venue.events);
  const acceptor = new FixAcceptor({ application: venue, sessions: [{ targetCompId: 'TRIQUANT' }], clock, logger: silentLogger, closeGraceMs: 300 });
  await sim.start();
  const { port } = await acceptor.start({ port: 0, host: '127.0.0.1' });
  const deadline = Date.now() + 5_000;
  while (sim.engine.snapshot(SYMBOL).asks.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return { sim, venue, acceptor, port, close: async () => { await acceptor.close(); await sim.close(); } };
}

test('a FIX member trades against the synthetic book: fill, rest, cancel, status', async () => {
  const { sim, venue, port, close } = await startVenue();
  const client = new FixTestClient({ port });
  try {
    await client.logon();
    const book = sim.engine.snapshot(SYMBOL);
    const bestAsk = book.asks[0]!.price;
    // A marketable buy at the best ask trades at once.
    client.send(MsgType.NewOrderSingle, buildNewOrderSingle({ clOrdId: 'T1', account: 'ACC1', symbol: SYMBOL, side: 'BUY', orderType: 'LIMIT', price: bestAsk, orderQty: 100, transactTime: now() }));
    await client.waitForApp(execFor('T1', '0'), 'ack');
    const fill = await client.waitForApp(execFor('T1', 'F'), 'fill');
    assert.equal(fill.get(Tag.LastQty), '100');
    assert.ok(parseYuan(fill.get(Tag.LastPx)!) <= bestAsk, 'never above the limit');
    assert.equal(fill.get(Tag.OrdStatus), '2');
    assert.equal(fill.get(Tag.LeavesQty), '0');

    // A passive buy far below the market rests; then it is cancelled.
    const lower = sim.engine.snapshot(SYMBOL).lowerLimitPrice;
    client.send(MsgType.NewOrderSingle, buildNewOrderSingle({ clOrdId: 'P1', account: 'ACC1', symbol: SYMBOL, side: 'BUY', orderType: 'LIMIT', price: lower, orderQty: 200, transactTime: now() }));
    await client.waitForApp(execFor('P1', '0'), 'passive ack');
    client.send(MsgType.OrderStatusRequest, buildOrderStatusRequest({ clOrdId: 'P1', symbol: SYMBOL, side: 'BUY' }));
    const status = await client.waitForApp(execFor('P1', 'I'), 'status');
    assert.equal(status.get(Tag.LeavesQty), '200');
    client.send(MsgType.OrderCancelRequest, buildOrderCancelRequest({ origClOrdId: 'P1', clOrdId: 'P1-C', symbol: SYMBOL, side: 'BUY', transactTime: now() }));
    const cancelled = await client.waitForApp(execFor('P1-C', '4'), 'cancelled');
    assert.equal(cancelled.get(Tag.OrigClOrdID), 'P1');
    assert.equal(cancelled.get(Tag.LeavesQty), '0');

    // Cancelling it again is refused: too late.
    client.send(MsgType.OrderCancelRequest, buildOrderCancelRequest({ origClOrdId: 'P1', clOrdId: 'P1-C2', symbol: SYMBOL, side: 'BUY', transactTime: now() }));
    const reject = await client.waitForApp((m) => m.msgType === MsgType.OrderCancelReject && m.get(Tag.ClOrdID) === 'P1-C2', 'cancel reject');
    assert.equal(reject.get(Tag.CxlRejReason), '0');
    assert.equal(venue.counters.sendFailures, 0);
  } finally {
    await client.close();
    await close();
  }
});

test('the venue rejects bad orders with the exchange reason and a reused ClOrdID as a duplicate', async () => {
  const { port, close } = await startVenue();
  const client = new FixTestClient({ port });
  try {
    await client.logon();
    const cases: Array<[string, number, number, RegExp]> = [
      ['B1', 100_050, 100, /PRICE_OFF_TICK/], // 10.005 is off the 0.01 grid
      ['B2', 386_000, 150, /NOT_LOT_MULTIPLE/], // buys in 100s
      ['B3', 9_990_000, 100, /ABOVE_UPPER_LIMIT/], // 999.00 far above the +10% limit
    ];
    for (const [clOrdId, price, qty, reason] of cases) {
      client.send(MsgType.NewOrderSingle, buildNewOrderSingle({ clOrdId, account: 'ACC1', symbol: SYMBOL, side: 'BUY', orderType: 'LIMIT', price, orderQty: qty, transactTime: now() }));
      const rejected = await client.waitForApp(execFor(clOrdId, '8'), `reject ${clOrdId}`);
      assert.match(rejected.get(Tag.Text) ?? '', reason);
      assert.equal(rejected.get(Tag.OrdStatus), '8');
    }
    client.send(MsgType.NewOrderSingle, buildNewOrderSingle({ clOrdId: 'U1', account: 'ACC1', symbol: '601999.SH', side: 'BUY', orderType: 'LIMIT', price: 100_000, orderQty: 100, transactTime: now() }));
    const unknown = await client.waitForApp(execFor('U1', '8'), 'unknown symbol');
    assert.equal(unknown.get(Tag.OrdRejReason), '1');

    const lower = 347_400; // inside CMB's band, well below the market: rests
    client.send(MsgType.NewOrderSingle, buildNewOrderSingle({ clOrdId: 'D1', account: 'ACC1', symbol: SYMBOL, side: 'BUY', orderType: 'LIMIT', price: lower, orderQty: 100, transactTime: now() }));
    await client.waitForApp(execFor('D1', '0'), 'first D1');
    client.send(MsgType.NewOrderSingle, buildNewOrderSingle({ clOrdId: 'D1', account: 'ACC1', symbol: SYMBOL, side: 'BUY', orderType: 'LIMIT', price: lower, orderQty: 100, transactTime: now() }));
    const duplicate = await client.waitForApp(execFor('D1', '8'), 'duplicate D1');
    assert.equal(duplicate.get(Tag.OrdRejReason), '6');
  } finally {
    await client.close();
    await close();
  }
});
