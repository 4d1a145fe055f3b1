/** `triquant execution`: the risk & execution service (gRPC for strategies, FIX to the venue). */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Config } from '../config/schema.ts';
import { redisOptionsFor } from './redis-options.ts';
import { createLogger } from '../obs/log.ts';
import { resolve } from 'node:path';
import { ExecutionService, runningGrpcAddress } from '../execution/service.ts';
import { buildUniverse } from '../sim/universe.ts';
import { shutdownInPhases, untilStopped } from './run.ts';
import { EXIT_OK } from './exit-codes.ts';
import { parseHostPort, parsePort, parsePositive } from './parse.ts';

export interface ExecutionCommandOptions {
  simFix?: { host: string; port: number };
  redisUrl?: string;
  grpcPort?: number;
  metricsPort?: number;
  dataDir?: string;
  duration?: number;
  portsJson?: string;
}

export function configureExecutionCommand(cmd: Command): Command {
  return cmd
    .option('--sim-fix <host:port>', 'FIX acceptor to route orders to, e.g. the port `triquant sim` logs (default: config execution.broker, else sim.host/sim.fixPort)', parseHostPort)
    .option('--redis-url <url>', 'Redis holding the market-data streams, for reference prices (default: config redis.*)')
    .option('--grpc-port <port>', 'gRPC port for strategies and the Admin API, 0 = any free port (config execution.grpcPort)', parsePort)
    .option('--metrics-port <port>', 'Prometheus /metrics port, 0 = any free port (config execution.metricsPort)', parsePort)
    .option('--data-dir <dir>', 'where the journal and FIX store live: <dir>/execution (config dataDir)')
    .option('--duration <seconds>', 'stop by itself after this many seconds', parsePositive)
    .option('--ports-json <file>', 'write the bound ports as JSON to this file once listening')
    .addHelpText(
      'after',
      '\nOn start the journal is replayed and open orders are reconciled with the venue before new orders go out.\n' +
        'Kill switch: `triquant kill-switch`. Details: docs/execution.md.',
    );
}

export async function runExecution(options: ExecutionCommandOptions, config: Config): Promise<number> {
  const log = createLogger({ level: config.logLevel, component: 'execution' });
  const redis = redisOptionsFor(config, options.redisUrl, 'execution service', 'triquant-execution');
  const service = await ExecutionService.start({
    config, logger: log,
    ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
    ...(options.grpcPort !== undefined ? { grpcPort: options.grpcPort } : {}),
    ...(options.metricsPort !== undefined ? { metricsPort: options.metricsPort } : {}),
    ...(options.simFix !== undefined ? { brokerHost: options.simFix.host, brokerPort: options.simFix.port } : {}),
    redis,
    instruments: config.mode === 'paper' ? buildUniverse() : [],
  });
  if (options.portsJson) {
    writeFileSync(options.portsJson, `${JSON.stringify({ grpc: service.grpcPort, metrics: service.metrics.port, pid: process.pid })}\n`);
  }
  const status = setInterval(() => {
    log.info('status', { mode: service.oms.mode, broker: service.broker.state, sessions: service.sessions.connectedInstances().length, ...service.oms.counters });
  }, 10_000);
  status.unref();
  const why = await untilStopped(log, options.duration);
  log.info(`stopping: ${why}`);
  clearInterval(status);
  await shutdownInPhases(log, [['execution service', () => service.close()]], config.execution.shutdownGraceMs * 8);
  return EXIT_OK;
}

/**
 * The execution service's gRPC address from the config: execution.host:grpcPort, or, when
 * grpcPort is 0 (a free port, as under `triquant up`), the address a running service wrote
 * under dataDir. Undefined when neither is known.
 */
export function configuredExecutionAddress(config: Config): string | undefined {
  return config.execution.grpcPort !== 0 ? `${config.execution.host}:${config.execution.grpcPort}` : runningGrpcAddress(resolve(config.dataDir));
}
