/**
 * The Trading session over real gRPC: the session server (with an in-test fake OMS) on a free
 * port, the strategy-side GrpcOrderChannel, raw grpc-js clients for what a well-behaved client
 * never sends, and a TCP proxy to cut connections.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { LiveClock } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/obs/log.ts';
import { createServiceRegistry } from '../../src/obs/metrics.ts';
import { OrderType as PbOrderType, Side as PbSide } from '../../src/protocol/gen/triquant/v1/common.ts';
import { ClientMessage, ExecType, ServerMessage, TradingClient, type NewOrder } from '../../src/protocol/gen/triquant/v1/trading.ts';
import { MemorySessionOutbox } from '../../src/execution/grpc/memory-outbox.ts';
import { startGrpcServer, type GrpcServerHandle } from '../../src/execution/grpc/server.ts';
import { TradingSessionServer, type TradingSessionServerOptions } from '../../src/execution/grpc/session-server.ts';
import type {
  AuthResult,
  CancelOrderCommand,
  ExecutionReportData,
  SessionEvent,
  SessionIdentity,
  SessionOutboxStore,
  SubmitOrderCommand,
  TradingSessionHandler,
  TradingStateRecord,
} from '../../src/execution/ports.ts';
import { GrpcOrderChannel, OrderChannelClosedError, type GrpcOrderChannelOptions, type TradingStateUpdate } from '../../src/strategy/order-client.ts';
import type { ExecutionEvent, ExecutionReportEvent, SubmitIntent } from '../../src/strategy/api.ts';
import type { OrderChannelState } from '../../src/strategy/ports.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

const clock = new LiveClock();
const STRATEGY = 'alpha';
const INSTANCE = 'i1';
const TOKEN = 'alpha-secret';

// ---------------------------------------------------------------------------------------------
// A small OMS: orders by (account, client order id); a repeated id is ignored, like the real one.

interface FakeOrder {
  readonly identity: SessionIdentity;
  readonly command: SubmitOrderCommand;
  status: 'ACCEPTED' | 'CANCELLED';
}

class FakeOms implements TradingSessionHandler {
  server!: TradingSessionServer;
  readonly orders = new Map<string, FakeOrder>();
  submitCalls = 0;
  duplicates = 0;
  readonly invalidCalls: Array<{ clientOrderId: string; reasonCode: string }> = [];
  readonly invalidCancels: Array<{ clientOrderId: string; reasonCode: string }> = [];
  readonly cancels: CancelOrderCommand[] = [];
  readonly connectedSessions: string[] = [];
  readonly disconnectedSessions: string[] = [];
  /** While true, reports are held back (the order "reached the OMS, the answer did not leave"). */
  hold = false;
  private readonly held: Array<() => void> = [];

  authenticate(strategyId: string, _instanceId: string, token: string, accounts: readonly string[]): AuthResult {
    if (strategyId !== STRATEGY || token !== TOKEN) return { ok: false, code: 'UNAUTHENTICATED', message: 'bad token for strategy' };
    const bad = accounts.filter((a) => a !== 'A1' && a !== 'A2');
    if (bad.length > 0) return { ok: false, code: 'PERMISSION_DENIED', message: `strategy alpha may not trade ${bad.join(', ')}` };
    return { ok: true };
  }

  tradingStates(accounts: readonly string[]): { global: TradingStateRecord; accounts: TradingStateRecord[] } {
    const record = (scope: 'GLOBAL' | 'ACCOUNT', account: string): TradingStateRecord => ({ scope, account, state: 'ACTIVE', actor: 'system', reason: 'start', changedAt: 1 });
    return { global: record('GLOBAL', ''), accounts: accounts.map((a) => record('ACCOUNT', a)) };
  }

  openOrders(identity: SessionIdentity): ExecutionReportData[] {
    return [...this.orders.values()]
      .filter((o) => o.identity.instanceId === identity.instanceId && o.status === 'ACCEPTED')
      .map((o) => report(o.command, 'ACCEPTED', 'ACCEPTED'));
  }

  submit(identity: SessionIdentity, command: SubmitOrderCommand): void {
    this.submitCalls++;
    const key = `${command.account}|${command.clientOrderId}`;
    if (this.orders.has(key)) {
      this.duplicates++;
      return;
    }
    this.orders.set(key, { identity, command, status: 'ACCEPTED' });
    this.emit(identity, { type: 'executionReport', report: report(command, 'PENDING_NEW', 'PENDING_NEW') });
    this.emit(identity, { type: 'executionReport', report: report(command, 'ACCEPTED', 'ACCEPTED') });
  }

  cancel(identity: SessionIdentity, command: CancelOrderCommand): void {
    this.cancels.push(command);
    const order = this.orders.get(`${command.account}|${command.clientOrderId}`);
    if (order === undefined || order.status !== 'ACCEPTED') return;
    order.status = 'CANCELLED';
    this.emit(identity, { type: 'executionReport', report: report(order.command, 'CANCELLED', 'CANCELLED') });
  }

  invalid(identity: SessionIdentity, clientOrderId: string, account: string, symbol: string, reasonCode: string, detail: string): void {
    this.invalidCalls.push({ clientOrderId, reasonCode });
    this.emit(identity, { type: 'orderDenied', clientOrderId, account, symbol, reasonCode, detail, eventTimeUs: clock.nowMicros() });
  }

  invalidCancel(identity: SessionIdentity, clientOrderId: string, account: string, reasonCode: string, detail: string): void {
    this.invalidCancels.push({ clientOrderId, reasonCode });
    this.emit(identity, {
      type: 'executionReport',
      report: {
        clientOrderId, venueOrderId: '', account, symbol: '', side: 'BUY', orderType: 'LIMIT', price: 0, quantity: 0, execType: 'CANCEL_REJECTED',
        status: undefined, execId: '', lastQty: 0, lastPrice: 0, cumQty: 0, leavesQty: 0, avgPrice: 0, lastFees: 0, cumFees: 0,
        text: `${reasonCode}: ${detail}`, eventTimeUs: clock.nowMicros(),
      },
    });
  }

  connected(identity: SessionIdentity): void {
    this.connectedSessions.push(identity.sessionId);
  }

  disconnected(identity: SessionIdentity): void {
    this.disconnectedSessions.push(identity.sessionId);
  }

  release(): void {
    this.hold = false;
    for (const send of this.held.splice(0)) send();
  }

  private emit(identity: SessionIdentity, event: SessionEvent): void {
    const send = () => void this.server.publish(identity.strategyId, identity.instanceId, event);
    if (this.hold) this.held.push(send);
    else send();
  }
}

