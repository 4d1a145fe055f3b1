/**
 * The call-auction price (集合竞价成交价). Pure: aggregated levels in, one price out.
 *
 * The rule, as the SZSE states it (the SSE's differs only in the last step):
 *  1. the price that maximises the executable volume V(p) = min(B(p), S(p)), where B(p) is the
 *     buy quantity at prices ≥ p and S(p) the sell quantity at prices ≤ p;
 *  2. among those, the price with the minimum imbalance |B(p) − S(p)|;
 *  3. among those, the price closest to the reference price — the previous close for the
 *     opening auction; the last trade price for the closing auction (the engine passes it);
 *  4. (our choice) if two prices are equally close — possible only when the reference is not
 *     on the tick grid — the higher one, as the exchanges round halves up.
 *  The SSE's step 3 takes the midpoint of the remaining range instead; this engine follows the
 *  SZSE rule (and the wording) on both exchanges.
 *
 * Candidates are every tick price between the lowest sell and the highest buy, not only
 * declared prices: B and S are step functions, so all prices between two declared prices tie
 * on steps 1–2 and step 3 may pick one of them (e.g. the previous close). The candidates that
 * survive steps 1–2 form one contiguous range (V is unimodal and B − S is monotone), so step 3
 * is a clamp of the reference into that range.
 *
 * At the chosen price every buy above it and every sell below it executes in full, and the
 * book left behind is never crossed (a crossed remainder would mean a larger volume elsewhere).
 */
import type { Price, Qty } from '../core/units.ts';
import type { AuctionResult } from './types.ts';
import { TICK } from '../core/price-rules.ts';

export interface AuctionLevel {
  readonly price: Price;
  readonly qty: Qty;
}

/**
 * The auction price of aggregated levels: `bids` in descending price order, `asks` in
 * ascending order (as a book lists them), quantities > 0. Returns null when nothing can trade
 * (either side empty, or the highest buy is below the lowest sell).
 */
export function computeUncross(
  bids: readonly AuctionLevel[],
  asks: readonly AuctionLevel[],
  reference: Price,
  tick: Price = TICK,
): AuctionResult | null {
  const topBid = bids[0];
  const topAsk = asks[0];
  if (topBid === undefined || topAsk === undefined || topBid.price < topAsk.price) return null;
  const lowest = topAsk.price;
  const highest = topBid.price;

  // B at the lowest candidate: all buys priced ≥ lowest. Walking p upwards, buys below p drop out
  // of B (bids from the end of the descending list) and sells at ≤ p join S.
  let buyQty = 0;
  let bidCursor = bids.length - 1;
  for (let i = 0; i < bids.length; i += 1) {
    const level = bids[i]!;
    if (level.price < lowest) {
      bidCursor = i - 1;
      break;
    }
    buyQty += level.qty;
  }
  let sellQty = 0;
  let askCursor = 0;

  let bestPrice = 0;
  let bestVolume = -1;
  let bestImbalance = 0;
  let bestSurplus = 0;
  let bestDistance = 0;
  for (let p = lowest; p <= highest; p += tick) {
    while (askCursor < asks.length && asks[askCursor]!.price <= p) {
      sellQty += asks[askCursor]!.qty;
      askCursor += 1;
    }
    while (bidCursor >= 0 && bids[bidCursor]!.price < p) {
      buyQty -= bids[bidCursor]!.qty;
      bidCursor -= 1;
    }
    const volume = buyQty < sellQty ? buyQty : sellQty;
    const surplus = buyQty - sellQty;
    const imbalance = surplus < 0 ? -surplus : surplus;
    const distance = p < reference ? reference - p : p - reference;
    // p rises through the loop, so on a full tie (step 4) the later, higher price wins with ≤.
    if (
      volume > bestVolume ||
      (volume === bestVolume &&
        (imbalance < bestImbalance || (imbalance === bestImbalance && distance <= bestDistance)))
    ) {
      bestPrice = p;
      bestVolume = volume;
      bestImbalance = imbalance;
      bestSurplus = surplus;
      bestDistance = distance;
    }
  }
  if (bestVolume <= 0) return null;
  return { price: bestPrice, volume: bestVolume, imbalance: bestImbalance, surplus: bestSurplus };
}
