import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ManualClock } from '../../src/core/clock.ts';
import { ValidationError } from '../../src/core/errors.ts';
import { FeedServer } from '../../src/sim/feed-server.ts';
import type { FeedServerLogger, FeedServerOptions } from '../../src/sim/feed-server.ts';
import { encode } from '../../src/protocol/feed/codec.ts';
import type { PublishableMessage } from '../../src/protocol/feed/codec.ts';
import { LogonRejectCode, LogoutCode, MessageType, RetransmitRejectCode } from '../../src/protocol/feed/frames.ts';
import type { DataMessage, SnapshotMessage, TradeMessage } from '../../src/protocol/feed/frames.ts';
import { FeedTestClient } from '../support/feed-test-client.ts';

const T0 = 1_735_000_000_000_000;

function snapshot(channel: number, i: number, symbol = '600000.SH'): Omit<SnapshotMessage, 'seq'> {
  const px = 100_000 + (i % 50) * 100;
  return {
    type: 'snapshot',
    channel,
    symbol,
    eventTime: T0 + i,
    phase: 'CONTINUOUS',
    lastPrice: px,
    openPrice: 100_000,
    highPrice: 105_000,
    lowPrice: 99_000,
    prevClosePrice: 100_000,
    upperLimitPrice: 110_000,
    lowerLimitPrice: 90_000,
    volume: i * 100,
    turnover: i * 100 * px,
    bids: Array.from({ length: 10 }, (_, k) => ({ price: px - (k + 1) * 100, qty: 100 * (k + 1), orders: k + 1 })),
    asks: Array.from({ length: 10 }, (_, k) => ({ price: px + k * 100, qty: 100 * (k + 1), orders: k + 1 })),
  };
}

function trade(channel: number, i: number): Omit<TradeMessage, 'seq'> {
  return { type: 'trade', channel, symbol: '000001.SZ', time: T0 + i, price: 123_400, qty: 100 * (1 + (i % 5)), aggressor: i % 2 ? 'BUY' : 'SELL', buyOrderId: 2 * i, sellOrderId: 2 * i + 1 };
}

function mixed(channel: number, from: number, count: number): PublishableMessage[] {
  return Array.from({ length: count }, (_, k) => (k % 3 === 2 ? trade(channel, from + k) : snapshot(channel, from + k)));
}

function seqs(messages: readonly DataMessage[]): number[] {
  return messages.map((m) => m.seq);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, k) => from + k);
}

interface LogLine {
  level: 'info' | 'warn';
  message: string;
  fields: Record<string, unknown> | undefined;
}

function memoryLogger(): FeedServerLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    info: (message, fields) => lines.push({ level: 'info', message, fields }),
    warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
  };
}

async function withServer(options: FeedServerOptions, body: (server: FeedServer, port: number, log: LogLine[]) => Promise<void>): Promise<void> {
  const logger = memoryLogger();
  const server = new FeedServer({ logger, closeGraceMs: 200, ...options });
  const { port } = await server.start(0, '127.0.0.1');
  try {
    await body(server, port, logger.lines);
  } finally {
    await server.close();
  }
}

test('a logged-on client receives snapshots and trades with consecutive seqs, only on its channels', async () => {
  await withServer({}, async (server, port) => {
    const client = await FeedTestClient.connect({ port });
    try {
      const ack = await client.logon('gw-1', [{ channel: 1, mode: 'LIVE', lastSeq: 0 }]);
      assert.equal(ack.type, 'logonAck');
      assert.deepEqual(ack.type === 'logonAck' && ack.channels, [{ channel: 1, lastSeq: 0, firstAvailableSeq: 0 }]);
      assert.equal(server.publish(snapshot(1, 0)), 1);
      assert.equal(server.publish(trade(1, 1)), 2);
      server.publishBatch(mixed(1, 2, 98));
      server.publishBatch([...mixed(2, 0, 10), ...mixed(1, 100, 10), ...mixed(2, 10, 5)]); // mixed channels in one batch
      await client.waitFor(() => client.delivered(1).length === 110, '110 messages on channel 1');
      assert.deepEqual(seqs(client.delivered(1)), range(1, 110));
      assert.ok(client.messages.every((m) => !('channel' in m) || m.channel === 1), 'nothing from channel 2');
      assert.equal(client.duplicates, 0);
      assert.equal(client.retransmitRequestsSent, 0);
      const first = client.delivered(1)[0] as SnapshotMessage;
      assert.deepEqual(first, { ...snapshot(1, 0), seq: 1 });
      assert.deepEqual(client.delivered(1)[1], { ...trade(1, 1), seq: 2 });
      assert.deepEqual(server.channelStatus(2), { channel: 2, lastSeq: 15, firstAvailableSeq: 1 });
      const stats = server.stats();
      assert.equal(stats.loggedOnClients, 1);
      assert.equal(stats.messagesPublished, 125);
      assert.ok(stats.framesSent >= 111);
    } finally {
      client.destroy();
    }
  });
});

