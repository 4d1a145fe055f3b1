/**
 * Collects what the dashboard shows, once per interval, from the services' own interfaces:
 * their Prometheus /metrics (rates, lag, connection states), Redis (memory, stream lengths,
 * consumer-group lag, the audit tail stream) and the execution service's Admin gRPC API
 * (orders, positions, trading state, limits). Each source fails on its own: a service that
 * is down shows as down and raises an alert; the rest of the dashboard keeps updating.
 */
import { credentials, Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from '../obs/log.ts';
import { silentLogger } from '../obs/log.ts';
import type { RedisClient, RedisConnection } from '../bus/redis-connection.ts';
import { AdminClient, type ListOrdersResponse, type ListPositionsResponse, type GetTradingStateResponse } from '../protocol/gen/triquant/v1/admin.ts';
import { OrderStatus, Scope, type TradingState } from '../protocol/gen/triquant/v1/common.ts';
import { ORDER_STATUS, ORDER_TYPE, SCOPE, SIDE, TRADING_STATE } from '../protocol/trading-enums.ts';
import { byLabel, parsePrometheusText, sumOf, type Sample } from './prom-text.ts';
import { diffAlerts, evaluateAlerts, type Alert, type AlertThresholds } from './alerts.ts';

/** Metric names the dashboard reads (each documented where the service defines it). */
export const METRIC = {
  ticksIn: 'triquant_gateway_ticks_in_total',
  ticksOut: 'triquant_gateway_redis_ticks_out_total',
  ticksDropped: 'triquant_gateway_redis_dropped_ticks_total',
  strategyHandled: 'triquant_strategy_instance_handled',
  strategyUp: 'triquant_strategy_instance_up',
  strategyCrashLoop: 'triquant_strategy_instance_crash_loop',
  orders: 'triquant_execution_orders_total',
  cancels: 'triquant_execution_cancels_total',
  fills: 'triquant_execution_fills_total',
  denials: 'triquant_execution_denials_total',
  dailyCount: 'triquant_execution_daily_count',
  dailyLimit: 'triquant_execution_daily_limit',
  rateLimit: 'triquant_execution_rate_limit',
  ordersFilled: 'triquant_execution_orders_filled_total',
  realizedPnl: 'triquant_execution_realized_pnl',
  tradingState: 'triquant_execution_trading_state',
  sessionConnected: 'triquant_execution_session_connected',
  complianceAlerts: 'triquant_execution_compliance_alerts_total',
  brokerState: 'triquant_execution_broker_state',
} as const;

export interface MetricsTarget {
  readonly name: string;
  /** Full URL of the service's /metrics. */
  readonly url: string;
}

export interface AdminTarget {
  /** host:port of the execution service's gRPC server. */
  readonly address: string;
  /** Admin token for the read calls the monitor makes on its own behalf. */
  readonly token: string;
}

export interface CollectorOptions {
  readonly targets: readonly MetricsTarget[];
  readonly redis?: RedisConnection;
  readonly keyPrefix: string;
  readonly admin?: AdminTarget;
  readonly accounts: readonly string[];
  readonly thresholds: AlertThresholds;
  readonly historyPoints: number;
  readonly log?: Logger;
  readonly now?: () => number;
}

export interface ServiceHealth {
  name: string;
  up: boolean;
  error: string;
}

export interface GroupLag {
  group: string;
  lag: number;
  pending: number;
  consumers: number;
  streams: number;
}

export interface AccountRates {
  account: string;
  ordersPerSec: number;
  cancelsPerSec: number;
  ratePerSec: number;
  rateLimit: number;
  dailyCount: number;
  dailyLimit: number;
  state: string;
}

export interface BlotterRow {
  clientOrderId: string;
  account: string;
  strategy: string;
  symbol: string;
  side: string;
  type: string;
  price: number;
  quantity: number;
  cumQty: number;
  avgPrice: number;
  status: string;
  text: string;
  updatedUs: number;
}

export interface AuditRow {
  seq: string;
  ts: number;
  kind: string;
  account: string;
  clientOrderId: string;
  actor: string;
  summary: string;
}

export interface PositionRow {
  account: string;
  symbol: string;
  quantity: number;
  sellable: number;
  avgCost: number;
  realizedPnl: number;
}

export interface DashboardState {
  time: number;
  services: ServiceHealth[];
  marketData: { ticksInPerSec: number; ticksOutPerSec: number; ticksConsumedPerSec: number; ticksInTotal: number; ticksOutTotal: number };
  groups: GroupLag[];
  redis: { up: boolean; usedMemory: number; maxMemory: number; streams: number; entries: number; topStreams: Array<{ key: string; length: number }> };
  sessions: Array<{ strategy: string; instance: string; connected: boolean; downSince: number | undefined }>;
  strategies: Array<{ strategy: string; instance: string; up: boolean; crashLoop: boolean }>;
  accounts: AccountRates[];
  tradingState: { global: string; globalActor: string; globalReason: string; accounts: Array<{ account: string; state: string; actor: string; reason: string }> } | undefined;
  orders: BlotterRow[];
  positions: PositionRow[];
  totals: { orders: number; fills: number; denials: number; cancels: number; realizedPnl: number };
  denials: Array<{ reason: string; count: number }>;
  alerts: Alert[];
  audit: AuditRow[];
  /** The latest kill-switch and limit changes, kept even when order traffic scrolls them out of the tail. */
  auditChanges: AuditRow[];
  history: { t: number[]; ticksIn: number[]; ticksConsumed: number[]; orders: number[]; cancels: number[]; lag: number[] };
}

/** Every order status except DENIED (and UNSPECIFIED). */
const VENUE_STATUSES = Object.values(OrderStatus).filter((v) => v !== OrderStatus.DENIED && v !== OrderStatus.UNSPECIFIED && v >= 0);

function rate(now: number, prev: { at: number; value: number } | undefined, value: number | undefined): number {
  if (value === undefined || prev === undefined || now <= prev.at) return 0;
  return Math.max(0, ((value - prev.value) * 1000) / (now - prev.at));
}

const AUDIT_CHANGE_KINDS = new Set(['TRADING_STATE', 'LIMIT_CHANGE']);
const AUDIT_CHANGES_KEPT = 10;

function auditRow(id: string, fields: string[]): AuditRow {
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i]!, fields[i + 1]!);
  return {
    seq: f.get('seq') ?? id,
    ts: Number(f.get('ts') ?? 0),
    kind: f.get('kind') ?? '',
    account: f.get('account') ?? '',
    clientOrderId: f.get('clientOrderId') ?? '',
    actor: f.get('actor') ?? '',
    summary: f.get('summary') ?? '',
  };
}

