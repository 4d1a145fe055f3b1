/**
 * A strategy-like consumer process for the kill tests of group-consumer.test.ts. Its "state"
 * is the list of entries it has handled ("<stream> <id>"), kept as its checkpoint, so after a
 * SIGKILL the checkpoint says exactly what it committed. Reports on stdout, one JSON per line:
 * `ready`, `batch` (before handling), `committed`, `holding`.
 *
 *   node group-consumer-child.ts '<json options>'
 *   options: { url, prefix, group, consumer, symbols, count, claimIdleMs,
 *              holdAtBatch?: n (handle batch n, then never commit it), handleMs?: per-batch work }
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { LiveClock } from '../../src/core/clock.ts';
import { createGroupConsumer, GroupConsumerFencedError } from '../../src/bus/group-consumer.ts';

interface ChildOptions {
  url: string;
  prefix: string;
  group: string;
  consumer: string;
  symbols: string[];
  count: number;
  claimIdleMs: number;
  holdAtBatch?: number;
  handleMs?: number;
}

const options = JSON.parse(process.argv[2] ?? '{}') as ChildOptions;
const say = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);

const source = createGroupConsumer({
  redis: { mode: 'standalone', url: options.url },
  keyPrefix: options.prefix,
  slotGroups: 4,
  group: options.group,
  consumer: options.consumer,
  symbols: options.symbols,
  startAt: 'earliest',
  blockMs: 100,
  count: options.count,
  claimIdleMs: options.claimIdleMs,
  clock: new LiveClock(),
});
await source.start();
let handled = JSON.parse((await source.loadCheckpoint()) ?? '[]') as string[];
say({ event: 'ready', committed: handled.length });
let n = 0;
for (;;) {
  const batch = await source.next();
  if (!batch) break;
  if (batch.entries.length === 0) continue;
  n++;
  say({ event: 'batch', n, entries: batch.entries.length, origin: batch.origin });
  const state = [...handled, ...batch.entries.map((e) => `${e.stream} ${e.id}`)];
  if (options.holdAtBatch === n) {
    say({ event: 'holding', n });
    await new Promise(() => {}); // handled, never committed: the parent kills us here
  }
  if (options.handleMs) await sleep(options.handleMs);
  try {
    await source.commit(batch, JSON.stringify(state));
    handled = state;
    say({ event: 'committed', n, total: handled.length });
  } catch (error) {
    if (!(error instanceof GroupConsumerFencedError)) throw error;
    handled = JSON.parse((await source.loadCheckpoint()) ?? '[]') as string[];
    say({ event: 'fenced', n });
  }
}
await source.close();
