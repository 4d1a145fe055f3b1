/** `triquant gateway`: market-data ingestion from TCP feeds into Redis Streams. */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { LiveClock } from '../core/clock.ts';
import { ConfigError } from '../core/errors.ts';
import type { Config } from '../config/schema.ts';
import { RedisConnection } from '../bus/redis-connection.ts';
import { createLogger } from '../obs/log.ts';
import { createServiceRegistry, startMetricsServer } from '../obs/metrics.ts';
import { Gateway, type GatewayFeedConfig } from '../gateway/gateway.ts';
import { shutdownInPhases, untilStopped } from './run.ts';
import { redisOptionsFor } from './redis-options.ts';
import { FEED_CHANNEL } from '../sim/simulator.ts';
import { EXIT_OK } from './exit-codes.ts';
import { parsePort, parsePositive } from './parse.ts';

export interface GatewayCommandOptions {
  feed?: GatewayFeedConfig[];
  redisUrl?: string;
  metricsPort?: number;
  duration?: number;
  portsJson?: string;
}

const ALL_CHANNELS = Object.values(FEED_CHANNEL);

export function configureGatewayCommand(cmd: Command): Command {
  return cmd
    .option(
      '--feed <host:port[/channels]>',
      'a feed to ingest, e.g. 127.0.0.1:9001 or 127.0.0.1:9001/1,2 (repeatable; default: config gateway.feeds, else the local simulator at sim.host:sim.feedPort)',
      (value: string, previous: GatewayFeedConfig[] = []) => [...previous, parseFeed(value, previous.length)],
    )
    .option('--redis-url <url>', 'Redis to publish to (standalone); default: config redis.*')
    .option('--metrics-port <port>', 'Prometheus /metrics port, 0 = any free port (config gateway.metricsPort)', (v) => parsePort(v))
    .option('--duration <seconds>', 'stop by itself after this many seconds', parsePositive)
    .option('--ports-json <file>', 'write the bound ports as JSON to this file once running')
    .addHelpText(
      'after',
      '\nStreams, keys and payloads: docs/redis-streams.md. Channels: SSE=1, SZSE=2, BSE=3.\n' +
        'On start each feed resumes from the position stored in Redis; Ctrl-C drains what was received into Redis before exiting.',
    );
}

export async function runGateway(options: GatewayCommandOptions, config: Config): Promise<number> {
  const log = createLogger({ level: config.logLevel, component: 'gateway' });
  // No feeds configured: the local simulator's feed (config default.yaml says so), if its port is known.
  const feeds =
    options.feed ??
    (config.gateway.feeds.length > 0 || config.sim.feedPort === 0
      ? config.gateway.feeds
      : [{ name: 'sim', host: config.sim.host, port: config.sim.feedPort, channels: ALL_CHANNELS }]);
  if (feeds.length === 0) {
    throw new ConfigError('gateway.feeds', 'no feed configured: list feeds in gateway.feeds, set sim.feedPort to the local simulator\'s port, or pass --feed host:port (e.g. the port `triquant sim` logs)');
  }
  const redisOptions = redisOptionsFor(config, options.redisUrl, 'gateway', 'triquant-gateway');
  const clock = new LiveClock();
  const registry = createServiceRegistry('gateway');
  const connection = new RedisConnection(redisOptions);
  const gw = config.gateway;
  const gateway = new Gateway({
    feeds, clientId: gw.clientId, startAt: gw.startAt, connection, slotGroups: gw.slotGroups, streamMaxLen: gw.streamMaxLen,
    compression: gw.compression, bufferMaxTicks: gw.bufferMaxTicks, overflowPolicy: gw.overflowPolicy, clock, logger: log, registry,
  });
  const metrics = await startMetricsServer(registry, '127.0.0.1', options.metricsPort ?? gw.metricsPort);
  log.info(`metrics on ${metrics.url}`);
  try {
    await connection.whenReady(10_000);
  } catch (error) {
    log.warn('Redis is not reachable yet; ticks are buffered until it is', { error });
  }
  const started = gateway.start();
  started.catch((error: unknown) => log.error('a feed refused the gateway', { error }));
  if (options.portsJson) writeFileSync(options.portsJson, `${JSON.stringify({ metrics: metrics.port })}\n`);
  const status = setInterval(() => {
    const s = gateway.stats();
    log.info('status', { ticksIn: s.ticksIn, ticksOut: s.publisher.ticksOut, buffered: s.publisher.bufferTicks, duplicates: s.publisher.duplicates });
  }, 10_000);
  const why = await untilStopped(log, options.duration);
  log.info(`stopping: ${why}`);
  clearInterval(status);
  await shutdownInPhases(log, [
    ['gateway (feeds, drain to Redis)', () => gateway.close()],
    ['redis', () => connection.close()],
    ['metrics', () => metrics.close()],
  ], 15_000);
  return EXIT_OK;
}

function parseFeed(value: string, index: number): GatewayFeedConfig {
  const match = /^([^:/\s]+):(\d{1,5})(?:\/(\d+(?:,\d+)*))?$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError(`expected host:port or host:port/1,2, got "${value}"`);
  const port = parsePort(match[2]!);
  if (port === 0) throw new InvalidArgumentError('a feed port cannot be 0');
  const channels = match[3] ? match[3].split(',').map(Number) : ALL_CHANNELS;
  return { name: index === 0 ? 'feed' : `feed${index + 1}`, host: match[1]!, port, channels };
}

