/**
 * Protobuf ⇄ domain conversion for the execution service's gRPC boundary, and validation of
 * every client message. Nothing here does I/O; the session and admin servers call it.
 *
 * Validation never throws for anything a client can send: it returns a failure with a stable
 * UPPER_SNAKE_CASE reason code (`InvalidReason`) that becomes OrderDenied.reason_code.
 */
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { parseSymbol, type Side } from '../../core/instruments.ts';
import type { OrderType } from '../../core/order.ts';
import type { OrderStatus } from '../../core/order-state.ts';
import type { TradingState } from '../../core/risk/types.ts';
import type { Limit, Order, Position } from '../../protocol/gen/triquant/v1/admin.ts';
import { EXEC_TYPE, ORDER_STATUS, ORDER_TYPE, SCOPE, SIDE, TRADING_STATE } from '../../protocol/trading-enums.ts';
import {
  OrderStatus as PbOrderStatus,
  OrderType as PbOrderType,
  Scope as PbScope,
  Side as PbSide,
  TradingState as PbTradingState,
  type TradingStateRecord as PbTradingStateRecord,
} from '../../protocol/gen/triquant/v1/common.ts';
import {
  ClientMessage,
  ExecType as PbExecType,
  ServerMessage,
  type CancelOrder,
  type ExecutionReport,
  type Hello,
  type NewOrder,
} from '../../protocol/gen/triquant/v1/trading.ts';
import type {
  AdminLimit,
  AdminOrder,
  AdminPosition,
  CancelOrderCommand,
  ExecutionReportData,
  SessionEvent,
  SubmitOrderCommand,
  TradingStateRecord,
} from '../ports.ts';

// ---------------------------------------------------------------------------------------------
// Enum conversions (the maps are shared with the strategy side: src/protocol/trading-enums.ts)

type ExecTypeName = ExecutionReportData['execType'];

export const sideToProto = (side: Side): PbSide => SIDE.toProto[side] as PbSide;
export const sideFromProto = (value: number): Side | undefined => SIDE.fromProto.get(value);
export const orderTypeToProto = (type: OrderType): PbOrderType => ORDER_TYPE.toProto[type] as PbOrderType;
export const orderTypeFromProto = (value: number): OrderType | undefined => ORDER_TYPE.fromProto.get(value);
export const orderStatusToProto = (status: OrderStatus | undefined): PbOrderStatus =>
  status === undefined ? PbOrderStatus.UNSPECIFIED : (ORDER_STATUS.toProto[status] as PbOrderStatus);
export const orderStatusFromProto = (value: number): OrderStatus | undefined => ORDER_STATUS.fromProto.get(value);
export const execTypeToProto = (type: ExecTypeName): PbExecType => EXEC_TYPE.toProto[type] as PbExecType;
export const tradingStateToProto = (state: TradingState): PbTradingState => TRADING_STATE.toProto[state] as PbTradingState;
export const tradingStateFromProto = (value: number): TradingState | undefined => TRADING_STATE.fromProto.get(value);
export const scopeFromProto = (value: number): 'GLOBAL' | 'ACCOUNT' | undefined => SCOPE.fromProto.get(value);
export const scopeToProto = (scope: 'GLOBAL' | 'ACCOUNT'): PbScope => (scope === 'GLOBAL' ? PbScope.GLOBAL : PbScope.ACCOUNT);

// ---------------------------------------------------------------------------------------------
// Client message validation

