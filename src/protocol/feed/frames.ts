/**
 * Market-data feed protocol (triquant feed v1): message types, code tables and wire constants.
 * The byte layout of every message is specified in docs/protocols/feed.md; the codec lives in
 * `codec.ts`. This module holds no I/O: transport is separate from protocol.
 *
 * Wire summary: little-endian; every frame is an 8-byte header
 * (magic "TQ", version u8, type u8, body length u32) followed by the body; a frame (header
 * included) is at most 64 KiB. 64-bit integers are two's-complement i64 / u64, decoded into
 * JavaScript numbers and required to be safe integers (|v| ≤ 2^53 − 1).
 */
import { Phase } from '../../core/sessions.ts';
import type { Micros } from '../../core/clock.ts';
import { TriquantError } from '../../core/errors.ts';
import type { Money, Price, Qty } from '../../core/units.ts';

/** First two bytes of every frame: ASCII "TQ". */
export const MAGIC_0 = 0x54;
export const MAGIC_1 = 0x51;
/** Protocol version carried in every header and in Logon. */
export const PROTOCOL_VERSION = 1;
/** Header bytes: magic (2), version (1), type (1), body length u32 LE (4). */
export const HEADER_BYTES = 8;
/** Largest frame, header included. A larger declared body length is a fatal framing error. */
export const MAX_FRAME_BYTES = 64 * 1024;
export const MAX_BODY_BYTES = MAX_FRAME_BYTES - HEADER_BYTES;

/** Book depth carried by every snapshot, per side. */
export const BOOK_LEVELS = 10;
/** Fixed width of the symbol field (ASCII, NUL-padded). */
export const SYMBOL_BYTES = 16;
/** Limits on variable-length fields. */
export const MAX_CLIENT_ID_BYTES = 64;
export const MAX_AUTH_TOKEN_BYTES = 1024;
export const MAX_TEXT_BYTES = 1024;
export const MAX_LOGON_CHANNELS = 1024;
/** Channel ids are u16. */
export const MAX_CHANNEL = 0xffff;

