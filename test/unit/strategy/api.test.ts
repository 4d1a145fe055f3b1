import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { importsOf } from '../../../scripts/check-layers.ts';
import { BOARDS } from '../../../src/core/instruments.ts';
import { checkLot } from '../../../src/core/lot-rules.ts';
import { PHASE_CODE, type SnapshotMessage } from '../../../src/protocol/feed/frames.ts';
import {
  atTimeOfDay,
  defineStrategy,
  definitionFromModule,
  isStrategyDefinition,
  jsonProblem,
  lotRule,
  param,
  parseParams,
  phaseAllowsCancels,
  phaseAllowsOrders,
  roundLot,
  roundToTick,
  sellQuantity,
  StrategyApiError,
  tickFromProto,
  tickFromSnapshot,
  tradeFromProto,
  z,
} from '../../../src/strategy/api.ts';
import dualMa from '../../../strategies/dual-ma.ts';
import grid from '../../../strategies/grid.ts';
import twap from '../../../strategies/twap.ts';

test('roundToTick rounds to the 0.01 CNY grid', () => {
  assert.equal(roundToTick(100_049), 100_000);
  assert.equal(roundToTick(100_050), 100_100, 'halves round up');
  assert.equal(roundToTick(100_001, 'up'), 100_100);
  assert.equal(roundToTick(100_099, 'down'), 100_000);
  assert.equal(roundToTick(100_100, 'up'), 100_100);
  assert.equal(roundToTick(10), 100, 'never below one tick');
  assert.equal(roundToTick(123_456.7), 123_500);
});

test('roundLot: 100-share boards, STAR (≥ 200 then 1), BSE (≥ 100 then 1)', () => {
  assert.deepEqual([1_250, 99, 100, 0, -5].map((q) => roundLot('SSE_MAIN', q)), [1_200, 0, 100, 0, 0]);
  assert.equal(roundLot('CHINEXT', 1_250, 'up'), 1_300);
  assert.deepEqual([150, 200, 257].map((q) => roundLot('STAR', q)), [0, 200, 257]);
  assert.equal(roundLot('STAR', 150, 'up'), 200);
  assert.deepEqual([99, 101].map((q) => roundLot('BSE', q)), [0, 101]);
});

test('property: roundLot gives the largest valid buy ≤ qty', () => {
  fc.assert(
    fc.property(fc.constantFrom(...BOARDS), fc.integer({ min: 1, max: 1_000_000 }), (board, qty) => {
      const r = roundLot(board, qty);
      if (r === 0) return assert.ok(qty < lotRule(board).minQty);
      assert.ok(r <= qty && checkLot(board, 'BUY', r).ok);
      const up = roundLot(board, qty, 'up');
      assert.ok(up >= qty && checkLot(board, 'BUY', up).ok);
      for (let q = r + 1; q <= Math.min(qty, r + 200); q += 1) assert.ok(!checkLot(board, 'BUY', q).ok, `${q} would be a larger valid buy`);
    }),
  );
});

test('sellQuantity honours the odd-lot rule', () => {
  assert.equal(sellQuantity('SSE_MAIN', 500, 1_050), 500);
  assert.equal(sellQuantity('SSE_MAIN', 560, 1_050), 550, 'the odd 50 with 500 in lots');
  assert.equal(sellQuantity('SSE_MAIN', 30, 1_050), 0, 'cannot split the odd 50');
  assert.equal(sellQuantity('SSE_MAIN', 5_000, 1_050), 1_050, 'everything sellable');
  assert.equal(sellQuantity('STAR', 100, 150), 0, 'a STAR position below 200 leaves whole');
  assert.equal(sellQuantity('STAR', 150, 150), 150);
});

test('property: sellQuantity is the largest sell ≤ wanted that checkLot accepts', () => {
  fc.assert(
    fc.property(fc.constantFrom(...BOARDS), fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: 1, max: 20_000 }), (board, wanted, sellable) => {
      const q = sellQuantity(board, wanted, sellable);
      if (q > 0) assert.ok(q <= Math.min(wanted, sellable) && checkLot(board, 'SELL', q, sellable).ok, `${q} of ${sellable}`);
      for (let k = q + 1; k <= Math.min(wanted, sellable, q + 150); k += 1) assert.ok(!checkLot(board, 'SELL', k, sellable).ok, `${k} is larger and valid`);
    }),
  );
});