function push(series: number[], value: number, max: number): void {
  series.push(value);
  if (series.length > max) series.splice(0, series.length - max);
}

export class MonitorCollector {
  readonly #options: CollectorOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #admin: AdminClient | undefined;
  readonly #prev = new Map<string, { at: number; value: number }>();
  readonly #downSince = new Map<string, number>();
  #alerts: Alert[] = [];
  #state: DashboardState;
  #streamKeys: string[] = [];
  /** Last audit-tail stream id read for operator changes, and the changes kept (newest first). */
  #auditChangesAfter = '-';
  #auditChanges: AuditRow[] = [];
  #streamKeysAt = 0;

  constructor(options: CollectorOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#admin = options.admin ? new AdminClient(options.admin.address, credentials.createInsecure()) : undefined;
    this.#state = {
      time: this.#now(),
      services: [],
      marketData: { ticksInPerSec: 0, ticksOutPerSec: 0, ticksConsumedPerSec: 0, ticksInTotal: 0, ticksOutTotal: 0 },
      groups: [],
      redis: { up: false, usedMemory: 0, maxMemory: 0, streams: 0, entries: 0, topStreams: [] },
      sessions: [],
      strategies: [],
      accounts: [],
      tradingState: undefined,
      orders: [],
      positions: [],
      totals: { orders: 0, fills: 0, denials: 0, cancels: 0, realizedPnl: 0 },
      denials: [],
      alerts: [],
      audit: [],
      auditChanges: [],
      history: { t: [], ticksIn: [], ticksConsumed: [], orders: [], cancels: [], lag: [] },
    };
  }

  get state(): DashboardState {
    return this.#state;
  }

  get alerts(): readonly Alert[] {
    return this.#alerts;
  }

  /** Calls Admin.SetKillSwitch with the operator's token (the execution service checks and audits it). */
  async setKillSwitch(token: string, request: { scope: 'GLOBAL' | 'ACCOUNT'; account: string; state: 'ACTIVE' | 'REDUCING' | 'HALTED'; actor: string; reason: string }): Promise<{ ok: true; state: string } | { ok: false; status: number; message: string }> {
    if (!this.#admin) return { ok: false, status: 503, message: 'no execution service configured' };
    return new Promise((resolve) => {
      const md = new Metadata();
      md.set('authorization', `Bearer ${token}`);
      this.#admin!.setKillSwitch(
        {
          scope: SCOPE.toProto[request.scope] as Scope,
          account: request.account,
          state: TRADING_STATE.toProto[request.state] as TradingState,
          actor: request.actor,
          reason: request.reason,
        },
        md,
        { deadline: Date.now() + 5_000 },
        (error: ServiceError | null, response) => {
          if (error) {
            const status = error.code === GrpcStatus.UNAUTHENTICATED ? 401
              : error.code === GrpcStatus.PERMISSION_DENIED ? 403
              : error.code === GrpcStatus.INVALID_ARGUMENT ? 400
              : 502;
            resolve({ ok: false, status, message: error.details || error.message });
          } else {
            resolve({ ok: true, state: TRADING_STATE.fromProto.get(response.current?.state ?? 0) ?? 'UNKNOWN' });
          }
        },
      );
    });
  }

  /** One collection round; never throws. */
  async collect(): Promise<DashboardState> {
    const now = this.#now();
    const services: ServiceHealth[] = [];
    const samples: Sample[] = [];
    await Promise.all(
      this.#options.targets.map(async (target) => {
        try {
          const response = await fetch(target.url, { signal: AbortSignal.timeout(2_000) });
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          const parsed = parsePrometheusText(await response.text());
          for (const s of parsed.samples) samples.push(s);
          services.push({ name: target.name, up: true, error: '' });
        } catch (error) {
          services.push({ name: target.name, up: false, error: error instanceof Error ? error.message : String(error) });
        }
      }),
    );
    services.sort((a, b) => a.name.localeCompare(b.name));

    const [redisPart, adminPart] = await Promise.all([this.#collectRedis(now), this.#collectAdmin()]);
    const s = this.#state;
    const counter = (key: string, value: number | undefined): number => {
      const r = rate(now, this.#prev.get(key), value);
      if (value !== undefined) this.#prev.set(key, { at: now, value });
      return r;
    };

    const ticksIn = sumOf(samples, METRIC.ticksIn);
    const ticksOut = sumOf(samples, METRIC.ticksOut);
    const consumed = sumOf(samples, METRIC.strategyHandled, { what: 'ticks' });
    const marketData = {
      ticksInPerSec: counter('ticksIn', ticksIn),
      ticksOutPerSec: counter('ticksOut', ticksOut),
      ticksConsumedPerSec: counter('consumed', consumed),
      ticksInTotal: ticksIn ?? 0,
      ticksOutTotal: ticksOut ?? 0,
    };

    const orders = byLabel(samples, METRIC.orders, 'account');
    const cancels = byLabel(samples, METRIC.cancels, 'account');
    const dailyCount = byLabel(samples, METRIC.dailyCount, 'account');
    const dailyLimit = byLabel(samples, METRIC.dailyLimit, 'account');
    const rateLimit = byLabel(samples, METRIC.rateLimit, 'account');
    const accountsSeen = new Set<string>([...this.#options.accounts, ...orders.keys(), ...dailyCount.keys()]);
    accountsSeen.delete('');
    const accountStates = new Map((adminPart.trading?.accounts ?? []).map((a) => [a.account, a.state]));
    const accounts: AccountRates[] = [...accountsSeen].sort().map((account) => {
      const o = counter(`orders:${account}`, orders.get(account));
      const c = counter(`cancels:${account}`, cancels.get(account));
      return {
        account,
        ordersPerSec: o,
        cancelsPerSec: c,
        ratePerSec: o + c,
        rateLimit: rateLimit.get(account) ?? 300,
        dailyCount: dailyCount.get(account) ?? 0,
        dailyLimit: dailyLimit.get(account) ?? 20_000,
        state: accountStates.get(account) ?? adminPart.trading?.global ?? 'UNKNOWN',
      };
    });

    const sessions: DashboardState['sessions'] = [];
    for (const sample of samples) {
      if (sample.name !== METRIC.sessionConnected) continue;
      const strategy = sample.labels.strategy ?? '';
      const instance = sample.labels.instance ?? '';
      const key = `${strategy}.${instance}`;
      const connected = sample.value > 0;
      if (connected) this.#downSince.delete(key);
      else if (!this.#downSince.has(key)) this.#downSince.set(key, now);
      sessions.push({ strategy, instance, connected, downSince: this.#downSince.get(key) });
    }
    const strategies: DashboardState['strategies'] = [];
    // The strategy host labels instances "<strategy>/<instance>".
    const crash = new Map<string, boolean>();
    for (const sample of samples) if (sample.name === METRIC.strategyCrashLoop) crash.set(sample.labels.instance ?? '', sample.value > 0);
    for (const sample of samples) {
      if (sample.name !== METRIC.strategyUp) continue;
      const key = sample.labels.instance ?? '';
      const slash = key.indexOf('/');
      const strategy = slash >= 0 ? key.slice(0, slash) : key;
      const instance = slash >= 0 ? key.slice(slash + 1) : '';
      strategies.push({ strategy, instance, up: sample.value > 0, crashLoop: crash.get(key) ?? false });
    }

    const denialsByReason = byLabel(samples, METRIC.denials, 'reason');
    const denials = [...denialsByReason].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count);
    const compliance: Array<{ account: string; code: string; count: number }> = [];
    for (const sample of samples) {
      if (sample.name === METRIC.complianceAlerts) compliance.push({ account: sample.labels.account ?? '', code: sample.labels.code ?? '', count: sample.value });
    }

    const totalOrders = [...orders.values()].reduce((a, b) => a + b, 0);
    const totalCancels = [...cancels.values()].reduce((a, b) => a + b, 0);
    const totals = {
      orders: totalOrders,
      cancels: totalCancels,
      fills: sumOf(samples, METRIC.fills) ?? 0,
      denials: [...denialsByReason.values()].reduce((a, b) => a + b, 0),
      realizedPnl: adminPart.positions.reduce((sum, p) => sum + p.realizedPnl, 0),
    };
    const lagTotal = redisPart.groups.reduce((sum, g) => sum + g.lag, 0);
    const alerts = evaluateAlerts(
      {
        now,
        servicesDown: services.filter((x) => !x.up).map((x) => ({ name: x.name, error: x.error })),
        groups: redisPart.groups,
        redis: redisPart.redis.up ? redisPart.redis : undefined,
        accounts,
        sessions,
        crashLoops: strategies.filter((x) => x.crashLoop),
        complianceAlerts: compliance,
        tradingState: adminPart.trading,
      },
      this.#options.thresholds,
    );
    const { started, cleared } = diffAlerts(this.#alerts, alerts);
    for (const a of started) this.#log[a.severity === 'critical' ? 'error' : 'warn'](`alert: ${a.message}`, { alert: a.id });
    for (const a of cleared) this.#log.info(`alert cleared: ${a.message}`, { alert: a.id });
    this.#alerts = alerts;

    const h = s.history;
    const max = this.#options.historyPoints;
    push(h.t, now, max);
    push(h.ticksIn, marketData.ticksInPerSec, max);
    push(h.ticksConsumed, marketData.ticksConsumedPerSec, max);
    push(h.orders, accounts.reduce((sum, a) => sum + a.ordersPerSec, 0), max);
    push(h.cancels, accounts.reduce((sum, a) => sum + a.cancelsPerSec, 0), max);
    push(h.lag, lagTotal, max);

    this.#state = {
      time: now,
      services,
      marketData,
      groups: redisPart.groups,
      redis: redisPart.redis,
      sessions,
      strategies,
      accounts,
      tradingState: adminPart.trading,
      orders: adminPart.orders,
      positions: adminPart.positions,
      totals,
      denials,
      alerts,
      audit: redisPart.audit,
      auditChanges: this.#auditChanges,
      history: h,
    };
    return this.#state;
  }

  async #collectRedis(now: number): Promise<{ groups: GroupLag[]; redis: DashboardState['redis']; audit: DashboardState['audit'] }> {
    const empty = { groups: [], redis: { up: false, usedMemory: 0, maxMemory: 0, streams: 0, entries: 0, topStreams: [] }, audit: [] };
    const connection = this.#options.redis;
    if (!connection) return empty;
    try {
      const client = connection.client as RedisClient;
      const info = String(await client.info('memory'));
      const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
      const maxMemory = Number(/maxmemory:(\d+)/.exec(info)?.[1] ?? 0);
      // The key list is refreshed every 10 s: SCAN is cheap but not free on a big keyspace.
      if (now - this.#streamKeysAt > 10_000 || this.#streamKeys.length === 0) {
        const keys: string[] = [];
        const nodes = 'nodes' in client && typeof client.nodes === 'function' ? client.nodes('master') : [client];
        for (const node of nodes) {
          let cursor = '0';
          do {
            const [next, batch] = (await node.call('SCAN', cursor, 'MATCH', `${this.#options.keyPrefix}:md:*`, 'COUNT', '1000', 'TYPE', 'stream')) as [string, string[]];
            cursor = next;
            for (const k of batch) if (!k.includes(':dlq:')) keys.push(k);
          } while (cursor !== '0' && keys.length < 5_000);
        }
        this.#streamKeys = keys.sort();
        this.#streamKeysAt = now;
      }
      const lengths: Array<{ key: string; length: number }> = [];
      const groups = new Map<string, GroupLag>();
      // At most 200 streams are inspected per round (enough for the dashboard's totals).
      for (const key of this.#streamKeys.slice(0, 200)) {
        const length = Number(await client.xlen(key));
        lengths.push({ key, length });
        const raw = (await client.xinfo('GROUPS', key)) as unknown[][];
        for (const g of raw) {
          const fields = new Map<string, unknown>();
          for (let i = 0; i + 1 < g.length; i += 2) fields.set(String(g[i]), g[i + 1]);
          const name = String(fields.get('name') ?? '');
          const entry = groups.get(name) ?? { group: name, lag: 0, pending: 0, consumers: 0, streams: 0 };
          const lag = fields.get('lag');
          entry.lag += lag === null || lag === undefined ? 0 : Number(lag);
          entry.pending += Number(fields.get('pending') ?? 0);
          entry.consumers = Math.max(entry.consumers, Number(fields.get('consumers') ?? 0));
          entry.streams++;
          groups.set(name, entry);
        }
      }
      const tailKey = `${this.#options.keyPrefix}:audit:tail`;
      const auditRaw = (await client.xrevrange(tailKey, '+', '-', 'COUNT', 25)) as Array<[string, string[]]>;
      const audit = auditRaw.map(([id, fields]) => auditRow(id, fields));
      // Kill-switch and limit changes are read incrementally from the stream, so a burst of
      // order traffic (a strategy retrying while halted) cannot push them out of view.
      const since = (await client.xrange(tailKey, this.#auditChangesAfter === '-' ? '-' : `(${this.#auditChangesAfter}`, '+', 'COUNT', 5_000)) as Array<[string, string[]]>;
      if (since.length > 0) this.#auditChangesAfter = since.at(-1)![0];
      const changes = since.map(([id, fields]) => auditRow(id, fields)).filter((r) => AUDIT_CHANGE_KINDS.has(r.kind));
      if (changes.length > 0) this.#auditChanges = [...changes.reverse(), ...this.#auditChanges].slice(0, AUDIT_CHANGES_KEPT);
      lengths.sort((a, b) => b.length - a.length);
      return {
        groups: [...groups.values()].sort((a, b) => a.group.localeCompare(b.group)),
        redis: { up: true, usedMemory: used, maxMemory, streams: this.#streamKeys.length, entries: lengths.reduce((a, b) => a + b.length, 0), topStreams: lengths.slice(0, 8) },
        audit,
      };
    } catch (error) {
      this.#log.debug('redis collection failed', { error: error instanceof Error ? error.message : String(error) });
      return empty;
    }
  }

  async #collectAdmin(): Promise<{ trading: DashboardState['tradingState']; orders: BlotterRow[]; positions: PositionRow[] }> {
    const admin = this.#admin;
    const target = this.#options.admin;
    if (!admin || !target) return { trading: undefined, orders: [], positions: [] };
    const md = new Metadata();
    md.set('authorization', `Bearer ${target.token}`);
    const call = <Req, Res>(method: (req: Req, md: Metadata, opts: { deadline: number }, cb: (e: ServiceError | null, r: Res) => void) => unknown, request: Req) =>
      new Promise<Res | undefined>((resolve) => {
        method.call(admin, request, md, { deadline: Date.now() + 2_000 }, (error: ServiceError | null, response: Res) => resolve(error ? undefined : response));
      });
    // Orders that reached the venue and the latest denials are asked for apart: a strategy
    // retrying into the risk checks (or a halted kill switch) would otherwise fill the blotter
    // with denials and push the working, filled and cancelled orders out of it.
    const [state, venueOrders, deniedOrders, ...positions] = await Promise.all([
      call<object, GetTradingStateResponse>(admin.getTradingState as never, { account: '' }),
      call<object, ListOrdersResponse>(admin.listOrders as never, { account: '', strategyId: '', statuses: VENUE_STATUSES, limit: 100 }),
      call<object, ListOrdersResponse>(admin.listOrders as never, { account: '', strategyId: '', statuses: [OrderStatus.DENIED], limit: 10 }),
      ...this.#options.accounts.map((account) => call<object, ListPositionsResponse>(admin.listPositions as never, { account })),
    ]);
    const trading = state
      ? {
          global: TRADING_STATE.fromProto.get(state.globalState?.state ?? 0) ?? 'UNKNOWN',
          globalActor: state.globalState?.actor ?? '',
          globalReason: state.globalState?.reason ?? '',
          accounts: state.accountStates.map((a) => ({ account: a.account, state: TRADING_STATE.fromProto.get(a.state) ?? 'UNKNOWN', actor: a.actor, reason: a.reason })),
        }
      : undefined;
    return {
      trading,
      orders: [...(venueOrders?.orders ?? []), ...(deniedOrders?.orders ?? [])].sort((a, b) => b.updatedTimeUs - a.updatedTimeUs).map((o) => ({
        clientOrderId: o.clientOrderId,
        account: o.account,
        strategy: o.instanceId ? `${o.strategyId}.${o.instanceId}` : o.strategyId,
        symbol: o.symbol,
        side: SIDE.fromProto.get(o.side) ?? '?',
        type: ORDER_TYPE.fromProto.get(o.orderType) ?? '?',
        price: o.price,
        quantity: o.quantity,
        cumQty: o.cumQty,
        avgPrice: o.avgPrice,
        status: ORDER_STATUS.fromProto.get(o.status) ?? '?',
        text: o.text,
        updatedUs: o.updatedTimeUs,
      })),
      positions: positions.flatMap((r) =>
        (r?.positions ?? []).map((p) => ({ account: p.account, symbol: p.symbol, quantity: p.quantity, sellable: p.sellableQuantity, avgCost: p.avgCostPrice, realizedPnl: p.realizedPnl })),
      ),
    };
  }

  close(): void {
    this.#admin?.close();
  }
}
