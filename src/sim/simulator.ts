/**
 * The simulated exchange (`triquant sim`): the matching engine driven by the session clock
 * and the synthetic order flow, publishing market data on the TCP feed. Member orders (the
 * FIX acceptor's) enter through `submit`/`cancel`; their events go to `memberEvents`.
 *
 * One event loop, one engine: every `step` (default every 10 ms) moves phases, lets the
 * synthetic flow act for the elapsed simulated time, then publishes what changed as one batch.
 */
import type { Clock, Micros } from '../core/clock.ts';
import type { TradingCalendar } from '../core/calendar.ts';
import type { Exchange, Instrument } from '../core/instruments.ts';
import { priceLimitBand } from '../core/price-rules.ts';
import { canCancel, canSubmit, isContinuous, type Phase } from '../core/sessions.ts';
import { MatchingEngine, NO_EVENTS, type MatchingEvents, type OrderRequest, type OrderView, type Trade, type VenueOrderId } from '../matching/index.ts';
import type { BookLevel } from '../protocol/feed/frames.ts';
import type { PublishableMessage } from '../protocol/feed/codec.ts';
import { Counter, Gauge, type Registry } from '../obs/metrics.ts';
import type { Logger } from '../obs/log.ts';
import { silentLogger } from '../obs/log.ts';
import { FeedServer, type FeedServerOptions } from './feed-server.ts';
import { SimSessionClock, type SimTimeMode } from './session-clock.ts';
import { SyntheticOrderFlow, type FlowIntent, type OrderFlowSettings } from './order-flow.ts';

/** Market-data channel per exchange, as real feeds split them. */
export const FEED_CHANNEL: Readonly<Record<Exchange, number>> = Object.freeze({ SSE: 1, SZSE: 2, BSE: 3 });
/** The account that owns the synthetic background orders. */
export const SYNTHETIC_ACCOUNT = 'SIM-FLOW';

export interface SimulatorOptions {
  /** Real time source (default: live). */
  clock: Clock;
  timeMode: SimTimeMode;
  calendar: TradingCalendar;
  instruments: readonly Instrument[];
  /** Background order flow; null for a quiet market (tests). */
  flow: OrderFlowSettings | null;
  seed: number;
  /** Load mode: synthetic orders per second regardless of the flow's Poisson rate. */
  loadOrdersPerSecond?: number;
  stepIntervalMs?: number;
  feed?: FeedServerOptions;
  logger?: Logger;
  registry?: Registry;
}

export interface SimulatorStats {
  phase: Phase;
  simTime: Micros;
  syntheticOrders: number;
  memberOrders: number;
  rejects: number;
  trades: number;
  marketDataEvents: number;
}

const EMPTY_LEVEL: BookLevel = Object.freeze({ price: 0, qty: 0, orders: 0 });

export class Simulator {
  readonly sessionClock: SimSessionClock;
  readonly engine: MatchingEngine;
  readonly feed: FeedServer;
  private readonly options: SimulatorOptions;
  private readonly log: Logger;
  private readonly flow: SyntheticOrderFlow | null;
  private readonly instruments: readonly Instrument[];
  private readonly channelBySymbol = new Map<string, number>();
  private readonly phaseBySymbol = new Map<string, Phase>();
  private readonly publishedVersion = new Map<string, number>();
  /** Synthetic order id -> venue id, while the venue may still cancel it. */
  private readonly syntheticIds = new Map<string, VenueOrderId>();
  private readonly outbox: PublishableMessage[] = [];
  private memberEvents: MatchingEvents = NO_EVENTS;
  private timer: NodeJS.Timeout | undefined;
  private lastSimTime: Micros;
  private lastRealTime: Micros;
  private loadCarry = 0;
  private flowEnabled = true;
  private closed = false;
  private readonly counters = { syntheticOrders: 0, memberOrders: 0, rejects: 0, trades: 0, marketDataEvents: 0 };
  private readonly metrics: {
    orders: Counter<'source' | 'result'>;
    trades: Counter;
    marketData: Counter<'type'>;
  } | undefined;

  constructor(options: SimulatorOptions) {
    this.options = options;
    this.log = options.logger ?? silentLogger;
    this.instruments = options.instruments;
    const mode: SimTimeMode = options.loadOrdersPerSecond ? { kind: 'continuous' } : options.timeMode;
    this.sessionClock = new SimSessionClock(options.clock, mode, options.calendar);
    this.engine = new MatchingEngine({ clock: this.sessionClock, events: this.engineEvents() });
    const date = this.sessionClock.tradingDate;
    const bands = options.instruments.map((instrument) => ({ instrument, band: priceLimitBand(instrument, date, options.calendar) }));
    for (const { instrument, band } of bands) {
      const phase = this.sessionClock.phase(instrument.board);
      this.engine.addInstrument(instrument, { band, phase });
      this.phaseBySymbol.set(instrument.symbol, phase);
      this.channelBySymbol.set(instrument.symbol, FEED_CHANNEL[instrument.exchange]);
    }
    this.flow = options.flow ? new SyntheticOrderFlow(bands, options.flow, options.seed) : null;
    this.feed = new FeedServer({ clock: options.clock, logger: this.log.child('feed'), ...options.feed });
    this.lastSimTime = this.sessionClock.nowMicros();
    this.lastRealTime = options.clock.nowMicros();
    this.metrics = options.registry ? this.registerMetrics(options.registry) : undefined;
  }

