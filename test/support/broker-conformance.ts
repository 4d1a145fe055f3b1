/**
 * The conformance suite every `BrokerAdapter` must pass, against a real venue started by a
 * factory (the simulator, a QuickFIX/J acceptor, ...). `brokerConformance(name, factory)`
 * registers node:test tests; each test starts its own venue (so books and sessions never leak
 * between tests) and closes it at the end.
 *
 * The venue harness says how to make the venue do things (an order that rests, one that
 * trades, one it refuses, a counterparty trading against a resting order while the adapter is
 * down) and creates adapters: adapters created with the same `stateKey` share durable state,
 * as a restarted process would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BrokerAdapter, BrokerEvent, BrokerOrder, VenueOrderStatus } from '../../src/execution/ports.ts';

export interface BrokerVenue {
  /** A new adapter for this venue (not started). Same `stateKey` = same durable state. */
  createAdapter(stateKey: string): BrokerAdapter;
  /** An order the venue accepts and leaves working (nothing trades against it). */
  restingOrder(clientOrderId: string): BrokerOrder;
  /** An order that trades in full at once; the harness provides the liquidity if needed. */
  marketableOrder(clientOrderId: string): Promise<BrokerOrder>;
  /** An order the venue refuses, and what the reason must say. */
  rejectedOrder(clientOrderId: string): { order: BrokerOrder; reason: RegExp };
  /** Another participant trades against the whole of a resting order (the adapter may be down). */
  fillResting(order: BrokerOrder): Promise<void>;
  /** How many orders the venue holds under this ClOrdID (0, 1, or a bug). */
  venueOrderCount(clientOrderId: string): Promise<number> | number;
  close(): Promise<void>;
}

export type BrokerVenueFactory = () => Promise<BrokerVenue>;

export type BrokerConformanceCase =
  | 'accepted'
  | 'fills'
  | 'cancel'
  | 'cancel-unknown'
  | 'reject'
  | 'reconcile'
  | 'restart-resend'
  | 'not-connected'
  | 'duplicate';

export interface BrokerConformanceOptions {
  /** Skip every test with this reason (e.g. a missing tool). */
  skip?: string | false;
  /** Only these cases (default: all). */
  cases?: readonly BrokerConformanceCase[];
  /** Per-test time limit (default 60 s). */
  timeoutMs?: number;
  /** Bounded waits for venue events (default 10 s). */
  waitMs?: number;
}

