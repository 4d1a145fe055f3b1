/**
 * The pre-trade risk engine. Pure and synchronous: no clock (times arrive with the calls),
 * no I/O. Every outcome is a decision or an alert, never a throw (only admin calls with bad
 * arguments throw typed errors).
 *
 * `checkNew` runs the rules cheapest first and returns the first denial:
 *   trading state → compliance profile → restricted list → instrument and reference price →
 *   session and order type → quantity → price (tick, limit band, cage) → order value →
 *   duplicate → open orders and self-trade → cash (buys) / sellable (sells) → position,
 *   exposure, daily loss (buys) → rate limit → daily count.
 * The approve path allocates nothing: it returns the shared `APPROVED` unless there is a
 * warning.
 */
import type { Micros } from '../clock.ts';
import type { Board, Exchange } from '../instruments.ts';
import type { OrderType } from '../order.ts';
import type { FeeSchedule } from '../fees.ts';
import type { LotSettings } from '../lot-rules.ts';
import type { PriceCageSettings } from '../price-rules.ts';
import { TriquantError, ValidationError } from '../errors.ts';
import { DEFAULT_FEE_SCHEDULE } from '../fees.ts';
import { DEFAULT_LOT_SETTINGS } from '../lot-rules.ts';
import { DEFAULT_PRICE_CAGE_SETTINGS } from '../price-rules.ts';
import { ALERT_CODES, RateSpikeMonitor, validateComplianceProfile, type ComplianceProfile } from './compliance.ts';
import { chinaDayNumber, DailyCounter } from './daily-counter.ts';
import { APPROVED, approveWith, deny, denyFrom, RISK_RULES, warning } from './decision.ts';
import {
  LIMIT_DEFINITIONS,
  limitDefinition,
  limitsConsistencyProblem,
  limitValueProblem,
  UnknownLimitError,
  type RiskLimitKey,
  type RiskLimits,
} from './limits.ts';
import {
  checkCash,
  checkDailyLoss,
  checkExposure,
  checkOpenOrderCount,
  checkPosition,
  checkSelfTrade,
  checkSellable,
  newOpenOrderScan,
  scanOpenOrders,
} from './rules/account.ts';
import { DuplicateWindow } from './rules/duplicate.ts';
import { checkCage, checkNotional, checkPrice, valuationPrice } from './rules/price.ts';
import { checkQuantity } from './rules/quantity.ts';
import { checkNoReference, checkReference, checkSession } from './rules/reference.ts';
import { DEFAULT_MARKET_ORDER_TYPES, validateRiskSettings, type RiskSettings } from './settings.ts';
import { TokenBucket } from './token-bucket.ts';
import { allowedInState } from './trading-state.ts';
import type {
  AccountView,
  ComplianceAlert,
  RiskContext,
  RiskDecision,
  RiskOrder,
  RiskWarning,
  TradingStateTrigger,
} from './types.ts';

const MICROS_PER_MS = 1000;
const NO_ALERTS: readonly ComplianceAlert[] = Object.freeze([]);

type MutableLimits = { -readonly [K in RiskLimitKey]: number };

/** One limit as listed by `RiskEngine.limits()`; account '' is the default of every account. */
export interface LimitEntry {
  readonly account: string;
  readonly name: string;
  readonly value: number;
}

export interface LimitChange {
  /** The value set at that level before (undefined: the account had no override). */
  readonly previous?: number;
  /** The value now set at that level (for a cleared override: the inherited value). */
  readonly current: number;
}

/** Counters of an account's day, for the admin API and metrics. */
export interface AccountUsage {
  readonly account: string;
  /** Orders + cancels counted today. */
  readonly dailyCount: number;
  /** Cancels stop here; the stricter of max_daily_orders and the declared count. */
  readonly dailyCap: number;
  /** New orders stop here (dailyCap − daily_cancel_reserve). */
  readonly newOrderCap: number;
  /** The one-second limit in force (stricter of max_orders_per_second and the declared rate). */
  readonly maxOrdersPerSecond: number;
  /** Whole tokens in the rate bucket now. */
  readonly tokens: number;
  readonly orders: number;
  readonly cancels: number;
  readonly fastCancels: number;
  readonly hasProfile: boolean;
}

