/**
 * `ExecutionService`: the risk & execution tier composed from configuration —
 * journal + session outbox (SQLite under `<dataDir>/execution/`), risk engine, reference
 * prices (Redis tail), the OMS, the FIX broker, the gRPC Trading + Admin server and metrics.
 *
 * Start order: journal → OMS replay (state as it was) → gRPC server (strategies may connect;
 * their orders wait) → broker logon → reconcile (the broker's beforeReady hook) → ready.
 * Shutdown in phases: stop intake → drain (give in-flight orders a moment to be acknowledged)
 * → end session streams → broker Logout → Redis → journal → metrics.
 */
import { mkdirSync, readFileSync, writeFileSync, chmodSync, existsSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Clock } from '../core/clock.ts';
import { LiveClock } from '../core/clock.ts';
import { ConfigError } from '../core/errors.ts';
import type { Instrument } from '../core/instruments.ts';
import { RiskEngine, type RiskSettings } from '../core/risk/index.ts';
import type { Config } from '../config/schema.ts';
import { RedisConnection, type RedisConnectionOptions } from '../bus/redis-connection.ts';
import { MarketDataKeys } from '../bus/market-data-keys.ts';
import type { Logger } from '../obs/log.ts';
import { createServiceRegistry, startMetricsServer, type MetricsServer, type Registry } from '../obs/metrics.ts';
import { FixBrokerAdapter, openFixBrokerStore } from './broker/fix-broker.ts';
import { openJournal, type SqliteJournal } from './journal/sqlite-journal.ts';
import { SqliteOutboxStore } from './journal/sqlite-outbox.ts';
import { TradingSessionServer } from './grpc/session-server.ts';
import { AdminGrpcService } from './grpc/admin-server.ts';
import { startGrpcServer, type GrpcServerHandle } from './grpc/server.ts';
import { Oms } from './oms.ts';
import { ReferencePriceCache, RedisQuoteTail } from './reference-prices.ts';
import { registerExecutionMetrics } from './metrics.ts';
import { withAuditTail } from './audit-tail.ts';
import type { BrokerAdapter } from './ports.ts';

export interface ExecutionServiceOptions {
  config: Config;
  logger: Logger;
  clock?: Clock;
  registry?: Registry;
  /** Overrides of the configuration (command-line flags). */
  dataDir?: string;
  grpcHost?: string;
  grpcPort?: number;
  metricsPort?: number;
  brokerHost?: string;
  brokerPort?: number;
  /** Redis for reference prices; false = none (tests feed `references` themselves). */
  redis?: RedisConnectionOptions | false;
  /** Reference data of known instruments (names, ST flags, listing dates). */
  instruments?: readonly Instrument[];
  /** A broker other than the configured FIX one (tests). */
  broker?: BrokerAdapter;
}

/** `<dataDir>/execution`: audit.sqlite (journal + outbox tables), fix/ (FIX session store), admin-token. */
export function executionDir(dataDir: string): string {
  return join(dataDir, 'execution');
}

export const ADMIN_TOKEN_FILE = 'admin-token';

/** `<dataDir>/execution/grpc-address`: host:port of the running service's gRPC server (removed on a clean stop). */
export const GRPC_ADDRESS_FILE = 'grpc-address';

/** The running execution service's gRPC address written under `dataDir`, if any. */
export function runningGrpcAddress(dataDir: string): string | undefined {
  try {
    const text = readFileSync(join(executionDir(dataDir), GRPC_ADDRESS_FILE), 'utf8').trim();
    return /^[^:\s]+:\d{1,5}$/.test(text) ? text : undefined;
  } catch {
    return undefined;
  }
}

/** The audit journal (and session outbox) of the execution service using `dataDir`; `triquant audit` reads it. */
export function journalPath(dataDir: string): string {
  return join(executionDir(dataDir), 'audit.sqlite');
}

/** The configured admin token, else (paper mode) the generated one stored under the data directory. */
export function resolveAdminToken(config: Config, dataDir: string, create: boolean): string | undefined {
  if (config.execution.adminToken !== '') return config.execution.adminToken;
  const file = join(executionDir(dataDir), ADMIN_TOKEN_FILE);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  if (!create) return undefined;
  if (config.mode === 'live') throw new ConfigError('execution.adminToken', 'live mode needs an admin token (TRIQUANT__EXECUTION__ADMIN_TOKEN)');
  const token = randomBytes(24).toString('base64url');
  mkdirSync(executionDir(dataDir), { recursive: true });
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return token;
}

/** Maps the `execution.risk` and `execution.accounts[].profile` settings onto the risk engine's. */
export function riskSettingsFromConfig(config: Config): RiskSettings {
  const ex = config.execution;
  return {
    limits: ex.risk.limits,
    accountLimits: ex.risk.accountLimits,
    restrictedSymbols: ex.risk.restrictedSymbols,
    profiles: Object.fromEntries(ex.accounts.map((a) => [a.id, a.profile])),
    fees: config.fees,
  };
}

