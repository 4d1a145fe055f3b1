/**
 * The execution service with real peers: the simulator over FIX, the gateway feeding Redis
 * (reference prices), SQLite journal, gRPC Trading + Admin. A strategy client (the strategy
 * tier's GrpcOrderChannel) trades; the kill switch is thrown through the Admin API and the
 * `triquant kill-switch` command function.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LiveClock } from '../../src/core/clock.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { createLogger, silentLogger } from '../../src/obs/log.ts';
import { openJournalReader } from '../../src/execution/journal/sqlite-journal.ts';
import { ExecutionService, journalPath, runningGrpcAddress } from '../../src/execution/service.ts';
import { GrpcOrderChannel, type TradingStateUpdate } from '../../src/strategy/order-client.ts';
import type { ExecutionEvent } from '../../src/strategy/api.ts';
import { runKillSwitch } from '../../src/cli/kill-switch.ts';
import { buildUniverse } from '../../src/sim/universe.ts';
import { RedisTestServer } from '../support/redis-server.ts';
import { startExecutionVenue } from '../support/execution-venue.ts';

const SYMBOL = '600036.SH';

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export function testConfig(dataDir: string, redisUrl: string, keyPrefix: string): Config {
  const base = loadConfig({ env: {} });
  return {
    ...base,
    dataDir,
    logLevel: 'error',
    redis: { ...base.redis, mode: 'standalone', url: redisUrl, keyPrefix },
    execution: { ...base.execution, audit: { ...base.execution.audit, sync: 'normal' }, shutdownGraceMs: 1_000 },
  };
}

test('orders are routed to the simulator and filled; the kill switch works from the Admin API and the CLI function', async () => {
  const redis = await RedisTestServer.start();
  const prefix = `ex${process.pid}`;
  const venue = await startExecutionVenue({ redisUrl: redis.url, keyPrefix: prefix, slotGroups: 16 });
  const dataDir = mkdtempSync(join(tmpdir(), 'tq-exec-'));
  const config = testConfig(dataDir, redis.url, prefix);
  const service = await ExecutionService.start({
    config, logger: process.env.TQ_DEBUG ? createLogger({ level: 'debug', component: 'execution' }) : silentLogger, brokerHost: '127.0.0.1', brokerPort: venue.fixPort, grpcPort: 0, metricsPort: 0,
    redis: { mode: 'standalone', url: redis.url, keyPrefix: prefix }, instruments: buildUniverse(),
  });
  const channel = new GrpcOrderChannel({
    target: `127.0.0.1:${service.grpcPort}`, strategyId: 'it', instanceId: 'i1', token: 'paper', accounts: ['PAPER'], clock: new LiveClock(), log: silentLogger,
  });
  const events: ExecutionEvent[] = [];
  const states: TradingStateUpdate[] = [];
  channel.onEvent((e) => events.push(e));
  channel.onTradingState((u) => states.push(u));
  const out: string[] = [];
  const io = { out: (t: string) => out.push(t), err: (t: string) => out.push(t) };
  try {
    await channel.start(0);
    await waitFor('ready', () => service.oms.ready || undefined, 10_000).catch((e) => { throw new Error(`${(e as Error).message}: mode ${service.oms.mode}, broker ${service.broker.state}`); });
    await waitFor('a reference price', () => service.references.reference(SYMBOL)?.ask !== undefined);
    const book = venue.sim.engine.snapshot(SYMBOL);
    const bestAsk = book.asks[0]!.price;
    const now = () => Date.now() * 1000;
    channel.submit({ type: 'submit', clientOrderId: 'buy-1', account: 'PAPER', symbol: SYMBOL, side: 'BUY', orderType: 'LIMIT', price: bestAsk, quantity: 100, tag: 'it', createdAt: now() });
    const filled = await waitFor('the marketable buy to fill', () =>
      events.find((e) => e.type === 'executionReport' && e.clientOrderId === 'buy-1' && e.status === 'FILLED'));
    assert.equal(filled.type === 'executionReport' && filled.cumQty, 100);
    assert.ok(filled.type === 'executionReport' && filled.cumFees >= 50_000, 'fees (at least the minimum commission) are reported');
    assert.equal(service.oms.ledger.positionQty('PAPER', SYMBOL), 100);

    const lower = venue.sim.engine.snapshot(SYMBOL).lowerLimitPrice;
    channel.submit({ type: 'submit', clientOrderId: 'rest-1', account: 'PAPER', symbol: SYMBOL, side: 'BUY', orderType: 'LIMIT', price: lower, quantity: 200, tag: 'it', createdAt: now() });
    await waitFor('the passive buy to rest', () => events.find((e) => e.type === 'executionReport' && e.clientOrderId === 'rest-1' && e.status === 'ACCEPTED'));

    // Admin API (gRPC) halts the account: the working order is cancelled, the strategy is told, new orders are denied.
    await runKillSwitch('halt', { account: 'PAPER', actor: 'alice', reason: 'integration test', target: `127.0.0.1:${service.grpcPort}`, token: service.adminToken }, config, io);
    await waitFor('the working order to be cancelled', () => events.find((e) => e.type === 'executionReport' && e.clientOrderId === 'rest-1' && e.status === 'CANCELLED'));
    const halted = await waitFor('the state change on the session', () => states.find((s) => s.state === 'HALTED'));
    assert.equal(halted.actor, 'alice');
    assert.equal(halted.reason, 'integration test');
    channel.submit({ type: 'submit', clientOrderId: 'buy-2', account: 'PAPER', symbol: SYMBOL, side: 'BUY', orderType: 'LIMIT', price: bestAsk, quantity: 100, tag: 'it', createdAt: now() });
    const denied = await waitFor('the denial', () => events.find((e) => e.type === 'orderDenied' && e.clientOrderId === 'buy-2'));
    assert.equal(denied.type === 'orderDenied' && denied.reasonCode, 'TRADING_HALTED');

    out.length = 0;
    assert.equal(await runKillSwitch('status', { target: `127.0.0.1:${service.grpcPort}`, token: service.adminToken, json: true }, config, io), 0);
    const status = JSON.parse(out.join('')) as { global: { state: string }; accounts: Array<{ account: string; state: string; actor: string }> };
    assert.equal(status.global.state, 'ACTIVE');
    assert.deepEqual(status.accounts.map((a) => [a.account, a.state, a.actor]), [['PAPER', 'HALTED', 'alice']]);

    // The paper-mode token file is found without --token; a wrong token is refused.
    // ... and without --target the address the running service wrote under dataDir.
    assert.equal(await runKillSwitch('resume', { account: 'PAPER', actor: 'bob', reason: 'all clear' }, { ...config }, io), 0);
    assert.equal(service.oms.effectiveState('PAPER'), 'ACTIVE');
    assert.equal(await runKillSwitch('halt', { actor: 'eve', reason: 'x', target: `127.0.0.1:${service.grpcPort}`, token: 'wrong' }, config, io), 1);
    assert.match(out.at(-1)!, /UNAUTHENTICATED/);

    const metrics = await (await fetch(`http://127.0.0.1:${service.metrics.port}/metrics`)).text();
    assert.match(metrics, /triquant_execution_orders_total\{account="PAPER"[^}]*\} 2/);
    assert.match(metrics, /triquant_execution_denials_total\{account="PAPER",reason="TRADING_HALTED"/);
    assert.match(metrics, /triquant_execution_broker_state\{state="connected"[^}]*\} 1/);
    assert.match(metrics, /triquant_execution_grpc_sessions\{[^}]*\} 1/);
    const received = venue.received.map((r) => r.clOrdId);
    assert.equal(new Set(received).size, received.length, 'no ClOrdID reached the venue twice');
  } finally {
    await channel.close();
    await service.close();
    await venue.close();
    await redis.stop();
  }
  assert.equal(runningGrpcAddress(dataDir), undefined, 'a stopped service leaves no address behind');
  const reader = openJournalReader({ path: journalPath(dataDir) });
  try {
    const verification = reader.verify();
    assert.equal(verification.ok, true);
    const kinds = new Set(reader.query({ limit: 10_000 }).map((e) => e.kind));
    for (const kind of ['ORDER_REQUEST', 'RISK_DECISION', 'ORDER_SENT', 'VENUE_ACK', 'FILL', 'CANCEL_REQUEST', 'CANCELLED', 'TRADING_STATE', 'RECONCILE']) {
      assert.ok(kinds.has(kind as never), `journal has ${kind}`);
    }
  } finally {
    reader.close();
  }
});
