/**
 * An instance process for the supervisor tests: the real instance-main with a market-data
 * source that never delivers anything but keeps its checkpoint in a file (so a restarted
 * process resumes), and the dry-run order channel. The file lives in $TQ_TEST_STATE_DIR.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MarketDataBatch, MarketDataSource } from '../../src/bus/market-data-source.ts';
import { DryRunOrderChannel } from '../../src/strategy/instance.ts';
import { exitWith, runInstanceProcess, settingsFromEnv } from '../../src/strategy/instance-main.ts';

class FileCheckpointSource implements MarketDataSource {
  readonly #file: string;
  #closed = false;
  constructor(file: string) {
    this.#file = file;
  }
  start(): Promise<void> {
    return Promise.resolve();
  }
  async next(): Promise<MarketDataBatch | undefined> {
    await new Promise((resolve) => setTimeout(resolve, 50));
    return this.#closed ? undefined : { entries: [], origin: 'new' };
  }
  commit(_batch: MarketDataBatch, checkpoint: string | undefined): Promise<void> {
    if (checkpoint !== undefined) {
      writeFileSync(`${this.#file}.tmp`, checkpoint);
      renameSync(`${this.#file}.tmp`, this.#file);
    }
    return Promise.resolve();
  }
  loadCheckpoint(): Promise<string | undefined> {
    try {
      return Promise.resolve(readFileSync(this.#file, 'utf8'));
    } catch {
      return Promise.resolve(undefined);
    }
  }
  setSymbols(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

const dir = process.env.TQ_TEST_STATE_DIR;
if (dir === undefined) throw new Error('TQ_TEST_STATE_DIR is not set');
exitWith(() =>
  runInstanceProcess(settingsFromEnv(), {
    createSource: (settings) => new FileCheckpointSource(join(dir, `${settings.plan.name}-${settings.plan.instanceId}.json`)),
    createChannel: (_settings, _log, clock) => new DryRunOrderChannel(clock),
  }),
);