  /** Stops or restarts the synthetic order flow (the market goes quiet; member orders still trade). */
  setFlowEnabled(enabled: boolean): void {
    this.flowEnabled = enabled;
  }

  /** Where events of member (non-synthetic) orders go: the FIX acceptor's bridge. */
  setMemberEvents(events: MatchingEvents): void {
    this.memberEvents = events;
  }

  async start(port = 0, host = '127.0.0.1'): Promise<{ feedPort: number }> {
    const address = await this.feed.start(port, host);
    this.publishChanges(true);
    const interval = this.options.stepIntervalMs ?? 10;
    this.timer = setInterval(() => this.step(), interval);
    this.log.info('simulator started', { clock: this.sessionClock.describe(), symbols: this.instruments.length, feed: `${host}:${address.port}` });
    return { feedPort: address.port };
  }

  /** A member order (from FIX). Returns the venue order id, or 0 when rejected (see events). */
  submit(request: OrderRequest): VenueOrderId {
    this.counters.memberOrders++;
    this.metrics?.orders.inc({ source: 'member', result: 'received' });
    const id = this.engine.submit(request);
    this.publishChanges(false);
    return id;
  }

  cancel(orderId: VenueOrderId, account: string): boolean {
    const ok = this.engine.cancel(orderId, account);
    this.publishChanges(false);
    return ok;
  }

  order(orderId: VenueOrderId): OrderView | undefined {
    return this.engine.order(orderId);
  }

  /** One turn of the loop; public so tests can drive a simulator without timers. */
  step(): void {
    if (this.closed) return;
    this.updatePhases();
    const now = this.sessionClock.nowMicros();
    const realNow = this.options.clock.nowMicros();
    if (this.flow && this.flowEnabled) {
      if (this.options.loadOrdersPerSecond) {
        // Best effort: when the loop falls behind, skip the backlog rather than make each step
        // longer than the last (which would starve the sockets and heartbeats).
        const perStep = ((this.options.stepIntervalMs ?? 10) / 1000) * this.options.loadOrdersPerSecond;
        this.loadCarry = Math.min(this.loadCarry + ((realNow - this.lastRealTime) / 1_000_000) * this.options.loadOrdersPerSecond, 2 * perStep);
        const count = Math.floor(this.loadCarry);
        this.loadCarry -= count;
        this.flow.generate(count, this.applyIntent);
      } else {
        this.flow.advance(now - this.lastSimTime, this.applyIntent);
      }
    }
    this.lastSimTime = now;
    this.lastRealTime = realNow;
    this.publishChanges(false);
  }

  stats(): SimulatorStats {
    return { phase: this.sessionClock.phase(), simTime: this.sessionClock.nowMicros(), ...this.counters };
  }

  /** Phased shutdown: stop the loop, then log clients out and close the feed. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.feed.close();
    this.log.info('simulator stopped', { ...this.counters });
  }

  private readonly applyIntent = (intent: FlowIntent): void => {
    const phase = this.phaseBySymbol.get(intent.symbol);
    if (intent.kind === 'cancel') {
      const id = this.syntheticIds.get(intent.id);
      if (id !== undefined && phase !== undefined && canCancel(phase)) {
        this.syntheticIds.delete(intent.id);
        this.engine.cancel(id, SYNTHETIC_ACCOUNT);
      }
    } else if (phase !== undefined && acceptsOrdersIn(phase) && !(intent.orderType !== 'LIMIT' && !isContinuous(phase))) {
      this.counters.syntheticOrders++;
      const id = this.engine.submit({
        symbol: intent.symbol, side: intent.side, orderType: intent.orderType, price: intent.price,
        quantity: intent.qty, account: SYNTHETIC_ACCOUNT, clientOrderId: intent.id,
      });
      if (id !== 0) {
        const view = this.engine.order(id);
        if (view && view.leavesQty > 0) this.syntheticIds.set(intent.id, id);
      }
    }
    if (this.options.loadOrdersPerSecond) this.snapshotIfChanged(intent.symbol);
  };

  private updatePhases(): void {
    for (const instrument of this.instruments) {
      const phase = this.sessionClock.phase(instrument.board);
      const previous = this.phaseBySymbol.get(instrument.symbol);
      if (phase === previous) continue;
      this.phaseBySymbol.set(instrument.symbol, phase);
      // Leaving a call auction uncrosses it inside the engine.
      this.engine.setPhase(phase, instrument.symbol);
      if (phase === 'CLOSED' || phase === 'AFTER_HOURS_FIXED') this.engine.expireAll(instrument.symbol);
      this.log.info('phase', { symbol: instrument.symbol, from: previous, to: phase });
      this.publishedVersion.delete(instrument.symbol); // the phase is in the snapshot
    }
  }

  private snapshotIfChanged(symbol: string): void {
    const version = this.engine.version(symbol);
    if (this.publishedVersion.get(symbol) === version) return;
    this.publishedVersion.set(symbol, version);
    const snap = this.engine.snapshot(symbol, 10);
    this.outbox.push({
      type: 'snapshot',
      channel: this.channelBySymbol.get(symbol)!,
      symbol,
      eventTime: snap.time,
      phase: this.phaseBySymbol.get(symbol) ?? snap.phase,
      lastPrice: snap.lastPrice,
      openPrice: snap.openPrice,
      highPrice: snap.highPrice,
      lowPrice: snap.lowPrice,
      prevClosePrice: snap.prevClosePrice,
      upperLimitPrice: snap.upperLimitPrice,
      lowerLimitPrice: snap.lowerLimitPrice,
      volume: snap.volume,
      turnover: snap.turnover,
      bids: snap.bids.length ? snap.bids : [EMPTY_LEVEL],
      asks: snap.asks.length ? snap.asks : [EMPTY_LEVEL],
    });
  }

  /** Publishes trades as they happened and a snapshot of each changed book, as one batch. */
  private publishChanges(all: boolean): void {
    for (const instrument of this.instruments) {
      if (all) this.publishedVersion.delete(instrument.symbol);
      this.snapshotIfChanged(instrument.symbol);
    }
    if (this.outbox.length === 0) return;
    for (const message of this.outbox) this.metrics?.marketData.inc({ type: message.type });
    this.counters.marketDataEvents += this.outbox.length;
    this.feed.publishBatch(this.outbox);
    this.outbox.length = 0;
  }

