/**
 * Duplicate-order detection: the same account sending an order identical in symbol, side,
 * type, price and quantity within `duplicate_window_ms` (a repeated click or a strategy
 * loop) is refused. One instance per account; entries are reused so steady-state operation
 * allocates nothing.
 */
import type { Micros } from '../../clock.ts';
import { deny, RISK_RULES } from '../decision.ts';
import type { RiskDenial, RiskOrder } from '../types.ts';

interface Recent {
  clientOrderId: string;
  side: string;
  orderType: string;
  price: number;
  quantity: number;
  at: Micros;
}

export class DuplicateWindow {
  readonly #bySymbol = new Map<string, Recent[]>();

  /**
   * The denial if an identical order was accepted within the window before this one's
   * `receivedAt` (read here rather than passed: a µs instant crossing a call gets boxed).
   */
  check(order: RiskOrder, windowMicros: Micros): RiskDenial | null {
    if (windowMicros <= 0) return null;
    const now = order.receivedAt;
    const recent = this.#bySymbol.get(order.symbol);
    if (recent === undefined) return null;
    for (let i = 0; i < recent.length; i += 1) {
      const entry = recent[i] as Recent;
      if (
        entry.price === order.price &&
        entry.quantity === order.quantity &&
        entry.side === order.side &&
        entry.orderType === order.orderType &&
        now - entry.at < windowMicros
      ) {
        return deny(
          RISK_RULES.DUPLICATE_ORDER,
          'DUPLICATE_ORDER',
          `same ${order.side} ${order.orderType} ${order.quantity} ${order.symbol} @ ${order.price} as ${entry.clientOrderId} ` +
            `${Math.floor((now - entry.at) / 1000)} ms ago; duplicate_window_ms ${windowMicros / 1000}`,
        );
      }
    }
    return null;
  }

  /** Remembers an accepted order (reusing an expired entry of its symbol when there is one). */
  remember(order: RiskOrder, windowMicros: Micros): void {
    if (windowMicros <= 0) return;
    const now = order.receivedAt;
    let recent = this.#bySymbol.get(order.symbol);
    if (recent === undefined) {
      recent = [];
      this.#bySymbol.set(order.symbol, recent);
    }
    let slot: Recent | undefined;
    for (let i = 0; i < recent.length; i += 1) {
      const entry = recent[i] as Recent;
      if (now - entry.at >= windowMicros) {
        slot = entry;
        break;
      }
    }
    if (slot === undefined) {
      recent.push({ clientOrderId: order.clientOrderId, side: order.side, orderType: order.orderType, price: order.price, quantity: order.quantity, at: now });
      return;
    }
    slot.clientOrderId = order.clientOrderId;
    slot.side = order.side;
    slot.orderType = order.orderType;
    slot.price = order.price;
    slot.quantity = order.quantity;
    slot.at = now;
  }
}