/** Per-account state: effective limits and the dynamic counters. */
class AccountState {
  readonly account: string;
  limits: RiskLimits;
  profile: ComplianceProfile | undefined;
  // Effective values (limits tightened by the declared profile), derived in `configure`.
  maxOrdersPerSecond = 1;
  dailyCap = 1;
  newOrderCap = 1;
  warnAt = 1;
  quoteAgeMicros = 0;
  duplicateMicros = 0;
  fastCancelMicros = 0;
  readonly bucket: TokenBucket;
  readonly daily = new DailyCounter();
  readonly duplicates = new DuplicateWindow();
  spike: RateSpikeMonitor;
  // The China day the counters below belong to.
  day = Number.NaN;
  orders = 0;
  cancels = 0;
  fastCancels = 0;
  warned = false;
  cancelRatioAlerted = false;
  // Edge-triggered state triggers (see `evaluate`).
  lossTriggered = false;
  exposureTriggered = false;

  constructor(account: string, limits: RiskLimits, profile: ComplianceProfile | undefined) {
    this.account = account;
    this.limits = limits;
    this.profile = profile;
    const effective = effectiveLimits(limits, profile);
    // Created full at its real size (reconfiguring keeps the tokens held, it does not add any).
    this.bucket = new TokenBucket(effective.orderBurst, effective.maxOrdersPerSecond + 1 - effective.orderBurst);
    this.spike = new RateSpikeMonitor(limits.orderRateSpikePerSecond);
    this.configure(limits, profile);
  }

  configure(limits: RiskLimits, profile: ComplianceProfile | undefined): void {
    this.limits = limits;
    this.profile = profile;
    const effective = effectiveLimits(limits, profile);
    this.maxOrdersPerSecond = effective.maxOrdersPerSecond;
    // Capacity B and refill L + 1 − B per second: no window [t, t + 1 s) passes more than L
    // actions (token-bucket.ts), which is how the regulator and the declaration count.
    this.bucket.reconfigure(effective.orderBurst, effective.maxOrdersPerSecond + 1 - effective.orderBurst);
    this.dailyCap = effective.maxDailyOrders;
    this.newOrderCap = Math.max(1, effective.maxDailyOrders - limits.dailyCancelReserve);
    this.warnAt = Math.max(1, Math.ceil((effective.maxDailyOrders * limits.dailyCountWarningPct) / 100));
    this.quoteAgeMicros = limits.maxQuoteAgeMs * MICROS_PER_MS;
    this.duplicateMicros = limits.duplicateWindowMs * MICROS_PER_MS;
    this.fastCancelMicros = limits.fastCancelMs * MICROS_PER_MS;
    if (this.spike.threshold !== limits.orderRateSpikePerSecond) {
      this.spike = new RateSpikeMonitor(limits.orderRateSpikePerSecond);
    }
  }

  /** Starts a new day's counters when `now` is on a later China day. */
  roll(now: Micros): void {
    const day = chinaDayNumber(now);
    if (day <= this.day) return;
    this.day = day;
    this.orders = 0;
    this.cancels = 0;
    this.fastCancels = 0;
    this.warned = false;
    this.cancelRatioAlerted = false;
    this.lossTriggered = false;
    this.exposureTriggered = false;
  }
}

/**
 * The limits in force for an account: the configured ones, with the rate and the daily count
 * tightened to the declared profile, and the burst kept within the rate.
 */
export function effectiveLimits(limits: RiskLimits, profile: ComplianceProfile | undefined): RiskLimits {
  const maxOrdersPerSecond = Math.min(limits.maxOrdersPerSecond, profile?.maxOrdersPerSecond ?? Infinity);
  const maxDailyOrders = Math.min(limits.maxDailyOrders, profile?.maxDailyOrders ?? Infinity);
  return {
    ...limits,
    maxOrdersPerSecond,
    orderBurst: Math.min(limits.orderBurst, maxOrdersPerSecond),
    maxDailyOrders,
  };
}

export class RiskEngine {
  readonly #defaults: MutableLimits;
  readonly #overrides = new Map<string, Partial<MutableLimits>>();
  readonly #profiles = new Map<string, ComplianceProfile>();
  readonly #restricted = new Set<string>();
  readonly #accounts = new Map<string, AccountState>();
  readonly #lots: LotSettings;
  readonly #cages: Readonly<Record<Board, PriceCageSettings>>;
  readonly #fees: FeeSchedule;
  readonly #marketOrderTypes: Readonly<Record<Exchange, readonly OrderType[]>>;
  readonly #scan = newOpenOrderScan();
  #alerts: ComplianceAlert[] = [];