/** Message type codes (header byte 3). */
export const MessageType = {
  LOGON: 0x01,
  LOGON_ACK: 0x02,
  LOGON_REJECT: 0x03,
  HEARTBEAT: 0x04,
  LOGOUT: 0x05,
  SNAPSHOT: 0x10,
  TRADE: 0x11,
  RETRANSMIT_REQUEST: 0x20,
  RETRANSMIT_END: 0x21,
  RETRANSMIT_REJECT: 0x22,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/**
 * Trading phase of an instrument: the core session phases plus HALTED (a trading halt, which
 * the session table cannot know). The wire carries the u8 code from `PHASE_CODE`.
 */
export const TradingPhase = { ...Phase, HALTED: 'HALTED' } as const;
export type TradingPhase = (typeof TradingPhase)[keyof typeof TradingPhase];

/** Phase code table (u8). 0 is never valid. */
export const PHASE_CODE: Readonly<Record<TradingPhase, number>> = Object.freeze({
  PRE_OPEN: 1,
  OPENING_CALL: 2,
  OPENING_CALL_NO_CANCEL: 3,
  PRE_CONTINUOUS: 4,
  CONTINUOUS: 5,
  LUNCH_BREAK: 6,
  CLOSING_CALL: 7,
  AFTER_HOURS_FIXED: 8,
  CLOSED: 9,
  HALTED: 10,
});
/** Index = wire code. */
export const PHASE_BY_CODE: readonly (TradingPhase | undefined)[] = Object.freeze(
  (() => {
    const table: (TradingPhase | undefined)[] = [];
    for (const [phase, code] of Object.entries(PHASE_CODE)) table[code] = phase as TradingPhase;
    return table;
  })(),
);

/** Aggressor side of a trade; NONE for call-auction matches. Wire: 0 NONE, 1 BUY, 2 SELL. */
export type AggressorSide = 'BUY' | 'SELL' | 'NONE';
export const AGGRESSOR_CODE: Readonly<Record<AggressorSide, number>> = Object.freeze({ NONE: 0, BUY: 1, SELL: 2 });
export const AGGRESSOR_BY_CODE: readonly AggressorSide[] = Object.freeze(['NONE', 'BUY', 'SELL'] as AggressorSide[]);

/** How a Logon subscription starts. Wire: 0 LIVE, 1 RESUME. */
export type SubscribeMode = 'LIVE' | 'RESUME';
export const SUBSCRIBE_MODE_CODE: Readonly<Record<SubscribeMode, number>> = Object.freeze({ LIVE: 0, RESUME: 1 });
export const SUBSCRIBE_MODE_BY_CODE: readonly SubscribeMode[] = Object.freeze(['LIVE', 'RESUME'] as SubscribeMode[]);

/** LogonReject reason codes (u16). */
export const LogonRejectCode = {
  UNSUPPORTED_VERSION: 1,
  AUTH_FAILED: 2,
  UNKNOWN_CHANNEL: 3,
  INVALID_LOGON: 4,
  SERVER_CLOSING: 5,
} as const;
export type LogonRejectCode = (typeof LogonRejectCode)[keyof typeof LogonRejectCode];

/** Logout reason codes (u16). */
export const LogoutCode = {
  NORMAL: 0,
  SLOW_CONSUMER: 1,
  HEARTBEAT_TIMEOUT: 2,
  PROTOCOL_ERROR: 3,
  SERVER_SHUTDOWN: 4,
  SESSION_REPLACED: 5,
  LOGON_TIMEOUT: 6,
} as const;
export type LogoutCode = (typeof LogoutCode)[keyof typeof LogoutCode];

/** RetransmitReject reason codes (u16). */
export const RetransmitRejectCode = {
  /** (Part of) the range fell out of the retransmission ring. */
  TOO_OLD: 1,
  /** The range starts after the channel's last published seq. */
  NOT_YET: 2,
  /** The client is not subscribed to the channel. */
  NOT_SUBSCRIBED: 3,
  /** fromSeq < 1 or toSeq < fromSeq. */
  INVALID_RANGE: 4,
} as const;
export type RetransmitRejectCode = (typeof RetransmitRejectCode)[keyof typeof RetransmitRejectCode];

// ---------------------------------------------------------------------------------------------
// Messages. Decoded messages are plain objects discriminated by `type`.

export interface BookLevel {
  price: Price;
  qty: Qty;
  /** Number of orders at this price (0 when unknown or the level is empty). */
  orders: number;
}

export interface ChannelSubscription {
  channel: number;
  mode: SubscribeMode;
  /** RESUME: the last seq the client has seen (0 = none: replay from seq 1). Ignored for LIVE. */
  lastSeq: number;
}

export interface LogonMessage {
  type: 'logon';
  protocolVersion: number;
  clientId: string;
  /** Absent when the client has no token (encoded as a zero-length token). */
  authToken?: string;
  channels: ChannelSubscription[];
}

export interface ChannelStatus {
  channel: number;
  /** Last seq published on the channel (0 = none yet). */
  lastSeq: number;
  /** Oldest seq still retransmittable (0 = ring empty). */
  firstAvailableSeq: number;
}

export interface LogonAckMessage {
  type: 'logonAck';
  heartbeatIntervalMs: number;
  serverTime: Micros;
  /**
   * The server's publishing session (u64): microseconds since the epoch when the publisher was
   * created. Sequence numbers restart with a new session, so a client that sees a different
   * sessionId than before must start each channel again from seq 1 (nothing to resume).
   */
  sessionId: number;
  channels: ChannelStatus[];
}

export interface LogonRejectMessage {
  type: 'logonReject';
  code: number;
  reason: string;
}

export interface HeartbeatMessage {
  type: 'heartbeat';
  time: Micros;
}

export interface LogoutMessage {
  type: 'logout';
  code: number;
  reason: string;
}

export interface SnapshotMessage {
  type: 'snapshot';
  channel: number;
  seq: number;
  symbol: string;
  eventTime: Micros;
  phase: TradingPhase;
  /** 0 = no trade yet today (as are open, high, low). */
  lastPrice: Price;
  openPrice: Price;
  highPrice: Price;
  lowPrice: Price;
  prevClosePrice: Price;
  /** 0 = no limit (e.g. the first days of a STAR/ChiNext listing). */
  upperLimitPrice: Price;
  lowerLimitPrice: Price;
  /** Cumulative volume today, shares. */
  volume: Qty;
  /** Cumulative turnover today, 0.0001 CNY. */
  turnover: Money;
  /** Exactly 10 levels on decode, best first; empty levels are all zero. The encoder pads shorter arrays. */
  bids: BookLevel[];
  asks: BookLevel[];
}

export interface TradeMessage {
  type: 'trade';
  channel: number;
  seq: number;
  symbol: string;
  time: Micros;
  price: Price;
  qty: Qty;
  aggressor: AggressorSide;
  buyOrderId: number;
  sellOrderId: number;
}

export interface RetransmitRequestMessage {
  type: 'retransmitRequest';
  channel: number;
  /** Inclusive range. */
  fromSeq: number;
  toSeq: number;
}

export interface RetransmitEndMessage {
  type: 'retransmitEnd';
  channel: number;
  /** The range actually served (inclusive). */
  fromSeq: number;
  toSeq: number;
}

export interface RetransmitRejectMessage {
  type: 'retransmitReject';
  channel: number;
  /** The rejected range (inclusive). */
  fromSeq: number;
  toSeq: number;
  /** Oldest seq still in the ring (0 = none). */
  firstAvailableSeq: number;
  /** Channel's last published seq. */
  lastSeq: number;
  code: number;
  reason: string;
}

/** Sequenced market data. */
export type DataMessage = SnapshotMessage | TradeMessage;

export type FeedMessage =
  | LogonMessage
  | LogonAckMessage
  | LogonRejectMessage
  | HeartbeatMessage
  | LogoutMessage
  | SnapshotMessage
  | TradeMessage
  | RetransmitRequestMessage
  | RetransmitEndMessage
  | RetransmitRejectMessage;

export type FeedMessageKind = FeedMessage['type'];

export const MESSAGE_TYPE_OF: Readonly<Record<FeedMessageKind, MessageType>> = Object.freeze({
  logon: MessageType.LOGON,
  logonAck: MessageType.LOGON_ACK,
  logonReject: MessageType.LOGON_REJECT,
  heartbeat: MessageType.HEARTBEAT,
  logout: MessageType.LOGOUT,
  snapshot: MessageType.SNAPSHOT,
  trade: MessageType.TRADE,
  retransmitRequest: MessageType.RETRANSMIT_REQUEST,
  retransmitEnd: MessageType.RETRANSMIT_END,
  retransmitReject: MessageType.RETRANSMIT_REJECT,
});

// Fixed body sizes.
export const SNAPSHOT_LEVEL_BYTES = 20; // price i64, qty u64, orders u32
export const SNAPSHOT_BODY_BYTES = 107 + 2 * BOOK_LEVELS * SNAPSHOT_LEVEL_BYTES; // 507
export const TRADE_BODY_BYTES = 67;
export const HEARTBEAT_BODY_BYTES = 8;
export const RETRANSMIT_REQUEST_BODY_BYTES = 18;
export const RETRANSMIT_END_BODY_BYTES = 18;
export const SNAPSHOT_FRAME_BYTES = HEADER_BYTES + SNAPSHOT_BODY_BYTES;
export const TRADE_FRAME_BYTES = HEADER_BYTES + TRADE_BODY_BYTES;

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * Why a frame could not be decoded. Fatal reasons (the stream cannot resynchronise):
 * BAD_MAGIC, BAD_VERSION, FRAME_TOO_LARGE. Non-fatal (the frame is skipped): UNKNOWN_TYPE,
 * BAD_BODY. HANDLER_ERROR: the consumer's message callback threw (decoding continues).
 */
export type FrameErrorReason = 'BAD_MAGIC' | 'BAD_VERSION' | 'FRAME_TOO_LARGE' | 'UNKNOWN_TYPE' | 'BAD_BODY' | 'HANDLER_ERROR';

/** A frame that could not be decoded; `fatal` means the connection must be dropped. */
export class FrameError extends TriquantError {
  readonly reason: FrameErrorReason;
  readonly fatal: boolean;
  /** Header type byte, when the header was readable. */
  readonly messageType: number | undefined;
  /** Byte offset of the frame's first byte in the stream. */
  readonly streamOffset: number;

  constructor(
    reason: FrameErrorReason,
    message: string,
    details: { fatal: boolean; messageType?: number; streamOffset: number; cause?: unknown },
  ) {
    super('FEED_FRAME', message, details.cause === undefined ? undefined : { cause: details.cause });
    this.reason = reason;
    this.fatal = details.fatal;
    this.messageType = details.messageType;
    this.streamOffset = details.streamOffset;
  }
}
