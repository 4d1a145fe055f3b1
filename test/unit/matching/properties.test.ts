/**
 * Properties of the matching engine over random order flows (fast-check): limit and market
 * orders of every type, cancels, price-cage holds, and call auctions over a few price levels.
 *
 * - no shares created or lost: per order cumQty + leavesQty + cancelledQty = quantity, and
 *   cumQty is the sum of its fills; Σ buy fills = Σ sell fills = Σ trade quantities;
 * - the book is never left crossed after continuous matching or after an uncross;
 * - time priority: at one price, an order that queued earlier is always filled first;
 * - trades never outside the limit band, nor beyond either order's price;
 * - market orders never rest, except the documented to-limit types; FOK is all or nothing;
 *   best-five orders trade at five prices at most;
 * - the book's levels always equal the working orders; statistics equal the trades;
 * - the uncross price is the brute-force optimum (volume, imbalance, reference, higher).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chinaInstant, ManualClock } from '../../../src/core/clock.ts';
import { makeInstrument, type Side } from '../../../src/core/instruments.ts';
import { ORDER_TYPES, type OrderType } from '../../../src/core/order.ts';
import { DEFAULT_PRICE_CAGE_SETTINGS, limitBandFromClose, type PriceCageSettings } from '../../../src/core/price-rules.ts';
import { parseYuan } from '../../../src/core/units.ts';
import { MatchingEngine } from '../../../src/matching/engine.ts';
import { EventRecorder } from '../../../src/matching/events.ts';
import type { OrderView, Trade } from '../../../src/matching/types.ts';
import { DEFAULT_MARKET_ORDER_TYPES } from '../../../src/matching/validation.ts';

const px = parseYuan;
const SYMBOL = '000001.SZ';
const CLOSE = px('10.00');
const TICK = 100;
const BAND = limitBandFromClose(CLOSE, 100_000);
const MARKET_TYPES = ORDER_TYPES.filter((type) => type !== 'LIMIT');
const NEVER_RESTS: ReadonlySet<OrderType> = new Set(['MARKET_BEST5_IOC', 'MARKET_IOC', 'MARKET_FOK']);

type Cmd =
  | { kind: 'limit'; side: Side; tick: number; qty: number; account: string }
  | { kind: 'market'; type: OrderType; side: Side; qty: number; protection: number | null }
  | { kind: 'cancel'; back: number };

const sideArb = fc.constantFrom<Side>('BUY', 'SELL');
/** Buys in whole lots; sells any size (odd lots pass the venue). */
const qtyFor = (side: Side, lots: number, odd: number) => (side === 'BUY' ? lots * 100 : lots * 100 - odd);
const limitArb = fc
  .record({ side: sideArb, tick: fc.integer({ min: -5, max: 5 }), lots: fc.integer({ min: 1, max: 6 }), odd: fc.integer({ min: 0, max: 99 }), account: fc.constantFrom('A', 'B', 'C') })
  .map(({ side, tick, lots, odd, account }): Cmd => ({ kind: 'limit', side, tick, qty: qtyFor(side, lots, odd), account }));
const marketArb = fc
  .record({
    type: fc.constantFrom(...MARKET_TYPES),
    side: sideArb,
    lots: fc.integer({ min: 1, max: 12 }),
    odd: fc.integer({ min: 0, max: 99 }),
    protection: fc.option(fc.integer({ min: -5, max: 5 }), { nil: null }),
  })
  .map(({ type, side, lots, odd, protection }): Cmd => ({ kind: 'market', type, side, qty: qtyFor(side, lots, odd), protection }));
const cancelArb = fc.integer({ min: 0, max: 15 }).map((back): Cmd => ({ kind: 'cancel', back }));
const continuousFlow = fc.array(
  fc.oneof({ arbitrary: limitArb, weight: 6 }, { arbitrary: marketArb, weight: 2 }, { arbitrary: cancelArb, weight: 2 }),
  { maxLength: 150, size: 'max' },
);
const auctionFlow = fc.array(fc.oneof({ arbitrary: limitArb, weight: 5 }, { arbitrary: cancelArb, weight: 1 }), {
  maxLength: 80,
  size: 'max',
});

/** An EventRecorder that also checks time priority at every passive fill. */
class Checker extends EventRecorder {
  private seq = 0;
  /** When each order joined its queue (accepted onto the book, or released from the cage). */
  readonly queuedAt = new Map<number, number>();
  readonly violations: string[] = [];
  /** Trade prices per order (for best-five). */
  readonly pricesOf = new Map<number, Set<number>>();
  readonly filledQty = new Map<number, number>();
  readonly filledNotional = new Map<number, number>();

