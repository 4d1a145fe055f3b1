/**
 * The FIX 4.4 session layer as a transport-agnostic state machine, for both roles: the
 * simulator's acceptor (src/sim/fix-acceptor.ts) and the execution tier's initiator.
 *
 * It is fed decoded messages (`receive`), transport events (`connected`, `transportClosed`)
 * and the passing of time (`tick`, reading the injected Clock), and it acts only through its
 * handler: `send(bytes)`, `disconnect(reason)`, `onApplicationMessage(msg)`, `onEvent(event)`.
 * No timers, sockets or promises inside, so every rule below is unit-tested with a manual clock.
 *
 * Rules (FIX 4.4 session protocol; docs/protocols/fix.md has the full table):
 * - Logon first. An acceptor adopts the initiator's HeartBtInt; ResetSeqNumFlag=Y resets both
 *   sequence numbers to 1 (the Logon must then carry MsgSeqNum 1). Without it the sequence
 *   continues from the store across reconnects.
 * - Wrong CompIDs: Reject (9) + Logout + disconnect. SendingTime outside the allowed latency:
 *   Reject (10) + Logout + disconnect.
 * - MsgSeqNum too high: the message is queued (bounded), one ResendRequest(expected, 0) is
 *   outstanding at a time; queued messages are processed in order once the gap is filled.
 * - MsgSeqNum too low: ignored if PossDupFlag=Y, else Logout with the reason + disconnect.
 * - In-sequence messages that break a rule (missing/empty/duplicate tag, bad value, unknown
 *   MsgType) get a session Reject (35=3) and still consume their sequence number.
 * - ResendRequest: stored application messages are resent with PossDupFlag=Y and
 *   OrigSendingTime; administrative or missing ones are replaced by SequenceReset-GapFill.
 * - SequenceReset: GapFill mode obeys sequence checks; Reset mode ignores them; neither may
 *   lower the expected number (Reject 5).
 * - Heartbeat after HeartBtInt of outbound silence; TestRequest after `testRequestDelayFactor`
 *   × HeartBtInt of inbound silence; disconnect if still silent as long again.
 * - Logout: answered with Logout, then disconnect; our own Logout waits (bounded) for the reply.
 */
import type { Clock, Micros } from '../../core/clock.ts';
import { TriquantError } from '../../core/errors.ts';
import {
  decodeFixMessage,
  encodeFixMessage,
  formatUtcTimestamp,
  parseNonNegativeInt,
  parsePositiveInt,
  parseUtcTimestamp,
  type FixField,
  type FixMessage,
  type TimestampPrecision,
} from './codec.ts';
import { HEADER_TAGS, isAdminMsgType, isValidMsgType, MsgType, SessionRejectReason, Tag } from './fields.ts';
import type { FixSessionStore } from './store.ts';

export type FixRole = 'acceptor' | 'initiator';

export type FixSessionState =
  /** No transport (before `connected()` or after a disconnect). */
  | 'disconnected'
  /** Acceptor: connected, waiting for the counterparty's Logon. */
  | 'awaiting-logon'
  /** Initiator: our Logon is out, waiting for the answer. */
  | 'logon-sent'
  | 'active'
  /** Our Logout is out, waiting for the answer. */
  | 'logout-sent';

/** Why the session asked the transport to disconnect (stable codes, safe for metrics). */
export type FixDisconnectReason =
  | 'logout'
  | 'logon_timeout'
  | 'logout_timeout'
  | 'heartbeat_timeout'
  | 'logon_rejected'
  | 'first_not_logon'
  | 'seq_missing'
  | 'seq_too_low'
  | 'comp_id'
  | 'sending_time'
  | 'queue_overflow'
  | 'protocol';

export type FixSessionEvent =
  | { type: 'logon'; heartBtInt: number; resetSeqNum: boolean }
  | { type: 'logout'; initiatedByUs: boolean; text: string | undefined }
  | { type: 'disconnect'; reason: FixDisconnectReason; text: string }
  | { type: 'reject-sent'; refSeqNum: number | undefined; refMsgType: string; reason: SessionRejectReason; refTagId: number | undefined; text: string }
  | { type: 'reject-received'; message: FixMessage }
  | { type: 'resend-requested'; beginSeqNo: number; endSeqNo: number }
  | { type: 'resend-served'; beginSeqNo: number; endSeqNo: number; resent: number; gapFills: number }
  | { type: 'resend-complete'; throughSeq: number }
  | { type: 'sequence-reset'; gapFill: boolean; from: number; newSeqNo: number }
  | { type: 'duplicate-ignored'; seq: number; msgType: string }
  | { type: 'test-request-sent'; testReqId: string }
  | { type: 'queued'; seq: number; expected: number }
  | { type: 'application-error'; message: FixMessage; error: unknown };

