/**
 * Prometheus metrics of the execution service. Counters are fed by the OMS observer; gauges
 * are read on scrape from their sources (risk usage, trading states, sessions, broker), so
 * nothing has to be kept in step.
 *
 * Rates ("orders per second per account") are `rate(triquant_execution_orders_total[10s])` in
 * PromQL; the gauge `triquant_execution_actions_last_second` gives the same without a server.
 */
import type { TradingState } from '../core/risk/types.ts';
import { Counter, Gauge, type Registry } from '../obs/metrics.ts';
import type { OmsObserver } from './oms.ts';
import type { BrokerConnectionState, TradingStateRecord } from './ports.ts';

export interface ExecutionMetricSources {
  accounts(): readonly string[];
  /** Orders + cancels counted today and the day's cap (risk engine usage). */
  dailyUsage(account: string): { count: number; cap: number } | undefined;
  tradingStates(): { global: TradingStateRecord; accounts: readonly TradingStateRecord[] };
  openOrders(account: string): number;
  sessions(): number;
  brokerState(): BrokerConnectionState;
  ready(): boolean;
  referenceSymbols(): number;
  /** Realized P&L today, 0.0001 CNY. */
  realizedPnl(account: string): number;
  /** Orders + cancels per second allowed (the stricter of the risk limit and the declared profile). */
  rateLimit(account: string): number | undefined;
  /** Strategy instances with a live session stream (labels for the dashboard's connection panel). */
  sessionList(): ReadonlyArray<{ strategyId: string; instanceId: string }>;
}

/** The value of `triquant_execution_trading_state` for each state. */
export const STATE_VALUE: Readonly<Record<TradingState, number>> = { ACTIVE: 0, REDUCING: 1, HALTED: 2 };
const BROKER_STATES: readonly BrokerConnectionState[] = ['disconnected', 'connecting', 'connected', 'closed'];