  override orderAccepted(order: OrderView, time: number): void {
    super.orderAccepted(order, time);
    this.queuedAt.set(order.id, (this.seq += 1));
  }
  override orderReleased(order: OrderView, time: number): void {
    super.orderReleased(order, time);
    this.queuedAt.set(order.id, (this.seq += 1));
  }
  override orderFilled(order: OrderView, trade: Trade): void {
    super.orderFilled(order, trade);
    this.filledQty.set(order.id, (this.filledQty.get(order.id) ?? 0) + trade.qty);
    this.filledNotional.set(order.id, (this.filledNotional.get(order.id) ?? 0) + trade.qty * trade.price);
    let prices = this.pricesOf.get(order.id);
    if (prices === undefined) this.pricesOf.set(order.id, (prices = new Set()));
    prices.add(trade.price);
    // Never beyond the order's own price (limit, protection, or converted price).
    const limit = order.orderType === 'LIMIT' ? order.price : order.bookPrice > 0 ? order.bookPrice : order.price;
    if (limit > 0 && (order.side === 'BUY' ? trade.price > limit : trade.price < limit)) {
      this.violations.push(`order ${order.id} (${order.side} ${limit}) traded at ${trade.price}`);
    }
    const passive = trade.aggressor === 'NONE' || trade.aggressor !== order.side;
    if (!passive) return;
    const mine = this.queuedAt.get(order.id)!;
    for (const other of this.orders.values()) {
      if (other === order || other.side !== order.side || other.held || other.leavesQty === 0) continue;
      if (other.bookPrice === order.bookPrice && this.queuedAt.get(other.id)! < mine) {
        this.violations.push(`order ${order.id} filled at ${order.bookPrice} before earlier order ${other.id}`);
      }
    }
  }
}

function makeEngine(cage: PriceCageSettings | undefined, phase: 'CONTINUOUS' | 'OPENING_CALL') {
  const checker = new Checker();
  const engine = new MatchingEngine({
    clock: new ManualClock(chinaInstant(20260105, 10, 0)),
    events: checker,
    phase,
    marketOrderTypes: { ...DEFAULT_MARKET_ORDER_TYPES, SZSE_MAIN: MARKET_TYPES },
  });
  engine.addInstrument(makeInstrument({ symbol: SYMBOL, name: 'x', listingDate: 20100104, previousClose: CLOSE }), {
    band: BAND,
    ...(cage === undefined ? {} : { cage }),
  });
  return { engine, checker };
}

function run(engine: MatchingEngine, cmds: readonly Cmd[], afterEach: (cmd: Cmd, id: number) => void): void {
  const accepted: number[] = [];
  for (const cmd of cmds) {
    let id = 0;
    if (cmd.kind === 'cancel') {
      const target = accepted[accepted.length - 1 - cmd.back];
      if (target !== undefined) engine.cancel(target);
    } else if (cmd.kind === 'limit') {
      id = engine.submit({ symbol: SYMBOL, side: cmd.side, orderType: 'LIMIT', price: CLOSE + cmd.tick * TICK, quantity: cmd.qty, account: cmd.account });
    } else {
      const price = cmd.protection === null ? 0 : CLOSE + cmd.protection * TICK;
      id = engine.submit({ symbol: SYMBOL, side: cmd.side, orderType: cmd.type, price, quantity: cmd.qty, account: 'M' });
    }
    if (id > 0) accepted.push(id);
    afterEach(cmd, id);
  }
}

function assertBookMatchesOrders(engine: MatchingEngine, checker: Checker): void {
  const snap = engine.snapshot(SYMBOL, 1_000);
  for (const [side, levels] of [
    ['BUY', snap.bids],
    ['SELL', snap.asks],
  ] as const) {
    const expected = new Map<number, { qty: number; orders: number }>();
    for (const order of checker.orders.values()) {
      if (order.side !== side || order.leavesQty === 0 || order.held) continue;
      const level = expected.get(order.bookPrice) ?? { qty: 0, orders: 0 };
      level.qty += order.leavesQty;
      level.orders += 1;
      expected.set(order.bookPrice, level);
    }
    const sorted = [...expected.entries()].sort((a, b) => (side === 'BUY' ? b[0] - a[0] : a[0] - b[0]));
    assert.deepEqual(
      levels.map((l) => [l.price, l.qty, l.orders]),
      sorted.map(([price, l]) => [price, l.qty, l.orders]),
      `${side} levels`,
    );
  }
  const working = [...checker.orders.values()].filter((o) => o.leavesQty > 0).length;
  assert.equal(engine.workingOrders, working);
  assert.equal(snap.heldOrders, [...checker.orders.values()].filter((o) => o.held && o.leavesQty > 0).length);
}

