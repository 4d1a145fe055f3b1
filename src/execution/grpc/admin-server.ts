/**
 * The Admin gRPC service (proto/triquant/v1/admin.proto): checks the bearer token, validates
 * each request, calls the OMS's `AdminHandler`, and maps failures to gRPC statuses:
 *
 *   missing / wrong token                 → UNAUTHENTICATED
 *   malformed request                      → INVALID_ARGUMENT (the message names the field)
 *   AdminCallError(code) from the handler  → that code
 *   anything else the handler throws       → INTERNAL (stack logged; the server keeps serving)
 */
import * as grpc from '@grpc/grpc-js';
import type { OrderStatus } from '../../core/order-state.ts';
import type { Logger } from '../../obs/log.ts';
import {
  AdminService,
  type GetLimitsRequest,
  type GetLimitsResponse,
  type GetTradingStateRequest,
  type GetTradingStateResponse,
  type ListOrdersRequest,
  type ListOrdersResponse,
  type ListPositionsRequest,
  type ListPositionsResponse,
  type SetKillSwitchRequest,
  type SetKillSwitchResponse,
  type SetLimitRequest,
  type SetLimitResponse,
} from '../../protocol/gen/triquant/v1/admin.ts';
import { AdminCallError, type AdminErrorCode, type AdminHandler } from '../ports.ts';
import { sameSecret } from '../secret.ts';
import {
  adminLimitToProto,
  adminOrderToProto,
  adminPositionToProto,
  orderStatusFromProto,
  scopeFromProto,
  tradingStateFromProto,
  tradingStateRecordToProto,
} from './convert.ts';

export const DEFAULT_LIST_LIMIT = 1_000;
export const MAX_LIST_LIMIT = 10_000;
const LIMIT_NAME_PATTERN = /^[a-z][a-z0-9_]{0,63}$/;

export interface AdminGrpcServiceOptions {
  readonly handler: AdminHandler;
  /** The operator token expected as `authorization: Bearer <token>`. */
  readonly token: string;
  readonly log: Logger;
}

export interface AdminServiceStats {
  calls: number;
  /** Failed calls by gRPC status name. */
  failed: Record<string, number>;
}

const ERROR_CODE_TO_STATUS: Readonly<Record<AdminErrorCode, grpc.status>> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
};

const STATUS_NAME = new Map<number, string>(Object.entries(grpc.status).map(([name, code]) => [code as number, name]));

const invalid = (message: string): AdminCallError => new AdminCallError('INVALID_ARGUMENT', message);

function required(value: string, field: string): string {
  if (value.trim().length === 0) throw invalid(`${field} is required`);
  return value;
}

export class AdminGrpcService {
  readonly stats: AdminServiceStats = { calls: 0, failed: {} };
  readonly service = AdminService;
  readonly implementation: grpc.UntypedServiceImplementation;
  private readonly handler: AdminHandler;
  private readonly token: string;
  private readonly log: Logger;

  constructor(options: AdminGrpcServiceOptions) {
    if (options.token.length === 0) throw new RangeError('the admin token must not be empty');
    this.handler = options.handler;
    this.token = options.token;
    this.log = options.log;
    this.implementation = {
      setKillSwitch: this.unary('SetKillSwitch', (r: SetKillSwitchRequest) => this.setKillSwitch(r)),
      getTradingState: this.unary('GetTradingState', (r: GetTradingStateRequest) => this.getTradingState(r)),
      listOrders: this.unary('ListOrders', (r: ListOrdersRequest) => this.listOrders(r)),
      listPositions: this.unary('ListPositions', (r: ListPositionsRequest) => this.listPositions(r)),
      getLimits: this.unary('GetLimits', (r: GetLimitsRequest) => this.getLimits(r)),
      setLimit: this.unary('SetLimit', (r: SetLimitRequest) => this.setLimit(r)),
    };
  }

  /** Adds the Admin service to a server (which may also host Trading). */
  addTo(server: grpc.Server): void {
    server.addService(this.service, this.implementation);
  }

  // -------------------------------------------------------------------------------------------

  private setKillSwitch(request: SetKillSwitchRequest): SetKillSwitchResponse {
    const scope = scopeFromProto(request.scope);
    if (scope === undefined) throw invalid(`scope ${request.scope} is not SCOPE_GLOBAL (1) or SCOPE_ACCOUNT (2)`);
    if (scope === 'GLOBAL' && request.account !== '') throw invalid('account must be empty for SCOPE_GLOBAL');
    if (scope === 'ACCOUNT' && request.account.trim() === '') throw invalid('account is required for SCOPE_ACCOUNT');
    const state = tradingStateFromProto(request.state);
    if (state === undefined) throw invalid(`state ${request.state} is not ACTIVE (1), REDUCING (2) or HALTED (3)`);
    const actor = required(request.actor, 'actor');
    const reason = required(request.reason, 'reason');
    const result = this.handler.setTradingState(scope, request.account, state, actor, reason);
    this.log.info('kill switch set', { scope, account: request.account, state, actor, reason, previous: result.previous.state });
    return { previous: tradingStateRecordToProto(result.previous), current: tradingStateRecordToProto(result.current) };
  }