test('LogonAck carries the publishing session: the clock at construction, unique per server, or as configured', async () => {
  const clock = new ManualClock(T0);
  const a = new FeedServer({ clock, logger: memoryLogger() });
  const b = new FeedServer({ clock, logger: memoryLogger() }); // same instant: still a new session
  assert.equal(a.sessionId >= T0, true);
  assert.ok(b.sessionId > a.sessionId, `${b.sessionId} > ${a.sessionId}`);
  assert.equal(new FeedServer({ sessionId: 42, logger: memoryLogger() }).sessionId, 42);
  assert.throws(() => new FeedServer({ sessionId: 0 }), ValidationError);
  await withServer({ sessionId: 7_000_000 }, async (_server, port) => {
    const client = await FeedTestClient.connect({ port });
    try {
      const ack = await client.logon('gw-session', [{ channel: 1, mode: 'LIVE', lastSeq: 0 }]);
      assert.equal(ack.type === 'logonAck' && ack.sessionId, 7_000_000);
    } finally {
      client.destroy();
    }
  });
  await withServer({}, async (server, port) => {
    const client = await FeedTestClient.connect({ port });
    try {
      const ack = await client.logon('gw-session', [{ channel: 1, mode: 'LIVE', lastSeq: 0 }]);
      assert.equal(ack.type === 'logonAck' && ack.sessionId, server.sessionId);
    } finally {
      client.destroy();
    }
  });
});

test('a client that loses frames detects the gap and a RetransmitRequest fills it', async () => {
  await withServer({}, async (server, port) => {
    const lose = new Set([5, 6, 7, 20, 50]);
    const client = await FeedTestClient.connect({
      port,
      drop: (m) => lose.delete(m.seq), // each listed seq is lost the first time only
    });
    try {
      await client.logon('gw-gap', [{ channel: 7, mode: 'LIVE', lastSeq: 0 }]);
      for (let i = 0; i < 6; i++) server.publishBatch(mixed(7, i * 10, 10));
      await client.waitFor(() => client.delivered(7).length === 60, '60 in-order messages');
      assert.deepEqual(seqs(client.delivered(7)), range(1, 60));
      assert.equal(client.dropped, 5);
      assert.equal(client.duplicates, 0);
      assert.ok(client.retransmitRequestsSent >= 1);
      assert.ok(client.ends.length >= 1);
      const stats = server.stats();
      assert.ok(stats.retransmittedFrames >= 5, `retransmitted ${stats.retransmittedFrames}`);
      assert.equal(stats.retransmitRequests, client.retransmitRequestsSent);
      assert.equal(stats.retransmitRejects, 0);
    } finally {
      client.destroy();
    }
  });
});

