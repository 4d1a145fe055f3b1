/**
 * The typed configuration. `config/default.yaml` holds every default; this schema only
 * validates and converts (CNY amounts to integer units), so there is one source of defaults.
 */
import { z } from 'zod';
import { strategiesConfigSchema } from './strategies-schema.ts';
import { parseYuan } from '../core/units.ts';

const port = z.number().int().min(0).max(65_535);
const host = z.string().min(1);
const ppm = z.number().int().min(0).max(1_000_000);
const tradingDate = z
  .number()
  .int()
  .refine((d) => d >= 19_900_101 && d <= 29_991_231 && d % 100 >= 1 && d % 100 <= 31, 'a date as YYYYMMDD');
/** A CNY amount given as a number or decimal string, converted exactly to integer units. */
const yuanAmount = z.union([z.number(), z.string()]).transform((value, ctx) => {
  try {
    return parseYuan(String(value));
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});
const hostPort = z.strictObject({ host, port });
const compId = z.string().regex(/^[A-Za-z0-9_.-]{1,32}$/, 'a FIX CompID: letters, digits and _ . - (at most 32)');

const count = z.number().int().min(0).max(1_000_000_000);
const symbol = z.string().regex(/^\d{6}\.(SH|SZ|BJ)$/, 'an A-share symbol such as 600000.SH');
const accountId = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits and _ . - (at most 64)');
/** An id (letters, digits, _ . -) or "*" for every one. */
const idOrAll = (what: string) => z.string().regex(/^(\*|[A-Za-z0-9_.-]{1,64})$/, `${what} (letters, digits, _ . -) or "*"`);
const ordersPerSecond = z.number().int().min(1).max(1_000_000);
const dailyOrders = z.number().int().min(1).max(1_000_000_000);
const upToADayMs = z.number().int().min(0).max(86_400_000);

/** Risk limits (src/core/risk/limits.ts); money in CNY here, integer 0.0001 CNY units after loading. */
const riskLimitFields = {
  maxOrderQty: count,
  maxOrderNotional: yuanAmount,
  maxOrdersPerSecond: ordersPerSecond,
  orderBurst: z.number().int().min(1).max(1_000_000),
  maxDailyOrders: dailyOrders,
  dailyCancelReserve: count,
  dailyCountWarningPct: z.number().int().min(1).max(100),
  maxOpenOrders: count,
  maxPositionQty: z.number().int().min(0),
  maxGrossExposure: yuanAmount,
  maxDailyLoss: yuanAmount,
  duplicateWindowMs: upToADayMs,
  maxQuoteAgeMs: upToADayMs,
  orderRateSpikePerSecond: z.number().int().min(0).max(1_000_000),
  fastCancelMs: z.number().int().min(1).max(86_400_000),
  fastCancelAlertCount: count,
  cancelRatioAlertPct: z.number().int().min(0).max(100),
  cancelRatioMinOrders: count,
};

const executionSchema = z.strictObject({
  host,
  grpcPort: port,
  metricsPort: port,
  /** Bearer token of the Admin API; empty in paper mode = generated at start (see docs/execution.md). */
  adminToken: z.union([z.string(), z.number()]).transform(String),
  strategies: z.array(z.strictObject({
    id: idOrAll('a strategy id'),
    token: z.string().min(1),
    accounts: z.array(idOrAll('an account id')).min(1),
  })),
  accounts: z.array(z.strictObject({
    id: accountId,
    cash: yuanAmount,
    positions: z.array(z.strictObject({ symbol, quantity: z.number().int().min(0), avgCost: yuanAmount })),
    profile: z.strictObject({
      strategyType: z.string().min(1),
      maxOrdersPerSecond: ordersPerSecond,
      maxDailyOrders: dailyOrders,
      softwareName: z.string().min(1),
      softwareVersion: z.string().min(1),
      responsiblePerson: z.string().min(1),
    }),
  })).min(1),
  risk: z.strictObject({
    limits: z.strictObject(riskLimitFields),
    accountLimits: z.record(accountId, z.strictObject(riskLimitFields).partial()),
    restrictedSymbols: z.array(symbol),
  }),
  broker: z.strictObject({
    kind: z.enum(['fix']),
    /** Empty: the local simulator (sim.host). */
    host: z.string(),
    /** 0: the local simulator's sim.fixPort. */
    port,
    senderCompId: compId,
    targetCompId: compId,
    heartBtIntSeconds: z.number().int().min(1).max(3_600),
    reconnect: z.strictObject({ initialMs: z.number().int().min(10), maxMs: z.number().int().min(10) }),
    reconcileTimeoutMs: z.number().int().min(100),
  }),
  audit: z.strictObject({
    sync: z.enum(['normal', 'full']),
    outboxRetention: z.number().int().min(1),
  }),
  /** How long the phased shutdown waits for each phase (ms). */
  shutdownGraceMs: z.number().int().min(100),
});

export const configSchema = z.strictObject({
  mode: z.enum(['paper', 'live']),
  dataDir: z.string().min(1),
  logLevel: z.enum(['debug', 'info', 'warn', 'error']),
  market: z.strictObject({
    stLimitSchedule: z.array(z.strictObject({ from: tradingDate, ppm })).min(1),
    holidays: z.array(tradingDate),
  }),
  fees: z.strictObject({
    commissionPpm: ppm,
    minCommission: yuanAmount,
    stampDutySellPpm: ppm,
    transferFeePpm: ppm,
  }),
  redis: z.strictObject({
    mode: z.enum(['embedded', 'standalone', 'sentinel', 'cluster']),
    url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL'),
    sentinels: z.array(hostPort),
    sentinelMasterName: z.string().min(1),
    clusterNodes: z.array(hostPort),
    keyPrefix: z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits and _ . : -'),
  }),
  kafka: z.strictObject({
    brokers: z.array(z.string().regex(/^[^:\s]+:\d+$/, 'host:port')),
    tickTopic: z.string().min(1),
  }),
  sim: z.strictObject({
    host,
    feedPort: port,
    fixPort: port,
    metricsPort: port,
    fixCompId: compId,
    fixClients: z.array(compId).min(1),
    timeMode: z.enum(['accelerated', 'real', 'continuous']),
    speed: z.number().positive().max(10_000),
    startTime: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM (China time)'),
    seed: z.number().int().min(0).max(2 ** 32 - 1),
    arrivalsPerSecond: z.number().positive().max(100_000),
  }),
  gateway: z.strictObject({
    feeds: z.array(
      z.strictObject({
        name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits and _ . -'),
        host,
        port: z.number().int().min(1).max(65_535),
        channels: z.array(z.number().int().min(1).max(65_535)).min(1),
      }),
    ),
    clientId: z.string().min(1).max(64),
    startAt: z.enum(['live', 'earliest']),
    streamMaxLen: z.number().int().min(100),
    compression: z.enum(['none', 'gzip', 'deflate']),
    slotGroups: z.number().int().min(1).max(1024),
    bufferMaxTicks: z.number().int().min(1_000),
    overflowPolicy: z.enum(['backpressure', 'drop-oldest']),
    metricsPort: port,
  }),
  execution: executionSchema,
  strategies: strategiesConfigSchema,
  monitor: z.strictObject({
    host,
    port,
    /** Collect and push a snapshot this often. */
    intervalMs: z.number().int().min(100),
    /** Points kept for the dashboard's charts. */
    historyPoints: z.number().int().min(10).max(10_000),
    /** The services' /metrics to read; empty: the local defaults (`triquant up` fills it in). */
    targets: z.array(z.strictObject({ name: z.string().min(1), url: z.string().url() })),
    /** The execution service's gRPC host:port; empty: execution.host and execution.grpcPort, else the address a running service wrote under dataDir. */
    execution: z.union([z.literal(''), z.string().regex(/^[^:\s]+:\d{1,5}$/, 'host:port')]),
    alerts: z.strictObject({
      consumerLagEntries: z.number().int().positive(),
      redisMemoryPct: z.number().positive().max(100),
      redisMemoryMb: z.number().positive(),
      orderRatePct: z.number().positive().max(100),
      dailyCountPct: z.number().positive().max(100),
      grpcDisconnectedMs: z.number().int().positive(),
    }),
  }),
}).superRefine((config, ctx) => {
  if (config.redis.mode === 'sentinel' && config.redis.sentinels.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['redis', 'sentinels'], message: 'sentinel mode needs at least one sentinel' });
  }
  const ex = config.execution;
  if (config.mode === 'live') {
    if (ex.adminToken.length < 16) {
      ctx.addIssue({ code: 'custom', path: ['execution', 'adminToken'], message: 'live mode needs an admin token of at least 16 characters (set TRIQUANT__EXECUTION__ADMIN_TOKEN)' });
    }
    ex.strategies.forEach((s, i) => {
      if (s.token.length < 16) ctx.addIssue({ code: 'custom', path: ['execution', 'strategies', i, 'token'], message: 'live mode needs strategy tokens of at least 16 characters' });
    });
  }
  const ids = new Set<string>();
  ex.accounts.forEach((a, i) => {
    if (ids.has(a.id)) ctx.addIssue({ code: 'custom', path: ['execution', 'accounts', i, 'id'], message: `account ${a.id} is listed twice` });
    ids.add(a.id);
  });
  ex.strategies.forEach((s, i) => s.accounts.forEach((a, j) => {
    if (a !== '*' && !ids.has(a)) ctx.addIssue({ code: 'custom', path: ['execution', 'strategies', i, 'accounts', j], message: `no account ${a} in execution.accounts` });
  }));
  if (ex.broker.reconnect.maxMs < ex.broker.reconnect.initialMs) {
    ctx.addIssue({ code: 'custom', path: ['execution', 'broker', 'reconnect', 'maxMs'], message: 'must be at least initialMs' });
  }
  if (config.redis.mode === 'cluster' && config.redis.clusterNodes.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['redis', 'clusterNodes'], message: 'cluster mode needs at least one node' });
  }
});

export type Config = z.output<typeof configSchema>;
