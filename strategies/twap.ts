/**
 * twap — time-weighted execution of one parent order: buy or sell `quantity` shares of `symbol`
 * between `start` and `end` (China time, today) in `slices` equal child orders.
 *
 * Schedule: the slices are spread evenly over the *continuous-trading* time inside the window,
 * so none falls in the lunch break or an auction (09:30–11:30 and 13:00–14:57 by the session
 * table). A window that starts before the strategy does is re-planned from now. Slice i makes
 * the cumulative target ⌊parent × i / n⌋ rounded down to whole lots; the last slice takes the
 * rest, so the children always add up to the parent. For sells, the odd lot of the parent
 * (e.g. the 50 of 1,050) goes out in the last slice, whole and in one order, as the exchange
 * requires; a buy parent is rounded down to whole lots.
 *
 * Pricing:
 *   - aggressive (default): each child is a limit order at the opposite best price (ask for a
 *     buy), so it normally fills at once;
 *   - passive: the child rests at our own best price (bid for a buy); if it is not filled after
 *     `crossAfterSec`, it is cancelled and the rest crosses the spread;
 *   - `limitPrice` caps a buy (floors a sell): the child is never priced worse, it rests instead.
 *
 * Whatever a child did not fill by the next slice is cancelled and rolled into that slice, so
 * the execution catches up with the schedule instead of falling behind. Nothing is sent outside
 * continuous trading or while the symbol is halted. At `end` working children are cancelled and
 * a summary is logged. Progress is published with `ctx.status` (filled, target, percent, slice)
 * and kept in `ctx.state`, so a restarted instance continues where it stopped.
 *
 * Parameters:
 *   symbol, side ("BUY" | "SELL"), quantity (shares)
 *   start, end      "HH:MM[:SS]" China time
 *   slices          number of child slices (default 10)
 *   pricing         "aggressive" | "passive" (default aggressive)
 *   crossAfterSec   passive only: seconds before crossing (default 30)
 *   limitPrice      optional CNY price cap (buy) / floor (sell)
 */
import {
  atTimeOfDay,
  defineStrategy,
  param,
  roundLot,
  sellQuantity,
  z,
  type Micros,
  type OrderView,
  type StrategyContext,
} from '../src/strategy/api.ts';

const params = z
  .strictObject({
    symbol: param.symbol(),
    side: z.enum(['BUY', 'SELL']),
    quantity: param.qty(),
    start: param.timeOfDay(),
    end: param.timeOfDay(),
    slices: z.number().int().min(1).max(500).default(10),
    pricing: z.enum(['aggressive', 'passive']).default('aggressive'),
    crossAfterSec: z.number().int().min(1).max(3_600).default(30),
    limitPrice: param.price().optional(),
  })
  .refine((p) => p.start < p.end, { message: 'start must be before end', path: ['end'] });

type Params = z.output<typeof params>;

type State = {
  /** The trading date the plan is for (null: no plan yet). */
  date: number | null;
  parent: number;
  /** Slice instants and cumulative targets (same length). */
  times: number[];
  targets: number[];
  /** Slices dispatched so far. */
  next: number;
  filled: number;
  notional: number;
  /** The next child crosses the spread (passive timeout). */
  crossNext: boolean;
  /** Submissions refused in a row (stop after 3). */
  refusals: number;
  done: boolean;
};
type Ctx = StrategyContext<Params, State>;

const SLICE_TIMER = 'twap.slice';
const CROSS_TIMER = 'twap.cross';
const END_TIMER = 'twap.end';
const TAG = 'twap';

/** The instants of continuous trading inside [from, to), as intervals. */
function continuousWindows(ctx: Ctx, from: Micros, to: Micros): [Micros, Micros][] {
  return ctx
    .sessions(ctx.params.symbol)
    .filter((s) => s.phase === 'CONTINUOUS')
    .map((s): [Micros, Micros] => [Math.max(s.from, from), Math.min(s.to, to)])
    .filter(([a, b]) => b > a);
}

