/**
 * The Admin service over real gRPC, hosted on the same server as the Trading service:
 * authentication, validation statuses, AdminCallError mapping and handler crashes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { LiveClock } from '../../src/core/clock.ts';
import type { TradingState } from '../../src/core/risk/types.ts';
import { silentLogger } from '../../src/obs/log.ts';
import {
  AdminClient,
  type GetLimitsRequest,
  type GetLimitsResponse,
  type GetTradingStateRequest,
  type GetTradingStateResponse,
  type ListOrdersRequest,
  type ListOrdersResponse,
  type ListPositionsRequest,
  type ListPositionsResponse,
  type SetKillSwitchRequest,
  type SetKillSwitchResponse,
  type SetLimitRequest,
  type SetLimitResponse,
} from '../../src/protocol/gen/triquant/v1/admin.ts';
import { OrderStatus as PbOrderStatus, Scope as PbScope, Side as PbSide, TradingState as PbTradingState } from '../../src/protocol/gen/triquant/v1/common.ts';
import { TradingClient } from '../../src/protocol/gen/triquant/v1/trading.ts';
import { AdminGrpcService } from '../../src/execution/grpc/admin-server.ts';
import { MemorySessionOutbox } from '../../src/execution/grpc/memory-outbox.ts';
import { startGrpcServer, type GrpcServerHandle } from '../../src/execution/grpc/server.ts';
import { TradingSessionServer } from '../../src/execution/grpc/session-server.ts';
import {
  AdminCallError,
  type AdminHandler,
  type AdminLimit,
  type AdminOrderFilter,
  type TradingSessionHandler,
  type TradingStateRecord,
} from '../../src/execution/ports.ts';

const TOKEN = 'operator-token';

class FakeAdmin implements AdminHandler {
  readonly calls: string[] = [];
  lastFilter: AdminOrderFilter | undefined;
  private global: TradingStateRecord = { scope: 'GLOBAL', account: '', state: 'ACTIVE', actor: 'system', reason: 'start', changedAt: 1 };
  private readonly limits = new Map<string, AdminLimit>([['|max_order_qty', { account: '', name: 'max_order_qty', value: 1_000_000 }]]);

  setTradingState(scope: 'GLOBAL' | 'ACCOUNT', account: string, state: TradingState, actor: string, reason: string) {
    this.calls.push(`setTradingState ${scope} ${account} ${state} ${actor}`);
    if (account === 'NOPE') throw new AdminCallError('NOT_FOUND', 'no account NOPE');
    if (account === 'BOOM') throw new TypeError('the OMS tripped over something');
    const previous = this.global;
    const current: TradingStateRecord = { scope, account, state, actor, reason, changedAt: 2 };
    if (scope === 'GLOBAL') this.global = current;
    return { previous, current };
  }

  tradingStates(account: string | undefined) {
    this.calls.push(`tradingStates ${account ?? '*'}`);
    return { global: this.global, accounts: account === undefined ? [] : [{ scope: 'ACCOUNT' as const, account, state: 'REDUCING' as const, actor: 'risk:loss', reason: 'daily loss', changedAt: 3 }] };
  }

  listOrders(filter: AdminOrderFilter) {
    this.lastFilter = filter;
    return {
      orders: [
        {
          clientOrderId: 'alpha-1', venueOrderId: 'V1', account: 'A1', strategyId: 'alpha', instanceId: 'i1', symbol: '600000.SH', side: 'SELL' as const,
          orderType: 'LIMIT' as const, price: 100_500, quantity: 300, cumQty: 100, leavesQty: 200, status: 'PARTIALLY_FILLED' as const, avgPrice: 100_500,
          cumFees: 5_000, tag: 'sig', text: '', createdAt: 10, updatedAt: 11,
        },
      ],
      truncated: true,
    };
  }

  listPositions(account: string) {
    if (account === 'GONE') throw new AdminCallError('UNAVAILABLE', 'position store is reloading');
    return [{ account, symbol: '600000.SH', quantity: 500, sellableQuantity: 200, avgCostPrice: 99_000, realizedPnl: -1_500, updatedAt: 12 }];
  }

  getLimits(account: string | undefined) {
    return [...this.limits.values()].filter((l) => account === undefined || l.account === '' || l.account === account);
  }

  setLimit(account: string, name: string, value: number, _actor: string, _reason: string) {
    if (name !== 'max_order_qty') throw new AdminCallError('INVALID_ARGUMENT', `unknown limit ${name}`);
    const key = `${account}|${name}`;
    const previous = this.limits.get(key);
    const current = { account, name, value };
    this.limits.set(key, current);
    return { previous, current };
  }
}

const idleTrading: TradingSessionHandler = {
  authenticate: () => ({ ok: true }),
  tradingStates: () => ({ global: { scope: 'GLOBAL', account: '', state: 'ACTIVE', actor: '', reason: '', changedAt: 0 }, accounts: [] }),
  openOrders: () => [],
  submit: () => {},
  cancel: () => {},
  invalid: () => {},
  invalidCancel: () => undefined,
};

let handle: GrpcServerHandle;
let client: AdminClient;
let admin: AdminGrpcService;
const fake = new FakeAdmin();

before(async () => {
  admin = new AdminGrpcService({ handler: fake, token: TOKEN, log: silentLogger });
  const trading = new TradingSessionServer({ handler: idleTrading, outbox: new MemorySessionOutbox(), clock: new LiveClock(), log: silentLogger });
  handle = await startGrpcServer({ host: '127.0.0.1', port: 0, trading, admin });
  client = new AdminClient(`127.0.0.1:${handle.port}`, grpc.credentials.createInsecure());
});

after(async () => {
  client.close();
  await handle.close(500);
});

function auth(token = TOKEN): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('authorization', `Bearer ${token}`);
  return metadata;
}

interface Methods {
  setKillSwitch: [SetKillSwitchRequest, SetKillSwitchResponse];
  getTradingState: [GetTradingStateRequest, GetTradingStateResponse];
  listOrders: [ListOrdersRequest, ListOrdersResponse];
  listPositions: [ListPositionsRequest, ListPositionsResponse];
  getLimits: [GetLimitsRequest, GetLimitsResponse];
  setLimit: [SetLimitRequest, SetLimitResponse];
}
type Callback<Res> = (error: grpc.ServiceError | null, response: Res) => void;

/** Calls a unary method and returns its error and response. */
function call<K extends keyof Methods>(name: K, request: Methods[K][0], metadata: grpc.Metadata = auth()): Promise<{ error: grpc.ServiceError | null; response: Methods[K][1] }> {
  const method = (client as unknown as Record<K, (r: Methods[K][0], m: grpc.Metadata, cb: Callback<Methods[K][1]>) => unknown>)[name];
  return new Promise((resolve) => method.call(client, request, metadata, (error, response) => resolve({ error, response })));
}