function assertConservation(engine: MatchingEngine, checker: Checker): void {
  let buys = 0;
  let sells = 0;
  for (const order of checker.orders.values()) {
    assert.equal(order.cumQty + order.leavesQty + order.cancelledQty, order.quantity, `order ${order.id}`);
    assert.equal(order.cumQty, checker.filledQty.get(order.id) ?? 0, `fills of order ${order.id}`);
    assert.equal(order.notional, checker.filledNotional.get(order.id) ?? 0);
    assert.ok(order.cumQty >= 0 && order.leavesQty >= 0 && order.cancelledQty >= 0);
    if (order.side === 'BUY') buys += order.cumQty;
    else sells += order.cumQty;
  }
  const traded = checker.trades.reduce((sum, t) => sum + t.qty, 0);
  assert.equal(buys, traded);
  assert.equal(sells, traded);
  const snap = engine.snapshot(SYMBOL);
  assert.equal(snap.volume, traded);
  assert.equal(snap.turnover, checker.trades.reduce((sum, t) => sum + t.qty * t.price, 0));
  assert.equal(snap.tradeCount, checker.trades.length);
  checker.trades.forEach((trade, i) => {
    assert.equal(trade.tradeId, i + 1, 'trade ids are consecutive');
    assert.ok(trade.qty > 0);
    assert.ok(trade.price >= BAND.lower && trade.price <= BAND.upper, `trade at ${trade.price} outside the band`);
    assert.ok(trade.price % TICK === 0);
  });
  assert.deepEqual(checker.violations, []);
}

function assertNotCrossed(engine: MatchingEngine): void {
  const bid = engine.bestBid(SYMBOL);
  const ask = engine.bestAsk(SYMBOL);
  if (bid > 0 && ask > 0) assert.ok(bid < ask, `book crossed: bid ${bid} ≥ ask ${ask}`);
}

/** What the random flows exercised, summed over all runs (so a silent generator cannot pass vacuously). */
interface Coverage {
  commands: number;
  trades: number;
  held: number;
  released: number;
  iocRemainders: number;
  fokKills: number;
  restingToLimit: number;
}

function newCoverage(): Coverage {
  return { commands: 0, trades: 0, held: 0, released: 0, iocRemainders: 0, fokKills: 0, restingToLimit: 0 };
}

function continuousProperty(cage: PriceCageSettings | undefined, coverage: Coverage) {
  return fc.property(continuousFlow, (cmds) => {
    const { engine, checker } = makeEngine(cage, 'CONTINUOUS');
    run(engine, cmds, (cmd, id) => {
      assertNotCrossed(engine);
      if (cmd.kind !== 'market' || id === 0) return;
      const order = checker.orders.get(id)!;
      if (NEVER_RESTS.has(cmd.type)) assert.equal(engine.order(id), undefined, `${cmd.type} must not rest`);
      if (cmd.type === 'MARKET_FOK') assert.ok(order.cumQty === 0 || order.cumQty === order.quantity, 'FOK all or none');
      if (cmd.type === 'MARKET_BEST5_IOC' || cmd.type === 'MARKET_BEST5_TO_LIMIT') {
        assert.ok((checker.pricesOf.get(id)?.size ?? 0) <= 5, 'best five levels at most');
      }
      if (!NEVER_RESTS.has(cmd.type) && engine.order(id) !== undefined) coverage.restingToLimit += 1;
    });
    assertBookMatchesOrders(engine, checker);
    assertConservation(engine, checker);
    coverage.commands += cmds.length;
    coverage.trades += checker.trades.length;
    coverage.held += checker.ofType('held').length;
    coverage.released += checker.ofType('released').length;
    for (const cancel of checker.ofType('cancelled')) {
      if (cancel.reason === 'IOC_REMAINDER') coverage.iocRemainders += 1;
      if (cancel.reason === 'FOK_NOT_FILLED') coverage.fokKills += 1;
    }
  });
}

test('continuous trading (default cage): conservation, never crossed, time priority, market orders never rest', () => {
  const coverage = newCoverage();
  fc.assert(continuousProperty(undefined, coverage), { numRuns: 300 });
  assert.ok(coverage.commands > 10_000 && coverage.trades > 5_000, JSON.stringify(coverage));
  assert.ok(coverage.iocRemainders > 100 && coverage.fokKills > 10 && coverage.restingToLimit > 100, JSON.stringify(coverage));
});

test('continuous trading with a tight hold-mode cage: held orders come and go without breaking anything', () => {
  const coverage = newCoverage();
  fc.assert(continuousProperty({ pctPpm: 0, ticks: 2, mode: 'hold' }, coverage), { numRuns: 300 });
  assert.ok(coverage.held > 1_000 && coverage.released > 200, JSON.stringify(coverage));
});

