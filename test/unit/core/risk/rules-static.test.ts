/** Static pre-trade rules through RiskEngine.checkNew: an accept and a deny case for each, from the exchange rules. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { computeFeesOnNotional, DEFAULT_FEE_SCHEDULE } from '../../../../src/core/fees.ts';
import { APPROVED, buyFees, RISK_REASONS, wouldSelfTrade, type RiskDecision } from '../../../../src/core/risk/index.ts';
import { ctx, engine, FakeAccount, market, MS, order, reasonOf, T0 } from './fixtures.ts';

function ruleOf(decision: RiskDecision): string {
  return decision.ok ? 'OK' : decision.rule;
}

test('a plain order is approved with the one shared frozen approval', () => {
  const risk = engine();
  const decision = risk.checkNew(order(), ctx(new FakeAccount()));
  assert.equal(decision, APPROVED);
  assert.ok(Object.isFrozen(decision));
});

test('trading state: HALTED denies everything; REDUCING allows only sells within the position', () => {
  const risk = engine();
  const account = new FakeAccount();
  account.positions.set('600000.SH', 500);
  account.sellable.set('600000.SH', 500);
  const halted = risk.checkNew(order({ side: 'SELL', price: 99_900 }), ctx(account, market(), T0, 'HALTED'));
  assert.equal(reasonOf(halted), 'TRADING_HALTED');
  assert.equal(ruleOf(halted), 'trading_state');
  assert.equal(reasonOf(risk.checkNew(order(), ctx(account, market(), T0, 'REDUCING'))), 'TRADING_REDUCING_ONLY');
  assert.equal(reasonOf(risk.checkNew(order({ side: 'SELL', price: 99_900, quantity: 500 }), ctx(account, market(), T0, 'REDUCING'))), 'OK');
  assert.equal(
    reasonOf(risk.checkNew(order({ side: 'SELL', price: 99_900, quantity: 600 }), ctx(account, market(), T0, 'REDUCING'))),
    'TRADING_REDUCING_ONLY',
  );
});

test('compliance: an account without a declared profile may not trade', () => {
  const risk = engine();
  const decision = risk.checkNew(order({ account: 'B2' }), ctx(new FakeAccount('B2')));
  assert.equal(reasonOf(decision), 'NO_COMPLIANCE_PROFILE');
  risk.setProfile('B2', { strategyType: 'arb', maxOrdersPerSecond: 10, maxDailyOrders: 5_000, softwareName: 'x', softwareVersion: '1', responsiblePerson: 'Li' });
  assert.equal(risk.checkNew(order({ account: 'B2' }), ctx(new FakeAccount('B2'))), APPROVED);
});

test('restricted list: configured and changed at run time', () => {
  const risk = engine({}, { restrictedSymbols: ['600000.SH'] });
  assert.equal(reasonOf(risk.checkNew(order(), ctx(new FakeAccount()))), 'RESTRICTED_SYMBOL');
  risk.setRestricted('600000.SH', false);
  assert.equal(risk.checkNew(order(), ctx(new FakeAccount())), APPROVED);
  risk.setRestricted('600000.SH', true);
  assert.deepEqual(risk.restrictedSymbols(), ['600000.SH']);
});

test('instrument and reference: unknown, mismatched, suspended, missing or stale reference', () => {
  const risk = engine({ maxQuoteAgeMs: 10_000 });
  const account = new FakeAccount();
  assert.equal(reasonOf(risk.checkNew(order(), ctx(account, null))), 'NO_REFERENCE_PRICE');
  assert.equal(reasonOf(risk.checkNew(order({ symbol: '600000' }), ctx(account, null))), 'MALFORMED_SYMBOL');
  assert.equal(reasonOf(risk.checkNew(order({ symbol: '900901.SH' }), ctx(account, null))), 'UNKNOWN_BOARD');
  assert.equal(reasonOf(risk.checkNew(order({ symbol: '000001.SZ' }), ctx(account, market('600000.SH')))), 'INSTRUMENT_MISMATCH');
  assert.equal(reasonOf(risk.checkNew(order(), ctx(account, market('600000.SH', { halted: true })))), 'INSTRUMENT_HALTED');
  assert.equal(risk.checkNew(order(), ctx(account, market('600000.SH', { updatedAt: T0 - 10_000 * MS }))), APPROVED);
  const stale = risk.checkNew(order(), ctx(account, market('600000.SH', { updatedAt: T0 - 10_000 * MS - 1 })));
  assert.equal(reasonOf(stale), 'STALE_REFERENCE_PRICE');
  assert.equal(ruleOf(stale), 'reference_price');
  // 0 switches the staleness check off.
  risk.setLimit('', 'max_quote_age_ms', 0);
  assert.equal(risk.checkNew(order(), ctx(account, market('600000.SH', { updatedAt: 0 }))), APPROVED);
});

test('session: orders only in phases that accept them; market orders only in continuous trading', () => {
  const risk = engine();
  const account = new FakeAccount();
  for (const phase of ['PRE_OPEN', 'PRE_CONTINUOUS', 'LUNCH_BREAK', 'CLOSED'] as const) {
    assert.equal(reasonOf(risk.checkNew(order(), ctx(account, market('600000.SH', { phase })))), 'OUTSIDE_TRADING_SESSION', phase);
  }
  for (const phase of ['OPENING_CALL', 'OPENING_CALL_NO_CANCEL', 'CONTINUOUS', 'CLOSING_CALL'] as const) {
    assert.equal(reasonOf(risk.checkNew(order({ price: 100_000 + phase.length * 100 }), ctx(account, market('600000.SH', { phase })))), 'OK', phase);
  }
  assert.equal(
    reasonOf(risk.checkNew(order({ orderType: 'MARKET_BEST5_IOC', price: 0 }), ctx(account, market('600000.SH', { phase: 'OPENING_CALL' })))),
    'MARKET_ORDER_OUTSIDE_CONTINUOUS',
  );
  assert.equal(
    reasonOf(risk.checkNew(order({ symbol: '300750.SZ', orderType: 'MARKET_IOC', price: 0 }), ctx(account, market('300750.SZ', { phase: 'AFTER_HOURS_FIXED' })))),
    'MARKET_ORDER_OUTSIDE_CONTINUOUS',
  );
});

test('order types: each exchange takes its own market order kinds', () => {
  const risk = engine();
  const account = new FakeAccount();
  const check = (symbol: string, orderType: 'MARKET_FOK' | 'MARKET_BEST5_TO_LIMIT' | 'MARKET_BEST5_IOC') =>
    reasonOf(risk.checkNew(order({ symbol, orderType, price: 0 }), ctx(account, market(symbol))));
  assert.equal(check('600000.SH', 'MARKET_FOK'), 'ORDER_TYPE_NOT_SUPPORTED');
  assert.equal(check('000001.SZ', 'MARKET_FOK'), 'OK');
  assert.equal(check('000001.SZ', 'MARKET_BEST5_TO_LIMIT'), 'ORDER_TYPE_NOT_SUPPORTED');
  assert.equal(check('600000.SH', 'MARKET_BEST5_TO_LIMIT'), 'OK');
  assert.equal(check('830799.BJ', 'MARKET_BEST5_IOC'), 'OK');
});

test('lots: main board and ChiNext buys in hundreds; STAR at least 200 then steps of 1; BSE at least 100 then 1', () => {
  const risk = engine();
  const account = new FakeAccount();
  const buy = (symbol: string, quantity: number) => reasonOf(risk.checkNew(order({ symbol, quantity, price: 100_000 + quantity }), ctx(account, market(symbol))));
  // price varies with quantity only to keep the orders apart; it stays on the grid when quantity is a multiple of 100.
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 300 }), ctx(account))), 'OK');
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 150 }), ctx(account))), 'NOT_LOT_MULTIPLE');
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 50 }), ctx(account))), 'BELOW_MIN_LOT');
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 0 }), ctx(account))), 'INVALID_QUANTITY');
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 10.5, side: 'SELL' }), ctx(account))), 'INVALID_QUANTITY');
  assert.equal(reasonOf(risk.checkNew(order({ symbol: '300750.SZ', quantity: 250 }), ctx(account, market('300750.SZ')))), 'NOT_LOT_MULTIPLE');
  assert.equal(buy('688981.SH', 200), 'OK');
  assert.equal(reasonOf(risk.checkNew(order({ symbol: '688981.SH', quantity: 201 }), ctx(account, market('688981.SH')))), 'OK');
  assert.equal(reasonOf(risk.checkNew(order({ symbol: '688981.SH', quantity: 199 }), ctx(account, market('688981.SH')))), 'BELOW_MIN_LOT');
  assert.equal(reasonOf(risk.checkNew(order({ symbol: '830799.BJ', quantity: 101 }), ctx(account, market('830799.BJ')))), 'OK');
  assert.equal(reasonOf(risk.checkNew(order({ symbol: '830799.BJ', quantity: 99 }), ctx(account, market('830799.BJ')))), 'BELOW_MIN_LOT');
});

test('maximum order size: board maxima (ChiNext 300,000 limit / 150,000 market) and the firm max_order_qty', () => {
  const risk = engine({ maxOrderQty: 0, maxOrderNotional: 0, maxPositionQty: 0, maxGrossExposure: 0 });
  const account = new FakeAccount();
  account.cash = Number.MAX_SAFE_INTEGER / 2;
  const chinext = market('300750.SZ');
  assert.equal(reasonOf(risk.checkNew(order({ symbol: '300750.SZ', quantity: 300_000 }), ctx(account, chinext))), 'OK');
  const over = risk.checkNew(order({ symbol: '300750.SZ', quantity: 300_100 }), ctx(account, chinext));
  assert.equal(reasonOf(over), 'ABOVE_MAX_ORDER_QTY');
  assert.equal(ruleOf(over), 'max_order_qty');
  assert.equal(reasonOf(risk.checkNew(order({ symbol: '300750.SZ', orderType: 'MARKET_IOC', price: 0, quantity: 150_000 }), ctx(account, chinext))), 'OK');
  assert.equal(
    reasonOf(risk.checkNew(order({ symbol: '300750.SZ', orderType: 'MARKET_IOC', price: 0, quantity: 150_100 }), ctx(account, chinext))),
    'ABOVE_MAX_ORDER_QTY',
  );
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 1_000_000 }), ctx(account))), 'OK');
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 1_000_100 }), ctx(account))), 'ABOVE_MAX_ORDER_QTY');
  risk.setLimit('', 'max_order_qty', 200_000);
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 200_000 }), ctx(account))), 'OK');
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 200_100 }), ctx(account))), 'MAX_ORDER_QTY_EXCEEDED');
});

test('price: positive and on the 0.01 CNY grid', () => {
  const risk = engine();
  const account = new FakeAccount();
  assert.equal(reasonOf(risk.checkNew(order({ price: 0 }), ctx(account))), 'PRICE_NOT_POSITIVE');
  assert.equal(reasonOf(risk.checkNew(order({ price: -100 }), ctx(account))), 'PRICE_NOT_POSITIVE');
  const offTick = risk.checkNew(order({ price: 100_050 }), ctx(account));
  assert.equal(reasonOf(offTick), 'PRICE_OFF_TICK');
  assert.equal(ruleOf(offTick), 'tick_grid');
  // A market order's protection price is optional but, when given, on the grid.
  assert.equal(reasonOf(risk.checkNew(order({ orderType: 'MARKET_BEST5_IOC', price: 0 }), ctx(account))), 'OK');
  assert.equal(reasonOf(risk.checkNew(order({ orderType: 'MARKET_BEST5_IOC', price: 100_001 }), ctx(account))), 'PRICE_OFF_TICK');
});

test('price limit band: main board ±10% inclusive; ChiNext ±20%; no limit when the reference has none', () => {
  const risk = engine();
  const account = new FakeAccount();
  account.sellable.set('600000.SH', 10_000);
  const call = market('600000.SH', { phase: 'OPENING_CALL' }); // no cage in call auctions
  assert.equal(reasonOf(risk.checkNew(order({ price: 110_000 }), ctx(account, call))), 'OK');
  const above = risk.checkNew(order({ price: 110_100 }), ctx(account, call));
  assert.equal(reasonOf(above), 'ABOVE_UPPER_LIMIT');
  assert.equal(ruleOf(above), 'price_limit');
  assert.equal(reasonOf(risk.checkNew(order({ side: 'SELL', price: 90_000 }), ctx(account, call))), 'OK');
  assert.equal(reasonOf(risk.checkNew(order({ side: 'SELL', price: 89_900 }), ctx(account, call))), 'BELOW_LOWER_LIMIT');
  const chinext = market('300750.SZ', { phase: 'OPENING_CALL' });
  assert.equal(reasonOf(risk.checkNew(order({ symbol: '300750.SZ', price: 120_000 }), ctx(account, chinext))), 'OK');
  assert.equal(reasonOf(risk.checkNew(order({ symbol: '300750.SZ', price: 120_100 }), ctx(account, chinext))), 'ABOVE_UPPER_LIMIT');
  const ipo = market('600000.SH', { phase: 'OPENING_CALL', upperLimit: undefined, lowerLimit: undefined });
  assert.equal(reasonOf(risk.checkNew(order({ price: 300_000 }), ctx(account, ipo))), 'OK');
});

test('price cage (continuous only): SSE rejects outside 2% / 10 ticks; SZSE holds, so only a warning', () => {
  const risk = engine();
  const account = new FakeAccount();
  account.sellable.set('600000.SH', 10_000);
  // Buy reference = best ask 10.00: ceiling max(10.20, 10.10) = 10.20.
  assert.equal(reasonOf(risk.checkNew(order({ price: 102_000 }), ctx(account))), 'OK');
  const outside = risk.checkNew(order({ price: 102_100 }), ctx(account));
  assert.equal(reasonOf(outside), 'OUTSIDE_PRICE_CAGE');
  assert.equal(ruleOf(outside), 'price_cage');
  // Sell reference = best bid 9.99: floor = ceil-to-tick(min(9.7902, 9.89)) = 9.80.
  assert.equal(reasonOf(risk.checkNew(order({ side: 'SELL', price: 98_000 }), ctx(account))), 'OK');
  assert.equal(reasonOf(risk.checkNew(order({ side: 'SELL', price: 97_900 }), ctx(account))), 'OUTSIDE_PRICE_CAGE');
  // The same price in the call auction is fine (within the band).
  assert.equal(reasonOf(risk.checkNew(order({ price: 102_100 }), ctx(account, market('600000.SH', { phase: 'OPENING_CALL' })))), 'OK');
  const held = risk.checkNew(order({ symbol: '000001.SZ', price: 102_100 }), ctx(account, market('000001.SZ')));
  assert.equal(held.ok, true);
  assert.deepEqual(held.ok ? held.warnings.map((w) => w.code) : [], ['OUTSIDE_PRICE_CAGE_HELD']);
});

test('max order notional; a market buy without protection price is valued at the upper limit', () => {
  const risk = engine({ maxOrderNotional: 100_000_000 }); // 10,000 CNY
  const account = new FakeAccount();
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 1_000 }), ctx(account))), 'OK');
  const over = risk.checkNew(order({ quantity: 1_100 }), ctx(account));
  assert.equal(reasonOf(over), 'MAX_ORDER_NOTIONAL_EXCEEDED');
  assert.match(over.ok ? '' : over.detail, /110000000.*100000000/);
  assert.equal(reasonOf(risk.checkNew(order({ orderType: 'MARKET_BEST5_IOC', price: 0, quantity: 900 }), ctx(account))), 'OK');
  assert.equal(
    reasonOf(risk.checkNew(order({ orderType: 'MARKET_BEST5_IOC', price: 0, quantity: 1_000 }), ctx(account))),
    'MAX_ORDER_NOTIONAL_EXCEEDED',
  );
});

test('duplicate: the same order again within the window is refused; after it, or different, it is not', () => {
  const risk = engine({ duplicateWindowMs: 1_000 });
  const account = new FakeAccount();
  const at = (ms: number, over: Parameters<typeof order>[0] = {}) => {
    const o = order({ receivedAt: T0 + ms * MS, ...over });
    return risk.checkNew(o, ctx(account, market(), T0 + ms * MS));
  };
  const first = order({ receivedAt: T0 });
  assert.equal(risk.checkNew(first, ctx(account)), APPROVED);
  risk.onNewAccepted(first);
  const dup = at(999);
  assert.equal(reasonOf(dup), 'DUPLICATE_ORDER');
  assert.match(dup.ok ? '' : dup.detail, new RegExp(`as ${first.clientOrderId} 999 ms ago`));
  assert.equal(reasonOf(at(999, { price: 100_100 })), 'OK');
  assert.equal(reasonOf(at(999, { quantity: 200 })), 'OK');
  assert.equal(reasonOf(at(999, { side: 'SELL' })), 'EXCEEDS_SELLABLE_POSITION', 'not a duplicate: other side');
  assert.equal(reasonOf(at(1_000)), 'OK');
  risk.onNewAccepted(order({ receivedAt: T0 + 2_000 * MS })); // reuses the expired slot
  assert.equal(reasonOf(at(2_500)), 'DUPLICATE_ORDER');
});

test('max open orders', () => {
  const risk = engine({ maxOpenOrders: 2 });
  const account = new FakeAccount();
  const resting = { clientOrderId: 'r', symbol: '000001.SZ', side: 'BUY', orderType: 'LIMIT', price: 100_000, leavesQty: 100 } as const;
  account.open = [resting];
  assert.equal(reasonOf(risk.checkNew(order(), ctx(account))), 'OK');
  account.open = [resting, { ...resting, clientOrderId: 'r2' }];
  assert.equal(reasonOf(risk.checkNew(order(), ctx(account))), 'MAX_OPEN_ORDERS_EXCEEDED');
});

test('self-trade prevention against the account\'s own resting orders', () => {
  const risk = engine();
  const account = new FakeAccount();
  account.sellable.set('600000.SH', 10_000);
  account.open = [{ clientOrderId: 'own-sell', symbol: '600000.SH', side: 'SELL', orderType: 'LIMIT', price: 100_000, leavesQty: 100 }];
  const cross = risk.checkNew(order({ price: 100_000 }), ctx(account));
  assert.equal(reasonOf(cross), 'SELF_TRADE_PREVENTED');
  assert.match(cross.ok ? '' : cross.detail, /own-sell/);
  assert.equal(reasonOf(risk.checkNew(order({ price: 99_900 }), ctx(account))), 'OK');
  assert.equal(reasonOf(risk.checkNew(order({ orderType: 'MARKET_BEST5_IOC', price: 0 }), ctx(account))), 'SELF_TRADE_PREVENTED');
  assert.equal(reasonOf(risk.checkNew(order({ symbol: '000001.SZ', price: 100_000 }), ctx(account, market('000001.SZ')))), 'OK');
  account.open = [{ clientOrderId: 'own-buy', symbol: '600000.SH', side: 'BUY', orderType: 'LIMIT', price: 99_900, leavesQty: 100 }];
  assert.equal(reasonOf(risk.checkNew(order({ side: 'SELL', price: 99_900 }), ctx(account))), 'SELF_TRADE_PREVENTED');
  assert.equal(reasonOf(risk.checkNew(order({ side: 'SELL', price: 100_000 }), ctx(account))), 'OK');
});

test('cash: a buy needs its value plus the buy fees (5 CNY minimum commission, transfer fee)', () => {
  const risk = engine();
  const account = new FakeAccount();
  // 1,000 × 10.00 = 10,000 CNY; commission 2.50 → minimum 5.00; transfer fee 0.10.
  account.cash = 100_000_000 + 50_000 + 1_000;
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 1_000 }), ctx(account))), 'OK');
  account.cash -= 1;
  const short = risk.checkNew(order({ quantity: 1_000 }), ctx(account));
  assert.equal(reasonOf(short), 'INSUFFICIENT_CASH');
  assert.equal(ruleOf(short), 'cash');
});

test('property: buyFees equals the core fee computation for buys', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2_000_000_000_000 }), (notional) => {
      assert.equal(buyFees(notional, DEFAULT_FEE_SCHEDULE), computeFeesOnNotional('BUY', notional).total);
    }),
  );
});

test('sellable (T+1): shares bought today are not sellable; odd lots leave whole', () => {
  const risk = engine();
  const account = new FakeAccount();
  account.positions.set('600000.SH', 1_000); // bought today
  account.sellable.set('600000.SH', 0);
  const t1 = risk.checkNew(order({ side: 'SELL', price: 99_900 }), ctx(account));
  assert.equal(reasonOf(t1), 'EXCEEDS_SELLABLE_POSITION');
  assert.equal(ruleOf(t1), 'sellable');
  account.sellable.set('600000.SH', 4_880);
  assert.equal(reasonOf(risk.checkNew(order({ side: 'SELL', price: 99_900, quantity: 80 }), ctx(account))), 'OK');
  assert.equal(reasonOf(risk.checkNew(order({ side: 'SELL', price: 99_900, quantity: 4_880 }), ctx(account))), 'OK');
  const split = risk.checkNew(order({ side: 'SELL', price: 99_900, quantity: 60 }), ctx(account));
  assert.equal(reasonOf(split), 'ODD_LOT_NOT_WHOLE_POSITION');
  assert.equal(ruleOf(split), 'lot');
  assert.equal(reasonOf(risk.checkNew(order({ side: 'SELL', price: 99_900, quantity: 4_900 }), ctx(account))), 'EXCEEDS_SELLABLE_POSITION');
});

test('position limit counts the position, working buys and the new buy; sells are never limited', () => {
  const risk = engine({ maxPositionQty: 1_000 });
  const account = new FakeAccount();
  account.positions.set('600000.SH', 500);
  account.sellable.set('600000.SH', 500);
  account.open = [{ clientOrderId: 'w', symbol: '600000.SH', side: 'BUY', orderType: 'LIMIT', price: 99_000, leavesQty: 300 }];
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 200 }), ctx(account))), 'OK');
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 300 }), ctx(account))), 'MAX_POSITION_EXCEEDED');
  assert.equal(reasonOf(risk.checkNew(order({ side: 'SELL', price: 99_900, quantity: 500 }), ctx(account))), 'OK');
});

test('gross exposure limit counts exposure, working buys and the new buy', () => {
  const risk = engine({ maxGrossExposure: 1_000_000_000 }); // 100,000 CNY
  const account = new FakeAccount();
  account.gross = 800_000_000;
  account.open = [{ clientOrderId: 'w', symbol: '000001.SZ', side: 'BUY', orderType: 'LIMIT', price: 100_000, leavesQty: 1_000 }];
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 1_000 }), ctx(account))), 'OK');
  assert.equal(reasonOf(risk.checkNew(order({ quantity: 1_100 }), ctx(account))), 'MAX_GROSS_EXPOSURE_EXCEEDED');
});

test('daily loss limit: buys stop at the limit, sells stay possible', () => {
  const risk = engine({ maxDailyLoss: 1_000_000_000 });
  const account = new FakeAccount();
  account.sellable.set('600000.SH', 100);
  account.pnl = -999_999_999;
  assert.equal(reasonOf(risk.checkNew(order(), ctx(account))), 'OK');
  account.pnl = -1_000_000_000;
  assert.equal(reasonOf(risk.checkNew(order(), ctx(account))), 'DAILY_LOSS_LIMIT');
  assert.equal(reasonOf(risk.checkNew(order({ side: 'SELL', price: 99_900 }), ctx(account))), 'OK');
});

test('property: checkNew never throws and every denial has a known reason, a rule and a detail', () => {
  const risk = engine();
  const account = new FakeAccount();
  account.sellable.set('600000.SH', 1_000);
  account.positions.set('600000.SH', 1_000);
  const known = new Set(RISK_REASONS);
  fc.assert(
    fc.property(
      fc.record({
        symbol: fc.constantFrom('600000.SH', '000001.SZ', '300750.SZ', '688981.SH', '830799.BJ', 'XYZ', '900901.SH'),
        side: fc.constantFrom('BUY' as const, 'SELL' as const),
        orderType: fc.constantFrom('LIMIT' as const, 'MARKET_BEST5_IOC' as const, 'MARKET_FOK' as const),
        price: fc.oneof(fc.integer({ min: -1_000, max: 200_000 }), fc.constant(Number.NaN)),
        quantity: fc.oneof(fc.integer({ min: -10, max: 2_000_000 }), fc.double()),
        phase: fc.constantFrom('PRE_OPEN' as const, 'OPENING_CALL' as const, 'CONTINUOUS' as const, 'CLOSED' as const),
        state: fc.constantFrom('ACTIVE' as const, 'REDUCING' as const, 'HALTED' as const),
        hasRef: fc.boolean(),
      }),
      (p) => {
        const ref = p.hasRef && p.symbol in { '600000.SH': 1, '000001.SZ': 1, '300750.SZ': 1, '688981.SH': 1, '830799.BJ': 1 } ? market(p.symbol, { phase: p.phase }) : null;
        const decision = risk.checkNew(order({ symbol: p.symbol, side: p.side, orderType: p.orderType, price: p.price, quantity: p.quantity }), ctx(account, ref, T0, p.state));
        if (!decision.ok) {
          assert.ok(known.has(decision.reason), decision.reason);
          assert.ok(decision.rule.length > 0 && decision.detail.length > 0);
        }
      },
    ),
  );
});

test('property: limit orders self-trade exactly when they cross an own opposite order in the same symbol', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2_000 }),
      fc.integer({ min: 1, max: 2_000 }),
      fc.boolean(),
      fc.boolean(),
      (p, q, buying, sameSymbol) => {
        const incoming = order({ side: buying ? 'BUY' : 'SELL', price: p * 100 });
        const resting = {
          clientOrderId: 'r',
          symbol: sameSymbol ? '600000.SH' : '000001.SZ',
          side: buying ? ('SELL' as const) : ('BUY' as const),
          orderType: 'LIMIT' as const,
          price: q * 100,
          leavesQty: 100,
        };
        const crosses = sameSymbol && (buying ? p >= q : p <= q);
        assert.equal(wouldSelfTrade(incoming, resting), crosses);
        assert.equal(wouldSelfTrade(incoming, { ...resting, side: incoming.side }), false, 'same side never trades');
      },
    ),
  );
});
