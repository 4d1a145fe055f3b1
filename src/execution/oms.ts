/**
 * The order manager (OMS): every order of every strategy goes through here.
 *
 * Event sourcing on the audit journal: every change of state (an order request, a risk
 * decision, a send, a venue ack, a fill, a cancel, a trading-state or limit change) is first
 * appended to the journal, and only the journal entry is then applied — by the same
 * `#apply(entry)` that rebuilds the state after a restart. So "journal before action" holds by
 * construction, and a replay reaches exactly the state the live path had.
 *
 * A new order: idempotency by (account, clientOrderId) → trading state → pre-trade risk with
 * the ledger's account view and the latest reference price → ONE journal append of
 * ORDER_REQUEST + RISK_DECISION (+ ORDER_SENT when accepted) → ledger freeze → broker.submit.
 *
 * Venue ClOrdIDs: `<YYYYMMDD>-<n>` with n counting the day's sent orders (restored from the
 * journal on restart). Short (FIX venues often limit ClOrdID length), unique per trading day
 * across all strategies and accounts, and it reveals nothing about strategies to the venue.
 * The mapping to (account, strategy clientOrderId) is journaled with the ORDER_REQUEST.
 *
 * Restart: `recover()` replays the journal; until the broker has logged on and
 * `reconcile` answered for every non-terminal order, new orders and cancels wait in a queue
 * (they are not denied: a reconnecting strategy resubmits everything it has not seen
 * acknowledged, and those orders must not be lost). An order journaled as sent but UNKNOWN at
 * the venue is marked REJECTED (NOT_AT_VENUE) — never sent again, so it can never reach the
 * venue twice; the strategy sees the reject and decides.
 */
import { chinaDate, chinaTimeOfDay, MICROS_PER_DAY, type Clock, type Micros, type TradingDate } from '../core/clock.ts';
import { Ledger, type LedgerAccountInit } from '../core/ledger.ts';
import type { FeeSchedule } from '../core/fees.ts';
import { Order, type OrderEvent } from '../core/order.ts';
import { canCancel, isTerminal, type OrderStatus } from '../core/order-state.ts';
import type { Side } from '../core/instruments.ts';
import type { OrderType } from '../core/order.ts';
import type {
  AccountView, ComplianceAlert, MarketReference, RestingOrder, RiskContext, RiskDecision, RiskOrder, TradingState,
  TradingStateTrigger,
} from '../core/risk/types.ts';
import { allowedInState, effectiveState } from '../core/risk/trading-state.ts';
import {
  AdminCallError,
  type AdminHandler, type AdminLimit, type AdminOrder, type AdminOrderFilter, type AdminPosition, type AuditEntry, type AuditRecord,
  type AuthResult, type BrokerAdapter, type BrokerConnectionState, type BrokerEvent, type BrokerOrder, type CancelOrderCommand,
  type ExecutionReportData, type Journal, type SessionEvent, type SessionIdentity, type SessionPublisher, type SubmitOrderCommand,
  type TradingSessionHandler, type TradingStateRecord, type VenueOrderStatus,
} from './ports.ts';
import type { ReferencePrices } from './reference-prices.ts';
import { sameSecret } from './secret.ts';
import type { Logger } from '../obs/log.ts';
import { silentLogger } from '../obs/log.ts';

// ---------------------------------------------------------------------------------------------
// What the OMS needs from the risk engine (src/core/risk). Kept as a port so the engine's own
// class plugs in directly and tests can use a fake.

export type CancelPacing = { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly detail: string };

export interface RiskPort {
  checkNew(order: RiskOrder, ctx: RiskContext): RiskDecision;
  onNewAccepted(order: RiskOrder): void;
  /** Only rate / daily count can refuse a cancel; the OMS then retries later (paced, never denied). */
  checkCancel(account: string, now: Micros): CancelPacing;
  onCancelSent(account: string, clientOrderId: string, orderSentAt: Micros, now: Micros): void;
  evaluate(account: AccountView, now: Micros): readonly TradingStateTrigger[];
  drainAlerts(): readonly ComplianceAlert[];
  limits(account?: string): readonly AdminLimit[];
  /** Throws (any Error) for an unknown name or a value out of range; nothing changes then. */
  setLimit(account: string, name: string, value: number): void;
}

/** Strategy credentials: `id` "*" matches every strategy; `accounts` ["*"] every account. */
export interface StrategyCredentials {
  readonly id: string;
  readonly token: string;
  readonly accounts: readonly string[];
}

/** Observer for metrics (all optional). */
export interface OmsObserver {
  orderSent?(account: string): void;
  orderDenied?(account: string, reason: string): void;
  cancelSent?(account: string): void;
  fill?(account: string): void;
  /** The order's whole quantity is filled. */
  orderFilled?(account: string): void;
  complianceAlert?(account: string, code: string): void;
  tradingStateChanged?(record: TradingStateRecord): void;
  readinessChanged?(ready: boolean): void;
}

export interface OmsOptions {
  journal: Journal;
  broker: BrokerAdapter;
  risk: RiskPort;
  references: ReferencePrices;
  clock: Clock;
  accounts: readonly LedgerAccountInit[];
  fees: FeeSchedule;
  strategies: readonly StrategyCredentials[];
  publisher?: SessionPublisher;
  logger?: Logger;
  observer?: OmsObserver;
  /** How often paced cancels are retried and risk is evaluated (ms). */
  cancelRetryMs?: number;
  evaluateEveryMs?: number;
  /** Commands waiting for the reconcile; beyond it new orders are denied RECONCILING. */
  maxQueued?: number;
}

export type OmsMode = 'recovering' | 'reconciling' | 'ready' | 'broker-down' | 'closed';

interface OmsOrder {
  readonly order: Order;
  readonly venueId: string;
  readonly strategyId: string;
  readonly instanceId: string;
  readonly tag: string;
  readonly freezePrice: number;
  readonly receivedAt: Micros;
  sentAt: Micros;
  cumFees: number;
  cancelSeq: number;
  cancelQueued: boolean;
  /** Who asked for the cancel that waits for the rate limit. */
  pendingCancelActor: string;
}

type Queued = { kind: 'submit'; identity: SessionIdentity; command: SubmitOrderCommand } | { kind: 'cancel'; identity: SessionIdentity; command: CancelOrderCommand };

/** What applying one journal entry did (for the live path to publish). */
type Applied =
  | { kind: 'order'; o: OmsOrder; execType: ExecutionReportData['execType']; text?: string; fill?: { fillId: string; qty: number; price: number; fee: number }; ts: Micros }
  | { kind: 'denied'; o: OmsOrder; reason: string; detail: string; ts: Micros }
  | { kind: 'state'; record: TradingStateRecord; previous: TradingState }
  | { kind: 'none' };

const DEFAULT_STATE_TIME = 0;
const SEVERITY: Readonly<Record<TradingState, number>> = { ACTIVE: 0, REDUCING: 1, HALTED: 2 };

/** Journal entries at the end whose orders are restated after an unclean restart (a superset of the last event's). */
const RESTATE_TAIL_ENTRIES = 8;

function clientKey(account: string, clientOrderId: string): string {
  return `${account}\u0001${clientOrderId}`;
}

function instanceKey(strategyId: string, instanceId: string): string {
  return `${strategyId}\u0001${instanceId}`;
}

