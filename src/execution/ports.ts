/**
 * Ports of the execution service: the order manager (OMS) depends on these interfaces only;
 * each is implemented by one adapter in its own folder (FIX broker, SQLite journal, gRPC
 * server) and by in-memory fakes in unit tests.
 *
 * Money and prices are integer 0.0001 CNY, quantities shares, times integer µs (src/core).
 */
import type { Micros } from '../core/clock.ts';
import type { Side } from '../core/instruments.ts';
import type { OrderType } from '../core/order.ts';
import type { OrderStatus } from '../core/order-state.ts';
import type { Price, Qty } from '../core/units.ts';
import type { TradingState } from '../core/risk/types.ts';

// ---------------------------------------------------------------------------------------------
// Broker adapter (implemented by src/execution/broker/fix-broker.ts)

/** An order as sent to a venue. `clientOrderId` is the venue-facing ClOrdID (unique per day). */
export interface BrokerOrder {
  readonly clientOrderId: string;
  readonly account: string;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  readonly price: Price;
  readonly quantity: Qty;
  /** When the OMS journaled it (FIX TransactTime). */
  readonly createdAt: Micros;
}

export interface BrokerCancel {
  /** The order to cancel (OrigClOrdID). */
  readonly clientOrderId: string;
  /** Id of this cancel request (FIX ClOrdID of the OrderCancelRequest), unique per day. */
  readonly cancelId: string;
  readonly account: string;
  readonly symbol: string;
  readonly side: Side;
  readonly quantity: Qty;
  readonly createdAt: Micros;
}

/** What a venue reports. Every event names our `clientOrderId` (of the order, not the cancel). */
export type BrokerEvent =
  | { readonly type: 'accepted'; readonly clientOrderId: string; readonly venueOrderId: string; readonly ts: Micros }
  | { readonly type: 'rejected'; readonly clientOrderId: string; readonly reason: string; readonly ts: Micros }
  | {
      readonly type: 'filled';
      readonly clientOrderId: string;
      readonly venueOrderId: string;
      /** Venue's unique id of the fill (FIX ExecID): a resent fill has the same id. */
      readonly fillId: string;
      readonly qty: Qty;
      readonly price: Price;
      readonly ts: Micros;
    }
  | { readonly type: 'cancelled'; readonly clientOrderId: string; readonly reason: string; readonly ts: Micros }
  | { readonly type: 'cancelRejected'; readonly clientOrderId: string; readonly reason: string; readonly ts: Micros }
  | { readonly type: 'expired'; readonly clientOrderId: string; readonly ts: Micros };

/** The venue's view of one order, answered by `reconcile`. */
export interface VenueOrderStatus {
  readonly clientOrderId: string;
  /** UNKNOWN: the venue never received the order (safe to treat as not sent). */
  readonly status: OrderStatus | 'UNKNOWN';
  readonly venueOrderId: string | undefined;
  readonly cumQty: Qty;
  readonly leavesQty: Qty;
  readonly avgPrice: Price;
  readonly text: string;
}

export type BrokerConnectionState = 'disconnected' | 'connecting' | 'connected' | 'closed';

