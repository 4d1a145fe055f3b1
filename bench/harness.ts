/**
 * Benchmark harness. A benchmark reports progress and a result through `BenchContext`;
 * `triquant bench <name> --json` prints one JSON object per line, the last being the result.
 * Figures go into docs/benchmarks.md with the exact command that produced them.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';

export interface BenchContext {
  /** Measuring time for each phase, in milliseconds. */
  durationMs: number;
  /** Reports an intermediate measurement (printed as its own JSON line). */
  progress(fields: Record<string, unknown>): void;
}

export interface BenchDefinition {
  name: string;
  description: string;
  /** Default measuring time per phase in milliseconds. */
  defaultDurationMs: number;
  /** Runs the benchmark and returns the result fields. */
  run(ctx: BenchContext): Promise<Record<string, unknown>>;
}

export interface ThroughputResult {
  ops: number;
  seconds: number;
  opsPerSec: number;
}

/**
 * Calls `batch()` repeatedly for `durationMs` after a warm-up; each call performs
 * `opsPerBatch` operations. Batching keeps timer overhead out of the figure.
 */
export function measureThroughput(batch: () => void, opsPerBatch: number, durationMs: number): ThroughputResult {
  const warmupEnd = performance.now() + Math.min(500, durationMs / 4);
  while (performance.now() < warmupEnd) batch();
  let ops = 0;
  const start = performance.now();
  const end = start + durationMs;
  let now = start;
  while (now < end) {
    batch();
    ops += opsPerBatch;
    now = performance.now();
  }
  const seconds = (now - start) / 1000;
  return { ops, seconds, opsPerSec: Math.round(ops / seconds) };
}

/** Percentile (nearest-rank) of an ascending-sorted array. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Summarises latency samples (any unit) into p50/p99/p999/max. */
export function latencySummary(samples: Float64Array | number[]): { p50: number; p99: number; p999: number; max: number; count: number } {
  const sorted = Float64Array.from(samples).sort();
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    p999: percentile(sorted, 99.9),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
    count: sorted.length,
  };
}

/** Facts about the machine, printed with every result so figures can be compared honestly. */
export function machineInfo(): Record<string, unknown> {
  const cpus = os.cpus();
  return { node: process.version, cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, platform: `${process.platform}-${process.arch}` };
}