test('a reconnecting client resumes from its last seq with no gap and no duplicate', async () => {
  await withServer({}, async (server, port) => {
    const first = await FeedTestClient.connect({ port });
    await first.logon('gw-resume', [{ channel: 1, mode: 'LIVE', lastSeq: 0 }]);
    server.publishBatch(mixed(1, 0, 50));
    await first.waitFor(() => first.delivered(1).length === 50, '50 messages');
    const resumeFrom = first.lastSeq(1);
    assert.equal(resumeFrom, 50);
    await first.logoutAndClose();

    server.publishBatch(mixed(1, 50, 30)); // published while nobody listens

    const second = await FeedTestClient.connect({ port });
    try {
      const ack = await second.logon('gw-resume', [{ channel: 1, mode: 'RESUME', lastSeq: resumeFrom }]);
      assert.equal(ack.type === 'logonAck' && ack.channels[0]!.lastSeq, 80);
      server.publishBatch(mixed(1, 80, 20));
      await second.waitFor(() => second.delivered(1).length === 50, '50 messages after resume');
      assert.deepEqual(seqs(second.delivered(1)), range(51, 100));
      assert.equal(second.duplicates, 0);
      assert.equal(second.retransmitRequestsSent, 0, 'the server replayed the gap by itself');
      assert.deepEqual(second.ends.map((e) => [e.fromSeq, e.toSeq]), [[51, 80]]);
      assert.deepEqual(second.delivered(1)[0], { ...mixed(1, 50, 1)[0], seq: 51 });
    } finally {
      second.destroy();
    }
  });
});

test('a request for a range that fell out of the ring gets RetransmitReject; the held part is served', async () => {
  await withServer({ ringDepth: 16, maxRetransmitPerRequest: 100 }, async (server, port) => {
    const client = await FeedTestClient.connect({ port, autoRecover: false });
    try {
      await client.logon('gw-ring', [{ channel: 4, mode: 'LIVE', lastSeq: 0 }]);
      server.publishBatch(mixed(4, 0, 40));
      await client.waitFor(() => client.delivered(4).length === 40, '40 messages');
      assert.deepEqual(server.channelStatus(4), { channel: 4, lastSeq: 40, firstAvailableSeq: 25 });

      client.requestRetransmit(4, 1, 10); // entirely gone
      await client.waitFor(() => client.rejects.length === 1, 'a reject');
      assert.equal(client.rejects[0]!.code, RetransmitRejectCode.TOO_OLD);
      assert.deepEqual([client.rejects[0]!.fromSeq, client.rejects[0]!.toSeq, client.rejects[0]!.firstAvailableSeq, client.rejects[0]!.lastSeq], [1, 10, 25, 40]);

      const before = client.messages.length;
      client.requestRetransmit(4, 20, 30); // 20..24 gone, 25..30 held
      await client.waitFor(() => client.ends.length === 1, 'a retransmit end');
      const answer = client.messages.slice(before);
      assert.equal(answer[0]!.type, 'retransmitReject');
      assert.deepEqual(answer[0]!.type === 'retransmitReject' && [answer[0]!.fromSeq, answer[0]!.toSeq], [20, 24]);
      assert.deepEqual(answer.slice(1, -1).map((m) => (m as DataMessage).seq), range(25, 30));
      assert.deepEqual(answer.at(-1), { type: 'retransmitEnd', channel: 4, fromSeq: 25, toSeq: 30 });
      assert.deepEqual(answer[1], { ...mixed(4, 24, 1)[0], seq: 25 }, 'retransmitted frames are byte-identical');

      client.requestRetransmit(4, 41, 50);
      client.requestRetransmit(4, 30, 20);
      client.requestRetransmit(9, 1, 2);
      await client.waitFor(() => client.rejects.length === 5, 'three more rejects');
      assert.deepEqual(client.rejects.slice(2).map((r) => r.code), [RetransmitRejectCode.NOT_YET, RetransmitRejectCode.INVALID_RANGE, RetransmitRejectCode.NOT_SUBSCRIBED]);
      assert.equal(client.isClosed, false);
    } finally {
      client.destroy();
    }

    // A resume that starts before the ring: the lost part is rejected, the rest replayed.
    const late = await FeedTestClient.connect({ port });
    try {
      await late.logon('gw-late', [{ channel: 4, mode: 'RESUME', lastSeq: 5 }]);
      await late.waitFor(() => late.delivered(4).length === 16, 'the 16 held messages');
      assert.deepEqual(seqs(late.delivered(4)), range(25, 40));
      assert.deepEqual(late.lost(4), [{ fromSeq: 6, toSeq: 24 }]);
      assert.equal(late.duplicates, 0);
    } finally {
      late.destroy();
    }
  });
});

