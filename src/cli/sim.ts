/** `triquant sim`: the simulated A-share exchange as a standalone service. */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { TradingCalendar } from '../core/calendar.ts';
import { LiveClock } from '../core/clock.ts';
import type { Config } from '../config/schema.ts';
import { createLogger } from '../obs/log.ts';
import { createServiceRegistry, startMetricsServer } from '../obs/metrics.ts';
import { DEFAULT_ORDER_FLOW } from '../sim/order-flow.ts';
import type { SimTimeMode } from '../sim/session-clock.ts';
import { FEED_CHANNEL, Simulator, type SimulatorStats } from '../sim/simulator.ts';
import { buildUniverse } from '../sim/universe.ts';
import { FixAcceptor } from '../sim/fix-acceptor.ts';
import { FixVenue } from '../sim/fix-venue.ts';
import { Gauge, type Registry } from '../obs/metrics.ts';
import { timeOfDay } from '../core/sessions.ts';
import { shutdownInPhases, untilStopped } from './run.ts';
import { EXIT_OK } from './exit-codes.ts';
import { parsePort, parsePositive, parseWholeNumber } from './parse.ts';

export interface SimCommandOptions {
  host?: string;
  feedPort?: number;
  fixPort?: number;
  metricsPort?: number;
  timeMode?: 'accelerated' | 'real' | 'continuous';
  speed?: number;
  start?: string;
  seed?: number;
  rate?: number;
  load?: number;
  duration?: number;
  portsJson?: string;
}

export function configureSimCommand(cmd: Command): Command {
  return cmd
    .option('--host <address>', 'address to bind the feed, FIX and metrics ports (config sim.host)')
    .option('--feed-port <port>', 'market-data feed TCP port, 0 = any free port (config sim.feedPort)', parsePort)
    .option('--fix-port <port>', 'FIX 4.4 acceptor port, 0 = any free port (config sim.fixPort)', parsePort)
    .option('--metrics-port <port>', 'Prometheus /metrics port, 0 = any free port (config sim.metricsPort)', parsePort)
    .option('--time-mode <mode>', 'accelerated | real | continuous (config sim.timeMode)', parseTimeMode)
    .option('--speed <factor>', 'accelerated mode: simulated seconds per real second (config sim.speed)', parsePositive)
    .option('--start <HH:MM>', 'accelerated mode: simulated start time, China time (config sim.startTime)')
    .option('--seed <n>', 'seed of the synthetic order flow (config sim.seed)', parseWholeNumber)
    .option('--rate <n>', 'synthetic order arrivals per second per symbol (config sim.arrivalsPerSecond)', parsePositive)
    .option('--load <ordersPerSecond>', 'load mode: continuous trading with this many synthetic orders per second', parsePositive)
    .option('--duration <seconds>', 'stop by itself after this many seconds', parsePositive)
    .option('--ports-json <file>', 'write the bound ports as JSON to this file once listening')
    .addHelpText(
      'after',
      `\nMarket-data channels: SSE=${FEED_CHANNEL.SSE}, SZSE=${FEED_CHANNEL.SZSE}, BSE=${FEED_CHANNEL.BSE} (docs/protocols/feed.md).\n` +
        'FIX 4.4 order entry: docs/protocols/fix.md. Stops cleanly on Ctrl-C (feed clients and FIX sessions are logged out).',
    );
}

