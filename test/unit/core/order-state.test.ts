import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  canCancel,
  InvalidStateTransition,
  isInFlight,
  isOpen,
  isTerminal,
  ORDER_EVENT_KINDS,
  ORDER_STATUSES,
  OrderEventKind,
  OrderStatus,
  PRIOR,
  TRANSITIONS,
  transition,
  tryTransition,
} from '../../../src/core/order-state.ts';
import { TriquantError } from '../../../src/core/errors.ts';

type Target = OrderStatus | typeof PRIOR;

/**
 * The documented machine, written independently of the implementation: every legal
 * (status, event) pair and its target. Everything else must throw.
 */
const EXPECTED: ReadonlyArray<readonly [OrderStatus, OrderEventKind, Target]> = [
  ['PENDING_NEW', 'DENIED', 'DENIED'],
  ['PENDING_NEW', 'SENT', 'SENT'],

  ['SENT', 'ACCEPTED', 'ACCEPTED'],
  ['SENT', 'REJECTED', 'REJECTED'],
  ['SENT', 'FILL_PARTIAL', 'PARTIALLY_FILLED'],
  ['SENT', 'FILL_FULL', 'FILLED'],
  ['SENT', 'CANCEL_REQUESTED', 'PENDING_CANCEL'],
  ['SENT', 'CANCELLED', 'CANCELLED'],
  ['SENT', 'EXPIRED', 'EXPIRED'],

  ['ACCEPTED', 'ACCEPTED', 'ACCEPTED'],
  ['ACCEPTED', 'FILL_PARTIAL', 'PARTIALLY_FILLED'],
  ['ACCEPTED', 'FILL_FULL', 'FILLED'],
  ['ACCEPTED', 'CANCEL_REQUESTED', 'PENDING_CANCEL'],
  ['ACCEPTED', 'CANCELLED', 'CANCELLED'],
  ['ACCEPTED', 'EXPIRED', 'EXPIRED'],

  ['PARTIALLY_FILLED', 'ACCEPTED', 'PARTIALLY_FILLED'],
  ['PARTIALLY_FILLED', 'FILL_PARTIAL', 'PARTIALLY_FILLED'],
  ['PARTIALLY_FILLED', 'FILL_FULL', 'FILLED'],
  ['PARTIALLY_FILLED', 'CANCEL_REQUESTED', 'PENDING_CANCEL'],
  ['PARTIALLY_FILLED', 'CANCELLED', 'CANCELLED'],
  ['PARTIALLY_FILLED', 'EXPIRED', 'EXPIRED'],

  ['PENDING_CANCEL', 'ACCEPTED', 'PENDING_CANCEL'],
  ['PENDING_CANCEL', 'REJECTED', 'REJECTED'],
  ['PENDING_CANCEL', 'FILL_PARTIAL', 'PENDING_CANCEL'],
  ['PENDING_CANCEL', 'FILL_FULL', 'FILLED'],
  ['PENDING_CANCEL', 'CANCELLED', 'CANCELLED'],
  ['PENDING_CANCEL', 'CANCEL_REJECTED', PRIOR],
  ['PENDING_CANCEL', 'EXPIRED', 'EXPIRED'],

  // Terminal statuses: only the documented late events.
  ['REJECTED', 'CANCEL_REJECTED', 'REJECTED'],
  ['FILLED', 'ACCEPTED', 'FILLED'],
  ['FILLED', 'CANCEL_REJECTED', 'FILLED'],
  ['CANCELLED', 'ACCEPTED', 'CANCELLED'],
  ['CANCELLED', 'FILL_PARTIAL', 'CANCELLED'],
  ['CANCELLED', 'FILL_FULL', 'FILLED'],
  ['CANCELLED', 'CANCEL_REJECTED', 'CANCELLED'],
  ['EXPIRED', 'ACCEPTED', 'EXPIRED'],
  ['EXPIRED', 'CANCELLED', 'EXPIRED'],
  ['EXPIRED', 'FILL_PARTIAL', 'EXPIRED'],
  ['EXPIRED', 'FILL_FULL', 'FILLED'],
  ['EXPIRED', 'CANCEL_REJECTED', 'EXPIRED'],
];

