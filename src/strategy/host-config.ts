/**
 * The `strategies:` section of the configuration (which strategy files run, on which symbols
 * and accounts, with which parameters, how many instances) and the host's own settings
 * (restart back-off, crash-loop limit, checkpoint interval, market-data reads), plus the
 * start-up validation that loads every strategy file and checks its parameters with the
 * strategy's own schema, so a mistake stops `triquant strategy` with one message naming the
 * key before any process starts.
 *
 * Per-entry fields have defaults here (a list item cannot get them from config/default.yaml);
 * the host settings are all given in config/default.yaml.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { ConfigError } from '../core/errors.ts';
import { parseYuan } from '../core/units.ts';
import type { FeeSchedule } from '../core/fees.ts';
import type { LogLevel } from '../obs/log.ts';
import type { RedisConnectionOptions } from '../bus/redis-connection.ts';
import type { InstanceStats } from './instance.ts';
import type { MarketDataSourceStats } from '../bus/market-data-source.ts';
import {
  definitionFromModule,
  INSTANCE_ID_PATTERN,
  parseParams,
  type JsonObject,
  type StrategyDefinition,
} from './api.ts';

import { strategyEntrySchema, strategiesConfigSchema } from '../config/strategies-schema.ts';

export { strategyEntrySchema, strategiesConfigSchema };

export type StrategyEntryConfig = z.output<typeof strategyEntrySchema>;
export type StrategiesConfig = z.output<typeof strategiesConfigSchema>;

/** The defaults of config/default.yaml, for callers that have no `strategies` section yet (and tests). */
export const DEFAULT_STRATEGIES_CONFIG: StrategiesConfig = Object.freeze({
  restart: { initialMs: 1_000, maxMs: 30_000 },
  crashLoop: { maxRestarts: 5, windowMs: 300_000 },
  stableAfterMs: 60_000,
  stopGraceMs: 10_000,
  checkpointIntervalMs: 1_000,
  marketData: { startAt: 'live', blockMs: 1_000, count: 200, claimIdleMs: 30_000, maxDeliveries: 5, commitIntervalMs: 20 },
  execution: '',
  metricsPort: 0,
  run: [],
}) as StrategiesConfig;

/** Parses a raw `strategies` section; a problem is a ConfigError naming the key (`strategies.run.0.account`). */
export function parseStrategiesConfig(raw: unknown): StrategiesConfig {
  const result = strategiesConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = ['strategies', ...issue.path.map(String)];
  if (issue.code === 'unrecognized_keys') throw new ConfigError([...path, issue.keys[0] ?? ''].join('.'), 'unknown key (check the spelling against config/default.yaml)');
  throw new ConfigError(path.join('.'), issue.message);
}

/** One instance to run: everything its process needs, as plain JSON (it crosses a process boundary). */
export interface InstancePlan {
  /** `<entry name>/<instance id>`: how logs, status and metrics name it. */
  readonly key: string;
  readonly name: string;
  readonly instanceId: string;
  /** Absolute path of the strategy module. */
  readonly file: string;
  readonly definitionName: string;
  readonly account: string;
  readonly symbols: readonly string[];
  /** Raw parameters (already validated once by the host). */
  readonly params: JsonObject;
  readonly token: string;
  /** Cash the instance's own portfolio view starts with, 0.0001 CNY (the execution service's risk check is authoritative). */
  readonly capital: number;
}

/** The absolute path of a configured strategy file. */
export function resolveStrategyFile(file: string, projectRoot: string): string {
  return isAbsolute(file) ? file : resolve(projectRoot, file);
}

/** Imports a strategy module and returns its definition; errors name `key`. */
export async function loadStrategyDefinition(file: string, key = 'file'): Promise<StrategyDefinition> {
  if (!existsSync(file)) throw new ConfigError(key, `strategy file ${file} does not exist`);
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(key, `cannot load strategy file ${file}: ${(error as Error).message}`, { cause: error });
  }
  try {
    return definitionFromModule(namespace, file);
  } catch (error) {
    throw new ConfigError(key, (error as Error).message, { cause: error });
  }
}

/** The token of an entry: its own, else TRIQUANT_TOKEN_<NAME>, else TRIQUANT_TOKEN, else empty. */
export function tokenFor(entry: StrategyEntryConfig, env: NodeJS.ProcessEnv): string {
  if (entry.token !== '') return entry.token;
  return env[`TRIQUANT_TOKEN_${entry.name.toUpperCase()}`] ?? env.TRIQUANT_TOKEN ?? '';
}

