import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReferencePriceCache } from '../../../src/execution/reference-prices.ts';
import { Tick, Trade } from '../../../src/protocol/gen/triquant/v1/market_data.ts';
import { PHASE_CODE } from '../../../src/protocol/feed/frames.ts';
import { buildUniverse } from '../../../src/sim/universe.ts';

const tick = (symbol: string, t: number, extra: Partial<Tick> = {}) => Tick.fromPartial({
  symbol, eventTimeUs: t, phase: PHASE_CODE.CONTINUOUS as Tick['phase'], prevClosePrice: 386_000, lastPrice: 387_000,
  upperLimitPrice: 424_600, lowerLimitPrice: 347_400, bids: [{ price: 386_900, quantity: 100 }], asks: [{ price: 387_100, quantity: 200 }], ...extra,
});

test('the latest snapshot per symbol becomes the risk reference; older ticks are ignored; trades move the last price', () => {
  const cache = new ReferencePriceCache(buildUniverse());
  assert.equal(cache.reference('600036.SH'), undefined);
  cache.onTick(tick('600036.SH', 1_000));
  cache.onTick(tick('600036.SH', 500, { lastPrice: 1 }));
  const ref = cache.reference('600036.SH')!;
  assert.equal(ref.instrument.name, 'China Merchants Bank', 'known reference data is used');
  assert.deepEqual([ref.prevClose, ref.upperLimit, ref.lowerLimit, ref.bid, ref.ask, ref.last, ref.phase, ref.halted],
    [386_000, 424_600, 347_400, 386_900, 387_100, 387_000, 'CONTINUOUS', false]);
  cache.onTrade(Trade.fromPartial({ symbol: '600036.SH', eventTimeUs: 2_000, price: 388_000, quantity: 100 }));
  assert.equal(cache.reference('600036.SH')!.last, 388_000);
  assert.equal(cache.reference('600036.SH')!.updatedAt, 2_000);
  assert.deepEqual(cache.marks('600036.SH'), { price: 388_000, prevClose: 386_000 });
});

test('unknown symbols get a minimal instrument from the tick; a halted phase is flagged; track() asks the tail', () => {
  const cache = new ReferencePriceCache();
  const asked: string[] = [];
  cache.onTrackRequest((s) => asked.push(s));
  assert.equal(cache.reference('601318.SH'), undefined);
  assert.deepEqual(asked, ['601318.SH']);
  cache.onTick(tick('601318.SH', 1, { phase: PHASE_CODE.HALTED as Tick['phase'], lastPrice: 0, bids: [], asks: [] }));
  const ref = cache.reference('601318.SH')!;
  assert.equal(ref.halted, true);
  assert.equal(ref.instrument.board, 'SSE_MAIN');
  assert.deepEqual(cache.marks('601318.SH'), { price: 386_000, prevClose: 386_000 }, 'no last, no quotes: marked at the previous close');
});

test('freshness is the gateway receive time (wall clock), ordering is venue time: an accelerated market is not stale', () => {
  const cache = new ReferencePriceCache(buildUniverse());
  // Venue time of a simulated 09:30 long ago; received just now.
  cache.onTick(tick('600036.SH', 1_000, { receiveTimeUs: 9_000_000 }));
  assert.equal(cache.reference('600036.SH')!.updatedAt, 9_000_000);
  // An older venue time received later is still older: ignored, freshness unchanged.
  cache.onTick(tick('600036.SH', 900, { receiveTimeUs: 9_500_000, lastPrice: 1 }));
  assert.equal(cache.reference('600036.SH')!.last, 387_000);
  assert.equal(cache.reference('600036.SH')!.updatedAt, 9_000_000);
  cache.onTrade(Trade.fromPartial({ symbol: '600036.SH', eventTimeUs: 1_100, receiveTimeUs: 9_800_000, price: 388_000, quantity: 100 }));
  assert.equal(cache.reference('600036.SH')!.updatedAt, 9_800_000);
});