test('defineStrategy validates name and version and returns a loadable plain object', () => {
  const spec = { version: '1.0.0', params: z.object({}), create: () => ({}) };
  assert.throws(() => defineStrategy({ ...spec, name: 'Dual-MA' }), StrategyApiError);
  assert.throws(() => defineStrategy({ ...spec, name: 'ok', version: 'v1' }), /semantic/);
  assert.throws(() => defineStrategy({ ...spec, name: 'ok', state: () => ({ when: new Date() as unknown as string }) }), /not a plain object/);
  const def = defineStrategy({ ...spec, name: 'ok' });
  assert.ok(Object.isFrozen(def));
  assert.ok(isStrategyDefinition(def));
  assert.equal(definitionFromModule({ default: def }), def);
  assert.equal(definitionFromModule({ strategy: def }), def);
  assert.throws(() => definitionFromModule({ foo: 1 }, 'x.ts'), /x\.ts exports no strategy/);
});

test('the example strategies are definitions with name and version (the compliance record)', () => {
  for (const [def, name] of [[dualMa, 'dual_ma'], [grid, 'grid'], [twap, 'twap']] as const) {
    assert.ok(isStrategyDefinition(def));
    assert.equal(def.name, name);
    assert.match(def.version, /^\d+\.\d+\.\d+$/);
    assert.ok(def.description.length > 10);
  }
});

test('param helpers convert config values exactly', () => {
  const schema = z.strictObject({ price: param.price(), at: param.timeOfDay(), symbol: param.symbol(), qty: param.qty() });
  const def = defineStrategy({ name: 'p', version: '0.1.0', params: schema, create: () => ({}) });
  assert.deepEqual(parseParams(def, { price: '10.05', at: '09:30', symbol: '600000.sh', qty: 100 }), {
    price: 100_500,
    at: (9 * 60 + 30) * 60_000_000,
    symbol: '600000.SH',
    qty: 100,
  });
  assert.equal(parseParams(def, { price: 0.29, at: '14:56:30', symbol: '000001.SZ', qty: 1 }).price, 2_900, '0.29 is not 0.28999…');
  assert.throws(() => parseParams(def, { price: 10.005, at: '09:30', symbol: '600000.SH', qty: 1 }), /strategies\.p\.params\.price/);
  assert.throws(() => parseParams(def, { price: 10, at: '9:30', symbol: '600000.SH', qty: 1 }), /params\.at: a time of day/);
  assert.throws(() => parseParams(def, { price: 10, at: '09:30', symbol: '000001.SH', qty: 1 }), /params\.symbol/);
  assert.equal(atTimeOfDay(20260105, (9 * 60 + 30) * 60_000_000), Date.UTC(2026, 0, 5, 1, 30) * 1000);
});

test('tickFromSnapshot: zeros become undefined, empty levels are dropped', () => {
  const level = (price: number, qty: number) => ({ price, qty, orders: 0 });
  const m: SnapshotMessage = {
    type: 'snapshot', channel: 1, seq: 9, symbol: '600000.SH', eventTime: 5, phase: 'CONTINUOUS',
    lastPrice: 100_000, openPrice: 99_000, highPrice: 101_000, lowPrice: 98_000, prevClosePrice: 99_500,
    upperLimitPrice: 0, lowerLimitPrice: 0, volume: 1_000, turnover: 100_000_000,
    bids: [level(99_900, 300), level(99_800, 100), ...Array.from({ length: 8 }, () => level(0, 0))],
    asks: Array.from({ length: 10 }, () => level(0, 0)),
  };
  const t = tickFromSnapshot(m, 7);
  assert.deepEqual([t.last, t.bid, t.ask, t.bidQty, t.askQty, t.upperLimit, t.lowerLimit, t.receivedAt], [100_000, 99_900, undefined, 300, 0, undefined, undefined, 7]);
  assert.equal(t.bids.length, 2);
  assert.equal(t.asks.length, 0);
});

