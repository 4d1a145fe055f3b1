/**
 * A venue for execution-service tests: the simulator (continuous trading, synthetic flow)
 * with its FIX acceptor on a free port, every NewOrderSingle recorded (ClOrdID, PossDup), and
 * the real gateway publishing the simulator's feed into Redis (for reference prices).
 */
import { Simulator, FEED_CHANNEL } from '../../src/sim/simulator.ts';
import { buildUniverse } from '../../src/sim/universe.ts';
import { DEFAULT_ORDER_FLOW } from '../../src/sim/order-flow.ts';
import { FixAcceptor } from '../../src/sim/fix-acceptor.ts';
import { FixVenue } from '../../src/sim/fix-venue.ts';
import { TradingCalendar } from '../../src/core/calendar.ts';
import { LiveClock } from '../../src/core/clock.ts';
import { RedisConnection } from '../../src/bus/redis-connection.ts';
import { Gateway } from '../../src/gateway/gateway.ts';
import { Registry } from '../../src/obs/metrics.ts';
import type { MatchingEvents, OrderView } from '../../src/matching/index.ts';
import { silentLogger } from '../../src/obs/log.ts';

export interface ReceivedOrder {
  clOrdId: string;
  possDup: boolean;
  account: string;
}

/** The venue's last word on one member order (from the matching engine's events). */
export interface VenueOrderState {
  cumQty: number;
  leavesQty: number;
  status: string;
}

export interface ExecutionVenue {
  sim: Simulator;
  venue: FixVenue;
  fixPort: number;
  /** Member orders by venue order id (the engine forgets finished orders; this does not). */
  orders: Map<number, VenueOrderState>;
  /** Every NewOrderSingle the venue received, in order. */
  received: ReceivedOrder[];
  close(): Promise<void>;
}

export async function startExecutionVenue(options: { redisUrl: string; keyPrefix: string; slotGroups: number; arrivalsPerSecond?: number }): Promise<ExecutionVenue> {
  const clock = new LiveClock();
  const sim = new Simulator({
    clock, calendar: new TradingCalendar(), instruments: buildUniverse(), seed: 5,
    timeMode: { kind: 'continuous' }, flow: { ...DEFAULT_ORDER_FLOW, arrivalsPerSecond: options.arrivalsPerSecond ?? 30 },
  });
  const venue = new FixVenue(sim, clock, silentLogger);
  const orders = new Map<number, VenueOrderState>();
  const note = (order: OrderView, status?: string) => orders.set(order.id, { cumQty: order.cumQty, leavesQty: order.leavesQty, status: status ?? order.status });
  const events: MatchingEvents = {
    ...venue.events,
    orderAccepted: (order, time) => {
      note(order);
      venue.events.orderAccepted(order, time);
    },
    orderFilled: (order, trade) => {
      note(order);
      venue.events.orderFilled(order, trade);
    },
    orderCancelled: (order, reason, time) => {
      note(order, reason === 'END_OF_DAY' ? 'EXPIRED' : 'CANCELLED');
      venue.events.orderCancelled(order, reason, time);
    },
  };
  sim.setMemberEvents(events);
  const received: ReceivedOrder[] = [];
  venue.onOrderReceived = (order, message) => received.push({ clOrdId: order.clOrdId, possDup: message.possDup, account: order.account ?? '' });
  const acceptor = new FixAcceptor({ application: venue, compId: 'SIM', sessions: [{ targetCompId: 'TRIQUANT' }], clock, logger: silentLogger, closeGraceMs: 300 });
  const { feedPort } = await sim.start(0, '127.0.0.1');
  const { port: fixPort } = await acceptor.start({ port: 0, host: '127.0.0.1' });
  const connection = new RedisConnection({ mode: 'standalone', url: options.redisUrl, keyPrefix: options.keyPrefix });
  const gateway = new Gateway({
    feeds: [{ name: 'sim', host: '127.0.0.1', port: feedPort, channels: [FEED_CHANNEL.SSE, FEED_CHANNEL.SZSE] }],
    clientId: 'exec-test', startAt: 'live', connection, slotGroups: options.slotGroups, streamMaxLen: 10_000, compression: 'none',
    bufferMaxTicks: 100_000, overflowPolicy: 'drop-oldest', clock, registry: new Registry(), logger: silentLogger,
  });
  await gateway.start();
  return {
    sim, venue, fixPort, received, orders,
    close: async () => {
      await gateway.close();
      await connection.close();
      await acceptor.close();
      await sim.close();
    },
  };
}
