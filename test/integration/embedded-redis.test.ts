import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { EmbeddedRedis, EmbeddedRedisError, REDIS_INSTALL_HINT } from '../../src/bus/embedded-redis.ts';
import { redisServerAvailable } from '../support/redis-server.ts';

const skip = redisServerAvailable() ? false : 'redis-server is not installed';

test('embedded redis keeps its data under its directory across a stop and start', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tq-embedded-redis-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  const first = await EmbeddedRedis.start({ dir });
  t.after(() => first.stop());
  assert.ok(first.port > 0);
  const client = new Redis(first.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  await client.xadd('tq:test', '1-1', 'k', 'v');
  client.disconnect();
  await first.stop();
  await first.stop(); // idempotent
  assert.ok(existsSync(join(dir, 'redis.log')), 'the log is written under the directory');

  const second = await EmbeddedRedis.start({ dir });
  t.after(() => second.stop());
  const again = new Redis(second.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await again.connect();
  assert.equal(await again.xlen('tq:test'), 1, 'the AOF brought the stream back');
  again.disconnect();
  await second.stop();
});

test('a missing redis-server is one clear error saying how to install it', async () => {
  await assert.rejects(
    EmbeddedRedis.start({ dir: join(tmpdir(), 'tq-never-created'), binary: '/nonexistent/redis-server' }),
    (error: unknown) => error instanceof EmbeddedRedisError && error.message === REDIS_INSTALL_HINT && /apt-get install redis-server/.test(error.message),
  );
});

test('a server left running by a killed owner is stopped before a new one uses the directory', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tq-embedded-redis-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const orphan = await EmbeddedRedis.start({ dir });
  t.after(() => orphan.stop());
  const orphanPort = orphan.port;
  // The owner "dies" without stopping it; a new owner starts on the same directory.
  const next = await EmbeddedRedis.start({ dir });
  t.after(() => next.stop());
  const probe = new Redis(`redis://127.0.0.1:${orphanPort}`, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  await assert.rejects(probe.connect(), 'the old server no longer listens');
  probe.disconnect();
  const client = new Redis(next.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  assert.equal(await client.ping(), 'PONG');
  client.disconnect();
});