export class Oms implements TradingSessionHandler, AdminHandler {
  readonly ledger: Ledger;
  readonly #o: OmsOptions;
  readonly #log: Logger;
  #publisher: SessionPublisher | undefined;
  #observer: OmsObserver | undefined;
  #mode: OmsMode = 'recovering';
  readonly #byVenue = new Map<string, OmsOrder>();
  readonly #byClient = new Map<string, OmsOrder>();
  readonly #orders: OmsOrder[] = [];
  /** Non-terminal sent orders, in send order (risk asks for them on every new order). */
  readonly #working = new Set<OmsOrder>();
  readonly #instances = new Map<string, { strategyId: string; instanceId: string; accounts: Set<string> }>();
  #global: TradingStateRecord;
  readonly #accountStates = new Map<string, TradingStateRecord>();
  #venueSeqDate: TradingDate = 0;
  #venueSeq = 0;
  readonly #queue: Queued[] = [];
  readonly #cancelQueue: OmsOrder[] = [];
  readonly #positionUpdatedAt = new Map<string, Micros>();
  #timer: NodeJS.Timeout | undefined;
  #reconciling: Promise<boolean> | undefined;
  /** The reconcile for the current logon ran (through the broker's beforeReady hook). */
  #reconciledThisLogon = false;
  /** PENDING_CANCEL orders still working at the venue after a reconcile: their cancel goes again once connected. */
  readonly #cancelResends: OmsOrder[] = [];
  #replaying = false;
  /** Orders of the last journaled events before a crash, restated once a publisher is there (see recover). */
  #restate: OmsOrder[] = [];
  /** Start of the China day after the one the ledger was last rolled to: earlier instants need no date math. */
  #ledgerDayEnd: Micros = 0;
  /** One view per account (its methods read the ledger live), not a new set of closures per order. */
  readonly #accountViews = new Map<string, AccountView>();
  readonly counters = { duplicates: 0, denied: 0, sent: 0, fills: 0, duplicateFills: 0, cancels: 0, reconciles: 0, applyErrors: 0, unknownEvents: 0 };

  constructor(options: OmsOptions) {
    this.#o = options;
    this.#log = options.logger ?? silentLogger;
    this.#publisher = options.publisher;
    this.#observer = options.observer;
    this.ledger = new Ledger({ accounts: options.accounts, fees: options.fees, tradingDate: 19700101 });
    this.#global = { scope: 'GLOBAL', account: '', state: 'ACTIVE', actor: 'system', reason: 'default', changedAt: DEFAULT_STATE_TIME };
  }

  get mode(): OmsMode {
    return this.#mode;
  }

  get ready(): boolean {
    return this.#mode === 'ready';
  }

  /** Metrics (built after the OMS: they read it). */
  setObserver(observer: OmsObserver): void {
    this.#observer = observer;
  }

  /** Non-terminal orders of an account. */
  openOrderCount(account: string): number {
    let n = 0;
    for (const o of this.#working) if (o.order.account === account) n++;
    return n;
  }

  /** The session server, once built (it needs this handler first). */
  setPublisher(publisher: SessionPublisher): void {
    this.#publisher = publisher;
    this.#restateAfterCrash();
  }

  // -------------------------------------------------------------------------------------------
  // Life cycle

  /**
   * Rebuilds orders, ledger, trading states, limits and risk counters from the journal, then
   * listens to the broker. Call before `broker.start()`. Orders wait until the first reconcile.
   */
  recover(): { entries: number; openOrders: number } {
    let entries = 0;
    // The last entries, newest last: a crash can fall between an event's journal commit and the
    // commit of its reports to the session outbox (separate transactions), so the reports of the
    // journal's last event may never have been stored. Unless the journal ends with a clean stop,
    // the orders those entries name are restated (RESTATED: the strategy reconciles its view,
    // missing fills included; a report it already had changes nothing).
    const tail: AuditEntry[] = [];
    this.#replaying = true;
    try {
      for (const entry of this.#o.journal.replay()) {
        entries++;
        this.#apply(entry);
        tail.push(entry);
        if (tail.length > RESTATE_TAIL_ENTRIES) tail.shift();
      }
    } finally {
      this.#replaying = false;
    }
    this.#restate = this.#ordersToRestate(tail);
    this.#rollLedger(this.#o.clock.nowMicros());
    this.#o.broker.onEvent((event) => this.#onBrokerEvent(event));
    this.#o.broker.onStateChange((state) => this.#onBrokerState(state));
    const every = this.#o.evaluateEveryMs ?? 1_000;
    this.#timer = setInterval(() => this.#tick(), Math.min(every, this.#o.cancelRetryMs ?? 20));
    this.#timer.unref();
    const openOrders = this.#working.size;
    this.#journal([{ kind: 'SERVICE', actor: 'system', data: { event: 'recovered', entries, openOrders } }]);
    this.#log.info('journal replayed', { entries, openOrders, orders: this.#orders.length });
    if (this.#o.broker.state === 'connected') void this.#reconcile();
    this.#restateAfterCrash();
    return { entries, openOrders };
  }

  #ordersToRestate(tail: readonly AuditEntry[]): OmsOrder[] {
    const last = tail.at(-1);
    if (last === undefined || (last.kind === 'SERVICE' && (last.data as { event?: unknown }).event === 'stopped')) return [];
    const orders = new Set<OmsOrder>();
    for (const entry of tail) {
      if (entry.clientOrderId === undefined || entry.account === undefined) continue;
      const o = this.#byClient.get(clientKey(entry.account, entry.clientOrderId));
      if (o !== undefined) orders.add(o);
    }
    return [...orders];
  }

  #restateAfterCrash(): void {
    if (this.#publisher === undefined || this.#restate.length === 0) return;
    const now = this.#o.clock.nowMicros();
    for (const o of this.#restate.splice(0)) this.#publishReport(o, 'RESTATED', { ts: now, text: 'RESTATED_AFTER_RESTART' });
  }

  /** Stops intake (new commands are denied SHUTTING_DOWN) and the timers. */
  close(): void {
    if (this.#mode === 'closed') return;
    this.#setMode('closed');
    if (this.#timer) clearInterval(this.#timer);
    for (const q of this.#queue.splice(0)) if (q.kind === 'submit') this.#denyUnjournaled(q.identity, q.command, 'SHUTTING_DOWN', 'the execution service is stopping');
  }

  /** Resolves once the current reconcile (if any) finished. */
  async whenReconciled(): Promise<void> {
    await this.#reconciling;
  }

  /**
   * Reconciles every non-terminal order with the venue. Meant as the broker's `beforeReady`
   * hook (runs after each logon, before the adapter accepts orders); throws if the venue did
   * not answer, so the adapter logs out and tries again.
   */
  async reconcileNow(): Promise<void> {
    const ok = await this.#reconcile();
    if (!ok) throw new Error('reconcile with the venue failed');
    this.#reconciledThisLogon = true;
  }

  // -------------------------------------------------------------------------------------------
  // TradingSessionHandler

  authenticate(strategyId: string, _instanceId: string, token: string, accounts: readonly string[]): AuthResult {
    const creds = this.#o.strategies.find((s) => s.id === strategyId) ?? this.#o.strategies.find((s) => s.id === '*');
    if (creds === undefined || !sameSecret(creds.token, token)) {
      return { ok: false, code: 'UNAUTHENTICATED', message: `strategy ${strategyId}: unknown strategy or wrong token` };
    }
    for (const account of accounts) {
      const allowed = creds.accounts.includes('*') || creds.accounts.includes(account);
      if (!allowed || !this.ledger.hasAccount(account)) {
        return { ok: false, code: 'PERMISSION_DENIED', message: `strategy ${strategyId} may not trade account ${account}` };
      }
    }
    return { ok: true };
  }

  tradingStates(accounts: readonly string[] | string | undefined): { global: TradingStateRecord; accounts: TradingStateRecord[] } {
    const list = accounts === undefined ? this.ledger.accounts() : typeof accounts === 'string' ? [accounts] : accounts;
    if (typeof accounts === 'string' && !this.ledger.hasAccount(accounts)) throw new AdminCallError('NOT_FOUND', `no account ${accounts}`);
    return { global: this.#global, accounts: list.map((a) => this.#accountState(a)) };
  }

  openOrders(identity: SessionIdentity): ExecutionReportData[] {
    return [...this.#working]
      .filter((o) => o.strategyId === identity.strategyId && o.instanceId === identity.instanceId)
      .map((o) => this.#report(o, 'RESTATED', { ts: this.#o.clock.nowMicros() }));
  }

  connected(identity: SessionIdentity): void {
    this.#remember(identity.strategyId, identity.instanceId, identity.accounts);
  }

  disconnected(): void {}

  submit(identity: SessionIdentity, command: SubmitOrderCommand): void {
    if (this.#mode === 'closed') {
      this.#denyUnjournaled(identity, command, 'SHUTTING_DOWN', 'the execution service is stopping');
      return;
    }
    if (this.#mode === 'recovering' || this.#mode === 'reconciling' || this.#queue.length > 0) {
      if (this.#queue.length >= (this.#o.maxQueued ?? 10_000)) {
        this.#denyUnjournaled(identity, command, 'RECONCILING', 'the service is reconciling with the venue; too many orders are waiting');
        return;
      }
      this.#queue.push({ kind: 'submit', identity, command });
      return;
    }
    this.#submitNow(identity, command);
  }

  cancel(identity: SessionIdentity, command: CancelOrderCommand): void {
    if (this.#mode === 'recovering' || this.#mode === 'reconciling' || this.#queue.length > 0) {
      this.#queue.push({ kind: 'cancel', identity, command });
      return;
    }
    this.#cancelNow(identity, command);
  }

  invalid(identity: SessionIdentity, clientOrderId: string, account: string, symbol: string, reasonCode: string, detail: string): void {
    this.#journal([{
      kind: 'RISK_DECISION', account, strategy: identity.strategyId, symbol, clientOrderId, actor: `strategy:${identity.strategyId}`,
      data: { ok: false, rule: 'validation', reason: reasonCode, detail, instanceId: identity.instanceId, invalid: true },
    }]);
    this.#observer?.orderDenied?.(account, reasonCode);
    this.#publish(identity.strategyId, identity.instanceId, {
      type: 'orderDenied', clientOrderId, account, symbol, reasonCode, detail, eventTimeUs: this.#o.clock.nowMicros(),
    });
  }

  invalidCancel(identity: SessionIdentity, clientOrderId: string, account: string, reasonCode: string, detail: string): void {
    this.#journal([{
      kind: 'RISK_DECISION', account, strategy: identity.strategyId, clientOrderId, actor: `strategy:${identity.strategyId}`,
      data: { ok: false, rule: 'validation', reason: reasonCode, detail, instanceId: identity.instanceId, invalid: true, cancel: true },
    }]);
    this.#cancelRejectedUnknown(identity, clientOrderId, account, `${reasonCode}: ${detail}`);
  }