/** Stable reason codes of OrderDenied for requests that fail validation (never renamed or reused). */
export const InvalidReason = {
  MISSING_CLIENT_ORDER_ID: 'MISSING_CLIENT_ORDER_ID',
  INVALID_CLIENT_ORDER_ID: 'INVALID_CLIENT_ORDER_ID',
  ACCOUNT_NOT_ALLOWED: 'ACCOUNT_NOT_ALLOWED',
  INVALID_SYMBOL: 'INVALID_SYMBOL',
  UNKNOWN_SIDE: 'UNKNOWN_SIDE',
  UNKNOWN_ORDER_TYPE: 'UNKNOWN_ORDER_TYPE',
  INVALID_QUANTITY: 'INVALID_QUANTITY',
  INVALID_PRICE: 'INVALID_PRICE',
  INVALID_TAG: 'INVALID_TAG',
  INVALID_CLIENT_TIME: 'INVALID_CLIENT_TIME',
} as const;
export type InvalidReason = (typeof InvalidReason)[keyof typeof InvalidReason];

/** Client order ids: printable ASCII without spaces (they go into FIX ClOrdID and logs). */
export const MAX_CLIENT_ORDER_ID_LENGTH = 64;
export const MAX_TAG_LENGTH = 64;
const CLIENT_ORDER_ID_PATTERN = /^[\x21-\x7e]+$/;

export interface ValidationFailure {
  readonly ok: false;
  readonly clientOrderId: string;
  readonly account: string;
  readonly symbol: string;
  readonly reasonCode: InvalidReason;
  readonly detail: string;
}

export type Validated<T> = { readonly ok: true; readonly command: T } | ValidationFailure;

function checkClientOrderId(id: string): { reason: InvalidReason; detail: string } | undefined {
  if (id.length === 0) return { reason: InvalidReason.MISSING_CLIENT_ORDER_ID, detail: 'client_order_id is empty' };
  if (id.length > MAX_CLIENT_ORDER_ID_LENGTH || !CLIENT_ORDER_ID_PATTERN.test(id)) {
    return {
      reason: InvalidReason.INVALID_CLIENT_ORDER_ID,
      detail: `client_order_id must be 1-${MAX_CLIENT_ORDER_ID_LENGTH} printable ASCII characters without spaces`,
    };
  }
  return undefined;
}

function checkAccount(account: string, allowed: readonly string[]): string | undefined {
  if (account.length === 0) return 'account is empty';
  if (!allowed.includes(account)) return `account "${account}" is not one of this session's accounts (${allowed.join(', ')})`;
  return undefined;
}

const isTime = (value: number): boolean => Number.isSafeInteger(value) && value >= 0;

/** Checks a NewOrder against the session's accounts and converts it to the OMS command. */
export function validateNewOrder(order: NewOrder, accounts: readonly string[]): Validated<SubmitOrderCommand> {
  const clientOrderId = order.clientOrderId;
  const account = order.account;
  const fail = (reasonCode: InvalidReason, detail: string): ValidationFailure => ({
    ok: false,
    clientOrderId,
    account,
    symbol: order.symbol,
    reasonCode,
    detail,
  });
  const idProblem = checkClientOrderId(clientOrderId);
  if (idProblem) return fail(idProblem.reason, idProblem.detail);
  const accountProblem = checkAccount(account, accounts);
  if (accountProblem) return fail(InvalidReason.ACCOUNT_NOT_ALLOWED, accountProblem);
  const symbol = parseSymbol(order.symbol);
  if (!symbol.ok) return fail(InvalidReason.INVALID_SYMBOL, `${symbol.reason}: ${symbol.detail}`);
  const side = sideFromProto(order.side);
  if (side === undefined) return fail(InvalidReason.UNKNOWN_SIDE, `side ${order.side} is not SIDE_BUY (1) or SIDE_SELL (2)`);
  const orderType = orderTypeFromProto(order.orderType);
  if (orderType === undefined) return fail(InvalidReason.UNKNOWN_ORDER_TYPE, `order_type ${order.orderType} is not a known OrderType`);
  if (!Number.isSafeInteger(order.quantity) || order.quantity <= 0) {
    return fail(InvalidReason.INVALID_QUANTITY, `quantity must be a positive whole number of shares below 2^53, got ${String(order.quantity)}`);
  }
  if (!Number.isSafeInteger(order.price) || order.price < 0) {
    return fail(InvalidReason.INVALID_PRICE, `price must be a non-negative integer of 0.0001 CNY below 2^53, got ${String(order.price)}`);
  }
  if (orderType === 'LIMIT' && order.price === 0) return fail(InvalidReason.INVALID_PRICE, 'a LIMIT order needs a price > 0');
  if (order.tag.length > MAX_TAG_LENGTH) return fail(InvalidReason.INVALID_TAG, `tag is longer than ${MAX_TAG_LENGTH} characters`);
  if (!isTime(order.clientTimeUs)) {
    return fail(InvalidReason.INVALID_CLIENT_TIME, `client_time_us must be microseconds since the epoch, got ${String(order.clientTimeUs)}`);
  }
  return {
    ok: true,
    command: {
      type: 'SubmitOrder',
      clientOrderId,
      account,
      symbol: symbol.value.symbol,
      side,
      orderType,
      price: order.price,
      quantity: order.quantity,
      tag: order.tag,
      clientTimeUs: order.clientTimeUs,
    },
  };
}

