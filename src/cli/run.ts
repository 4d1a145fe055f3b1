/** Helpers for long-running commands: wait for a signal or a duration, then shut down in order. */
import type { Logger } from '../obs/log.ts';

/**
 * Resolves when SIGINT/SIGTERM arrives or `durationSeconds` passes. A second signal while
 * shutting down forces the exit, so an operator is never stuck behind a hung close.
 */
export function untilStopped(log: Logger, durationSeconds?: number): Promise<string> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (why: string) => {
      if (timer) clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.once('SIGINT', () => {
        log.warn('second interrupt: exiting without a clean shutdown');
        process.exit(130);
      });
      resolve(why);
    };
    const onSignal = (signal: NodeJS.Signals) => finish(signal);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // Started by a supervisor (`triquant up`) with an IPC channel: when the supervisor goes away,
    // however it died, stop rather than run unsupervised. The channel alone must not keep a
    // finished service alive, hence unref.
    if (process.channel) {
      process.channel.unref();
      process.once('disconnect', () => finish('the supervisor went away'));
    }
    if (durationSeconds !== undefined) timer = setTimeout(() => finish(`duration ${durationSeconds}s elapsed`), durationSeconds * 1000);
  });
}

/** Runs shutdown phases in order; each gets `graceMs` before it is abandoned with a warning. */
export async function shutdownInPhases(log: Logger, phases: ReadonlyArray<readonly [string, () => Promise<void> | void]>, graceMs = 5_000): Promise<void> {
  for (const [name, phase] of phases) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
    try {
      const outcome = await Promise.race([Promise.resolve().then(phase), timeout]);
      if (outcome === 'timeout') log.warn(`shutdown: ${name} did not finish within ${graceMs} ms; moving on`);
    } catch (error) {
      log.error(`shutdown: ${name} failed`, { error });
    } finally {
      clearTimeout(timer);
    }
  }
}
