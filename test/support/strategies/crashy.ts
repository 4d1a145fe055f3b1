/**
 * A test strategy that crashes on demand: while the file `crashFile` exists, its 20 ms timer
 * throws. Counts its starts in persistent state and writes `stopFile` from onStop (a test
 * fixture may touch files; real strategies never do).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { defineStrategy, z } from '../../../src/strategy/api.ts';

export default defineStrategy({
  name: 'crashy',
  version: '1.0.0',
  params: z.strictObject({ crashFile: z.string(), stopFile: z.string() }),
  state: () => ({ starts: 0 }),
  create: (p) => ({
    onStart(ctx) {
      ctx.state.starts += 1;
      ctx.setTimer('poll', 20);
      ctx.status({ starts: ctx.state.starts });
    },
    onTimer(ctx) {
      if (existsSync(p.crashFile)) throw new Error(`crash on demand (${ctx.instanceId})`);
    },
    onStop(ctx) {
      writeFileSync(p.stopFile, JSON.stringify({ instance: ctx.instanceId, starts: ctx.state.starts }));
    },
  }),
});