  private getTradingState(request: GetTradingStateRequest): GetTradingStateResponse {
    const states = this.handler.tradingStates(request.account === '' ? undefined : request.account);
    return { globalState: tradingStateRecordToProto(states.global), accountStates: states.accounts.map(tradingStateRecordToProto) };
  }

  private listOrders(request: ListOrdersRequest): ListOrdersResponse {
    const statuses: OrderStatus[] = request.statuses.map((value) => {
      const status = orderStatusFromProto(value);
      if (status === undefined) throw invalid(`statuses contains ${value}, not a known OrderStatus`);
      return status;
    });
    const limit = request.limit === 0 ? DEFAULT_LIST_LIMIT : Math.min(request.limit, MAX_LIST_LIMIT);
    const result = this.handler.listOrders({
      ...(request.account === '' ? {} : { account: request.account }),
      ...(request.strategyId === '' ? {} : { strategyId: request.strategyId }),
      ...(statuses.length === 0 ? {} : { statuses }),
      limit,
    });
    return { orders: result.orders.map(adminOrderToProto), truncated: result.truncated };
  }

  private listPositions(request: ListPositionsRequest): ListPositionsResponse {
    const account = required(request.account, 'account');
    return { positions: this.handler.listPositions(account).map(adminPositionToProto) };
  }

  private getLimits(request: GetLimitsRequest): GetLimitsResponse {
    return { limits: this.handler.getLimits(request.account === '' ? undefined : request.account).map(adminLimitToProto) };
  }

  private setLimit(request: SetLimitRequest): SetLimitResponse {
    if (!LIMIT_NAME_PATTERN.test(request.name)) throw invalid(`name must be a snake_case limit name, got "${request.name}"`);
    if (!Number.isSafeInteger(request.value)) throw invalid(`value must be an integer, got ${request.value}`);
    const actor = required(request.actor, 'actor');
    const reason = required(request.reason, 'reason');
    const result = this.handler.setLimit(request.account, request.name, request.value, actor, reason);
    this.log.info('limit set', { account: request.account, name: request.name, value: request.value, actor, reason, previous: result.previous?.value });
    return {
      ...(result.previous === undefined ? {} : { previous: adminLimitToProto(result.previous) }),
      current: adminLimitToProto(result.current),
    };
  }

  // -------------------------------------------------------------------------------------------

  private unary<Req, Res>(method: string, call: (request: Req) => Res): grpc.handleUnaryCall<Req, Res> {
    return (context, callback) => {
      this.stats.calls++;
      let failure: grpc.ServiceError | undefined;
      let response: Res | undefined;
      try {
        failure = this.authenticate(context.metadata);
        if (failure === undefined) response = call(context.request);
      } catch (error) {
        failure = this.toStatus(method, error);
      }
      if (failure !== undefined) {
        const name = STATUS_NAME.get(failure.code) ?? String(failure.code);
        this.stats.failed[name] = (this.stats.failed[name] ?? 0) + 1;
        callback(failure);
      } else {
        callback(null, response);
      }
    };
  }

  private authenticate(metadata: grpc.Metadata): grpc.ServiceError | undefined {
    const values = metadata.get('authorization');
    const header = values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined;
    if (header === undefined) return status(grpc.status.UNAUTHENTICATED, 'missing authorization metadata: send "authorization: Bearer <admin token>"');
    const match = /^Bearer (.+)$/i.exec(header);
    if (match === null) return status(grpc.status.UNAUTHENTICATED, 'authorization metadata must be "Bearer <admin token>"');
    if (!sameSecret(this.token, match[1]!)) return status(grpc.status.UNAUTHENTICATED, 'invalid admin token');
    return undefined;
  }

  private toStatus(method: string, error: unknown): grpc.ServiceError {
    if (error instanceof AdminCallError) return status(ERROR_CODE_TO_STATUS[error.code] ?? grpc.status.INTERNAL, error.message);
    this.log.error('admin call failed', { method, error, stack: error instanceof Error ? error.stack : undefined });
    return status(grpc.status.INTERNAL, `${method} failed on the server (logged)`);
  }
}

function status(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}