  private engineEvents(): MatchingEvents {
    const member = () => this.memberEvents;
    const isSynthetic = (account: string) => account === SYNTHETIC_ACCOUNT;
    return {
      orderAccepted: (order, time) => {
        if (!isSynthetic(order.account)) member().orderAccepted(order, time);
      },
      orderRejected: (request, reason, detail, time) => {
        this.counters.rejects++;
        if (!isSynthetic(request.account)) member().orderRejected(request, reason, detail, time);
      },
      orderHeld: (order, detail, time) => {
        if (!isSynthetic(order.account)) member().orderHeld(order, detail, time);
      },
      orderReleased: (order, time) => {
        if (!isSynthetic(order.account)) member().orderReleased(order, time);
      },
      tradeExecuted: (trade: Trade) => {
        this.counters.trades++;
        this.metrics?.trades.inc();
        this.outbox.push({
          type: 'trade', channel: this.channelBySymbol.get(trade.symbol)!, symbol: trade.symbol, time: trade.time,
          price: trade.price, qty: trade.qty, aggressor: trade.aggressor, buyOrderId: trade.buyOrderId, sellOrderId: trade.sellOrderId,
        });
        member().tradeExecuted(trade);
      },
      orderFilled: (order, trade) => {
        if (isSynthetic(order.account)) {
          if (order.leavesQty === 0 && order.clientOrderId) this.syntheticIds.delete(order.clientOrderId);
        } else {
          member().orderFilled(order, trade);
        }
      },
      orderCancelled: (order, reason, time) => {
        if (isSynthetic(order.account)) {
          if (order.clientOrderId) this.syntheticIds.delete(order.clientOrderId);
        } else {
          member().orderCancelled(order, reason, time);
        }
      },
      cancelRejected: (orderId, reason, detail, time, order) => {
        if (!order || !isSynthetic(order.account)) member().cancelRejected(orderId, reason, detail, time, order);
      },
    };
  }

  private registerMetrics(registry: Registry) {
    const feed = this.feed;
    const stats = () => this.counters;
    new Gauge({
      name: 'triquant_sim_feed_clients', help: 'Feed clients logged on', registers: [registry],
      collect() { this.set(feed.stats().loggedOnClients); },
    });
    new Gauge({
      name: 'triquant_sim_feed_slow_consumer_disconnects', help: 'Feed clients cut off as slow consumers', registers: [registry],
      collect() { this.set(feed.stats().slowConsumerDisconnects); },
    });
    new Gauge({
      name: 'triquant_sim_feed_malformed_frames', help: 'Malformed frames received from feed clients', registers: [registry],
      collect() { this.set(feed.stats().malformedFrames); },
    });
    new Gauge({
      name: 'triquant_sim_rejects', help: 'Orders rejected by the venue', registers: [registry],
      collect() { this.set(stats().rejects); },
    });
    return {
      orders: new Counter({ name: 'triquant_sim_orders_total', help: 'Orders received by the venue', labelNames: ['source', 'result'] as const, registers: [registry] }),
      trades: new Counter({ name: 'triquant_sim_trades_total', help: 'Trades executed', registers: [registry] }),
      marketData: new Counter({ name: 'triquant_sim_market_data_events_total', help: 'Market-data events published', labelNames: ['type'] as const, registers: [registry] }),
    };
  }
}

/** Synthetic flow trades in the auctions and continuous trading (not the fixed-price session). */
function acceptsOrdersIn(phase: Phase): boolean {
  return canSubmit(phase) && phase !== 'AFTER_HOURS_FIXED';
}
