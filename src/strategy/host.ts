/**
 * The strategy host's supervisor: one OS process per strategy instance (instance-main.ts,
 * forked with this process's own Node), so a strategy that crashes, leaks or blocks its event
 * loop cannot disturb another one or the host.
 *
 * - Start: every planned instance is forked with its settings as JSON in the environment
 *   (TRIQUANT_INSTANCE_SETTINGS); it reports `ready`, its stats and its strategy status over
 *   the IPC channel. stdout/stderr lines are forwarded (prefixed with the instance) and the
 *   last ones kept for alerts.
 * - Crash: any exit the host did not ask for. The instance is restarted after a back-off
 *   that doubles per consecutive crash (initialMs … maxMs; an instance that ran stableAfterMs
 *   starts afresh). More than crashLoop.maxRestarts crashes within crashLoop.windowMs is a
 *   crash loop: the host stops restarting that instance, logs an error-level alert naming it
 *   with its exit code or signal and last stderr lines, sets `triquant_strategy_instance_crash_loop`
 *   and reports state `crash-loop`. Other instances are never touched. Exit code 75 (another
 *   instance took over its entries) restarts at once and is not counted as a crash.
 * - Stop: SIGTERM to every child (each stops intake, finishes and commits its batch, runs
 *   onStop, stores its final checkpoint, closes its channel and exits), SIGKILL after
 *   stopGraceMs; `stop()` resolves when every child is gone.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { silentLogger, type Logger } from '../obs/log.ts';
import { Counter, Gauge, type Registry } from '../obs/metrics.ts';
import { EXIT_FENCED, SETTINGS_ENV, type InstanceMessage, type InstancePlan } from './host-config.ts';
import type { InstanceStats } from './instance.ts';

export const INSTANCE_MAIN = fileURLToPath(new URL('./instance-main.ts', import.meta.url));

export interface StrategyHostOptions {
  readonly plans: readonly InstancePlan[];
  /** The settings each instance process gets (JSON-serialisable; instance-main.ts reads `InstanceSettings`). */
  readonly settingsFor: (plan: InstancePlan) => unknown;
  /** The child's entry module (default instance-main.ts; tests give their own). */
  readonly entry?: string;
  /** Node binary for the children (default: this process's). */
  readonly execPath?: string;
  readonly execArgv?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly restart: { readonly initialMs: number; readonly maxMs: number };
  readonly crashLoop: { readonly maxRestarts: number; readonly windowMs: number };
  readonly stableAfterMs: number;
  readonly stopGraceMs: number;
  readonly log?: Logger;
  readonly registry?: Registry;
  /** stderr lines kept per instance for crash alerts (default 20). */
  readonly stderrLines?: number;
  /** Where the children's output lines go (default: this process's stderr, prefixed). */
  readonly output?: (key: string, line: string) => void;
}

export type InstanceRunState = 'starting' | 'running' | 'backoff' | 'crash-loop' | 'stopping' | 'stopped';

export interface InstanceExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Wall-clock ms. */
  readonly at: number;
}

export interface InstanceStatus {
  readonly key: string;
  readonly name: string;
  readonly instanceId: string;
  readonly pid: number | undefined;
  readonly state: InstanceRunState;
  /** Processes started after the first one. */
  readonly restarts: number;
  readonly lastExit: InstanceExit | undefined;
  /** The running process resumed from a checkpoint. */
  readonly restored: boolean;
  /** Back-off before the next start (state backoff). */
  readonly nextStartInMs: number | undefined;
  readonly stats: InstanceStats | undefined;
  readonly strategyStatus: Readonly<Record<string, string | number | boolean>> | undefined;
}

export interface CrashLoopAlert {
  readonly key: string;
  readonly exit: InstanceExit;
  readonly crashes: number;
  readonly windowMs: number;
  readonly lastStderr: readonly string[];
}

interface HostEvents {
  /** An instance changed state. */
  state: [InstanceStatus];
  /** An instance is crash-looping and will not be restarted. */
  alert: [CrashLoopAlert];
  /** Every child has exited after stop(). */
  stopped: [];
}

