/**
 * The `strategies:` section: which strategy files run (on which symbols and accounts, with
 * which parameters, how many instances) and the strategy host's own settings. Lives in the
 * config layer so the whole configuration is validated in one place; the host
 * (src/strategy/host-config.ts) adds the checks that need the strategy files themselves.
 *
 * Per-entry fields have defaults here (a list item cannot get them from config/default.yaml);
 * the host settings are all given in config/default.yaml.
 */
import { z } from 'zod';

/** Strategy names: part of client order ids and consumer-group names. */
export const STRATEGY_NAME_PATTERN = /^[a-z][a-z0-9_]{0,23}$/;

const positiveMs = z.number().int().positive();

/** One configured strategy: a file run as `instances` OS processes. */
export const strategyEntrySchema = z.strictObject({
  /** Consumer group and strategy id towards the execution service; unique among entries. */
  name: z.string().regex(STRATEGY_NAME_PATTERN, 'lower-case letters, digits and _, starting with a letter, at most 24'),
  /** The strategy module, relative to the project root (or absolute). */
  file: z.string().min(1),
  /** Symbols each instance receives from the start (the strategy may subscribe to more). */
  symbols: z.array(z.string().min(1)).default([]),
  /** The trading account the instances use. */
  account: z.string().min(1).max(64),
  /** Raw parameters, validated by the strategy's own `params` schema at start-up. */
  params: z.record(z.string(), z.unknown()).default({}),
  instances: z.number().int().min(1).max(64).default(1),
  /** Instance ids are `<instancePrefix><n>` (n = 1…instances); change it when two entries run the same strategy file. */
  instancePrefix: z.string().regex(/^[A-Za-z0-9_]{1,12}$/, 'letters, digits and _ (at most 12)').default('i'),
  /** Auth token for the execution service; empty: the environment variable TRIQUANT_TOKEN_<NAME>, else TRIQUANT_TOKEN. */
  token: z.string().default(''),
  enabled: z.boolean().default(true),
  /** Cash (CNY) this strategy's own portfolio view starts with: its share of the account. */
  capital: z.number().nonnegative().default(1_000_000),
});

export const strategiesConfigSchema = z.strictObject({
  /** Waiting time before restarting a crashed instance: initialMs, doubling per consecutive crash up to maxMs. */
  restart: z.strictObject({ initialMs: positiveMs, maxMs: positiveMs }),
  /** More than maxRestarts crashes within windowMs: stop restarting that instance and alert. */
  crashLoop: z.strictObject({ maxRestarts: z.number().int().min(0), windowMs: positiveMs }),
  /** An instance that has run this long without crashing starts its back-off afresh. */
  stableAfterMs: positiveMs,
  /** Graceful stop: time for an instance to finish its batch and run onStop before SIGKILL. */
  stopGraceMs: positiveMs,
  /** How soon state changed by execution reports or timers is checkpointed when no market data arrives. */
  checkpointIntervalMs: positiveMs,
  /** Reading market data from the instance's Redis consumer group. */
  marketData: z.strictObject({
    /** Where a new consumer group starts: earliest (the whole retained stream) or live (new entries only). */
    startAt: z.enum(['earliest', 'live']),
    blockMs: positiveMs,
    /** Entries per read. */
    count: z.number().int().min(1).max(10_000),
    /** Pending entries of a consumer idle this long are taken over by another instance. */
    claimIdleMs: positiveMs,
    /** An entry delivered this many times goes to the dead-letter stream. */
    maxDeliveries: z.number().int().min(1),
    /** Least time between two commits (checkpoint + acknowledgement) of an instance; batches handled meanwhile share the next. */
    commitIntervalMs: z.number().int().min(0).max(60_000),
  }),
  /** The execution service's gRPC address host:port; empty: execution.host and execution.grpcPort. */
  execution: z.union([z.literal(''), z.string().regex(/^[^:\s]+:\d{1,5}$/, 'host:port')]),
  /** The host's Prometheus /metrics port (0: any free port). */
  metricsPort: z.number().int().min(0).max(65_535),
  /** The strategies to run. */
  run: z.array(strategyEntrySchema),
});