/** Checks a CancelOrder against the session's accounts. */
export function validateCancelOrder(cancel: CancelOrder, accounts: readonly string[]): Validated<CancelOrderCommand> {
  const fail = (reasonCode: InvalidReason, detail: string): ValidationFailure => ({
    ok: false,
    clientOrderId: cancel.clientOrderId,
    account: cancel.account,
    symbol: '',
    reasonCode,
    detail,
  });
  const idProblem = checkClientOrderId(cancel.clientOrderId);
  if (idProblem) return fail(idProblem.reason, idProblem.detail);
  const accountProblem = checkAccount(cancel.account, accounts);
  if (accountProblem) return fail(InvalidReason.ACCOUNT_NOT_ALLOWED, accountProblem);
  if (!isTime(cancel.clientTimeUs)) {
    return fail(InvalidReason.INVALID_CLIENT_TIME, `client_time_us must be microseconds since the epoch, got ${String(cancel.clientTimeUs)}`);
  }
  return {
    ok: true,
    command: { type: 'CancelOrder', clientOrderId: cancel.clientOrderId, account: cancel.account, clientTimeUs: cancel.clientTimeUs },
  };
}

/** Problems of a Hello that are the client's fault (INVALID_ARGUMENT), or undefined. */
export function helloProblem(hello: Hello): string | undefined {
  if (hello.strategyId.length === 0) return 'Hello.strategy_id is empty';
  if (hello.instanceId.length === 0) return 'Hello.instance_id is empty';
  if (hello.accounts.length === 0) return 'Hello.accounts is empty: a session trades at least one account';
  if (hello.accounts.some((a) => a.length === 0)) return 'Hello.accounts contains an empty account id';
  if (!Number.isSafeInteger(hello.resumeFromSeq) || hello.resumeFromSeq < 0) {
    return `Hello.resume_from_seq must be a non-negative integer below 2^53, got ${String(hello.resumeFromSeq)}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Lenient request decoding

/** What the session server's deserializer hands over when the bytes are not a ClientMessage. */
export interface MalformedClientMessage {
  readonly malformed: string;
}

export type DecodedClientMessage = ClientMessage | MalformedClientMessage;

export function isMalformed(message: DecodedClientMessage): message is MalformedClientMessage {
  return (message as Partial<MalformedClientMessage>).malformed !== undefined;
}

/**
 * Decodes a ClientMessage without letting one bad field end the stream: the generated decoder
 * throws on an int64 beyond ±(2^53 − 1), which grpc-js would turn into an INTERNAL status for
 * the whole stream; here such a value decodes to an unsafe number that validation then denies
 * with a reason (INVALID_QUANTITY, INVALID_PRICE...). Bytes that are not protobuf at all become
 * a `MalformedClientMessage` (the server ends that stream with INVALID_ARGUMENT).
 */
export function decodeClientMessage(bytes: Uint8Array): DecodedClientMessage {
  try {
    return ClientMessage.decode(bytes);
  } catch (strictError) {
    try {
      return decodeClientMessageLoose(bytes);
    } catch {
      return { malformed: strictError instanceof Error ? strictError.message : String(strictError) };
    }
  }
}

const looseInt64 = (reader: BinaryReader): number => Number(BigInt(reader.int64()));
const looseUint64 = (reader: BinaryReader): number => Number(BigInt(reader.uint64()));

function decodeClientMessageLoose(bytes: Uint8Array): ClientMessage {
  const reader = new BinaryReader(bytes);
  let message: ClientMessage = { body: undefined };
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if ((tag & 7) === 2 && field >= 1 && field <= 4) {
      const sub = new BinaryReader(reader.bytes());
      if (field === 1) message = { body: { $case: 'hello', value: looseHello(sub) } };
      else if (field === 2) message = { body: { $case: 'newOrder', value: looseNewOrder(sub) } };
      else if (field === 3) message = { body: { $case: 'cancelOrder', value: looseCancel(sub) } };
      else message = { body: { $case: 'heartbeat', value: { clientTimeUs: (looseFields(sub, { 1: looseInt64 }).get(1) as number | undefined) ?? 0 } } };
    } else {
      if (tag === 0) throw new Error('invalid zero tag');
      reader.skip(tag & 7);
    }
  }
  return message;
}

type FieldReader = (reader: BinaryReader) => unknown;

function looseFields(reader: BinaryReader, fields: Record<number, FieldReader>, repeated?: number): Map<number, unknown> {
  const values = new Map<number, unknown>();
  const list: unknown[] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const read = fields[tag >>> 3];
    if (read === undefined) {
      if (tag === 0) throw new Error('invalid zero tag');
      reader.skip(tag & 7);
      continue;
    }
    const value = read(reader);
    if (tag >>> 3 === repeated) list.push(value);
    else values.set(tag >>> 3, value);
  }
  if (repeated !== undefined) values.set(repeated, list);
  return values;
}

const str = (r: BinaryReader): string => r.string();
const i32 = (r: BinaryReader): number => r.int32();

function looseHello(reader: BinaryReader): Hello {
  const v = looseFields(reader, { 1: str, 2: str, 3: str, 4: str, 5: looseUint64 }, 4);
  return {
    strategyId: (v.get(1) as string | undefined) ?? '',
    instanceId: (v.get(2) as string | undefined) ?? '',
    authToken: (v.get(3) as string | undefined) ?? '',
    accounts: v.get(4) as string[],
    resumeFromSeq: (v.get(5) as number | undefined) ?? 0,
  };
}

function looseNewOrder(reader: BinaryReader): NewOrder {
  const v = looseFields(reader, { 1: str, 2: str, 3: str, 4: i32, 5: i32, 6: looseInt64, 7: looseInt64, 8: str, 9: looseInt64 });
  return {
    clientOrderId: (v.get(1) as string | undefined) ?? '',
    account: (v.get(2) as string | undefined) ?? '',
    symbol: (v.get(3) as string | undefined) ?? '',
    side: ((v.get(4) as number | undefined) ?? 0) as NewOrder['side'],
    orderType: ((v.get(5) as number | undefined) ?? 0) as NewOrder['orderType'],
    price: (v.get(6) as number | undefined) ?? 0,
    quantity: (v.get(7) as number | undefined) ?? 0,
    tag: (v.get(8) as string | undefined) ?? '',
    clientTimeUs: (v.get(9) as number | undefined) ?? 0,
  };
}

function looseCancel(reader: BinaryReader): CancelOrder {
  const v = looseFields(reader, { 1: str, 2: str, 3: looseInt64 });
  return {
    clientOrderId: (v.get(1) as string | undefined) ?? '',
    account: (v.get(2) as string | undefined) ?? '',
    clientTimeUs: (v.get(3) as number | undefined) ?? 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Server messages

export function executionReportToProto(seq: number, report: ExecutionReportData): ExecutionReport {
  return {
    seq,
    clientOrderId: report.clientOrderId,
    venueOrderId: report.venueOrderId,
    account: report.account,
    symbol: report.symbol,
    side: sideToProto(report.side),
    orderType: orderTypeToProto(report.orderType),
    price: report.price,
    quantity: report.quantity,
    execType: execTypeToProto(report.execType),
    status: orderStatusToProto(report.status),
    execId: report.execId,
    lastQty: report.lastQty,
    lastPrice: report.lastPrice,
    cumQty: report.cumQty,
    leavesQty: report.leavesQty,
    avgPrice: report.avgPrice,
    lastFees: report.lastFees,
    cumFees: report.cumFees,
    text: report.text,
    eventTimeUs: report.eventTimeUs,
  };
}

export function tradingStateRecordToProto(record: TradingStateRecord): PbTradingStateRecord {
  return {
    scope: scopeToProto(record.scope),
    account: record.account,
    state: tradingStateToProto(record.state),
    actor: record.actor,
    reason: record.reason,
    changedTimeUs: record.changedAt,
  };
}

/** The ServerMessage that carries a sequenced session event. */
export function sessionEventToServerMessage(seq: number, event: SessionEvent): ServerMessage {
  switch (event.type) {
    case 'executionReport':
      return { body: { $case: 'executionReport', value: executionReportToProto(seq, event.report) } };
    case 'orderDenied':
      return {
        body: {
          $case: 'orderDenied',
          value: {
            seq,
            clientOrderId: event.clientOrderId,
            account: event.account,
            symbol: event.symbol,
            reasonCode: event.reasonCode,
            detail: event.detail,
            eventTimeUs: event.eventTimeUs,
          },
        },
      };
    case 'tradingStateChanged':
      return {
        body: {
          $case: 'tradingStateChanged',
          value: {
            seq,
            scope: scopeToProto(event.current.scope),
            account: event.current.account,
            state: tradingStateToProto(event.current.state),
            previousState: tradingStateToProto(event.previous),
            actor: event.current.actor,
            reason: event.current.reason,
            eventTimeUs: event.current.changedAt,
          },
        },
      };
  }
}

export function encodeSessionEvent(seq: number, event: SessionEvent): Uint8Array {
  return ServerMessage.encode(sessionEventToServerMessage(seq, event)).finish();
}

// ---------------------------------------------------------------------------------------------
// Admin

export function adminOrderToProto(order: AdminOrder): Order {
  return {
    clientOrderId: order.clientOrderId,
    venueOrderId: order.venueOrderId,
    account: order.account,
    strategyId: order.strategyId,
    instanceId: order.instanceId,
    symbol: order.symbol,
    side: sideToProto(order.side),
    orderType: orderTypeToProto(order.orderType),
    price: order.price,
    quantity: order.quantity,
    cumQty: order.cumQty,
    leavesQty: order.leavesQty,
    status: orderStatusToProto(order.status),
    avgPrice: order.avgPrice,
    cumFees: order.cumFees,
    tag: order.tag,
    text: order.text,
    createdTimeUs: order.createdAt,
    updatedTimeUs: order.updatedAt,
  };
}

export function adminPositionToProto(position: AdminPosition): Position {
  return {
    account: position.account,
    symbol: position.symbol,
    quantity: position.quantity,
    sellableQuantity: position.sellableQuantity,
    avgCostPrice: position.avgCostPrice,
    realizedPnl: position.realizedPnl,
    updatedTimeUs: position.updatedAt,
  };
}

export function adminLimitToProto(limit: AdminLimit): Limit {
  return { account: limit.account, name: limit.name, value: limit.value };
}
