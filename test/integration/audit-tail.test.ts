import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.ts';
import { RedisConnection } from '../../src/bus/redis-connection.ts';
import { silentLogger } from '../../src/obs/log.ts';
import { openJournal } from '../../src/execution/journal/sqlite-journal.ts';
import { auditTailKey, withAuditTail } from '../../src/execution/audit-tail.ts';
import { RedisTestServer } from '../support/redis-server.ts';

test('the audit tail mirrors every appended entry to Redis after the appending turn, in journal order, in one write', async () => {
  const redis = await RedisTestServer.start();
  const prefix = `tq-audit-tail-${process.pid}`;
  const connection = new RedisConnection({ mode: 'standalone', url: redis.url, keyPrefix: prefix });
  try {
    await connection.whenReady(5_000);
    const journal = withAuditTail(openJournal({ path: ':memory:', clock: new ManualClock(1_000_000) }), connection, prefix, silentLogger);
    const key = auditTailKey(prefix);
    const client = connection.client as unknown as { pipeline: (...args: unknown[]) => unknown };
    const pipeline = client.pipeline.bind(client);
    let writes = 0;
    client.pipeline = (...args: unknown[]) => {
      writes++;
      return pipeline(...args);
    };
    const first = journal.append([
      { kind: 'ORDER_REQUEST', account: 'A1', symbol: '600000.SH', clientOrderId: 'c1', actor: 'strategy:s1', data: { side: 'BUY', quantity: 100, price: 100_500 } },
      { kind: 'RISK_DECISION', account: 'A1', symbol: '600000.SH', clientOrderId: 'c1', actor: 'strategy:s1', data: { ok: true } },
    ]);
    const second = journal.append([{ kind: 'ORDER_SENT', account: 'A1', symbol: '600000.SH', clientOrderId: 'c1', actor: 'strategy:s1', data: { venueClOrdId: 'v1' } }]);
    // Nothing is written to Redis inside the appending turn (the FIX send comes first), then one write for both appends.
    assert.equal(writes, 0);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(writes, 1);
    let rows: [string, string[]][] = [];
    const deadline = Date.now() + 5_000;
    while (rows.length < 3 && Date.now() < deadline) {
      rows = (await connection.client.xrange(key, '-', '+')) as [string, string[]][];
      if (rows.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const fields = rows.map(([, f]) => Object.fromEntries(f.reduce<[string, string][]>((acc, v, i) => (i % 2 === 0 ? [...acc, [v, f[i + 1]!]] : acc), [])));
    assert.deepEqual(fields.map((f) => Number(f.seq)), [...first, ...second].map((e) => e.seq));
    assert.deepEqual(fields.map((f) => f.kind), ['ORDER_REQUEST', 'RISK_DECISION', 'ORDER_SENT']);
    assert.equal(fields[0]!.summary, '600000.SH side=BUY quantity=100 price=100500');
    assert.equal(fields[0]!.clientOrderId, 'c1');
    journal.close();
  } finally {
    await connection.close();
    await redis.stop();
  }
});
