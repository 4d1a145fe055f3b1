/**
 * `triquant audit`: query, export (CSV, JSON) and verify the hash-chained audit journal of the
 * execution service. Reads the journal read-only, so it runs beside a live service.
 * Schema, hash rule and examples: docs/audit.md.
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { CST_OFFSET_MICROS, MICROS_PER_DAY, type Micros } from '../core/clock.ts';
import { TriquantError } from '../core/errors.ts';
import type { Config } from '../config/schema.ts';
import type { AuditEntry, AuditKind, AuditQuery } from '../execution/ports.ts';
import { journalPath } from '../execution/service.ts';
import { AUDIT_KINDS, isAuditKind, openJournalReader, type JournalReader } from '../execution/journal/sqlite-journal.ts';
import { formatTable, writeEntries, type ExportFormat } from '../execution/journal/export.ts';
import { EXIT_FAILURE, EXIT_OK } from './exit-codes.ts';
import { parseWholeNumber } from './parse.ts';
import type { CliIo } from './main.ts';

export type AuditAction = 'query' | 'verify' | 'export';
export type AuditFormat = 'table' | ExportFormat;

export interface AuditCommandOptions {
  /** Which subcommand ran (set by configureAuditCommand). */
  action: AuditAction;
  journal?: string;
  account?: string;
  strategy?: string;
  symbol?: string;
  /** clientOrderId */
  order?: string;
  kind?: AuditKind[];
  /** Inclusive, µs. */
  from?: Micros;
  /** Exclusive, µs. */
  to?: Micros;
  afterSeq?: number;
  limit?: number;
  desc?: boolean;
  format?: AuditFormat;
  out?: string;
}

/** What `query` prints when no --limit is given: a terminal is not the place for a whole day. */
export const DEFAULT_QUERY_LIMIT = 1_000;
const WRITE_CHUNK_CHARS = 64 * 1024;

/**
 * Adds the `query`, `verify` and `export` subcommands to `cmd` (the `audit` command). Each
 * subcommand calls `run` with its options and `action` set; `run` is where main.ts calls
 * `runAudit` with the loaded config.
 */
export function configureAuditCommand(cmd: Command, run: (options: AuditCommandOptions) => Promise<void> | void): Command {
  const journalOption = () => new Option('--journal <file>', 'the journal file (default: <dataDir>/execution/audit.sqlite)');
  const withFilters = (sub: Command) =>
    sub
      .addOption(journalOption())
      .option('--account <account>', 'only entries of this account')
      .option('--strategy <id>', 'only entries of this strategy')
      .option('--symbol <symbol>', 'only entries of this symbol, e.g. 600000.SH')
      .option('--order <clientOrderId>', 'only entries of this order (client order id)')
      .option('--kind <kinds>', `only these kinds, comma-separated or repeated: ${AUDIT_KINDS.join(', ')}`, parseKinds)
      .option('--from <time>', 'entries at or after TIME: ISO-8601 with offset, or YYYY-MM-DD[ HH:MM[:SS]] in China time', (v) => parseAuditTime(v, 'from'))
      .option('--to <time>', 'entries before TIME (same forms; a date alone includes that whole day)', (v) => parseAuditTime(v, 'to'))
      .option('--after-seq <n>', 'only entries after this seq', parseWholeNumber)
      .option('--desc', 'newest first');

  withFilters(cmd.command('query').description('print journal entries matching the filters'))
    .option('--limit <n>', `at most N entries (default ${DEFAULT_QUERY_LIMIT})`, parseWholeNumber)
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json', 'csv']).default('table'))
    .option('--out <file>', 'write to FILE instead of standard output')
    .action(async (options: Omit<AuditCommandOptions, 'action'>) => run({ ...options, action: 'query' }));

  withFilters(cmd.command('export').description('export matching entries (all by default) as CSV or JSON'))
    .option('--limit <n>', 'at most N entries', parseWholeNumber)
    .addOption(new Option('--format <format>', 'file format').choices(['csv', 'json']).default('csv'))
    .option('--out <file>', 'write to FILE (written whole, then renamed into place); default: standard output')
    .action(async (options: Omit<AuditCommandOptions, 'action'>) => run({ ...options, action: 'export' }));

  cmd
    .command('verify')
    .description('recompute the hash chain; exit 0 if intact, 1 naming the first bad seq')
    .addOption(journalOption())
    .action(async (options: Omit<AuditCommandOptions, 'action'>) => run({ ...options, action: 'verify' }));

  return cmd.addHelpText(
    'after',
    '\nThe journal is read-only here, so these run beside a live execution service.\n' +
      'Examples:\n' +
      '  triquant audit query --account A1 --from "2025-01-02 09:30" --to 2025-01-02\n' +
      '  triquant audit export --format csv --out audit.csv --strategy s1\n' +
      '  triquant audit verify\n' +
      'Schema, hash rule and columns: docs/audit.md.',
  );
}

export async function runAudit(options: AuditCommandOptions, config: Config, io: CliIo): Promise<number> {
  const path = options.journal ?? journalPath(config.dataDir);
  let journal: JournalReader;
  try {
    journal = openJournalReader({ path });
  } catch (error) {
    if (error instanceof TriquantError) {
      io.err(`triquant audit: ${error.message}\n`);
      return EXIT_FAILURE;
    }
    throw error;
  }
  try {
    switch (options.action) {
      case 'verify':
        return verify(journal, io);
      case 'query':
        return query(journal, options, io);
      case 'export':
        return exportEntries(journal, options, io);
    }
  } catch (error) {
    if (error instanceof TriquantError) {
      io.err(`triquant audit: ${error.message}\n`);
      return EXIT_FAILURE;
    }
    throw error;
  } finally {
    journal.close();
  }
}

