/**
 * Deterministic feed messages for the Redis publisher tests: a snapshot or trade of `symbol`
 * on `channel` whose every field follows from `seq` (books of varying depth, some levels
 * empty, as in thin books).
 */
import type { SnapshotMessage, TradeMessage } from '../../src/protocol/feed/frames.ts';

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