const LATE_EVENTS: Readonly<Record<string, readonly OrderEventKind[]>> = {
  DENIED: [],
  REJECTED: ['CANCEL_REJECTED'],
  FILLED: ['ACCEPTED', 'CANCEL_REJECTED'],
  CANCELLED: ['ACCEPTED', 'FILL_PARTIAL', 'FILL_FULL', 'CANCEL_REJECTED'],
  EXPIRED: ['ACCEPTED', 'CANCELLED', 'FILL_PARTIAL', 'FILL_FULL', 'CANCEL_REJECTED'],
};

const CANCELABLE: readonly OrderStatus[] = ['SENT', 'ACCEPTED', 'PARTIALLY_FILLED'];

function expectedTarget(state: OrderStatus, event: OrderEventKind): Target | undefined {
  return EXPECTED.find(([s, e]) => s === state && e === event)?.[2];
}

test('the status and event-kind lists match the const objects and are distinct', () => {
  assert.deepEqual([...ORDER_STATUSES].sort(), Object.values(OrderStatus).sort());
  assert.deepEqual([...ORDER_EVENT_KINDS].sort(), Object.values(OrderEventKind).sort());
  assert.equal(new Set(ORDER_STATUSES).size, 10);
  assert.equal(new Set(ORDER_EVENT_KINDS).size, 10);
});

test('the table has exactly one row per status and one cell per event kind', () => {
  assert.deepEqual(Object.keys(TRANSITIONS).sort(), [...ORDER_STATUSES].sort());
  for (const status of ORDER_STATUSES) {
    assert.deepEqual(Object.keys(TRANSITIONS[status]).sort(), [...ORDER_EVENT_KINDS].sort(), status);
  }
  assert.ok(Object.isFrozen(TRANSITIONS) && Object.isFrozen(TRANSITIONS.SENT));
});

test('the table equals the documented list, cell by cell', () => {
  for (const status of ORDER_STATUSES) {
    for (const event of ORDER_EVENT_KINDS) {
      assert.equal(TRANSITIONS[status][event], expectedTarget(status, event) ?? null, `${status} + ${event}`);
    }
  }
});

test('every table entry is exercised by transition() and tryTransition()', () => {
  for (const [status, event, target] of EXPECTED) {
    if (target === PRIOR) {
      for (const prior of CANCELABLE) {
        assert.equal(transition(status, event, prior), prior, `${status} + ${event} (prior ${prior})`);
        assert.equal(tryTransition(status, event, prior), prior);
      }
    } else {
      assert.equal(transition(status, event), target, `${status} + ${event}`);
      assert.equal(tryTransition(status, event), target);
    }
  }
});

test('every pair outside the table throws InvalidStateTransition (full cross product)', () => {
  let illegal = 0;
  for (const status of ORDER_STATUSES) {
    for (const event of ORDER_EVENT_KINDS) {
      if (expectedTarget(status, event) !== undefined) continue;
      illegal += 1;
      assert.equal(tryTransition(status, event), undefined);
      assert.throws(
        () => transition(status, event),
        (err: unknown) =>
          err instanceof InvalidStateTransition &&
          err instanceof TriquantError &&
          err.code === 'INVALID_STATE_TRANSITION' &&
          err.state === status &&
          err.event === event &&
          err.name === 'InvalidStateTransition' &&
          err.message.includes(status) &&
          err.message.includes(event),
        `${status} + ${event}`,
      );
    }
  }
  assert.equal(illegal, 100 - EXPECTED.length);
});

test('PENDING_CANCEL + CANCEL_REJECTED needs a cancelable prior status', () => {
  assert.equal(tryTransition('PENDING_CANCEL', 'CANCEL_REJECTED'), undefined);
  assert.throws(() => transition('PENDING_CANCEL', 'CANCEL_REJECTED'), /pre-cancel status/);
  for (const bad of ORDER_STATUSES.filter((s) => !CANCELABLE.includes(s))) {
    assert.equal(tryTransition('PENDING_CANCEL', 'CANCEL_REJECTED', bad), undefined, bad);
    assert.throws(() => transition('PENDING_CANCEL', 'CANCEL_REJECTED', bad), InvalidStateTransition);
  }
  // A prior is ignored where the table has a concrete target.
  assert.equal(transition('FILLED', 'CANCEL_REJECTED', 'ACCEPTED'), 'FILLED');
});

