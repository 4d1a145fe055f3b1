/**
 * Feed messages for the market-data tests: deterministic ones for the Redis publisher tests (a
 * snapshot or trade of `symbol` on `channel` whose every field follows from `seq`; books of
 * varying depth, some levels empty, as in thin books), and fast-check arbitraries of any
 * message the feed protocol can carry (for the codec and transcoder properties).
 */
import fc from 'fast-check';
import { TradingPhase } from '../../src/protocol/feed/frames.ts';
import type { BookLevel, SnapshotMessage, TradeMessage } from '../../src/protocol/feed/frames.ts';

/** Venue time of seq 0. */
export const T0 = 1_735_000_100_000_000;

export function snapshot(symbol: string, channel: number, seq: number): SnapshotMessage {
  const px = 100_000 + (seq % 50) * 100;
  const depth = 3 + (seq % 8); // some levels empty, as in thin books
  const level = (price: number, k: number) => (k < depth ? { price, qty: 100 * (k + 1 + (seq % 7)), orders: k % 3 } : { price: 0, qty: 0, orders: 0 });
  return {
    type: 'snapshot',
    channel,
    seq,
    symbol,
    eventTime: T0 + seq * 1_000,
    phase: 'CONTINUOUS',
    lastPrice: px,
    openPrice: 100_000,
    highPrice: 105_000,
    lowPrice: 99_000,
    prevClosePrice: 100_000,
    upperLimitPrice: 110_000,
    lowerLimitPrice: 90_000,
    volume: seq * 100,
    turnover: seq * 100 * px,
    bids: Array.from({ length: 10 }, (_, k) => level(px - (k + 1) * 100, k)),
    asks: Array.from({ length: 10 }, (_, k) => level(px + k * 100, k)),
  };
}

export function trade(symbol: string, channel: number, seq: number): TradeMessage {
  return { type: 'trade', channel, seq, symbol, time: T0 + seq * 1_000, price: 101_200, qty: 100 * (1 + (seq % 5)), aggressor: seq % 3 === 0 ? 'NONE' : seq % 2 ? 'BUY' : 'SELL', buyOrderId: 2 * seq, sellOrderId: 2 * seq + 1 };
}

// ---------------------------------------------------------------------------------------------
// Arbitraries: every value range the wire allows, with the edges (0, small, around 2^32, ±2^53)
// and books that end in empty levels (left out of a protobuf entry) as often as not.

export const EMPTY_LEVEL: BookLevel = Object.freeze({ price: 0, qty: 0, orders: 0 });
const safeInt = fc.maxSafeInteger();
const safeNat = fc.maxSafeNat();
const levelArb: fc.Arbitrary<BookLevel> = fc.oneof(
  fc.record({ price: safeInt, qty: safeNat, orders: fc.nat({ max: 0xffff_ffff }) }),
  fc.record({ price: fc.integer({ min: 1, max: 10_000_000 }), qty: fc.integer({ min: 0, max: 1_000_000 }), orders: fc.constantFrom(0, 1, 200) }),
  fc.constant(EMPTY_LEVEL),
);
const bookArb = fc.tuple(fc.array(levelArb, { maxLength: 10 }), fc.nat({ max: 10 })).map(([levels, cut]) => {
  const book = levels.slice(0, cut);
  while (book.length < 10) book.push(EMPTY_LEVEL);
  return book;
});
const symbolArb = fc.stringMatching(/^[\x21-\x7e]{1,16}$/);
/** A wire i64 (as a safe integer). */
export const feedIntArb = fc.oneof(safeInt, fc.constant(0), fc.integer({ min: -300, max: 300 }), fc.integer({ min: 2 ** 31, max: 2 ** 33 }));
/** A wire u64 (as a safe integer). */
export const feedNatArb = fc.oneof(safeNat, fc.constant(0), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 2 ** 31, max: 2 ** 33 }));

export const feedSnapshotArb: fc.Arbitrary<SnapshotMessage> = fc.record({
  type: fc.constant('snapshot' as const),
  channel: fc.integer({ min: 0, max: 0xffff }),
  seq: feedNatArb,
  symbol: symbolArb,
  eventTime: feedIntArb,
  phase: fc.constantFrom(...Object.values(TradingPhase)),
  lastPrice: feedIntArb,
  openPrice: feedIntArb,
  highPrice: feedIntArb,
  lowPrice: feedIntArb,
  prevClosePrice: feedIntArb,
  upperLimitPrice: feedIntArb,
  lowerLimitPrice: feedIntArb,
  volume: feedNatArb,
  turnover: feedIntArb,
  bids: bookArb,
  asks: bookArb,
});

export const feedTradeArb: fc.Arbitrary<TradeMessage> = fc.record({
  type: fc.constant('trade' as const),
  channel: fc.integer({ min: 0, max: 0xffff }),
  seq: feedNatArb,
  symbol: symbolArb,
  time: feedIntArb,
  price: feedIntArb,
  qty: feedNatArb,
  aggressor: fc.constantFrom('BUY' as const, 'SELL' as const, 'NONE' as const),
  buyOrderId: feedNatArb,
  sellOrderId: feedNatArb,
});
