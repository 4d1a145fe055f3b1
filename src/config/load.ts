/**
 * Loads the configuration once at start-up: `config/default.yaml`, then an optional user file
 * merged over it, then TRIQUANT__* environment overrides; validates the result into a typed
 * `Config`. Any problem is one ConfigError naming the key and where the value came from.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { ConfigError } from '../core/errors.ts';
import { configSchema, type Config } from './schema.ts';

export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../../config/default.yaml', import.meta.url));
export const ENV_PREFIX = 'TRIQUANT__';

type Tree = Record<string, unknown>;

export interface LoadOptions {
  /** A user config file merged over the defaults. */
  file?: string | undefined;
  /** Environment to read TRIQUANT__* overrides from (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Replaces config/default.yaml (tests). */
  defaultsFile?: string;
}

export function loadConfig(options: LoadOptions = {}): Config {
  const sources = new Map<string, string>(); // dotted key -> where its value came from
  const defaults = readYamlFile(options.defaultsFile ?? DEFAULT_CONFIG_FILE);
  let merged = defaults;
  if (options.file !== undefined) merged = mergeTrees(merged, readYamlFile(options.file), options.file, sources);
  merged = applyEnvOverrides(merged, options.env ?? process.env, sources);

  const result = configSchema.safeParse(merged);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const key = issue.path.join('.') || '(root)';
  const origin = sources.get(key) ?? sources.get(issue.path.slice(0, -1).join('.'));
  const message =
    issue.code === 'unrecognized_keys'
      ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (check the spelling against config/default.yaml)`
      : issue.message;
  const fullKey = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!].join('.') : key;
  throw new ConfigError(fullKey, origin ? `${message} (from ${origin})` : message);
}

function readYamlFile(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('(file)', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = YAML.parse(text);
  } catch (error) {
    throw new ConfigError('(file)', `${file} is not valid YAML: ${(error as Error).message.split('\n')[0]}`, { cause: error });
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isTree(parsed)) throw new ConfigError('(root)', `${file} must hold a mapping of keys to values`);
  return parsed;
}

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep-merges `over` into `base`; lists and scalars replace. Records where each key came from. */
function mergeTrees(base: Tree, over: Tree, origin: string, sources: Map<string, string>, prefix = ''): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const current = out[key];
    if (isTree(current) && isTree(value)) {
      out[key] = mergeTrees(current, value, origin, sources, path);
    } else {
      out[key] = value;
      sources.set(path, origin);
    }
  }
  return out;
}

function applyEnvOverrides(tree: Tree, env: NodeJS.ProcessEnv, sources: Map<string, string>): Tree {
  let out = tree;
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw === undefined) continue;
    const path = name.slice(ENV_PREFIX.length).split('__').map(envSegmentToKey);
    if (path.some((segment) => segment === '')) {
      throw new ConfigError(name, 'malformed variable name: use TRIQUANT__SECTION__KEY');
    }
    let value: unknown;
    try {
      value = YAML.parse(raw);
    } catch {
      value = raw;
    }
    let override: Tree = { [path.at(-1)!]: value };
    for (const segment of path.slice(0, -1).reverse()) override = { [segment]: override };
    out = mergeTrees(out, override, `environment variable ${name}`, sources);
  }
  return out;
}

/** TRIQUANT__REDIS__KEY_PREFIX -> keyPrefix; segments are case-insensitive, underscores mark words. */
function envSegmentToKey(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}
