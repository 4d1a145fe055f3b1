/**
 * Keys of a strategy's consumer-group state on Redis, and the dead-letter stream's entry format
 * (written by group-consumer.ts; read by tools, tests and operators).
 *
 *   <p>:strategy:{<group>}:ckpt:<consumer>  hash: the consumer's checkpoint (see group-consumer.ts)
 *   <p>:strategy:{<group>}:errors           hash: "<stream> <id>" → last handler error of a pending entry
 *   <p>:strategy:{<group>}:inflight         hash: consumer → acks still owed by a Cluster commit
 *   <p>:md:dlq:<group>                       stream: dead letters of the group
 *
 * The `{<group>}` hash tag keeps a strategy's checkpoints, error notes and owed acks in one
 * Redis Cluster slot, so the first step of a Cluster commit is one transaction. The dead-letter
 * stream is elsewhere; dead-lettering on Cluster is therefore "XADD, then XACK": a crash in
 * between can leave a dead letter twice (it names its source stream and id, so readers can
 * tell), never none.
 */
import { ValidationError } from '../core/errors.ts';

/** Consumer-group and consumer names: they appear in keys and hash tags, so no braces or spaces. */
const NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

export function assertGroupName(what: 'group' | 'consumer', name: string): void {
  if (typeof name !== 'string' || !NAME_PATTERN.test(name)) {
    throw new ValidationError(`${what} name ${JSON.stringify(name)}: use 1-64 letters, digits and _ . : -`);
  }
}

export interface StrategyStateKeys {
  checkpoint: string;
  errors: string;
  inflight: string;
  deadLetter: string;
}

export function strategyStateKeys(prefix: string, group: string, consumer: string): StrategyStateKeys {
  assertGroupName('group', group);
  assertGroupName('consumer', consumer);
  const base = `${prefix}:strategy:{${group}}`;
  return {
    checkpoint: `${base}:ckpt:${consumer}`,
    errors: `${base}:errors`,
    inflight: `${base}:inflight`,
    deadLetter: deadLetterKey(prefix, group),
  };
}

export function deadLetterKey(prefix: string, group: string): string {
  assertGroupName('group', group);
  return `${prefix}:md:dlq:${group}`;
}

/** Field of the errors hash for one pending entry. */
export function errorField(stream: string, id: string): string {
  return `${stream} ${id}`;
}

/**
 * Fields of a dead-letter entry, before a copy of the original entry's fields (`t`, `d`, `z`,
 * so `decodeEntryFields` still reads a dead letter whose payload was sound). Names chosen not
 * to collide with the payload's one-letter fields.
 */
export const DLQ_FIELD_STREAM = 'src_stream';
export const DLQ_FIELD_ID = 'src_id';
export const DLQ_FIELD_GROUP = 'group';
export const DLQ_FIELD_CONSUMER = 'consumer';
export const DLQ_FIELD_DELIVERIES = 'deliveries';
export const DLQ_FIELD_REASON = 'reason';
export const DLQ_FIELD_ERROR = 'error';
export const DLQ_FIELD_AT = 'at_us';

/** Why an entry was dead-lettered: delivered more than maxDeliveries times, or its payload is not a market-data entry. */
export type DeadLetterReason = 'deliveries' | 'decode';

export interface DeadLetter {
  /** The dead-letter entry's own id. */
  id: string;
  stream: string;
  sourceId: string;
  group: string;
  consumer: string;
  deliveries: number;
  reason: DeadLetterReason;
  error: string;
  atUs: number;
  /** The original entry's fields (payload copy). */
  payload: (string | Buffer)[];
}

const META_FIELDS = new Set([DLQ_FIELD_STREAM, DLQ_FIELD_ID, DLQ_FIELD_GROUP, DLQ_FIELD_CONSUMER, DLQ_FIELD_DELIVERIES, DLQ_FIELD_REASON, DLQ_FIELD_ERROR, DLQ_FIELD_AT]);

/** Parses one dead-letter entry as XRANGE (Buffer variant) returns it. */
export function parseDeadLetter(id: string, fields: readonly (string | Buffer)[]): DeadLetter {
  const meta = new Map<string, string>();
  const payload: (string | Buffer)[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = String(fields[i]);
    if (META_FIELDS.has(name)) meta.set(name, String(fields[i + 1]));
    else payload.push(fields[i]!, fields[i + 1]!);
  }
  return {
    id,
    stream: meta.get(DLQ_FIELD_STREAM) ?? '',
    sourceId: meta.get(DLQ_FIELD_ID) ?? '',
    group: meta.get(DLQ_FIELD_GROUP) ?? '',
    consumer: meta.get(DLQ_FIELD_CONSUMER) ?? '',
    deliveries: Number(meta.get(DLQ_FIELD_DELIVERIES) ?? 0),
    reason: meta.get(DLQ_FIELD_REASON) === 'decode' ? 'decode' : 'deliveries',
    error: meta.get(DLQ_FIELD_ERROR) ?? '',
    atUs: Number(meta.get(DLQ_FIELD_AT) ?? 0),
    payload,
  };
}

/** The `callBuffer` an ioredis Redis or Cluster has. */
interface BufferCaller {
  callBuffer(command: string, ...args: (string | Buffer | number)[]): Promise<unknown>;
}

/** Reads up to `count` dead letters of `key` from the oldest (tools, tests). */
export async function readDeadLetters(client: BufferCaller, key: string, count = 1_000): Promise<DeadLetter[]> {
  const reply = (await client.callBuffer('XRANGE', key, '-', '+', 'COUNT', count)) as [Buffer, Buffer[]][] | null;
  return (reply ?? []).map(([id, fields]) => parseDeadLetter(String(id), fields));
}
