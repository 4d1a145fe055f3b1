/**
 * `triquant up --duration` end to end, as a user runs it: every service in its own process on
 * embedded defaults (private redis-server, simulator, SQLite journal), stopping by itself.
 * Checks the summary (ticks flowed, orders were filled, no errors) and that nothing is left
 * running afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { redisServerAvailable } from '../support/redis-server.ts';

const BIN = fileURLToPath(new URL('../../bin/triquant.js', import.meta.url));
const DURATION_S = 20;

interface Summary {
  stop_reason: string;
  services: string[];
  ticks_published: number;
  ticks_consumed: number;
  orders_submitted: number;
  orders_filled: number;
  orders_denied: number;
  errors: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A recycled pid is not ours: only count it when it is still a triquant (or redis) process.
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /triquant|redis-server|strategy/.test(cmdline);
  } catch {
    return false;
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

test('triquant up --duration runs every service, trades, stops cleanly and leaves nothing behind', { skip: redisServerAvailable() ? false : 'redis-server is not installed (scripts/provision.sh installs it)', timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tq-up-e2e-'));
  const summaryFile = join(dir, 'summary.json');
  const child = spawn(process.execPath, [BIN, 'up', '--duration', String(DURATION_S), '--summary-json', summaryFile], {
    env: {
      ...process.env,
      TRIQUANT__DATA_DIR: join(dir, 'data'),
      TRIQUANT__MONITOR__PORT: '0',
      TRIQUANT__LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  child.stdout.resume();
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const tail = stderr.split('\n').filter((l) => !l.includes('"level":"debug"')).slice(-30).join('\n');
  assert.equal(code, 0, `exit code; last lines:\n${tail}`);

  const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as Summary;
  assert.equal(summary.stop_reason, `duration ${DURATION_S}s elapsed`);
  assert.deepEqual(summary.services, ['sim', 'gateway', 'execution', 'strategy', 'monitor']);
  assert.ok(summary.ticks_published > 0, `ticks published: ${JSON.stringify(summary)}`);
  assert.ok(summary.ticks_consumed > 0, `ticks consumed: ${JSON.stringify(summary)}`);
  assert.ok(summary.orders_submitted > 0, `orders submitted: ${JSON.stringify(summary)}`);
  assert.ok(summary.orders_filled > 0, `orders filled: ${JSON.stringify(summary)}`);
  assert.equal(summary.errors, 0, `errors: ${JSON.stringify(summary)}`);
  assert.match(stderr, /dashboard: http:\/\/127\.0\.0\.1:\d+\//, 'the dashboard URL is printed');
  assert.match(stderr, /triquant up: stopped \(duration/);

  // Every process the run started is gone: the five services and the strategy instances
  // (their pids are logged), and the embedded Redis and the dashboard no longer listen.
  const pids = [...stderr.matchAll(/"pid":(\d+)/g)].map((m) => Number(m[1]));
  assert.ok(pids.length >= 5 + 3, `service and instance pids are logged (found ${pids.length})`);
  const survivors = [...new Set(pids)].filter(alive);
  assert.deepEqual(survivors, [], 'no process of the run is left');
  const redisPort = Number(/"embedded redis-server started","url":"redis:\/\/127\.0\.0\.1:(\d+)"/.exec(stderr)?.[1]);
  const dashboardPort = Number(/dashboard: http:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr)?.[1]);
  assert.ok(redisPort > 0 && dashboardPort > 0);
  assert.equal(await portOpen(redisPort), false, 'embedded redis-server stopped');
  assert.equal(await portOpen(dashboardPort), false, 'dashboard stopped');

  // The run's audit journal is where `triquant audit` looks by default, and its chain verifies.
  const verify = spawnSync(process.execPath, [BIN, 'audit', 'verify'], {
    env: { ...process.env, TRIQUANT__DATA_DIR: join(dir, 'data') }, encoding: 'utf8', timeout: 30_000,
  });
  assert.equal(verify.status, 0, `audit verify: ${verify.stdout}${verify.stderr}`);
  assert.match(verify.stdout, /chain ok: [1-9]\d* entries/);
});

test('Ctrl-C at the terminal (SIGINT to the whole process group) stops every service in order, without errors', { skip: redisServerAvailable() ? false : 'redis-server is not installed (scripts/provision.sh installs it)', timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tq-up-int-'));
  const summaryFile = join(dir, 'summary.json');
  // Its own process group, as a shell gives a foreground job: the terminal's SIGINT reaches
  // every process of the group that did not leave it.
  const child = spawn(process.execPath, [BIN, 'up', '--summary-json', summaryFile], {
    env: { ...process.env, TRIQUANT__DATA_DIR: join(dir, 'data'), TRIQUANT__MONITOR__PORT: '0', TRIQUANT__LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  child.stdout.resume();
  const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  const deadline = Date.now() + 60_000;
  while (!stderr.includes('all services running') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.ok(stderr.includes('all services running'), `up started; last lines:\n${stderr.slice(-2_000)}`);
  await new Promise((r) => setTimeout(r, 3_000));
  process.kill(-child.pid!, 'SIGINT');
  const code = await exited;
  const tail = stderr.split('\n').filter((l) => !l.includes('"level":"debug"')).slice(-20).join('\n');
  assert.equal(code, 0, `exit code; last lines:\n${tail}`);
  assert.doesNotMatch(stderr, /exited unexpectedly|stopped with an error/);
  const summary = JSON.parse(readFileSync(summaryFile, 'utf8')) as Summary;
  assert.equal(summary.stop_reason, 'SIGINT');
  assert.equal(summary.errors, 0);
  assert.ok(summary.ticks_published > 0);
  const pids = [...new Set([...stderr.matchAll(/"pid":(\d+)/g)].map((m) => Number(m[1])))];
  assert.deepEqual(pids.filter(alive), [], 'no process of the run is left');
});
