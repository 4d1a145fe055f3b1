/** `triquant audit` through commander exactly as main.ts wires it, against a real journal file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Command, CommanderError } from 'commander';
import { ManualClock } from '../../src/core/clock.ts';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { configureAuditCommand, parseAuditTime, runAudit, type AuditCommandOptions } from '../../src/cli/audit.ts';
import { openJournal } from '../../src/execution/journal/sqlite-journal.ts';
import { canonicalJson, entryHash, GENESIS_HASH } from '../../src/execution/journal/hash-chain.ts';
import type { AuditKind } from '../../src/execution/ports.ts';

const T0 = 1_735_781_400_000_000; // 2025-01-02 09:30:00 CST
const HOUR = 3_600_000_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `triquant audit <args>` the way main.ts registers it (exitOverride, io capture). */
async function audit(config: Config, args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io = { out: (text: string) => void (stdout += text), err: (text: string) => void (stderr += text) };
  let code = 0;
  const program = new Command('triquant').exitOverride().configureOutput({ writeOut: io.out, writeErr: io.err });
  configureAuditCommand(program.command('audit').description('audit journal'), async (options: AuditCommandOptions) => {
    code = await runAudit(options, config, io);
  });
  try {
    await program.parseAsync(['audit', ...args], { from: 'user' });
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    code = error.exitCode === 0 ? 0 : 2;
  }
  return { code, stdout, stderr };
}

/** A config whose dataDir is a fresh directory holding a journal with a known day in it. */
function fixture(t: { after: (fn: () => void) => void }): { config: Config; dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tq-audit-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = { ...loadConfig({ env: {} }), dataDir: dir };
  const path = join(dir, 'execution', 'audit.sqlite');
  const clock = new ManualClock(T0);
  const journal = openJournal({ path, clock });
  const day: Array<[AuditKind, string | undefined, string | undefined, string | undefined, string | undefined, Record<string, unknown>]> = [
    ['SERVICE', undefined, undefined, undefined, undefined, { event: 'start' }],
    ['ORDER_REQUEST', 'A1', 's1', '600000.SH', 'o1', { side: 'BUY', price: 100_000, qty: 300, note: 'has, a comma and "quotes"\nand a newline' }],
    ['RISK_DECISION', 'A1', 's1', '600000.SH', 'o1', { ok: true, refs: { bestBid: 99_900, bestAsk: 100_000 } }],
    ['ORDER_REQUEST', 'A2', 's2', '000001.SZ', 'o2', { side: 'SELL', price: 12_340, qty: 100 }],
    ['FILL', 'A1', 's1', '600000.SH', 'o1', { fillId: 'f1', qty: 300, price: 100_000 }],
  ];
  for (const [kind, account, strategy, symbol, clientOrderId, data] of day) {
    journal.append([{ kind, account, strategy, symbol, clientOrderId, actor: account ? `strategy:${strategy}` : 'system', data }]);
    clock.advance(HOUR); // 09:30, 10:30, 11:30, 12:30, 13:30 CST
  }
  journal.close();
  return { config, dir, path };
}