test('a large gap is served in bounded pieces that the client asks for in turn', async () => {
  await withServer({ maxRetransmitPerRequest: 25 }, async (server, port) => {
    server.publishBatch(mixed(1, 0, 100));
    const client = await FeedTestClient.connect({ port });
    try {
      await client.logon('gw-big', [{ channel: 1, mode: 'RESUME', lastSeq: 0 }]);
      await client.waitFor(() => client.delivered(1).length === 100, '100 messages');
      assert.deepEqual(seqs(client.delivered(1)), range(1, 100));
      assert.deepEqual(client.ends.map((e) => [e.fromSeq, e.toSeq]), [[1, 25], [26, 50], [51, 75], [76, 100]]);
      assert.equal(client.duplicates, 0);
    } finally {
      client.destroy();
    }
  });
});

test('a client that stops reading is disconnected as a slow consumer; others keep receiving', async () => {
  await withServer({ maxBufferedBytes: 256 * 1024, maxRetransmitPerRequest: 100, closeGraceMs: 3_000 }, async (server, port, log) => {
    const slow = await FeedTestClient.connect({ port });
    const healthy = await FeedTestClient.connect({ port });
    try {
      await slow.logon('slow', [{ channel: 1, mode: 'LIVE', lastSeq: 0 }]);
      await healthy.logon('healthy', [{ channel: 1, mode: 'LIVE', lastSeq: 0 }]);
      slow.pause();
      // Publish until the server cuts the slow client off: bounded in batches and in time.
      const deadline = Date.now() + 10_000;
      let published = 0;
      for (let batch = 0; batch < 5_000 && server.stats().slowConsumerDisconnects === 0 && Date.now() < deadline; batch++) {
        server.publishBatch(mixed(1, published, 200));
        published += 200;
        await nextTurn();
      }
      const stats = server.stats();
      assert.equal(stats.slowConsumerDisconnects, 1);
      assert.ok(log.some((l) => l.level === 'warn' && /slow consumer/.test(l.message)), 'the reason is logged');

      server.publishBatch(mixed(1, published, 10));
      published += 10;
      await healthy.waitFor(() => healthy.delivered(1).length === published, 'the healthy client to get everything', 10_000);
      assert.deepEqual(seqs(healthy.delivered(1)), range(1, published));
      assert.equal(healthy.isClosed, false);

      slow.resume();
      await slow.waitFor(() => slow.isClosed, 'the slow client to be closed', 10_000);
      // Reading again within the close grace, it gets what was queued before the cut, then a Logout saying why.
      assert.equal(slow.logout?.code, LogoutCode.SLOW_CONSUMER);
      assert.match(slow.logout!.reason, /slow consumer/);
      assert.ok(slow.delivered(1).length < published);
    } finally {
      slow.destroy();
      healthy.destroy();
    }
  });
});

test('garbage bytes from a client get it disconnected with a reason while other clients continue', async () => {
  await withServer({}, async (server, port, log) => {
    const bad = await FeedTestClient.connect({ port });
    const good = await FeedTestClient.connect({ port });
    try {
      await bad.logon('bad', [{ channel: 1, mode: 'LIVE', lastSeq: 0 }]);
      await good.logon('good', [{ channel: 1, mode: 'LIVE', lastSeq: 0 }]);
      server.publishBatch(mixed(1, 0, 10));
      bad.sendRaw(Buffer.from('GET /feed HTTP/1.1\r\nHost: x\r\n\r\n'));
      await bad.waitFor(() => bad.isClosed, 'the garbage sender to be dropped');
      assert.equal(bad.logout?.code, LogoutCode.PROTOCOL_ERROR);
      assert.match(bad.logout!.reason, /framing error: .*bad magic/);
      assert.ok(log.some((l) => l.level === 'warn' && /bad magic/.test(l.message)));
      server.publishBatch(mixed(1, 10, 10));
      await good.waitFor(() => good.delivered(1).length === 20, 'the good client to keep receiving');
      assert.deepEqual(seqs(good.delivered(1)), range(1, 20));
      const stats = server.stats();
      assert.equal(stats.framingErrors, 1);
      assert.equal(stats.clients, 1);
    } finally {
      bad.destroy();
      good.destroy();
    }
  });
});

