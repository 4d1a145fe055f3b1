/** In-memory fakes of the OMS's ports for unit tests. */
import type { Clock } from '../../../src/core/clock.ts';
import type { ComplianceAlert, RiskContext, RiskDecision, RiskOrder, TradingStateTrigger, AccountView } from '../../../src/core/risk/types.ts';
import type {
  AdminLimit, AuditEntry, AuditQuery, AuditRecord, BrokerAdapter, BrokerCancel, BrokerConnectionState, BrokerEvent, BrokerOrder,
  ChainVerification, Journal, SessionEvent, SessionPublisher, VenueOrderStatus,
} from '../../../src/execution/ports.ts';
import type { CancelPacing, RiskPort } from '../../../src/execution/oms.ts';

export class MemoryJournal implements Journal {
  readonly entries: AuditEntry[] = [];
  failNext = false;
  private readonly clock: Clock;

  constructor(clock: Clock) {
    this.clock = clock;
  }

  append(records: readonly AuditRecord[]): AuditEntry[] {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('disk full');
    }
    const out: AuditEntry[] = [];
    for (const record of records) {
      const seq = this.entries.length + 1;
      const prevHash = this.entries.at(-1)?.hash ?? '0'.repeat(64);
      const entry: AuditEntry = structuredClone({ ...record, seq, ts: this.clock.nowMicros(), prevHash, hash: `h${seq}` });
      this.entries.push(entry);
      out.push(entry);
    }
    return out;
  }

  *replay(afterSeq = 0): Iterable<AuditEntry> {
    for (const e of this.entries) if (e.seq > afterSeq) yield e;
  }

  query(query: AuditQuery): AuditEntry[] {
    return this.entries.filter((e) => (query.kinds === undefined || query.kinds.includes(e.kind)) && (query.clientOrderId === undefined || e.clientOrderId === query.clientOrderId));
  }

  verify(): ChainVerification {
    return { ok: true, entries: this.entries.length, lastHash: this.entries.at(-1)?.hash ?? '' };
  }

  get lastSeq(): number {
    return this.entries.length;
  }

  kinds(): string[] {
    return this.entries.map((e) => e.kind);
  }

  close(): void {}
}

export class FakeBroker implements BrokerAdapter {
  readonly name = 'fake';
  state: BrokerConnectionState = 'connected';
  readonly submitted: BrokerOrder[] = [];
  readonly cancels: BrokerCancel[] = [];
  readonly reconciled: BrokerOrder[][] = [];
  /** Called inside submit (e.g. to inspect the journal at that moment). */
  onSubmit: ((order: BrokerOrder) => void) | undefined;
  venueStatus: (order: BrokerOrder) => VenueOrderStatus = (o) => unknownStatus(o.clientOrderId);
  failSubmit = false;
  private eventListeners: Array<(e: BrokerEvent) => void> = [];
  private stateListeners: Array<(s: BrokerConnectionState) => void> = [];

  start(): Promise<void> {
    this.setState('connected');
    return Promise.resolve();
  }

  submit(order: BrokerOrder): Promise<void> {
    if (this.failSubmit || this.state !== 'connected') return Promise.reject(new Error('not connected'));
    this.onSubmit?.(order);
    this.submitted.push(order);
    return Promise.resolve();
  }

  cancel(request: BrokerCancel): Promise<void> {
    this.cancels.push(request);
    return Promise.resolve();
  }

  reconcile(orders: readonly BrokerOrder[]): Promise<VenueOrderStatus[]> {
    this.reconciled.push([...orders]);
    return Promise.resolve(orders.map((o) => this.venueStatus(o)));
  }

  onEvent(listener: (event: BrokerEvent) => void): void {
    this.eventListeners.push(listener);
  }

  onStateChange(listener: (state: BrokerConnectionState) => void): void {
    this.stateListeners.push(listener);
  }

  emit(event: BrokerEvent): void {
    for (const l of this.eventListeners) l(event);
  }

  setState(state: BrokerConnectionState): void {
    this.state = state;
    for (const l of this.stateListeners) l(state);
  }

  close(): Promise<void> {
    this.state = 'closed';
    return Promise.resolve();
  }
}

export function unknownStatus(clientOrderId: string): VenueOrderStatus {
  return { clientOrderId, status: 'UNKNOWN', venueOrderId: undefined, cumQty: 0, leavesQty: 0, avgPrice: 0, text: 'UNKNOWN_ORDER' };
}

export class FakeRisk implements RiskPort {
  deny: ((order: RiskOrder, ctx: RiskContext) => RiskDecision | undefined) | undefined;
  readonly checked: Array<{ order: RiskOrder; ctx: RiskContext }> = [];
  readonly accepted: RiskOrder[] = [];
  readonly cancelsSent: string[] = [];
  cancelPacing: CancelPacing = { ok: true };
  triggers: TradingStateTrigger[] = [];
  alerts: ComplianceAlert[] = [];
  readonly limitValues = new Map<string, number>([['max_order_qty', 200_000], ['max_orders_per_second', 200]]);
  readonly accountLimits = new Map<string, number>();

  checkNew(order: RiskOrder, ctx: RiskContext): RiskDecision {
    this.checked.push({ order, ctx });
    return this.deny?.(order, ctx) ?? { ok: true, warnings: [] };
  }

  onNewAccepted(order: RiskOrder): void {
    this.accepted.push(order);
  }

  checkCancel(): CancelPacing {
    return this.cancelPacing;
  }

  onCancelSent(_account: string, clientOrderId: string): void {
    this.cancelsSent.push(clientOrderId);
  }

  evaluate(account: AccountView): readonly TradingStateTrigger[] {
    const out = this.triggers.filter((t) => t.account === account.account);
    this.triggers = this.triggers.filter((t) => t.account !== account.account);
    return out;
  }

  drainAlerts(): readonly ComplianceAlert[] {
    return this.alerts.splice(0);
  }

  limits(account?: string): readonly AdminLimit[] {
    return [...this.limitValues].map(([name, value]) => {
      const own = account === undefined ? undefined : this.accountLimits.get(`${account}/${name}`);
      return own === undefined ? { account: '', name, value } : { account: account!, name, value: own };
    });
  }

  setLimit(account: string, name: string, value: number): void {
    if (!this.limitValues.has(name)) throw new Error(`unknown limit ${name}`);
    if (value < 0) throw new Error('negative');
    if (account === '') this.limitValues.set(name, value);
    else this.accountLimits.set(`${account}/${name}`, value);
  }
}

export class FakePublisher implements SessionPublisher {
  readonly events: Array<{ strategyId: string; instanceId: string; event: SessionEvent }> = [];

  publish(strategyId: string, instanceId: string, event: SessionEvent): number {
    this.events.push({ strategyId, instanceId, event });
    return this.events.length;
  }

  reports(clientOrderId?: string) {
    return this.events.flatMap((e) => (e.event.type === 'executionReport' && (clientOrderId === undefined || e.event.report.clientOrderId === clientOrderId) ? [e.event.report] : []));
  }

  denials() {
    return this.events.flatMap((e) => (e.event.type === 'orderDenied' ? [e.event] : []));
  }

  stateChanges() {
    return this.events.flatMap((e) => (e.event.type === 'tradingStateChanged' ? [e.event] : []));
  }
}
