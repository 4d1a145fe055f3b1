/** Shared builders for the risk tests: an in-memory account view, market references, orders. */
import { chinaInstant } from '../../../../src/core/clock.ts';
import { makeInstrument, type Instrument } from '../../../../src/core/instruments.ts';
import { limitBandFromClose } from '../../../../src/core/price-rules.ts';
import type { Phase } from '../../../../src/core/sessions.ts';
import {
  DEFAULT_RISK_LIMITS,
  DEFAULT_RISK_SETTINGS,
  RiskEngine,
  type AccountView,
  type ComplianceProfile,
  type MarketReference,
  type RestingOrder,
  type RiskContext,
  type RiskDecision,
  type RiskLimits,
  type RiskOrder,
  type RiskSettings,
  type TradingState,
} from '../../../../src/core/risk/index.ts';

export const DATE = 20261124;
/** 10:15 China time, continuous trading. */
export const T0 = chinaInstant(DATE, 10, 15);
export const MS = 1000;
export const SECOND = 1_000_000;

export const PROFILE: ComplianceProfile = Object.freeze({
  strategyType: 'trend',
  maxOrdersPerSecond: 250,
  maxDailyOrders: 19_000,
  softwareName: 'triquant',
  softwareVersion: '0.1.0',
  responsiblePerson: 'Zhang San',
});

export function settings(limits: Partial<RiskLimits> = {}, more: Partial<RiskSettings> = {}): RiskSettings {
  return { ...DEFAULT_RISK_SETTINGS, limits: { ...DEFAULT_RISK_LIMITS, ...limits }, profiles: { A1: PROFILE }, ...more };
}

export function engine(limits: Partial<RiskLimits> = {}, more: Partial<RiskSettings> = {}): RiskEngine {
  return new RiskEngine(settings(limits, more));
}

export const INSTRUMENTS: Readonly<Record<string, Instrument>> = {
  '600000.SH': makeInstrument({ symbol: '600000.SH', name: 'SPDB', listingDate: 19991110, previousClose: 100_000 }),
  '000001.SZ': makeInstrument({ symbol: '000001.SZ', name: 'PAB', listingDate: 19910403, previousClose: 100_000 }),
  '300750.SZ': makeInstrument({ symbol: '300750.SZ', name: 'CATL', listingDate: 20180611, previousClose: 100_000 }),
  '688981.SH': makeInstrument({ symbol: '688981.SH', name: 'SMIC', listingDate: 20200716, previousClose: 100_000 }),
  '830799.BJ': makeInstrument({ symbol: '830799.BJ', name: 'BSE co', listingDate: 20211115, previousClose: 100_000 }),
};

const LIMIT_PPM: Readonly<Record<string, number>> = { SSE_MAIN: 100_000, SZSE_MAIN: 100_000, CHINEXT: 200_000, STAR: 200_000, BSE: 300_000 };

export function market(symbol = '600000.SH', over: Partial<MarketReference> = {}): MarketReference {
  const instrument = INSTRUMENTS[symbol];
  if (instrument === undefined) throw new Error(`no fixture instrument ${symbol}`);
  const band = limitBandFromClose(instrument.previousClose, LIMIT_PPM[instrument.board] ?? 100_000);
  return {
    instrument,
    phase: 'CONTINUOUS' as Phase,
    prevClose: instrument.previousClose,
    upperLimit: band.upper,
    lowerLimit: band.lower,
    last: 100_000,
    bid: 99_900,
    ask: 100_000,
    updatedAt: T0 - 500 * MS,
    halted: false,
    ...over,
  };
}

export class FakeAccount implements AccountView {
  readonly account: string;
  cash = 100_000_000_000; // 10 million CNY
  sellable = new Map<string, number>();
  positions = new Map<string, number>();
  open: RestingOrder[] = [];
  pnl = 0;
  gross = 0;

  constructor(account = 'A1') {
    this.account = account;
  }
  availableCash(): number {
    return this.cash;
  }
  sellableQty(symbol: string): number {
    return this.sellable.get(symbol) ?? 0;
  }
  positionQty(symbol: string): number {
    return this.positions.get(symbol) ?? 0;
  }
  openOrders(): readonly RestingOrder[] {
    return this.open;
  }
  dayPnl(): number {
    return this.pnl;
  }
  grossExposure(): number {
    return this.gross;
  }
}

let seq = 0;
export function order(over: Partial<RiskOrder> = {}): RiskOrder {
  seq += 1;
  return {
    clientOrderId: `c${seq}`,
    account: 'A1',
    strategy: 's1',
    symbol: '600000.SH',
    side: 'BUY',
    orderType: 'LIMIT',
    price: 100_000,
    quantity: 100,
    receivedAt: T0,
    ...over,
  };
}

export function ctx(
  account: AccountView,
  ref: MarketReference | null = market(),
  now = T0,
  tradingState: TradingState = 'ACTIVE',
): RiskContext {
  // null, not undefined, asks for "no reference" (undefined would take the default).
  return { account, market: ref ?? undefined, tradingState, tradingDate: DATE, now };
}

/** The reason code of a decision, 'OK' for an approval. */
export function reasonOf(decision: RiskDecision): string {
  return decision.ok ? 'OK' : decision.reason;
}
