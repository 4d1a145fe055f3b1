/**
 * `triquant monitor`: collects once per interval and pushes each snapshot to every open
 * dashboard. One collection at a time (a slow source delays the next round instead of piling
 * rounds up).
 */
import type { Logger } from '../obs/log.ts';
import { createServiceRegistry, Gauge } from '../obs/metrics.ts';
import { RedisConnection, type RedisConnectionOptions } from '../bus/redis-connection.ts';
import { MonitorCollector, type AdminTarget, type MetricsTarget } from './collector.ts';
import type { AlertThresholds } from './alerts.ts';
import { DashboardServer } from './server.ts';

export interface MonitorOptions {
  readonly host: string;
  readonly port: number;
  readonly intervalMs: number;
  readonly historyPoints: number;
  readonly targets: readonly MetricsTarget[];
  readonly redis?: RedisConnectionOptions;
  readonly keyPrefix: string;
  readonly admin?: AdminTarget;
  readonly accounts: readonly string[];
  readonly thresholds: AlertThresholds;
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