test('continuous trading with a tight reject-mode cage', () => {
  const coverage = newCoverage();
  fc.assert(continuousProperty({ ...DEFAULT_PRICE_CAGE_SETTINGS.SSE_MAIN, pctPpm: 0, ticks: 1 }, coverage), { numRuns: 150 });
  assert.equal(coverage.held, 0);
});

/** The brute-force auction optimum over every tick price in the band. */
function bruteForceUncross(bids: ReadonlyArray<{ price: number; qty: number }>, asks: ReadonlyArray<{ price: number; qty: number }>, reference: number) {
  let best: { price: number; volume: number; imbalance: number; distance: number } | null = null;
  for (let p = BAND.lower; p <= BAND.upper; p += TICK) {
    const b = bids.filter((l) => l.price >= p).reduce((s, l) => s + l.qty, 0);
    const s = asks.filter((l) => l.price <= p).reduce((sum, l) => sum + l.qty, 0);
    const volume = Math.min(b, s);
    if (volume === 0) continue;
    const imbalance = Math.abs(b - s);
    const distance = Math.abs(p - reference);
    if (
      best === null ||
      volume > best.volume ||
      (volume === best.volume &&
        (imbalance < best.imbalance ||
          (imbalance === best.imbalance && (distance < best.distance || (distance === best.distance && p > best.price)))))
    ) {
      best = { price: p, volume, imbalance, distance };
    }
  }
  return best;
}

test('call auction: the uncross is the brute-force optimum, conserves shares, keeps priority and leaves the book uncrossed', () => {
  fc.assert(
    fc.property(auctionFlow, (cmds) => {
      const { engine, checker } = makeEngine(undefined, 'OPENING_CALL');
      run(engine, cmds, () => {
        assert.equal(checker.trades.length, 0, 'no matching during the call auction');
      });
      const before = engine.snapshot(SYMBOL, 1_000);
      const expected = bruteForceUncross(before.bids, before.asks, CLOSE);
      const indicative = engine.indicativeAuction(SYMBOL);
      engine.setPhase('PRE_CONTINUOUS');
      if (expected === null) {
        assert.equal(indicative, null);
        assert.equal(checker.trades.length, 0);
      } else {
        assert.equal(indicative?.price, expected.price);
        assert.equal(indicative?.volume, expected.volume);
        assert.equal(indicative?.imbalance, expected.imbalance);
        assert.ok(checker.trades.every((t) => t.price === expected.price && t.aggressor === 'NONE'));
        assert.equal(
          checker.trades.reduce((s, t) => s + t.qty, 0),
          expected.volume,
        );
      }
      assertNotCrossed(engine);
      assertBookMatchesOrders(engine, checker);
      assertConservation(engine, checker);
    }),
    { numRuns: 300 },
  );
});

test('call auction with other references: the previous close steers only among equal volume and imbalance', () => {
  fc.assert(
    fc.property(auctionFlow, fc.integer({ min: -8, max: 8 }), (cmds, refTicks) => {
      const reference = CLOSE + refTicks * TICK;
      const checker = new Checker();
      const engine = new MatchingEngine({ clock: new ManualClock(0), events: checker, phase: 'OPENING_CALL' });
      engine.addInstrument(makeInstrument({ symbol: SYMBOL, name: 'x', listingDate: 20100104, previousClose: CLOSE }), {
        band: BAND,
        previousClose: reference,
      });
      run(engine, cmds, () => {});
      const before = engine.snapshot(SYMBOL, 1_000);
      const expected = bruteForceUncross(before.bids, before.asks, reference);
      const result = engine.uncross(SYMBOL);
      assert.equal(result?.price, expected?.price);
      assert.equal(result?.volume, expected?.volume);
      assertNotCrossed(engine);
      assertConservation(engine, checker);
    }),
    { numRuns: 200 },
  );
});

test('a whole day: opening call, continuous with cancels and market orders, closing call, expiry', () => {
  fc.assert(
    fc.property(auctionFlow, continuousFlow, auctionFlow, (opening, continuous, closing) => {
      const { engine, checker } = makeEngine({ pctPpm: 0, ticks: 3, mode: 'hold' }, 'OPENING_CALL');
      run(engine, opening, () => {});
      engine.setPhase('PRE_CONTINUOUS');
      engine.setPhase('CONTINUOUS');
      run(engine, continuous, () => assertNotCrossed(engine));
      engine.setPhase('CLOSING_CALL');
      run(engine, closing, () => {});
      engine.setPhase('CLOSED');
      assertNotCrossed(engine);
      assertBookMatchesOrders(engine, checker);
      assertConservation(engine, checker);
      engine.expireAll();
      assert.equal(engine.workingOrders, 0);
      assertConservation(engine, checker);
      for (const order of checker.orders.values()) assert.equal(order.leavesQty, 0);
    }),
    { numRuns: 150 },
  );
});
