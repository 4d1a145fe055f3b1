/**
 * Interoperability with a standard third-party FIX 4.4 engine, QuickFIX/J, whose FIX44 data
 * dictionary validates every message it receives:
 * 1. QuickFIX/J as initiator (test/interop/quickfixj/QfjInitiator.java) logs on to our
 *    FixAcceptor, sends a NewOrderSingle, an OrderStatusRequest and two OrderCancelRequests,
 *    and logs out.
 * 2. QuickFIX/J as acceptor (QfjAcceptor.java) is traded with by our session layer in the
 *    initiator role (what the execution tier's broker adapter uses), including a reconnect
 *    with sequence gaps in both directions recovered by ResendRequest / GapFill.
 * scripts/fetch-quickfixj.sh downloads the jars from Maven Central (first run only) and
 * compiles the Java programs.
 *
 * Skipped only when `java`, `javac` or `mvn` is not installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger } from '../../src/obs/log.ts';
import { MsgType, Tag } from '../../src/protocol/fix/fields.ts';
import { buildNewOrderSingle, buildOrderCancelRequest, buildOrderStatusRequest, parseExecutionReport } from '../../src/protocol/fix/messages.ts';
import { MemoryFixStore } from '../../src/protocol/fix/store.ts';
import type { FixMessage } from '../../src/protocol/fix/codec.ts';
import { FixAcceptor } from '../../src/sim/fix-acceptor.ts';
import { FixTestClient } from '../support/fix-test-client.ts';
import { ToyFixApplication } from '../support/fix-toy-app.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function has(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

const missing = ['java', 'javac', 'mvn'].filter((tool) => !has(tool));
const skip = missing.length > 0 ? `QuickFIX/J interop needs ${missing.join(', ')} on PATH (not found)` : false;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command with a hard time limit (the child is killed at the limit). */
function run(command: string, args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let classpathPromise: Promise<string> | undefined;

/** Runs scripts/fetch-quickfixj.sh once per process; resolves with the java -cp value. */
function quickfixjClasspath(): Promise<string> {
  classpathPromise ??= run('bash', [join(ROOT, 'scripts', 'fetch-quickfixj.sh'), '--classpath'], 300_000).then((fetched) => {
    assert.equal(fetched.code, 0, `scripts/fetch-quickfixj.sh failed:\n${fetched.stderr}`);
    return fetched.stdout.trim().split('\n').at(-1)!;
  });
  return classpathPromise;
}

const JVM_FLAGS = ['-Xshare:auto', '-XX:TieredStopAtLevel=1'];

type Line =
  | { event: 'in' | 'out'; raw: string }
  | { event: 'qfj'; level: 'event' | 'error'; text: string }
  | { event: 'logon' | 'logout' }
  | { event: 'app'; msgType: string; fields: Record<string, string> }
  | { event: 'listening'; port: number }
  | { event: 'done'; ok: boolean; error?: string };

test('QuickFIX/J initiator trades with the FixAcceptor without a single session Reject', { skip, timeout: 360_000 }, async () => {
  const classpath = await quickfixjClasspath();

  const app = new ToyFixApplication();
  const acceptor = new FixAcceptor({ application: app, sessions: [{ targetCompId: 'QFJ' }], logger: silentLogger, closeGraceMs: 500 });
  const { port } = await acceptor.start({ port: 0, host: '127.0.0.1' });
  try {
    const started = Date.now();
    const result = await run('java', [...JVM_FLAGS, '-cp', classpath, 'QfjInitiator', '127.0.0.1', String(port), 'QFJ', 'SIM'], 60_000);
    const elapsed = Date.now() - started;
    const lines: Line[] = result.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Line);
    const transcript = `exit ${result.code} after ${elapsed} ms\n${result.stdout}\n${result.stderr}`;

    // QuickFIX/J completed the whole conversation and found nothing wrong with our messages.
    assert.deepEqual(lines.at(-1), { event: 'done', ok: true }, transcript);
    assert.equal(result.code, 0, transcript);
    assert.ok(lines.some((l) => l.event === 'logon'), transcript);
    assert.ok(lines.some((l) => l.event === 'logout'), transcript);
    const errors = lines.filter((l) => l.event === 'qfj' && l.level === 'error');
    assert.deepEqual(errors, [], 'QuickFIX/J logged no errors (invalid message, checksum, body length, ...)');
    const sentByQfj = lines.filter((l): l is { event: 'out'; raw: string } => l.event === 'out').map((l) => l.raw);
    assert.ok(!sentByQfj.some((raw) => /\|35=(3|j)\|/.test(raw)), `QuickFIX/J sent no Reject/BusinessMessageReject:\n${sentByQfj.join('\n')}`);
    assert.ok(sentByQfj[0]?.includes('|35=A|') && sentByQfj[0].includes('|141=Y|'), 'QuickFIX/J logged on with ResetSeqNumFlag=Y');
    const receivedByQfj = lines.filter((l): l is { event: 'in'; raw: string } => l.event === 'in').map((l) => l.raw);
    assert.ok(receivedByQfj[0]?.includes('|35=A|') && receivedByQfj[0].includes('|141=Y|'), 'our Logon answer echoes ResetSeqNumFlag=Y');
    assert.ok(receivedByQfj.at(-1)?.includes('|35=5|'), 'our Logout answer arrived');

    // What QuickFIX/J decoded from our ExecutionReports and OrderCancelReject.
    const appMessages = lines.filter((l): l is { event: 'app'; msgType: string; fields: Record<string, string> } => l.event === 'app');
    const exec = (execType: string, clOrdId: string) => appMessages.find((m) => m.msgType === '8' && m.fields['150'] === execType && m.fields['11'] === clOrdId)?.fields;
    const ack = exec('0', 'QFJ-1');
    assert.ok(ack, transcript);
    assert.equal(ack['39'], '0');
    assert.equal(Number(ack['151']), 1000);
    assert.equal(ack['55'], '600000');
    assert.equal(ack['207'], 'XSHG', 'the symbol is echoed in the style the client used');
    const fill = exec('F', 'QFJ-1');
    assert.ok(fill, transcript);
    assert.equal(Number(fill['32']), 500);
    assert.equal(Number(fill['31']), 10.05);
    assert.equal(Number(fill['6']), 10.05);
    assert.equal(Number(fill['14']), 500);
    assert.equal(Number(fill['151']), 500);
    assert.ok(exec('I', 'QFJ-1'), 'OrderStatusRequest answered with ExecType I');
    const canceled = exec('4', 'QFJ-2');
    assert.ok(canceled, transcript);
    assert.equal(canceled['41'], 'QFJ-1');
    assert.equal(canceled['39'], '4');
    assert.equal(Number(canceled['151']), 0);
    const cxlReject = appMessages.find((m) => m.msgType === '9')?.fields;
    assert.equal(cxlReject?.['11'], 'QFJ-3');
    assert.equal(cxlReject?.['102'], '1');
    assert.equal(cxlReject?.['434'], '1');

    // What we decoded from QuickFIX/J: the price arrived exactly, nothing was garbled or rejected.
    const order = app.orders.get('QFJ-1');
    assert.equal(order?.order.price, 100_500);
    assert.equal(order?.order.instrument.symbol, '600000.SH');
    assert.equal(order?.order.orderType, 'LIMIT');
    const stats = acceptor.stats();
    assert.equal(stats.malformed, 0);
    assert.equal(stats.sessionRejectsSent, 0);
    assert.equal(stats.sessionRejectsReceived, 0);
    assert.equal(stats.businessRejectsSent, 0);
    assert.equal(stats.logons, 1);
    assert.equal(stats.applicationIn, 4);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(acceptor.stats().disconnectReasons.logout, 1);
  } finally {
    await acceptor.close();
  }
});

