import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ValidationError } from '../../../src/core/errors.ts';
import type { Logger } from '../../../src/obs/log.ts';
import { ObserverDispatcher, ObserverDispatcherError } from '../../../src/gateway/observers.ts';
import type { FlowControl } from '../../../src/gateway/observers.ts';
import type { MarketDataMessage, TickBatch, TickObserver } from '../../../src/gateway/types.ts';

interface LogLine {
  level: string;
  message: string;
  fields: Record<string, unknown> | undefined;
}

function memoryLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, fields });
  const logger: Logger & { lines: LogLine[] } = { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return logger;
}

function trade(seq: number): MarketDataMessage {
  return { type: 'trade', channel: 1, seq, symbol: '600000.SH', time: seq, price: 100_000, qty: 100, aggressor: 'BUY', buyOrderId: seq, sellOrderId: seq + 1 };
}

/** Batch `i` carries `size` messages with seqs i*size+1 … (i+1)*size. */
function batch(i: number, size = 1): TickBatch {
  return { feed: 'f', sessionId: 1, receivedAt: i, messages: Array.from({ length: size }, (_, k) => trade(i * size + k + 1)) };
}

/** An observer that records what it got; `gate` makes it wait for `release()` before each batch completes. */
function recorder(name: string, reliable: boolean, behaviour: { gated?: boolean; fail?: (batch: TickBatch, attempt: number) => 'throw' | 'reject' | undefined } = {}) {
  const got: number[] = [];
  const attempts = new Map<number, number>();
  let waiters: (() => void)[] = [];
  let closed = 0;
  const observer: TickObserver & { got: number[]; release: (n?: number) => void; waiting: () => number; closedCount: () => number } = {
    name,
    reliable,
    got,
    release(n = Infinity) {
      const now = waiters.splice(0, n);
      for (const w of now) w();
    },
    waiting: () => waiters.length,
    closedCount: () => closed,
    onBatch(b: TickBatch) {
      const id = b.receivedAt;
      const attempt = (attempts.get(id) ?? 0) + 1;
      attempts.set(id, attempt);
      const failure = behaviour.fail?.(b, attempt);
      if (failure === 'throw') throw new Error(`${name} sync failure on batch ${id}`);
      if (failure === 'reject') return Promise.reject(new Error(`${name} async failure on batch ${id}`));
      if (!behaviour.gated) {
        got.push(id);
        return;
      }
      return new Promise<void>((resolve) =>
        waiters.push(() => {
          got.push(id);
          resolve();
        }),
      );
    },
    close() {
      closed++;
      waiters = [];
      return Promise.resolve();
    },
  };
  return observer;
}

function source(): FlowControl & { events: string[] } {
  const events: string[] = [];
  return { events, pause: () => void events.push('pause'), resume: () => void events.push('resume') };
}