export interface PlanOptions {
  projectRoot: string;
  env?: NodeJS.ProcessEnv;
  /** Only these entry names (the CLI's --only); unknown names are an error. */
  only?: readonly string[];
}

/**
 * Validates every enabled entry (file loads, exports one strategy, parameters pass the
 * strategy's schema, symbols are A-share symbols, names and instance ids unique) and expands
 * it into one plan per instance. Throws ConfigError naming the key.
 */
export async function planInstances(config: StrategiesConfig, options: PlanOptions): Promise<InstancePlan[]> {
  const env = options.env ?? process.env;
  const plans: InstancePlan[] = [];
  const names = new Set<string>();
  const orderIdOwners = new Map<string, string>();
  for (const name of options.only ?? []) {
    if (!config.run.some((e) => e.name === name)) throw new ConfigError('strategies.run', `no strategy named "${name}" (--only)`);
  }
  for (const [index, entry] of config.run.entries()) {
    const at = `strategies.run.${index}`;
    if (names.has(entry.name)) throw new ConfigError(`${at}.name`, `"${entry.name}" is used by two entries; names must be unique (each is a consumer group)`);
    names.add(entry.name);
    if (!entry.enabled || (options.only !== undefined && !options.only.includes(entry.name))) continue;
    const file = resolveStrategyFile(entry.file, options.projectRoot);
    const definition = await loadStrategyDefinition(file, `${at}.file`);
    parseParams(definition as StrategyDefinition<unknown, JsonObject>, entry.params, `${at}.params`);
    for (const [i, symbol] of entry.symbols.entries()) {
      const parsed = z.string().regex(/^\d{6}\.(SH|SZ|BJ)$/i).safeParse(symbol);
      if (!parsed.success) throw new ConfigError(`${at}.symbols.${i}`, `"${symbol}" is not an A-share symbol like 600000.SH`);
    }
    for (let n = 1; n <= entry.instances; n += 1) {
      const instanceId = `${entry.instancePrefix}${n}`;
      if (!INSTANCE_ID_PATTERN.test(instanceId)) throw new ConfigError(`${at}.instancePrefix`, `instance id "${instanceId}" must match ${INSTANCE_ID_PATTERN}`);
      // Client order ids are <definition>.<instance>-<date>-<seq>: two entries of one file need distinct instance ids.
      const orderIdPrefix = `${definition.name}.${instanceId}`;
      const owner = orderIdOwners.get(orderIdPrefix);
      if (owner !== undefined) {
        throw new ConfigError(`${at}.instancePrefix`, `entries "${owner}" and "${entry.name}" both run ${definition.name} as instance ${instanceId}; their client order ids would collide: give one another instancePrefix`);
      }
      orderIdOwners.set(orderIdPrefix, entry.name);
      plans.push({
        key: `${entry.name}/${instanceId}`,
        name: entry.name,
        instanceId,
        file,
        definitionName: definition.name,
        account: entry.account,
        symbols: entry.symbols.map((s) => s.toUpperCase()),
        params: entry.params as JsonObject,
        token: tokenFor(entry, env),
        capital: parseYuan(String(entry.capital)),
      });
    }
  }
  return plans;
}

// ---------------------------------------------------------------------------------------------
// The contract between the host and an instance process (instance-main.ts)

export const SETTINGS_ENV = 'TRIQUANT_INSTANCE_SETTINGS';
/** Exit code: the group consumer was fenced (another instance took over); restart without counting a crash. */
export const EXIT_FENCED = 75;

/** Everything one instance process needs (plain JSON: it crosses the process boundary). */
export interface InstanceSettings {
  readonly plan: InstancePlan;
  readonly redis: RedisConnectionOptions;
  readonly slotGroups: number;
  readonly marketData: StrategiesConfig['marketData'];
  readonly checkpointIntervalMs: number;
  /** The execution service's gRPC "host:port", or "dry-run" (orders are denied locally). */
  readonly execution: string;
  readonly reconnect: { readonly initialMs: number; readonly maxMs: number };
  readonly logLevel: LogLevel;
  readonly holidays: readonly number[];
  readonly fees: FeeSchedule;
  /** How often the process reports its stats to the host (ms). */
  readonly statusIntervalMs: number;
}

/** Messages from an instance process to the host. */
export type InstanceMessage =
  | { readonly type: 'ready'; readonly restored: boolean }
  | { readonly type: 'status'; readonly stats: InstanceStats; readonly marketData?: MarketDataSourceStats }
  | { readonly type: 'strategyStatus'; readonly status: Readonly<Record<string, string | number | boolean>> };

/** Messages from the host to an instance process. */
export type HostMessage = { readonly type: 'stop' };

