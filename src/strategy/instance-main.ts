/**
 * The entry point of one strategy instance's OS process, forked by the host (host.ts). Its
 * settings arrive as JSON in the environment variable TRIQUANT_INSTANCE_SETTINGS. It loads
 * the strategy file, connects its Redis consumer (group = the strategy's config name,
 * consumer = the instance id) and its gRPC order channel, and runs a `StrategyInstance`.
 *
 * Talks to the host over the IPC channel (messages below); logs go to stderr (the host keeps
 * the last lines for its crash alerts). Exit codes: 0 after a graceful stop (SIGTERM, or a
 * `stop` message, or the host going away), 1 after a failure (the host restarts it),
 * 75 when another instance took over its entries (restart at once, not counted as a crash).
 */
import { TradingCalendar } from '../core/calendar.ts';
import { LiveClock, MarketTimeClock, type Clock } from '../core/clock.ts';
import { createLogger, type Logger } from '../obs/log.ts';
import type { MarketDataSource } from '../bus/market-data-source.ts';
import { createGroupConsumer } from '../bus/group-consumer.ts';
import type { StrategyDefinition } from './api.ts';
import { EXIT_FENCED, loadStrategyDefinition, SETTINGS_ENV, type HostMessage, type InstanceMessage, type InstanceSettings } from './host-config.ts';
import { DryRunOrderChannel, InstanceFailedError, StrategyInstance } from './instance.ts';
import { GrpcOrderChannel } from './order-client.ts';
import type { OrderChannel } from './ports.ts';

export { EXIT_FENCED, SETTINGS_ENV, type HostMessage, type InstanceMessage, type InstanceSettings } from './host-config.ts';

export interface InstancePorts {
  createSource(settings: InstanceSettings, log: Logger, clock: Clock): MarketDataSource;
  createChannel(settings: InstanceSettings, log: Logger, clock: Clock): OrderChannel;
}

/** The real ports: the Redis consumer group and the gRPC order channel. */
export const defaultPorts: InstancePorts = {
  createSource(settings, log, clock) {
    const p = settings.plan;
    const md = settings.marketData;
    return createGroupConsumer({
      redis: settings.redis,
      slotGroups: settings.slotGroups,
      group: p.name,
      consumer: p.instanceId,
      symbols: p.symbols,
      startAt: md.startAt,
      blockMs: md.blockMs,
      count: md.count,
      claimIdleMs: md.claimIdleMs,
      maxDeliveries: md.maxDeliveries,
      log: log.child('market-data'),
      clock,
    });
  },
  createChannel(settings, log, clock) {
    if (settings.execution === 'dry-run') return new DryRunOrderChannel(clock);
    const p = settings.plan;
    return new GrpcOrderChannel({
      target: settings.execution,
      strategyId: p.name,
      instanceId: p.instanceId,
      token: p.token,
      accounts: [p.account],
      clock,
      log: log.child('orders'),
      reconnect: settings.reconnect,
    });
  },
};

function send(message: InstanceMessage): void {
  if (process.connected) process.send?.(message);
}

/**
 * Runs one instance until it is stopped (resolves with the exit code) or fails. Installs the
 * SIGTERM/SIGINT and IPC handlers of a child process.
 */
export async function runInstanceProcess(settings: InstanceSettings, ports: InstancePorts = defaultPorts, clock: Clock = new MarketTimeClock(new LiveClock())): Promise<number> {
  const plan = settings.plan;
  const log = createLogger({ level: settings.logLevel, component: `strategy.${plan.key}`, format: 'json' });
  let definition: StrategyDefinition;
  try {
    definition = await loadStrategyDefinition(plan.file, `strategies.${plan.name}.file`);
  } catch (error) {
    log.error('cannot load the strategy', { error, file: plan.file });
    return 1;
  }
  // Connections time their heartbeats and back-off on the wall clock; the strategy sees market time.
  const wall = clock instanceof MarketTimeClock ? new LiveClock() : clock;
  const source = ports.createSource(settings, log, wall);
  const channel = ports.createChannel(settings, log, wall);
  const instance = new StrategyInstance({
    definition,
    instanceId: plan.instanceId,
    account: plan.account,
    params: plan.params,
    symbols: plan.symbols,
    source,
    channel,
    clock,
    log,
    checkpointIntervalMs: settings.checkpointIntervalMs,
    commitIntervalMs: settings.marketData.commitIntervalMs,
    runtime: { calendar: new TradingCalendar(settings.holidays), fees: settings.fees, portfolio: { cash: plan.capital } },
    onStatus: (status) => send({ type: 'strategyStatus', status }),
    ...(clock instanceof MarketTimeClock ? { marketTime: clock } : {}),
  });

  let stopping: Promise<void> | undefined;
  const stop = (why: string) => {
    if (stopping !== undefined) return;
    log.info(`stopping: ${why}`);
    stopping = instance.stop();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('message', (message: HostMessage) => {
    if (message?.type === 'stop') stop('asked by the host');
  });
  // The host is gone (crashed or killed): do not trade unsupervised.
  process.once('disconnect', () => stop('the host went away'));

  const sendStatus = () => send({ type: 'status', stats: instance.stats(), ...(source.stats ? { marketData: source.stats() } : {}) });
  const status = setInterval(sendStatus, settings.statusIntervalMs);
  status.unref();
  try {
    await instance.start();
    send({ type: 'ready', restored: instance.runtime.restored });
    sendStatus();
    if (stopping === undefined) await instance.run();
    await stopping;
    await instance.stop();
    sendStatus();
    return 0;
  } catch (error) {
    log.error('instance failed', { error });
    await instance.stop().catch(() => undefined);
    const fenced = error instanceof InstanceFailedError && error.fenced;
    return fenced ? EXIT_FENCED : 1;
  } finally {
    clearInterval(status);
  }
}

/** Reads the settings from the environment (throws with a clear message when absent or malformed). */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): InstanceSettings {
  const text = env[SETTINGS_ENV];
  if (text === undefined || text === '') throw new Error(`${SETTINGS_ENV} is not set: this file is started by the strategy host (triquant strategy)`);
  return JSON.parse(text) as InstanceSettings;
}

/** Runs `main` as the process's program and exits with its code once stdio is flushed. */
export function exitWith(main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
      // The IPC channel would keep the process alive.
      if (process.connected) process.disconnect();
      // Leave once the event loop is done; a hung handle must not keep a stopped instance alive.
      setTimeout(() => process.exit(code), 2_000).unref();
    },
    (error: unknown) => {
      process.stderr.write(`strategy instance: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}

if (import.meta.main) exitWith(() => runInstanceProcess(settingsFromEnv()));