  /** Validates the settings (ConfigError naming the key under "execution.risk"). */
  constructor(settings: RiskSettings) {
    validateRiskSettings(settings);
    this.#defaults = { ...settings.limits };
    for (const [account, overrides] of Object.entries(settings.accountLimits ?? {})) {
      this.#overrides.set(account, { ...overrides });
    }
    for (const [account, profile] of Object.entries(settings.profiles)) this.#profiles.set(account, Object.freeze({ ...profile }));
    for (const symbol of settings.restrictedSymbols ?? []) this.#restricted.add(symbol);
    this.#lots = settings.lots ?? DEFAULT_LOT_SETTINGS;
    this.#cages = settings.priceCage ?? DEFAULT_PRICE_CAGE_SETTINGS;
    this.#fees = settings.fees ?? DEFAULT_FEE_SCHEDULE;
    this.#marketOrderTypes = settings.marketOrderTypes ?? DEFAULT_MARKET_ORDER_TYPES;
  }

  // -------------------------------------------------------------------------------------------
  // Orders and cancels

  /** Decides a new order; the first denial wins. Never throws for anything in the order. */
  checkNew(order: RiskOrder, ctx: RiskContext): RiskDecision {
    const account = ctx.account;
    const now = ctx.now;
    const state = ctx.tradingState;
    if (state !== 'ACTIVE') {
      const allowed = allowedInState(state, order, state === 'REDUCING' ? account.positionQty(order.symbol) : 0);
      if (!allowed.ok) return denyFrom(RISK_RULES.TRADING_STATE, allowed);
    }
    const st = this.#state(order.account);
    if (st.profile === undefined) {
      return deny(RISK_RULES.COMPLIANCE, 'NO_COMPLIANCE_PROFILE', `account ${order.account} has no declared programmatic-trading profile`);
    }
    if (this.#restricted.size > 0 && this.#restricted.has(order.symbol)) {
      return deny(RISK_RULES.RESTRICTED_LIST, 'RESTRICTED_SYMBOL', `${order.symbol} is on the restricted list`);
    }
    const market = ctx.market;
    if (market === undefined) return checkNoReference(order);
    let denial = checkReference(order, market, now - market.updatedAt, st.quoteAgeMicros);
    if (denial !== null) return denial;
    denial = checkSession(order, market, this.#marketOrderTypes);
    if (denial !== null) return denial;
    const limits = st.limits;
    const board = market.instrument.board;
    denial = checkQuantity(order, board, this.#lots, limits.maxOrderQty);
    if (denial !== null) return denial;
    denial = checkPrice(order, market);
    if (denial !== null) return denial;
    let warnings: RiskWarning[] | undefined;
    const cage = checkCage(order, market, this.#cages);
    if (cage !== null) {
      if ('ok' in cage) return cage;
      warnings = [cage];
    }
    const scan = this.#scan;
    scan.notional = valuationPrice(order, market) * order.quantity;
    denial = checkNotional(scan, limits);
    if (denial !== null) return denial;
    denial = st.duplicates.check(order, st.duplicateMicros);
    if (denial !== null) return denial;

    scanOpenOrders(order, account.openOrders(), scan);
    denial = checkOpenOrderCount(scan.count, limits.maxOpenOrders);
    if (denial !== null) return denial;
    denial = checkSelfTrade(order, scan.crossing);
    if (denial !== null) return denial;
    if (order.side === 'BUY') {
      denial = checkCash(scan, this.#fees, account);
      if (denial !== null) return denial;
      denial = checkPosition(order, account, scan, limits);
      if (denial !== null) return denial;
      denial = checkExposure(order, account, scan, limits);
      if (denial !== null) return denial;
      denial = checkDailyLoss(order, account, limits);
      if (denial !== null) return denial;
    } else {
      denial = checkSellable(order, board, account.sellableQty(order.symbol), this.#lots);
      if (denial !== null) return denial;
    }

    if (!st.bucket.canTake(now)) return this.#rateLimited(st, now);
    const count = st.daily.countAt(now);
    if (count >= st.newOrderCap) {
      return deny(
        RISK_RULES.DAILY_COUNT,
        'DAILY_COUNT_EXCEEDED',
        `${count} orders+cancels today; new orders stop at ${st.newOrderCap} (cap ${st.dailyCap} less the cancel reserve)`,
      );
    }
    if (count + 1 >= st.warnAt) (warnings ??= []).push(this.#dailyWarning(st, count + 1));
    return warnings === undefined ? APPROVED : approveWith(warnings);
  }

  /** The order was approved and sent: count it (rate, day), remember it (duplicates), monitor it. */
  onNewAccepted(order: RiskOrder): void {
    const st = this.#state(order.account);
    const now = order.receivedAt;
    st.roll(now);
    st.bucket.take(now);
    const count = st.daily.add(now);
    st.orders += 1;
    st.duplicates.remember(order, st.duplicateMicros);
    this.#afterAction(st, now, count);
  }

  /**
   * A cancel is never refused by a rule: only paced by the rate limit (RATE_LIMITED) and,
   * past the daily cap, DAILY_COUNT_EXCEEDED (new orders stop `daily_cancel_reserve` earlier,
   * so cancels keep working after the order budget is spent).
   */
  checkCancel(account: string, now: Micros): RiskDecision {
    const st = this.#state(account);
    if (!st.bucket.canTake(now)) return this.#rateLimited(st, now);
    const count = st.daily.countAt(now);
    if (count >= st.dailyCap) {
      return deny(RISK_RULES.DAILY_COUNT, 'DAILY_COUNT_EXCEEDED', `${count} orders+cancels today; daily cap ${st.dailyCap}`);
    }
    return APPROVED;
  }

  /** A cancel was sent: count it and feed the fast-cancel and cancel-ratio monitors. */
  onCancelSent(account: string, clientOrderId: string, orderSentAt: Micros, now: Micros): void {
    const st = this.#state(account);
    st.roll(now);
    st.bucket.take(now);
    const count = st.daily.add(now);
    st.cancels += 1;
    const age = now - orderSentAt;
    if (age < st.fastCancelMicros) {
      st.fastCancels += 1;
      const every = st.limits.fastCancelAlertCount;
      if (every > 0 && st.fastCancels % every === 0) {
        this.#alert(
          st.account,
          ALERT_CODES.FAST_CANCEL,
          `${st.fastCancels} cancels within ${st.limits.fastCancelMs} ms of sending today (latest ${clientOrderId} after ${Math.floor(age / MICROS_PER_MS)} ms)`,
          now,
        );
      }
    }
    this.#afterAction(st, now, count);
  }

  // -------------------------------------------------------------------------------------------
  // Account-level limits and alerts

  /**
   * Checks account-level limits and returns the trading-state changes they call for: the
   * daily loss limit → HALTED, gross exposure above its limit → REDUCING. Edge-triggered: a
   * trigger is returned when the breach begins (again after it clears, or on a new day), not
   * on every call, so the caller can apply each one it gets.
   */
  evaluate(view: AccountView, now: Micros): TradingStateTrigger[] {
    const st = this.#state(view.account);
    st.roll(now);
    const triggers: TradingStateTrigger[] = [];
    const limits = st.limits;
    if (limits.maxDailyLoss > 0) {
      const breached = view.dayPnl() <= -limits.maxDailyLoss;
      if (breached && !st.lossTriggered) {
        triggers.push(Object.freeze({ account: st.account, state: 'HALTED', rule: RISK_RULES.DAILY_LOSS, reason: 'DAILY_LOSS_LIMIT' }));
      }
      st.lossTriggered = breached;
    }
    if (limits.maxGrossExposure > 0) {
      const breached = view.grossExposure() > limits.maxGrossExposure;
      if (breached && !st.exposureTriggered) {
        triggers.push(
          Object.freeze({ account: st.account, state: 'REDUCING', rule: RISK_RULES.GROSS_EXPOSURE, reason: 'MAX_GROSS_EXPOSURE_EXCEEDED' }),
        );
      }
      st.exposureTriggered = breached;
    }
    return triggers;
  }

  /** Alerts raised since the last drain, oldest first. */
  drainAlerts(): readonly ComplianceAlert[] {
    // The OMS drains after every order: nothing to report must not allocate.
    if (this.#alerts.length === 0) return NO_ALERTS;
    const alerts = this.#alerts;
    this.#alerts = [];
    return alerts;
  }

  /** The day's counters of an account. */
  usage(account: string, now: Micros): AccountUsage {
    const st = this.#state(account);
    st.roll(now);
    return {
      account,
      dailyCount: st.daily.countAt(now),
      dailyCap: st.dailyCap,
      newOrderCap: st.newOrderCap,
      maxOrdersPerSecond: st.maxOrdersPerSecond,
      tokens: st.bucket.available(now),
      orders: st.orders,
      cancels: st.cancels,
      fastCancels: st.fastCancels,
      hasProfile: st.profile !== undefined,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Administration (each change should be journaled by the caller as LIMIT_CHANGE)

  /**
   * Without an account: every default (account '') and every per-account override. With an
   * account: the values in force for it, including the stricter declared rate and daily count.
   */
  limits(account?: string): LimitEntry[] {
    if (account === undefined) {
      const entries: LimitEntry[] = LIMIT_DEFINITIONS.map((d) => ({ account: '', name: d.name, value: this.#defaults[d.key] }));
      for (const [name, overrides] of [...this.#overrides.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        for (const d of LIMIT_DEFINITIONS) {
          const value = overrides[d.key];
          if (value !== undefined) entries.push({ account: name, name: d.name, value });
        }
      }
      return entries;
    }
    const effective = effectiveLimits(this.#merged(account), this.#profiles.get(account));
    return LIMIT_DEFINITIONS.map((d) => ({ account, name: d.name, value: effective[d.key] }));
  }

  /**
   * Sets a limit for an account ('' = the default of all accounts). Throws `UnknownLimitError`
   * for an unknown name and `ValidationError` for a bad or inconsistent value (both map to
   * INVALID_ARGUMENT). Takes effect on the next check.
   */
  setLimit(account: string, name: string, value: number): LimitChange {
    const definition = limitDefinition(name);
    if (definition === undefined) throw new UnknownLimitError(name);
    const problem = limitValueProblem(definition, value);
    if (problem !== undefined) throw new ValidationError(`risk limit ${name}: ${problem}`);
    const key = definition.key;
    if (account === '') {
      const candidate = { ...this.#defaults, [key]: value };
      this.#assertConsistent('', candidate);
      for (const [name2, overrides] of this.#overrides) this.#assertConsistent(name2, { ...candidate, ...overrides });
      for (const [name2, profile] of this.#profiles) this.#assertReserve(name2, { ...candidate, ...this.#overrides.get(name2) }, profile);
      const previous = this.#defaults[key];
      this.#defaults[key] = value;
      for (const st of this.#accounts.values()) st.configure(this.#merged(st.account), st.profile);
      return { previous, current: value };
    }
    const overrides = this.#overrides.get(account) ?? {};
    const candidate = { ...this.#defaults, ...overrides, [key]: value };
    this.#assertConsistent(account, candidate);
    this.#assertReserve(account, candidate, this.#profiles.get(account));
    const previous = overrides[key];
    overrides[key] = value;
    this.#overrides.set(account, overrides);
    this.#reconfigure(account);
    return { previous, current: value };
  }

  /** Removes an account's override of a limit; it then follows the default again. */
  clearLimit(account: string, name: string): LimitChange {
    const definition = limitDefinition(name);
    if (definition === undefined) throw new UnknownLimitError(name);
    if (account === '') throw new ValidationError('the default of a limit cannot be cleared, only set');
    const overrides = this.#overrides.get(account);
    const previous = overrides?.[definition.key];
    if (overrides !== undefined && previous !== undefined) {
      const rest = { ...overrides };
      delete rest[definition.key];
      const candidate = { ...this.#defaults, ...rest };
      this.#assertConsistent(account, candidate);
      this.#assertReserve(account, candidate, this.#profiles.get(account));
      delete overrides[definition.key];
      this.#reconfigure(account);
    }
    return { previous, current: this.#merged(account)[definition.key] };
  }

  profile(account: string): ComplianceProfile | undefined {
    return this.#profiles.get(account);
  }

  /** Declares (or, with undefined, withdraws) an account's profile. Throws ValidationError if incomplete. */
  setProfile(account: string, profile: ComplianceProfile | undefined): void {
    if (profile === undefined) {
      this.#profiles.delete(account);
    } else {
      try {
        validateComplianceProfile(profile, `profiles.${account}`);
      } catch (error) {
        throw new ValidationError(error instanceof TriquantError ? error.message : String(error), { cause: error });
      }
      this.#assertReserve(account, this.#merged(account), profile);
      this.#profiles.set(account, Object.freeze({ ...profile }));
    }
    this.#reconfigure(account);
  }

  isRestricted(symbol: string): boolean {
    return this.#restricted.has(symbol);
  }

  setRestricted(symbol: string, restricted: boolean): void {
    if (restricted) this.#restricted.add(symbol);
    else this.#restricted.delete(symbol);
  }

  restrictedSymbols(): string[] {
    return [...this.#restricted].sort();
  }

  // -------------------------------------------------------------------------------------------

  #state(account: string): AccountState {
    let st = this.#accounts.get(account);
    if (st === undefined) {
      st = new AccountState(account, this.#merged(account), this.#profiles.get(account));
      this.#accounts.set(account, st);
    }
    return st;
  }

  #merged(account: string): RiskLimits {
    const overrides = this.#overrides.get(account);
    return Object.freeze(overrides === undefined ? { ...this.#defaults } : { ...this.#defaults, ...overrides });
  }

  #reconfigure(account: string): void {
    this.#accounts.get(account)?.configure(this.#merged(account), this.#profiles.get(account));
  }

  #assertConsistent(account: string, limits: RiskLimits): void {
    const problem = limitsConsistencyProblem(limits);
    if (problem !== undefined) {
      const d = LIMIT_DEFINITIONS.find((x) => x.key === problem.key);
      throw new ValidationError(`risk limit ${d?.name ?? problem.key}${account === '' ? '' : ` of account ${account}`} ${problem.message}`);
    }
  }

  #assertReserve(account: string, limits: RiskLimits, profile: ComplianceProfile | undefined): void {
    if (profile !== undefined && profile.maxDailyOrders <= limits.dailyCancelReserve) {
      throw new ValidationError(
        `account ${account}: declared maxDailyOrders ${profile.maxDailyOrders} must exceed daily_cancel_reserve ${limits.dailyCancelReserve}`,
      );
    }
  }

  #rateLimited(st: AccountState, now: Micros): RiskDecision {
    return deny(
      RISK_RULES.RATE_LIMIT,
      'RATE_LIMITED',
      `more than ${st.maxOrdersPerSecond} orders+cancels per second; next in ${st.bucket.waitMicros(now)} µs`,
    );
  }

  #dailyWarning(st: AccountState, count: number): RiskWarning {
    return warning(
      RISK_RULES.DAILY_COUNT,
      'DAILY_COUNT_WARNING',
      `${count} orders+cancels today: ${Math.floor((count * 100) / st.dailyCap)}% of the cap ${st.dailyCap}`,
    );
  }

  #afterAction(st: AccountState, now: Micros, count: number): void {
    if (st.spike.record(now)) {
      this.#alert(st.account, ALERT_CODES.ORDER_RATE_SPIKE, `${st.spike.threshold} orders+cancels within one second`, now);
    }
    if (!st.warned && count >= st.warnAt) {
      st.warned = true;
      this.#alert(st.account, ALERT_CODES.DAILY_COUNT_WARNING, this.#dailyWarning(st, count).detail, now);
    }
    const pct = st.limits.cancelRatioAlertPct;
    if (
      pct > 0 &&
      !st.cancelRatioAlerted &&
      st.orders >= Math.max(1, st.limits.cancelRatioMinOrders) &&
      st.cancels * 100 >= pct * st.orders
    ) {
      st.cancelRatioAlerted = true;
      this.#alert(
        st.account,
        ALERT_CODES.HIGH_CANCEL_RATIO,
        `${st.cancels} cancels for ${st.orders} orders today (${Math.floor((st.cancels * 100) / st.orders)}%, alert at ${pct}%)`,
        now,
      );
    }
  }

  #alert(account: string, code: string, detail: string, at: Micros): void {
    this.#alerts.push(Object.freeze({ account, code, detail, at }));
  }
}