interface Slot {
  readonly plan: InstancePlan;
  child: ChildProcess | undefined;
  exited: Promise<void>;
  state: InstanceRunState;
  restarts: number;
  consecutive: number;
  crashes: number[];
  lastExit: InstanceExit | undefined;
  startedAt: number;
  restored: boolean;
  nextStartInMs: number | undefined;
  timer: NodeJS.Timeout | undefined;
  stderr: string[];
  stats: InstanceStats | undefined;
  strategyStatus: Readonly<Record<string, string | number | boolean>> | undefined;
}

interface HostMetrics {
  up: Gauge;
  restarts: Counter;
  crashLoop: Gauge;
  handled: Gauge;
  marketData: Gauge;
}

export class StrategyHost extends EventEmitter<HostEvents> {
  readonly #o: StrategyHostOptions;
  readonly #log: Logger;
  readonly #slots = new Map<string, Slot>();
  readonly #metrics: HostMetrics | undefined;
  #started = false;
  #stopping: Promise<void> | undefined;

  constructor(options: StrategyHostOptions) {
    super();
    this.#o = options;
    this.#log = options.log ?? silentLogger;
    for (const plan of options.plans) {
      if (this.#slots.has(plan.key)) throw new Error(`two instances are named ${plan.key}`);
      this.#slots.set(plan.key, {
        plan, child: undefined, exited: Promise.resolve(), state: 'stopped', restarts: 0, consecutive: 0, crashes: [], lastExit: undefined,
        startedAt: 0, restored: false, nextStartInMs: undefined, timer: undefined, stderr: [], stats: undefined, strategyStatus: undefined,
      });
    }
    const registry = options.registry;
    this.#metrics =
      registry === undefined
        ? undefined
        : {
            up: new Gauge({ name: 'triquant_strategy_instance_up', help: '1 while the instance process runs and is ready', labelNames: ['instance'], registers: [registry] }),
            restarts: new Counter({ name: 'triquant_strategy_instance_restarts_total', help: 'Instance processes restarted after an exit the host did not ask for', labelNames: ['instance'], registers: [registry] }),
            crashLoop: new Gauge({ name: 'triquant_strategy_instance_crash_loop', help: '1 when the host gave up restarting the instance (crash loop)', labelNames: ['instance'], registers: [registry] }),
            handled: new Gauge({ name: 'triquant_strategy_instance_handled', help: 'What the running instance process handled so far (what: ticks, trades, batches, orders, commits)', labelNames: ['instance', 'what'], registers: [registry] }),
            marketData: new Gauge({ name: 'triquant_strategy_instance_market_data', help: 'The running instance process\'s consumer-group counts so far (what: delivered, acked, reclaimed, deadLettered, decodeErrors, duplicates, lost, fenced, owedAcksPaid)', labelNames: ['instance', 'what'], registers: [registry] }),
          };
  }

  /** Forks every instance. */
  start(): void {
    if (this.#started) throw new Error('the strategy host is started already');
    this.#started = true;
    for (const slot of this.#slots.values()) {
      this.#metrics?.crashLoop.set({ instance: slot.plan.key }, 0);
      this.#metrics?.up.set({ instance: slot.plan.key }, 0);
      this.#spawn(slot);
    }
  }

  status(): InstanceStatus[] {
    return [...this.#slots.values()].map((s) => this.#statusOf(s));
  }

  /** Graceful stop of every instance (SIGTERM, SIGKILL after stopGraceMs); resolves when all are gone. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stopAll();
    return this.#stopping;
  }

  /** Resolves when every instance is running (or rejects when one is crash-looping or the host stops). */
  whenRunning(timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const all = this.status();
        const bad = all.find((s) => s.state === 'crash-loop' || s.state === 'stopped' || s.state === 'stopping');
        if (bad !== undefined) return finish(new Error(`instance ${bad.key} is ${bad.state}`));
        if (all.every((s) => s.state === 'running')) return finish();
      };
      const timer = setTimeout(() => finish(new Error('instances did not all start in time')), timeoutMs);
      const finish = (error?: Error) => {
        clearTimeout(timer);
        this.off('state', check);
        if (error) reject(error);
        else resolve();
      };
      this.on('state', check);
      check();
    });
  }

  // --- internals -----------------------------------------------------------------------------

  #statusOf(s: Slot): InstanceStatus {
    return {
      key: s.plan.key,
      name: s.plan.name,
      instanceId: s.plan.instanceId,
      pid: s.child?.pid,
      state: s.state,
      restarts: s.restarts,
      lastExit: s.lastExit,
      restored: s.restored,
      nextStartInMs: s.nextStartInMs,
      stats: s.stats,
      strategyStatus: s.strategyStatus,
    };
  }

  #setState(slot: Slot, state: InstanceRunState): void {
    slot.state = state;
    this.#metrics?.up.set({ instance: slot.plan.key }, state === 'running' ? 1 : 0);
    this.emit('state', this.#statusOf(slot));
  }

  #spawn(slot: Slot): void {
    const o = this.#o;
    const key = slot.plan.key;
    slot.timer = undefined;
    slot.nextStartInMs = undefined;
    slot.stats = undefined;
    slot.restored = false;
    slot.startedAt = Date.now();
    let child: ChildProcess;
    try {
      child = fork(o.entry ?? INSTANCE_MAIN, [], {
        execPath: o.execPath ?? process.execPath,
        execArgv: [...(o.execArgv ?? [])],
        env: { ...(o.env ?? process.env), [SETTINGS_ENV]: JSON.stringify(o.settingsFor(slot.plan)) },
        stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        serialization: 'json',
        // Its own process group: a Ctrl-C at the terminal reaches only the host, which stops
        // the children in order (a child whose host dies stops itself on the IPC disconnect).
        detached: true,
      });
    } catch (error) {
      this.#log.error('cannot start the instance process', { instance: key, error });
      this.#onExit(slot, 1, null);
      return;
    }
    slot.child = child;
    this.#setState(slot, 'starting');
    this.#log.info('instance process started', { instance: key, pid: child.pid, restarts: slot.restarts });
    const keep = o.stderrLines ?? 20;
    const output = o.output ?? ((k: string, line: string) => process.stderr.write(`[${k}] ${line}\n`));
    const readLines = (stream: NodeJS.ReadableStream | null, isStderr: boolean) => {
      if (stream === null) return;
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        if (isStderr) {
          slot.stderr.push(line);
          if (slot.stderr.length > keep) slot.stderr.shift();
        }
        output(key, line);
      });
    };
    slot.stderr = [];
    readLines(child.stdout, false);
    readLines(child.stderr, true);
    child.on('message', (message: InstanceMessage) => this.#onMessage(slot, child, message));
    child.on('error', (error) => this.#log.warn('instance process error', { instance: key, error }));
    // 'close' comes after the stdio streams are drained, so the last stderr lines are in.
    slot.exited = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        if (slot.child === child) slot.child = undefined;
        this.#onExit(slot, code, signal);
        resolve();
      });
    });
  }

  #onMessage(slot: Slot, child: ChildProcess, message: InstanceMessage): void {
    if (slot.child !== child || typeof message !== 'object' || message === null) return;
    if (message.type === 'ready') {
      slot.restored = message.restored;
      if (slot.state === 'starting') this.#setState(slot, 'running');
      this.#log.info('instance ready', { instance: slot.plan.key, pid: child.pid, restored: message.restored });
    } else if (message.type === 'status') {
      slot.stats = message.stats;
      const m = this.#metrics;
      if (m !== undefined) {
        const s = message.stats;
        const instance = slot.plan.key;
        m.handled.set({ instance, what: 'ticks' }, s.ticks);
        m.handled.set({ instance, what: 'trades' }, s.trades);
        m.handled.set({ instance, what: 'batches' }, s.batches);
        m.handled.set({ instance, what: 'orders' }, s.ordersSent);
        m.handled.set({ instance, what: 'commits' }, s.commits);
        const md = message.marketData;
        if (md !== undefined) {
          for (const [what, value] of Object.entries(md)) m.marketData.set({ instance, what }, value);
        }
      }
    } else if (message.type === 'strategyStatus') {
      slot.strategyStatus = message.status;
    }
  }

  #onExit(slot: Slot, code: number | null, signal: NodeJS.Signals | null): void {
    const key = slot.plan.key;
    const now = Date.now();
    const exit: InstanceExit = { code, signal, at: now };
    slot.lastExit = exit;
    if (this.#stopping !== undefined || slot.state === 'stopping') {
      this.#log.info('instance stopped', { instance: key, code, signal });
      this.#setState(slot, 'stopped');
      return;
    }
    if (code === EXIT_FENCED) {
      // Not the strategy's fault: another instance took its entries; restart at once and reload.
      this.#log.warn('instance lost its entries to another instance; restarting it', { instance: key });
      this.#scheduleRestart(slot, 0);
      return;
    }
    if (now - slot.startedAt >= this.#o.stableAfterMs) slot.consecutive = 0;
    slot.consecutive += 1;
    const window = this.#o.crashLoop.windowMs;
    slot.crashes = [...slot.crashes.filter((t) => now - t < window), now];
    const how = signal !== null ? `signal ${signal}` : `exit code ${code}`;
    if (slot.crashes.length > this.#o.crashLoop.maxRestarts) {
      const alert: CrashLoopAlert = { key, exit, crashes: slot.crashes.length, windowMs: window, lastStderr: [...slot.stderr] };
      this.#log.error(`ALERT: strategy instance ${key} is crash-looping (${slot.crashes.length} crashes within ${window} ms, last: ${how}); not restarting it`, {
        instance: key,
        exitCode: code,
        signal,
        crashes: slot.crashes.length,
        windowMs: window,
        lastStderr: slot.stderr.slice(-10),
      });
      this.#metrics?.crashLoop.set({ instance: key }, 1);
      this.#setState(slot, 'crash-loop');
      this.emit('alert', alert);
      return;
    }
    const delay = Math.min(this.#o.restart.initialMs * 2 ** (slot.consecutive - 1), this.#o.restart.maxMs);
    this.#log.warn(`strategy instance ${key} exited (${how}); restarting it in ${delay} ms`, {
      instance: key,
      exitCode: code,
      signal,
      delayMs: delay,
      consecutiveCrashes: slot.consecutive,
      lastStderr: slot.stderr.slice(-5),
    });
    this.#scheduleRestart(slot, delay);
  }

  #scheduleRestart(slot: Slot, delayMs: number): void {
    slot.nextStartInMs = delayMs;
    this.#setState(slot, 'backoff');
    slot.timer = setTimeout(() => {
      if (this.#stopping !== undefined) return;
      slot.restarts += 1;
      this.#metrics?.restarts.inc({ instance: slot.plan.key });
      this.#spawn(slot);
    }, delayMs);
  }

  async #stopAll(): Promise<void> {
    const grace = this.#o.stopGraceMs;
    const waits: Promise<void>[] = [];
    for (const slot of this.#slots.values()) {
      if (slot.timer !== undefined) clearTimeout(slot.timer);
      slot.timer = undefined;
      const child = slot.child;
      if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
        if (slot.state === 'backoff' || slot.state === 'starting' || slot.state === 'running') this.#setState(slot, 'stopped');
        continue;
      }
      this.#setState(slot, 'stopping');
      child.kill('SIGTERM');
      const killer = setTimeout(() => {
        this.#log.warn('instance did not stop within the grace time; killing it', { instance: slot.plan.key, graceMs: grace });
        child.kill('SIGKILL');
      }, grace);
      waits.push(slot.exited.finally(() => clearTimeout(killer)));
    }
    await Promise.all(waits);
    this.emit('stopped');
  }
}