function report(command: Pick<SubmitOrderCommand, 'clientOrderId' | 'account' | 'symbol' | 'side' | 'orderType' | 'price' | 'quantity'>, execType: ExecutionReportData['execType'], status: ExecutionReportData['status']): ExecutionReportData {
  return {
    clientOrderId: command.clientOrderId,
    venueOrderId: status === 'PENDING_NEW' ? '' : `V-${command.clientOrderId}`,
    account: command.account,
    symbol: command.symbol,
    side: command.side,
    orderType: command.orderType,
    price: command.price,
    quantity: command.quantity,
    execType,
    status,
    execId: '',
    lastQty: 0,
    lastPrice: 0,
    cumQty: 0,
    leavesQty: status === 'CANCELLED' ? 0 : command.quantity,
    avgPrice: 0,
    lastFees: 0,
    cumFees: 0,
    text: '',
    eventTimeUs: clock.nowMicros(),
  };
}

/** An event published straight through the server (a burst of venue acks). */
function ack(i: number): SessionEvent {
  return {
    type: 'executionReport',
    report: report({ clientOrderId: `burst-${i}`, account: 'A1', symbol: '600000.SH', side: 'BUY', orderType: 'LIMIT', price: 100_000, quantity: 100 }, 'ACCEPTED', 'ACCEPTED'),
  };
}

// ---------------------------------------------------------------------------------------------
// Harness

