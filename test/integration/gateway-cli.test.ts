/** `triquant gateway` as a user runs it: against `triquant sim` and a real redis-server. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisTestServer } from '../support/redis-server.ts';

const BIN = fileURLToPath(new URL('../../bin/triquant.js', import.meta.url));

test('triquant gateway ingests triquant sim into Redis and stops cleanly', async () => {
  const redis = await RedisTestServer.start();
  const dir = mkdtempSync(join(tmpdir(), 'tq-gw-cli-'));
  const portsFile = join(dir, 'sim.json');
  const sim = spawn(process.execPath, [BIN, 'sim', '--time-mode', 'continuous', '--rate', '100', '--ports-json', portsFile], { stdio: 'ignore' });
  try {
    const deadline = Date.now() + 15_000;
    while (!existsSync(portsFile) && Date.now() < deadline) await sleep(50);
    const { feed } = JSON.parse(readFileSync(portsFile, 'utf8')) as { feed: number };
    const gateway = spawnSync(process.execPath, [BIN, 'gateway', '--feed', `127.0.0.1:${feed}/1,2`, '--redis-url', redis.url, '--duration', '2'], {
      encoding: 'utf8',
      env: { ...process.env, TRIQUANT__REDIS__KEY_PREFIX: 'cli', TRIQUANT__LOG_LEVEL: 'info' },
      timeout: 30_000,
    });
    assert.equal(gateway.status, 0, gateway.stderr);
    assert.match(gateway.stderr, /feed logged on/);
    const stopped = /"msg":"gateway stopped","ticksIn":(\d+),"ticksOut":(\d+)/.exec(gateway.stderr);
    assert.ok(stopped, 'the gateway reports what it stored when it stops');
    assert.ok(Number(stopped[1]) > 0);
    assert.equal(stopped[1], stopped[2], 'everything received was stored before exit');
    const keys = redis.cli('--scan', '--pattern', 'cli:md:{*').trim().split('\n').filter(Boolean);
    assert.ok(keys.length >= 5, `streams per symbol: ${keys.join(', ')}`);
  } finally {
    sim.kill('SIGTERM');
    await redis.stop();
  }
});
