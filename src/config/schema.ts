/**
 * The typed configuration. `config/default.yaml` holds every default; this schema only
 * validates and converts (CNY amounts to integer units), so there is one source of defaults.
 */
import { z } from 'zod';
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
  execution: z.strictObject({ host, grpcPort: port }),
  monitor: z.strictObject({ host, port }),
}).superRefine((config, ctx) => {
  if (config.redis.mode === 'sentinel' && config.redis.sentinels.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['redis', 'sentinels'], message: 'sentinel mode needs at least one sentinel' });
  }
  if (config.redis.mode === 'cluster' && config.redis.clusterNodes.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['redis', 'clusterNodes'], message: 'cluster mode needs at least one node' });
  }
});

export type Config = z.output<typeof configSchema>;