test('status predicates', () => {
  const terminal = ORDER_STATUSES.filter(isTerminal).sort();
  assert.deepEqual(terminal, ['CANCELLED', 'DENIED', 'EXPIRED', 'FILLED', 'REJECTED']);
  assert.deepEqual(ORDER_STATUSES.filter(isOpen).sort(), ['ACCEPTED', 'PARTIALLY_FILLED', 'PENDING_CANCEL']);
  assert.deepEqual(ORDER_STATUSES.filter(isInFlight).sort(), ['PENDING_CANCEL', 'SENT']);
  assert.deepEqual(ORDER_STATUSES.filter(canCancel).sort(), [...CANCELABLE].sort());
  for (const s of ORDER_STATUSES) {
    assert.ok(!(isTerminal(s) && (isOpen(s) || isInFlight(s) || canCancel(s))), s);
  }
});

test('terminal statuses accept exactly the documented late events, and stay terminal', () => {
  for (const status of ORDER_STATUSES.filter(isTerminal)) {
    const accepted = ORDER_EVENT_KINDS.filter((e) => TRANSITIONS[status][e] !== null);
    assert.deepEqual(accepted.sort(), [...(LATE_EVENTS[status] ?? ['<missing>'])].sort(), status);
    for (const e of accepted) {
      const next = transition(status, e);
      assert.ok(isTerminal(next), `${status} + ${e} → ${next}`);
    }
  }
});

test('no transition leads back to PENDING_NEW; SENT is reached only from PENDING_NEW', () => {
  for (const status of ORDER_STATUSES) {
    for (const event of ORDER_EVENT_KINDS) {
      const next = tryTransition(status, event, 'ACCEPTED');
      assert.notEqual(next, 'PENDING_NEW');
      if (next === 'SENT') assert.equal(status, 'PENDING_NEW');
    }
  }
});

/** The table driven the way the aggregate drives it: remembers the status under PENDING_CANCEL. */
function step(
  state: { status: OrderStatus; prior: OrderStatus | undefined },
  event: OrderEventKind,
): OrderStatus | undefined {
  const next = tryTransition(state.status, event, state.prior);
  if (next === undefined) return undefined;
  if (next === 'PENDING_CANCEL') {
    if (state.status !== 'PENDING_CANCEL') {
      state.prior = state.status;
    } else {
      const under = tryTransition(state.prior ?? 'SENT', event);
      if (under === undefined) return undefined;
      state.prior = under;
    }
  } else if (state.status === 'PENDING_CANCEL') {
    state.prior = undefined;
  }
  state.status = next;
  return next;
}

test('property: random event sequences stay inside the machine', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...ORDER_EVENT_KINDS), { maxLength: 60 }), (events) => {
      const state: { status: OrderStatus; prior: OrderStatus | undefined } = { status: 'PENDING_NEW', prior: undefined };
      let wasTerminal = false;
      for (const event of events) {
        const before = state.status;
        const next = step(state, event);
        if (next === undefined) {
          assert.equal(state.status, before);
          continue;
        }
        assert.ok(ORDER_STATUSES.includes(next), `unknown status ${String(next)}`);
        if (isTerminal(before)) {
          assert.ok(LATE_EVENTS[before]?.includes(event), `${before} accepted ${event}`);
          assert.ok(isTerminal(next), `${before} + ${event} reopened to ${next}`);
        }
        if (wasTerminal) assert.ok(isTerminal(next));
        wasTerminal = isTerminal(next);
        if (next === 'PENDING_CANCEL') {
          assert.ok(state.prior !== undefined && canCancel(state.prior), `prior ${String(state.prior)}`);
        }
      }
    }),
    { numRuns: 2000 },
  );
});

test('property: transition and tryTransition agree on every input', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...ORDER_STATUSES),
      fc.constantFrom(...ORDER_EVENT_KINDS),
      fc.option(fc.constantFrom(...ORDER_STATUSES), { nil: undefined }),
      (status, event, prior) => {
        const soft = tryTransition(status, event, prior);
        if (soft === undefined) assert.throws(() => transition(status, event, prior), InvalidStateTransition);
        else assert.equal(transition(status, event, prior), soft);
      },
    ),
  );
});
