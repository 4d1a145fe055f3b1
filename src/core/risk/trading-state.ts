/**
 * Trading state rules: ACTIVE / REDUCING / HALTED, global and per account. Pure functions;
 * the OMS holds the states, applies changes (its own or a risk `TradingStateTrigger`) and
 * journals them as events.
 */
import type { Side } from '../instruments.ts';
import type { Qty } from '../units.ts';
import { fail, OK, type RuleResult } from '../rule-result.ts';
import type { TradingState } from './types.ts';

export const TRADING_STATES: readonly TradingState[] = Object.freeze(['ACTIVE', 'REDUCING', 'HALTED']);

const SEVERITY: Readonly<Record<TradingState, number>> = Object.freeze({ ACTIVE: 0, REDUCING: 1, HALTED: 2 });

export function isTradingState(value: unknown): value is TradingState {
  return value === 'ACTIVE' || value === 'REDUCING' || value === 'HALTED';
}

/** The stricter of two states; an account without its own state follows the global one. */
export function effectiveState(global: TradingState, account: TradingState | undefined): TradingState {
  if (account === undefined) return global;
  return SEVERITY[account] > SEVERITY[global] ? account : global;
}

export type TradingStateReason = 'TRADING_HALTED' | 'TRADING_REDUCING_ONLY';

/**
 * Whether a new order may be sent in `state`. HALTED: nothing. REDUCING: only sells of at
 * most the position held (an A-share cash account cannot short, so a buy never reduces).
 * Cancels are not new orders and are always allowed.
 */
export function allowedInState(
  state: TradingState,
  order: { readonly side: Side; readonly quantity: Qty },
  positionQty: Qty,
): RuleResult<TradingStateReason> {
  if (state === 'ACTIVE') return OK;
  if (state === 'HALTED') return fail('TRADING_HALTED', 'trading is halted: no new orders');
  if (order.side === 'SELL' && order.quantity <= positionQty) return OK;
  return fail(
    'TRADING_REDUCING_ONLY',
    order.side === 'BUY'
      ? 'trading is reducing-only: buys are not allowed'
      : `trading is reducing-only: selling ${order.quantity} exceeds the position of ${positionQty}`,
  );
}
