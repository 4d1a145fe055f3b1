/** `triquant strategy`: the strategy host — each configured strategy instance in its own OS process. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { ConfigError } from '../core/errors.ts';
import type { Config } from '../config/schema.ts';
import { redisOptionsFor } from './redis-options.ts';
import { configuredExecutionAddress } from './execution.ts';
import { createLogger } from '../obs/log.ts';
import { createServiceRegistry, startMetricsServer } from '../obs/metrics.ts';
import {
  planInstances,
  type InstancePlan,
  type InstanceSettings,
  type StrategiesConfig,
} from '../strategy/host-config.ts';
import { StrategyHost } from '../strategy/host.ts';
import { shutdownInPhases, untilStopped } from './run.ts';
import { EXIT_FAILURE, EXIT_OK } from './exit-codes.ts';
import { parseAddress, parsePort, parsePositive } from './parse.ts';

export interface StrategyCommandOptions {
  only?: string[];
  redisUrl?: string;
  execution?: string;
  dryRun?: boolean;
  metricsPort?: number;
  duration?: number;
  statusJson?: string;
}

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export function configureStrategyCommand(cmd: Command): Command {
  return cmd
    .option('--only <name>', 'run only this configured strategy (repeatable)', (value: string, previous: string[] = []) => [...previous, value])
    .option('--redis-url <url>', 'Redis to read market data from (standalone); default: config redis.*')
    .option('--execution <host:port>', 'the execution service (gRPC); default: config strategies.execution, else execution.host:grpcPort, else the address a running service wrote under dataDir', parseAddress)
    .option('--dry-run', 'send no orders: every order is denied locally with reason DRY_RUN (no execution service needed)')
    .option('--metrics-port <port>', 'Prometheus /metrics port, 0 = any free port (config strategies.metricsPort)', (v) => parsePort(v))
    .option('--duration <seconds>', 'stop by itself after this many seconds', parsePositive)
    .option('--status-json <file>', 'on exit, write every instance’s final status as JSON to this file')
    .addHelpText(
      'after',
      '\nStrategies are listed in the config under strategies.run (file, symbols, account, params, instances).\n' +
        'Each instance runs in its own process, reads its Redis consumer group and trades over its own gRPC stream;\n' +
        'a crashed instance restarts from its last checkpoint. Ctrl-C stops every instance gracefully (onStop runs).\n' +
        'Writing strategies and deploying them: docs/strategy-api.md.',
    );
}

/** What every instance process of this host gets besides its plan. */
export function instanceSettings(plan: InstancePlan, config: Config, section: StrategiesConfig, redisUrl: string | undefined, execution: string): InstanceSettings {
  return {
    plan,
    redis: redisOptionsFor(config, redisUrl, 'strategy host', `triquant-strategy-${plan.name}-${plan.instanceId}`),
    slotGroups: config.gateway.slotGroups,
    marketData: section.marketData,
    checkpointIntervalMs: section.checkpointIntervalMs,
    execution,
    reconnect: { initialMs: 200, maxMs: 10_000 },
    logLevel: config.logLevel,
    holidays: config.market.holidays,
    fees: config.fees,
    statusIntervalMs: 1_000,
  };
}

export async function runStrategy(options: StrategyCommandOptions, config: Config): Promise<number> {
  const log = createLogger({ level: config.logLevel, component: 'strategy-host' });
  const section = config.strategies;
  // Everything is validated (files load, parameters pass each strategy's schema) before any process starts.
  const plans = await planInstances(section, { projectRoot: PROJECT_ROOT, ...(options.only === undefined ? {} : { only: options.only }) });
  redisOptionsFor(config, options.redisUrl, 'strategy host', 'triquant-strategy'); // refuses embedded with the reason
  let execution: string | undefined;
  if (options.dryRun === true) execution = 'dry-run';
  else if (options.execution !== undefined) execution = options.execution;
  else if (section.execution !== '') execution = section.execution;
  else if (plans.length === 0) execution = 'dry-run';
  else execution = configuredExecutionAddress(config);
  if (execution === undefined) {
    throw new ConfigError('strategies.execution', 'no execution service address: execution.grpcPort is 0 (any free port) and no running service wrote its address under dataDir; pass --execution host:port (the port `triquant execution` logs), set strategies.execution, or use --dry-run');
  }
  if (execution !== 'dry-run') {
    for (const plan of plans.filter((p) => p.token === '')) {
      log.warn('no auth token for this strategy (strategies.run[].token, TRIQUANT_TOKEN_<NAME> or TRIQUANT_TOKEN); the execution service may refuse it', { strategy: plan.name });
    }
  }

  if (plans.length === 0) {
    // Not an error: `triquant up` starts the host whether or not strategies are configured.
    log.warn('no enabled strategy to run (strategies.run is empty): add one — see docs/strategy-api.md, "Running strategies"; idling until stopped');
  }
  const registry = createServiceRegistry('strategy');
  const host = new StrategyHost({
    plans,
    settingsFor: (plan) => instanceSettings(plan, config, section, options.redisUrl, execution),
    restart: section.restart,
    crashLoop: section.crashLoop,
    stableAfterMs: section.stableAfterMs,
    stopGraceMs: section.stopGraceMs,
    log,
    registry,
  });
  const metrics = await startMetricsServer(registry, '127.0.0.1', options.metricsPort ?? section.metricsPort);
  log.info(`metrics on ${metrics.url}`);
  log.info('starting strategy instances', { instances: plans.map((p) => p.key), execution, dryRun: execution === 'dry-run' });
  host.start();

  // Stop when asked, when --duration passes, or when no instance is left running (all crash-looping).
  const allGaveUp = new Promise<string>((resolve) => {
    host.on('alert', () => {
      const all = host.status();
      if (all.length > 0 && all.every((s) => s.state === 'crash-loop')) resolve('every instance is crash-looping');
    });
  });
  const status = setInterval(() => {
    const all = host.status();
    log.info('status', Object.fromEntries(all.map((s) => [s.key, `${s.state} pid=${s.pid ?? '-'} restarts=${s.restarts} ticks=${s.stats?.ticks ?? 0} orders=${s.stats?.ordersSent ?? 0}`])));
  }, 10_000);
  const why = await Promise.race([untilStopped(log, options.duration), allGaveUp]);
  log.info(`stopping: ${why}`);
  clearInterval(status);
  // host.stop() has its own SIGKILL after stopGraceMs; the phase timeout is only a backstop.
  await shutdownInPhases(log, [
    ['strategy instances', () => host.stop()],
    ['metrics', () => metrics.close()],
  ], section.stopGraceMs + 5_000);
  const final = host.status();
  if (options.statusJson !== undefined) writeFileSync(options.statusJson, `${JSON.stringify(final, null, 2)}\n`);
  return final.some((s) => s.state === 'crash-loop') ? EXIT_FAILURE : EXIT_OK;
}