test('a missing, malformed or wrong token is UNAUTHENTICATED and reaches no handler', async () => {
  const before = fake.calls.length;
  const missing = await call('getTradingState', { account: '' }, new grpc.Metadata());
  assert.equal(missing.error?.code, grpc.status.UNAUTHENTICATED);
  assert.match(missing.error?.details ?? '', /missing authorization/);
  const basic = new grpc.Metadata();
  basic.set('authorization', `Basic ${TOKEN}`);
  assert.equal((await call('getTradingState', { account: '' }, basic)).error?.code, grpc.status.UNAUTHENTICATED);
  const wrong = await call('setKillSwitch', { scope: PbScope.GLOBAL, account: '', state: PbTradingState.HALTED, actor: 'eve', reason: 'x' }, auth('guess'));
  assert.equal(wrong.error?.code, grpc.status.UNAUTHENTICATED);
  assert.match(wrong.error?.details ?? '', /invalid admin token/);
  assert.equal(fake.calls.length, before);
  assert.throws(() => new AdminGrpcService({ handler: fake, token: '', log: silentLogger }), /must not be empty/);
});

test('kill-switch requests are validated before the handler sees them', async () => {
  const base: SetKillSwitchRequest = { scope: PbScope.GLOBAL, account: '', state: PbTradingState.HALTED, actor: 'alice', reason: 'drill' };
  const cases: Array<[Partial<SetKillSwitchRequest>, RegExp]> = [
    [{ scope: PbScope.UNSPECIFIED }, /scope 0 is not/],
    [{ scope: 9 as PbScope }, /scope 9 is not/],
    [{ account: 'A1' }, /account must be empty for SCOPE_GLOBAL/],
    [{ scope: PbScope.ACCOUNT, account: '' }, /account is required for SCOPE_ACCOUNT/],
    [{ state: PbTradingState.UNSPECIFIED }, /state 0 is not/],
    [{ state: 17 as PbTradingState }, /state 17 is not/],
    [{ actor: '  ' }, /actor is required/],
    [{ reason: '' }, /reason is required/],
  ];
  const before = fake.calls.length;
  for (const [overrides, message] of cases) {
    const { error } = await call('setKillSwitch', { ...base, ...overrides });
    assert.equal(error?.code, grpc.status.INVALID_ARGUMENT, JSON.stringify(overrides));
    assert.match(error?.details ?? '', message);
  }
  assert.equal(fake.calls.length, before);
  const ok = await call('setKillSwitch', base);
  assert.equal(ok.error, null);
  assert.equal(ok.response.current?.state, PbTradingState.HALTED);
  assert.equal(ok.response.current?.actor, 'alice');
  assert.equal(ok.response.previous?.state, PbTradingState.ACTIVE);
  const account = await call('setKillSwitch', { ...base, scope: PbScope.ACCOUNT, account: 'A1', state: PbTradingState.REDUCING });
  assert.equal(account.response.current?.scope, PbScope.ACCOUNT);
  assert.equal(account.response.current?.account, 'A1');
});

