/**
 * Mirrors a one-line summary of every journaled audit entry to a short Redis stream
 * (`<prefix>:audit:tail`, MAXLEN ~ 1000) so the dashboard can show the audit tail from any
 * machine without opening the journal. Best effort and after the fact: the SQLite journal is
 * the record; a Redis hiccup never delays or fails an append.
 */
import type { RedisConnection } from '../bus/redis-connection.ts';
import type { Logger } from '../obs/log.ts';
import type { AuditEntry, AuditQuery, AuditRecord, ChainVerification, Journal } from './ports.ts';

export const AUDIT_TAIL_MAX_LEN = 1_000;

export function auditTailKey(prefix: string): string {
  return `${prefix}:audit:tail`;
}

/** A short human summary of an entry's data (values first, as an operator reads them). */
export function summarizeAudit(entry: Pick<AuditEntry, 'kind' | 'data' | 'symbol'>): string {
  const d = entry.data as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of ['side', 'quantity', 'qty', 'price', 'state', 'reason', 'decision', 'code', 'text', 'detail']) {
    const v = d[key];
    if (v === undefined || v === null || typeof v === 'object') continue;
    parts.push(`${key}=${String(v)}`);
  }
  if (entry.symbol) parts.unshift(entry.symbol);
  return parts.join(' ').slice(0, 200);
}

/** Most entries waiting for the next mirror write; beyond it the oldest are left out (the journal has them all). */
const MAX_WAITING = 10_000;

/**
 * A Journal that also mirrors each appended entry to the Redis tail stream. The mirror write
 * goes out after the current event-loop turn (setImmediate), in one pipeline for every entry
 * of that turn: an append is on the path of every order (journal before action), and a Redis
 * write there would delay the FIX send that follows it by a socket write.
 */
export function withAuditTail(journal: Journal, redis: RedisConnection, prefix: string, log: Logger): Journal {
  const key = auditTailKey(prefix);
  let warned = false;
  let waiting: AuditEntry[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  const mirror = (): void => {
    scheduled = undefined;
    const entries = waiting;
    waiting = [];
    if (entries.length === 0 || !redis.isReady) return;
    const pipeline = redis.client.pipeline();
    for (const e of entries) {
      pipeline.xadd(key, 'MAXLEN', '~', String(AUDIT_TAIL_MAX_LEN), '*',
        'seq', String(e.seq), 'ts', String(e.ts), 'kind', e.kind, 'account', e.account ?? '',
        'clientOrderId', e.clientOrderId ?? '', 'actor', e.actor ?? '', 'summary', summarizeAudit(e));
    }
    pipeline.exec().catch((error: unknown) => {
      if (!warned) log.warn('audit tail to Redis failed (the journal is unaffected)', { error: error instanceof Error ? error.message : String(error) });
      warned = true;
    });
  };
  return {
    append(records: readonly AuditRecord[]): AuditEntry[] {
      const entries = journal.append(records);
      if (redis.isReady) {
        for (const e of entries) waiting.push(e);
        if (waiting.length > MAX_WAITING) waiting.splice(0, waiting.length - MAX_WAITING);
        scheduled ??= setImmediate(mirror);
      }
      return entries;
    },
    replay: (afterSeq?: number) => journal.replay(afterSeq),
    query: (query: AuditQuery) => journal.query(query),
    verify: (): ChainVerification => journal.verify(),
    get lastSeq() {
      return journal.lastSeq;
    },
    close: () => {
      // What this turn appended still goes out (best effort, not awaited).
      if (scheduled !== undefined) {
        clearImmediate(scheduled);
        mirror();
      }
      return journal.close();
    },
  };
}
