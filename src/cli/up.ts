/**
 * `triquant up`: the whole system on one machine. Until the other tiers land it runs the
 * part that exists — the simulated exchange, in accelerated time so a demo at any hour
 * trades — and says plainly which services are not built yet.
 */
import { writeFileSync } from 'node:fs';
import type { Config } from '../config/schema.ts';
import { runSim } from './sim.ts';
import type { CliIo } from './main.ts';

const NOT_BUILT = [
  'gateway (issue #4)',
  'strategy host (issue #5)',
  'execution (issue #6)',
  'monitor and dashboard (issue #7)',
];

export async function runUp(options: { duration?: number; summaryJson?: string }, config: Config, io: CliIo): Promise<number> {
  io.err(
    'triquant up: starting the simulated exchange. Not built yet, so not started: ' +
      `${NOT_BUILT.join(', ')}. Ctrl-C stops it.\n`,
  );
  return runSim({ ...(options.duration !== undefined ? { duration: options.duration } : {}) }, config, (stats) => {
    if (!options.summaryJson) return;
    const summary = {
      services: ['sim'],
      not_built: NOT_BUILT,
      ticks_published: stats.marketDataEvents,
      trades: stats.trades,
      orders_submitted: stats.memberOrders,
      errors: 0,
    };
    writeFileSync(options.summaryJson, `${JSON.stringify(summary, null, 2)}\n`);
  });
}
