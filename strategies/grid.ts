/**
 * grid — grid / mean-reversion trading of one symbol around a moving reference price.
 *
 * Levels sit every `stepTicks` ticks around the reference: `levels` buy levels below it and
 * `levels` sell levels above it, each for `lots` board lots. The strategy keeps one resting
 * limit order per level and keeps that set in sync with the grid:
 *
 *   - a buy fills on the way down → the reference moves to the fill price, so the grid shifts
 *     down: a sell now rests one step above the fill (taking the profit of one step when the
 *     price comes back) and the next buy one step below;
 *   - a sell fills on the way up → the reference moves up the same way;
 *   - orders whose level is no longer in the grid are cancelled, missing levels are placed
 *     (cancel/replace); orders that are still right are left alone (no churn, queue kept);
 *   - `recenterAfterLevels` > 0: if the last price runs that many steps away from the reference
 *     without a fill, the reference jumps to the last price (the grid follows a trend).
 *
 * Limits:
 *   - `maxPosition`: shares held plus shares in open buys never exceed it (open buys that are
 *     being cancelled still count, since they may fill until the cancel is confirmed), so the
 *     position can never exceed it whatever fills;
 *   - sells only use *sellable* shares: shares bought today are sold from the next day (T+1);
 *     a sell level for the odd lot of a position takes the whole odd part;
 *   - levels outside the day's price limits are skipped; orders are placed and cancelled only in
 *     continuous trading (no cancels in the call auctions).
 *
 * Parameters:
 *   symbol                 e.g. "600000.SH"
 *   reference              starting reference price in CNY (default: the first last price)
 *   stepTicks              distance between levels, in ticks of 0.01 CNY (default 10)
 *   levels                 levels on each side (default 3)
 *   lots                   board lots per level (default 1)
 *   maxPosition            shares (default 1000)
 *   recenterAfterLevels    0 = never (default 0)
 */
import {
  defineStrategy,
  param,
  roundLot,
  roundToTick,
  sellQuantity,
  TICK,
  z,
  type OrderView,
  type Price,
  type StrategyContext,
} from '../src/strategy/api.ts';

const params = z.strictObject({
  symbol: param.symbol(),
  reference: param.price().optional(),
  stepTicks: z.number().int().min(1).max(1_000).default(10),
  levels: z.number().int().min(1).max(20).default(3),
  lots: z.number().int().min(1).default(1),
  maxPosition: z.number().int().min(0).default(1_000),
  recenterAfterLevels: z.number().int().min(0).default(0),
  /** After a refused order (risk denial, kill switch, venue reject), wait this long before placing again. */
  retryAfterMs: z.number().int().min(0).max(3_600_000).default(5_000),
});

type Params = z.output<typeof params>;
type State = { reference: number | null; pausedUntil: number | null };
type Ctx = StrategyContext<Params, State>;

/**
 * After a refusal the grid waits `retryAfterMs` before placing again: a halted or limited
 * account would otherwise be sent the same levels on every tick and every cancel.
 */
function syncUnlessPaused(ctx: Ctx): void {
  const paused = ctx.state.pausedUntil;
  if (paused !== null && ctx.now() < paused) return;
  ctx.state.pausedUntil = null;
  sync(ctx);
}

/** One wanted resting order. */
interface Level {
  side: 'BUY' | 'SELL';
  price: Price;
  qty: number;
}

/** The levels the grid wants now, nearest the reference first, within position and sellable limits. */
function wantedLevels(ctx: Ctx, reference: Price, kept: (side: 'BUY' | 'SELL', price: Price) => OrderView | undefined): Level[] {
  const p = ctx.params;
  const info = ctx.instrument(p.symbol);
  const tick = ctx.lastTick(p.symbol);
  const step = p.stepTicks * TICK;
  const lotQty = roundLot(info.lot, p.lots * info.lot.minQty);
  const pos = ctx.position(p.symbol);
  const open = ctx.openOrders(p.symbol);
  const out: Level[] = [];

  // Buys: exposure = held + every open buy (cancelling ones too). Kept orders are already in it.
  let exposure = pos.quantity + open.filter((o) => o.side === 'BUY').reduce((n, o) => n + o.leavesQty, 0);
  for (let k = 1; k <= p.levels; k += 1) {
    const price = reference - k * step;
    if (price <= 0 || (tick?.lowerLimit !== undefined && price < tick.lowerLimit)) break;
    if (kept('BUY', price) !== undefined) {
      out.push({ side: 'BUY', price, qty: lotQty });
      continue;
    }
    if (exposure + lotQty > p.maxPosition) continue;
    exposure += lotQty;
    out.push({ side: 'BUY', price, qty: lotQty });
  }

  // Sells: from sellable shares (frozen ones are in kept sells already).
  let sellable = pos.sellable;
  for (let k = 1; k <= p.levels; k += 1) {
    const price = reference + k * step;
    if (tick?.upperLimit !== undefined && price > tick.upperLimit) break;
    const existing = kept('SELL', price);
    if (existing !== undefined) {
      out.push({ side: 'SELL', price, qty: existing.quantity });
      continue;
    }
    const qty = sellQuantity(info.lot, lotQty, sellable);
    if (qty === 0) continue;
    sellable -= qty;
    out.push({ side: 'SELL', price, qty });
  }
  return out;
}

