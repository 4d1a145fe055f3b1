/**
 * A test strategy that records, in its persistent state, the seq of every tick it handles
 * (the test ticks carry their seq in `volume`), taking `workMs` per tick so a kill lands in
 * the middle of a batch. Its state after all restarts shows whether any tick was lost or
 * handled twice.
 */
import { defineStrategy, z } from '../../../src/strategy/api.ts';

export default defineStrategy({
  name: 'seq_recorder',
  version: '1.0.0',
  params: z.strictObject({ workMs: z.number().int().min(0).default(0) }),
  state: () => ({ seen: [] as number[] }),
  create: (p) => ({
    async onTick(ctx, tick) {
      ctx.state.seen.push(tick.volume);
      if (p.workMs > 0) await new Promise((resolve) => setTimeout(resolve, p.workMs));
      ctx.status({ seen: ctx.state.seen.length, last: tick.volume });
    },
  }),
});
