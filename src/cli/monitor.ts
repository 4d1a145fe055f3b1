/** `triquant monitor`: the monitoring dashboard and alerts, as a standalone service. */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../core/errors.ts';
import { createLogger } from '../obs/log.ts';
import { MonitorService } from '../monitor/monitor.ts';
import type { MetricsTarget } from '../monitor/collector.ts';
import { resolveAdminToken } from '../execution/service.ts';
import { configuredExecutionAddress } from './execution.ts';
import { shutdownInPhases, untilStopped } from './run.ts';
import { redisOptionsFor } from './redis-options.ts';
import { EXIT_OK } from './exit-codes.ts';
import { parseAddress, parsePort, parsePositive } from './parse.ts';

export interface MonitorCommandOptions {
  host?: string;
  port?: number;
  target?: string[];
  execution?: string;
  redisUrl?: string;
  duration?: number;
}

function collectTarget(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** `name=http://host:port/metrics`. */
export function parseTarget(text: string): MetricsTarget {
  const eq = text.indexOf('=');
  const name = eq > 0 ? text.slice(0, eq) : '';
  const url = eq > 0 ? text.slice(eq + 1) : '';
  if (name === '' || !/^https?:\/\/\S+$/.test(url)) {
    throw new ConfigError('--target', `"${text}" is not name=http://host:port/metrics`);
  }
  return { name, url };
}

export function configureMonitorCommand(cmd: Command): Command {
  return cmd
    .option('--host <address>', 'address to bind the dashboard (config monitor.host; loopback by default)')
    .option('--port <port>', 'dashboard port, 0 = any free port (config monitor.port)', parsePort)
    .option('--target <name=url>', 'a service /metrics to read (repeatable; config monitor.targets)', collectTarget)
    .option('--execution <host:port>', 'the execution service gRPC address for orders, positions and the kill switch (config monitor.execution, else execution.host:grpcPort, else the address a running service wrote under dataDir)', parseAddress)
    .option('--redis-url <url>', 'Redis to inspect (standalone); default: config redis.*')
    .option('--duration <seconds>', 'stop by itself after this many seconds', parsePositive)
    .addHelpText(
      'after',
      '\nThe dashboard pushes a snapshot every monitor.intervalMs over Server-Sent Events. Changing the\n' +
        'kill switch there needs the admin token; the execution service checks and audits it.',
    );
}

export async function runMonitor(options: MonitorCommandOptions, config: Config): Promise<number> {
  const log = createLogger({ level: config.logLevel, component: 'monitor' });
  const m = config.monitor;
  const targets = options.target?.map(parseTarget) ?? m.targets;
  const execution = options.execution ?? (m.execution !== '' ? m.execution : (configuredExecutionAddress(config) ?? ''));
  const token = execution === '' ? undefined : resolveAdminToken(config, resolve(config.dataDir), false);
  if (execution !== '' && token === undefined) log.warn('no admin token found: orders, positions and trading state stay empty (set TRIQUANT__EXECUTION__ADMIN_TOKEN)');
  const redisMode = options.redisUrl ? 'standalone' : config.redis.mode;
  const service = await MonitorService.start({
    host: options.host ?? m.host,
    port: options.port ?? m.port,
    intervalMs: m.intervalMs,
    historyPoints: m.historyPoints,
    targets,
    // Without a Redis to reach (embedded outside `triquant up`) the Redis panels stay empty.
    ...(redisMode === 'embedded' ? {} : { redis: redisOptionsFor(config, options.redisUrl, 'monitor', 'triquant-monitor') }),
    keyPrefix: config.redis.keyPrefix,
    ...(execution !== '' && token !== undefined ? { admin: { address: execution, token } } : {}),
    accounts: config.execution.accounts.map((a) => a.id),
    thresholds: {
      consumerLagEntries: m.alerts.consumerLagEntries,
      redisMemoryPct: m.alerts.redisMemoryPct,
      redisMemoryBytes: m.alerts.redisMemoryMb * 2 ** 20,
      orderRatePct: m.alerts.orderRatePct,
      dailyCountPct: m.alerts.dailyCountPct,
      grpcDisconnectedMs: m.alerts.grpcDisconnectedMs,
    },
    log,
  });
  log.info(`dashboard: ${service.url}`, { targets: targets.map((t) => t.name), execution: execution || 'none' });
  const why = await untilStopped(log, options.duration);
  log.info(`stopping: ${why}`);
  await shutdownInPhases(log, [['dashboard', () => service.close()]]);
  return EXIT_OK;
}
