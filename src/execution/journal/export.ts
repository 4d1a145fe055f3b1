/**
 * Audit entries as CSV (RFC 4180), JSON and a plain-text table, written a row at a time so an
 * export of millions of entries never sits in memory. Column meanings: docs/audit.md.
 */
import { CST_OFFSET_MICROS } from '../../core/clock.ts';
import type { AuditEntry } from '../ports.ts';
import { canonicalJson } from './hash-chain.ts';

export type ExportFormat = 'csv' | 'json';

/** CSV columns, in order. `time` is `ts` in China time for people; `ts` is what is hashed. */
export const CSV_COLUMNS = ['seq', 'ts', 'time', 'kind', 'account', 'strategy', 'symbol', 'client_order_id', 'actor', 'data', 'prev_hash', 'hash'] as const;

/** An entry as exported to JSON: every field present (null when absent), `data` as an object. */
export interface ExportedEntry {
  seq: number;
  ts: number;
  time: string;
  kind: string;
  account: string | null;
  strategy: string | null;
  symbol: string | null;
  clientOrderId: string | null;
  actor: string | null;
  data: Readonly<Record<string, unknown>>;
  prevHash: string;
  hash: string;
}

/** `2025-01-02T09:30:00.123456+08:00`: microsecond precision, China time. */
export function formatChinaTime(micros: number): string {
  const local = micros + CST_OFFSET_MICROS;
  const millis = Math.floor(local / 1000);
  const fraction = String(((local % 1_000_000) + 1_000_000) % 1_000_000).padStart(6, '0');
  const iso = new Date(millis).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ of the shifted instant
  return `${iso.slice(0, 19)}.${fraction}+08:00`;
}

export function toExported(entry: AuditEntry): ExportedEntry {
  return {
    seq: entry.seq,
    ts: entry.ts,
    time: formatChinaTime(entry.ts),
    kind: entry.kind,
    account: entry.account ?? null,
    strategy: entry.strategy ?? null,
    symbol: entry.symbol ?? null,
    clientOrderId: entry.clientOrderId ?? null,
    actor: entry.actor ?? null,
    data: entry.data,
    prevHash: entry.prevHash,
    hash: entry.hash,
  };
}

/** One RFC 4180 field: quoted when it holds a comma, quote, CR, LF or edge whitespace; quotes doubled. */
export function csvField(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const CRLF = '\r\n';

export function csvHeader(): string {
  return CSV_COLUMNS.join(',') + CRLF;
}

export function csvRow(entry: AuditEntry): string {
  const e = toExported(entry);
  return [e.seq, e.ts, e.time, e.kind, e.account, e.strategy, e.symbol, e.clientOrderId, e.actor, canonicalJson(e.data), e.prevHash, e.hash]
    .map(csvField)
    .join(',') + CRLF;
}

/**
 * Streams `entries` in `format` to `write` and returns how many were written. JSON is one
 * array with one entry per line, so line-oriented tools can still split it.
 */
export function writeEntries(entries: Iterable<AuditEntry>, format: ExportFormat, write: (text: string) => void): number {
  let count = 0;
  if (format === 'csv') {
    write(csvHeader());
    for (const entry of entries) {
      write(csvRow(entry));
      count++;
    }
    return count;
  }
  write('[');
  for (const entry of entries) {
    write(`${count === 0 ? '\n' : ',\n'}${JSON.stringify(toExported(entry))}`);
    count++;
  }
  write(count === 0 ? ']\n' : '\n]\n');
  return count;
}

/** A plain-text table for a terminal (all rows at once: meant for `query` with a limit). */
export function formatTable(entries: readonly AuditEntry[]): string {
  const header = ['SEQ', 'TIME (CST)', 'KIND', 'ACCOUNT', 'STRATEGY', 'SYMBOL', 'ORDER', 'ACTOR', 'DATA'];
  const rows = entries.map((e) => [
    String(e.seq), formatChinaTime(e.ts).slice(0, 26).replace('T', ' '), e.kind, e.account ?? '-', e.strategy ?? '-',
    e.symbol ?? '-', e.clientOrderId ?? '-', e.actor ?? '-', canonicalJson(e.data),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}
