/**
 * `triquant bench order-roundtrip`: strategy-side submit → execution report, over gRPC to the
 * execution service and FIX to the simulator.
 *
 * Which ran where (2 cores shared by all):
 * - child process `venue`: the simulator (continuous trading, synthetic flow of
 *   TRIQUANT_BENCH_RT_ARRIVALS orders per second per symbol, default 50) with its feed server
 *   and FIX acceptor;
 * - child process `gateway`: the real gateway, feed → Redis Streams (the execution service's
 *   reference prices come from there);
 * - child process `execution`: the real ExecutionService (risk, OMS, SQLite journal in a temp
 *   dir with `sync: normal`, or TRIQUANT_BENCH_SYNC=full; FIX broker adapter; gRPC server);
 * - a private redis-server;
 * - this process: the strategy-side client, the real GrpcOrderChannel.
 *
 * Orders: MARKET_BEST5_IOC for 100 shares, round-robin over the 8 non-STAR symbols, bought on
 * four and sold on the other four (opposite sides in flight on one symbol are self-trade denials), on account BENCH (1,000,000 settled shares of each symbol, large cash).
 * They never rest, so nothing accumulates between phases; the venue's first report is a
 * TRADE, or a CANCELLED when the book side was empty. BENCH's rate limits are raised (see
 * benchConfig) so that the measure is the path, not the 200/s limiter.
 *
 * 1. latency: TRIQUANT_BENCH_RT_RATE orders per second (default 100) for the duration, after
 *    a 1 s warm-up: submit → first venue report (p50_us, p99_us), and submit → the service's
 *    own SENT report (risk passed, journaled, FIX written: service_ack_*).
 * 2. throughput: as fast as the path takes them with at most TRIQUANT_BENCH_RT_INFLIGHT
 *    (default 32) orders awaiting their venue report: orders_per_sec, and the latency there.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchDefinition } from './harness.ts';
import { LiveClock } from '../src/core/clock.ts';
import { silentLogger } from '../src/obs/log.ts';
import { GrpcOrderChannel } from '../src/strategy/order-client.ts';
import type { ExecutionEvent } from '../src/strategy/api.ts';
import { buildUniverse } from '../src/sim/universe.ts';
import { BENCH_ACCOUNT, BENCH_TOKEN } from './support/order-path-node.ts';
import { cpuWindow, startOrderPathStack, summarize } from './support/order-path.ts';

const RATE = Number(process.env.TRIQUANT_BENCH_RT_RATE ?? 100);
const IN_FLIGHT = Number(process.env.TRIQUANT_BENCH_RT_INFLIGHT ?? 32);
const ARRIVALS = Number(process.env.TRIQUANT_BENCH_RT_ARRIVALS ?? 50);
const SYNC = process.env.TRIQUANT_BENCH_SYNC === 'full' ? 'full' : 'normal';
const VENUE_EXEC = new Set(['ACCEPTED', 'TRADE', 'REJECTED', 'CANCELLED', 'EXPIRED']);

interface Tracked {
  submitted: number;
  serviceAck: number;
  venueAck: number;
  firstVenueExec: string;
}

class RoundTripClient {
  readonly orders = new Map<string, Tracked>();
  readonly clock = new LiveClock();
  denied = 0;
  readonly denials = new Map<string, number>();
  inFlight = 0;
  private n = 0;
  private readonly symbols = buildUniverse().filter((i) => i.board !== 'STAR').map((i) => i.symbol);
  onVenueAck: (() => void) | undefined;

  readonly channel: GrpcOrderChannel;
  private readonly prefix: string;

  constructor(channel: GrpcOrderChannel, prefix: string) {
    this.channel = channel;
    this.prefix = prefix;
    channel.onEvent((e) => this.onEvent(e));
  }

  send(): string {
    const i = this.n++;
    const id = `${this.prefix}${i}`;
    this.orders.set(id, { submitted: performance.now(), serviceAck: 0, venueAck: 0, firstVenueExec: '' });
    this.inFlight++;
    this.channel.submit({
      type: 'submit', clientOrderId: id, account: BENCH_ACCOUNT, symbol: this.symbols[i % this.symbols.length]!,
      // One side per symbol: a buy and a sell of the same symbol in flight would be denied as a possible self-trade.
      side: (i % this.symbols.length) % 2 === 0 ? 'BUY' : 'SELL', orderType: 'MARKET_BEST5_IOC', price: 0, quantity: 100, tag: 'rt', createdAt: this.clock.nowMicros(),
    });
    return id;
  }

  private onEvent(e: ExecutionEvent): void {
    const o = this.orders.get(e.clientOrderId);
    if (o === undefined) return;
    const now = performance.now();
    if (e.type === 'orderDenied') {
      this.denied++;
      this.denials.set(e.reasonCode, (this.denials.get(e.reasonCode) ?? 0) + 1);
      if (o.venueAck === 0) {
        o.venueAck = -1;
        this.inFlight--;
        this.onVenueAck?.();
      }
      return;
    }
    if (o.serviceAck === 0) o.serviceAck = now;
    if (o.venueAck === 0 && VENUE_EXEC.has(e.execType)) {
      o.venueAck = now;
      o.firstVenueExec = e.execType;
      this.inFlight--;
      this.onVenueAck?.();
    }
  }

  /** Latencies (µs) of the orders submitted in [from, to). */
  figures(from: number, to: number) {
    const venue: number[] = [];
    const service: number[] = [];
    const firstExec: Record<string, number> = {};
    let unanswered = 0;
    for (const o of this.orders.values()) {
      if (o.submitted < from || o.submitted >= to) continue;
      if (o.venueAck > 0) {
        venue.push((o.venueAck - o.submitted) * 1000);
        firstExec[o.firstVenueExec] = (firstExec[o.firstVenueExec] ?? 0) + 1;
      } else if (o.venueAck === 0) unanswered++;
      if (o.serviceAck > 0) service.push((o.serviceAck - o.submitted) * 1000);
    }
    return { venue: summarize(venue), service: summarize(service), firstExec, unanswered };
  }
}

