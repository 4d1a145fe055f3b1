/**
 * FIX 4.4 vocabulary used by triquant: tag numbers and the enumerated values of the messages
 * we speak (docs/protocols/fix.md). Plain `as const` objects (no TS enums: erasable syntax
 * only), each with a matching union type.
 */

export const BEGIN_STRING = 'FIX.4.4';
export const SOH = 0x01;

/** Tag numbers. */
export const Tag = {
  Account: 1,
  AvgPx: 6,
  BeginSeqNo: 7,
  BeginString: 8,
  BodyLength: 9,
  CheckSum: 10,
  ClOrdID: 11,
  CumQty: 14,
  EndSeqNo: 16,
  ExecID: 17,
  LastPx: 31,
  LastQty: 32,
  MsgSeqNum: 34,
  MsgType: 35,
  NewSeqNo: 36,
  OrderID: 37,
  OrderQty: 38,
  OrdStatus: 39,
  OrdType: 40,
  OrigClOrdID: 41,
  PossDupFlag: 43,
  Price: 44,
  RefSeqNum: 45,
  SenderCompID: 49,
  SenderSubID: 50,
  SendingTime: 52,
  Side: 54,
  Symbol: 55,
  TargetCompID: 56,
  TargetSubID: 57,
  Text: 58,
  TimeInForce: 59,
  TransactTime: 60,
  PossResend: 97,
  EncryptMethod: 98,
  CxlRejReason: 102,
  OrdRejReason: 103,
  HeartBtInt: 108,
  TestReqID: 112,
  OnBehalfOfCompID: 115,
  OrigSendingTime: 122,
  GapFillFlag: 123,
  DeliverToCompID: 128,
  ResetSeqNumFlag: 141,
  ExecType: 150,
  LeavesQty: 151,
  SecurityExchange: 207,
  RefTagID: 371,
  RefMsgType: 372,
  SessionRejectReason: 373,
  BusinessRejectRefID: 379,
  BusinessRejectReason: 380,
  CxlRejResponseTo: 434,
  /**
   * triquant custom tag (user-defined range 5000–9999) on NewOrderSingle: the A-share order
   * kind when OrdType and TimeInForce alone cannot say it. Values are triquant `OrderType`
   * names (`LIMIT`, `MARKET_BEST5_IOC`, ...). See docs/protocols/fix.md, "Order types".
   */
  AShareOrdType: 8001,
} as const;
export type Tag = (typeof Tag)[keyof typeof Tag];

/** Message types. */
export const MsgType = {
  Heartbeat: '0',
  TestRequest: '1',
  ResendRequest: '2',
  Reject: '3',
  SequenceReset: '4',
  Logout: '5',
  ExecutionReport: '8',
  OrderCancelReject: '9',
  Logon: 'A',
  NewOrderSingle: 'D',
  OrderCancelRequest: 'F',
  OrderStatusRequest: 'H',
  BusinessMessageReject: 'j',
} as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];

const ADMIN_MSG_TYPES: ReadonlySet<string> = new Set(['0', '1', '2', '3', '4', '5', 'A']);

/** Session-level (administrative) message types: never resent, gap-filled instead. */
export function isAdminMsgType(msgType: string): boolean {
  return ADMIN_MSG_TYPES.has(msgType);
}

/**
 * True for a MsgType value FIX 4.4 defines (0–9, A–Z without I/O/U, a–z, AA–AZ, BA–BH) or a
 * user-defined one (`U` prefix). Anything else earns a session Reject with reason 11.
 */
export function isValidMsgType(msgType: string): boolean {
  return /^(?:[0-9A-HJ-NP-TV-Za-z]|A[A-Z]|B[A-H]|U[0-9A-Za-z]*)$/.test(msgType);
}

/** Header tags the session layer owns; everything else in a message is body. */
export const HEADER_TAGS: ReadonlySet<number> = new Set<number>([
  Tag.BeginString,
  Tag.BodyLength,
  Tag.MsgType,
  Tag.SenderCompID,
  Tag.TargetCompID,
  Tag.MsgSeqNum,
  Tag.SendingTime,
  Tag.PossDupFlag,
  Tag.PossResend,
  Tag.OrigSendingTime,
  Tag.OnBehalfOfCompID,
  Tag.DeliverToCompID,
  Tag.SenderSubID,
  Tag.TargetSubID,
]);

/** Side (54): only the two an A-share cash account uses. */
export const FixSide = { Buy: '1', Sell: '2' } as const;
export type FixSide = (typeof FixSide)[keyof typeof FixSide];

/** OrdType (40). */
export const FixOrdType = { Market: '1', Limit: '2' } as const;
export type FixOrdType = (typeof FixOrdType)[keyof typeof FixOrdType];