/** Cancels resting orders that are off the grid and places the missing levels. */
function sync(ctx: Ctx): void {
  const { symbol } = ctx.params;
  const reference = ctx.state.reference;
  if (reference === null || ctx.phase(symbol) !== 'CONTINUOUS') return;
  const live = ctx.openOrders(symbol).filter((o) => !o.cancelRequested && o.status !== 'PENDING_CANCEL');
  const kept = (side: 'BUY' | 'SELL', price: Price) => live.find((o) => o.side === side && o.price === price);
  const wanted = wantedLevels(ctx, reference, kept);
  const isWanted = (o: OrderView) => wanted.some((l) => l.side === o.side && l.price === o.price);

  let cancelled = 0;
  for (const o of live) {
    if (!isWanted(o) && ctx.cancel(o.clientOrderId)) cancelled += 1;
  }
  let placed = 0;
  for (const level of wanted) {
    if (kept(level.side, level.price) !== undefined) continue;
    if (level.side === 'BUY') ctx.buy(symbol, level.qty, level.price, { tag: 'grid' });
    else ctx.sell(symbol, level.qty, level.price, { tag: 'grid' });
    placed += 1;
  }
  if (cancelled + placed > 0) {
    ctx.log.debug('grid synced', { reference, cancelled, placed });
    ctx.status({ reference, position: ctx.position(symbol).quantity, openOrders: ctx.openOrders(symbol).length });
  }
}

function moveReference(ctx: Ctx, to: Price, why: string): void {
  const from = ctx.state.reference;
  if (from === to) return;
  ctx.state.reference = to;
  ctx.log.info('grid reference moved', { from, to, why });
}

export default defineStrategy({
  name: 'grid',
  version: '1.0.0',
  description: 'Grid / mean reversion around a reference price that follows fills; resting orders kept in sync',
  params,
  state: (): State => ({ reference: null, pausedUntil: null }),
  create: (p) => ({
    onStart(ctx) {
      if (ctx.state.reference === null && p.reference !== undefined) ctx.state.reference = p.reference;
      if (!ctx.symbols().includes(p.symbol)) ctx.subscribe(p.symbol);
      ctx.log.info('grid ready', { symbol: p.symbol, reference: ctx.state.reference, stepTicks: p.stepTicks, levels: p.levels, maxPosition: p.maxPosition });
    },

    onTick(ctx, tick) {
      if (tick.symbol !== p.symbol || tick.last === undefined) return;
      const reference = ctx.state.reference;
      if (reference === null) {
        moveReference(ctx, roundToTick(tick.last), 'first price');
      } else if (p.recenterAfterLevels > 0 && Math.abs(tick.last - reference) >= p.recenterAfterLevels * p.stepTicks * TICK) {
        moveReference(ctx, roundToTick(tick.last), 'price left the grid');
      }
      syncUnlessPaused(ctx);
    },

    onFill(ctx, fill) {
      ctx.log.info('grid fill', { side: fill.side, qty: fill.qty, price: fill.price, position: ctx.position(p.symbol).quantity });
      if (fill.order.leavesQty === 0) moveReference(ctx, fill.price, `${fill.side.toLowerCase()} filled`);
    },

    onOrderUpdate(ctx, update) {
      if (update.kind === 'DENIED' || update.kind === 'REJECTED') {
        ctx.state.pausedUntil = ctx.now() + p.retryAfterMs * 1_000;
        ctx.log.warn('grid order refused; pausing', { clientOrderId: update.order.clientOrderId, reason: update.reason, detail: update.detail, retryAfterMs: p.retryAfterMs });
        return;
      }
      if (update.kind === 'FILL' || update.kind === 'CANCELLED' || update.kind === 'EXPIRED') syncUnlessPaused(ctx);
    },

    onStop(ctx) {
      const n = ctx.cancelAll(p.symbol);
      ctx.log.info('grid stopping: resting orders cancelled', { cancelled: n });
    },
  }),
});