export interface FixSessionHandler {
  /** Writes one encoded message to the transport. */
  send(bytes: Buffer): void;
  /** The session is over for this connection: flush what was sent, then close the transport. */
  disconnect(reason: FixDisconnectReason, text: string): void;
  /** An in-sequence application message (PossDupFlag=Y ones included: check `possDup`). */
  onApplicationMessage(message: FixMessage): void;
  onEvent?(event: FixSessionEvent): void;
}

export interface FixSessionOptions {
  role: FixRole;
  /** Our CompID (49 on what we send). */
  senderCompId: string;
  /** The counterparty's CompID (56 on what we send). */
  targetCompId: string;
  store: FixSessionStore;
  clock: Clock;
  handler: FixSessionHandler;
  /** Initiator: HeartBtInt to propose, seconds (default 30). Acceptor: ignored (adopts the Logon's). */
  heartBtIntSeconds?: number;
  /** Acceptor: range of HeartBtInt accepted in a Logon (default 1..300 s). */
  minHeartBtIntSeconds?: number;
  maxHeartBtIntSeconds?: number;
  /** Initiator: send ResetSeqNumFlag=Y on Logon, resetting both sequences (default false). */
  resetSeqNumOnLogon?: boolean;
  /** Inbound silence (in HeartBtInts) before a TestRequest, and again before disconnecting (default 1.2). */
  testRequestDelayFactor?: number;
  /** Time allowed for the Logon exchange (default 10 s). */
  logonTimeoutMs?: number;
  /** Time our Logout waits for the answer (default 2 s). */
  logoutTimeoutMs?: number;
  /** Largest |SendingTime − now| accepted, seconds; 0 disables the check (default 120). */
  maxLatencySeconds?: number;
  /** Most out-of-order messages held while a gap is being filled (default 10,000). */
  maxQueuedMessages?: number;
  /** SendingTime precision we write (default millis). */
  timestampPrecision?: TimestampPrecision;
}

export interface FixSessionStats {
  messagesIn: number;
  messagesOut: number;
  applicationIn: number;
  applicationOut: number;
  rejectsSent: number;
  rejectsReceived: number;
  resendRequestsSent: number;
  resendRequestsReceived: number;
  messagesResent: number;
  gapFillsSent: number;
  duplicatesIgnored: number;
  heartbeatsSent: number;
  testRequestsSent: number;
}

/** Sending on a session that is not in a state to send. */
export class FixSessionError extends TriquantError {
  constructor(message: string) {
    super('FIX_SESSION', message);
  }
}

/** An out-of-order message; `served` ones were handled on arrival and only consume their seq. */
interface Queued {
  message: FixMessage;
  served: boolean;
}

interface Problem {
  reason: SessionRejectReason;
  tag: number | undefined;
  text: string;
}

const MICROS_PER_MS = 1000;
const MICROS_PER_S = 1_000_000;

export class FixSession {
  readonly role: FixRole;
  readonly senderCompId: string;
  readonly targetCompId: string;
  readonly store: FixSessionStore;
  readonly stats: FixSessionStats = {
    messagesIn: 0,
    messagesOut: 0,
    applicationIn: 0,
    applicationOut: 0,
    rejectsSent: 0,
    rejectsReceived: 0,
    resendRequestsSent: 0,
    resendRequestsReceived: 0,
    messagesResent: 0,
    gapFillsSent: 0,
    duplicatesIgnored: 0,
    heartbeatsSent: 0,
    testRequestsSent: 0,
  };
  private readonly clock: Clock;
  private readonly handler: FixSessionHandler;
  private readonly proposedHeartBtInt: number;
  private readonly minHeartBtInt: number;
  private readonly maxHeartBtInt: number;
  private readonly resetOnLogon: boolean;
  private readonly testRequestFactor: number;
  private readonly logonTimeout: Micros;
  private readonly logoutTimeout: Micros;
  private readonly maxLatency: Micros;
  private readonly maxQueued: number;
  private readonly precision: TimestampPrecision;

  private currentState: FixSessionState = 'disconnected';
  private stateSince: Micros = 0;
  private heartBtInt = 0;
  private lastSentAt: Micros = 0;
  private lastReceivedAt: Micros = 0;
  private pendingTestReqId: string | undefined;
  private testRequestSentAt: Micros = 0;
  private testReqCounter = 0;
  private readonly queue = new Map<number, Queued>();
  /** While > 0, a ResendRequest is outstanding for messages up to this seq. */
  private resendUntil = 0;
  private resendRequestedAt: Micros = 0;
  private resendRequestedFrom = 0;
  private resetRequested = false;

