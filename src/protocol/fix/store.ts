/**
 * Persistence of a FIX session's sequence numbers and sent application messages, so a
 * reconnect continues the sequence (no reset unless ResetSeqNumFlag) and a ResendRequest can
 * be answered. Synchronous on purpose: the session layer is a synchronous state machine, and
 * a sequence number must be durable before the message that uses it leaves.
 *
 * Two implementations: `MemoryFixStore` (tests, the simulator) and `FileFixStore` (survives a
 * process restart; for the execution tier's initiator).
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync, ftruncateSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { TriquantError, ValidationError } from '../../core/errors.ts';

export interface StoredFixMessage {
  readonly seq: number;
  /** The message exactly as first sent. */
  readonly message: Buffer;
}

export interface FixSessionStore {
  /** MsgSeqNum of the next message we send (≥ 1). */
  getNextSenderSeq(): number;
  setNextSenderSeq(seq: number): void;
  /** MsgSeqNum we expect next from the counterparty (≥ 1). */
  getNextTargetSeq(): number;
  setNextTargetSeq(seq: number): void;
  /**
   * Records an application message sent under `seq` and advances the sender sequence to
   * seq + 1, as one step.
   */
  saveSent(seq: number, message: Buffer): void;
  /** Stored messages with begin ≤ seq ≤ end, ascending (missing ones are simply absent). */
  getSent(begin: number, end: number): StoredFixMessage[];
  /** Both sequence numbers back to 1, stored messages forgotten (ResetSeqNumFlag=Y). */
  reset(): void;
  /** Releases resources; idempotent. */
  close(): void;
}

function checkSeq(seq: number): void {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new ValidationError(`sequence number must be a positive integer (got ${seq})`);
}

export interface MemoryFixStoreOptions {
  /** Most messages kept for resend (default 100,000); older ones are gap-filled if asked for. */
  maxStoredMessages?: number;
}

export class MemoryFixStore implements FixSessionStore {
  private nextSender = 1;
  private nextTarget = 1;
  private readonly messages = new Map<number, Buffer>();
  private readonly maxStored: number;

  constructor(options: MemoryFixStoreOptions = {}) {
    this.maxStored = options.maxStoredMessages ?? 100_000;
  }

  getNextSenderSeq(): number {
    return this.nextSender;
  }

  setNextSenderSeq(seq: number): void {
    checkSeq(seq);
    this.nextSender = seq;
  }

  getNextTargetSeq(): number {
    return this.nextTarget;
  }

  setNextTargetSeq(seq: number): void {
    checkSeq(seq);
    this.nextTarget = seq;
  }

  saveSent(seq: number, message: Buffer): void {
    checkSeq(seq);
    this.messages.set(seq, message);
    if (this.messages.size > this.maxStored) {
      // Maps iterate in insertion order: the first key is the oldest.
      const oldest = this.messages.keys().next().value;
      if (oldest !== undefined) this.messages.delete(oldest);
    }
    this.nextSender = seq + 1;
  }

  getSent(begin: number, end: number): StoredFixMessage[] {
    const out: StoredFixMessage[] = [];
    if (end < begin) return out;
    if (end - begin < this.messages.size) {
      for (let seq = begin; seq <= end; seq++) {
        const message = this.messages.get(seq);
        if (message !== undefined) out.push({ seq, message });
      }
    } else {
      for (const [seq, message] of this.messages) if (seq >= begin && seq <= end) out.push({ seq, message });
      out.sort((a, b) => a.seq - b.seq);
    }
    return out;
  }

  reset(): void {
    this.nextSender = 1;
    this.nextTarget = 1;
    this.messages.clear();
  }

  close(): void {}
}

/** The file store's files are unreadable or were written by something else. */
export class FixStoreError extends TriquantError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FIX_STORE', message, options);
  }
}

export interface FileFixStoreOptions extends MemoryFixStoreOptions {
  /** fsync after every write (default false: the OS page cache survives a process crash). */
  fsync?: boolean;
}

/**
 * A store in two files under `dir`, named after `sessionName` (e.g. `TRIQUANT-SIM`):
 * `<name>.seqnums` holds "next-sender next-target" overwritten in place (fixed width; the
 * sender part may lag the log, which then decides), and `<name>.messages` is an append-only
 * log of `seq length\n<bytes>\n` records. A torn last
 * record (crash mid-append) is ignored on open. Messages are also kept in memory (bounded).
 */
export class FileFixStore implements FixSessionStore {
  private readonly memory: MemoryFixStore;
  private readonly seqFd: number;
  private readonly msgFd: number;
  private readonly fsync: boolean;
  private msgFileLength: number;
  private closed = false;