/** TimeInForce (59). */
export const TimeInForce = { Day: '0', ImmediateOrCancel: '3', FillOrKill: '4' } as const;
export type TimeInForce = (typeof TimeInForce)[keyof typeof TimeInForce];

/** ExecType (150), FIX 4.4. */
export const ExecType = {
  New: '0',
  DoneForDay: '3',
  Canceled: '4',
  Replaced: '5',
  PendingCancel: '6',
  Stopped: '7',
  Rejected: '8',
  Suspended: '9',
  PendingNew: 'A',
  Calculated: 'B',
  Expired: 'C',
  Restated: 'D',
  PendingReplace: 'E',
  Trade: 'F',
  TradeCorrect: 'G',
  TradeCancel: 'H',
  OrderStatus: 'I',
} as const;
export type ExecType = (typeof ExecType)[keyof typeof ExecType];

/** OrdStatus (39). */
export const OrdStatus = {
  New: '0',
  PartiallyFilled: '1',
  Filled: '2',
  DoneForDay: '3',
  Canceled: '4',
  PendingCancel: '6',
  Stopped: '7',
  Rejected: '8',
  Suspended: '9',
  PendingNew: 'A',
  Calculated: 'B',
  Expired: 'C',
  AcceptedForBidding: 'D',
  PendingReplace: 'E',
} as const;
export type OrdStatus = (typeof OrdStatus)[keyof typeof OrdStatus];

/** OrdStatus values after which an order can no longer trade. */
export const TERMINAL_ORD_STATUSES: ReadonlySet<string> = new Set(['2', '4', '8', 'C', '3']);

/** OrdRejReason (103). */
export const OrdRejReason = {
  BrokerOption: 0,
  UnknownSymbol: 1,
  ExchangeClosed: 2,
  OrderExceedsLimit: 3,
  TooLateToEnter: 4,
  UnknownOrder: 5,
  DuplicateOrder: 6,
  StaleOrder: 8,
  IncorrectQuantity: 13,
  UnknownAccount: 15,
  PriceExceedsCurrentPriceBand: 16,
  Other: 99,
} as const;
export type OrdRejReason = (typeof OrdRejReason)[keyof typeof OrdRejReason];

/** CxlRejReason (102). */
export const CxlRejReason = {
  TooLateToCancel: 0,
  UnknownOrder: 1,
  BrokerOption: 2,
  AlreadyPendingCancel: 3,
  DuplicateClOrdID: 6,
  Other: 99,
} as const;
export type CxlRejReason = (typeof CxlRejReason)[keyof typeof CxlRejReason];

/** CxlRejResponseTo (434). */
export const CxlRejResponseTo = { OrderCancelRequest: '1', OrderCancelReplaceRequest: '2' } as const;
export type CxlRejResponseTo = (typeof CxlRejResponseTo)[keyof typeof CxlRejResponseTo];

/** SessionRejectReason (373). */
export const SessionRejectReason = {
  InvalidTagNumber: 0,
  RequiredTagMissing: 1,
  TagNotDefinedForMessageType: 2,
  UndefinedTag: 3,
  TagSpecifiedWithoutValue: 4,
  ValueIncorrect: 5,
  IncorrectDataFormat: 6,
  CompIdProblem: 9,
  SendingTimeAccuracyProblem: 10,
  InvalidMsgType: 11,
  TagAppearsMoreThanOnce: 13,
  TagOutOfRequiredOrder: 14,
  Other: 99,
} as const;
export type SessionRejectReason = (typeof SessionRejectReason)[keyof typeof SessionRejectReason];

/** BusinessRejectReason (380). */
export const BusinessRejectReason = {
  Other: 0,
  UnknownId: 1,
  UnknownSecurity: 2,
  UnsupportedMessageType: 3,
  ApplicationNotAvailable: 4,
  ConditionallyRequiredFieldMissing: 5,
} as const;
export type BusinessRejectReason = (typeof BusinessRejectReason)[keyof typeof BusinessRejectReason];

/** ISO 10383 market identifier codes for SecurityExchange (207), and the symbol suffix of each. */
export const MIC_BY_SUFFIX: Readonly<Record<string, string>> = Object.freeze({ SH: 'XSHG', SZ: 'XSHE', BJ: 'BJSE' });
export const SUFFIX_BY_EXCHANGE_CODE: Readonly<Record<string, string>> = Object.freeze({
  XSHG: 'SH',
  XSHE: 'SZ',
  BJSE: 'BJ',
  SH: 'SH',
  SZ: 'SZ',
  BJ: 'BJ',
  SS: 'SH',
});
