/**
 * FixBrokerAdapter against a standard third-party FIX engine: QuickFIX/J as the acceptor
 * (test/interop/quickfixj/QfjBrokerVenue.java, a small venue whose FIX44 data dictionary
 * validates every message we send). The whole broker conformance suite runs against it, one
 * JVM per test; afterwards each transcript is checked for QuickFIX/J errors and Rejects.
 *
 * Skipped only when `java`, `javac` or `mvn` is not installed; scripts/fetch-quickfixj.sh
 * fetches the jars on the first run and compiles the Java programs.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LiveClock } from '../../src/core/clock.ts';
import { FixBrokerAdapter, openFixBrokerStore } from '../../src/execution/broker/fix-broker.ts';
import type { BrokerOrder } from '../../src/execution/ports.ts';
import { silentLogger } from '../../src/obs/log.ts';
import { brokerConformance, type BrokerVenue } from '../support/broker-conformance.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const JVM_FLAGS = ['-Xshare:auto', '-XX:TieredStopAtLevel=1'];

function has(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

const missing = ['java', 'javac', 'mvn'].filter((tool) => !has(tool));
const skip = missing.length > 0 ? `QuickFIX/J interop needs ${missing.join(', ')} on PATH (not found)` : false;

let classpathPromise: Promise<string> | undefined;

/** Runs scripts/fetch-quickfixj.sh once per process; resolves with the java -cp value. */
function quickfixjClasspath(): Promise<string> {
  classpathPromise ??= new Promise((resolve, reject) => {
    const child = spawn('bash', [join(ROOT, 'scripts', 'fetch-quickfixj.sh'), '--classpath'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout.trim().split('\n').at(-1)!);
      else reject(new Error(`scripts/fetch-quickfixj.sh failed (${code}):\n${stderr}`));
    });
  });
  return classpathPromise;
}

type Line =
  | { event: 'in' | 'out'; raw: string }
  | { event: 'qfj'; level: 'event' | 'error'; text: string }
  | { event: 'listening'; port: number }
  | { event: 'accepted' | 'filled'; clOrdId: string }
  | { event: 'pong'; id: string }
  | { event: 'app'; msgType: string; clOrdId: string; possDup: boolean }
  | { event: 'logon' | 'logout' | 'done' };

/** A running QfjBrokerVenue: its JSON lines as they arrive. */
class QfjProcess {
  readonly lines: Line[] = [];
  readonly exited: Promise<void>;
  private readonly child: ChildProcessWithoutNullStreams;
  private stdout = '';
  private stderr = '';
  private pending = '';
  private pings = 0;
  private readonly waiters = new Set<() => void>();

  constructor(classpath: string) {
    this.child = spawn('java', [...JVM_FLAGS, '-cp', classpath, 'QfjBrokerVenue', 'QFJ', 'TRIQUANT'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      this.stdout += text;
      this.pending += text;
      let nl: number;
      while ((nl = this.pending.indexOf('\n')) >= 0) {
        const line = this.pending.slice(0, nl);
        this.pending = this.pending.slice(nl + 1);
        if (line.startsWith('{')) this.lines.push(JSON.parse(line) as Line);
      }
      for (const w of [...this.waiters]) w();
    });
    this.child.stderr.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.exited = new Promise((resolve) =>
      this.child.on('close', () => {
        for (const w of [...this.waiters]) w();
        resolve();
      }),
    );
  }

  transcript(): string {
    return `${this.stdout}\n${this.stderr}`;
  }

  waitLine(predicate: (l: Line) => boolean, what: string, timeoutMs = 20_000): Promise<Line> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.lines.find(predicate);
        if (found) {
          this.waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        } else if (this.child.exitCode !== null) {
          this.waiters.delete(check);
          clearTimeout(timer);
          reject(new Error(`QfjBrokerVenue exited before ${what}:\n${this.transcript()}`));
        }
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}:\n${this.transcript()}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  command(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** Resolves once every line the venue printed before now has been read. */
  async barrier(): Promise<void> {
    const id = `p${++this.pings}`;
    this.command(`ping ${id}`);
    await this.waitLine((l) => l.event === 'pong' && l.id === id, `pong ${id}`);
  }

  async stop(): Promise<void> {
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

async function startQfjVenue(): Promise<BrokerVenue> {
  const classpath = await quickfixjClasspath();
  const qfj = new QfjProcess(classpath);
  const listening = (await qfj.waitLine((l) => l.event === 'listening', 'listening')) as { event: 'listening'; port: number };
  const clock = new LiveClock();
  const dir = mkdtempSync(join(tmpdir(), 'fix-broker-qfj-'));
  const order = (clientOrderId: string, fields: Partial<BrokerOrder>): BrokerOrder => ({
    clientOrderId, account: 'ACC1', symbol: '600000.SH', side: 'BUY', orderType: 'LIMIT', price: 100_000, quantity: 200, createdAt: clock.nowMicros(), ...fields,
  });
  return {
    createAdapter: (stateKey) =>
      new FixBrokerAdapter({
        host: '127.0.0.1', port: listening.port, senderCompId: 'TRIQUANT', targetCompId: 'QFJ', heartBtIntSeconds: 5,
        store: openFixBrokerStore(join(dir, stateKey), 'TRIQUANT', 'QFJ'), clock, log: silentLogger,
        // QuickFIX/J refuses a logon while it still holds the previous connection: retry soon.
        reconnect: { initialMs: 100, maxMs: 500 }, reconcileTimeoutMs: 5_000, symbolStyle: 'mic',
      }),
    restingOrder: (id) => order(id, {}),
    marketableOrder: async (id) => order(id, { price: 250_000, quantity: 500 }),
    rejectedOrder: (id) => ({ order: order(id, { quantity: 150 }), reason: /NOT_LOT_MULTIPLE/ }),
    async fillResting(o) {
      qfj.command(`fill ${o.clientOrderId}`);
      await qfj.waitLine((l) => l.event === 'filled' && l.clOrdId === o.clientOrderId, `fill of ${o.clientOrderId}`);
    },
    async venueOrderCount(id) {
      await qfj.barrier();
      return qfj.lines.filter((l) => l.event === 'accepted' && l.clOrdId === id).length;
    },
    async close() {
      await qfj.stop();
      rmSync(dir, { recursive: true, force: true });
      // Our messages passed QuickFIX/J's dictionary validation: no errors, no Reject, no BusinessMessageReject.
      const errors = qfj.lines.filter((l) => l.event === 'qfj' && l.level === 'error');
      assert.deepEqual(errors, [], `QuickFIX/J logged no errors:\n${qfj.transcript()}`);
      const sent = qfj.lines.filter((l): l is { event: 'out'; raw: string } => l.event === 'out').map((l) => l.raw);
      assert.ok(!sent.some((raw) => /\|35=(3|j)\|/.test(raw)), `QuickFIX/J rejected nothing:\n${qfj.transcript()}`);
    },
  };
}

brokerConformance('FIX adapter ↔ QuickFIX/J', startQfjVenue, { skip, timeoutMs: 360_000 });
