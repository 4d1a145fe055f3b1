/**
 * Crash safety: `triquant execution` (a child process) is killed with SIGKILL in the middle of
 * a burst of orders and restarted on the same data directory. The strategy client resubmits
 * everything it has not seen answered. Afterwards: no ClOrdID reached the venue twice, every
 * order is in one state consistent with the venue, and the journal's hash chain verifies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { LiveClock } from '../../src/core/clock.ts';
import { isTerminal, type OrderStatus } from '../../src/core/order-state.ts';
import { silentLogger } from '../../src/obs/log.ts';
import { openJournalReader } from '../../src/execution/journal/sqlite-journal.ts';
import { journalPath } from '../../src/execution/service.ts';
import { GrpcOrderChannel } from '../../src/strategy/order-client.ts';
import type { ExecutionEvent } from '../../src/strategy/api.ts';
import { AdminClient, type ListOrdersResponse } from '../../src/protocol/gen/triquant/v1/admin.ts';
import { OrderStatus as PbOrderStatus, Scope, TradingState } from '../../src/protocol/gen/triquant/v1/common.ts';
import { RedisTestServer, freePort } from '../support/redis-server.ts';
import { startExecutionVenue } from '../support/execution-venue.ts';

const SYMBOL = '600036.SH';
const ORDERS = 80;
const KILL_AFTER = 40;
const NODE = process.execPath;
const CHILD = new URL('../support/execution-child.ts', import.meta.url).pathname;

function startChild(args: string[], log: string[]): ChildProcess {
  const child = spawn(NODE, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => log.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => log.push(d.toString()));
  return child;
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs: number, log?: string[]): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${log ? `\n--- service log ---\n${log.join('').slice(-4000)}` : ''}`);
    await sleep(25);
  }
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

const STATUS_NAME = new Map<number, OrderStatus>(
  (['PENDING_NEW', 'DENIED', 'SENT', 'ACCEPTED', 'REJECTED', 'PARTIALLY_FILLED', 'FILLED', 'PENDING_CANCEL', 'CANCELLED', 'EXPIRED'] as const)
    .map((name) => [PbOrderStatus[name], name]),
);

test('kill -9 during a burst of orders, restart: no duplicate at the venue, states consistent with it, journal chain verifies', async (t) => {
  const redis = await RedisTestServer.start();
  const prefix = `crash${process.pid}`;
  const venue = await startExecutionVenue({ redisUrl: redis.url, keyPrefix: prefix, slotGroups: 16, arrivalsPerSecond: 40 });
  const dataDir = mkdtempSync(join(tmpdir(), 'tq-crash-'));
  const configFile = join(dataDir, 'triquant.yaml');
  writeFileSync(configFile, [
    `dataDir: ${dataDir}`, 'logLevel: warn',
    `redis: { mode: standalone, url: "${redis.url}", keyPrefix: ${prefix} }`,
    'execution:', '  audit: { sync: normal, outboxRetention: 100000 }', '  shutdownGraceMs: 1000', '',
  ].join('\n'));
  const grpcPort = await freePort();
  const args = (ports: string) => ['--config', configFile, '--sim-fix', `127.0.0.1:${venue.fixPort}`, '--grpc-port', String(grpcPort), '--metrics-port', '0', '--ports-json', ports];
  const log: string[] = [];
  let child = startChild(args(join(dataDir, 'ports1.json')), log);
  const channel = new GrpcOrderChannel({
    target: `127.0.0.1:${grpcPort}`, strategyId: 'crash', instanceId: 'i1', token: 'paper', accounts: ['PAPER'], clock: new LiveClock(), log: silentLogger,
    reconnect: { initialMs: 100, maxMs: 400 },
  });
  const last = new Map<string, ExecutionEvent>();
  channel.onEvent((e) => last.set(e.clientOrderId, e));
  const admin = new AdminClient(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  try {
    await waitFor('the first service to listen', () => existsSync(join(dataDir, 'ports1.json')), 20_000, log);
    await channel.start(0);
    await waitFor('a reference price in Redis', () => venue.sim.engine.snapshot(SYMBOL).asks.length > 0, 5_000);
    const tick = 100;
    const submit = (i: number) => {
      const book = venue.sim.engine.snapshot(SYMBOL);
      const marketable = i % 3 === 0;
      const price = marketable ? (book.asks[0]?.price ?? book.upperLimitPrice) : book.lowerLimitPrice + (i % 20) * tick;
      channel.submit({
        type: 'submit', clientOrderId: `c${i}`, account: 'PAPER', symbol: SYMBOL, side: 'BUY', orderType: 'LIMIT', price,
        quantity: 100 * (1 + (i % 7)), tag: 'crash', createdAt: Date.now() * 1000,
      });
    };
    // Wait until the first order is answered (the service reconciled and is ready), then burst.
    submit(0);
    await waitFor('the first order to be answered', () => last.has('c0'), 20_000, log);
    // Paced, then back to back (so the kill lands while the service is busy with them), then more while it is down.
    for (let i = 1; i < ORDERS; i++) {
      submit(i);
      if (i === KILL_AFTER) {
        await sleep(2);
        child.kill('SIGKILL');
      }
      if (i < KILL_AFTER - 15 || i > KILL_AFTER) await sleep(8);
    }
    await exited(child);
    const answeredBeforeCrash = last.size;
    child = startChild(args(join(dataDir, 'ports2.json')), log);
    await waitFor('every order to be answered after the restart', () => {
      for (let i = 0; i < ORDERS; i++) if (!last.has(`c${i}`)) return false;
      return true;
    }, 30_000, log);
    const settled = (e: ExecutionEvent | undefined) => e !== undefined && (e.type === 'orderDenied' || (e.status !== 'SENT' && e.status !== 'PENDING_NEW'));
    await waitFor('no order awaiting its venue ack', () => [...last.values()].every(settled), 15_000, log);

    // Halt everything: the working orders are cancelled; then the market stops so the venue's view is final.
    const token = readFileSync(join(dataDir, 'execution', 'admin-token'), 'utf8').trim();
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    await new Promise<void>((resolve, reject) => admin.setKillSwitch(
      { scope: Scope.GLOBAL, account: '', state: TradingState.HALTED, actor: 'test', reason: 'end of crash test' }, metadata,
      (error) => (error ? reject(error) : resolve()),
    ));
    await waitFor('every order final', () => [...last.values()].every((e) => e.type === 'orderDenied' || (e.status !== undefined && isTerminal(e.status))), 15_000, log);
    venue.sim.setFlowEnabled(false);
    await sleep(300);
    const listed = await new Promise<ListOrdersResponse>((resolve, reject) =>
      admin.listOrders({ account: 'PAPER', strategyId: 'crash', statuses: [], limit: 10_000 }, metadata, (error, r) => (error ? reject(error) : resolve(r))));

    // 1. No ClOrdID reached the venue twice (a FIX PossDup resend is the only allowed repeat).
    const fresh = venue.received.filter((r) => !r.possDup).map((r) => r.clOrdId);
    assert.equal(new Set(fresh).size, fresh.length, `duplicate ClOrdIDs at the venue: ${fresh.join(',')}`);
    // 2. One order per client order id.
    const ids = listed.orders.map((o) => o.clientOrderId);
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(ids.length, ORDERS);
    // 3. Every order agrees with the venue.
    for (const order of listed.orders) {
      const status = STATUS_NAME.get(order.status)!;
      assert.ok(isTerminal(status), `${order.clientOrderId} is final (${status})`);
      if (order.venueOrderId !== '') {
        const atVenue = venue.orders.get(Number(order.venueOrderId));
        assert.ok(atVenue, `${order.clientOrderId}: the venue knows order ${order.venueOrderId}`);
        assert.equal(atVenue.cumQty, order.cumQty, `${order.clientOrderId}: filled quantity as at the venue`);
        assert.equal(atVenue.leavesQty, 0, `${order.clientOrderId}: nothing left working at the venue`);
      } else {
        assert.equal(order.cumQty, 0);
        assert.ok(['DENIED', 'REJECTED'].includes(status), `${order.clientOrderId} never acknowledged: ${status} ${order.text}`);
      }
    }
    // 4. The strategy's own view (its last report per order, after resuming) is the service's.
    for (const order of listed.orders) {
      const seen = last.get(order.clientOrderId)!;
      const status = STATUS_NAME.get(order.status)!;
      if (seen.type === 'orderDenied') assert.equal(status, 'DENIED', `${order.clientOrderId}`);
      else {
        assert.equal(seen.status, status, `${order.clientOrderId}: the strategy saw ${seen.status}, the service has ${status}`);
        assert.equal(seen.cumQty, order.cumQty, `${order.clientOrderId}: filled quantity the strategy saw`);
      }
    }
    const denials = [...last.values()].flatMap((e) => (e.type === 'orderDenied' ? [e.reasonCode] : []));
    t.diagnostic(`denials: ${denials.join(',') || 'none'}`);
    t.diagnostic(`answered before the crash: ${answeredBeforeCrash}/${ORDERS}; venue received ${venue.received.length} NewOrderSingle (${venue.received.filter((r) => r.possDup).length} PossDup); statuses ${JSON.stringify(Object.fromEntries([...new Set(listed.orders.map((o) => STATUS_NAME.get(o.status)))].map((s) => [s, listed.orders.filter((o) => STATUS_NAME.get(o.status) === s).length])))}`);

    child.kill('SIGTERM');
    await exited(child);
  } finally {
    admin.close();
    await channel.close();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
    await venue.close();
    await redis.stop();
  }

  // 5. The journal: chain intact, one ORDER_REQUEST per client order id, and every venue ClOrdID of the
  //    journal that the venue never received belongs to an order marked rejected (NOT_AT_VENUE).
  const reader = openJournalReader({ path: journalPath(dataDir) });
  try {
    const verification = reader.verify();
    assert.equal(verification.ok, true, JSON.stringify(verification));
    const requests = reader.query({ kinds: ['ORDER_REQUEST'], limit: 100_000 });
    assert.equal(new Set(requests.map((e) => e.clientOrderId)).size, requests.length, 'each client order id was requested once');
    const receivedIds = new Set(venue.received.map((r) => r.clOrdId));
    const rejects = reader.query({ kinds: ['VENUE_REJECT'], limit: 100_000 });
    for (const e of requests) {
      const clOrdId = String(e.data.venueClOrdId ?? '');
      if (clOrdId === '' || receivedIds.has(clOrdId)) continue;
      assert.ok(rejects.some((r) => r.data.venueClOrdId === clOrdId && /NOT_AT_VENUE/.test(String(r.data.reason))), `${clOrdId} never reached the venue and is marked NOT_AT_VENUE`);
    }
  } finally {
    reader.close();
  }
});
