/**
 * `triquant up`: the whole system on one machine, each service in its own process, on
 * embedded defaults — a private redis-server under dataDir when `redis.mode` is embedded, the
 * simulator as exchange, the SQLite audit journal. Ports are chosen free up front and handed
 * to every child through TRIQUANT__* environment overrides, so all of them read one consistent
 * configuration. Start order is dependency order (sim → gateway → execution → strategies →
 * monitor), each waiting for the previous one's /healthz; shutdown is the reverse, each
 * child drained (SIGTERM, then SIGKILL after the grace period) and scraped one last time
 * first, so the summary counts everything that happened.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/schema.ts';
import { createLogger } from '../obs/log.ts';
import { EmbeddedRedis, EmbeddedRedisError, freeLoopbackPort } from '../bus/embedded-redis.ts';
import { parsePrometheusText, sumOf, byLabel, type Sample } from '../monitor/prom-text.ts';
import { METRIC } from '../monitor/collector.ts';
import { STATE_VALUE } from '../execution/metrics.ts';
import { untilStopped } from './run.ts';
import { EXIT_FAILURE, EXIT_OK } from './exit-codes.ts';
import type { CliIo } from './main.ts';

const BIN = fileURLToPath(new URL('../../bin/triquant.js', import.meta.url));

export interface UpOptions {
  duration?: number;
  summaryJson?: string;
  /** Print the live status line every this many ms (default 2000 on a TTY, 10000 otherwise). */
  statusEveryMs?: number;
  /** The configuration file this command loaded (`--config` or TRIQUANT_CONFIG); every child reads it too. */
  configFile?: string;
}

interface ServiceSpec {
  readonly name: string;
  readonly args: readonly string[];
  readonly metricsPort: number;
}

interface RunningService {
  readonly spec: ServiceSpec;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stopping: boolean;
  lastSamples: Sample[];
  stderrTail: string;
}

async function scrape(port: number): Promise<Sample[] | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2_000) });
    if (!response.ok) return undefined;
    return parsePrometheusText(await response.text()).samples;
  } catch {
    return undefined;
  }
}

async function waitHealthy(service: RunningService, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void service.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${service.spec.name} exited while starting: ${service.stderrTail.trim().split('\n').slice(-5).join(' | ')}`);
    try {
      const response = await fetch(`http://127.0.0.1:${service.spec.metricsPort}/healthz`, { signal: AbortSignal.timeout(1_000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${service.spec.name} did not become healthy within ${timeoutMs} ms`);
}

function formatStatus(s: UpStatus): string {
  const pnl = (s.realizedPnl / 10_000).toFixed(2);
  return (
    `ticks ${Math.round(s.ticksPerSec)}/s (${s.ticksPublished} published, ${s.ticksConsumed} consumed) · ` +
    `orders ${s.ordersSubmitted} · fills ${s.ordersFilled} · denied ${s.ordersDenied} · P&L ${pnl} CNY · trading ${s.tradingState}` +
    (s.errors > 0 ? ` · errors ${s.errors}` : '')
  );
}

interface UpStatus {
  ticksPerSec: number;
  ticksPublished: number;
  ticksConsumed: number;
  ordersSubmitted: number;
  ordersFilled: number;
  ordersDenied: number;
  realizedPnl: number;
  tradingState: string;
  errors: number;
}

/** The trading state named by a value of the execution service's trading-state gauge. */
const TRADING_STATE_NAMES: readonly string[] = Object.entries(STATE_VALUE).reduce<string[]>((names, [name, value]) => ((names[value] = name), names), []);