interface Stack {
  readonly oms: FakeOms;
  readonly trading: TradingSessionServer;
  readonly handle: GrpcServerHandle;
  readonly outbox: SessionOutboxStore;
  readonly port: number;
}

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function startStack(options: Partial<TradingSessionServerOptions> = {}): Promise<Stack> {
  const oms = new FakeOms();
  const outbox = options.outbox ?? new MemorySessionOutbox();
  const trading = new TradingSessionServer({ handler: oms, outbox, clock, log: silentLogger, ...options });
  oms.server = trading;
  const handle = await startGrpcServer({ host: '127.0.0.1', port: 0, trading });
  cleanups.push(() => handle.close(500));
  return { oms, trading, handle, outbox, port: handle.port };
}

interface Recorder {
  readonly channel: GrpcOrderChannel;
  readonly events: ExecutionEvent[];
  readonly states: Array<[OrderChannelState, string]>;
  readonly tradingStates: TradingStateUpdate[];
  seqs(): number[];
}

function openChannel(port: number, overrides: Partial<GrpcOrderChannelOptions> = {}): Recorder {
  const channel = new GrpcOrderChannel({
    target: `127.0.0.1:${port}`,
    strategyId: STRATEGY,
    instanceId: INSTANCE,
    token: TOKEN,
    accounts: ['A1'],
    clock,
    log: silentLogger,
    reconnect: { initialMs: 20, maxMs: 200 },
    connectTimeoutMs: 3_000,
    ...overrides,
  });
  cleanups.push(() => channel.close());
  const recorder: Recorder = {
    channel,
    events: [],
    states: [],
    tradingStates: [],
    seqs: () => recorder.events.map((e) => e.seq),
  };
  channel.onEvent((e) => recorder.events.push(e));
  channel.onStateChange((state, detail) => recorder.states.push([state, detail]));
  channel.onTradingState((u) => recorder.tradingStates.push(u));
  return recorder;
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, k) => from + k);

function submitIntent(clientOrderId: string, overrides: Partial<SubmitIntent> = {}): SubmitIntent {
  return { type: 'submit', clientOrderId, account: 'A1', symbol: '600000.SH', side: 'BUY', orderType: 'LIMIT', price: 100_500, quantity: 100, tag: '', createdAt: clock.nowMicros(), ...overrides };
}

/** A typed raw client stream that records everything and its final status. */
function rawSession(port: number) {
  const client = new TradingClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  cleanups.push(() => client.close());
  const call = client.session();
  const messages: ServerMessage[] = [];
  call.on('data', (m: ServerMessage) => messages.push(m));
  call.on('error', () => {});
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  const ended = new Promise<void>((resolve) => call.on('end', resolve));
  return { client, call, messages, status, done: async () => (await Promise.all([status, ended]))[0] };
}

/** A client that sends raw bytes (whatever we want on the wire) and decodes responses. */
const RawBytesTrading = grpc.makeGenericClientConstructor(
  {
    session: {
      path: '/triquant.v1.Trading/Session',
      requestStream: true,
      responseStream: true,
      requestSerialize: (bytes: Buffer) => bytes,
      requestDeserialize: (bytes: Buffer) => bytes,
      responseSerialize: (bytes: Buffer) => bytes,
      responseDeserialize: (bytes: Buffer) => ServerMessage.decode(bytes),
    },
  },
  'RawBytesTrading',
);

