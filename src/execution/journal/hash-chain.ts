/**
 * The hash rule of the audit journal, kept apart from SQLite so an auditor's tool (or a test)
 * can re-derive every hash from an export alone. Documented in docs/audit.md.
 *
 *   hash = hex(SHA-256(utf8(prevHash + canonicalJson({ seq, ts, kind, account, strategy,
 *                                                      symbol, clientOrderId, actor, data }))))
 *
 * Absent optional fields are `null`. Canonical JSON is RFC 8785 (JCS) for the values the
 * journal accepts: object keys sorted by UTF-16 code units, no whitespace, strings and numbers
 * written exactly as ECMAScript JSON.stringify writes them.
 */
import { createHash } from 'node:crypto';
import type { AuditEntry } from '../ports.ts';
import { JournalDataError } from './errors.ts';

/** prevHash of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * Canonical JSON of a JSON-safe value. Throws JournalDataError for anything JSON cannot carry
 * faithfully (NaN, Infinity, bigint, functions, symbols, class instances such as Date or Map,
 * undefined inside arrays), so what is hashed is exactly what an export shows.
 * `undefined` object properties are left out, as JSON.stringify does.
 */
export function canonicalJson(value: unknown, path = 'data'): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new JournalDataError(`${path} is ${value}: audit data must be finite numbers`);
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) {
        return `[${value.map((item, i) => {
          if (item === undefined) throw new JournalDataError(`${path}[${i}] is undefined: not representable in JSON`);
          return canonicalJson(item, `${path}[${i}]`);
        }).join(',')}]`;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        throw new JournalDataError(`${path} is a ${(value as object).constructor?.name ?? 'non-plain object'}: audit data must be plain JSON (convert it first)`);
      }
      const record = value as Record<string, unknown>;
      // Default sort compares UTF-16 code units, which is what RFC 8785 prescribes.
      const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort();
      return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key], `${path}.${key}`)}`).join(',')}}`;
    }
    default:
      throw new JournalDataError(`${path} is a ${typeof value}: not representable in JSON`);
  }
}

/** The fields covered by the hash (everything of an entry but the two hashes). */
export type HashedContent = Pick<AuditEntry, 'seq' | 'ts' | 'kind' | 'account' | 'strategy' | 'symbol' | 'clientOrderId' | 'actor' | 'data'>;

/**
 * The canonical text hashed for an entry (after its prevHash). `dataJson` is
 * `canonicalJson(entry.data)` when the caller already has it (the append path computes it once
 * for both the stored column and the hash). Written out by hand in key order (account, actor,
 * clientOrderId, data, kind, seq, strategy, symbol, ts) because this runs on every append; a
 * unit test pins it to `canonicalJson` of the whole object.
 */
export function canonicalContent(entry: HashedContent, dataJson: string = canonicalJson(entry.data)): string {
  return (
    `{"account":${optionalString(entry.account)},"actor":${optionalString(entry.actor)}` +
    `,"clientOrderId":${optionalString(entry.clientOrderId)},"data":${dataJson},"kind":${JSON.stringify(entry.kind)}` +
    `,"seq":${JSON.stringify(entry.seq)},"strategy":${optionalString(entry.strategy)},"symbol":${optionalString(entry.symbol)}` +
    `,"ts":${JSON.stringify(entry.ts)}}`
  );
}

export function entryHash(prevHash: string, entry: HashedContent, dataJson?: string): string {
  return createHash('sha256').update(prevHash + canonicalContent(entry, dataJson), 'utf8').digest('hex');
}

function optionalString(value: string | undefined): string {
  return value === undefined ? 'null' : JSON.stringify(value);
}