export async function runSim(options: SimCommandOptions, config: Config, onStopped?: (stats: SimulatorStats) => void): Promise<number> {
  const sim = config.sim;
  const log = createLogger({ level: config.logLevel, component: 'sim' });
  const host = options.host ?? sim.host;
  const startTime = options.start ?? sim.startTime;
  const [hh, mm] = parseHhMm(startTime);
  const timeModeName = options.timeMode ?? sim.timeMode;
  const timeMode: SimTimeMode =
    timeModeName === 'accelerated'
      ? { kind: 'accelerated', speed: options.speed ?? sim.speed, startTimeOfDay: timeOfDay(hh, mm) }
      : { kind: timeModeName };
  const registry = createServiceRegistry('sim');
  const clock = new LiveClock();
  const simulator = new Simulator({
    clock,
    timeMode,
    calendar: new TradingCalendar(config.market.holidays),
    instruments: buildUniverse(),
    flow: { ...DEFAULT_ORDER_FLOW, arrivalsPerSecond: options.rate ?? sim.arrivalsPerSecond },
    seed: options.seed ?? sim.seed,
    ...(options.load !== undefined ? { loadOrdersPerSecond: options.load } : {}),
    logger: log,
    registry,
  });
  const venue = new FixVenue(simulator, clock, log.child('venue'));
  simulator.setMemberEvents(venue.events);
  const acceptor = new FixAcceptor({
    application: venue,
    compId: sim.fixCompId,
    sessions: sim.fixClients.map((targetCompId) => ({ targetCompId })),
    clock,
    logger: log.child('fix'),
  });
  registerFixMetrics(registry, acceptor, venue);
  const { feedPort } = await simulator.start(options.feedPort ?? sim.feedPort, host);
  const fixAddress = await acceptor.start({ port: options.fixPort ?? sim.fixPort, host });
  const metrics = await startMetricsServer(registry, host, options.metricsPort ?? sim.metricsPort);
  const ports = { feed: feedPort, fix: fixAddress.port, metrics: metrics.port };
  log.info(`market-data feed on tcp://${host}:${feedPort}`, { channels: FEED_CHANNEL });
  log.info(`FIX 4.4 acceptor on tcp://${host}:${fixAddress.port}`, { senderCompId: sim.fixCompId, clients: sim.fixClients });
  log.info(`metrics on ${metrics.url}`);
  if (options.portsJson) writeFileSync(options.portsJson, `${JSON.stringify({ host, ...ports })}\n`);

  const status = setInterval(() => log.info('status', { ...simulator.stats(), feed: simulator.feed.stats().loggedOnClients }), 10_000);
  const why = await untilStopped(log, options.duration);
  log.info(`stopping: ${why}`);
  clearInterval(status);
  await shutdownInPhases(log, [
    ['FIX acceptor (logout)', () => acceptor.close()],
    ['simulator', () => simulator.close()],
    ['metrics', () => metrics.close()],
  ]);
  onStopped?.(simulator.stats());
  return EXIT_OK;
}

function parseHhMm(text: string): [number, number] {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  if (!match) throw new InvalidArgumentError(`expected HH:MM, got "${text}"`);
  return [Number(match[1]), Number(match[2])];
}

function parseTimeMode(value: string): 'accelerated' | 'real' | 'continuous' {
  if (value === 'accelerated' || value === 'real' || value === 'continuous') return value;
  throw new InvalidArgumentError(`expected accelerated, real or continuous, got "${value}"`);
}

function registerFixMetrics(registry: Registry, acceptor: FixAcceptor, venue: FixVenue): void {
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  gauge('triquant_sim_fix_sessions_logged_on', 'FIX sessions logged on', () => acceptor.stats().sessionsLoggedOn);
  gauge('triquant_sim_fix_messages_in', 'FIX messages received', () => acceptor.stats().messagesIn);
  gauge('triquant_sim_fix_messages_out', 'FIX messages sent', () => acceptor.stats().messagesOut);
  gauge('triquant_sim_fix_malformed', 'Garbled FIX messages received', () => acceptor.stats().malformed);
  gauge('triquant_sim_fix_session_rejects', 'FIX session-level Rejects sent', () => acceptor.stats().sessionRejectsSent);
  gauge('triquant_sim_fix_orders_received', 'NewOrderSingle received', () => venue.counters.ordersReceived);
  gauge('triquant_sim_fix_orders_rejected', 'Orders rejected by the venue over FIX', () => venue.counters.ordersRejected);
  gauge('triquant_sim_fix_cancel_rejects', 'OrderCancelRejects sent', () => venue.counters.cancelRejects);
}