function rawBytesSession(port: number) {
  const client = new RawBytesTrading(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  cleanups.push(() => client.close());
  const call = (client as unknown as { session(): grpc.ClientDuplexStream<Buffer, ServerMessage> }).session();
  const messages: ServerMessage[] = [];
  call.on('data', (m: ServerMessage) => messages.push(m));
  call.on('error', () => {});
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  const send = (message: ClientMessage) => call.write(Buffer.from(ClientMessage.encode(message).finish()));
  return { call, messages, status, send };
}

const hello = (resumeFromSeq = 0, accounts = ['A1']): ClientMessage => ({
  body: { $case: 'hello', value: { strategyId: STRATEGY, instanceId: INSTANCE, authToken: TOKEN, accounts, resumeFromSeq } },
});

const newOrder = (overrides: Partial<NewOrder>): ClientMessage => ({
  body: {
    $case: 'newOrder',
    value: { clientOrderId: 'ok-1', account: 'A1', symbol: '600000.SH', side: PbSide.BUY, orderType: PbOrderType.LIMIT, price: 100_500, quantity: 100, tag: '', clientTimeUs: 1, ...overrides },
  },
});

const bodies = (messages: readonly ServerMessage[], kind: string) => messages.filter((m) => m.body?.$case === kind);

// ---------------------------------------------------------------------------------------------

test('a session connects, trades and receives its reports; Welcome carries the trading states', async () => {
  const stack = await startStack();
  const r = openChannel(stack.port);
  await r.channel.start(0);
  assert.equal(r.channel.state, 'connected');
  assert.deepEqual(r.tradingStates.map((u) => [u.scope, u.account, u.state, u.seq]), [['GLOBAL', '', 'ACTIVE', 0], ['ACCOUNT', 'A1', 'ACTIVE', 0]]);
  r.channel.submit(submitIntent('alpha-1'));
  await waitFor(() => r.events.length === 2, 'two reports');
  assert.deepEqual(r.events.map((e) => (e as ExecutionReportEvent).execType), ['PENDING_NEW', 'ACCEPTED']);
  assert.deepEqual(r.seqs(), [1, 2]);
  assert.equal(r.channel.unacknowledged, 0);
  r.channel.cancel({ type: 'cancel', clientOrderId: 'alpha-1', account: 'A1', createdAt: clock.nowMicros() });
  await waitFor(() => r.events.length === 3, 'the cancel report');
  assert.equal((r.events[2] as ExecutionReportEvent).status, 'CANCELLED');
  stack.trading.publish(STRATEGY, INSTANCE, { type: 'tradingStateChanged', current: { scope: 'ACCOUNT', account: 'A1', state: 'HALTED', actor: 'ops', reason: 'test', changedAt: 5 }, previous: 'ACTIVE' });
  await waitFor(() => r.tradingStates.length === 3, 'the state change');
  assert.deepEqual(r.tradingStates[2], { seq: 4, scope: 'ACCOUNT', account: 'A1', state: 'HALTED', previous: 'ACTIVE', actor: 'ops', reason: 'test', time: 5 });
  assert.equal(r.channel.lastSeq, 4);
  await r.channel.close();
  await r.channel.close();
  assert.equal(r.channel.state, 'closed');
  await waitFor(() => stack.oms.disconnectedSessions.length === 1, 'the OMS to hear of the disconnect');
});

test('authentication failures close the channel with the status and do not retry', async () => {
  const stack = await startStack();
  const badToken = openChannel(stack.port, { token: 'wrong' });
  await assert.rejects(badToken.channel.start(0), (error: Error) => error instanceof OrderChannelClosedError && /UNAUTHENTICATED/.test(error.message));
  assert.equal(badToken.channel.state, 'closed');
  const badAccount = openChannel(stack.port, { accounts: ['A1', 'ZZ'] });
  await assert.rejects(badAccount.channel.start(0), /PERMISSION_DENIED: strategy alpha may not trade ZZ/);
  assert.deepEqual(stack.trading.stats.refused, { UNAUTHENTICATED: 1, PERMISSION_DENIED: 1 });
  assert.ok(!badToken.states.some(([state]) => state === 'reconnecting'), 'no retry after a terminal refusal');
  // An order given to a closed channel comes back denied rather than vanishing.
  badToken.channel.submit(submitIntent('late-1'));
  await waitFor(() => badToken.events.length === 1, 'the local denial');
  assert.deepEqual([badToken.events[0]!.type, (badToken.events[0] as { reasonCode?: string }).reasonCode, badToken.events[0]!.seq], ['orderDenied', 'ORDER_CHANNEL_CLOSED', 0]);
});

test('the first message must be Hello; a resume ahead of the server fails with FAILED_PRECONDITION', async () => {
  const stack = await startStack();
  const raw = rawSession(stack.port);
  raw.call.write({ body: { $case: 'heartbeat', value: { clientTimeUs: 1 } } });
  const status = await raw.status;
  assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
  assert.match(status.details, /first message of a session must be Hello, got heartbeat/);

  const empty = rawSession(stack.port);
  empty.call.write({ body: { $case: 'hello', value: { strategyId: STRATEGY, instanceId: '', authToken: TOKEN, accounts: ['A1'], resumeFromSeq: 0 } } });
  assert.match((await empty.status).details, /instance_id is empty/);

  const ahead = openChannel(stack.port);
  await assert.rejects(ahead.channel.start(999), /FAILED_PRECONDITION: resume_from_seq 999 is ahead of the last seq 0/);
  assert.equal(stack.trading.stats.refused.FAILED_PRECONDITION, 1);
});

test('a stream cut in the middle of a burst resumes without missing or repeating a report', async () => {
  const stack = await startStack();
  const proxy = await TcpProxy.start({ targetPort: stack.port });
  cleanups.push(() => proxy.close());
  const r = openChannel(proxy.port);
  let cut = false;
  r.channel.onEvent(() => {
    if (!cut && r.events.length === 150) {
      cut = true;
      proxy.cutAll();
    }
  });
  await r.channel.start(0);
  const total = 800;
  for (let i = 1; i <= total; i++) {
    stack.trading.publish(STRATEGY, INSTANCE, ack(i));
    if (i % 40 === 0) await nextTurn();
  }
  await waitFor(() => r.channel.lastSeq === total, 'every report');
  assert.ok(cut, 'the connection was cut mid-burst');
  assert.deepEqual(r.seqs(), range(1, total), 'each seq exactly once, in order');
  assert.deepEqual(r.events.map((e) => e.clientOrderId), range(1, total).map((i) => `burst-${i}`));
  assert.ok(r.channel.stats.connects >= 2, 'it reconnected');
  assert.ok(r.states.some(([state]) => state === 'reconnecting'));
});

test('a restarted server with the same outbox resumes the session', async () => {
  const outbox = new MemorySessionOutbox();
  const first = await startStack({ outbox });
  const proxy = await TcpProxy.start({ targetPort: first.port });
  cleanups.push(() => proxy.close());
  const r = openChannel(proxy.port);
  await r.channel.start(0);
  for (let i = 1; i <= 10; i++) first.trading.publish(STRATEGY, INSTANCE, ack(i));
  await waitFor(() => r.channel.lastSeq === 10, 'the first ten');
  const closing = first.handle.close(1_000);
  assert.equal(first.handle.close(1_000), closing, 'close is idempotent');
  await closing;
  await waitFor(() => r.channel.state === 'reconnecting', 'the channel to notice');
  assert.match(r.states.find(([state]) => state === 'reconnecting')![1], /UNAVAILABLE|shutting down/);
  const second = await startStack({ outbox });
  for (let i = 11; i <= 25; i++) second.trading.publish(STRATEGY, INSTANCE, ack(i)); // while the client is away
  proxy.setTarget(second.port);
  await waitFor(() => r.channel.lastSeq === 25, 'the replay from the new server');
  for (let i = 26; i <= 30; i++) second.trading.publish(STRATEGY, INSTANCE, ack(i));
  await waitFor(() => r.channel.lastSeq === 30, 'live reports');
  assert.deepEqual(r.seqs(), range(1, 30));
});

test('messages published during a replay follow the replayed ones, each exactly once', async () => {
  const stack = await startStack({ replayBatch: 64 });
  for (let i = 1; i <= 2_000; i++) stack.trading.publish(STRATEGY, INSTANCE, ack(i));
  const raw = rawSession(stack.port);
  let live = 2_000;
  raw.call.on('data', () => {
    // Publish while the replay is still being written (it is paced by drain events).
    if (live < 2_100) stack.trading.publish(STRATEGY, INSTANCE, ack(++live));
  });
  raw.call.write(hello(0));
  await waitFor(() => bodies(raw.messages, 'executionReport').length >= 2_100, 'replay and live messages');
  const seqs = raw.messages.flatMap((m) => (m.body?.$case === 'executionReport' ? [m.body.value.seq] : []));
  assert.deepEqual(seqs, range(1, 2_100));
  assert.ok(stack.trading.stats.backpressureWaits > 0, 'the replay was paced by backpressure');
  raw.call.end();
  await raw.done();
});

test('a newer stream of the same instance replaces the older one with ABORTED', async () => {
  const stack = await startStack();
  const older = openChannel(stack.port);
  await older.channel.start(0);
  const newer = openChannel(stack.port);
  await newer.channel.start(0);
  await waitFor(() => older.channel.state === 'closed', 'the older channel to close');
  assert.match(older.states.at(-1)![1], /ABORTED: replaced by a newer stream of alpha\/i1/);
  assert.equal(stack.trading.stats.ended.ABORTED, 1);
  stack.trading.publish(STRATEGY, INSTANCE, ack(1));
  await waitFor(() => newer.events.length === 1, 'the newer stream to get the report');
  assert.equal(older.events.length, 0);
  assert.deepEqual(stack.trading.connectedInstances().map((c) => c.instanceId), [INSTANCE]);
});

test('a resume from before the retained messages gets the open orders RESTATED', async () => {
  const outbox = new MemorySessionOutbox();
  const stack = await startStack({ outbox });
  const first = openChannel(stack.port);
  await first.channel.start(0);
  for (const id of ['o1', 'o2', 'o3']) first.channel.submit(submitIntent(id));
  await waitFor(() => first.events.length === 6, 'three orders acknowledged');
  first.channel.cancel({ type: 'cancel', clientOrderId: 'o2', account: 'A1', createdAt: clock.nowMicros() });
  await waitFor(() => first.events.length === 7, 'o2 cancelled');
  await first.channel.close();
  outbox.trimThrough(STRATEGY, INSTANCE, 5); // retention dropped seqs 1..5

  const raw = rawSession(stack.port);
  raw.call.write(hello(2));
  await waitFor(() => raw.messages.length >= 5, 'welcome, replay and restatements');
  const welcome = raw.messages[0]!.body;
  assert.ok(welcome?.$case === 'welcome');
  assert.equal(welcome.value.nextSeq, 6, 'Welcome says where the stream really continues');
  raw.call.end();
  await raw.done();

  const second = openChannel(stack.port);
  await second.channel.start(2);
  // seq 6 (o3 ACCEPTED) and 7 (o2 CANCELLED) are retained; RESTATED reports were appended by
  // the raw session above (8, 9) and again for this one (10, 11).
  await waitFor(() => second.channel.lastSeq === 11, 'replay and restatements');
  const reports = second.events as ExecutionReportEvent[];
  assert.deepEqual(reports.map((e) => [e.seq, e.clientOrderId, e.execType]), [
    [6, 'o3', 'ACCEPTED'],
    [7, 'o2', 'CANCELLED'],
    [8, 'o1', 'RESTATED'],
    [9, 'o3', 'RESTATED'],
    [10, 'o1', 'RESTATED'],
    [11, 'o3', 'RESTATED'],
  ]);
  assert.equal(stack.trading.stats.restated, 4);
});

test('a submit retried after a drop reaches the OMS twice and leaves one order', async () => {
  const stack = await startStack();
  const proxy = await TcpProxy.start({ targetPort: stack.port });
  cleanups.push(() => proxy.close());
  const r = openChannel(proxy.port);
  await r.channel.start(0);
  stack.oms.hold = true; // the order reaches the OMS but its reports do not get out before the drop
  r.channel.submit(submitIntent('retry-1'));
  await waitFor(() => stack.oms.submitCalls === 1, 'the first submit');
  assert.equal(r.channel.unacknowledged, 1);
  proxy.cutAll();
  await waitFor(() => stack.oms.submitCalls === 2, 'the resubmission after the reconnect');
  stack.oms.release();
  await waitFor(() => r.events.length === 2, 'the order reports');
  assert.equal(stack.oms.orders.size, 1, 'one order');
  assert.equal(stack.oms.duplicates, 1, 'the OMS ignored the repeated client order id');
  assert.deepEqual(r.events.map((e) => [e.clientOrderId, (e as ExecutionReportEvent).execType]), [['retry-1', 'PENDING_NEW'], ['retry-1', 'ACCEPTED']]);
  assert.equal(r.channel.unacknowledged, 0);
  assert.equal(r.channel.stats.resent, 1);
});

test('malformed orders are denied with a reason and the stream stays up', async () => {
  const registry = createServiceRegistry('execution', false);
  const stack = await startStack({ registry });
  const raw = rawBytesSession(stack.port);
  raw.send(hello(0));
  await waitFor(() => raw.messages.length >= 1, 'welcome');
  raw.send(newOrder({ clientOrderId: 'neg', quantity: -100 }));
  raw.send(newOrder({ clientOrderId: 'zero', quantity: 0 }));
  // quantity 2^62: beyond what a JavaScript number holds exactly (hand-encoded: the generated encoder would refuse).
  const inner = new BinaryWriter();
  inner.uint32(10).string('huge').uint32(18).string('A1').uint32(26).string('600000.SH').uint32(32).int32(1).uint32(40).int32(1).uint32(48).int64(100_500).uint32(56).int64(2n ** 62n);
  raw.call.write(Buffer.from(new BinaryWriter().uint32(18).bytes(inner.finish()).finish()));
  raw.send(newOrder({ clientOrderId: 'side', side: 7 as NewOrder['side'] }));
  raw.send(newOrder({ clientOrderId: 'type', orderType: 42 as NewOrder['orderType'] }));
  raw.send(newOrder({ clientOrderId: 'sym', symbol: '999999.SH' }));
  raw.send(newOrder({ clientOrderId: 'px', price: 0 }));
  raw.send(newOrder({ clientOrderId: 'acct', account: 'A2' })); // A2 exists but this session did not ask for it
  raw.send(newOrder({ clientOrderId: '' }));
  raw.send({ body: undefined }); // no body: ignored
  raw.send(hello(0)); // a second Hello: ignored
  raw.send({ body: { $case: 'cancelOrder', value: { clientOrderId: 'x', account: 'B7', clientTimeUs: 0 } } }); // answered CANCEL_REJECTED
  raw.send(newOrder({ clientOrderId: 'good' }));
  await waitFor(() => bodies(raw.messages, 'executionReport').length === 3, 'the cancel reject and the valid order to go through');
  const cancelReject = bodies(raw.messages, 'executionReport')[0]!;
  assert.ok(cancelReject.body?.$case === 'executionReport');
  assert.equal(cancelReject.body.value.clientOrderId, 'x');
  assert.equal(cancelReject.body.value.execType, ExecType.CANCEL_REJECTED);
  assert.match(cancelReject.body.value.text, /^ACCOUNT_NOT_ALLOWED: /);
  assert.deepEqual(stack.oms.invalidCancels, [{ clientOrderId: 'x', reasonCode: 'ACCOUNT_NOT_ALLOWED' }]);
  const denials = bodies(raw.messages, 'orderDenied').map((m) => (m.body?.$case === 'orderDenied' ? [m.body.value.clientOrderId, m.body.value.reasonCode] : []));
  assert.deepEqual(denials, [
    ['neg', 'INVALID_QUANTITY'],
    ['zero', 'INVALID_QUANTITY'],
    ['huge', 'INVALID_QUANTITY'],
    ['side', 'UNKNOWN_SIDE'],
    ['type', 'UNKNOWN_ORDER_TYPE'],
    ['sym', 'INVALID_SYMBOL'],
    ['px', 'INVALID_PRICE'],
    ['acct', 'ACCOUNT_NOT_ALLOWED'],
    ['', 'MISSING_CLIENT_ORDER_ID'],
  ]);
  for (const m of bodies(raw.messages, 'orderDenied')) if (m.body?.$case === 'orderDenied') assert.ok(m.body.value.detail.length > 0);
  assert.deepEqual(stack.trading.stats.ignored, { EMPTY_BODY: 1, DUPLICATE_HELLO: 1 });
  assert.equal(stack.trading.stats.invalid.ACCOUNT_NOT_ALLOWED, 2, 'the foreign-account order and cancel');
  assert.equal(stack.trading.stats.invalid.INVALID_QUANTITY, 3);
  assert.equal(stack.oms.orders.size, 1);
  const metrics = await registry.metrics();
  assert.match(metrics, /triquant_grpc_invalid_messages_total\{reason="INVALID_QUANTITY",service="execution"\} 3/);
  assert.match(metrics, /triquant_grpc_ignored_messages_total\{kind="DUPLICATE_HELLO",service="execution"\} 1/);
  assert.match(metrics, /triquant_grpc_sessions\{service="execution"\} 1/);
  raw.call.end();
  assert.equal((await raw.status).code, grpc.status.OK);
});

test('undecodable bytes end only that stream; the server keeps serving the others', async () => {
  const stack = await startStack();
  const healthy = openChannel(stack.port);
  await healthy.channel.start(0);
  const before = rawBytesSession(stack.port);
  before.call.write(Buffer.from([0x0a, 0xff, 0x01])); // a length beyond the message, as the first message
  const status = await before.status;
  assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
  assert.match(status.details, /undecodable ClientMessage/);
  const after = rawBytesSession(stack.port);
  after.send({ body: { $case: 'hello', value: { strategyId: STRATEGY, instanceId: 'i2', authToken: TOKEN, accounts: ['A1'], resumeFromSeq: 0 } } });
  await waitFor(() => after.messages.length >= 1, 'welcome');
  after.call.write(Buffer.from([0x12, 0x05, 0x0a, 0x09, 0x41]));
  assert.equal((await after.status).code, grpc.status.INVALID_ARGUMENT);
  assert.equal(stack.trading.stats.undecodable, 2);
  stack.trading.publish(STRATEGY, INSTANCE, ack(1));
  await waitFor(() => healthy.events.length === 1, 'the healthy stream to keep working');
  const another = openChannel(stack.port, { instanceId: 'i3' });
  await another.channel.start(0);
  assert.equal(another.channel.state, 'connected');
});

test('a client that stops reading is ended with RESOURCE_EXHAUSTED and resumes losing nothing', async () => {
  const stack = await startStack({ maxQueuedPerStream: 100 });
  const raw = rawSession(stack.port);
  raw.call.write(hello(0));
  await waitFor(() => raw.messages.length >= 2, 'welcome and the replay marker');
  raw.call.pause();
  let published = 0;
  while (stack.trading.stats.ended.RESOURCE_EXHAUSTED === undefined) {
    assert.ok(published < 200_000, 'the server should have pushed back long before');
    for (let k = 0; k < 50; k++) stack.trading.publish(STRATEGY, INSTANCE, ack(++published));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  assert.ok(stack.trading.stats.backpressureWaits >= 1);
  raw.call.resume();
  const status = await raw.done();
  assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(status.details, /does not read fast enough/);
  const rawSeqs = raw.messages.flatMap((m) => (m.body?.$case === 'executionReport' ? [m.body.value.seq] : []));
  assert.deepEqual(rawSeqs, range(1, rawSeqs.length), 'what arrived before the end is gap-free');
  assert.ok(rawSeqs.length < published, 'the slow client really fell behind');

  const resumed = openChannel(stack.port);
  await resumed.channel.start(rawSeqs.length);
  await waitFor(() => resumed.channel.lastSeq === published, 'the rest');
  assert.deepEqual([...rawSeqs, ...resumed.seqs()], range(1, published));
});

test('heartbeats: a silent client is dropped, and a client whose server goes silent reconnects', async () => {
  const stack = await startStack({ heartbeatIntervalMs: 100 });
  const silent = rawSession(stack.port);
  silent.call.write(hello(0, ['A1']));
  const status = await silent.done();
  assert.equal(status.code, grpc.status.DEADLINE_EXCEEDED);
  assert.match(status.details, /no message from the client for \d+ ms \(3 heartbeat intervals of 100 ms\)/);
  assert.ok(bodies(silent.messages, 'heartbeat').length >= 1, 'the server sent heartbeats');

  const proxy = await TcpProxy.start({ targetPort: stack.port });
  cleanups.push(() => proxy.close());
  const r = openChannel(proxy.port);
  await r.channel.start(0);
  proxy.blackholedDown = true; // the server's messages stop arriving; the connection stays open
  await waitFor(() => r.states.some(([state, detail]) => state === 'reconnecting' && /nothing from the server/.test(detail)), 'the client to give up on the silent server');
  proxy.blackholedDown = false;
  proxy.cutAll();
  await waitFor(() => r.channel.state === 'connected', 'the reconnect');
  stack.trading.publish(STRATEGY, INSTANCE, ack(1));
  await waitFor(() => r.events.length === 1, 'a report on the new stream');
});
