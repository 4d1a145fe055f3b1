/**
 * Quantity rules: a positive whole number of shares on the board's lot grid (buys; sells
 * are checked against the sellable position later, where odd lots can be judged), the
 * board's maximum order size, and the firm's `max_order_qty`.
 */
import type { Board } from '../../instruments.ts';
import { checkLot, checkMaxOrderQty, type LotSettings } from '../../lot-rules.ts';
import { deny, denyFrom, RISK_RULES } from '../decision.ts';
import type { RiskDenial, RiskOrder } from '../types.ts';

/** `firmMaxQty` 0: no firm limit. */
export function checkQuantity(order: RiskOrder, board: Board, lots: LotSettings, firmMaxQty: number): RiskDenial | null {
  const qty = order.quantity;
  if (order.side === 'BUY' || !Number.isSafeInteger(qty) || qty <= 0) {
    const lot = checkLot(board, order.side, qty, undefined, lots);
    if (!lot.ok) return denyFrom(RISK_RULES.LOT, lot);
  }
  const boardMax = checkMaxOrderQty(board, order.orderType, qty, lots);
  if (!boardMax.ok) return denyFrom(RISK_RULES.MAX_ORDER_QTY, boardMax);
  if (firmMaxQty > 0 && qty > firmMaxQty) {
    return deny(RISK_RULES.MAX_ORDER_QTY, 'MAX_ORDER_QTY_EXCEEDED', `${qty} shares exceeds max_order_qty ${firmMaxQty}`);
  }
  return null;
}
