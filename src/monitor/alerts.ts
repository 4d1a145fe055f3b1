/**
 * Alert rules of the dashboard: pure functions of one collected snapshot and the thresholds
 * from config. The collector keeps which alerts are active, logs each one when it starts and
 * when it clears, and pushes the active list to the dashboard.
 */

export type AlertSeverity = 'warning' | 'critical';

export interface Alert {
  /** Stable identity, e.g. "consumer_lag:dual_ma"; the same condition keeps the same id. */
  readonly id: string;
  readonly severity: AlertSeverity;
  readonly message: string;
}

export interface AlertThresholds {
  /** Entries waiting for a consumer group (XINFO GROUPS lag), summed over its streams. */
  readonly consumerLagEntries: number;
  /** Redis used memory as a share of maxmemory (percent), or absolute bytes when maxmemory is 0. */
  readonly redisMemoryPct: number;
  readonly redisMemoryBytes: number;
  /** Orders+cancels per second per account, as a percent of the account's rate limit. */
  readonly orderRatePct: number;
  /** Daily order+cancel count as a percent of the daily limit. */
  readonly dailyCountPct: number;
  /** A strategy instance whose gRPC session has been down this long. */
  readonly grpcDisconnectedMs: number;
}

export interface AlertInputs {
  readonly now: number;
  readonly servicesDown: ReadonlyArray<{ name: string; error: string }>;
  readonly groups: ReadonlyArray<{ group: string; lag: number }>;
  readonly redis: { usedMemory: number; maxMemory: number } | undefined;
  readonly accounts: ReadonlyArray<{ account: string; ratePerSec: number; rateLimit: number; dailyCount: number; dailyLimit: number }>;
  /** Sessions and when each went down (undefined while connected). */
  readonly sessions: ReadonlyArray<{ strategy: string; instance: string; connected: boolean; downSince: number | undefined }>;
  /** Strategy instances the host gave up restarting. */
  readonly crashLoops: ReadonlyArray<{ strategy: string; instance: string }>;
  /** Compliance alerts the execution service raised (code → count since start). */
  readonly complianceAlerts: ReadonlyArray<{ account: string; code: string; count: number }>;
  readonly tradingState: { global: string; accounts: ReadonlyArray<{ account: string; state: string }> } | undefined;
}

export function evaluateAlerts(input: AlertInputs, t: AlertThresholds): Alert[] {
  const alerts: Alert[] = [];
  for (const s of input.servicesDown) {
    alerts.push({ id: `service_down:${s.name}`, severity: 'critical', message: `${s.name} is not answering: ${s.error}` });
  }
  for (const g of input.groups) {
    if (g.lag >= t.consumerLagEntries) {
      alerts.push({ id: `consumer_lag:${g.group}`, severity: 'warning', message: `consumer group ${g.group} is ${g.lag} entries behind (threshold ${t.consumerLagEntries})` });
    }
  }
  if (input.redis) {
    const { usedMemory, maxMemory } = input.redis;
    if (maxMemory > 0 && (usedMemory / maxMemory) * 100 >= t.redisMemoryPct) {
      alerts.push({ id: 'redis_memory', severity: 'critical', message: `Redis uses ${((usedMemory / maxMemory) * 100).toFixed(1)}% of maxmemory (threshold ${t.redisMemoryPct}%)` });
    } else if (maxMemory === 0 && usedMemory >= t.redisMemoryBytes) {
      alerts.push({ id: 'redis_memory', severity: 'warning', message: `Redis uses ${(usedMemory / 2 ** 20).toFixed(0)} MiB (threshold ${(t.redisMemoryBytes / 2 ** 20).toFixed(0)} MiB, no maxmemory set)` });
    }
  }
  for (const a of input.accounts) {
    if (a.rateLimit > 0 && (a.ratePerSec / a.rateLimit) * 100 >= t.orderRatePct) {
      alerts.push({ id: `order_rate:${a.account}`, severity: 'warning', message: `account ${a.account} sends ${a.ratePerSec.toFixed(0)} orders+cancels/s, ${t.orderRatePct}%+ of its limit ${a.rateLimit}/s` });
    }
    if (a.dailyLimit > 0 && (a.dailyCount / a.dailyLimit) * 100 >= t.dailyCountPct) {
      alerts.push({ id: `daily_count:${a.account}`, severity: 'warning', message: `account ${a.account} has used ${a.dailyCount} of ${a.dailyLimit} daily orders+cancels` });
    }
  }
  for (const s of input.sessions) {
    if (!s.connected && s.downSince !== undefined && input.now - s.downSince >= t.grpcDisconnectedMs) {
      alerts.push({ id: `grpc_disconnected:${s.strategy}.${s.instance}`, severity: 'critical', message: `strategy ${s.strategy}.${s.instance} has had no gRPC session for ${Math.round((input.now - s.downSince) / 1000)} s` });
    }
  }
  for (const c of input.crashLoops) {
    alerts.push({ id: `crash_loop:${c.strategy}.${c.instance}`, severity: 'critical', message: `strategy ${c.strategy}.${c.instance} is crash-looping; the host stopped restarting it` });
  }
  for (const c of input.complianceAlerts) {
    if (c.count > 0) alerts.push({ id: `compliance:${c.account}:${c.code}`, severity: 'warning', message: `compliance monitor ${c.code} fired ${c.count}× for account ${c.account}` });
  }
  if (input.tradingState) {
    if (input.tradingState.global !== 'ACTIVE') {
      alerts.push({ id: 'kill_switch:global', severity: 'critical', message: `trading is ${input.tradingState.global} for everything` });
    }
    for (const a of input.tradingState.accounts) {
      if (a.state !== 'ACTIVE') alerts.push({ id: `kill_switch:${a.account}`, severity: 'critical', message: `account ${a.account} is ${a.state}` });
    }
  }
  return alerts;
}

/** Which alerts started and which cleared between two evaluations (for the log). */
export function diffAlerts(before: readonly Alert[], after: readonly Alert[]): { started: Alert[]; cleared: Alert[] } {
  const was = new Set(before.map((a) => a.id));
  const is = new Set(after.map((a) => a.id));
  return { started: after.filter((a) => !was.has(a.id)), cleared: before.filter((a) => !is.has(a.id)) };
}