test('a malformed frame inside valid framing is skipped and counted; too many end the session', async () => {
  await withServer({ maxMalformedFrames: 3 }, async (server, port) => {
    const client = await FeedTestClient.connect({ port });
    try {
      await client.logon('sloppy', [{ channel: 1, mode: 'LIVE', lastSeq: 0 }]);
      const unknown = Buffer.from([0x54, 0x51, 1, 0x7f, 2, 0, 0, 0, 0xaa, 0xbb]);
      const shortHeartbeat = Buffer.from([0x54, 0x51, 1, MessageType.HEARTBEAT, 1, 0, 0, 0, 0]);
      client.sendRaw(Buffer.concat([unknown, shortHeartbeat]));
      client.requestRetransmit(1, 1, 1); // a valid message after the bad ones is still handled
      await client.waitFor(() => client.rejects.length === 1, 'an answer to the valid request');
      assert.equal(server.stats().malformedFrames, 2);
      assert.equal(client.isClosed, false);
      client.sendRaw(Buffer.concat([unknown, unknown]));
      await client.waitFor(() => client.isClosed, 'the session to end after too many malformed frames');
      assert.equal(client.logout?.code, LogoutCode.PROTOCOL_ERROR);
      assert.match(client.logout!.reason, /too many malformed frames/);
      assert.equal(server.stats().malformedFrames, 4);
    } finally {
      client.destroy();
    }
  });
});

test('session rules: data before logon, a second logon and server-only messages are protocol errors', async () => {
  await withServer({}, async (server, port) => {
    const early = await FeedTestClient.connect({ port });
    early.requestRetransmit(1, 1, 2);
    await early.waitFor(() => early.isClosed, 'early to be dropped');
    assert.match(early.logout!.reason, /before logon/);

    const twice = await FeedTestClient.connect({ port });
    await twice.logon('twice', []);
    twice.send({ type: 'logon', protocolVersion: 1, clientId: 'twice', channels: [] });
    await twice.waitFor(() => twice.isClosed, 'twice to be dropped');
    assert.match(twice.logout!.reason, /already logged on/);

    const spoof = await FeedTestClient.connect({ port });
    await spoof.logon('spoof', []);
    spoof.sendRaw(encode({ ...snapshot(1, 0), seq: 1 }));
    await spoof.waitFor(() => spoof.isClosed, 'spoof to be dropped');
    assert.match(spoof.logout!.reason, /may not send snapshot/);
    assert.equal(server.stats().protocolErrors, 3);
  });
});

test('logon is rejected for a wrong version, failed authentication and an unknown channel', async () => {
  await withServer({ channels: [1, 2], authenticate: (_id, token) => token === 'letmein' }, async (server, port) => {
    const cases: [Parameters<FeedTestClient['logon']>, number][] = [
      [['v9', [], { protocolVersion: 9, authToken: 'letmein' }], LogonRejectCode.UNSUPPORTED_VERSION],
      [['nopass', [], { authToken: 'wrong' }], LogonRejectCode.AUTH_FAILED],
      [['notoken', []], LogonRejectCode.AUTH_FAILED],
      [['where', [{ channel: 3, mode: 'LIVE', lastSeq: 0 }], { authToken: 'letmein' }], LogonRejectCode.UNKNOWN_CHANNEL],
    ];
    for (const [args, code] of cases) {
      const client = await FeedTestClient.connect({ port });
      const answer = await client.logon(...args);
      assert.equal(answer.type, 'logonReject', args[0]);
      assert.equal(answer.type === 'logonReject' && answer.code, code, args[0]);
      await client.waitFor(() => client.isClosed, 'the rejected client to be closed');
    }
    const ok = await FeedTestClient.connect({ port });
    assert.equal((await ok.logon('fine', [{ channel: 2, mode: 'LIVE', lastSeq: 0 }], { authToken: 'letmein' })).type, 'logonAck');
    assert.throws(() => server.publish(snapshot(3, 0)), ValidationError);
    assert.equal(server.stats().logonRejects, 4);
    ok.destroy();
  });
});

