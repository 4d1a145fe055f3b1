/**
 * dual_ma — dual moving-average crossover, long or flat, one position per symbol.
 *
 * For every subscribed symbol it keeps the last `slow` last-trade prices (in `ctx.state`, so a
 * restart does not lose the averages) and compares the fast and slow simple moving averages:
 *
 *   - fast crosses **above** slow and the symbol is flat → buy `lots` board lots at the best ask
 *     (+ `slippageTicks`), capped at the upper limit;
 *   - fast crosses **below** slow → cancel any open buy and sell the whole *sellable* position at
 *     the best bid (− `slippageTicks`). Shares bought today are not sellable (T+1): the exit stays
 *     pending (in state) and is carried out on the first tick once they are — the next trading
 *     day — unless fast has crossed back above slow by then.
 *
 * A cross is a change of sign between two full windows, so the first full window never trades
 * (no "cross" at start-up), and an entry fires exactly once per cross. Orders go out only in
 * continuous trading: an upward cross outside it is ignored, a downward one is remembered.
 * The comparison is exact integer arithmetic: fastSum × slow vs slowSum × fast.
 *
 * Parameters (config `strategies[].params`):
 *   fast           fast window, in ticks (default 5)
 *   slow           slow window, in ticks, > fast (default 20)
 *   lots           board lots per entry (1 lot = the board's minimum: 100 shares; STAR 200)
 *   slippageTicks  ticks beyond the touch to make the order marketable (default 0)
 */
import { defineStrategy, roundToTick, TICK, z, type StrategyContext, type Tick } from '../src/strategy/api.ts';

const params = z
  .strictObject({
    fast: z.number().int().min(1).default(5),
    slow: z.number().int().min(2).max(1_000).default(20),
    lots: z.number().int().min(1).default(1),
    slippageTicks: z.number().int().min(0).max(20).default(0),
  })
  .refine((p) => p.fast < p.slow, { message: 'fast must be shorter than slow', path: ['fast'] });

type Params = z.output<typeof params>;

/** Per-symbol memory, persisted. `above`: fast > slow at the last full window (null before one). */
type SymbolState = { prices: number[]; above: boolean | null; exitPending: boolean };
type State = { symbols: Record<string, SymbolState> };
type Ctx = StrategyContext<Params, State>;

/** Fast above slow, exactly: fastSum/fast > slowSum/slow ⇔ fastSum × slow > slowSum × fast. */
function fastAboveSlow(prices: readonly number[], fast: number, slow: number): boolean {
  let slowSum = 0;
  let fastSum = 0;
  for (let i = 0; i < prices.length; i += 1) {
    const p = prices[i] as number;
    slowSum += p;
    if (i >= prices.length - fast) fastSum += p;
  }
  return fastSum * slow > slowSum * fast;
}

function enter(ctx: Ctx, tick: Tick): void {
  const { symbol } = tick;
  if (ctx.position(symbol).quantity > 0 || ctx.openOrders(symbol).length > 0) return;
  if (tick.ask === undefined) {
    ctx.log.info('cross up but no ask (limit up?): no entry', { symbol });
    return;
  }
  const qty = ctx.params.lots * ctx.instrument(symbol).lot.minQty;
  let price = tick.ask + ctx.params.slippageTicks * TICK;
  if (tick.upperLimit !== undefined) price = Math.min(price, tick.upperLimit);
  if (ctx.cash().available < price * qty) {
    ctx.log.warn('cross up but not enough cash', { symbol, qty, price, available: ctx.cash().available });
    return;
  }
  const id = ctx.buy(symbol, qty, roundToTick(price, 'up'), { tag: 'cross-up' });
  ctx.log.info('fast crossed above slow: buy', { symbol, qty, price, clientOrderId: id });
}

/** Works towards flat: cancels open buys, sells what is sellable; stays pending while shares remain. */
function exit(ctx: Ctx, tick: Tick, s: SymbolState, announce: boolean): void {
  const { symbol } = tick;
  for (const o of ctx.openOrders(symbol)) if (o.side === 'BUY') ctx.cancel(o.clientOrderId);
  const pos = ctx.position(symbol);
  if (pos.quantity === 0) {
    s.exitPending = false;
    return;
  }
  s.exitPending = true;
  if (ctx.openOrders(symbol).some((o) => o.side === 'SELL')) return; // one exit order at a time
  if (pos.sellable === 0 || tick.bid === undefined) {
    if (announce) {
      ctx.log.info(tick.bid === undefined ? 'exit wanted but no bid (limit down?): retrying' : 'exit wanted but the shares were bought today (T+1): selling once sellable', {
        symbol,
        quantity: pos.quantity,
        boughtToday: pos.boughtToday,
      });
    }
    return;
  }
  let price = tick.bid - ctx.params.slippageTicks * TICK;
  if (tick.lowerLimit !== undefined) price = Math.max(price, tick.lowerLimit);
  // The whole sellable quantity always satisfies the odd-lot rule (it carries the odd part).
  const id = ctx.sell(symbol, pos.sellable, roundToTick(price, 'down'), { tag: 'cross-down' });
  ctx.log.info('fast is below slow: sell the sellable position', { symbol, qty: pos.sellable, price, clientOrderId: id });
}

export default defineStrategy({
  name: 'dual_ma',
  version: '1.0.0',
  description: 'Dual moving-average crossover on last prices, long or flat, T+1 and lot aware',
  params,
  state: (): State => ({ symbols: {} }),
  create: ({ fast, slow }) => ({
    onStart(ctx) {
      ctx.log.info('dual_ma ready', { fast, slow, symbols: ctx.symbols().join(',') });
    },

    onTick(ctx, tick) {
      if (tick.last === undefined) return;
      const s = (ctx.state.symbols[tick.symbol] ??= { prices: [], above: null, exitPending: false });
      s.prices.push(tick.last);
      if (s.prices.length > slow) s.prices.shift();
      if (s.prices.length < slow) return;

      const above = fastAboveSlow(s.prices, fast, slow);
      const previous = s.above;
      s.above = above;
      const crossedDown = previous === true && !above;
      if (crossedDown) s.exitPending = true; // remembered even outside continuous trading
      if (tick.phase !== 'CONTINUOUS') return;

      if (previous === false && above) {
        s.exitPending = false;
        enter(ctx, tick);
      } else if (s.exitPending) {
        if (above) s.exitPending = false; // crossed back up before we could sell: keep the position
        else exit(ctx, tick, s, crossedDown);
      }
    },

    onFill(ctx, fill) {
      const position = ctx.position(fill.symbol).quantity;
      ctx.log.info('filled', { symbol: fill.symbol, side: fill.side, qty: fill.qty, price: fill.price, position });
      const s = ctx.state.symbols[fill.symbol];
      if (s !== undefined && position === 0) s.exitPending = false; // flat: the exit is complete
    },

    onOrderUpdate(ctx, update) {
      if (update.kind === 'DENIED' || update.kind === 'REJECTED') {
        ctx.log.warn('order refused', { clientOrderId: update.order.clientOrderId, kind: update.kind, reason: update.reason, detail: update.detail });
      }
    },
  }),
});
