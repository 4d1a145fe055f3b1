import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../../bin/triquant.js', import.meta.url));
const COMMANDS = ['up', 'sim', 'gateway', 'strategy', 'execution', 'monitor', 'replay', 'backtest', 'bench', 'audit', 'kill-switch', 'config'];

function triquant(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('triquant --help lists every command', () => {
  const { code, stdout } = triquant(['--help']);
  assert.equal(code, 0);
  for (const command of COMMANDS) assert.match(stdout, new RegExp(`^  ${command}\\b`, 'm'), `--help should list ${command}`);
});

test('every command has its own --help', () => {
  for (const command of COMMANDS) {
    const { code, stdout } = triquant([command, '--help']);
    assert.equal(code, 0, `${command} --help exit code`);
    assert.match(stdout, new RegExp(`Usage: triquant ${command}`));
  }
});

test('a command not built yet says so plainly and exits non-zero', () => {
  const { code, stderr } = triquant(['replay']);
  assert.equal(code, 3);
  assert.match(stderr, /not built yet/);
});

test('an unknown command or option is a usage error', () => {
  assert.equal(triquant(['nonsense']).code, 2);
  assert.equal(triquant(['bench', '--frobnicate']).code, 2);
  assert.equal(triquant(['up', '--duration', '-5']).code, 2);
});

test('a check a command makes after parsing prints its reason, exit 2', () => {
  // No service is contacted: the missing --actor/--reason is refused first.
  const { code, stderr } = triquant(['kill-switch', 'halt', '--target', '127.0.0.1:1', '--token', 't']);
  assert.equal(code, 2);
  assert.match(stderr, /^triquant: changing the trading state needs --actor NAME and --reason TEXT/);
});

test('a bad config value is one clear message naming the key, exit non-zero', () => {
  const { code, stderr } = triquant(['config'], { TRIQUANT__REDIS__MODE: 'clustr' });
  assert.equal(code, 2);
  assert.match(stderr, /^triquant: config redis\.mode: .*TRIQUANT__REDIS__MODE/);
  assert.equal(stderr.trim().split('\n').length, 1);
});

test('triquant config prints the effective, validated settings', () => {
  const { code, stdout } = triquant(['config'], { TRIQUANT__MONITOR__PORT: '9911' });
  assert.equal(code, 0);
  const config = JSON.parse(stdout) as { monitor: { port: number } };
  assert.equal(config.monitor.port, 9911);
});

test('bench lists benchmarks and rejects unknown names', () => {
  const list = triquant(['bench', '--list']);
  assert.equal(list.code, 0);
  assert.match(list.stdout, /^core\b/m);
  assert.match(list.stdout, /^hop-floor\b/m);
  const unknown = triquant(['bench', 'nope']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no benchmark "nope"/);
});

test('bench core --json prints JSON lines, the last being the result', () => {
  const { code, stdout } = triquant(['bench', 'core', '--json', '--duration', '40']);
  assert.equal(code, 0);
  const lines = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.equal(lines[0]?.event, 'start');
  const result = lines.at(-1)!;
  assert.equal(result.event, 'result');
  for (const field of ['transitions_per_sec', 'order_events_per_sec', 'rule_checks_per_sec']) {
    assert.ok(typeof result[field] === 'number' && result[field] > 0, `${field} should be a positive number`);
  }
});

test('triquant sim runs standalone, reports its ports and stops by itself', async () => {
  const { mkdtempSync, readFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const portsFile = join(mkdtempSync(join(tmpdir(), 'tq-sim-')), 'ports.json');
  const { code, stderr } = triquant(['sim', '--duration', '1', '--time-mode', 'continuous', '--ports-json', portsFile], { TRIQUANT__LOG_LEVEL: 'info' });
  assert.equal(code, 0, stderr);
  const ports = JSON.parse(readFileSync(portsFile, 'utf8')) as { feed: number; fix: number; metrics: number };
  assert.ok(ports.feed > 0 && ports.fix > 0 && ports.metrics > 0);
  assert.match(stderr, new RegExp(`FIX 4\\.4 acceptor on tcp://127\\.0\\.0\\.1:${ports.fix}`));
  assert.match(stderr, new RegExp(`market-data feed on tcp://127\\.0\\.0\\.1:${ports.feed}`));
  assert.match(stderr, /simulator stopped/);
});

test('triquant sim rejects a bad option with a clear message', () => {
  const { code, stderr } = triquant(['sim', '--time-mode', 'sideways']);
  assert.equal(code, 2);
  assert.match(stderr, /accelerated, real or continuous/);
});

// `triquant up` itself (every service, trading, the summary) is test/integration/up-e2e.test.ts.
test('triquant up explains itself and rejects bad options before starting anything', () => {
  const help = triquant(['up', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--duration <seconds>/);
  assert.match(help.stdout, /--summary-json <file>/);
  const bad = triquant(['up', '--frobnicate']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown option '--frobnicate'/);
  assert.equal(triquant(['up', '--duration', 'soon']).code, 2);
});