export interface BrokerAdapter {
  readonly name: string;
  readonly state: BrokerConnectionState;
  /** Connects and logs on; resolves once orders can be sent; retries with back-off after a drop. */
  start(): Promise<void>;
  /**
   * Hands the order to the transport (written to the FIX message store before the socket).
   * Rejects with a typed error if not connected; never sends the same ClOrdID twice unless
   * as a PossDup resend.
   */
  submit(order: BrokerOrder): Promise<void>;
  cancel(request: BrokerCancel): Promise<void>;
  /** Asks the venue for the current status of each order (FIX OrderStatusRequest). */
  reconcile(orders: readonly BrokerOrder[]): Promise<VenueOrderStatus[]>;
  /** Venue events, in the order received (fills missed while down arrive through FIX resend). */
  onEvent(listener: (event: BrokerEvent) => void): void;
  /** Connection changes (for metrics, the dashboard, and reconciling after every logon). */
  onStateChange(listener: (state: BrokerConnectionState) => void): void;
  /** Idempotent; logs out gracefully within the grace period. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Audit journal (implemented by src/execution/journal/sqlite-journal.ts)

/** What happened; stable strings (they are stored and exported). */
export type AuditKind =
  | 'ORDER_REQUEST'
  | 'RISK_DECISION'
  | 'ORDER_SENT'
  | 'CANCEL_REQUEST'
  | 'CANCEL_SENT'
  | 'VENUE_ACK'
  | 'VENUE_REJECT'
  | 'FILL'
  | 'CANCELLED'
  | 'CANCEL_REJECTED'
  | 'EXPIRED'
  | 'TRADING_STATE'
  | 'LIMIT_CHANGE'
  | 'RECONCILE'
  | 'ALERT'
  | 'SERVICE';

export interface AuditRecord {
  readonly kind: AuditKind;
  readonly account?: string;
  readonly strategy?: string;
  readonly symbol?: string;
  readonly clientOrderId?: string;
  /** Who acted: "strategy:<id>", "operator:<name>", "risk:<rule>", "venue", "system". */
  readonly actor?: string;
  /** Everything else (JSON-safe: numbers are integers in documented units). */
  readonly data: Readonly<Record<string, unknown>>;
}

export interface AuditEntry extends AuditRecord {
  /** 1, 2, 3, ... with no gaps. */
  readonly seq: number;
  /** When it was appended (injected clock). */
  readonly ts: Micros;
  /** Hex SHA-256 of the previous entry (64 zeros for the first). */
  readonly prevHash: string;
  /** Hex SHA-256 over prevHash and this entry's canonical content. */
  readonly hash: string;
}

export interface AuditQuery {
  readonly account?: string;
  readonly strategy?: string;
  readonly symbol?: string;
  readonly clientOrderId?: string;
  readonly kinds?: readonly AuditKind[];
  readonly fromTs?: Micros;
  readonly toTs?: Micros;
  readonly afterSeq?: number;
  readonly limit?: number;
  /** newest first when true */
  readonly descending?: boolean;
}

export type ChainVerification =
  | { readonly ok: true; readonly entries: number; readonly lastHash: string }
  | { readonly ok: false; readonly entries: number; readonly badSeq: number; readonly detail: string };

export interface Journal {
  /**
   * Appends durably (committed before returning) and returns the stored entries. Several
   * records in one call are one transaction: all or none. Synchronous on purpose: "write
   * before acting" must not interleave with other work.
   */
  append(records: readonly AuditRecord[]): AuditEntry[];
  /** Entries in seq order from `afterSeq` (exclusive), for rebuilding state after a restart. */
  replay(afterSeq?: number): Iterable<AuditEntry>;
  query(query: AuditQuery): AuditEntry[];
  verify(): ChainVerification;
  readonly lastSeq: number;
  close(): void;
}

/**
 * Durable per-stream outbox of sequenced session messages (execution reports, denials, state
 * changes) so a reconnecting strategy instance resumes by seq across server restarts.
 * Implemented next to the journal (same SQLite file) and in memory for tests.
 */
export interface SessionOutboxStore {
  /** Appends the encoded ServerMessage for (strategy, instance); returns its seq (1, 2, ...). */
  append(strategyId: string, instanceId: string, encode: (seq: number) => Uint8Array): number;
  /** Encoded messages with seq > afterSeq, in order, at most `limit`. */
  readAfter(strategyId: string, instanceId: string, afterSeq: number, limit: number): Array<{ seq: number; payload: Uint8Array }>;
  /** Last seq assigned (0 = none). */
  lastSeq(strategyId: string, instanceId: string): number;
  /** Lowest seq still retained (lastSeq + 1 when empty). */
  firstRetainedSeq(strategyId: string, instanceId: string): number;
}

// ---------------------------------------------------------------------------------------------
// Trading state records (kill switch), shared by OMS, gRPC server and admin

export interface TradingStateRecord {
  readonly scope: 'GLOBAL' | 'ACCOUNT';
  /** '' for GLOBAL. */
  readonly account: string;
  readonly state: TradingState;
  readonly actor: string;
  readonly reason: string;
  readonly changedAt: Micros;
}

// ---------------------------------------------------------------------------------------------
// gRPC session server ⇄ OMS (server in src/execution/grpc/, handler implemented by the OMS)

/** Who is on a session stream (from an authenticated Hello). */
export interface SessionIdentity {
  readonly strategyId: string;
  readonly instanceId: string;
  readonly accounts: readonly string[];
  /** Id of this stream (Welcome.session_id). */
  readonly sessionId: string;
}

/** A validated NewOrder (the server converted and range-checked the protobuf fields). */
export interface SubmitOrderCommand {
  readonly type: 'SubmitOrder';
  readonly clientOrderId: string;
  readonly account: string;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  readonly price: Price;
  readonly quantity: Qty;
  readonly tag: string;
  readonly clientTimeUs: Micros;
}

export interface CancelOrderCommand {
  readonly type: 'CancelOrder';
  readonly clientOrderId: string;
  readonly account: string;
  readonly clientTimeUs: Micros;
}

export type AuthResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: 'UNAUTHENTICATED' | 'PERMISSION_DENIED'; readonly message: string };

/** Sequenced messages the OMS sends to one (strategy, instance); the server assigns seq. */
export type SessionEvent =
  | { readonly type: 'executionReport'; readonly report: ExecutionReportData }
  | {
      readonly type: 'orderDenied';
      readonly clientOrderId: string;
      readonly account: string;
      readonly symbol: string;
      readonly reasonCode: string;
      readonly detail: string;
      readonly eventTimeUs: Micros;
    }
  | { readonly type: 'tradingStateChanged'; readonly current: TradingStateRecord; readonly previous: TradingState };