/** Registers the metrics and returns the OMS observer that feeds the counters. */
export function registerExecutionMetrics(registry: Registry, sources: ExecutionMetricSources): OmsObserver {
  const orders = new Counter({ name: 'triquant_execution_orders_total', help: 'Orders sent to the venue', labelNames: ['account'] as const, registers: [registry] });
  const cancels = new Counter({ name: 'triquant_execution_cancels_total', help: 'Cancels sent to the venue', labelNames: ['account'] as const, registers: [registry] });
  const fills = new Counter({ name: 'triquant_execution_fills_total', help: 'Fills booked', labelNames: ['account'] as const, registers: [registry] });
  const denials = new Counter({
    name: 'triquant_execution_denials_total', help: 'Orders denied, by reason code', labelNames: ['account', 'reason'] as const, registers: [registry],
  });
  const ordersFilled = new Counter({
    name: 'triquant_execution_orders_filled_total', help: 'Orders whose whole quantity filled', labelNames: ['account'] as const, registers: [registry],
  });
  const alerts = new Counter({
    name: 'triquant_execution_compliance_alerts_total', help: 'Abnormal-trading monitor alerts, by code', labelNames: ['account', 'code'] as const, registers: [registry],
  });
  new Gauge({
    name: 'triquant_execution_realized_pnl', help: 'Realized profit and loss today, 0.0001 CNY', labelNames: ['account'] as const, registers: [registry],
    collect() {
      for (const account of sources.accounts()) this.set({ account }, sources.realizedPnl(account));
    },
  });
  new Gauge({
    name: 'triquant_execution_rate_limit', help: 'Orders + cancels per second allowed', labelNames: ['account'] as const, registers: [registry],
    collect() {
      for (const account of sources.accounts()) {
        const limit = sources.rateLimit(account);
        if (limit !== undefined) this.set({ account }, limit);
      }
    },
  });
  // Every instance ever seen stays listed (0 when gone), so the dashboard shows disconnections.
  const seenSessions = new Set<string>();
  new Gauge({
    name: 'triquant_execution_session_connected', help: '1 while the strategy instance has a session stream', labelNames: ['strategy', 'instance'] as const,
    registers: [registry],
    collect() {
      const live = new Set(sources.sessionList().map((s) => `${s.strategyId}\u0000${s.instanceId}`));
      for (const key of live) seenSessions.add(key);
      for (const key of seenSessions) {
        const [strategy = '', instance = ''] = key.split('\u0000');
        this.set({ strategy, instance }, live.has(key) ? 1 : 0);
      }
    },
  });
  const stateChanges = new Counter({
    name: 'triquant_execution_trading_state_changes_total', help: 'Trading-state changes', labelNames: ['scope', 'state'] as const, registers: [registry],
  });
  // Sliding one-second window of orders + cancels per account.
  const recent = new Map<string, number[]>();
  const note = (account: string): void => {
    const now = Date.now();
    let list = recent.get(account);
    if (list === undefined) recent.set(account, (list = []));
    list.push(now);
    while (list.length > 0 && now - list[0]! > 1_000) list.shift();
  };
  new Gauge({
    name: 'triquant_execution_actions_last_second', help: 'Orders + cancels sent in the last second', labelNames: ['account'] as const, registers: [registry],
    collect() {
      const now = Date.now();
      for (const account of sources.accounts()) {
        const list = recent.get(account) ?? [];
        while (list.length > 0 && now - list[0]! > 1_000) list.shift();
        this.set({ account }, list.length);
      }
    },
  });
  new Gauge({
    name: 'triquant_execution_daily_count', help: 'Orders + cancels counted today', labelNames: ['account'] as const, registers: [registry],
    collect() {
      for (const account of sources.accounts()) {
        const usage = sources.dailyUsage(account);
        if (usage) this.set({ account }, usage.count);
      }
    },
  });
  new Gauge({
    name: 'triquant_execution_daily_limit', help: 'Daily cap of orders + cancels', labelNames: ['account'] as const, registers: [registry],
    collect() {
      for (const account of sources.accounts()) {
        const usage = sources.dailyUsage(account);
        if (usage) this.set({ account }, usage.cap);
      }
    },
  });
  new Gauge({
    name: 'triquant_execution_trading_state', help: 'Trading state: 0 ACTIVE, 1 REDUCING, 2 HALTED (account "" = global)', labelNames: ['account'] as const,
    registers: [registry],
    collect() {
      const states = sources.tradingStates();
      this.set({ account: '' }, STATE_VALUE[states.global.state]);
      for (const record of states.accounts) this.set({ account: record.account }, STATE_VALUE[record.state]);
    },
  });
  new Gauge({
    name: 'triquant_execution_open_orders', help: 'Non-terminal orders', labelNames: ['account'] as const, registers: [registry],
    collect() {
      for (const account of sources.accounts()) this.set({ account }, sources.openOrders(account));
    },
  });
  new Gauge({ name: 'triquant_execution_grpc_sessions', help: 'Strategy session streams connected', registers: [registry], collect() { this.set(sources.sessions()); } });
  new Gauge({
    name: 'triquant_execution_broker_state', help: '1 for the current broker connection state', labelNames: ['state'] as const, registers: [registry],
    collect() {
      const current = sources.brokerState();
      for (const state of BROKER_STATES) this.set({ state }, state === current ? 1 : 0);
    },
  });
  new Gauge({ name: 'triquant_execution_ready', help: '1 when orders are accepted (reconciled with the venue)', registers: [registry], collect() { this.set(sources.ready() ? 1 : 0); } });
  new Gauge({ name: 'triquant_execution_reference_symbols', help: 'Symbols with a reference price', registers: [registry], collect() { this.set(sources.referenceSymbols()); } });

  return {
    orderSent: (account) => {
      orders.inc({ account });
      note(account);
    },
    cancelSent: (account) => {
      cancels.inc({ account });
      note(account);
    },
    fill: (account) => fills.inc({ account }),
    orderFilled: (account) => ordersFilled.inc({ account }),
    complianceAlert: (account, code) => alerts.inc({ account, code }),
    orderDenied: (account, reason) => denials.inc({ account, reason }),
    tradingStateChanged: (record) => stateChanges.inc({ scope: record.scope, state: record.state }),
  };
}