/** Records an adapter's events and offers bounded waits. */
export class EventRecorder {
  readonly events: BrokerEvent[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(adapter: BrokerAdapter) {
    adapter.onEvent((event) => {
      this.events.push(event);
      this.notify();
    });
    // Waits may also be on the connection state.
    adapter.onStateChange(() => this.notify());
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  of(clientOrderId: string): BrokerEvent[] {
    return this.events.filter((e) => e.clientOrderId === clientOrderId);
  }

  fills(clientOrderId: string): Extract<BrokerEvent, { type: 'filled' }>[] {
    return this.events.filter((e): e is Extract<BrokerEvent, { type: 'filled' }> => e.type === 'filled' && e.clientOrderId === clientOrderId);
  }

  filledQty(clientOrderId: string): number {
    // Resent reports repeat a fill under the same id: count each fill id once.
    const seen = new Map<string, number>();
    for (const fill of this.fills(clientOrderId)) seen.set(fill.fillId, fill.qty);
    let total = 0;
    for (const qty of seen.values()) total += qty;
    return total;
  }

  until(predicate: () => boolean, what: string, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate()) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; events: ${JSON.stringify(this.events)}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  async waitFor<T extends BrokerEvent['type']>(type: T, clientOrderId: string, timeoutMs: number): Promise<Extract<BrokerEvent, { type: T }>> {
    const find = () => this.events.find((e) => e.type === type && e.clientOrderId === clientOrderId);
    await this.until(() => find() !== undefined, `${type} of ${clientOrderId}`, timeoutMs);
    return find() as Extract<BrokerEvent, { type: T }>;
  }
}

const ALL_CASES: readonly BrokerConformanceCase[] = ['accepted', 'fills', 'cancel', 'cancel-unknown', 'reject', 'reconcile', 'restart-resend', 'not-connected', 'duplicate'];

interface Ctx {
  venue: BrokerVenue;
  /** Creates, records and (at the end) closes an adapter. */
  adapter(stateKey: string): { adapter: BrokerAdapter; events: EventRecorder };
  waitMs: number;
}

function byId(statuses: readonly VenueOrderStatus[], id: string): VenueOrderStatus {
  const found = statuses.find((s) => s.clientOrderId === id);
  assert.ok(found, `a status for ${id} in ${JSON.stringify(statuses)}`);
  return found;
}

function isRetryableTyped(error: unknown): boolean {
  const e = error as { retryable?: unknown; code?: unknown };
  return error instanceof Error && e.retryable === true && typeof e.code === 'string';
}

let idCounter = 0;
/** ClOrdIDs unique across test runs (venues keep them for the day). */
function newId(prefix: string): string {
  idCounter++;
  return `${prefix}${Date.now().toString(36)}${idCounter}`;
}

const CASES: Record<BrokerConformanceCase, { title: string; run(ctx: Ctx): Promise<void> }> = {
  accepted: {
    title: 'submit → accepted with the venue order id; state connected',
    async run({ venue, adapter: make, waitMs }) {
      const { adapter, events } = make('a');
      const states: string[] = [];
      adapter.onStateChange((s) => states.push(s));
      await adapter.start();
      assert.equal(adapter.state, 'connected');
      assert.ok(states.includes('connected'), `state changes: ${states.join(',')}`);
      const order = venue.restingOrder(newId('A'));
      await adapter.submit(order);
      const accepted = await events.waitFor('accepted', order.clientOrderId, waitMs);
      assert.ok(accepted.venueOrderId.length > 0);
      assert.equal(events.of(order.clientOrderId).filter((e) => e.type !== 'accepted').length, 0, 'nothing else happened to a resting order');
    },
  },
  fills: {
    title: 'a marketable order fills: unique fill ids summing to the quantity',
    async run({ venue, adapter: make, waitMs }) {
      const { adapter, events } = make('a');
      await adapter.start();
      const order = await venue.marketableOrder(newId('F'));
      await adapter.submit(order);
      await events.until(() => events.filledQty(order.clientOrderId) >= order.quantity, `fills of ${order.clientOrderId}`, waitMs);
      const fills = events.fills(order.clientOrderId);
      assert.equal(new Set(fills.map((f) => f.fillId)).size, fills.length, 'fill ids are unique');
      assert.equal(fills.reduce((sum, f) => sum + f.qty, 0), order.quantity, 'fills sum to the cum qty');
      for (const fill of fills) {
        assert.ok(fill.price > 0 && Number.isInteger(fill.price));
        assert.ok(fill.venueOrderId.length > 0);
      }
      const [status] = await adapter.reconcile([order]);
      assert.equal(status?.status, 'FILLED');
      assert.equal(status?.cumQty, order.quantity);
      assert.equal(status?.leavesQty, 0);
    },
  },
  cancel: {
    title: 'cancel of a resting order → cancelled (named by the order, not the cancel)',
    async run({ venue, adapter: make, waitMs }) {
      const { adapter, events } = make('a');
      await adapter.start();
      const order = venue.restingOrder(newId('C'));
      await adapter.submit(order);
      await events.waitFor('accepted', order.clientOrderId, waitMs);
      const cancelId = newId('X');
      await adapter.cancel({ ...order, cancelId, createdAt: order.createdAt + 1 });
      await events.waitFor('cancelled', order.clientOrderId, waitMs);
      assert.equal(events.events.filter((e) => e.clientOrderId === cancelId).length, 0, 'no event names the cancel id');
      const [status] = await adapter.reconcile([order]);
      assert.equal(status?.status, 'CANCELLED');
      assert.equal(status?.leavesQty, 0);
    },
  },
  'cancel-unknown': {
    title: 'cancel of an unknown order → cancelRejected',
    async run({ venue, adapter: make, waitMs }) {
      const { adapter, events } = make('a');
      await adapter.start();
      const ghost = venue.restingOrder(newId('G'));
      await adapter.cancel({ ...ghost, cancelId: newId('GX') });
      const rejected = await events.waitFor('cancelRejected', ghost.clientOrderId, waitMs);
      assert.ok(rejected.reason.length > 0);
    },
  },
  reject: {
    title: 'a venue reject → rejected with the reason',
    async run({ venue, adapter: make, waitMs }) {
      const { adapter, events } = make('a');
      await adapter.start();
      const { order, reason } = venue.rejectedOrder(newId('R'));
      await adapter.submit(order);
      const rejected = await events.waitFor('rejected', order.clientOrderId, waitMs);
      assert.match(rejected.reason, reason);
      assert.equal(events.of(order.clientOrderId).length, 1, 'only the reject');
    },
  },
  reconcile: {
    title: 'reconcile: a known open order, a filled order, an order the venue never saw',
    async run({ venue, adapter: make, waitMs }) {
      const { adapter, events } = make('a');
      await adapter.start();
      const open = venue.restingOrder(newId('O'));
      await adapter.submit(open);
      await events.waitFor('accepted', open.clientOrderId, waitMs);
      const filled = await venue.marketableOrder(newId('F'));
      await adapter.submit(filled);
      await events.until(() => events.filledQty(filled.clientOrderId) >= filled.quantity, 'fills', waitMs);
      const never = venue.restingOrder(newId('N'));
      const statuses = await adapter.reconcile([open, filled, never]);
      assert.deepEqual(statuses.map((s) => s.clientOrderId), [open.clientOrderId, filled.clientOrderId, never.clientOrderId], 'answers in request order');
      const o = byId(statuses, open.clientOrderId);
      assert.equal(o.status, 'ACCEPTED');
      assert.equal(o.cumQty, 0);
      assert.equal(o.leavesQty, open.quantity);
      assert.ok(o.venueOrderId);
      const f = byId(statuses, filled.clientOrderId);
      assert.equal(f.status, 'FILLED');
      assert.equal(f.cumQty, filled.quantity);
      assert.ok(f.avgPrice > 0);
      const n = byId(statuses, never.clientOrderId);
      assert.equal(n.status, 'UNKNOWN');
      assert.equal(n.venueOrderId, undefined);
      assert.equal(events.of(never.clientOrderId).length, 0, 'status answers are not events');
      // An order found UNKNOWN can then be sent, exactly once.
      await adapter.submit(never);
      await events.waitFor('accepted', never.clientOrderId, waitMs);
      assert.equal(await venue.venueOrderCount(never.clientOrderId), 1);
    },
  },
  'restart-resend': {
    title: 'restart with the same state while the venue filled an order: the fill arrives after reconnect',
    async run({ venue, adapter: make, waitMs }) {
      const first = make('restart');
      await first.adapter.start();
      const order = venue.restingOrder(newId('S'));
      await first.adapter.submit(order);
      await first.events.waitFor('accepted', order.clientOrderId, waitMs);
      // A crash if the adapter can simulate one (kill -9: no Logout), else a clean close.
      const killable = first.adapter as BrokerAdapter & { kill?: () => void };
      if (typeof killable.kill === 'function') killable.kill();
      else await first.adapter.close();
      assert.equal(first.adapter.state, 'closed');

      await venue.fillResting(order);
      assert.equal(first.events.fills(order.clientOrderId).length, 0, 'the first adapter saw no fill');

      const second = make('restart');
      await second.adapter.start();
      await second.events.until(() => second.events.filledQty(order.clientOrderId) >= order.quantity, 'the fill made while we were down', waitMs);
      const [status] = await second.adapter.reconcile([order]);
      assert.equal(status?.status, 'FILLED');
      assert.equal(status?.cumQty, order.quantity);
      // The restarted adapter knows the ClOrdID was sent: it is never sent again.
      await assert.rejects(second.adapter.submit(order));
      assert.equal(await venue.venueOrderCount(order.clientOrderId), 1);
    },
  },
  'not-connected': {
    title: 'submit / cancel / reconcile while not connected reject with a typed retryable error',
    async run({ venue, adapter: make }) {
      const { adapter } = make('a');
      const order = venue.restingOrder(newId('D'));
      assert.equal(adapter.state, 'disconnected');
      await assert.rejects(adapter.submit(order), (e) => isRetryableTyped(e));
      await assert.rejects(adapter.cancel({ ...order, cancelId: newId('DX') }), (e) => isRetryableTyped(e));
      await assert.rejects(adapter.reconcile([order]), (e) => isRetryableTyped(e));
      assert.equal(await venue.venueOrderCount(order.clientOrderId), 0);
      await adapter.start();
      await adapter.submit(order);
      await adapter.close();
      await adapter.close(); // idempotent
      assert.equal(adapter.state, 'closed');
      await assert.rejects(adapter.submit(venue.restingOrder(newId('D'))), (e) => e instanceof Error);
      await assert.rejects(adapter.start(), (e) => e instanceof Error);
    },
  },
  duplicate: {
    title: 'a duplicate ClOrdID never creates a second venue order',
    async run({ venue, adapter: make, waitMs }) {
      const { adapter, events } = make('a');
      await adapter.start();
      const order = venue.restingOrder(newId('U'));
      await adapter.submit(order);
      await events.waitFor('accepted', order.clientOrderId, waitMs);
      await assert.rejects(adapter.submit(order), (e) => e instanceof Error && (e as { retryable?: boolean }).retryable !== true);
      await assert.rejects(adapter.submit({ ...order, quantity: order.quantity * 2 }));
      const [status] = await adapter.reconcile([order]);
      assert.equal(status?.status, 'ACCEPTED', 'the original order lives on');
      assert.equal(await venue.venueOrderCount(order.clientOrderId), 1);
      assert.equal(events.of(order.clientOrderId).filter((e) => e.type === 'rejected').length, 0);
    },
  },
};

export function brokerConformance(name: string, factory: BrokerVenueFactory, options: BrokerConformanceOptions = {}): void {
  const cases = options.cases ?? ALL_CASES;
  const waitMs = options.waitMs ?? 10_000;
  for (const key of cases) {
    const c = CASES[key];
    test(`${name} conformance: ${c.title}`, { skip: options.skip ?? false, timeout: options.timeoutMs ?? 60_000 }, async () => {
      const venue = await factory();
      const adapters: BrokerAdapter[] = [];
      try {
        await c.run({
          venue,
          waitMs,
          adapter(stateKey) {
            const adapter = venue.createAdapter(stateKey);
            adapters.push(adapter);
            return { adapter, events: new EventRecorder(adapter) };
          },
        });
      } finally {
        for (const adapter of adapters) await adapter.close();
        await venue.close();
      }
    });
  }
}