async function waitSettled(client: RoundTripClient, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (client.inFlight > 0 && performance.now() < deadline) await sleep(10);
}

const bench: BenchDefinition = {
  name: 'order-roundtrip',
  description: 'strategy submit → execution report over gRPC + FIX to the simulator: p50/p99 µs, max orders per second',
  defaultDurationMs: 10_000,
  async run(ctx) {
    const stack = await startOrderPathStack({ markSymbol: '600036.SH', arrivalsPerSecond: ARRIVALS, sync: SYNC });
    let channel: GrpcOrderChannel | undefined;
    try {
      channel = new GrpcOrderChannel({
        target: stack.grpcTarget(), strategyId: 'bench_rt', instanceId: 'i1', token: BENCH_TOKEN, accounts: [BENCH_ACCOUNT], clock: new LiveClock(), log: silentLogger,
      });
      await channel.start(0);
      const client = new RoundTripClient(channel, `rt${Date.now().toString(36)}-`);
      const where = {
        venue: 'child process: simulator + feed server + FIX acceptor',
        gateway: 'child process: gateway (feed → Redis)',
        execution: `child process: ExecutionService (journal sync ${SYNC})`,
        client: 'bench process: GrpcOrderChannel',
        redis: 'redis-server',
      };

      // Phase 1: steady rate.
      const interval = 1000 / RATE;
      const warmupMs = 1_000;
      const begin = performance.now();
      const measureFrom = begin + warmupMs;
      const measureTo = measureFrom + ctx.durationMs;
      let cpu: (() => Record<string, number>) | undefined;
      let sent = 0;
      while (performance.now() < measureTo) {
        const now = performance.now();
        if (cpu === undefined && now >= measureFrom) cpu = cpuWindow(stack);
        const due = Math.floor((now - begin) / interval) + 1;
        while (sent < due) {
          client.send();
          sent++;
        }
        await sleep(Math.max(1, begin + sent * interval - performance.now()));
      }
      const steadyCpu = cpu?.() ?? {};
      await waitSettled(client, 5_000);
      const steady = client.figures(measureFrom, measureTo);
      ctx.progress({
        phase: 'latency', rate_per_sec: RATE, p50_us: steady.venue.p50, p99_us: steady.venue.p99, p999_us: steady.venue.p999, max_us: steady.venue.max,
        orders: steady.venue.count, service_ack_p50_us: steady.service.p50, service_ack_p99_us: steady.service.p99,
        first_venue_report: steady.firstExec, unanswered: steady.unanswered, denied: client.denied, cpu: steadyCpu,
      });

      // Phase 2: full speed, bounded in flight.
      await sleep(500);
      const fullFrom = performance.now();
      const fullTo = fullFrom + ctx.durationMs;
      let stopping = false;
      const completedBefore = [...client.orders.values()].filter((o) => o.venueAck !== 0).length;
      client.onVenueAck = () => {
        if (!stopping && performance.now() < fullTo) while (client.inFlight < IN_FLIGHT) client.send();
      };
      const fullCpu = cpuWindow(stack);
      while (client.inFlight < IN_FLIGHT) client.send();
      await sleep(ctx.durationMs);
      stopping = true;
      const fullSeconds = (performance.now() - fullFrom) / 1000;
      const cpuFull = fullCpu();
      const completed = [...client.orders.values()].filter((o) => o.venueAck !== 0).length - completedBefore;
      await waitSettled(client, 5_000);
      const full = client.figures(fullFrom, fullTo);
      const ordersPerSec = Math.round(completed / fullSeconds);
      ctx.progress({
        phase: 'throughput', in_flight: IN_FLIGHT, orders_per_sec: ordersPerSec, p50_us: full.venue.p50, p99_us: full.venue.p99,
        first_venue_report: full.firstExec, denied: client.denied, cpu: cpuFull,
      });
      if (steady.venue.count === 0) throw new Error(`no order was answered by the venue (denied ${client.denied}: ${JSON.stringify(Object.fromEntries(client.denials))})`);
      return {
        p50_us: steady.venue.p50,
        p99_us: steady.venue.p99,
        orders_per_sec: ordersPerSec,
        p999_us: steady.venue.p999,
        latency_rate_per_sec: RATE,
        latency_orders: steady.venue.count,
        service_ack_p50_us: steady.service.p50,
        service_ack_p99_us: steady.service.p99,
        throughput_in_flight: IN_FLIGHT,
        throughput_p50_us: full.venue.p50,
        throughput_p99_us: full.venue.p99,
        denied: client.denied,
        denials: Object.fromEntries(client.denials),
        journal_sync: SYNC,
        order_type: 'MARKET_BEST5_IOC 100 shares, buys on 4 symbols, sells on 4',
        where,
        cpu_latency_phase: steadyCpu,
        cpu_throughput_phase: cpuFull,
      };
    } finally {
      await channel?.close().catch(() => undefined);
      await stack.close();
    }
  },
};

export default bench;
