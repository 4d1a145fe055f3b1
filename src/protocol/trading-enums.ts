/**
 * The trading contract's enums (proto numbers) ⇄ the core's string unions, in one place for
 * both ends of the gRPC session (execution's convert.ts, the strategy's order client) and the
 * dashboard. The proto enum names are the core's strings by design (`ORDER_STATUS_FILLED` ⇄
 * 'FILLED'), so each pair of maps is derived from the generated enum object; a type check below
 * fails to compile if the two ever drift apart. Lookups from numbers go through `Map`s, so an
 * unknown number (a newer peer, or garbage) is "not found" rather than a prototype key.
 */
import type { Side } from '../core/instruments.ts';
import type { OrderType } from '../core/order.ts';
import type { OrderStatus } from '../core/order-state.ts';
import type { TradingState } from '../core/risk/types.ts';
import { OrderStatus as PbOrderStatus, OrderType as PbOrderType, Scope as PbScope, Side as PbSide, TradingState as PbTradingState } from './gen/triquant/v1/common.ts';
import { ExecType as PbExecType } from './gen/triquant/v1/trading.ts';

/** trading.proto ExecType names without the prefix (the Strategy API's ExecType). */
export type ExecTypeName = Exclude<keyof typeof PbExecType, 'UNSPECIFIED' | 'UNRECOGNIZED'>;
export type ScopeName = Exclude<keyof typeof PbScope, 'UNSPECIFIED' | 'UNRECOGNIZED'>;

export interface EnumMaps<Name extends string> {
  readonly toProto: Readonly<Record<Name, number>>;
  readonly fromProto: ReadonlyMap<number, Name>;
}

function enumMaps<Name extends string>(generated: Readonly<Record<string, number>>): EnumMaps<Name> {
  const toProto: Record<string, number> = {};
  const fromProto = new Map<number, Name>();
  for (const [name, value] of Object.entries(generated)) {
    if (name === 'UNSPECIFIED' || name === 'UNRECOGNIZED' || value <= 0) continue;
    toProto[name] = value;
    fromProto.set(value, name as Name);
  }
  return { toProto: Object.freeze(toProto) as Record<Name, number>, fromProto };
}

// Compile-time: the generated names (less UNSPECIFIED) are exactly the core's unions.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type ProtoNames<E> = Exclude<keyof E, 'UNSPECIFIED' | 'UNRECOGNIZED'>;
const namesMatch: [
  Same<ProtoNames<typeof PbSide>, Side>,
  Same<ProtoNames<typeof PbOrderType>, OrderType>,
  Same<ProtoNames<typeof PbOrderStatus>, OrderStatus>,
  Same<ProtoNames<typeof PbTradingState>, TradingState>,
] = [true, true, true, true];
void namesMatch;

export const SIDE = enumMaps<Side>(PbSide);
export const ORDER_TYPE = enumMaps<OrderType>(PbOrderType);
export const ORDER_STATUS = enumMaps<OrderStatus>(PbOrderStatus);
export const TRADING_STATE = enumMaps<TradingState>(PbTradingState);
export const EXEC_TYPE = enumMaps<ExecTypeName>(PbExecType);
export const SCOPE = enumMaps<ScopeName>(PbScope);

/** Statuses after which an order changes no more (a report with one answers any pending command). */
export const TERMINAL_ORDER_STATUSES: ReadonlySet<number> = new Set<number>([
  PbOrderStatus.DENIED, PbOrderStatus.REJECTED, PbOrderStatus.FILLED, PbOrderStatus.CANCELLED, PbOrderStatus.EXPIRED,
]);
