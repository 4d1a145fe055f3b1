/**
 * The strategy host's supervisor with real instance processes (forked Node running
 * instance-main with a file-backed idle source and the dry-run channel, see
 * test/support/strategy-host-child.ts) and a strategy that crashes on demand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger, LogLevel } from '../../src/obs/log.ts';
import { createServiceRegistry } from '../../src/obs/metrics.ts';
import type { InstancePlan } from '../../src/strategy/host-config.ts';
import { StrategyHost, type CrashLoopAlert, type StrategyHostOptions } from '../../src/strategy/host.ts';
import { testInstanceSettings } from '../support/strategy-fakes.ts';

const CHILD = fileURLToPath(new URL('../support/strategy-host-child.ts', import.meta.url));
const CRASHY = fileURLToPath(new URL('../support/strategies/crashy.ts', import.meta.url));

interface LogLine {
  level: LogLevel;
  message: string;
  fields: Record<string, unknown> | undefined;
}

function recordingLog(lines: LogLine[]): Logger {
  const at = (level: LogLevel) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, fields });
  const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
  return log;
}

function plan(dir: string, instanceId: string): InstancePlan {
  return {
    key: `crashy/${instanceId}`,
    name: 'crashy',
    instanceId,
    file: CRASHY,
    definitionName: 'crashy',
    account: 'ACC1',
    symbols: [],
    params: { crashFile: join(dir, `crash-${instanceId}`), stopFile: join(dir, `stopped-${instanceId}`) },
    token: '',
    capital: 0,
  };
}

function makeHost(dir: string, ids: string[], logs: LogLine[], overrides: Partial<StrategyHostOptions> = {}): StrategyHost {
  return new StrategyHost({
    plans: ids.map((id) => plan(dir, id)),
    settingsFor: (p) => testInstanceSettings(p),
    entry: CHILD,
    env: { ...process.env, TQ_TEST_STATE_DIR: dir },
    restart: { initialMs: 50, maxMs: 400 },
    crashLoop: { maxRestarts: 2, windowMs: 60_000 },
    stableAfterMs: 60_000,
    stopGraceMs: 5_000,
    log: recordingLog(logs),
    output: () => undefined,
    ...overrides,
  });
}

async function until(what: string, predicate: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('a crashing instance is restarted with back-off, then given up on as a crash loop with an alert; the other instance is not disturbed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tq-host-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logs: LogLine[] = [];
  const registry = createServiceRegistry('strategy', false);
  const host = makeHost(dir, ['a', 'b'], logs, { registry });
  const alerts: CrashLoopAlert[] = [];
  host.on('alert', (a) => alerts.push(a));
  host.start();
  t.after(() => host.stop());
  await host.whenRunning();
  const b = () => host.status().find((s) => s.instanceId === 'b')!;
  const pidB = b().pid;
  assert.ok(pidB !== undefined);

  writeFileSync(join(dir, 'crash-a'), '');
  await until('crash loop of a', () => alerts.length === 1);
  const a = host.status().find((s) => s.instanceId === 'a')!;
  assert.equal(a.state, 'crash-loop');
  assert.equal(a.restarts, 2, 'restarted maxRestarts times, then given up');
  assert.equal(a.lastExit?.code, 1);
  assert.equal(a.pid, undefined);

  // Back-off doubled between consecutive crashes.
  const delays = logs.filter((l) => l.level === 'warn' && l.fields?.instance === 'crashy/a').map((l) => l.fields?.delayMs);
  assert.deepEqual(delays, [50, 100]);
  // The alert names the instance, the exit and the strategy's last words.
  const alert = logs.find((l) => l.level === 'error' && l.message.startsWith('ALERT'));
  assert.ok(alert !== undefined);
  assert.match(alert.message, /crashy\/a .*crash-looping.*exit code 1/);
  assert.ok(alerts[0]!.lastStderr.some((line) => line.includes('crash on demand (a)')), 'last stderr lines hold the hook error');
  const metrics = await registry.metrics();
  assert.match(metrics, /triquant_strategy_instance_crash_loop\{instance="crashy\/a",service="strategy"\} 1/);
  assert.match(metrics, /triquant_strategy_instance_restarts_total\{instance="crashy\/a",service="strategy"\} 2/);

  // b kept running in the same process throughout.
  assert.equal(b().state, 'running');
  assert.equal(b().pid, pidB);
  assert.equal(b().restarts, 0);
  await host.stop();
  assert.equal(b().state, 'stopped');
  assert.equal(b().lastExit?.code, 0);
});

test('a killed instance is restarted from its checkpoint; stop() runs every strategy’s onStop and waits for the processes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tq-host-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logs: LogLine[] = [];
  const host = makeHost(dir, ['a', 'b'], logs);
  host.start();
  t.after(() => host.stop());
  await host.whenRunning();
  const get = (id: string) => host.status().find((s) => s.instanceId === id)!;
  // Wait until a's first start is checkpointed (the checkpoint interval is 20 ms).
  await until('a checkpointed', () => existsSync(join(dir, 'crashy-a.json')));
  const firstPid = get('a').pid!;
  process.kill(firstPid, 'SIGKILL');
  await until('a restarted', () => get('a').state === 'running' && get('a').pid !== firstPid);
  assert.equal(get('a').restarts, 1);
  assert.equal(get('a').lastExit?.signal, 'SIGKILL');
  assert.equal(get('a').restored, true, 'the new process resumed from the checkpoint');
  await until('status of the restarted a', () => get('a').strategyStatus?.starts === 2);
  assert.equal(get('b').restarts, 0);

  await host.stop();
  for (const id of ['a', 'b']) {
    assert.equal(get(id).state, 'stopped');
    assert.equal(get(id).lastExit?.code, 0, `${id} exited cleanly`);
    const stopped = JSON.parse(readFileSync(join(dir, `stopped-${id}`), 'utf8')) as { instance: string };
    assert.equal(stopped.instance, id, 'onStop ran');
  }
  const checkpoint = JSON.parse(readFileSync(join(dir, 'crashy-a.json'), 'utf8')) as { state: { starts: number } };
  assert.equal(checkpoint.state.starts, 2, 'the final checkpoint was stored on stop');
});