/** Plans today's slices: n instants evenly spread over continuous time, and cumulative targets. */
function plan(ctx: Ctx): void {
  const p = ctx.params;
  const s = ctx.state;
  const today = ctx.today();
  const from = Math.max(atTimeOfDay(today, p.start), ctx.now());
  const to = atTimeOfDay(today, p.end);
  const windows = continuousWindows(ctx, from, to);
  const total = windows.reduce((n, [a, b]) => n + (b - a), 0);
  Object.assign(s, { date: today, times: [], targets: [], next: 0, filled: 0, notional: 0, crossNext: false, refusals: 0, done: false });
  if (total === 0) {
    s.done = true;
    ctx.log.error('twap: no continuous trading left in the window; nothing to do', { start: p.start, end: p.end });
    return;
  }

  const lot = ctx.instrument(p.symbol).lot;
  const parent = p.side === 'BUY' ? roundLot(lot, p.quantity) : p.quantity;
  if (parent !== p.quantity) ctx.log.warn('twap: buy quantity rounded down to whole lots', { asked: p.quantity, parent });
  const even = roundLot(lot, parent); // the odd lot of a sell leaves with the last slice
  const n = Math.max(1, Math.min(p.slices, Math.floor(even / lot.minQty)));
  if (n < p.slices) ctx.log.warn('twap: fewer slices than asked, each must be at least one lot', { slices: n });
  s.parent = parent;
  for (let i = 0; i < n; i += 1) {
    // Map the offset along continuous time back onto the clock.
    let offset = Math.floor((total * i) / n);
    let at = windows[0]![0];
    for (const [a, b] of windows) {
      if (offset < b - a) {
        at = a + offset;
        break;
      }
      offset -= b - a;
    }
    s.times.push(at);
    s.targets.push(i === n - 1 ? parent : roundLot(lot, Math.floor((even * (i + 1)) / n)));
  }
  ctx.log.info('twap planned', { side: p.side, symbol: p.symbol, parent, slices: n, first: s.times[0], last: s.times[n - 1], end: to });
  ctx.setTimer(END_TIMER, { at: to });
}

function children(ctx: Ctx): OrderView[] {
  return ctx.openOrders(ctx.params.symbol).filter((o) => o.tag === TAG);
}

function report(ctx: Ctx): void {
  const s = ctx.state;
  const working = children(ctx).reduce((n, o) => n + o.leavesQty, 0);
  ctx.status({
    side: ctx.params.side,
    target: s.parent,
    filled: s.filled,
    percent: s.parent === 0 ? 100 : Math.floor((s.filled * 100) / s.parent),
    slice: s.next,
    slices: s.times.length,
    working,
    done: s.done,
  });
}

/** Sends a child for whatever the schedule wants now and is neither filled nor working. */
function work(ctx: Ctx): void {
  const p = ctx.params;
  const s = ctx.state;
  if (s.done || s.next === 0) return;
  const phase = ctx.phase(p.symbol);
  if (phase !== 'CONTINUOUS') {
    ctx.log.info('twap: not in continuous trading, waiting', { phase });
    return;
  }
  const target = s.targets[s.next - 1] ?? s.parent;
  const working = children(ctx).reduce((n, o) => n + o.leavesQty, 0);
  const want = target - s.filled - working;
  if (want <= 0) return;
  const lot = ctx.instrument(p.symbol).lot;
  const last = s.next === s.targets.length;
  let qty: number;
  if (p.side === 'BUY') {
    qty = roundLot(lot, want);
  } else {
    // Sellable excludes shares in our working children, as it should. Whole lots until the last
    // slice; then everything left, odd lot included.
    const sellable = ctx.position(p.symbol).sellable;
    qty = last ? sellQuantity(lot, want, sellable) : sellQuantity(lot, roundLot(lot, want), sellable);
  }
  if (qty === 0) {
    if (last && want > 0 && children(ctx).length === 0) ctx.log.warn('twap: the remainder cannot be sent as a valid quantity', { remainder: want });
    return;
  }

  const tick = ctx.lastTick(p.symbol);
  const cross = p.pricing === 'aggressive' || s.crossNext;
  let price = p.side === 'BUY' ? (cross ? tick?.ask : tick?.bid) : cross ? tick?.bid : tick?.ask;
  price ??= tick?.last;
  if (price === undefined) {
    ctx.log.warn('twap: no quote yet, slice waits', { symbol: p.symbol });
    return;
  }
  if (p.limitPrice !== undefined) price = p.side === 'BUY' ? Math.min(price, p.limitPrice) : Math.max(price, p.limitPrice);
  const id = p.side === 'BUY' ? ctx.buy(p.symbol, qty, price, { tag: TAG }) : ctx.sell(p.symbol, qty, price, { tag: TAG });
  // Stay crossing while other children are still being cancelled for the cross.
  if (!children(ctx).some((o) => o.cancelRequested || o.status === 'PENDING_CANCEL')) s.crossNext = false;
  ctx.log.info('twap child', { slice: s.next, qty, price, crossed: cross, clientOrderId: id });
  if (!cross) ctx.setTimer(CROSS_TIMER, { at: ctx.now() + p.crossAfterSec * 1_000_000 });
}