export async function runUp(options: UpOptions, config: Config, io: CliIo): Promise<number> {
  const log = createLogger({ level: config.logLevel, component: 'up' });
  const dataDir = resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const env: Record<string, string> = {};
  let redis: EmbeddedRedis | undefined;
  if (config.redis.mode === 'embedded') {
    try {
      redis = await EmbeddedRedis.start({ dir: join(dataDir, 'redis') });
    } catch (error) {
      io.err(`triquant up: ${error instanceof EmbeddedRedisError ? error.message : String(error)}\n`);
      return EXIT_FAILURE;
    }
    env.TRIQUANT__REDIS__MODE = 'standalone';
    env.TRIQUANT__REDIS__URL = redis.url;
    log.info('embedded redis-server started', { url: redis.url, dir: redis.dir });
  }
  const ports = {
    simFeed: config.sim.feedPort || (await freeLoopbackPort()),
    simFix: config.sim.fixPort || (await freeLoopbackPort()),
    simMetrics: config.sim.metricsPort || (await freeLoopbackPort()),
    gatewayMetrics: config.gateway.metricsPort || (await freeLoopbackPort()),
    grpc: config.execution.grpcPort || (await freeLoopbackPort()),
    executionMetrics: config.execution.metricsPort || (await freeLoopbackPort()),
    strategyMetrics: config.strategies.metricsPort || (await freeLoopbackPort()),
    monitor: config.monitor.port || (await freeLoopbackPort()),
  };
  Object.assign(env, {
    TRIQUANT__SIM__FEED_PORT: String(ports.simFeed),
    TRIQUANT__SIM__FIX_PORT: String(ports.simFix),
    TRIQUANT__SIM__METRICS_PORT: String(ports.simMetrics),
    TRIQUANT__GATEWAY__METRICS_PORT: String(ports.gatewayMetrics),
    TRIQUANT__EXECUTION__GRPC_PORT: String(ports.grpc),
    TRIQUANT__EXECUTION__METRICS_PORT: String(ports.executionMetrics),
    TRIQUANT__STRATEGIES__METRICS_PORT: String(ports.strategyMetrics),
    TRIQUANT__MONITOR__PORT: String(ports.monitor),
    TRIQUANT__MONITOR__TARGETS: JSON.stringify([
      { name: 'sim', url: `http://127.0.0.1:${ports.simMetrics}/metrics` },
      { name: 'gateway', url: `http://127.0.0.1:${ports.gatewayMetrics}/metrics` },
      { name: 'execution', url: `http://127.0.0.1:${ports.executionMetrics}/metrics` },
      { name: 'strategy', url: `http://127.0.0.1:${ports.strategyMetrics}/metrics` },
    ]),
  });
  const specs: ServiceSpec[] = [
    { name: 'sim', args: ['sim'], metricsPort: ports.simMetrics },
    { name: 'gateway', args: ['gateway'], metricsPort: ports.gatewayMetrics },
    { name: 'execution', args: ['execution'], metricsPort: ports.executionMetrics },
    { name: 'strategy', args: ['strategy'], metricsPort: ports.strategyMetrics },
    { name: 'monitor', args: ['monitor'], metricsPort: ports.monitor },
  ];
  // Every child must read the same file as this process, also when it came as `--config FILE`.
  const configFile = options.configFile === undefined ? undefined : resolve(options.configFile);
  const running: RunningService[] = [];
  let errors = 0;
  let failed = false;
  let reportFailure: (why: string) => void = () => {};
  const aServiceFailed = new Promise<string>((done) => (reportFailure = done));

  const startService = (spec: ServiceSpec): RunningService => {
    const child = spawn(process.execPath, [BIN, ...spec.args], {
      env: { ...process.env, ...env, ...(configFile ? { TRIQUANT_CONFIG: configFile } : {}) },
      // Its own process group: a Ctrl-C at the terminal reaches only `up`, which stops the
      // services in order. The IPC channel tells a service when `up` is gone (killed), so none
      // runs on unsupervised.
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      detached: true,
    });
    const service: RunningService = {
      spec,
      child,
      stopping: false,
      lastSamples: [],
      stderrTail: '',
      exited: new Promise((done) => child.once('exit', (code, signal) => done({ code, signal }))),
    };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      process.stderr.write(chunk);
      service.stderrTail = (service.stderrTail + chunk).slice(-8_000);
    });
    void service.exited.then(({ code, signal }) => {
      if (service.stopping) return;
      errors++;
      failed = true;
      log.error(`${spec.name} exited unexpectedly`, { code, signal });
      reportFailure('a service failed');
    });
    return service;
  };

  const scrapeAll = async (): Promise<void> => {
    await Promise.all(
      running.map(async (s) => {
        const samples = await scrape(s.spec.metricsPort);
        if (samples) s.lastSamples = samples;
      }),
    );
  };
  const samplesOf = (name: string): Sample[] => running.find((s) => s.spec.name === name)?.lastSamples ?? [];
  let lastTicks: { at: number; value: number } | undefined;
  const status = (): UpStatus => {
    const gw = samplesOf('gateway');
    const ex = samplesOf('execution');
    const st = samplesOf('strategy');
    const ticksPublished = sumOf(gw, METRIC.ticksOut) ?? 0;
    const now = Date.now();
    const ticksPerSec = lastTicks && now > lastTicks.at ? ((ticksPublished - lastTicks.value) * 1000) / (now - lastTicks.at) : 0;
    lastTicks = { at: now, value: ticksPublished };
    const global = (byLabel(ex, METRIC.tradingState, 'account').get('') ?? 0) | 0;
    return {
      ticksPerSec: Math.max(0, ticksPerSec),
      ticksPublished,
      ticksConsumed: sumOf(st, METRIC.strategyHandled, { what: 'ticks' }) ?? 0,
      ordersSubmitted: sumOf(ex, METRIC.orders) ?? 0,
      ordersFilled: sumOf(ex, METRIC.ordersFilled) ?? 0,
      ordersDenied: sumOf(ex, METRIC.denials) ?? 0,
      realizedPnl: sumOf(ex, METRIC.realizedPnl) ?? 0,
      tradingState: TRADING_STATE_NAMES[global] ?? 'UNKNOWN',
      // Ticks the gateway gave up on and strategy instances that crash-looped are errors of the run.
      errors: errors + (sumOf(gw, METRIC.ticksDropped) ?? 0) + (sumOf(st, METRIC.strategyCrashLoop) ?? 0),
    };
  };

  let stopReason: string;
  try {
    for (const spec of specs) {
      const service = startService(spec);
      running.push(service);
      await waitHealthy(service, 30_000);
      log.info(`${spec.name} is up`, { pid: service.child.pid, metrics: `http://127.0.0.1:${spec.metricsPort}/metrics` });
    }
    io.err(
      `triquant up: all services running (paper trading against the simulator).\n` +
        `  dashboard: http://${config.monitor.host}:${ports.monitor}/\n` +
        `  gRPC: 127.0.0.1:${ports.grpc} · data: ${dataDir}${redis ? ` · redis: ${redis.url}` : ''}\n` +
        `  Ctrl-C stops everything in order.\n`,
    );
    const everyMs = options.statusEveryMs ?? (process.stderr.isTTY ? 2_000 : 10_000);
    const ticker = setInterval(() => {
      void scrapeAll().then(() => {
        const line = formatStatus(status());
        if (process.stderr.isTTY) io.err(`\r\x1b[2K${line}`);
        else io.err(`${line}\n`);
      });
    }, everyMs);
    stopReason = await Promise.race([untilStopped(log, options.duration), aServiceFailed]);
    clearInterval(ticker);
    if (process.stderr.isTTY) io.err('\n');
  } catch (error) {
    failed = true;
    stopReason = error instanceof Error ? error.message : String(error);
    io.err(`triquant up: ${stopReason}\n`);
  }

  log.info('stopping', { reason: stopReason });
  // Reverse order: the monitor first, then strategies (they drain and commit), execution,
  // gateway (it flushes to Redis), the simulator, and Redis last.
  for (const service of [...running].reverse()) {
    const samples = await scrape(service.spec.metricsPort);
    if (samples) service.lastSamples = samples;
    service.stopping = true;
    if (service.child.exitCode === null && service.child.signalCode === null) {
      service.child.kill('SIGTERM');
      const timer = setTimeout(() => {
        log.warn(`${service.spec.name} did not stop within 15 s; killing it`);
        service.child.kill('SIGKILL');
      }, 15_000);
      const { code, signal } = await service.exited;
      clearTimeout(timer);
      if (code !== 0) {
        errors++;
        log.error(`${service.spec.name} stopped with an error`, { code, signal });
      }
    }
  }
  await redis?.stop();

  const final = status();
  const summary = {
    stop_reason: stopReason,
    services: running.map((s) => s.spec.name),
    ticks_published: final.ticksPublished,
    ticks_consumed: final.ticksConsumed,
    orders_submitted: final.ordersSubmitted,
    orders_filled: final.ordersFilled,
    orders_denied: final.ordersDenied,
    realized_pnl_cny: final.realizedPnl / 10_000,
    trading_state: final.tradingState,
    errors: final.errors,
  };
  io.err(`triquant up: stopped (${stopReason}). ${formatStatus(final)}\n`);
  if (options.summaryJson) writeFileSync(options.summaryJson, `${JSON.stringify(summary, null, 2)}\n`);
  return failed || final.errors > 0 ? EXIT_FAILURE : EXIT_OK;
}
