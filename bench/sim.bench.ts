/**
 * Simulator load mode: `triquant sim --load N` runs as its own process (as in production) in
 * continuous trading with N synthetic orders per second; this process connects one feed
 * client to every channel and counts the market-data events (snapshots and trades) it
 * decodes in sequence. Goal: ≥ 200,000 events per second.
 *
 *   npx triquant bench sim --json
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchDefinition } from './harness.ts';
import { encode, FeedDecoder } from '../src/protocol/feed/codec.ts';

const BIN = fileURLToPath(new URL('../bin/triquant.js', import.meta.url));
const CHANNELS = [1, 2];
const LOAD_ORDERS_PER_SECOND = Number(process.env.TRIQUANT_BENCH_SIM_LOAD ?? 250_000);

const bench: BenchDefinition = {
  name: 'sim',
  description: 'simulator load mode: market-data events per second delivered over TCP to one feed client',
  defaultDurationMs: 5_000,
  async run(ctx) {
    const dir = mkdtempSync(join(tmpdir(), 'tq-bench-sim-'));
    const portsFile = join(dir, 'ports.json');
    const child = spawn(process.execPath, [BIN, 'sim', '--load', String(LOAD_ORDERS_PER_SECOND), '--ports-json', portsFile], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, TRIQUANT__LOG_LEVEL: 'warn' },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      const deadline = Date.now() + 15_000;
      while (!existsSync(portsFile)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`sim did not start: ${stderr.slice(-500)}`);
        await sleep(50);
      }
      const { feed } = JSON.parse(readFileSync(portsFile, 'utf8')) as { feed: number };
      let events = 0;
      let trades = 0;
      let gaps = 0;
      let malformed = 0;
      let logouts = 0;
      const lastSeq = new Map<number, number>();
      const decoder = new FeedDecoder({
        onMessage: (m) => {
          if (m.type === 'logout') logouts++;
          if (m.type !== 'snapshot' && m.type !== 'trade') return;
          events++;
          if (m.type === 'trade') trades++;
          const previous = lastSeq.get(m.channel);
          if (previous !== undefined && m.seq !== previous + 1) gaps++;
          lastSeq.set(m.channel, m.seq);
        },
        onError: () => malformed++,
      });
      const socket = net.createConnection({ port: feed, host: '127.0.0.1', noDelay: true });
      socket.on('data', (chunk: Buffer) => decoder.push(chunk));
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      socket.write(encode({ type: 'logon', protocolVersion: 1, clientId: 'bench', channels: CHANNELS.map((channel) => ({ channel, mode: 'LIVE', lastSeq: 0 })) }));
      // The feed drops clients silent for three heartbeat intervals.
      const heartbeat = setInterval(() => socket.write(encode({ type: 'heartbeat', time: Date.now() * 1000 })), 500);
      await sleep(1_000); // warm-up
      const startEvents = events;
      const startTrades = trades;
      const start = performance.now();
      await sleep(ctx.durationMs);
      const seconds = (performance.now() - start) / 1000;
      const measured = events - startEvents;
      clearInterval(heartbeat);
      socket.destroy();
      if (logouts > 0) throw new Error(`the feed logged the client out during the run: ${stderr.slice(-500)}`);
      return {
        events_per_sec: Math.round(measured / seconds),
        trades_per_sec: Math.round((trades - startTrades) / seconds),
        load_orders_per_sec: LOAD_ORDERS_PER_SECOND,
        events: measured,
        gaps,
        malformed,
        seconds: Number(seconds.toFixed(3)),
      };
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export default bench;