test('handler errors map to statuses; an unexpected throw is INTERNAL and the server keeps serving', async () => {
  const base: Omit<SetKillSwitchRequest, 'account'> = { scope: PbScope.ACCOUNT, state: PbTradingState.HALTED, actor: 'alice', reason: 'drill' };
  const notFound = await call('setKillSwitch', { ...base, account: 'NOPE' });
  assert.equal(notFound.error?.code, grpc.status.NOT_FOUND);
  assert.match(notFound.error?.details ?? '', /no account NOPE/);
  const boom = await call('setKillSwitch', { ...base, account: 'BOOM' });
  assert.equal(boom.error?.code, grpc.status.INTERNAL);
  assert.match(boom.error?.details ?? '', /SetKillSwitch failed on the server/);
  assert.doesNotMatch(boom.error?.details ?? '', /tripped/, 'internals are logged, not sent');
  const unavailable = await call('listPositions', { account: 'GONE' });
  assert.equal(unavailable.error?.code, grpc.status.UNAVAILABLE);
  const unknownLimit = await call('setLimit', { account: '', name: 'max_everything', value: 1, actor: 'alice', reason: 'r' });
  assert.equal(unknownLimit.error?.code, grpc.status.INVALID_ARGUMENT);
  assert.equal(admin.stats.failed.INTERNAL, 1);
  const after = await call('getTradingState', { account: 'A1' });
  assert.equal(after.error, null);
  assert.equal(after.response.accountStates[0]?.state, PbTradingState.REDUCING);
  // The Trading service on the same server is still there too.
  const trading = new TradingClient(`127.0.0.1:${handle.port}`, grpc.credentials.createInsecure());
  const stream = trading.session();
  const first = await new Promise<string | undefined>((resolve) => {
    stream.on('data', (m: { body?: { $case: string } }) => resolve(m.body?.$case));
    stream.on('error', () => resolve(undefined));
    stream.write({ body: { $case: 'hello', value: { strategyId: 's', instanceId: 'i', authToken: 't', accounts: ['A1'], resumeFromSeq: 0 } } });
  });
  assert.equal(first, 'welcome');
  stream.cancel();
  trading.close();
});

test('listing calls validate and convert their answers', async () => {
  const badStatus = await call('listOrders', { account: '', strategyId: '', statuses: [PbOrderStatus.FILLED, 77 as PbOrderStatus], limit: 0 });
  assert.equal(badStatus.error?.code, grpc.status.INVALID_ARGUMENT);
  const orders = await call('listOrders', { account: 'A1', strategyId: '', statuses: [PbOrderStatus.PARTIALLY_FILLED], limit: 0 });
  assert.equal(orders.error, null);
  assert.deepEqual(fake.lastFilter, { account: 'A1', statuses: ['PARTIALLY_FILLED'], limit: 1_000 });
  assert.equal(orders.response.truncated, true);
  const order = orders.response.orders[0]!;
  assert.equal(order.side, PbSide.SELL);
  assert.equal(order.status, PbOrderStatus.PARTIALLY_FILLED);
  assert.equal(order.leavesQty, 200);
  await call('listOrders', { account: '', strategyId: 'alpha', statuses: [], limit: 1_000_000 });
  assert.deepEqual(fake.lastFilter, { strategyId: 'alpha', limit: 10_000 });

  assert.equal((await call('listPositions', { account: '' })).error?.code, grpc.status.INVALID_ARGUMENT);
  const positions = await call('listPositions', { account: 'A1' });
  assert.deepEqual(positions.response.positions, [{ account: 'A1', symbol: '600000.SH', quantity: 500, sellableQuantity: 200, avgCostPrice: 99_000, realizedPnl: -1_500, updatedTimeUs: 12 }]);

  const badName = await call('setLimit', { account: 'A1', name: 'Max Qty', value: 5, actor: 'alice', reason: 'r' });
  assert.equal(badName.error?.code, grpc.status.INVALID_ARGUMENT);
  const noActor = await call('setLimit', { account: 'A1', name: 'max_order_qty', value: 5, actor: '', reason: 'r' });
  assert.match(noActor.error?.details ?? '', /actor is required/);
  const set = await call('setLimit', { account: 'A1', name: 'max_order_qty', value: 5_000, actor: 'alice', reason: 'tighten' });
  assert.equal(set.error, null);
  assert.equal(set.response.previous, undefined);
  assert.deepEqual(set.response.current, { account: 'A1', name: 'max_order_qty', value: 5_000 });
  const limits = await call('getLimits', { account: 'A1' });
  assert.deepEqual(limits.response.limits.map((l) => [l.account, l.value]), [['', 1_000_000], ['A1', 5_000]]);
});
