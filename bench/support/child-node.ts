/**
 * The parent ⇄ child plumbing of the multi-process benches (order-roundtrip, tick-to-order,
 * hop-floor): each role runs in its own OS process, as `triquant up` runs the services.
 *
 * Protocol (IPC): the child sends {type:'ready', info}; the parent sends {type:'counters'}
 * (answered {type:'counters', counters, at, ...}), {type:'collect'} (answered
 * {type:'collected', data, ...}) and {type:'stop'} (the child closes everything and exits 0).
 * A child whose parent is gone exits at once.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { constants as perfConstants, PerformanceObserver } from 'node:perf_hooks';

/** µs on CLOCK_MONOTONIC: comparable between processes of this machine. */
export function monoMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** utime + stime of a process in seconds (Linux /proc; 0 where unavailable). */
export function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

export interface CountersMessage {
  counters: Record<string, number>;
  /** monoMicros() when the child answered. */
  at: number;
}

export interface ChildNode<Role extends string = string> {
  readonly role: Role;
  readonly child: ChildProcess;
  readonly info: Record<string, unknown>;
  /** The child's counters message (with whatever else its role adds). */
  counters<M extends CountersMessage = CountersMessage>(): Promise<M>;
  /** The child's collected message: `data` (and whatever else its role adds). */
  collect<M extends { data: unknown }>(): Promise<M>;
  /** Asks the child to stop; SIGKILL if it has not exited after `killAfterMs`. */
  stop(): Promise<void>;
  /** utime + stime of the child so far, seconds (Linux /proc). */
  cpuSeconds(): number;
}

function request<T>(child: ChildProcess, message: { type: string }, answer: string, timeoutMs = 15_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error(`no ${answer} from the child within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (m: { type: string }) => {
      if (m.type !== answer) return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(m as T);
    };
    child.on('message', onMessage);
    child.send(message);
  });
}

/**
 * Forks `file` with `settings` (JSON in the environment variable `envVar`) and waits for its
 * 'ready'. TRIQUANT_BENCH_PROF=<role>[,<role>] writes a V8 CPU profile of those roles to
 * TRIQUANT_BENCH_PROF_DIR (default the temp directory).
 */
export async function forkChildNode<Role extends string>(
  file: string,
  envVar: string,
  settings: { readonly role: Role },
  options: { killAfterMs?: number } = {},
): Promise<ChildNode<Role>> {
  const role = settings.role;
  const child = fork(file, [], {
    execPath: process.execPath,
    execArgv: [
      ...((process.env.TRIQUANT_BENCH_PROF ?? '').split(',').includes(role) ? ['--cpu-prof', '--cpu-prof-dir', process.env.TRIQUANT_BENCH_PROF_DIR ?? tmpdir()] : []),
      ...(process.env.TRIQUANT_BENCH_NODE_FLAGS ?? '').split(' ').filter((f) => f !== ''),
    ],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, [envVar]: JSON.stringify(settings) },
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
  const info = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${role} did not start within 30 s: ${stderr}`)), 30_000);
    child.once('message', (m: { type: string; info: Record<string, unknown> }) => {
      clearTimeout(timer);
      if (m.type === 'ready') resolve(m.info);
      else reject(new Error(`${role}: unexpected first message ${m.type}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${role} exited with ${code} before it was ready: ${stderr}`));
    });
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  let stopped: Promise<void> | undefined;
  return {
    role,
    child,
    info,
    counters: <M extends CountersMessage>() => request<M>(child, { type: 'counters' }, 'counters'),
    collect: <M extends { data: unknown }>() => request<M>(child, { type: 'collect' }, 'collected', 30_000),
    cpuSeconds: () => processCpuSeconds(child.pid),
    stop: () => {
      stopped ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 8_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        if (child.connected) child.send({ type: 'stop' });
        else child.kill('SIGKILL');
      });
      return stopped;
    },
  };
}

export interface ChildHandlers {
  counters(): Record<string, number>;
  collect(): unknown;
  stop(): Promise<void>;
}

/**
 * The child's side: answers the parent's requests with `handlers` (each answer also carries
 * `extra()`), stops on request or when the parent is gone, then says it is ready.
 */
export function serveParent(info: Record<string, unknown>, handlers: ChildHandlers, extra: () => Record<string, unknown> = () => ({})): void {
  // Garbage-collection pauses of this process (they stop its event loop: a cause of latency
  // tails): count and total since start, minor (scavenge) apart, longest since the previous
  // counters request. TRIQUANT_BENCH_NODE_FLAGS passes V8 flags (e.g. --max-semi-space-size=2).
  const gc = { gcPauses: 0, gcPauseUs: 0, gcMinorPauses: 0, gcMinorPauseUs: 0, gcMaxPauseUs: 0 };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const us = Math.round(entry.duration * 1000);
      gc.gcPauses++;
      gc.gcPauseUs += us;
      if ((entry as { detail?: { kind?: number } }).detail?.kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) {
        gc.gcMinorPauses++;
        gc.gcMinorPauseUs += us;
      }
      if (us > gc.gcMaxPauseUs) gc.gcMaxPauseUs = us;
    }
  }).observe({ entryTypes: ['gc'] });
  process.on('message', (message: { type: string }) => {
    if (message.type === 'counters') {
      process.send!({ type: 'counters', counters: { ...handlers.counters(), ...gc }, at: monoMicros(), ...extra() });
      gc.gcMaxPauseUs = 0; // the longest pause between two counters requests
    }
    else if (message.type === 'collect') process.send!({ type: 'collected', data: handlers.collect(), ...extra() });
    else if (message.type === 'stop') {
      void handlers.stop().finally(() => {
        process.send!({ type: 'stopped' }, () => process.exit(0));
        setTimeout(() => process.exit(0), 1_000).unref();
      });
    }
  });
  // The parent is gone: do not linger.
  process.once('disconnect', () => process.exit(0));
  process.send!({ type: 'ready', info });
}