function verify(journal: JournalReader, io: CliIo): number {
  const result = journal.verify();
  if (result.ok) {
    io.out(`chain ok: ${result.entries} entries, last hash ${result.lastHash}\n`);
    return EXIT_OK;
  }
  io.out(`chain BROKEN at seq ${result.badSeq}: ${result.detail} (${result.entries} entries before it verified)\n`);
  return EXIT_FAILURE;
}

function toQuery(options: AuditCommandOptions, limit: number | undefined): AuditQuery {
  return {
    account: options.account,
    strategy: options.strategy,
    symbol: options.symbol,
    clientOrderId: options.order,
    kinds: options.kind,
    fromTs: options.from,
    toTs: options.to,
    afterSeq: options.afterSeq,
    descending: options.desc === true,
    limit,
  };
}

function query(journal: JournalReader, options: AuditCommandOptions, io: CliIo): number {
  const limit = options.limit ?? DEFAULT_QUERY_LIMIT;
  // One more than asked tells whether the answer was cut short.
  const entries = journal.query(toQuery(options, limit + 1));
  const truncated = entries.length > limit;
  if (truncated) entries.pop();
  const format = options.format ?? 'table';
  const write = (emit: (text: string) => void) => {
    if (format === 'table') emit(entries.length === 0 ? '(no matching entries)\n' : formatTable(entries));
    else writeEntries(entries, format, emit);
  };
  if (options.out) writeFileAtomically(options.out, write);
  else write(io.out);
  if (truncated) io.err(`triquant audit: showing the first ${limit} entries; more match (raise --limit or use export)\n`);
  if (options.out) io.err(`triquant audit: wrote ${entries.length} entries to ${options.out}\n`);
  return EXIT_OK;
}

function exportEntries(journal: JournalReader, options: AuditCommandOptions, io: CliIo): number {
  const format = options.format === 'json' ? 'json' : 'csv';
  const entries: Iterable<AuditEntry> = journal.iterate(toQuery(options, options.limit));
  if (options.out) {
    let count = 0;
    writeFileAtomically(options.out, (emit) => (count = writeEntries(entries, format, emit)));
    io.err(`triquant audit: exported ${count} entries to ${options.out}\n`);
  } else {
    writeEntries(entries, format, io.out);
  }
  return EXIT_OK;
}

/** Writes through a buffer into `<file>.partial`, renamed over `file` only when complete. */
function writeFileAtomically(file: string, produce: (emit: (text: string) => void) => void): void {
  const partial = `${file}.partial`;
  const fd = openSync(partial, 'w');
  let buffer = '';
  const flush = () => {
    if (buffer.length > 0) writeSync(fd, buffer);
    buffer = '';
  };
  try {
    produce((text) => {
      buffer += text;
      if (buffer.length >= WRITE_CHUNK_CHARS) flush();
    });
    flush();
    closeSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(partial, { force: true });
    throw error;
  }
  renameSync(partial, file);
}

function parseKinds(value: string, previous: AuditKind[] = []): AuditKind[] {
  const kinds = value.split(',').map((k) => k.trim().toUpperCase()).filter((k) => k.length > 0);
  if (kinds.length === 0) throw new InvalidArgumentError('expected one or more kinds');
  for (const kind of kinds) {
    if (!isAuditKind(kind)) throw new InvalidArgumentError(`unknown kind "${kind}"; kinds: ${AUDIT_KINDS.join(', ')}`);
  }
  return [...previous, ...(kinds as AuditKind[])];
}

const TIME_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Parses `--from`/`--to` into µs since the epoch: ISO-8601 with an offset (`Z`, `+08:00`), or
 * `YYYY-MM-DD[ HH:MM[:SS[.ffffff]]]` (also with `T`) read as China time. For `to`, a date
 * alone means the end of that day, so `--from D --to D` is the whole day D.
 */
export function parseAuditTime(value: string, bound: 'from' | 'to'): Micros {
  const match = TIME_PATTERN.exec(value.trim());
  if (!match) {
    throw new InvalidArgumentError(`expected ISO-8601 (2025-01-02T09:30:00+08:00) or China time YYYY-MM-DD[ HH:MM[:SS]], got "${value}"`);
  }
  const [, y, mo, d, h, mi, s, fraction, zone] = match;
  const year = Number(y), month = Number(mo), day = Number(d);
  const hour = Number(h ?? 0), minute = Number(mi ?? 0), second = Number(s ?? 0);
  const utcMillis = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(utcMillis);
  if (check.getUTCFullYear() !== year || check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    throw new InvalidArgumentError(`not a valid date and time: "${value}"`);
  }
  if (zone !== undefined && h === undefined) throw new InvalidArgumentError(`an offset needs a time of day: "${value}"`);
  let offsetMicros = CST_OFFSET_MICROS;
  if (zone !== undefined) {
    if (zone === 'Z') offsetMicros = 0;
    else {
      const digits = zone.replace(':', '');
      const sign = digits.startsWith('-') ? -1 : 1;
      const hours = Number(digits.slice(1, 3)), minutes = Number(digits.slice(3, 5));
      if (hours > 23 || minutes > 59) throw new InvalidArgumentError(`not a valid offset: "${zone}"`);
      offsetMicros = sign * (hours * 60 + minutes) * 60_000_000;
    }
  }
  let micros = utcMillis * 1000 + Number((fraction ?? '').padEnd(6, '0')) - offsetMicros;
  if (bound === 'to' && h === undefined) micros += MICROS_PER_DAY;
  return micros;
}