test('tickFromProto / tradeFromProto: the stream form straight to the API types; unknown codes throw', () => {
  const proto = {
    symbol: '600000.SH', channel: 1, seq: 9, eventTimeUs: 5, receiveTimeUs: 7, phase: PHASE_CODE.CONTINUOUS as never,
    lastPrice: 0, openPrice: 0, highPrice: 0, lowPrice: 0, prevClosePrice: 99_500, volume: 0, turnover: 0,
    bids: [{ price: 99_900, quantity: 300 }, { price: 0, quantity: 0 }, { price: 99_700, quantity: 100, orders: 2 }],
    asks: [], upperLimitPrice: 109_500, lowerLimitPrice: 0,
  };
  const t = tickFromProto(proto);
  assert.deepEqual([t.phase, t.time, t.receivedAt, t.last, t.bid, t.bidQty, t.ask, t.upperLimit, t.lowerLimit], ['CONTINUOUS', 5, 7, undefined, 99_900, 300, undefined, 109_500, undefined]);
  assert.deepEqual(t.bids, [{ price: 99_900, qty: 300, orders: 0 }, { price: 99_700, qty: 100, orders: 2 }]);
  assert.throws(() => tickFromProto({ ...proto, phase: 999 as never }), /unknown trading phase 999/);
  const trade = { symbol: '600000.SH', channel: 1, seq: 3, eventTimeUs: 4, receiveTimeUs: 6, price: 100_000, quantity: 200, aggressorSide: 1 as never, buyOrderRef: 1, sellOrderRef: 2 };
  assert.deepEqual({ ...tradeFromProto(trade) }, { symbol: '600000.SH', time: 4, receivedAt: 6, price: 100_000, qty: 200, aggressor: 'BUY' });
  assert.throws(() => tradeFromProto({ ...trade, aggressorSide: 7 as never }), /unknown aggressor side 7/);
});

test('phase helpers', () => {
  assert.ok(phaseAllowsOrders('CONTINUOUS') && phaseAllowsOrders('CLOSING_CALL'));
  assert.ok(!phaseAllowsOrders('LUNCH_BREAK') && !phaseAllowsOrders('HALTED') && !phaseAllowsOrders('PRE_CONTINUOUS'));
  assert.ok(!phaseAllowsCancels('CLOSING_CALL') && !phaseAllowsCancels('OPENING_CALL_NO_CANCEL') && phaseAllowsCancels('CONTINUOUS'));
});

test('jsonProblem names the first non-JSON value', () => {
  assert.equal(jsonProblem({ a: [1, 'x', null, { b: true }] }), undefined);
  assert.match(jsonProblem({ a: [1, undefined] }) ?? '', /value\.a\[1\] is undefined \(use null\)/);
  assert.match(jsonProblem({ n: Number.NaN }) ?? '', /not a finite number/);
  assert.match(jsonProblem({ m: new Map() }) ?? '', /value\.m is a Map/);
});

test('strategies/*.ts import only the public API and stay deterministic (no wall clock, randomness, timers or I/O)', () => {
  const dir = new URL('../../../strategies/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 3);
  for (const file of files) {
    const source = readFileSync(new URL(file, dir), 'utf8');
    for (const specifier of importsOf(source)) {
      assert.ok(specifier === '../src/strategy/api.ts' || specifier.startsWith('../src/core/'), `${file} imports ${specifier}`);
    }
    const code = source.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
    for (const banned of ['Date.now', 'new Date', 'Math.random', 'setTimeout', 'setInterval', 'process.', 'performance.']) {
      assert.ok(!code.includes(banned), `${file} uses ${banned}: use ctx.now() / ctx.setTimer() instead`);
    }
  }
});

test('state types are inferred widened from the factory (no annotation needed)', async () => {
  // Compile-time check: `bought: false` must infer boolean, `prices: []` must accept numbers.
  const def = defineStrategy({
    name: 'infer',
    version: '1.0.0',
    params: z.object({}),
    state: () => ({ bought: false, count: 0, prices: [] as number[], last: null as string | null }),
    create: () => ({
      onStart(ctx) {
        ctx.state.bought = true;
        ctx.state.count += 1;
        ctx.state.prices.push(1);
        ctx.state.last = 'x';
      },
    }),
  });
  assert.deepEqual(def.initialState(), { bought: false, count: 0, prices: [], last: null });
});