test('a second logon with the same client id replaces the first session', async () => {
  await withServer({}, async (server, port) => {
    const a = await FeedTestClient.connect({ port });
    await a.logon('same', [{ channel: 1, mode: 'LIVE', lastSeq: 0 }]);
    const b = await FeedTestClient.connect({ port });
    await b.logon('same', [{ channel: 1, mode: 'LIVE', lastSeq: 0 }]);
    await a.waitFor(() => a.isClosed, 'the old session to be closed');
    assert.equal(a.logout?.code, LogoutCode.SESSION_REPLACED);
    server.publish(trade(1, 1));
    await b.waitFor(() => b.delivered(1).length === 1, 'the new session to receive');
    b.destroy();
  });
});

test('heartbeats: the server sends them; silent clients and clients that never log on are dropped', async () => {
  const clock = new ManualClock(T0);
  await withServer({ clock, heartbeatIntervalMs: 60_000, heartbeatTimeoutIntervals: 3 }, async (server, port) => {
    const talker = await FeedTestClient.connect({ port });
    const silent = await FeedTestClient.connect({ port });
    const mute = await FeedTestClient.connect({ port });
    try {
      await talker.logon('talker', []);
      await silent.logon('silent', []);
      for (let tick = 1; tick <= 4; tick++) {
        clock.advance(60_000_000);
        talker.send({ type: 'heartbeat', time: clock.nowMicros() });
        await talker.waitFor(() => server.stats().framesReceived >= 2 + tick, 'the heartbeat to arrive');
        server.runTimers();
      }
      await silent.waitFor(() => silent.isClosed && mute.isClosed, 'silent clients to be dropped');
      assert.equal(silent.logout?.code, LogoutCode.HEARTBEAT_TIMEOUT);
      assert.match(silent.logout!.reason, /heartbeat timeout/);
      assert.equal(mute.logout?.code, LogoutCode.LOGON_TIMEOUT);
      await talker.waitFor(() => talker.messages.filter((m) => m.type === 'heartbeat').length === 4, 'four heartbeats');
      const beats = talker.messages.filter((m) => m.type === 'heartbeat');
      assert.deepEqual(beats.map((m) => m.type === 'heartbeat' && m.time), [1, 2, 3, 4].map((k) => T0 + k * 60_000_000));
      assert.equal(talker.isClosed, false);
      assert.equal(server.stats().heartbeatTimeouts, 1);
    } finally {
      talker.destroy();
      silent.destroy();
      mute.destroy();
    }
  });
});

test('close() is idempotent: clients get a Logout, publishing afterwards throws', async () => {
  const server = new FeedServer({ logger: memoryLogger() });
  const { port } = await server.start();
  const client = await FeedTestClient.connect({ port });
  await client.logon('bye', []);
  const first = server.close();
  assert.equal(server.close(), first);
  await first;
  await client.waitFor(() => client.isClosed, 'the client to be closed');
  assert.equal(client.logout?.code, LogoutCode.SERVER_SHUTDOWN);
  assert.throws(() => server.publish(trade(1, 1)), /closed/);
  await server.close();
});

test('an invalid message in a batch publishes nothing and consumes no seq', async () => {
  await withServer({}, async (server) => {
    server.publishBatch(mixed(1, 0, 3));
    assert.throws(() => server.publishBatch([snapshot(1, 3), { ...trade(1, 4), price: 1.5 }]), ValidationError);
    assert.equal(server.channelStatus(1)!.lastSeq, 3);
    assert.equal(server.publish(trade(1, 5)), 4);
    assert.throws(() => new FeedServer({ maxBufferedBytes: 1_000_000, maxRetransmitPerRequest: 10_000 }), ValidationError);
  });
});