  constructor(options: FixSessionOptions) {
    this.role = options.role;
    this.senderCompId = options.senderCompId;
    this.targetCompId = options.targetCompId;
    this.store = options.store;
    this.clock = options.clock;
    this.handler = options.handler;
    this.proposedHeartBtInt = options.heartBtIntSeconds ?? 30;
    this.minHeartBtInt = options.minHeartBtIntSeconds ?? 1;
    this.maxHeartBtInt = options.maxHeartBtIntSeconds ?? 300;
    this.resetOnLogon = options.resetSeqNumOnLogon ?? false;
    this.testRequestFactor = options.testRequestDelayFactor ?? 1.2;
    this.logonTimeout = (options.logonTimeoutMs ?? 10_000) * MICROS_PER_MS;
    this.logoutTimeout = (options.logoutTimeoutMs ?? 2_000) * MICROS_PER_MS;
    this.maxLatency = (options.maxLatencySeconds ?? 120) * MICROS_PER_S;
    this.maxQueued = options.maxQueuedMessages ?? 10_000;
    this.precision = options.timestampPrecision ?? 'millis';
    if (!Number.isInteger(this.proposedHeartBtInt) || this.proposedHeartBtInt < 1) {
      throw new FixSessionError(`heartBtIntSeconds must be a positive integer (got ${this.proposedHeartBtInt})`);
    }
  }

  get state(): FixSessionState {
    return this.currentState;
  }

  get isLoggedOn(): boolean {
    return this.currentState === 'active';
  }

  /** The HeartBtInt in force (seconds; 0 before Logon). */
  get heartBtIntSeconds(): number {
    return this.heartBtInt;
  }

  /** Next MsgSeqNum we send / expect (from the store). */
  get nextSenderSeq(): number {
    return this.store.getNextSenderSeq();
  }

  get nextTargetSeq(): number {
    return this.store.getNextTargetSeq();
  }

  /** Out-of-order messages waiting for a gap to be filled. */
  get queuedMessages(): number {
    return this.queue.size;
  }

  // -------------------------------------------------------------------------------------------
  // Transport events

  /** The transport is connected: an initiator sends its Logon, an acceptor starts waiting for one. */
  connected(): void {
    if (this.currentState !== 'disconnected') throw new FixSessionError(`connected() in state ${this.currentState}`);
    const now = this.clock.nowMicros();
    this.queue.clear();
    this.resendUntil = 0;
    this.pendingTestReqId = undefined;
    this.lastReceivedAt = now;
    this.lastSentAt = now;
    if (this.role === 'acceptor') {
      this.setState('awaiting-logon');
      return;
    }
    this.resetRequested = this.resetOnLogon;
    if (this.resetRequested) this.store.reset();
    this.heartBtInt = this.proposedHeartBtInt;
    this.setState('logon-sent');
    const body: FixField[] = [
      [Tag.EncryptMethod, '0'],
      [Tag.HeartBtInt, String(this.proposedHeartBtInt)],
    ];
    if (this.resetRequested) body.push([Tag.ResetSeqNumFlag, 'Y']);
    this.sendAdmin(MsgType.Logon, body);
  }

  /** The transport closed (either side). Idempotent. */
  transportClosed(): void {
    if (this.currentState === 'disconnected') return;
    this.currentState = 'disconnected';
    this.queue.clear();
    this.resendUntil = 0;
  }

  /** Starts an orderly Logout (or just disconnects if not logged on). */
  logout(text?: string): void {
    if (this.currentState === 'active') {
      this.sendAdmin(MsgType.Logout, text ? [[Tag.Text, text]] : []);
      this.setState('logout-sent');
    } else if (this.currentState !== 'disconnected' && this.currentState !== 'logout-sent') {
      this.disconnect('logout', text ?? 'logout before logon completed');
    }
  }

