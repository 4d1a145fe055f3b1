/** `triquant bench`: finds benchmarks in bench/<name>.bench.ts and runs one. */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/schema.ts';
import type { BenchDefinition } from '../../bench/harness.ts';
import { machineInfo } from '../../bench/harness.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './exit-codes.ts';
import type { CliIo } from './main.ts';

const BENCH_DIR = new URL('../../bench/', import.meta.url);
const SUFFIX = '.bench.ts';

export function listBenches(): string[] {
  return readdirSync(fileURLToPath(BENCH_DIR))
    .filter((file) => file.endsWith(SUFFIX))
    .map((file) => file.slice(0, -SUFFIX.length))
    .sort();
}

export async function runBenchCommand(
  name: string | undefined,
  options: { json?: boolean; duration?: number; list?: boolean },
  io: CliIo,
  _config: () => Config,
): Promise<number> {
  const names = listBenches();
  if (options.list || name === undefined) {
    for (const bench of names) {
      const def = await loadBench(bench);
      io.out(`${bench.padEnd(16)} ${def.description}\n`);
    }
    if (name === undefined && !options.list) {
      io.err('triquant bench: name a benchmark (listed above), e.g. `triquant bench core --json`\n');
      return EXIT_USAGE;
    }
    return EXIT_OK;
  }
  if (!names.includes(name)) {
    io.err(`triquant bench: no benchmark "${name}"; available: ${names.join(', ')}\n`);
    return EXIT_USAGE;
  }
  const def = await loadBench(name);
  const durationMs = options.duration ?? def.defaultDurationMs;
  const emit = (fields: Record<string, unknown>) => {
    if (options.json) io.out(`${JSON.stringify(fields)}\n`);
    else io.out(`${Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('  ')}\n`);
  };
  emit({ bench: name, event: 'start', duration_ms: durationMs, ...machineInfo() });
  try {
    const result = await def.run({ durationMs, progress: (fields) => emit({ bench: name, event: 'progress', ...fields }) });
    emit({ bench: name, event: 'result', ...result });
    return EXIT_OK;
  } catch (error) {
    emit({ bench: name, event: 'error', message: error instanceof Error ? error.message : String(error) });
    return EXIT_FAILURE;
  }
}

async function loadBench(name: string): Promise<BenchDefinition> {
  const module = (await import(new URL(`${name}${SUFFIX}`, BENCH_DIR).href)) as { default: BenchDefinition };
  return module.default;
}