/** trading.proto ExecutionReport without seq, in domain types. */
export interface ExecutionReportData {
  readonly clientOrderId: string;
  readonly venueOrderId: string;
  readonly account: string;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  readonly price: Price;
  readonly quantity: Qty;
  readonly execType:
    | 'PENDING_NEW' | 'SENT' | 'ACCEPTED' | 'REJECTED' | 'TRADE' | 'PENDING_CANCEL'
    | 'CANCELLED' | 'CANCEL_REJECTED' | 'RESTATED' | 'EXPIRED';
  /** undefined only for CANCEL_REJECTED of an unknown order. */
  readonly status: OrderStatus | undefined;
  readonly execId: string;
  readonly lastQty: Qty;
  readonly lastPrice: Price;
  readonly cumQty: Qty;
  readonly leavesQty: Qty;
  readonly avgPrice: Price;
  readonly lastFees: number;
  readonly cumFees: number;
  readonly text: string;
  readonly eventTimeUs: Micros;
}

/** What the OMS does for the session server. Commands never throw; outcomes are SessionEvents. */
export interface TradingSessionHandler {
  /** Checks the Hello's token and accounts for this strategy. */
  authenticate(strategyId: string, instanceId: string, token: string, accounts: readonly string[]): AuthResult;
  /** Trading states for the Welcome. */
  tradingStates(accounts: readonly string[]): { global: TradingStateRecord; accounts: TradingStateRecord[] };
  /** Open orders of this instance, for EXEC_TYPE_RESTATED after a resume gap. */
  openOrders(identity: SessionIdentity): ExecutionReportData[];
  submit(identity: SessionIdentity, command: SubmitOrderCommand): void;
  cancel(identity: SessionIdentity, command: CancelOrderCommand): void;
  /**
   * A client message that failed validation (negative or NaN quantity, unknown enum, missing
   * id...). The OMS journals it and answers OrderDenied with `reasonCode`.
   */
  invalid(identity: SessionIdentity, clientOrderId: string, account: string, symbol: string, reasonCode: string, detail: string): void;
  /**
   * A cancel that failed validation (missing id, an account the session may not trade, a bad
   * time). The OMS journals it and answers an execution report CANCEL_REJECTED with
   * `<reasonCode>: <detail>` as its text; the order it names, if any, is not touched (an
   * OrderDenied would mark the *order* denied on the client).
   */
  invalidCancel(identity: SessionIdentity, clientOrderId: string, account: string, reasonCode: string, detail: string): void;
  /** Stream opened/closed (metrics, dashboard, alerts). */
  connected?(identity: SessionIdentity): void;
  disconnected?(identity: SessionIdentity, reason: string): void;
}

/** The server side the OMS talks to. */
export interface SessionPublisher {
  /** Stores (outbox) and, if the instance is connected, sends; returns the seq. */
  publish(strategyId: string, instanceId: string, event: SessionEvent): number;
}

// ---------------------------------------------------------------------------------------------
// Admin service ⇄ OMS. The gRPC Admin server (src/execution/grpc/admin-server.ts) checks the
// bearer token, validates requests and maps `AdminCallError` codes to gRPC status codes.

export type AdminErrorCode = 'INVALID_ARGUMENT' | 'NOT_FOUND' | 'FAILED_PRECONDITION' | 'UNAVAILABLE';

export class AdminCallError extends Error {
  readonly code: AdminErrorCode;
  constructor(code: AdminErrorCode, message: string) {
    super(message);
    this.name = 'AdminCallError';
    this.code = code;
  }
}

export interface AdminOrderFilter {
  readonly account?: string;
  readonly strategyId?: string;
  readonly statuses?: readonly OrderStatus[];
  readonly limit: number;
}

export interface AdminOrder {
  readonly clientOrderId: string;
  readonly venueOrderId: string;
  readonly account: string;
  readonly strategyId: string;
  readonly instanceId: string;
  readonly symbol: string;
  readonly side: Side;
  readonly orderType: OrderType;
  readonly price: Price;
  readonly quantity: Qty;
  readonly cumQty: Qty;
  readonly leavesQty: Qty;
  readonly status: OrderStatus;
  readonly avgPrice: Price;
  readonly cumFees: number;
  readonly tag: string;
  readonly text: string;
  readonly createdAt: Micros;
  readonly updatedAt: Micros;
}

export interface AdminPosition {
  readonly account: string;
  readonly symbol: string;
  readonly quantity: Qty;
  readonly sellableQuantity: Qty;
  readonly avgCostPrice: Price;
  readonly realizedPnl: number;
  readonly updatedAt: Micros;
}

export interface AdminLimit {
  /** '' = the default for all accounts. */
  readonly account: string;
  readonly name: string;
  readonly value: number;
}

/** Implemented by the OMS; the admin server calls it after authentication and validation. */
export interface AdminHandler {
  setTradingState(scope: 'GLOBAL' | 'ACCOUNT', account: string, state: TradingState, actor: string, reason: string): { previous: TradingStateRecord; current: TradingStateRecord };
  tradingStates(account: string | undefined): { global: TradingStateRecord; accounts: TradingStateRecord[] };
  listOrders(filter: AdminOrderFilter): { orders: AdminOrder[]; truncated: boolean };
  listPositions(account: string): AdminPosition[];
  getLimits(account: string | undefined): AdminLimit[];
  setLimit(account: string, name: string, value: number, actor: string, reason: string): { previous: AdminLimit | undefined; current: AdminLimit };
}
