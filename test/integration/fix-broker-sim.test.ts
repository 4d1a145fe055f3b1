/**
 * FixBrokerAdapter against the real simulator (matching engine + FixVenue + FixAcceptor over
 * TCP): the shared broker conformance suite, then FIX-specific behaviour (adapter restart
 * after kill -9 of a process mid-stream, reconnect after the venue drops us, a venue that
 * remembers rejected orders).
 *
 * The market is quiet (no synthetic flow): the tests place the counterparty orders themselves
 * from another account, so what trades with what is exact. The book of 600036.SH has a
 * previous close of 38.60 and a ±2% price cage: resting buys at 38.00, liquidity at 38.60+.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TradingCalendar } from '../../src/core/calendar.ts';
import { LiveClock } from '../../src/core/clock.ts';
import { BrokerNotConnectedError, DuplicateClientOrderIdError } from '../../src/execution/broker/errors.ts';
import { FixBrokerAdapter, openFixBrokerStore } from '../../src/execution/broker/fix-broker.ts';
import type { BrokerOrder } from '../../src/execution/ports.ts';
import { silentLogger } from '../../src/obs/log.ts';
import { MsgType } from '../../src/protocol/fix/fields.ts';
import { buildNewOrderSingle } from '../../src/protocol/fix/messages.ts';
import { FixSession } from '../../src/protocol/fix/session.ts';
import { FixAcceptor } from '../../src/sim/fix-acceptor.ts';
import { FixVenue } from '../../src/sim/fix-venue.ts';
import { Simulator } from '../../src/sim/simulator.ts';
import { buildUniverse } from '../../src/sim/universe.ts';
import { brokerConformance, EventRecorder, type BrokerVenue } from '../support/broker-conformance.ts';

const SYMBOL = '600036.SH';
const RESTING_PRICE = 380_000; // 38.00: below every ask the tests place
const ASK_PRICE = 386_000; // 38.60, the previous close
const COUNTERPARTY = 'MM';
const CHILD_ENV = 'TRIQUANT_FIX_BROKER_CHILD';

interface SimVenue extends BrokerVenue {
  readonly sim: Simulator;
  readonly venue: FixVenue;
  readonly acceptor: FixAcceptor;
  readonly port: number;
  readonly dir: string;
  adapterOptions(stateKey: string): ConstructorParameters<typeof FixBrokerAdapter>[0];
}

let counterpartyIds = 0;

async function startSimVenue(): Promise<SimVenue> {
  const clock = new LiveClock();
  const sim = new Simulator({ clock, calendar: new TradingCalendar(), instruments: buildUniverse(), seed: 1, timeMode: { kind: 'continuous' }, flow: null });
  const venue = new FixVenue(sim, clock, silentLogger);
  // Count the orders the engine accepted per ClOrdID (the "one venue order per ClOrdID" check).
  const accepted = new Map<string, number>();
  sim.setMemberEvents({
    ...venue.events,
    orderAccepted: (view, time) => {
      if (view.account !== COUNTERPARTY && view.clientOrderId !== undefined) accepted.set(view.clientOrderId, (accepted.get(view.clientOrderId) ?? 0) + 1);
      venue.events.orderAccepted(view, time);
    },
  });
  const acceptor = new FixAcceptor({ application: venue, sessions: [{ targetCompId: 'TRIQUANT' }], clock, logger: silentLogger, closeGraceMs: 300 });
  await sim.start();
  const { port } = await acceptor.start({ port: 0, host: '127.0.0.1' });
  const dir = mkdtempSync(join(tmpdir(), 'fix-broker-sim-'));
  const order = (clientOrderId: string, fields: Partial<BrokerOrder>): BrokerOrder => ({
    clientOrderId, account: 'ACC1', symbol: SYMBOL, side: 'BUY', orderType: 'LIMIT', price: RESTING_PRICE, quantity: 200, createdAt: clock.nowMicros(), ...fields,
  });
  const counterparty = (side: 'BUY' | 'SELL', price: number, quantity: number) => {
    sim.submit({ symbol: SYMBOL, side, orderType: 'LIMIT', price, quantity, account: COUNTERPARTY, clientOrderId: `MM${++counterpartyIds}` });
  };
  const adapterOptions = (stateKey: string) => ({
    host: '127.0.0.1', port, senderCompId: 'TRIQUANT', targetCompId: 'SIM', heartBtIntSeconds: 5,
    store: openFixBrokerStore(join(dir, stateKey), 'TRIQUANT', 'SIM'), clock, log: silentLogger,
    reconnect: { initialMs: 50, maxMs: 500 }, reconcileTimeoutMs: 5_000,
  });
  return {
    sim, venue, acceptor, port, dir, adapterOptions,
    createAdapter: (stateKey) => new FixBrokerAdapter(adapterOptions(stateKey)),
    restingOrder: (id) => order(id, {}),
    async marketableOrder(id) {
      // Two ask levels: one order of 500 takes both, in two fills.
      counterparty('SELL', ASK_PRICE, 200);
      counterparty('SELL', ASK_PRICE + 100, 300);
      return order(id, { price: ASK_PRICE + 100, quantity: 500 });
    },
    rejectedOrder: (id) => ({ order: order(id, { quantity: 150 }), reason: /NOT_LOT_MULTIPLE/ }),
    async fillResting(o) {
      counterparty(o.side === 'BUY' ? 'SELL' : 'BUY', o.price, o.quantity);
    },
    venueOrderCount: (id) => accepted.get(id) ?? 0,
    async close() {
      await acceptor.close();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

if (process.env[CHILD_ENV] !== undefined) {
  await runChild(JSON.parse(process.env[CHILD_ENV]) as ChildConfig);
} else {
  brokerConformance('FIX adapter ↔ simulator', startSimVenue);
  registerSimTests();
}

function registerSimTests(): void {
  test('typed errors: not logged on is a retryable BrokerNotConnectedError; a resubmit is a DuplicateClientOrderIdError', async () => {
    const v = await startSimVenue();
    const adapter = v.createAdapter('typed');
    try {
      const o = v.restingOrder('TE1');
      await assert.rejects(adapter.submit(o), (e) => e instanceof BrokerNotConnectedError && e.retryable && e.code === 'NETWORK');
      await adapter.start();
      await adapter.submit(o);
      await assert.rejects(adapter.submit(o), (e) => e instanceof DuplicateClientOrderIdError && !e.retryable && e.clientOrderId === 'TE1');
    } finally {
      await adapter.close();
      await v.close();
    }
  });

  test('the venue drops the connection: the adapter reconnects by itself and resends what the venue missed', async () => {
    const v = await startSimVenue();
    const adapter = new FixBrokerAdapter(v.adapterOptions('drop'));
    const events = new EventRecorder(adapter);
    const states: string[] = [];
    adapter.onStateChange((s) => states.push(s));
    try {
      await adapter.start();
      const a = v.restingOrder('DR1');
      await adapter.submit(a);
      await events.waitFor('accepted', 'DR1', 10_000);
      // The venue logs us out (e.g. its end of session) and a counterparty trades with us meanwhile.
      v.acceptor.session('TRIQUANT')!.logout('maintenance');
      await events.until(() => adapter.state !== 'connected', 'the drop', 10_000);
      await v.fillResting(a);
      await events.until(() => adapter.state === 'connected', 'the reconnect', 10_000);
      await events.until(() => events.filledQty('DR1') === a.quantity, 'the fill made while disconnected', 10_000);
      assert.ok(adapter.stats.possDupReports >= 1, 'the fill came by FIX resend (PossDupFlag=Y)');
      assert.ok(states.includes('disconnected') && states.includes('connecting'), states.join(','));
      assert.equal(states.at(-1), 'connected');
      // Still trading after the reconnect.
      const b = v.restingOrder('DR2');
      await adapter.submit(b);
      await events.waitFor('accepted', 'DR2', 10_000);
    } finally {
      await adapter.close();
      await v.close();
    }
  });

  test('beforeReady: after every logon the open orders are reconciled before new orders are accepted', async () => {
    const v = await startSimVenue();
    const open: BrokerOrder[] = [];
    const log: string[] = [];
    const adapterRef: { current?: FixBrokerAdapter } = {};
    const beforeReady = async () => {
      const adapter = adapterRef.current!;
      // Runs between logon and "connected": reconcile works, submit does not yet.
      await assert.rejects(adapter.submit(v.restingOrder(`BR-EARLY-${log.length}`)), BrokerNotConnectedError);
      const statuses = await adapter.reconcile(open);
      log.push(`reconciled ${statuses.map((s) => `${s.clientOrderId}:${s.status}`).join(',')} in state ${adapter.state}`);
    };
    const adapter = new FixBrokerAdapter({ ...v.adapterOptions('ready'), beforeReady });
    adapterRef.current = adapter;
    const events = new EventRecorder(adapter);
    try {
      await adapter.start();
      assert.deepEqual(log, ['reconciled  in state connecting']);
      const a = v.restingOrder('BR1');
      await adapter.submit(a);
      open.push(a);
      await events.waitFor('accepted', 'BR1', 10_000);
      v.acceptor.session('TRIQUANT')!.logout('maintenance');
      await events.until(() => adapter.state !== 'connected', 'the drop', 10_000);
      await events.until(() => adapter.state === 'connected', 'the reconnect', 10_000);
      assert.deepEqual(log.slice(1), ['reconciled BR1:ACCEPTED in state connecting']);
    } finally {
      await adapter.close();
      await v.close();
    }
  });

  test('reconcile tells a rejected order (REJECTED, with the reason) from one the venue never saw', async () => {
    const v = await startSimVenue();
    const adapter = v.createAdapter('rej');
    const events = new EventRecorder(adapter);
    try {
      await adapter.start();
      const { order } = v.rejectedOrder('RJ1');
      await adapter.submit(order);
      await events.waitFor('rejected', 'RJ1', 10_000);
      const [rejected, unknown] = await adapter.reconcile([order, v.restingOrder('RJ-NEVER')]);
      assert.equal(rejected?.status, 'REJECTED');
      assert.match(rejected?.text ?? '', /NOT_LOT_MULTIPLE/);
      assert.equal(unknown?.status, 'UNKNOWN');
    } finally {
      await adapter.close();
      await v.close();
    }
  });

  test('an order in the store but never written to the socket before a crash reaches the venue once, by FIX resend', async () => {
    const v = await startSimVenue();
    const first = new FixBrokerAdapter(v.adapterOptions('window'));
    try {
      await first.start();
      const a = v.restingOrder('W1');
      await first.submit(a);
      await new EventRecorder(first).until(() => v.venueOrderCount('W1') === 1, 'W1 at the venue', 10_000);
      first.kill();
      // What a crash between the store write and the socket write leaves behind: W2 only in the store.
      const b = v.restingOrder('W2');
      const store = openFixBrokerStore(join(v.dir, 'window'), 'TRIQUANT', 'SIM');
      const offline = new FixSession({
        role: 'initiator', senderCompId: 'TRIQUANT', targetCompId: 'SIM', store, clock: new LiveClock(),
        handler: { send: () => {}, disconnect: () => {}, onApplicationMessage: () => {} },
      });
      assert.equal(offline.sendApplication(MsgType.NewOrderSingle, buildNewOrderSingle({ clOrdId: 'W2', account: 'ACC1', symbol: SYMBOL, side: 'BUY', orderType: 'LIMIT', price: b.price, orderQty: b.quantity, transactTime: b.createdAt })).transmitted, false);
      store.close();

      const second = new FixBrokerAdapter(v.adapterOptions('window'));
      const events = new EventRecorder(second);
      try {
        await second.start();
        await events.waitFor('accepted', 'W2', 10_000);
        const statuses = await second.reconcile([a, b]);
        assert.deepEqual(statuses.map((s) => s.status), ['ACCEPTED', 'ACCEPTED']);
        await assert.rejects(second.submit(b), DuplicateClientOrderIdError);
        assert.equal(v.venueOrderCount('W1'), 1);
        assert.equal(v.venueOrderCount('W2'), 1);
        assert.equal(v.venue.counters.ordersRejected, 0);
      } finally {
        await second.close();
      }
    } finally {
      await first.close();
      await v.close();
    }
  });

  test('kill -9 of a process mid-stream, then restart on its store: reconcile, send the UNKNOWN ones once, no ClOrdID twice', { timeout: 60_000 }, async () => {
    const v = await startSimVenue();
    const total = 40;
    const ids = Array.from({ length: total }, (_, i) => `K${i}`);
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], {
      env: { ...process.env, [CHILD_ENV]: JSON.stringify({ port: v.port, storeDir: join(v.dir, 'crash'), ids } satisfies ChildConfig) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    try {
      // Kill it somewhere in the middle of its stream of submits.
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child never got going:\n${stdout}\n${stderr}`)), 20_000);
        child.stdout.on('data', (c: Buffer) => {
          stdout += c.toString();
          if ((stdout.match(/^sent /gm) ?? []).length >= total / 2) {
            clearTimeout(timer);
            child.kill('SIGKILL');
            resolve();
          }
        });
      });
      await exited;
      const sentBeforeKill = (stdout.match(/^sent /gm) ?? []).length;
      assert.ok(sentBeforeKill >= total / 2 && sentBeforeKill < total, `killed mid-stream (${sentBeforeKill} sent):\n${stderr}`);

      // The restarted "service": same store, reconcile every journaled order, send the UNKNOWN ones.
      const adapter = new FixBrokerAdapter(v.adapterOptions('crash'));
      const events = new EventRecorder(adapter);
      try {
        await adapter.start();
        const orders = ids.map((id) => v.restingOrder(id));
        const statuses = await adapter.reconcile(orders);
        const unknown = statuses.filter((s) => s.status === 'UNKNOWN').map((s) => s.clientOrderId);
        const known = statuses.filter((s) => s.status !== 'UNKNOWN');
        for (const s of known) assert.equal(s.status, 'ACCEPTED', JSON.stringify(s));
        assert.ok(known.length >= sentBeforeKill, `every order the child reported sent is known (${known.length} ≥ ${sentBeforeKill})`);
        for (const id of unknown) await adapter.submit(orders.find((o) => o.clientOrderId === id)!);
        // Known ones are refused by the adapter itself (they are in the store).
        for (const s of known) await assert.rejects(adapter.submit(orders.find((o) => o.clientOrderId === s.clientOrderId)!), DuplicateClientOrderIdError);
        await events.until(() => unknown.every((id) => events.of(id).some((e) => e.type === 'accepted')), 'acks of the resent orders', 10_000);
        for (const id of ids) assert.equal(v.venueOrderCount(id), 1, `exactly one venue order for ${id}`);
        assert.equal(v.venue.counters.ordersRejected, 0, 'no duplicate rejects');
      } finally {
        await adapter.close();
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
      await v.close();
    }
  });
}

interface ChildConfig {
  port: number;
  storeDir: string;
  ids: string[];
}

/** Child mode: an "execution service" that streams submits until it is killed. */
async function runChild(config: ChildConfig): Promise<void> {
  const clock = new LiveClock();
  const adapter = new FixBrokerAdapter({
    host: '127.0.0.1', port: config.port, senderCompId: 'TRIQUANT', targetCompId: 'SIM',
    store: openFixBrokerStore(config.storeDir, 'TRIQUANT', 'SIM'), clock, reconnect: { initialMs: 50, maxMs: 200 },
  });
  await adapter.start();
  for (const id of config.ids) {
    await adapter.submit({ clientOrderId: id, account: 'ACC1', symbol: SYMBOL, side: 'BUY', orderType: 'LIMIT', price: RESTING_PRICE, quantity: 200, createdAt: clock.nowMicros() });
    process.stdout.write(`sent ${id}\n`);
    // Pace the stream so the kill lands in the middle of it.
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await new Promise((resolve) => setTimeout(resolve, 60_000));
}