function armNextSlice(ctx: Ctx): void {
  const at = ctx.state.times[ctx.state.next];
  if (at !== undefined) ctx.setTimer(SLICE_TIMER, { at });
}

function finish(ctx: Ctx, why: string): void {
  const s = ctx.state;
  if (s.done) return;
  s.done = true;
  ctx.cancelAll(ctx.params.symbol);
  ctx.clearTimer(SLICE_TIMER);
  ctx.clearTimer(CROSS_TIMER);
  ctx.log.info('twap finished', {
    why,
    side: ctx.params.side,
    filled: s.filled,
    target: s.parent,
    avgPrice: s.filled > 0 ? Math.round(s.notional / s.filled) : null,
  });
  report(ctx);
}

export default defineStrategy({
  name: 'twap',
  version: '1.0.0',
  description: 'TWAP execution: a parent order in equal child slices over continuous trading time, lot and session aware',
  params,
  state: (): State => ({ date: null, parent: 0, times: [], targets: [], next: 0, filled: 0, notional: 0, crossNext: false, refusals: 0, done: false }),
  create: (p) => ({
    onStart(ctx) {
      if (!ctx.symbols().includes(p.symbol)) ctx.subscribe(p.symbol);
      // Without a quote yet the host may not know the market's time (a simulated or replayed
      // day): plan on the first tick instead.
      if (ctx.state.date !== ctx.today() && ctx.lastTick(p.symbol) === undefined) {
        ctx.log.info('twap: waiting for the first quote to plan the slices', { symbol: p.symbol });
        return;
      }
      if (ctx.state.date !== ctx.today()) plan(ctx);
      if (!ctx.state.done) armNextSlice(ctx);
      report(ctx);
    },

    onTick(ctx, tick) {
      if (tick.symbol !== p.symbol || ctx.state.date === ctx.today()) return;
      plan(ctx);
      if (!ctx.state.done) armNextSlice(ctx);
      report(ctx);
    },

    onTimer(ctx, name) {
      const s = ctx.state;
      if (name === END_TIMER) return finish(ctx, 'window ended');
      if (s.done) return;
      if (name === SLICE_TIMER) {
        s.next += 1;
        s.refusals = 0;
        // A child of the previous slice still working is rolled into this one.
        for (const o of children(ctx)) ctx.cancel(o.clientOrderId);
        work(ctx);
        armNextSlice(ctx);
        report(ctx);
      } else if (name === CROSS_TIMER) {
        const open = children(ctx);
        if (open.length > 0 && ctx.phase(p.symbol) === 'CONTINUOUS') {
          s.crossNext = true;
          for (const o of open) ctx.cancel(o.clientOrderId); // the cancel's confirmation sends the crossing child
        }
      }
    },

    onFill(ctx, fill) {
      if (fill.order.tag !== TAG) return;
      const s = ctx.state;
      s.filled += fill.qty;
      s.notional += fill.qty * fill.price;
      ctx.log.info('twap progress', { filled: s.filled, target: s.parent, percent: Math.floor((s.filled * 100) / Math.max(1, s.parent)) });
      report(ctx);
      if (s.filled >= s.parent) finish(ctx, 'parent filled');
    },

    onOrderUpdate(ctx, update) {
      if (update.order.tag !== TAG || ctx.state.done) return;
      if (update.kind === 'DENIED' || update.kind === 'REJECTED') {
        ctx.state.refusals += 1;
        ctx.log.warn('twap child refused', { reason: update.reason, detail: update.detail, inARow: ctx.state.refusals });
        if (ctx.state.refusals >= 3) finish(ctx, `three children refused in a row (last: ${update.reason ?? 'unknown'})`);
        return; // the next slice tries again
      }
      // A cancelled child (rolled over, or crossing after a passive timeout) frees its rest.
      if (update.kind === 'CANCELLED') work(ctx);
    },

    onStop(ctx) {
      ctx.cancelAll(p.symbol);
    },
  }),
});
