/**
 * `triquant bench core`: the pure domain core on one core.
 * - transitions_per_sec: order state-table lookups (`transition`);
 * - order_events_per_sec: events applied to `Order` aggregates (ack, partial fill, fill),
 *   including the order's creation;
 * - rule_checks_per_sec: a full static pre-trade rule pass per order (tick grid, price
 *   limit, price cage, lot, maximum size, session phase), with the fees computed.
 */
import type { BenchDefinition } from './harness.ts';
import { measureThroughput } from './harness.ts';
import { transition, OrderEventKind, OrderStatus } from '../src/core/order-state.ts';
import { Order } from '../src/core/order.ts';
import { checkTickGrid, checkWithinLimit, checkPriceCage, limitBandFromClose, cageReferences, DEFAULT_PRICE_CAGE_SETTINGS } from '../src/core/price-rules.ts';
import { checkLot, checkMaxOrderQty } from '../src/core/lot-rules.ts';
import { phaseAt, canSubmit, timeOfDay } from '../src/core/sessions.ts';
import { computeFees } from '../src/core/fees.ts';
import type { Board, Side } from '../src/core/instruments.ts';

// A realistic life: sent, acknowledged, two partial fills, then filled.
const LIFE: ReadonlyArray<readonly [OrderStatus, OrderEventKind]> = [
  [OrderStatus.PendingNew, OrderEventKind.Sent],
  [OrderStatus.Sent, OrderEventKind.Accepted],
  [OrderStatus.Accepted, OrderEventKind.FillPartial],
  [OrderStatus.PartiallyFilled, OrderEventKind.FillPartial],
  [OrderStatus.PartiallyFilled, OrderEventKind.FillFull],
];

let sink = 0; // keeps the optimiser from deleting the measured work

function transitionsBatch(): void {
  for (let i = 0; i < 1000; i++) {
    for (const [state, event] of LIFE) sink ^= transition(state, event).length;
  }
}

let orderSeq = 0;
function orderEventsBatch(): void {
  for (let i = 0; i < 200; i++) {
    const ts = ++orderSeq;
    const order = new Order({
      clientOrderId: `b-${ts}`, account: 'A1', strategy: 's', symbol: '600000.SH',
      side: 'BUY', orderType: 'LIMIT', price: 100_000, quantity: 300, createdAt: ts,
    });
    order.apply({ type: 'OrderSent', ts });
    order.apply({ type: 'OrderAccepted', ts, venueOrderId: `v${ts}` });
    order.apply({ type: 'OrderFilled', ts, fillId: 'f1', qty: 100, price: 100_000 });
    order.apply({ type: 'OrderFilled', ts, fillId: 'f2', qty: 200, price: 100_100 });
    sink ^= order.filledQty;
  }
}

const band = limitBandFromClose(100_000, 100_000);
const refs = cageReferences({ bestBid: 100_000, bestAsk: 100_100, last: 100_000, previousClose: 100_000 });
const cage = DEFAULT_PRICE_CAGE_SETTINGS.SSE_MAIN;
const tod = timeOfDay(10, 15);
const ORDERS: ReadonlyArray<{ board: Board; side: Side; price: number; qty: number }> = [
  { board: 'SSE_MAIN', side: 'BUY', price: 100_100, qty: 500 },
  { board: 'SSE_MAIN', side: 'SELL', price: 99_900, qty: 300 },
  { board: 'STAR', side: 'BUY', price: 100_200, qty: 201 },
  { board: 'CHINEXT', side: 'SELL', price: 100_000, qty: 1_000 },
];

function ruleChecksBatch(): void {
  for (let i = 0; i < 250; i++) {
    for (const o of ORDERS) {
      let passed = 0;
      if (checkTickGrid(o.price).ok) passed++;
      if (checkWithinLimit(o.price, band).ok) passed++;
      if (checkPriceCage(o.side, o.price, refs, cage).ok) passed++;
      if (checkLot(o.board, o.side, o.qty, 10_000).ok) passed++;
      if (checkMaxOrderQty(o.board, 'LIMIT', o.qty).ok) passed++;
      if (canSubmit(phaseAt(tod, o.board))) passed++;
      sink ^= passed + computeFees(o.side, o.price, o.qty).total;
    }
  }
}

const bench: BenchDefinition = {
  name: 'core',
  description: 'domain core: order state transitions, order events, static rule checks per second',
  defaultDurationMs: 2_000,
  async run(ctx) {
    const transitions = measureThroughput(transitionsBatch, 1000 * LIFE.length, ctx.durationMs);
    ctx.progress({ phase: 'transitions', ops_per_sec: transitions.opsPerSec });
    const events = measureThroughput(orderEventsBatch, 200 * 4, ctx.durationMs);
    ctx.progress({ phase: 'order_events', ops_per_sec: events.opsPerSec });
    const checks = measureThroughput(ruleChecksBatch, 250 * ORDERS.length, ctx.durationMs);
    ctx.progress({ phase: 'rule_checks', ops_per_sec: checks.opsPerSec });
    return {
      transitions_per_sec: transitions.opsPerSec,
      order_events_per_sec: events.opsPerSec,
      rule_checks_per_sec: checks.opsPerSec,
      rule_check_ns: Math.round(1e9 / checks.opsPerSec),
      sink: sink & 1,
    };
  },
};

export default bench;