  constructor(dir: string, sessionName: string, options: FileFixStoreOptions = {}) {
    if (!/^[A-Za-z0-9._-]+$/.test(sessionName)) throw new ValidationError(`session name must be [A-Za-z0-9._-]+ (got "${sessionName}")`);
    this.memory = new MemoryFixStore(options);
    this.fsync = options.fsync ?? false;
    mkdirSync(dir, { recursive: true });
    const seqPath = join(dir, `${sessionName}.seqnums`);
    const msgPath = join(dir, `${sessionName}.messages`);
    try {
      const seqExists = existsSync(seqPath);
      this.seqFd = openSync(seqPath, seqExists ? 'r+' : 'w+');
      this.msgFd = openSync(msgPath, existsSync(msgPath) ? 'r+' : 'w+');
      const log = readFileSync(msgPath);
      this.msgFileLength = this.loadMessages(log);
      if (this.msgFileLength < log.length) ftruncateSync(this.msgFd, this.msgFileLength);
      // Loading set the in-memory sender seq after the last stored message. The seqnums file
      // can be behind it (saveSent does not rewrite it: the log already says which seq was
      // used) and ahead of it (administrative messages are not stored): the larger one is next.
      if (seqExists) {
        const text = readFileSync(seqPath, 'latin1');
        const match = /^(\d{1,20}) (\d{1,20})\n/.exec(text);
        if (!match) throw new FixStoreError(`${seqPath}: not a FIX sequence-number file`);
        this.memory.setNextSenderSeq(Math.max(Number(match[1]), this.msgFileLength > 0 ? this.memory.getNextSenderSeq() : 1));
        this.memory.setNextTargetSeq(Number(match[2]));
      } else {
        this.memory.setNextSenderSeq(1);
        this.writeSeqs();
      }
    } catch (error) {
      if (error instanceof FixStoreError) throw error;
      throw new FixStoreError(`cannot open FIX store ${sessionName} in ${dir}`, { cause: error });
    }
  }

  /** Loads records into memory; returns the length of the intact prefix. */
  private loadMessages(log: Buffer): number {
    let pos = 0;
    while (pos < log.length) {
      const nl = log.indexOf(0x0a, pos);
      if (nl < 0) break;
      const match = /^(\d{1,16}) (\d{1,9})$/.exec(log.toString('latin1', pos, nl));
      if (!match) break;
      const seq = Number(match[1]);
      const length = Number(match[2]);
      const end = nl + 1 + length;
      if (end + 1 > log.length || log[end] !== 0x0a || seq < 1) break;
      this.memory.saveSent(seq, Buffer.from(log.subarray(nl + 1, end)));
      pos = end + 1;
    }
    return pos;
  }

  private writeSeqs(): void {
    const record = `${String(this.memory.getNextSenderSeq()).padStart(20, '0')} ${String(this.memory.getNextTargetSeq()).padStart(20, '0')}\n`;
    writeSync(this.seqFd, record, 0, 'latin1');
    if (this.fsync) fsyncSync(this.seqFd);
  }

  private checkOpen(): void {
    if (this.closed) throw new FixStoreError('FIX store used after close()');
  }

  getNextSenderSeq(): number {
    return this.memory.getNextSenderSeq();
  }

  setNextSenderSeq(seq: number): void {
    this.checkOpen();
    this.memory.setNextSenderSeq(seq);
    this.writeSeqs();
  }

  getNextTargetSeq(): number {
    return this.memory.getNextTargetSeq();
  }

  setNextTargetSeq(seq: number): void {
    this.checkOpen();
    this.memory.setNextTargetSeq(seq);
    this.writeSeqs();
  }

  saveSent(seq: number, message: Buffer): void {
    this.checkOpen();
    const head = Buffer.from(`${seq} ${message.length}\n`, 'latin1');
    const record = Buffer.concat([head, message, Buffer.from('\n', 'latin1')]);
    writeSync(this.msgFd, record, 0, record.length, this.msgFileLength);
    this.msgFileLength += record.length;
    if (this.fsync) fsyncSync(this.msgFd);
    // The next sender seq is not written to the seqnums file here: the record says this seq
    // was used, and opening the store takes the larger of the two (one write per order less).
    this.memory.saveSent(seq, message);
  }

  getSent(begin: number, end: number): StoredFixMessage[] {
    return this.memory.getSent(begin, end);
  }

  reset(): void {
    this.checkOpen();
    ftruncateSync(this.msgFd, 0);
    this.msgFileLength = 0;
    this.memory.reset();
    this.writeSeqs();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.seqFd);
    closeSync(this.msgFd);
  }
}
