/**
 * `triquant monitor`: collects once per interval and pushes each snapshot to every open
 * dashboard. One collection at a time (a slow source delays the next round instead of piling
 * rounds up).
 */
import type { Logger } from '../obs/log.ts';
import { createServiceRegistry, Gauge } from '../obs/metrics.ts';
import { RedisConnection, type RedisConnectionOptions } from '../bus/redis-connection.ts';
import { MonitorCollector, type CollectorOptions } from './collector.ts';
import { DashboardServer } from './server.ts';

/** The collector's settings, plus where to serve and how to reach Redis (the monitor opens its own connection). */
export interface MonitorOptions extends Pick<CollectorOptions, 'historyPoints' | 'targets' | 'keyPrefix' | 'admin' | 'accounts' | 'thresholds'> {
  readonly host: string;
  readonly port: number;
  readonly intervalMs: number;
  readonly redis?: RedisConnectionOptions;
  readonly log: Logger;
}

export class MonitorService {
  readonly #options: MonitorOptions;
  readonly #collector: MonitorCollector;
  readonly #server: DashboardServer;
  readonly #redis: RedisConnection | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;

  private constructor(options: MonitorOptions, redis: RedisConnection | undefined) {
    this.#options = options;
    this.#redis = redis;
    const registry = createServiceRegistry('monitor');
    this.#collector = new MonitorCollector({
      targets: options.targets,
      ...(redis ? { redis } : {}),
      keyPrefix: options.keyPrefix,
      ...(options.admin ? { admin: options.admin } : {}),
      accounts: options.accounts,
      thresholds: options.thresholds,
      historyPoints: options.historyPoints,
      log: options.log,
    });
    const alertsGauge = new Gauge({ name: 'triquant_monitor_alerts', help: 'Active alerts by severity', labelNames: ['severity'], registers: [registry] });
    const clientsGauge = new Gauge({ name: 'triquant_monitor_dashboard_clients', help: 'Open dashboard event streams', registers: [registry] });
    // What the monitor reads from Redis, exported for Prometheus too (no other service sees it whole).
    const lagGauge = new Gauge({ name: 'triquant_redis_consumer_group_lag', help: 'Entries a consumer group has not read yet, summed over its streams (XINFO GROUPS lag)', labelNames: ['group'], registers: [registry] });
    const pendingGauge = new Gauge({ name: 'triquant_redis_consumer_group_pending', help: 'Entries delivered to a consumer group and not acknowledged', labelNames: ['group'], registers: [registry] });
    const memoryGauge = new Gauge({ name: 'triquant_redis_used_memory_bytes', help: 'Redis used_memory (INFO memory)', registers: [registry] });
    const maxMemoryGauge = new Gauge({ name: 'triquant_redis_maxmemory_bytes', help: 'Redis maxmemory (0 = no limit)', registers: [registry] });
    const streamsGauge = new Gauge({ name: 'triquant_redis_market_data_streams', help: 'Market-data streams in Redis', registers: [registry] });
    const entriesGauge = new Gauge({ name: 'triquant_redis_market_data_entries', help: 'Entries in the inspected market-data streams', registers: [registry] });
    this.#server = new DashboardServer({
      host: options.host,
      port: options.port,
      registry,
      log: options.log,
      snapshot: () => this.#collector.state,
      setKillSwitch: (token, request) => this.#collector.setKillSwitch(token, request),
    });
    this.#onCollected = () => {
      alertsGauge.set({ severity: 'critical' }, this.#collector.alerts.filter((a) => a.severity === 'critical').length);
      alertsGauge.set({ severity: 'warning' }, this.#collector.alerts.filter((a) => a.severity === 'warning').length);
      clientsGauge.set(this.#server.clients);
      const state = this.#collector.state;
      lagGauge.reset();
      pendingGauge.reset();
      for (const g of state.groups) {
        lagGauge.set({ group: g.group }, g.lag);
        pendingGauge.set({ group: g.group }, g.pending);
      }
      if (state.redis.up) {
        memoryGauge.set(state.redis.usedMemory);
        maxMemoryGauge.set(state.redis.maxMemory);
        streamsGauge.set(state.redis.streams);
        entriesGauge.set(state.redis.entries);
      }
    };
  }

  readonly #onCollected: () => void;

  static async start(options: MonitorOptions): Promise<MonitorService> {
    const redis = options.redis ? new RedisConnection({ ...options.redis, connectionName: 'triquant-monitor' }) : undefined;
    const service = new MonitorService(options, redis);
    await service.#server.listen();
    service.#loop();
    return service;
  }

  get url(): string {
    return this.#server.url;
  }

  get port(): number {
    return this.#server.port;
  }

  #loop(): void {
    if (this.#closed) return;
    this.#running = this.#collector
      .collect()
      .then((state) => {
        this.#server.push(state);
        this.#onCollected();
      })
      .catch((error: unknown) => this.#options.log.error('collection failed', { error: error instanceof Error ? error.message : String(error) }))
      .finally(() => {
        if (!this.#closed) this.#timer = setTimeout(() => this.#loop(), this.#options.intervalMs);
      });
  }

  /** Stops collecting, ends the browsers' streams, closes connections. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
    await this.#server.close();
    this.#collector.close();
    await this.#redis?.close();
  }
}