/** RFC 4180 parser (quoted fields, doubled quotes, CRLF records) for checking the export. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\r' && text[i + 1] === '\n') { row.push(field); rows.push(row); row = []; field = ''; i++; }
    else field += c;
  }
  assert.equal(field, '', 'the CSV ends with CRLF');
  return rows;
}

test('verify prints one line with the count and last hash, exit 0', async (t) => {
  const { config } = fixture(t);
  const run = await audit(config, ['verify']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^chain ok: 5 entries, last hash [0-9a-f]{64}\n$/);
});

test('verify exits 1 naming the first bad seq after tampering', async (t) => {
  const { config, path } = fixture(t);
  const db = new DatabaseSync(path);
  db.exec("UPDATE audit_journal SET data = '{\"fillId\":\"f1\",\"price\":1,\"qty\":300}' WHERE seq = 5");
  db.close();
  const run = await audit(config, ['verify', '--journal', path]);
  assert.equal(run.code, 1);
  assert.match(run.stdout, /^chain BROKEN at seq 5: /);
});

test('a missing journal is an error, never an empty answer', async (t) => {
  const { config, dir } = fixture(t);
  for (const sub of [['verify'], ['query'], ['export', '--format', 'json']]) {
    const run = await audit(config, [...sub, '--journal', join(dir, 'nope.sqlite')]);
    assert.equal(run.code, 1, sub.join(' '));
    assert.match(run.stderr, /does not exist/);
    assert.equal(run.stdout, '');
  }
  assert.equal(existsSync(join(dir, 'nope.sqlite')), false, 'reading never creates a journal');
});

test('query filters by account, strategy, symbol, order, kind and China time; table by default', async (t) => {
  const { config } = fixture(t);
  const seqs = async (...args: string[]) => {
    const run = await audit(config, ['query', '--format', 'json', ...args]);
    assert.equal(run.code, 0, run.stderr);
    return (JSON.parse(run.stdout) as Array<{ seq: number }>).map((e) => e.seq);
  };
  assert.deepEqual(await seqs('--account', 'A1'), [2, 3, 5]);
  assert.deepEqual(await seqs('--strategy', 's2'), [4]);
  assert.deepEqual(await seqs('--symbol', '600000.SH', '--kind', 'fill,order_request'), [2, 5]);
  assert.deepEqual(await seqs('--order', 'o1', '--kind', 'RISK_DECISION', '--kind', 'FILL'), [3, 5]);
  assert.deepEqual(await seqs('--from', '2025-01-02 10:30', '--to', '2025-01-02 12:30'), [2, 3]);
  assert.deepEqual(await seqs('--from', '2025-01-02T03:30:00Z'), [3, 4, 5], 'ISO with offset');
  assert.deepEqual(await seqs('--from', '2025-01-02', '--to', '2025-01-02'), [1, 2, 3, 4, 5], 'a date alone is the whole day');
  assert.deepEqual(await seqs('--to', '2025-01-01'), []);
  assert.deepEqual(await seqs('--desc', '--limit', '2'), [5, 4]);
  assert.deepEqual(await seqs('--after-seq', '3'), [4, 5]);

  const table = await audit(config, ['query', '--order', 'o2']);
  assert.equal(table.code, 0);
  const lines = table.stdout.trimEnd().split('\n');
  assert.match(lines[0]!, /^SEQ\s+TIME \(CST\)\s+KIND\s+ACCOUNT/);
  assert.match(lines[1]!, /^4\s+2025-01-02 12:30:00\.000000\s+ORDER_REQUEST\s+A2\s+s2\s+000001\.SZ\s+o2\s+strategy:s2\s+\{"price":12340,"qty":100,"side":"SELL"\}$/);
  assert.equal(lines.length, 2);

  const cut = await audit(config, ['query', '--limit', '1']);
  assert.match(cut.stderr, /showing the first 1 entries; more match/);
});

test('bad arguments are usage errors', async (t) => {
  const { config } = fixture(t);
  assert.equal((await audit(config, ['query', '--kind', 'BOGUS'])).code, 2);
  assert.equal((await audit(config, ['query', '--from', '2025-13-01'])).code, 2);
  assert.equal((await audit(config, ['query', '--from', 'yesterday'])).code, 2);
  assert.equal((await audit(config, ['export', '--format', 'table'])).code, 2);
  assert.equal((await audit(config, ['query', '--limit', '-3'])).code, 2);
});

test('every subcommand has --help', async (t) => {
  const { config } = fixture(t);
  for (const sub of ['query', 'verify', 'export']) {
    const run = await audit(config, [sub, '--help']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, new RegExp(`Usage: triquant audit ${sub}`));
    assert.match(run.stdout, /--journal <file>/);
  }
  const top = await audit(config, ['--help']);
  assert.match(top.stdout, /query[\s\S]*export[\s\S]*verify/);
});

test('export --format csv writes an RFC 4180 file whose rows re-verify with nothing but the hash rule', async (t) => {
  const { config, dir } = fixture(t);
  const out = join(dir, 'audit.csv');
  const run = await audit(config, ['export', '--format', 'csv', '--out', out]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /exported 5 entries/);
  assert.equal(existsSync(`${out}.partial`), false);
  const [header, ...rows] = parseCsv(readFileSync(out, 'utf8'));
  assert.deepEqual(header, ['seq', 'ts', 'time', 'kind', 'account', 'strategy', 'symbol', 'client_order_id', 'actor', 'data', 'prev_hash', 'hash']);
  assert.equal(rows.length, 5);
  assert.deepEqual(rows[1]!.slice(0, 9), ['2', String(T0 + HOUR), '2025-01-02T10:30:00.000000+08:00', 'ORDER_REQUEST', 'A1', 's1', '600000.SH', 'o1', 'strategy:s1']);
  assert.deepEqual(JSON.parse(rows[1]![9]!), { side: 'BUY', price: 100_000, qty: 300, note: 'has, a comma and "quotes"\nand a newline' });
  assert.equal(rows[0]![4], '', 'absent fields are empty');
  // An auditor's re-verification from the export alone.
  let prev = GENESIS_HASH;
  for (const r of rows) {
    const nullable = (v: string) => (v === '' ? undefined : v);
    const entry = { seq: Number(r[0]), ts: Number(r[1]), kind: r[3] as AuditKind, account: nullable(r[4]!), strategy: nullable(r[5]!), symbol: nullable(r[6]!), clientOrderId: nullable(r[7]!), actor: nullable(r[8]!), data: JSON.parse(r[9]!) as Record<string, unknown> };
    assert.equal(r[10], prev);
    assert.equal(entryHash(prev, entry), r[11]);
    prev = r[11]!;
  }
});

test('export --format json is one array of complete entries; filters apply; stdout without --out', async (t) => {
  const { config, dir } = fixture(t);
  const out = join(dir, 'a1.json');
  const run = await audit(config, ['export', '--format', 'json', '--out', out, '--account', 'A1']);
  assert.equal(run.code, 0, run.stderr);
  const entries = JSON.parse(readFileSync(out, 'utf8')) as Array<Record<string, unknown>>;
  assert.deepEqual(entries.map((e) => e.seq), [2, 3, 5]);
  assert.deepEqual(Object.keys(entries[0]!), ['seq', 'ts', 'time', 'kind', 'account', 'strategy', 'symbol', 'clientOrderId', 'actor', 'data', 'prevHash', 'hash']);
  assert.deepEqual(entries[1]!.data, { ok: true, refs: { bestBid: 99_900, bestAsk: 100_000 } });
  assert.equal(canonicalJson(entries[2]!.data), '{"fillId":"f1","price":100000,"qty":300}');

  const toStdout = await audit(config, ['export', '--format', 'json', '--account', 'nobody']);
  assert.equal(toStdout.code, 0);
  assert.deepEqual(JSON.parse(toStdout.stdout), []);
  const csvStdout = await audit(config, ['export', '--kind', 'SERVICE']);
  assert.equal(csvStdout.stdout.split('\r\n').length, 3, 'header, one row, final empty');
});

test('TIME forms: ISO-8601 with offset, China wall time, and the whole-day --to', () => {
  assert.equal(parseAuditTime('2025-01-02 09:30', 'from'), T0);
  assert.equal(parseAuditTime('2025-01-02T09:30:00+08:00', 'from'), T0);
  assert.equal(parseAuditTime('2025-01-02T01:30:00Z', 'from'), T0);
  assert.equal(parseAuditTime('2025-01-02T09:30:00.000123+0800', 'from'), T0 + 123);
  assert.equal(parseAuditTime('2025-01-02 09:30:05', 'from'), T0 + 5_000_000);
  assert.equal(parseAuditTime('2025-01-02', 'from'), T0 - 9.5 * HOUR);
  assert.equal(parseAuditTime('2025-01-02', 'to'), T0 + 14.5 * HOUR);
  assert.equal(parseAuditTime('2025-01-02 10:00', 'to'), T0 + HOUR / 2);
  for (const bad of ['2025-02-30', '2025-01-02 24:00', '2025-01-02+08:00', '02/01/2025', '']) {
    assert.throws(() => parseAuditTime(bad, 'from'), `should refuse "${bad}"`);
  }
});