function statsOf(d: ObserverDispatcher, name: string) {
  const s = d.stats().observers.find((o) => o.name === name);
  assert.ok(s, `stats for ${name}`);
  return s;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

test('every observer gets every batch in order, sync or async', async () => {
  const d = new ObserverDispatcher({ logger: memoryLogger() });
  const sync = recorder('sync', true);
  const slowish: TickObserver & { got: number[] } = {
    name: 'async',
    reliable: true,
    got: [],
    async onBatch(b) {
      await new Promise((r) => setTimeout(r, b.receivedAt % 3));
      this.got.push(b.receivedAt);
    },
  };
  const best = recorder('best', false);
  d.add(sync);
  d.add(slowish);
  d.add(best);
  for (const i of range(50)) d.dispatch(batch(i, 3));
  assert.equal(await d.drain(2_000), true);
  assert.deepEqual(sync.got, range(50));
  assert.deepEqual(slowish.got, range(50));
  assert.deepEqual(best.got, range(50));
  const s = d.stats();
  assert.equal(s.batches, 50);
  assert.equal(s.messages, 150);
  assert.equal(s.pauses, 0);
  for (const o of s.observers) {
    assert.equal(o.delivered, 50);
    assert.equal(o.deliveredMessages, 150);
    assert.equal(o.queued, 0);
    assert.equal(o.dropped, 0);
    assert.equal(o.errors, 0);
  }
  await d.close();
});

test('a slow reliable observer pauses the source above the high-water mark, resumes below the low one, and delays nobody else', async () => {
  const d = new ObserverDispatcher({ highWaterBatches: 4, lowWaterBatches: 1, logger: memoryLogger() });
  const src = source();
  d.attachSource(src);
  const slow = recorder('slow', true, { gated: true });
  const fast = recorder('fast', true);
  const tap = recorder('tap', false);
  d.add(slow);
  d.add(fast);
  d.add(tap);

  for (const i of range(4)) d.dispatch(batch(i));
  assert.deepEqual(src.events, [], 'at the high-water mark, not above it');
  d.dispatch(batch(4));
  assert.deepEqual(src.events, ['pause']);
  assert.equal(d.stats().paused, true);
  // The source may deliver what it already read: still queued for everyone, in order.
  for (const i of [5, 6, 7]) d.dispatch(batch(i));
  assert.deepEqual(src.events, ['pause'], 'paused once');
  await nextTurn();
  assert.deepEqual(fast.got, range(8), 'the fast reliable observer is not held back');
  assert.deepEqual(tap.got, range(8), 'nor is the best-effort one');
  assert.equal(statsOf(d, 'slow').queued, 8);
  assert.equal(statsOf(d, 'slow').busy, true);

  slow.release(1); // 7 left: still above the low-water mark
  await nextTurn();
  assert.deepEqual(src.events, ['pause']);
  for (let i = 0; i < 6; i++) {
    slow.release(1);
    await nextTurn();
  }
  assert.deepEqual(slow.got, range(7));
  assert.deepEqual(src.events, ['pause', 'resume'], 'resumed at the low-water mark (1 queued)');
  assert.equal(d.stats().paused, false);
  slow.release();
  await nextTurn();
  assert.equal(await d.drain(1_000), true);
  assert.deepEqual(slow.got, range(8));

  // A source attached while paused is paused at once; the message high-water mark counts too.
  const d2 = new ObserverDispatcher({ highWaterBatches: 100, highWaterMessages: 10, lowWaterMessages: 2, logger: memoryLogger() });
  const src2 = source();
  d2.attachSource(src2);
  const slow2 = recorder('slow2', true, { gated: true });
  d2.add(slow2);
  d2.dispatch(batch(0, 6));
  d2.dispatch(batch(1, 6));
  assert.deepEqual(src2.events, ['pause'], '12 messages > 10');
  const late = source();
  d2.attachSource(late);
  assert.deepEqual(late.events, ['pause']);
  slow2.release();
  await nextTurn();
  slow2.release();
  await nextTurn();
  assert.deepEqual(src2.events, ['pause', 'resume']);
  assert.deepEqual(late.events, ['pause', 'resume']);
  d2.detachSource(late);
  await d.close();
  await d2.close();
});

test('a best-effort observer behind its bounded queue loses the oldest batches, counted; the one in hand is kept', async () => {
  const log = memoryLogger();
  const d = new ObserverDispatcher({ bestEffortQueueBatches: 3, logger: log });
  const src = source();
  d.attachSource(src);
  const tap = recorder('tap', false, { gated: true });
  const publisher = recorder('publisher', true);
  d.add(tap);
  d.add(publisher);
  for (const i of range(10)) d.dispatch(batch(i, 2));
  const s = statsOf(d, 'tap');
  assert.equal(s.queued, 3, 'the batch in hand and the two newest');
  assert.equal(s.dropped, 7);
  assert.equal(s.droppedMessages, 14);
  assert.deepEqual(src.events, [], 'best-effort observers never pause the source');
  assert.deepEqual(publisher.got, range(10));
  tap.release(1);
  await nextTurn();
  tap.release();
  await nextTurn();
  tap.release();
  await nextTurn();
  assert.equal(await d.drain(1_000), true);
  assert.deepEqual(tap.got, [0, 8, 9], 'newest kept, in order');
  assert.equal(statsOf(d, 'tap').delivered, 3);
  assert.ok(log.lines.some((l) => l.level === 'warn' && /dropped/.test(l.message)), 'the drop is logged');
  await d.close();
});

test('a reliable observer that throws or rejects is retried with back-off and loses nothing; each failure is logged', async () => {
  const log = memoryLogger();
  const d = new ObserverDispatcher({ retryMinMs: 2, retryMaxMs: 10, logger: log });
  // Batch 3 fails three times (throw, reject, throw), batch 7 once.
  const flaky = recorder('flaky', true, {
    fail: (b, attempt) => (b.receivedAt === 3 && attempt <= 3 ? (attempt === 2 ? 'reject' : 'throw') : b.receivedAt === 7 && attempt === 1 ? 'reject' : undefined),
  });
  const other = recorder('other', true);
  d.add(flaky);
  d.add(other);
  for (const i of range(10)) d.dispatch(batch(i));
  assert.deepEqual(other.got, range(10), 'the other reliable observer is not held back by the retries');
  assert.equal(await d.drain(2_000), true);
  assert.deepEqual(flaky.got, range(10), 'every batch exactly once, in order');
  const s = statsOf(d, 'flaky');
  assert.equal(s.errors, 4);
  assert.equal(s.retries, 4);
  assert.equal(s.delivered, 10);
  assert.equal(s.dropped, 0);
  assert.match(s.lastError!, /batch 7/);
  const failures = log.lines.filter((l) => l.level === 'error' && /retrying/.test(l.message));
  assert.equal(failures.length, 4);
  assert.deepEqual(failures.map((l) => l.fields?.attempt), [1, 2, 3, 1]);
  await d.close();
});

test('a best-effort observer that fails is counted and skipped', async () => {
  const d = new ObserverDispatcher({ logger: memoryLogger() });
  const bad = recorder('bad', false, { fail: (b) => (b.receivedAt % 2 === 0 ? (b.receivedAt % 4 === 0 ? 'throw' : 'reject') : undefined) });
  d.add(bad);
  for (const i of range(8)) d.dispatch(batch(i));
  assert.equal(await d.drain(1_000), true);
  assert.deepEqual(bad.got, [1, 3, 5, 7]);
  const s = statsOf(d, 'bad');
  assert.equal(s.errors, 4);
  assert.equal(s.retries, 0);
  assert.equal(s.delivered, 4);
  await d.close();
});

test('drain times out on a stuck observer; close abandons loudly, closes observers, is idempotent and refuses later batches', async () => {
  const log = memoryLogger();
  const d = new ObserverDispatcher({ highWaterBatches: 2, lowWaterBatches: 0, logger: log });
  const src = source();
  d.attachSource(src);
  const stuck = recorder('stuck', true, { gated: true });
  const fine = recorder('fine', false);
  d.add(stuck);
  d.add(fine);
  for (const i of range(4)) d.dispatch(batch(i));
  assert.deepEqual(src.events, ['pause']);
  const started = Date.now();
  assert.equal(await d.drain(50), false);
  assert.ok(Date.now() - started < 1_000);
  const closing = d.close(50);
  assert.equal(d.close(), closing, 'idempotent');
  await closing;
  assert.deepEqual(src.events, ['pause', 'resume'], 'sources are released on close');
  assert.equal(stuck.closedCount(), 1);
  assert.equal(fine.closedCount(), 1);
  const abandoned = log.lines.find((l) => l.level === 'error' && /abandoned/.test(l.message));
  assert.ok(abandoned);
  assert.equal(abandoned.fields?.observer, 'stuck');
  assert.equal(abandoned.fields?.batches, 4);
  d.dispatch(batch(9)); // refused, counted, never thrown
  assert.equal(d.stats().refused, 1);
  assert.throws(() => d.add(recorder('late', true)), ObserverDispatcherError);
});

test('options are validated; duplicate names refused; a throwing source does not break dispatch', async () => {
  assert.throws(() => new ObserverDispatcher({ highWaterBatches: 0 }), ValidationError);
  assert.throws(() => new ObserverDispatcher({ highWaterBatches: 4, lowWaterBatches: 4 }), ValidationError);
  assert.throws(() => new ObserverDispatcher({ retryMinMs: 10, retryMaxMs: 5 }), ValidationError);
  const log = memoryLogger();
  const d = new ObserverDispatcher({ highWaterBatches: 1, lowWaterBatches: 0, logger: log });
  d.add(recorder('a', true, { gated: true }));
  assert.throws(() => d.add(recorder('a', false)), ObserverDispatcherError);
  d.attachSource({
    pause: () => {
      throw new Error('nope');
    },
    resume: () => {},
  });
  d.dispatch(batch(0));
  d.dispatch(batch(1));
  assert.equal(d.stats().paused, true);
  assert.ok(log.lines.some((l) => l.level === 'error' && /pause threw/.test(l.message)));
  await d.close(10);
});