export class ExecutionService {
  readonly oms: Oms;
  readonly journal: SqliteJournal;
  readonly references: ReferencePriceCache;
  readonly broker: BrokerAdapter;
  readonly risk: RiskEngine;
  readonly sessions: TradingSessionServer;
  readonly grpc: GrpcServerHandle;
  readonly metrics: MetricsServer;
  readonly adminToken: string;
  readonly dataDir: string;
  readonly #log: Logger;
  readonly #tail: RedisQuoteTail | undefined;
  readonly #redis: RedisConnection | undefined;
  readonly #graceMs: number;
  #closing: Promise<void> | undefined;

  private constructor(parts: {
    oms: Oms; journal: SqliteJournal; references: ReferencePriceCache; broker: BrokerAdapter; risk: RiskEngine; sessions: TradingSessionServer;
    grpc: GrpcServerHandle; metrics: MetricsServer; adminToken: string; dataDir: string; log: Logger; tail: RedisQuoteTail | undefined;
    redis: RedisConnection | undefined; graceMs: number;
  }) {
    this.oms = parts.oms;
    this.journal = parts.journal;
    this.references = parts.references;
    this.broker = parts.broker;
    this.risk = parts.risk;
    this.sessions = parts.sessions;
    this.grpc = parts.grpc;
    this.metrics = parts.metrics;
    this.adminToken = parts.adminToken;
    this.dataDir = parts.dataDir;
    this.#log = parts.log;
    this.#tail = parts.tail;
    this.#redis = parts.redis;
    this.#graceMs = parts.graceMs;
  }

  get grpcPort(): number {
    return this.grpc.port;
  }

  static async start(options: ExecutionServiceOptions): Promise<ExecutionService> {
    const { config, logger: log } = options;
    const ex = config.execution;
    const clock = options.clock ?? new LiveClock();
    const dataDir = options.dataDir ?? config.dataDir;
    const dir = executionDir(dataDir);
    mkdirSync(dir, { recursive: true });
    const adminToken = resolveAdminToken(config, dataDir, true)!;
    if (ex.adminToken === '') log.info(`admin token generated for paper mode: ${join(dir, ADMIN_TOKEN_FILE)}`);

    const risk = new RiskEngine(riskSettingsFromConfig(config));
    const journal = openJournal({ path: journalPath(dataDir), clock, sync: ex.audit.sync });
    const cleanup: Array<() => unknown> = [() => journal.close()];
    try {
      const outbox = new SqliteOutboxStore(journal.database, { maxMessagesPerStream: ex.audit.outboxRetention });
      // Marks for valuing positions in risk checks may be 20 ms old (see ReferencePriceCache).
      const references = new ReferencePriceCache(options.instruments ?? [], { markMaxAgeMs: 20 });
      let redis: RedisConnection | undefined;
      let tail: RedisQuoteTail | undefined;
      if (options.redis !== false && options.redis !== undefined) {
        redis = new RedisConnection({ ...options.redis, connectionName: 'triquant-execution' });
        cleanup.push(() => redis!.close());
        tail = new RedisQuoteTail({
          connection: redis, keys: new MarketDataKeys({ prefix: options.redis.keyPrefix ?? config.redis.keyPrefix, slotGroups: config.gateway.slotGroups }),
          cache: references, logger: log.child('reference'),
        });
      }

      // The broker's beforeReady hook reconciles through the OMS, which needs the broker: bound below.
      // (called only after broker.start(), by which time `oms` exists)
      const broker: BrokerAdapter = options.broker ?? ExecutionService.#fixBroker(options, dir, clock, log, (): Promise<void> => oms.reconcileNow());
      const keyPrefix = options.redis ? (options.redis.keyPrefix ?? config.redis.keyPrefix) : config.redis.keyPrefix;
      const omsJournal = redis ? withAuditTail(journal, redis, keyPrefix, log.child('audit-tail')) : journal;
      const oms: Oms = new Oms({
        journal: omsJournal, broker, risk, references, clock, accounts: ex.accounts, fees: config.fees, strategies: ex.strategies, logger: log.child('oms'),
      });
      const recovered = oms.recover();
      log.info('state rebuilt from the journal', recovered);

      const registry = options.registry ?? createServiceRegistry('execution');
      const sessions = new TradingSessionServer({ handler: oms, outbox, clock, log: log.child('sessions'), registry });
      oms.setPublisher(sessions);
      const admin = new AdminGrpcService({ handler: oms, token: adminToken, log: log.child('admin') });
      const grpc = await startGrpcServer({ host: options.grpcHost ?? ex.host, port: options.grpcPort ?? ex.grpcPort, trading: sessions, admin, log });
      cleanup.push(() => grpc.close(500));
      // Where this service listens, for `triquant kill-switch` and `triquant monitor` on the same
      // machine when the port was chosen free (grpcPort 0).
      const address = join(dir, GRPC_ADDRESS_FILE);
      writeFileSync(address, `${options.grpcHost ?? ex.host}:${grpc.port}\n`);
      cleanup.push(() => rmSync(address, { force: true }));
      oms.setObserver(registerExecutionMetrics(registry, {
        accounts: () => oms.ledger.accounts(),
        dailyUsage: (account) => {
          const usage = risk.usage(account, clock.nowMicros());
          return { count: usage.dailyCount, cap: usage.dailyCap };
        },
        tradingStates: () => oms.tradingStates(undefined),
        openOrders: (account) => oms.openOrderCount(account),
        sessions: () => sessions.connectedInstances().length,
        brokerState: () => broker.state,
        ready: () => oms.ready,
        referenceSymbols: () => references.symbols().length,
        realizedPnl: (account) => oms.ledger.realizedPnl(account),
        rateLimit: (account) => risk.usage(account, clock.nowMicros()).maxOrdersPerSecond,
        sessionList: () => sessions.connectedInstances(),
      }));
      const metrics = await startMetricsServer(registry, options.grpcHost ?? ex.host, options.metricsPort ?? ex.metricsPort);
      cleanup.push(() => metrics.close());

      if (redis) {
        try {
          await redis.whenReady(5_000);
        } catch (error) {
          log.warn('Redis is not reachable yet: orders are denied NO_REFERENCE_PRICE until it is', { error });
        }
        await tail!.start();
      }
      broker.start().catch((error: unknown) => log.error('the broker failed to start', { error }));
      log.info(`execution service on ${options.grpcHost ?? ex.host}:${grpc.port} (gRPC Trading + Admin), metrics on ${metrics.url}`, { broker: broker.name });
      return new ExecutionService({
        oms, journal, references, broker, risk, sessions, grpc, metrics, adminToken, dataDir, log, tail, redis, graceMs: ex.shutdownGraceMs,
      });
    } catch (error) {
      for (const step of cleanup.reverse()) {
        try {
          await step();
        } catch {
          // already failing: report the first error
        }
      }
      throw error;
    }
  }