/** A running QfjAcceptor: its JSON lines as they arrive, and its exit. */
function startQfjAcceptor(classpath: string, sender: string, target: string, expectedLogouts: number) {
  const child = spawn('java', [...JVM_FLAGS, '-cp', classpath, 'QfjAcceptor', sender, target, String(expectedLogouts)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Line[] = [];
  let stdout = '';
  let stderr = '';
  let pending = '';
  const waiters = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    pending += chunk.toString();
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.startsWith('{')) lines.push(JSON.parse(line) as Line);
    }
    for (const w of [...waiters]) w();
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(killer);
      for (const w of [...waiters]) w();
      resolve(code);
    }),
  );
  const waitLine = (predicate: (l: Line) => boolean, timeoutMs: number, what: string): Promise<Line> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = lines.find(predicate);
        if (found) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        } else if (child.exitCode !== null) {
          waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`QfjAcceptor exited before ${what}:\n${stdout}\n${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}:\n${stdout}\n${stderr}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  return { child, lines, exited, waitLine, transcript: () => `${stdout}\n${stderr}` };
}

test('our initiator trades with a QuickFIX/J acceptor and recovers sequence gaps both ways', { skip, timeout: 360_000 }, async () => {
  const classpath = await quickfixjClasspath();
  const qfj = startQfjAcceptor(classpath, 'QFJ', 'TRIQUANT', 2);
  const store = new MemoryFixStore();
  const clients: FixTestClient[] = [];
  try {
    const listening = (await qfj.waitLine((l) => l.event === 'listening', 20_000, 'listening')) as { event: 'listening'; port: number };
    assert.ok(listening.port > 0);
    const connect = (reset: boolean) => {
      const client = new FixTestClient({ port: listening.port, senderCompId: 'TRIQUANT', targetCompId: 'QFJ', store, resetSeqNumOnLogon: reset });
      clients.push(client);
      return client;
    };
    const execs = (client: FixTestClient) =>
      client.app.filter((m) => m.msgType === MsgType.ExecutionReport).map((m) => {
        const parsed = parseExecutionReport(m);
        assert.ok(parsed.ok, `we parse QuickFIX/J's ExecutionReport: ${m.toString()} ${JSON.stringify(parsed)}`);
        return { message: m, report: parsed.value };
      });
    const isExec = (execType: string, clOrdId: string) => (m: FixMessage) => m.get(Tag.ExecType) === execType && m.get(Tag.ClOrdID) === clOrdId;
    const now = () => Date.now() * 1000;

    // Session 1: logon with ResetSeqNumFlag=Y, trade, status, cancel, logout.
    const first = connect(true);
    await first.logon(10_000);
    first.send(MsgType.NewOrderSingle, buildNewOrderSingle({ clOrdId: 'T1', account: 'ACC1', symbol: '600000.SH', symbolStyle: 'mic', side: 'BUY', orderType: 'LIMIT', price: 100_500, orderQty: 1_000, transactTime: now() }));
    await first.waitForApp(isExec('F', 'T1'), 'fill from QuickFIX/J', 10_000);
    first.send(MsgType.OrderStatusRequest, buildOrderStatusRequest({ clOrdId: 'T1', symbol: '600000.SH', symbolStyle: 'mic', side: 'BUY' }));
    await first.waitForApp(isExec('I', 'T1'), 'status from QuickFIX/J', 10_000);
    first.send(MsgType.OrderCancelRequest, buildOrderCancelRequest({ origClOrdId: 'T1', clOrdId: 'T2', symbol: '600000.SH', symbolStyle: 'mic', side: 'BUY', orderQty: 1_000, transactTime: now() }));
    await first.waitForApp(isExec('4', 'T2'), 'cancel from QuickFIX/J', 10_000);
    const reports = execs(first);
    const fill = reports.find((r) => r.report.execType === 'F')!.report;
    assert.equal(fill.lastQty, 500);
    assert.equal(fill.lastPx, 100_500, 'QuickFIX/J decimal prices parse to exact units');
    assert.equal(fill.avgPx, 100_500);
    assert.equal(fill.cumQty, 500);
    assert.equal(fill.leavesQty, 500);
    assert.equal(fill.symbol, '600000.SH');
    assert.equal(reports.find((r) => r.report.execType === '4')!.report.origClOrdId, 'T1');
    await first.logout('session one done', 5_000);
    assert.equal(first.disconnects[0]?.reason, 'logout');
    // QuickFIX/J refuses a second connection for a session it still believes connected: wait
    // for its logout callback (which also stores AWAY-1) before reconnecting.
    await qfj.waitLine((l) => l.event === 'logout', 10_000, 'QuickFIX/J logout callback');

    // While away: QuickFIX/J stores an ExecutionReport for us (see QfjAcceptor.onLogout), and
    // we lose three of our own sequence numbers.
    store.setNextSenderSeq(store.getNextSenderSeq() + 3);

    // Session 2: no reset; both sides see a too-high Logon and recover. Like any initiator we
    // wait a moment and retry: QuickFIX/J handles the previous connection's close
    // asynchronously and may apply it to a connection opened immediately after.
    let second = connect(false);
    for (let attempt = 1; ; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      try {
        await second.logon(5_000);
        break;
      } catch (error) {
        if (attempt === 3 || second.connected) throw error;
        second = connect(false);
      }
    }
    const away = await second.waitForApp((m) => m.get(Tag.ExecID) === 'AWAY-1', 'the report sent while we were away', 10_000);
    assert.equal(away.get(Tag.PossDupFlag), 'Y');
    assert.ok(away.get(Tag.OrigSendingTime));
    assert.ok(second.events.some((e) => e.type === 'resend-requested'), 'we asked QuickFIX/J for the gap');
    await second.until(() => second.session.stats.gapFillsSent >= 1, 10_000, 'our GapFill for the skipped seqs');
    second.send(MsgType.NewOrderSingle, buildNewOrderSingle({ clOrdId: 'T3', symbol: '000001.SZ', side: 'SELL', orderType: 'LIMIT', price: 123_400, orderQty: 200, transactTime: now() }));
    const fill2 = await second.waitForApp(isExec('F', 'T3'), 'fill after reconnect', 10_000);
    assert.equal(fill2.get(Tag.Symbol), '000001.SZ');
    execs(second);
    await second.logout('session two done', 5_000);

    const code = await qfj.exited;
    const transcript = qfj.transcript();
    assert.equal(code, 0, transcript);
    assert.deepEqual(qfj.lines.at(-1), { event: 'done', ok: true }, transcript);
    const errors = qfj.lines.filter((l) => l.event === 'qfj' && l.level === 'error');
    assert.deepEqual(errors, [], `QuickFIX/J logged no errors:\n${transcript}`);
    const sentByQfj = qfj.lines.filter((l): l is { event: 'out'; raw: string } => l.event === 'out').map((l) => l.raw);
    assert.ok(!sentByQfj.some((raw) => /\|35=(3|j)\|/.test(raw)), `QuickFIX/J rejected nothing:\n${transcript}`);
    assert.ok(sentByQfj.some((raw) => /\|35=2\|/.test(raw)), 'QuickFIX/J asked us for the skipped seqs');
    const receivedByQfj = qfj.lines.filter((l): l is { event: 'in'; raw: string } => l.event === 'in').map((l) => l.raw);
    assert.ok(receivedByQfj.some((raw) => /\|35=4\|/.test(raw) && raw.includes('|123=Y|')), 'and accepted our SequenceReset-GapFill');
    const received = qfj.lines.filter((l): l is { event: 'app'; msgType: string; fields: Record<string, string> } => l.event === 'app');
    assert.deepEqual(received.map((m) => [m.msgType, m.fields['11']]), [['D', 'T1'], ['H', 'T1'], ['F', 'T2'], ['D', 'T3']]);
    assert.equal(Number(received[0]!.fields['44']), 10.05);
    for (const client of clients) {
      assert.deepEqual(client.decodeErrors, []);
      assert.equal(client.session.stats.rejectsReceived, 0);
      assert.equal(client.app.filter((m) => m.msgType === MsgType.BusinessMessageReject).length, 0);
    }
  } catch (error) {
    const clientState = clients.map((c, i) => `client ${i}: state=${c.session.state} disconnects=${JSON.stringify(c.disconnects)} received=${c.received.map((m) => m.toString()).join('\n  ')}`);
    throw new Error(`${(error as Error).message}\n--- our clients ---\n${clientState.join('\n')}\n--- QuickFIX/J ---\n${qfj.transcript()}`, { cause: error });
  } finally {
    for (const client of clients) await client.close();
    if (qfj.child.exitCode === null) qfj.child.kill('SIGKILL');
    await qfj.exited;
  }
});