  // -------------------------------------------------------------------------------------------
  // AdminHandler

  setTradingState(scope: 'GLOBAL' | 'ACCOUNT', account: string, state: TradingState, actor: string, reason: string): { previous: TradingStateRecord; current: TradingStateRecord } {
    if (scope === 'ACCOUNT' && !this.ledger.hasAccount(account)) throw new AdminCallError('NOT_FOUND', `no account ${account}`);
    if (scope === 'GLOBAL' && account !== '') throw new AdminCallError('INVALID_ARGUMENT', 'a GLOBAL trading state names no account');
    const previous = scope === 'GLOBAL' ? this.#global : this.#accountState(account);
    const entries = this.#journal([{
      kind: 'TRADING_STATE', ...(scope === 'ACCOUNT' ? { account } : {}), actor,
      data: { scope, account, state, previous: previous.state, reason },
    }]);
    if (entries === undefined) throw new AdminCallError('UNAVAILABLE', 'the audit journal refused the change');
    let current = previous;
    for (const entry of entries) {
      const applied = this.#apply(entry);
      if (applied.kind === 'state') {
        current = applied.record;
        this.#announceState(applied.record, applied.previous);
      }
    }
    if (state === 'HALTED') this.#cancelAllWorking(scope === 'GLOBAL' ? undefined : account, actor);
    return { previous, current };
  }

  listOrders(filter: AdminOrderFilter): { orders: AdminOrder[]; truncated: boolean } {
    const out: AdminOrder[] = [];
    let truncated = false;
    for (let i = this.#orders.length - 1; i >= 0; i--) {
      const o = this.#orders[i]!;
      if (filter.account && o.order.account !== filter.account) continue;
      if (filter.strategyId && o.strategyId !== filter.strategyId) continue;
      if (filter.statuses && filter.statuses.length > 0 && !filter.statuses.includes(o.order.status)) continue;
      if (out.length >= filter.limit) {
        truncated = true;
        break;
      }
      out.push(this.#adminOrder(o));
    }
    return { orders: out, truncated };
  }

  listPositions(account: string): AdminPosition[] {
    if (!this.ledger.hasAccount(account)) throw new AdminCallError('NOT_FOUND', `no account ${account}`);
    return this.ledger.positions(account).map((p) => ({
      account, symbol: p.symbol, quantity: p.quantity, sellableQuantity: p.sellable, avgCostPrice: p.avgCost, realizedPnl: p.realizedPnl,
      updatedAt: this.#positionUpdatedAt.get(clientKey(account, p.symbol)) ?? 0,
    }));
  }

  getLimits(account: string | undefined): AdminLimit[] {
    if (account !== undefined && account !== '' && !this.ledger.hasAccount(account)) throw new AdminCallError('NOT_FOUND', `no account ${account}`);
    return [...this.#o.risk.limits(account === '' ? undefined : account)];
  }

  setLimit(account: string, name: string, value: number, actor: string, reason: string): { previous: AdminLimit | undefined; current: AdminLimit } {
    if (account !== '' && !this.ledger.hasAccount(account)) throw new AdminCallError('NOT_FOUND', `no account ${account}`);
    const before = this.#o.risk.limits(account === '' ? undefined : account).find((l) => l.name === name);
    if (before === undefined) throw new AdminCallError('INVALID_ARGUMENT', `unknown limit ${name}`);
    if (!Number.isSafeInteger(value)) throw new AdminCallError('INVALID_ARGUMENT', `limit ${name}: value must be an integer`);
    // Check the value on the engine before journaling: set, and put the old value back if the
    // journal refuses (journal before effect: nothing decides on the new value in between).
    try {
      this.#o.risk.setLimit(account, name, value);
    } catch (error) {
      throw new AdminCallError('INVALID_ARGUMENT', (error as Error).message);
    }
    const entries = this.#journal([{
      kind: 'LIMIT_CHANGE', ...(account ? { account } : {}), actor, data: { account, name, value, previous: before.value, reason },
    }]);
    if (entries === undefined) {
      this.#o.risk.setLimit(account, name, before.value);
      throw new AdminCallError('UNAVAILABLE', 'the audit journal refused the change');
    }
    return { previous: { account, name, value: before.value }, current: { account, name, value } };
  }

  // -------------------------------------------------------------------------------------------
  // Introspection (tests, metrics)

  /** Orders in arrival order (immutable snapshots with the OMS's own fields). */
  orders(): Array<AdminOrder & { venueClOrdId: string }> {
    return this.#orders.map((o) => ({ ...this.#adminOrder(o), venueClOrdId: o.venueId }));
  }

  order(account: string, clientOrderId: string): (AdminOrder & { venueClOrdId: string }) | undefined {
    const o = this.#byClient.get(clientKey(account, clientOrderId));
    return o === undefined ? undefined : { ...this.#adminOrder(o), venueClOrdId: o.venueId };
  }

  effectiveState(account: string): TradingState {
    return effectiveState(this.#global.state, this.#accountStates.get(account)?.state);
  }

  accountView(account: string): AccountView {
    let view = this.#accountViews.get(account);
    if (view === undefined) {
      const ledger = this.ledger;
      view = {
        account,
        availableCash: () => ledger.availableCash(account),
        sellableQty: (symbol) => ledger.sellableQty(account, symbol),
        positionQty: (symbol) => ledger.positionQty(account, symbol),
        openOrders: () => this.#restingOrders(account),
        dayPnl: () => ledger.dayPnl(account, this.#o.references.marks),
        grossExposure: () => ledger.grossExposure(account, this.#o.references.marks),
      };
      this.#accountViews.set(account, view);
    }
    return view;
  }

  queued(): number {
    return this.#queue.length;
  }

  // -------------------------------------------------------------------------------------------
  // New orders

  #submitNow(identity: SessionIdentity, cmd: SubmitOrderCommand): void {
    const key = clientKey(cmd.account, cmd.clientOrderId);
    const existing = this.#byClient.get(key);
    if (existing !== undefined) {
      // Idempotent resubmission: nothing is journaled or sent. The existing order's reports
      // answer it; a RESTATED report of its current state is added because a crash between
      // the journal and the session outbox can lose a report, and the client resubmits exactly
      // what it has not seen answered.
      this.counters.duplicates++;
      if (existing.strategyId === identity.strategyId) {
        this.#publishReport(existing, 'RESTATED', { ts: this.#o.clock.nowMicros(), text: 'DUPLICATE_CLIENT_ORDER_ID: already received' });
      }
      return;
    }
    const now = this.#o.clock.nowMicros();
    const today = chinaDate(now);
    // A new day settles yesterday's buys (T+1) before the sellable check.
    this.#rollLedger(now);
    const riskOrder: RiskOrder = {
      clientOrderId: cmd.clientOrderId, account: cmd.account, strategy: identity.strategyId, symbol: cmd.symbol, side: cmd.side,
      orderType: cmd.orderType, price: cmd.price, quantity: cmd.quantity, receivedAt: now,
    };
    const market = this.#o.references.reference(cmd.symbol);
    let decision: RiskDecision;
    let freezePrice = cmd.price;
    const state = this.effectiveState(cmd.account);
    const pre = this.#preCheck(identity, cmd);
    if (pre !== undefined) {
      decision = pre;
    } else {
      const stateCheck = allowedInState(state, cmd, this.ledger.positionQty(cmd.account, cmd.symbol));
      if (!stateCheck.ok) {
        decision = { ok: false, rule: 'trading_state', reason: stateCheck.reason, detail: stateCheck.detail };
      } else {
        const ctx: RiskContext = {
          account: this.accountView(cmd.account), market, tradingState: state, tradingDate: today, now,
        };
        decision = this.#o.risk.checkNew(riskOrder, ctx);
      }
      if (decision.ok) {
        freezePrice = this.#freezePrice(cmd, market);
        const freeze = freezePrice > 0
          ? this.ledger.canFreeze(cmd.account, cmd.side, cmd.symbol, freezePrice, cmd.quantity)
          : { ok: false as const, reason: 'NO_REFERENCE_PRICE', detail: `no price to freeze cash for a ${cmd.orderType} buy of ${cmd.symbol}` };
        if (!freeze.ok) decision = { ok: false, rule: 'ledger', reason: freeze.reason, detail: freeze.detail };
      }
    }
    const venueId = decision.ok ? this.#nextVenueId(today) : '';
    const common = { account: cmd.account, strategy: identity.strategyId, symbol: cmd.symbol, clientOrderId: cmd.clientOrderId, actor: `strategy:${identity.strategyId}` };
    const records: AuditRecord[] = [
      {
        kind: 'ORDER_REQUEST', ...common,
        data: {
          instanceId: identity.instanceId, venueClOrdId: venueId, side: cmd.side, orderType: cmd.orderType, price: cmd.price,
          quantity: cmd.quantity, tag: cmd.tag, clientTimeUs: cmd.clientTimeUs, receivedAt: now, freezePrice,
        },
      },
      {
        kind: 'RISK_DECISION', ...common,
        data: {
          ...(decision.ok
            ? { ok: true, warnings: decision.warnings.map((w) => ({ ...w })) }
            : { ok: false, rule: decision.rule, reason: decision.reason, detail: decision.detail }),
          references: referenceRecord(market), tradingState: state,
        },
      },
    ];
    if (decision.ok) records.push({ kind: 'ORDER_SENT', ...common, data: { venueClOrdId: venueId, intent: true } });
    const entries = this.#journal(records);
    if (entries === undefined) {
      this.#denyUnjournaled(identity, cmd, 'JOURNAL_UNAVAILABLE', 'the audit journal refused the order; nothing was sent');
      return;
    }
    let o: OmsOrder | undefined;
    for (const entry of entries) {
      const applied = this.#apply(entry);
      if (applied.kind === 'order' || applied.kind === 'denied') o = applied.o;
    }
    if (o === undefined) return;
    if (!decision.ok) {
      this.counters.denied++;
      this.#observer?.orderDenied?.(cmd.account, decision.reason);
      this.#publish(o.strategyId, o.instanceId, {
        type: 'orderDenied', clientOrderId: cmd.clientOrderId, account: cmd.account, symbol: cmd.symbol, reasonCode: decision.reason,
        detail: decision.detail, eventTimeUs: now,
      });
      return;
    }
    this.counters.sent++;
    this.#observer?.orderSent?.(cmd.account);
    // The venue first, then the strategy's SENT report: the report's outbox commit is off the
    // order's critical path (the journal entries above were committed before either).
    this.#sendToBroker(o);
    this.#publishReport(o, 'SENT', { ts: now });
    this.#drainAlerts();
  }

  #preCheck(identity: SessionIdentity, cmd: SubmitOrderCommand): RiskDecision | undefined {
    if (!identity.accounts.includes(cmd.account)) {
      return { ok: false, rule: 'session', reason: 'ACCOUNT_NOT_PERMITTED', detail: `account ${cmd.account} is not one of this session's accounts` };
    }
    if (!this.ledger.hasAccount(cmd.account)) return { ok: false, rule: 'session', reason: 'UNKNOWN_ACCOUNT', detail: `no account ${cmd.account}` };
    if (this.#o.broker.state !== 'connected') {
      return { ok: false, rule: 'broker', reason: 'BROKER_UNAVAILABLE', detail: `the broker connection is ${this.#o.broker.state}` };
    }
    return undefined;
  }

  /** Buys of market types freeze at the upper limit (else the best ask); sells freeze shares only. */
  #freezePrice(cmd: SubmitOrderCommand, market: MarketReference | undefined): number {
    if (cmd.orderType === 'LIMIT' || cmd.side === 'SELL') return cmd.price > 0 ? cmd.price : 1;
    return market?.upperLimit ?? market?.ask ?? market?.last ?? cmd.price;
  }

  #nextVenueId(date: TradingDate): string {
    if (date !== this.#venueSeqDate) {
      this.#venueSeqDate = date;
      this.#venueSeq = 0;
    }
    return `${date}-${this.#venueSeq + 1}`;
  }

  #sendToBroker(o: OmsOrder): void {
    const order: BrokerOrder = this.#brokerOrder(o);
    this.#o.broker.submit(order).catch((error: unknown) => {
      this.#log.warn('broker refused an order', { clOrdId: o.venueId, error });
      // Down: the reconcile after the next logon settles it (UNKNOWN → NOT_AT_VENUE).
      if (this.#o.broker.state === 'connected' && o.order.status === 'SENT') {
        this.#venueEvent(o, { kind: 'VENUE_REJECT', data: { reason: `BROKER_SEND_FAILED: ${(error as Error).message}` } });
      }
    });
  }

  #brokerOrder(o: OmsOrder): BrokerOrder {
    const order = o.order;
    return {
      clientOrderId: o.venueId, account: order.account, symbol: order.symbol, side: order.side, orderType: order.orderType,
      price: order.price, quantity: order.quantity, createdAt: o.sentAt,
    };
  }

  #denyUnjournaled(identity: SessionIdentity, cmd: SubmitOrderCommand, reason: string, detail: string): void {
    this.counters.denied++;
    this.#observer?.orderDenied?.(cmd.account, reason);
    this.#publish(identity.strategyId, identity.instanceId, {
      type: 'orderDenied', clientOrderId: cmd.clientOrderId, account: cmd.account, symbol: cmd.symbol, reasonCode: reason, detail,
      eventTimeUs: this.#o.clock.nowMicros(),
    });
  }

  // -------------------------------------------------------------------------------------------
  // Cancels

  #cancelNow(identity: SessionIdentity, cmd: CancelOrderCommand): void {
    const o = this.#byClient.get(clientKey(cmd.account, cmd.clientOrderId));
    const now = this.#o.clock.nowMicros();
    if (o === undefined || o.strategyId !== identity.strategyId) {
      this.#cancelRejectedUnknown(identity, cmd.clientOrderId, cmd.account, 'UNKNOWN_ORDER: no such order for this strategy');
      return;
    }
    if (!canCancel(o.order.status) || o.cancelQueued) {
      const why = o.order.status === 'PENDING_CANCEL' || o.cancelQueued ? 'CANCEL_PENDING: a cancel is already on its way' : `ORDER_NOT_CANCELABLE: the order is ${o.order.status}`;
      this.#publish(o.strategyId, o.instanceId, { type: 'executionReport', report: this.#report(o, 'CANCEL_REJECTED', { ts: now, text: why }) });
      return;
    }
    this.#requestCancel(o, `strategy:${identity.strategyId}`, 'requested by the strategy');
  }

  /** CANCEL_REJECTED to the requesting session for a cancel naming no order of its own (nothing of the order is in the report). */
  #cancelRejectedUnknown(identity: SessionIdentity, clientOrderId: string, account: string, text: string): void {
    this.#publish(identity.strategyId, identity.instanceId, {
      type: 'executionReport',
      report: {
        clientOrderId, venueOrderId: '', account, symbol: '', side: 'BUY', orderType: 'LIMIT', price: 0,
        quantity: 0, execType: 'CANCEL_REJECTED', status: undefined, execId: '', lastQty: 0, lastPrice: 0, cumQty: 0, leavesQty: 0,
        avgPrice: 0, lastFees: 0, cumFees: 0, text, eventTimeUs: this.#o.clock.nowMicros(),
      },
    });
  }

  /** Journals and sends a cancel, or queues it while the rate limit says wait. */
  #requestCancel(o: OmsOrder, actor: string, reason: string): void {
    if (o.cancelQueued) return;
    const now = this.#o.clock.nowMicros();
    const pacing = this.#o.risk.checkCancel(o.order.account, now);
    if (!pacing.ok) {
      o.cancelQueued = true;
      o.pendingCancelActor = actor;
      this.#cancelQueue.push(o);
      return;
    }
    const cancelId = `${o.venueId}-C${o.cancelSeq + 1}`;
    const entries = this.#journal([{
      kind: 'CANCEL_REQUEST', account: o.order.account, strategy: o.strategyId, symbol: o.order.symbol, clientOrderId: o.order.clientOrderId,
      actor, data: { venueClOrdId: o.venueId, cancelId, reason },
    }]);
    if (entries === undefined) return;
    let ok = false;
    for (const entry of entries) ok = this.#apply(entry).kind === 'order' || ok;
    if (!ok) return;
    this.counters.cancels++;
    this.#observer?.cancelSent?.(o.order.account);
    this.#publishReport(o, 'PENDING_CANCEL', { ts: now });
    this.#o.broker.cancel({
      clientOrderId: o.venueId, cancelId, account: o.order.account, symbol: o.order.symbol, side: o.order.side,
      quantity: o.order.quantity, createdAt: now,
    }).catch((error: unknown) => this.#log.warn('broker refused a cancel; the next reconcile resends it', { clOrdId: o.venueId, error }));
  }

  #cancelAllWorking(account: string | undefined, actor: string): void {
    for (const o of [...this.#working]) {
      if (account !== undefined && o.order.account !== account) continue;
      if (canCancel(o.order.status)) this.#requestCancel(o, actor, 'kill switch: HALTED');
    }
  }

  // -------------------------------------------------------------------------------------------
  // Venue events

  #onBrokerEvent(event: BrokerEvent): void {
    const o = this.#byVenue.get(event.clientOrderId);
    if (o === undefined) {
      this.counters.unknownEvents++;
      this.#log.warn('venue event for an unknown order', { event });
      return;
    }
    switch (event.type) {
      case 'accepted':
        this.#venueEvent(o, { kind: 'VENUE_ACK', data: { venueOrderId: event.venueOrderId, ts: event.ts } });
        return;
      case 'rejected':
        this.#venueEvent(o, { kind: 'VENUE_REJECT', data: { reason: event.reason, ts: event.ts } });
        return;
      case 'filled': {
        if (o.order.hasFill(event.fillId)) {
          this.counters.duplicateFills++;
          return;
        }
        const fee = this.#previewFee(o, event.qty, event.price);
        this.#venueEvent(o, {
          kind: 'FILL',
          data: { fillId: event.fillId, venueOrderId: event.venueOrderId, qty: event.qty, price: event.price, fee, ts: event.ts },
        });
        return;
      }
      case 'cancelled':
        this.#venueEvent(o, { kind: 'CANCELLED', data: { reason: event.reason, ts: event.ts } });
        return;
      case 'cancelRejected':
        this.#venueEvent(o, { kind: 'CANCEL_REJECTED', data: { reason: event.reason, ts: event.ts } });
        return;
      case 'expired':
        this.#venueEvent(o, { kind: 'EXPIRED', data: { ts: event.ts } });
        return;
    }
  }

  #previewFee(o: OmsOrder, qty: number, price: number): number {
    try {
      return this.ledger.previewFillFee(o.venueId, qty, price);
    } catch {
      return 0;
    }
  }

  /** Journals one venue event of an order, applies it, publishes the report. */
  #venueEvent(o: OmsOrder, record: { kind: AuditRecord['kind']; data: Record<string, unknown>; actor?: string }): void {
    const entries = this.#journal([{
      kind: record.kind, account: o.order.account, strategy: o.strategyId, symbol: o.order.symbol, clientOrderId: o.order.clientOrderId,
      actor: record.actor ?? 'venue', data: { venueClOrdId: o.venueId, ...record.data },
    }]);
    if (entries === undefined) return;
    for (const entry of entries) {
      const applied = this.#apply(entry);
      if (applied.kind !== 'order') continue;
      const fill = applied.fill;
      this.#publishReport(applied.o, applied.execType, {
        ts: applied.ts, ...(applied.text !== undefined ? { text: applied.text } : {}),
        ...(fill ? { execId: fill.fillId, lastQty: fill.qty, lastPrice: fill.price, lastFees: fill.fee } : {}),
      });
      if (fill) {
        this.counters.fills++;
        this.#observer?.fill?.(o.order.account);
        if (applied.o.order.status === 'FILLED') this.#observer?.orderFilled?.(o.order.account);
        this.#evaluate(o.order.account);
      }
    }
  }

  #onBrokerState(state: BrokerConnectionState): void {
    if (this.#mode === 'closed') return;
    if (state === 'connected') {
      if (this.#reconciledThisLogon && this.#reconciling === undefined) this.#becomeReady();
      else void this.#reconcile();
    } else {
      this.#reconciledThisLogon = false;
      if (this.#mode === 'ready' || this.#mode === 'reconciling') this.#setMode('broker-down');
    }
  }

  #becomeReady(): void {
    if (this.#mode === 'closed') return;
    this.#setMode('ready');
    for (const o of this.#cancelResends.splice(0)) if (o.order.status === 'PENDING_CANCEL') this.#resendCancel(o);
    this.#flushQueue();
  }

  // -------------------------------------------------------------------------------------------
  // Reconcile

  #reconcile(): Promise<boolean> {
    if (this.#reconciling) return this.#reconciling;
    this.#setMode(this.#mode === 'recovering' ? 'recovering' : 'reconciling');
    const run = (async (): Promise<boolean> => {
      await Promise.resolve(); // `#reconciling` is assigned before the body runs
      try {
        const open = [...this.#working];
        const statuses = open.length === 0 ? [] : await this.#o.broker.reconcile(open.map((o) => this.#brokerOrder(o)));
        const byId = new Map(statuses.map((s) => [s.clientOrderId, s]));
        let changed = 0;
        for (const o of open) {
          const status = byId.get(o.venueId);
          if (status !== undefined && this.#reconcileOne(o, status)) changed++;
        }
        this.counters.reconciles++;
        this.#journal([{ kind: 'RECONCILE', actor: 'system', data: { orders: open.length, answered: statuses.length, changed } }]);
        this.#log.info('reconciled with the venue', { orders: open.length, changed });
        this.#reconciling = undefined;
        // Through the beforeReady hook the adapter is not connected yet: ready comes with its 'connected'.
        if (this.#o.broker.state === 'connected') this.#becomeReady();
        return true;
      } catch (error) {
        this.#log.error('reconcile failed; retried on the next logon', { error });
        this.#reconciling = undefined;
        if (this.#mode !== 'closed' && this.#mode !== 'recovering') this.#setMode('broker-down');
        return false;
      }
    })();
    this.#reconciling = run;
    return run;
  }

  /** Brings one order in line with the venue's view. Returns whether anything changed. */
  #reconcileOne(o: OmsOrder, v: VenueOrderStatus): boolean {
    const before = `${o.order.status}/${o.order.filledQty}`;
    const record = (kind: AuditRecord['kind'], data: Record<string, unknown>) => this.#venueEvent(o, { kind, data: { ...data, reconcile: true }, actor: 'system:reconcile' });
    if (v.status === 'UNKNOWN') {
      if (o.order.venueOrderId === undefined && (o.order.status === 'SENT' || o.order.status === 'PENDING_CANCEL')) {
        record('VENUE_REJECT', { reason: 'NOT_AT_VENUE: the venue never received the order; it is not sent again' });
      } else {
        record('CANCELLED', { reason: `UNKNOWN_AT_VENUE: ${v.text}` });
      }
      return true;
    }
    if (v.venueOrderId !== undefined && o.order.venueOrderId === undefined && !isTerminal(o.order.status)) {
      record('VENUE_ACK', { venueOrderId: v.venueOrderId });
    }
    if (v.cumQty > o.order.filledQty) {
      const qty = v.cumQty - o.order.filledQty;
      const price = Math.max(1, Math.round((v.avgPrice * v.cumQty - o.order.notional) / qty));
      record('FILL', {
        fillId: `reconcile:${v.venueOrderId ?? o.venueId}:${v.cumQty}`, venueOrderId: v.venueOrderId ?? '', qty, price,
        fee: this.#previewFee(o, qty, price), synthetic: true,
      });
    }
    if (!isTerminal(o.order.status)) {
      if (v.status === 'CANCELLED') record('CANCELLED', { reason: v.text || 'cancelled at the venue' });
      else if (v.status === 'EXPIRED') record('EXPIRED', {});
      else if (v.status === 'REJECTED') record('VENUE_REJECT', { reason: v.text || 'rejected by the venue' });
      else if (o.order.status === 'PENDING_CANCEL') {
        // Our cancel may never have reached the venue: ask again once connected (a second cancel is harmless).
        this.#cancelResends.push(o);
      }
    }
    return before !== `${o.order.status}/${o.order.filledQty}`;
  }

  #resendCancel(o: OmsOrder): void {
    const now = this.#o.clock.nowMicros();
    const cancelId = `${o.venueId}-C${o.cancelSeq + 1}`;
    const entries = this.#journal([{
      kind: 'CANCEL_SENT', account: o.order.account, strategy: o.strategyId, symbol: o.order.symbol, clientOrderId: o.order.clientOrderId,
      actor: 'system:reconcile', data: { venueClOrdId: o.venueId, cancelId, resend: true },
    }]);
    if (entries === undefined) return;
    for (const entry of entries) this.#apply(entry);
    this.#o.broker.cancel({
      clientOrderId: o.venueId, cancelId, account: o.order.account, symbol: o.order.symbol, side: o.order.side, quantity: o.order.quantity, createdAt: now,
    }).catch((error: unknown) => this.#log.warn('cancel resend failed', { error }));
  }

  #flushQueue(): void {
    while (this.#queue.length > 0 && this.#mode === 'ready') {
      const q = this.#queue.shift()!;
      if (q.kind === 'submit') this.#submitNow(q.identity, q.command);
      else this.#cancelNow(q.identity, q.command);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Trading states, risk evaluation, timers

  #tick(): void {
    if (this.#mode === 'closed') return;
    // Paced cancels.
    while (this.#cancelQueue.length > 0) {
      const o = this.#cancelQueue[0]!;
      if (!canCancel(o.order.status)) {
        o.cancelQueued = false;
        this.#cancelQueue.shift();
        continue;
      }
      if (!this.#o.risk.checkCancel(o.order.account, this.#o.clock.nowMicros()).ok) break;
      this.#cancelQueue.shift();
      o.cancelQueued = false;
      this.#requestCancel(o, o.pendingCancelActor, 'paced cancel');
    }
    const now = Date.now();
    if (now - this.#lastEvaluate >= (this.#o.evaluateEveryMs ?? 1_000)) {
      this.#lastEvaluate = now;
      for (const account of this.ledger.accounts()) this.#evaluate(account);
      this.#drainAlerts();
    }
  }

  #lastEvaluate = 0;

  #evaluate(account: string): void {
    if (this.#replaying) return;
    const triggers = this.#o.risk.evaluate(this.accountView(account), this.#o.clock.nowMicros());
    for (const t of triggers) {
      const current = this.#accountState(t.account).state;
      if (SEVERITY[t.state] <= SEVERITY[current]) continue; // automatic changes only tighten
      try {
        this.setTradingState('ACCOUNT', t.account, t.state, `risk:${t.rule}`, t.reason);
      } catch (error) {
        this.#log.error('automatic trading-state change failed', { error, trigger: t });
      }
    }
  }

  #drainAlerts(): void {
    const alerts = this.#o.risk.drainAlerts();
    if (alerts.length === 0) return;
    this.#journal(alerts.map((a) => ({ kind: 'ALERT' as const, account: a.account, actor: 'risk:compliance', data: { code: a.code, detail: a.detail, at: a.at } })));
    for (const a of alerts) {
      this.#log.warn(`compliance alert ${a.code}`, { account: a.account, detail: a.detail });
      this.#observer?.complianceAlert?.(a.account, a.code);
    }
  }

  #accountState(account: string): TradingStateRecord {
    return this.#accountStates.get(account) ?? { scope: 'ACCOUNT', account, state: 'ACTIVE', actor: 'system', reason: 'default', changedAt: DEFAULT_STATE_TIME };
  }

  #announceState(record: TradingStateRecord, previous: TradingState): void {
    this.#observer?.tradingStateChanged?.(record);
    this.#log.warn(`trading state ${record.scope === 'GLOBAL' ? 'GLOBAL' : record.account}: ${previous} → ${record.state}`, { actor: record.actor, reason: record.reason });
    for (const instance of this.#instances.values()) {
      if (record.scope === 'ACCOUNT' && !instance.accounts.has(record.account)) continue;
      this.#publish(instance.strategyId, instance.instanceId, { type: 'tradingStateChanged', current: record, previous });
    }
  }

  #remember(strategyId: string, instanceId: string, accounts: Iterable<string>): void {
    const key = instanceKey(strategyId, instanceId);
    let entry = this.#instances.get(key);
    if (entry === undefined) this.#instances.set(key, (entry = { strategyId, instanceId, accounts: new Set() }));
    for (const a of accounts) entry.accounts.add(a);
  }

  #setMode(mode: OmsMode): void {
    if (this.#mode === mode) return;
    const wasReady = this.#mode === 'ready';
    this.#mode = mode;
    if (wasReady !== (mode === 'ready')) this.#observer?.readinessChanged?.(mode === 'ready');
  }

  // -------------------------------------------------------------------------------------------
  // The journal and applying its entries (live and replay)

  /** Appends; undefined (logged) when the journal refuses — the action then does not happen. */
  #journal(records: AuditRecord[]): AuditEntry[] | undefined {
    try {
      return this.#o.journal.append(records);
    } catch (error) {
      this.#log.error('journal append failed; the action is not taken', { error, kinds: records.map((r) => r.kind) });
      return undefined;
    }
  }

  #apply(entry: AuditEntry): Applied {
    this.#rollLedger(entry.ts);
    try {
      const applied = this.#applyUnsafe(entry);
      if (applied.kind === 'order') {
        if (isTerminal(applied.o.order.status)) this.#working.delete(applied.o);
        else this.#working.add(applied.o);
      }
      return applied;
    } catch (error) {
      this.counters.applyErrors++;
      this.#log.error('journal entry could not be applied (state left unchanged)', { seq: entry.seq, kind: entry.kind, error });
      return { kind: 'none' };
    }
  }

  #applyUnsafe(entry: AuditEntry): Applied {
    const d = entry.data as Record<string, unknown>;
    switch (entry.kind) {
      case 'ORDER_REQUEST': {
        const account = entry.account ?? '';
        const clientOrderId = entry.clientOrderId ?? '';
        const order = new Order({
          clientOrderId, account, strategy: entry.strategy ?? '', symbol: entry.symbol ?? '', side: d.side as Side,
          orderType: d.orderType as OrderType, price: d.price as number, quantity: d.quantity as number, createdAt: d.receivedAt as number,
        });
        const venueId = String(d.venueClOrdId ?? '');
        const o: OmsOrder = {
          order, venueId, strategyId: entry.strategy ?? '', instanceId: String(d.instanceId ?? ''), tag: String(d.tag ?? ''),
          freezePrice: Number(d.freezePrice ?? order.price), receivedAt: d.receivedAt as number, sentAt: 0, cumFees: 0, cancelSeq: 0,
          cancelQueued: false, pendingCancelActor: '',
        };
        this.#byClient.set(clientKey(account, clientOrderId), o);
        if (venueId !== '') {
          this.#byVenue.set(venueId, o);
          const dash = venueId.indexOf('-');
          const date = Number(venueId.slice(0, dash));
          const n = Number(venueId.slice(dash + 1));
          if (date > this.#venueSeqDate) {
            this.#venueSeqDate = date;
            this.#venueSeq = 0;
          }
          if (date === this.#venueSeqDate && n > this.#venueSeq) this.#venueSeq = n;
        }
        this.#orders.push(o);
        this.#remember(o.strategyId, o.instanceId, [account]);
        return { kind: 'none' };
      }
      case 'RISK_DECISION': {
        if (d.invalid === true || d.ok === true) return { kind: 'none' };
        const o = this.#byClient.get(clientKey(entry.account ?? '', entry.clientOrderId ?? ''));
        if (o === undefined || o.order.status !== 'PENDING_NEW') return { kind: 'none' };
        o.order.apply({ type: 'OrderDenied', ts: entry.ts, reason: String(d.reason) });
        return { kind: 'denied', o, reason: String(d.reason), detail: String(d.detail ?? ''), ts: entry.ts };
      }
      case 'ORDER_SENT': {
        const o = this.#order(d);
        o.order.apply({ type: 'OrderSent', ts: entry.ts });
        o.sentAt = entry.ts;
        const f = this.ledger.freeze(o.venueId, o.order.account, o.order.side, o.order.symbol, o.freezePrice, o.order.quantity);
        if (!f.ok) this.#log.warn('ledger freeze refused while applying a sent order', { clOrdId: o.venueId, reason: f.reason, detail: f.detail });
        this.#o.risk.onNewAccepted(this.#riskOrder(o));
        return { kind: 'order', o, execType: 'SENT', ts: entry.ts };
      }
      case 'VENUE_ACK':
        return this.#orderEvent(entry, { type: 'OrderAccepted', ts: entry.ts, venueOrderId: String(d.venueOrderId) }, 'ACCEPTED');
      case 'VENUE_REJECT':
        return this.#orderEvent(entry, { type: 'OrderRejected', ts: entry.ts, reason: String(d.reason) }, 'REJECTED', String(d.reason));
      case 'FILL': {
        const o = this.#order(d);
        const qty = d.qty as number;
        const price = d.price as number;
        const fillId = String(d.fillId);
        if (o.order.apply({ type: 'OrderFilled', ts: entry.ts, fillId, qty, price }) === 'DUPLICATE') return { kind: 'none' };
        let fee = Number(d.fee ?? 0);
        try {
          fee = this.ledger.fill(o.venueId, qty, price, fee).fee;
        } catch (error) {
          this.#log.error('ledger could not book a fill', { clOrdId: o.venueId, error });
        }
        o.cumFees += fee;
        this.#positionUpdatedAt.set(clientKey(o.order.account, o.order.symbol), entry.ts);
        if (isTerminal(o.order.status)) this.ledger.release(o.venueId);
        return { kind: 'order', o, execType: 'TRADE', fill: { fillId, qty, price, fee }, ts: entry.ts };
      }
      case 'CANCEL_REQUEST': {
        const o = this.#order(d);
        o.order.apply({ type: 'OrderCancelRequested', ts: entry.ts });
        o.cancelSeq++;
        this.#o.risk.onCancelSent(o.order.account, o.order.clientOrderId, o.sentAt, entry.ts);
        return { kind: 'order', o, execType: 'PENDING_CANCEL', ts: entry.ts };
      }
      case 'CANCEL_SENT': {
        const o = this.#order(d);
        o.cancelSeq++;
        return { kind: 'none' };
      }
      case 'CANCELLED':
        return this.#orderEvent(entry, { type: 'OrderCancelled', ts: entry.ts, reason: String(d.reason ?? '') }, 'CANCELLED', String(d.reason ?? ''));
      case 'CANCEL_REJECTED':
        return this.#orderEvent(entry, { type: 'OrderCancelRejected', ts: entry.ts, reason: String(d.reason ?? '') }, 'CANCEL_REJECTED', String(d.reason ?? ''));
      case 'EXPIRED':
        return this.#orderEvent(entry, { type: 'OrderExpired', ts: entry.ts }, 'EXPIRED');
      case 'TRADING_STATE': {
        const scope = d.scope === 'GLOBAL' ? 'GLOBAL' : 'ACCOUNT';
        const record: TradingStateRecord = {
          scope, account: scope === 'GLOBAL' ? '' : String(d.account), state: d.state as TradingState, actor: entry.actor ?? '',
          reason: String(d.reason ?? ''), changedAt: entry.ts,
        };
        const previous = scope === 'GLOBAL' ? this.#global.state : this.#accountState(record.account).state;
        if (scope === 'GLOBAL') this.#global = record;
        else this.#accountStates.set(record.account, record);
        return { kind: 'state', record, previous };
      }
      case 'LIMIT_CHANGE':
        if (this.#replaying) this.#o.risk.setLimit(String(d.account ?? ''), String(d.name), Number(d.value));
        return { kind: 'none' };
      default:
        return { kind: 'none' };
    }
  }

  /** Rolls the ledger into the China day of `at` when that day is later (T+1 settles then). */
  #rollLedger(at: Micros): void {
    if (at < this.#ledgerDayEnd) return;
    this.ledger.roll(chinaDate(at), this.#o.references.marks);
    this.#ledgerDayEnd = at - chinaTimeOfDay(at) + MICROS_PER_DAY;
  }

  #order(d: Record<string, unknown>): OmsOrder {
    const o = this.#byVenue.get(String(d.venueClOrdId));
    if (o === undefined) throw new RangeError(`no order with ClOrdID ${String(d.venueClOrdId)}`);
    return o;
  }

  #orderEvent(entry: AuditEntry, event: OrderEvent, execType: ExecutionReportData['execType'], text?: string): Applied {
    const o = this.#order(entry.data as Record<string, unknown>);
    o.order.apply(event);
    if (isTerminal(o.order.status)) this.ledger.release(o.venueId);
    return { kind: 'order', o, execType, ...(text !== undefined ? { text } : {}), ts: entry.ts };
  }

  #riskOrder(o: OmsOrder): RiskOrder {
    const order = o.order;
    return {
      clientOrderId: order.clientOrderId, account: order.account, strategy: o.strategyId, symbol: order.symbol, side: order.side,
      orderType: order.orderType, price: order.price, quantity: order.quantity, receivedAt: o.receivedAt,
    };
  }

  #restingOrders(account: string): RestingOrder[] {
    const out: RestingOrder[] = [];
    // The Order itself is the RestingOrder view (no copy per working order per check: with
    // hundreds working, copying was most of a risk check's time).
    for (const o of this.#working) if (o.order.account === account && !isTerminal(o.order.status)) out.push(o.order);
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Reports

  #publish(strategyId: string, instanceId: string, event: SessionEvent): void {
    if (this.#publisher === undefined) return;
    try {
      this.#publisher.publish(strategyId, instanceId, event);
    } catch (error) {
      this.#log.error('publishing to a strategy session failed', { strategyId, instanceId, error });
    }
  }

  #publishReport(o: OmsOrder, execType: ExecutionReportData['execType'], extra: ReportExtra): void {
    this.#publish(o.strategyId, o.instanceId, { type: 'executionReport', report: this.#report(o, execType, extra) });
  }

  #report(o: OmsOrder, execType: ExecutionReportData['execType'], extra: ReportExtra): ExecutionReportData {
    const order = o.order;
    return {
      clientOrderId: order.clientOrderId, venueOrderId: order.venueOrderId ?? '', account: order.account, symbol: order.symbol,
      side: order.side, orderType: order.orderType, price: order.price, quantity: order.quantity, execType, status: order.status,
      execId: extra.execId ?? '', lastQty: extra.lastQty ?? 0, lastPrice: extra.lastPrice ?? 0, cumQty: order.filledQty,
      leavesQty: order.leavesQty, avgPrice: order.avgPrice ?? 0, lastFees: extra.lastFees ?? 0, cumFees: o.cumFees,
      text: extra.text ?? '', eventTimeUs: extra.ts,
    };
  }

  #adminOrder(o: OmsOrder): AdminOrder {
    const order = o.order;
    return {
      clientOrderId: order.clientOrderId, venueOrderId: order.venueOrderId ?? '', account: order.account, strategyId: o.strategyId,
      instanceId: o.instanceId, symbol: order.symbol, side: order.side, orderType: order.orderType, price: order.price,
      quantity: order.quantity, cumQty: order.filledQty, leavesQty: order.leavesQty, status: order.status as OrderStatus,
      avgPrice: order.avgPrice ?? 0, cumFees: o.cumFees, tag: o.tag, text: order.reason ?? order.cancelRejectReason ?? '',
      createdAt: order.createdAt, updatedAt: order.updatedAt,
    };
  }
}

interface ReportExtra {
  ts: Micros;
  text?: string;
  execId?: string;
  lastQty?: number;
  lastPrice?: number;
  lastFees?: number;
}

function referenceRecord(market: MarketReference | undefined): Record<string, unknown> | null {
  if (market === undefined) return null;
  return {
    symbol: market.instrument.symbol, phase: market.phase, prevClose: market.prevClose, upperLimit: market.upperLimit ?? null,
    lowerLimit: market.lowerLimit ?? null, last: market.last ?? null, bid: market.bid ?? null, ask: market.ask ?? null,
    updatedAt: market.updatedAt, halted: market.halted,
  };
}