  /** Drives timers: heartbeats, test requests, logon/logout timeouts. Call often (e.g. every 100–1000 ms). */
  tick(): void {
    const now = this.clock.nowMicros();
    switch (this.currentState) {
      case 'awaiting-logon':
      case 'logon-sent':
        if (now - this.stateSince >= this.logonTimeout) this.disconnect('logon_timeout', 'no Logon within the logon timeout');
        return;
      case 'logout-sent':
        if (now - this.stateSince >= this.logoutTimeout) this.disconnect('logout_timeout', 'no Logout answer within the logout timeout');
        return;
      case 'active': {
        const hb = this.heartBtInt * MICROS_PER_S;
        const grace = Math.round(hb * this.testRequestFactor);
        if (this.pendingTestReqId !== undefined) {
          if (now - this.testRequestSentAt >= grace) {
            this.disconnect('heartbeat_timeout', `no answer to TestRequest ${this.pendingTestReqId}`);
            return;
          }
        } else if (now - this.lastReceivedAt >= grace) {
          this.testReqCounter++;
          const id = `TEST-${this.testReqCounter}-${now}`;
          this.pendingTestReqId = id;
          this.testRequestSentAt = now;
          this.stats.testRequestsSent++;
          this.sendAdmin(MsgType.TestRequest, [[Tag.TestReqID, id]]);
          this.emit({ type: 'test-request-sent', testReqId: id });
          return;
        }
        if (now - this.lastSentAt >= hb) {
          this.stats.heartbeatsSent++;
          this.sendAdmin(MsgType.Heartbeat, []);
        }
        return;
      }
      default:
        return;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /**
   * Sends an application message: assigns the next MsgSeqNum, stores it for resends, and
   * transmits it if logged on. When not logged on it is only stored (the counterparty gets
   * it by ResendRequest after its next Logon). Returns the seq and whether it left now.
   */
  sendApplication(msgType: string, body: readonly FixField[]): { seq: number; transmitted: boolean } {
    if (isAdminMsgType(msgType)) throw new FixSessionError(`MsgType ${msgType} is administrative; the session sends those itself`);
    const seq = this.store.getNextSenderSeq();
    const bytes = encodeFixMessage(this.header(msgType, seq), body);
    this.store.saveSent(seq, bytes);
    this.stats.applicationOut++;
    const transmitted = this.currentState === 'active';
    if (transmitted) this.transmit(bytes);
    return { seq, transmitted };
  }

  /** Session-level Reject (35=3) of a received message. */
  sendReject(ref: FixMessage, reason: SessionRejectReason, refTagId: number | undefined, text: string): void {
    const refSeqNum = ref.seqNum;
    const body: FixField[] = [[Tag.RefSeqNum, String(refSeqNum ?? 0)]];
    if (refTagId !== undefined) body.push([Tag.RefTagID, String(refTagId)]);
    if (ref.msgType !== '') body.push([Tag.RefMsgType, ref.msgType]);
    body.push([Tag.SessionRejectReason, String(reason)]);
    if (text) body.push([Tag.Text, text]);
    this.stats.rejectsSent++;
    this.emit({ type: 'reject-sent', refSeqNum, refMsgType: ref.msgType, reason, refTagId, text });
    if (this.canSend()) this.sendAdmin(MsgType.Reject, body);
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  /** Feeds one decoded message. Never throws for anything the counterparty sent. */
  receive(message: FixMessage): void {
    if (this.currentState === 'disconnected') return;
    this.stats.messagesIn++;
    this.lastReceivedAt = this.clock.nowMicros();
    this.pendingTestReqId = undefined;
    const seq = message.seqNum;
    if (seq === undefined) {
      if (this.currentState === 'awaiting-logon' || this.currentState === 'logon-sent') {
        this.disconnect('seq_missing', 'MsgSeqNum (34) missing or invalid');
      } else {
        this.logoutAndDisconnect('seq_missing', 'MsgSeqNum (34) missing or invalid');
      }
      return;
    }
    if (this.currentState === 'awaiting-logon' || this.currentState === 'logon-sent') {
      this.receiveLogon(message, seq);
      return;
    }
    if (message.msgType === MsgType.Logon) {
      this.logoutAndDisconnect('protocol', 'Logon received on a logged-on session');
      return;
    }
    if (!this.checkCompIds(message) || !this.checkLatency(message)) return;

    // SequenceReset-Reset ignores sequence numbers.
    if (message.msgType === MsgType.SequenceReset && message.get(Tag.GapFillFlag) !== 'Y') {
      this.sequenceResetReset(message, seq);
      this.drainQueue();
      return;
    }
    const expected = this.store.getNextTargetSeq();
    if (seq > expected) {
      this.tooHigh(message, seq, expected);
      return;
    }
    if (seq < expected) {
      if (message.possDup) {
        this.stats.duplicatesIgnored++;
        this.emit({ type: 'duplicate-ignored', seq, msgType: message.msgType });
        return;
      }
      this.logoutAndDisconnect('seq_too_low', `MsgSeqNum too low, expecting ${expected} but received ${seq}`);
      return;
    }
    this.inSequence(message, seq, false);
    this.drainQueue();
  }

  private receiveLogon(message: FixMessage, seq: number): void {
    if (message.msgType !== MsgType.Logon) {
      if (this.role === 'initiator' && message.msgType === MsgType.Logout) {
        const text = message.get(Tag.Text);
        this.emit({ type: 'logout', initiatedByUs: false, text });
        this.disconnect('logon_rejected', `Logon refused: ${text ?? 'no reason given'}`);
      } else {
        this.disconnect('first_not_logon', `first message was MsgType ${message.msgType}, not Logon`);
      }
      return;
    }
    if (message.get(Tag.SenderCompID) !== this.targetCompId || message.get(Tag.TargetCompID) !== this.senderCompId) {
      this.logoutAndDisconnect('comp_id', `CompID problem: expected ${this.targetCompId}->${this.senderCompId}`);
      return;
    }
    if (!this.checkLatency(message, true)) return;
    const encrypt = message.get(Tag.EncryptMethod);
    if (encrypt !== '0') {
      this.logoutAndDisconnect('logon_rejected', 'EncryptMethod (98) must be 0');
      return;
    }
    const hb = parseNonNegativeInt(message.get(Tag.HeartBtInt));
    const reset = message.get(Tag.ResetSeqNumFlag) === 'Y';
    if (this.role === 'acceptor') {
      if (hb === undefined || hb < this.minHeartBtInt || hb > this.maxHeartBtInt) {
        this.logoutAndDisconnect('logon_rejected', `HeartBtInt (108) must be ${this.minHeartBtInt}..${this.maxHeartBtInt} seconds`);
        return;
      }
      if (reset) {
        if (seq !== 1) {
          this.logoutAndDisconnect('logon_rejected', 'ResetSeqNumFlag=Y requires MsgSeqNum 1');
          return;
        }
        this.store.reset();
      }
      this.heartBtInt = hb;
    } else if (reset && !this.resetRequested) {
      // The acceptor reset the sequence on its own: its messages start again at 1.
      this.store.setNextTargetSeq(1);
    }
    const expected = this.store.getNextTargetSeq();
    if (seq < expected) {
      this.logoutAndDisconnect('seq_too_low', `MsgSeqNum too low, expecting ${expected} but received ${seq}`);
      return;
    }
    this.setState('active');
    if (this.role === 'acceptor') {
      const body: FixField[] = [
        [Tag.EncryptMethod, '0'],
        [Tag.HeartBtInt, String(hb)],
      ];
      if (reset) body.push([Tag.ResetSeqNumFlag, 'Y']);
      this.sendAdmin(MsgType.Logon, body);
    }
    this.emit({ type: 'logon', heartBtInt: this.heartBtInt, resetSeqNum: reset });
    if (seq === expected) {
      this.consume();
    } else {
      // Logon processed; the messages before it are asked for, and its own seq is held by
      // a placeholder so the sequence advances past it once the gap is filled.
      this.queue.set(seq, { message, served: true });
      this.requestResend(expected, seq);
    }
  }

  private checkCompIds(message: FixMessage): boolean {
    const sender = message.get(Tag.SenderCompID);
    const target = message.get(Tag.TargetCompID);
    if (sender === this.targetCompId && target === this.senderCompId) return true;
    this.sendReject(message, SessionRejectReason.CompIdProblem, sender !== this.targetCompId ? Tag.SenderCompID : Tag.TargetCompID, 'CompID problem');
    this.logoutAndDisconnect('comp_id', `CompID problem: expected ${this.targetCompId}->${this.senderCompId}, got ${sender}->${target}`);
    return false;
  }

  /** SendingTime accuracy (and OrigSendingTime ≤ SendingTime); a malformed SendingTime is left to validation. */
  private checkLatency(message: FixMessage, isLogon = false): boolean {
    const sendingTime = parseUtcTimestamp(message.get(Tag.SendingTime));
    if (sendingTime === undefined) {
      if (isLogon) {
        this.logoutAndDisconnect('sending_time', 'SendingTime (52) missing or malformed on Logon');
        return false;
      }
      return true;
    }
    const now = this.clock.nowMicros();
    if (this.maxLatency > 0 && Math.abs(now - sendingTime) > this.maxLatency) {
      this.sendReject(message, SessionRejectReason.SendingTimeAccuracyProblem, Tag.SendingTime, 'SendingTime accuracy problem');
      this.logoutAndDisconnect('sending_time', 'SendingTime accuracy problem');
      return false;
    }
    if (message.possDup) {
      const orig = parseUtcTimestamp(message.get(Tag.OrigSendingTime));
      if (orig !== undefined && orig > sendingTime) {
        this.sendReject(message, SessionRejectReason.SendingTimeAccuracyProblem, Tag.OrigSendingTime, 'OrigSendingTime later than SendingTime');
        this.logoutAndDisconnect('sending_time', 'OrigSendingTime later than SendingTime');
        return false;
      }
    }
    return true;
  }

  private tooHigh(message: FixMessage, seq: number, expected: number): void {
    if (message.msgType === MsgType.Logout) {
      // Answer it now; the gap is recovered on the next Logon.
      this.sendAdmin(MsgType.Logout, []);
      this.emit({ type: 'logout', initiatedByUs: this.currentState === 'logout-sent', text: message.get(Tag.Text) });
      this.disconnect('logout', message.get(Tag.Text) ?? 'Logout');
      return;
    }
    if (this.queue.size >= this.maxQueued) {
      this.logoutAndDisconnect('queue_overflow', `more than ${this.maxQueued} out-of-order messages`);
      return;
    }
    let served = false;
    if (message.msgType === MsgType.ResendRequest && this.validate(message) === undefined) {
      // Serve the counterparty's resend first, then ask for ours (FIX 4.4).
      this.serveResend(message);
      served = true;
    }
    if (!this.queue.has(seq)) this.queue.set(seq, { message, served });
    this.emit({ type: 'queued', seq, expected });
    this.requestResend(expected, seq);
  }

  private requestResend(expected: number, seq: number): void {
    const now = this.clock.nowMicros();
    if (this.resendUntil > 0) {
      const progressed = expected > this.resendRequestedFrom;
      const stale = now - this.resendRequestedAt >= this.heartBtInt * MICROS_PER_S;
      this.resendUntil = Math.max(this.resendUntil, seq - 1);
      if (progressed || !stale) return;
    }
    this.resendUntil = Math.max(this.resendUntil, seq - 1);
    this.resendRequestedAt = now;
    this.resendRequestedFrom = expected;
    this.stats.resendRequestsSent++;
    this.sendAdmin(MsgType.ResendRequest, [
      [Tag.BeginSeqNo, String(expected)],
      [Tag.EndSeqNo, '0'],
    ]);
    this.emit({ type: 'resend-requested', beginSeqNo: expected, endSeqNo: 0 });
  }

  private drainQueue(): void {
    while (this.currentState === 'active' || this.currentState === 'logout-sent') {
      const expected = this.store.getNextTargetSeq();
      if (this.queue.size > 0) {
        for (const seq of this.queue.keys()) if (seq < expected) this.queue.delete(seq);
      }
      const next = this.queue.get(expected);
      if (next === undefined) break;
      this.queue.delete(expected);
      this.inSequence(next.message, expected, next.served);
    }
    if (this.resendUntil > 0 && this.store.getNextTargetSeq() > this.resendUntil) {
      const through = this.resendUntil;
      this.resendUntil = 0;
      this.emit({ type: 'resend-complete', throughSeq: through });
    }
  }

  /** Consumes one in-sequence message's seq. */
  private consume(): void {
    this.store.setNextTargetSeq(this.store.getNextTargetSeq() + 1);
  }

  /** Rules every in-sequence message must satisfy; the first problem found, if any. */
  private validate(message: FixMessage): Problem | undefined {
    const empty = message.emptyValueTag;
    if (empty !== undefined) return { reason: SessionRejectReason.TagSpecifiedWithoutValue, tag: empty, text: `tag ${empty} has no value` };
    const duplicate = message.duplicateTag;
    if (duplicate !== undefined) return { reason: SessionRejectReason.TagAppearsMoreThanOnce, tag: duplicate, text: `tag ${duplicate} appears more than once` };
    const sendingTime = message.get(Tag.SendingTime);
    if (sendingTime === undefined) return { reason: SessionRejectReason.RequiredTagMissing, tag: Tag.SendingTime, text: 'SendingTime (52) missing' };
    if (parseUtcTimestamp(sendingTime) === undefined) return { reason: SessionRejectReason.IncorrectDataFormat, tag: Tag.SendingTime, text: 'SendingTime (52) is not a UTCTimestamp' };
    if (message.possDup && message.msgType !== MsgType.SequenceReset) {
      const orig = message.get(Tag.OrigSendingTime);
      if (orig === undefined) return { reason: SessionRejectReason.RequiredTagMissing, tag: Tag.OrigSendingTime, text: 'OrigSendingTime (122) required with PossDupFlag=Y' };
      if (parseUtcTimestamp(orig) === undefined) return { reason: SessionRejectReason.IncorrectDataFormat, tag: Tag.OrigSendingTime, text: 'OrigSendingTime (122) is not a UTCTimestamp' };
    }
    const flag = message.get(Tag.PossDupFlag);
    if (flag !== undefined && flag !== 'Y' && flag !== 'N') return { reason: SessionRejectReason.ValueIncorrect, tag: Tag.PossDupFlag, text: 'PossDupFlag (43) must be Y or N' };
    switch (message.msgType) {
      case MsgType.TestRequest:
        if (!message.has(Tag.TestReqID)) return { reason: SessionRejectReason.RequiredTagMissing, tag: Tag.TestReqID, text: 'TestReqID (112) missing' };
        return undefined;
      case MsgType.ResendRequest: {
        const begin = message.get(Tag.BeginSeqNo);
        const end = message.get(Tag.EndSeqNo);
        if (begin === undefined) return { reason: SessionRejectReason.RequiredTagMissing, tag: Tag.BeginSeqNo, text: 'BeginSeqNo (7) missing' };
        if (end === undefined) return { reason: SessionRejectReason.RequiredTagMissing, tag: Tag.EndSeqNo, text: 'EndSeqNo (16) missing' };
        if (parsePositiveInt(begin) === undefined) return { reason: SessionRejectReason.ValueIncorrect, tag: Tag.BeginSeqNo, text: 'BeginSeqNo (7) must be a positive integer' };
        const endSeq = parseNonNegativeInt(end);
        if (endSeq === undefined || (endSeq !== 0 && endSeq < Number(begin))) {
          return { reason: SessionRejectReason.ValueIncorrect, tag: Tag.EndSeqNo, text: 'EndSeqNo (16) must be 0 or ≥ BeginSeqNo' };
        }
        return undefined;
      }
      case MsgType.SequenceReset:
        if (!message.has(Tag.NewSeqNo)) return { reason: SessionRejectReason.RequiredTagMissing, tag: Tag.NewSeqNo, text: 'NewSeqNo (36) missing' };
        if (parsePositiveInt(message.get(Tag.NewSeqNo)) === undefined) return { reason: SessionRejectReason.ValueIncorrect, tag: Tag.NewSeqNo, text: 'NewSeqNo (36) must be a positive integer' };
        return undefined;
      case MsgType.Reject:
        if (!message.has(Tag.RefSeqNum)) return { reason: SessionRejectReason.RequiredTagMissing, tag: Tag.RefSeqNum, text: 'RefSeqNum (45) missing' };
        return undefined;
      default:
        if (!isValidMsgType(message.msgType)) return { reason: SessionRejectReason.InvalidMsgType, tag: Tag.MsgType, text: `invalid MsgType "${message.msgType}"` };
        return undefined;
    }
  }

  /** Processes a message whose seq is the expected one. */
  private inSequence(message: FixMessage, seq: number, served: boolean): void {
    if (served) {
      this.consume();
      return;
    }
    const problem = this.validate(message);
    if (problem !== undefined) {
      this.consume();
      this.sendReject(message, problem.reason, problem.tag, problem.text);
      return;
    }
    switch (message.msgType) {
      case MsgType.Heartbeat:
        this.consume();
        return;
      case MsgType.TestRequest:
        this.consume();
        this.sendAdmin(MsgType.Heartbeat, [[Tag.TestReqID, message.get(Tag.TestReqID)!]]);
        return;
      case MsgType.ResendRequest:
        this.consume();
        this.serveResend(message);
        return;
      case MsgType.Reject:
        this.consume();
        this.stats.rejectsReceived++;
        this.emit({ type: 'reject-received', message });
        return;
      case MsgType.SequenceReset: {
        // GapFill mode (Reset mode never gets here).
        const newSeqNo = parsePositiveInt(message.get(Tag.NewSeqNo))!;
        if (newSeqNo <= seq) {
          this.consume();
          this.sendReject(message, SessionRejectReason.ValueIncorrect, Tag.NewSeqNo, `attempt to lower sequence number (NewSeqNo ${newSeqNo} ≤ MsgSeqNum ${seq})`);
          return;
        }
        this.store.setNextTargetSeq(newSeqNo);
        this.emit({ type: 'sequence-reset', gapFill: true, from: seq, newSeqNo });
        return;
      }
      case MsgType.Logout: {
        this.consume();
        const text = message.get(Tag.Text);
        const initiatedByUs = this.currentState === 'logout-sent';
        if (!initiatedByUs) this.sendAdmin(MsgType.Logout, []);
        this.emit({ type: 'logout', initiatedByUs, text });
        this.disconnect('logout', text ?? 'Logout');
        return;
      }
      default:
        this.consume();
        this.stats.applicationIn++;
        try {
          this.handler.onApplicationMessage(message);
        } catch (error) {
          this.emit({ type: 'application-error', message, error });
        }
    }
  }

  private sequenceResetReset(message: FixMessage, seq: number): void {
    const newSeqNo = parsePositiveInt(message.get(Tag.NewSeqNo));
    if (newSeqNo === undefined) {
      this.sendReject(message, message.has(Tag.NewSeqNo) ? SessionRejectReason.ValueIncorrect : SessionRejectReason.RequiredTagMissing, Tag.NewSeqNo, 'NewSeqNo (36) missing or invalid');
      return;
    }
    const expected = this.store.getNextTargetSeq();
    if (newSeqNo < expected) {
      this.sendReject(message, SessionRejectReason.ValueIncorrect, Tag.NewSeqNo, `attempt to lower sequence number (NewSeqNo ${newSeqNo} < expected ${expected})`);
      return;
    }
    if (newSeqNo > expected) this.store.setNextTargetSeq(newSeqNo);
    this.emit({ type: 'sequence-reset', gapFill: false, from: seq, newSeqNo });
  }

  /** Answers a ResendRequest: application messages again with PossDupFlag=Y, the rest gap-filled. */
  private serveResend(message: FixMessage): void {
    this.stats.resendRequestsReceived++;
    const begin = parsePositiveInt(message.get(Tag.BeginSeqNo))!;
    const requestedEnd = parseNonNegativeInt(message.get(Tag.EndSeqNo))!;
    const last = this.store.getNextSenderSeq() - 1;
    const end = requestedEnd === 0 ? last : Math.min(requestedEnd, last);
    let resent = 0;
    let gapFills = 0;
    if (begin <= end) {
      let gapStart = begin;
      for (const stored of this.store.getSent(begin, end)) {
        if (stored.seq < gapStart) continue;
        const original = decodeFixMessage(stored.message);
        if (original === undefined || isAdminMsgType(original.msgType)) continue;
        if (stored.seq > gapStart) {
          this.sendGapFill(gapStart, stored.seq);
          gapFills++;
        }
        this.resend(original, stored.seq);
        resent++;
        gapStart = stored.seq + 1;
      }
      if (gapStart <= end) {
        this.sendGapFill(gapStart, end + 1);
        gapFills++;
      }
    }
    this.stats.messagesResent += resent;
    this.stats.gapFillsSent += gapFills;
    this.emit({ type: 'resend-served', beginSeqNo: begin, endSeqNo: requestedEnd, resent, gapFills });
  }

  private resend(original: FixMessage, seq: number): void {
    const body = original.fields.filter(([tag]) => !HEADER_TAGS.has(tag) && tag !== Tag.CheckSum);
    const header = this.header(original.msgType, seq);
    header.possDup = true;
    header.origSendingTime = original.get(Tag.SendingTime) ?? header.sendingTime;
    this.transmit(encodeFixMessage(header, body));
  }

  private sendGapFill(seq: number, newSeqNo: number): void {
    const header = this.header(MsgType.SequenceReset, seq);
    header.possDup = true;
    header.origSendingTime = header.sendingTime;
    this.transmit(
      encodeFixMessage(header, [
        [Tag.GapFillFlag, 'Y'],
        [Tag.NewSeqNo, String(newSeqNo)],
      ]),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Plumbing

  private header(msgType: string, seq: number) {
    return {
      msgType,
      senderCompId: this.senderCompId,
      targetCompId: this.targetCompId,
      msgSeqNum: seq,
      sendingTime: formatUtcTimestamp(this.clock.nowMicros(), this.precision),
      possDup: false,
      origSendingTime: undefined as string | undefined,
    };
  }

  private canSend(): boolean {
    return this.currentState !== 'disconnected';
  }

  /** Sends an administrative message under the next seq (not stored: resends gap-fill it). */
  private sendAdmin(msgType: string, body: readonly FixField[]): void {
    if (!this.canSend()) return;
    const seq = this.store.getNextSenderSeq();
    const bytes = encodeFixMessage(this.header(msgType, seq), body);
    this.store.setNextSenderSeq(seq + 1);
    this.transmit(bytes);
  }

  private transmit(bytes: Buffer): void {
    this.stats.messagesOut++;
    this.lastSentAt = this.clock.nowMicros();
    this.handler.send(bytes);
  }

  private logoutAndDisconnect(reason: FixDisconnectReason, text: string): void {
    this.sendAdmin(MsgType.Logout, [[Tag.Text, text]]);
    this.disconnect(reason, text);
  }

  private disconnect(reason: FixDisconnectReason, text: string): void {
    if (this.currentState === 'disconnected') return;
    this.currentState = 'disconnected';
    this.queue.clear();
    this.resendUntil = 0;
    this.emit({ type: 'disconnect', reason, text });
    this.handler.disconnect(reason, text);
  }

  private setState(state: FixSessionState): void {
    this.currentState = state;
    this.stateSince = this.clock.nowMicros();
  }

  private emit(event: FixSessionEvent): void {
    if (this.handler.onEvent === undefined) return;
    try {
      this.handler.onEvent(event);
    } catch {
      // Observers must not break the session.
    }
  }
}