  static #fixBroker(options: ExecutionServiceOptions, dir: string, clock: Clock, log: Logger, beforeReady: () => Promise<void>): BrokerAdapter {
    const { config } = options;
    const b = config.execution.broker;
    const host = options.brokerHost ?? (b.host !== '' ? b.host : config.sim.host);
    const port = options.brokerPort ?? (b.port !== 0 ? b.port : config.sim.fixPort);
    if (port === 0) {
      throw new ConfigError('execution.broker.port', 'no broker port: set execution.broker.port (or sim.fixPort for the local simulator), or pass --sim-fix host:port');
    }
    return new FixBrokerAdapter({
      host, port, senderCompId: b.senderCompId, targetCompId: b.targetCompId, heartBtIntSeconds: b.heartBtIntSeconds,
      store: openFixBrokerStore(join(dir, 'fix'), b.senderCompId, b.targetCompId), clock, log: log.child('broker'), reconnect: b.reconnect,
      reconcileTimeoutMs: b.reconcileTimeoutMs, beforeReady,
    });
  }

  /** Phased shutdown; idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const grace = this.#graceMs;
      const phase = async (name: string, step: () => unknown): Promise<void> => {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([Promise.resolve().then(step), new Promise((resolve) => (timer = setTimeout(resolve, grace)))]);
        } catch (error) {
          this.#log.error(`shutdown: ${name} failed`, { error });
        } finally {
          clearTimeout(timer);
        }
      };
      await phase('stop intake', () => this.oms.close());
      await phase('drain', () => this.#drain(Math.min(grace, 2_000)));
      await phase('session streams', () => {
        rmSync(join(executionDir(this.dataDir), GRPC_ADDRESS_FILE), { force: true });
        return this.grpc.close(grace);
      });
      await phase('reference prices', () => this.#tail?.close());
      await phase('broker (logout)', () => this.broker.close());
      await phase('redis', () => this.#redis?.close());
      await phase('journal', () => {
        this.journal.append([{ kind: 'SERVICE', actor: 'system', data: { event: 'stopped' } }]);
        this.journal.close();
      });
      await phase('metrics', () => this.metrics.close());
      this.#log.info('execution service stopped');
    })();
    return this.#closing;
  }

  /** Waits (bounded) until no order awaits its venue acknowledgement. */
  async #drain(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline && this.broker.state === 'connected') {
      if (!this.oms.orders().some((o) => o.status === 'SENT' || o.status === 'PENDING_CANCEL')) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
