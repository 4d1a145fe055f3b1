/**
 * The market-data gateway (`triquant gateway`): one FeedClient per configured feed, an
 * ObserverDispatcher fanning decoded batches out to the Redis Streams publisher (reliable),
 * the metrics observer and the latest-quote tap (best effort).
 *
 * On start each feed resumes from where Redis left off (the publisher's checkpoint), so a
 * restarted gateway neither loses nor repeats ticks while the feed still holds them.
 */
import type { Clock } from '../core/clock.ts';
import type { RedisConnection } from '../bus/redis-connection.ts';
import type { TickCompression } from '../bus/tick-codec.ts';
import type { Logger } from '../obs/log.ts';
import { silentLogger } from '../obs/log.ts';
import { Counter, Gauge, Histogram, type Registry } from '../obs/metrics.ts';
import { FeedClient, type FeedClientEvent, type FeedPosition } from './feed-client.ts';
import { ObserverDispatcher } from './observers.ts';
import { RedisStreamPublisher, type OverflowPolicy } from './redis-publisher.ts';
import { batchSize } from './types.ts';
import type { MarketDataMessage, TickBatch, TickObserver } from './types.ts';
import { dataFrameBytes, dataFrameEventTime, decodeDataFrame } from '../protocol/feed/codec.ts';

export interface GatewayFeedConfig {
  name: string;
  host: string;
  port: number;
  channels: readonly number[];
}

export interface GatewayOptions {
  feeds: readonly GatewayFeedConfig[];
  clientId: string;
  startAt: 'live' | 'earliest';
  connection: RedisConnection;
  slotGroups: number;
  streamMaxLen: number;
  compression: TickCompression;
  bufferMaxTicks: number;
  overflowPolicy: OverflowPolicy;
  clock: Clock;
  logger?: Logger;
  registry: Registry;
  /** Extra observers (e.g. the archiver of the history issue). */
  observers?: readonly TickObserver[];
}

export interface GatewayStats {
  ticksIn: number;
  feeds: ReturnType<FeedClient['stats']>[];
  publisher: ReturnType<RedisStreamPublisher['stats']>;
  observers: ReturnType<ObserverDispatcher['stats']>;
}

/** Keeps the latest snapshot per symbol for the dashboard (best effort: may skip batches). */
export class LatestQuoteTap implements TickObserver {
  readonly name = 'tap';
  readonly reliable = false;
  /** Per symbol the latest snapshot, as a decoded message or as a copy of its frame (decoded when asked). */
  private readonly latest = new Map<string, MarketDataMessage | Buffer>();
  /** Symbols already taken from the batch being handled (scanned newest first). */
  private readonly seen = new Set<string>();

  onBatch(batch: TickBatch): void {
    const frames = batch.frames;
    if (frames === undefined) {
      for (const message of batch.messages) if (message.type === 'snapshot') this.latest.set(message.symbol, message);
      return;
    }
    // Newest first, one snapshot per symbol; a copy into the symbol's own buffer, since a
    // frame refers to its whole socket chunk, which must not stay alive for a quiet symbol.
    const seen = this.seen;
    for (let i = frames.length - 1; i >= 0; i--) {
      const frame = frames[i]!;
      if (frame.type !== 'snapshot') continue;
      const symbol = frame.symbol;
      if (seen.has(symbol)) continue;
      seen.add(symbol);
      const size = dataFrameBytes(frame);
      let copy = this.latest.get(symbol);
      if (!Buffer.isBuffer(copy) || copy.length !== size) this.latest.set(symbol, (copy = Buffer.allocUnsafe(size)));
      frame.buf.copy(copy, 0, frame.offset, frame.offset + size);
    }
    seen.clear();
  }

  quote(symbol: string): MarketDataMessage | undefined {
    const latest = this.latest.get(symbol);
    if (!Buffer.isBuffer(latest)) return latest;
    return decodeDataFrame({ type: 'snapshot', buf: latest, offset: 0 });
  }

  symbols(): string[] {
    return [...this.latest.keys()].sort();
  }
}

export class Gateway {
  readonly publisher: RedisStreamPublisher;
  readonly dispatcher: ObserverDispatcher;
  readonly tap = new LatestQuoteTap();
  private readonly options: GatewayOptions;
  private readonly log: Logger;
  private readonly clients: FeedClient[] = [];
  private ticksIn = 0;
  private closing: Promise<void> | undefined;
  private readonly metrics;

  constructor(options: GatewayOptions) {
    if (options.feeds.length === 0) throw new RangeError('the gateway needs at least one feed');
    this.options = options;
    this.log = options.logger ?? silentLogger;
    this.publisher = new RedisStreamPublisher({
      connection: options.connection,
      clock: options.clock,
      slotGroups: options.slotGroups,
      maxLen: options.streamMaxLen,
      compression: options.compression,
      bufferMaxTicks: options.bufferMaxTicks,
      overflow: options.overflowPolicy,
      logger: this.log.child('redis'),
      registry: options.registry,
    });
    this.dispatcher = new ObserverDispatcher({ clock: options.clock, logger: this.log.child('observers') });
    this.dispatcher.add(this.publisher);
    this.dispatcher.add(this.metricsObserver());
    this.dispatcher.add(this.tap);
    for (const observer of options.observers ?? []) this.dispatcher.add(observer);
    this.metrics = this.registerMetrics(options.registry);
  }

  /** Connects every feed, resuming from Redis. Resolves once each feed has logged on. */
  async start(): Promise<void> {
    for (const feed of this.options.feeds) {
      const published = await this.publisher.lastPublished(feed.name);
      const resumeFrom: FeedPosition | undefined = published
        ? { sessionId: published.sessionId, lastSeqByChannel: published.lastSeqByChannel }
        : undefined;
      this.log.info(`feed ${feed.name}: ${resumeFrom ? `resuming session ${resumeFrom.sessionId}` : `no position in Redis, starting at ${this.options.startAt}`}`, {
        host: feed.host, port: feed.port, channels: feed.channels,
      });
      const client = new FeedClient({
        feed: feed.name, host: feed.host, port: feed.port, clientId: this.options.clientId, channels: feed.channels,
        onBatch: this.receive,
        onEvent: (event) => this.onFeedEvent(event),
        ...(resumeFrom ? { resumeFrom } : {}),
        startAt: this.options.startAt,
        clock: this.options.clock,
        logger: this.log.child(`feed.${feed.name}`),
      });
      this.dispatcher.attachSource(client);
      this.clients.push(client);
    }
    await Promise.all(this.clients.map((client) => client.start()));
  }

  stats(): GatewayStats {
    return {
      ticksIn: this.ticksIn,
      feeds: this.clients.map((client) => client.stats()),
      publisher: this.publisher.stats(),
      observers: this.dispatcher.stats(),
    };
  }

  /** Waits until everything received so far is stored in Redis. */
  drain(timeoutMs = 10_000): Promise<boolean> {
    return this.dispatcher.drain(timeoutMs);
  }

  /** Phased shutdown: stop intake (log out of the feeds), drain observers, close the publisher. Idempotent. */
  close(graceMs = 5_000): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(this.clients.map((client) => client.close()));
      await this.dispatcher.close(graceMs);
      this.log.info('gateway stopped', { ticksIn: this.ticksIn, ...this.publisher.stats() });
    })();
    return this.closing;
  }

  /** Counts what arrives (exactly, unlike the best-effort observers), then fans it out. */
  private readonly receive = (batch: TickBatch): void => {
    const n = batchSize(batch);
    this.ticksIn += n;
    let trades = 0;
    for (const message of batch.frames ?? batch.messages) if (message.type === 'trade') trades++;
    if (trades > 0) this.metrics.ticksIn.inc({ feed: batch.feed, type: 'trade' }, trades);
    if (n > trades) this.metrics.ticksIn.inc({ feed: batch.feed, type: 'snapshot' }, n - trades);
    this.dispatcher.dispatch(batch);
  };

  /** Best effort: feed latency (receive time − exchange event time), measured per batch. */
  private metricsObserver(): TickObserver {
    return {
      name: 'metrics',
      reliable: false,
      onBatch: (batch: TickBatch) => {
        let eventTime: number;
        const frame = batch.frames?.at(-1);
        if (frame !== undefined) eventTime = dataFrameEventTime(frame);
        else {
          const last = batch.messages.at(-1);
          if (!last) return;
          eventTime = last.type === 'snapshot' ? last.eventTime : last.time;
        }
        this.metrics.feedLatency.observe(Math.max(0, batch.receivedAt - eventTime) / 1_000_000);
      },
    };
  }

  private onFeedEvent(event: FeedClientEvent): void {
    if (event.type === 'unrecoverableGap') {
      this.log.error(`feed ${event.feed}: ticks lost for good on channel ${event.channel}: seq ${event.fromSeq}-${event.toSeq} (${event.reason})`);
    }
    this.metrics.events.inc({ feed: event.feed, type: event.type });
  }

  private registerMetrics(registry: Registry) {
    const clients = this.clients;
    for (const [name, help, read] of [
      ['triquant_gateway_feed_connected', '1 while the feed is logged on', (s) => (s.loggedOn ? 1 : 0)],
      ['triquant_gateway_feed_paused', '1 while reading is paused by backpressure', (s) => (s.paused ? 1 : 0)],
      ['triquant_gateway_feed_reconnects', 'Reconnection attempts', (s) => s.reconnects],
      ['triquant_gateway_feed_gaps', 'Sequence gaps detected (filled by retransmission)', (s) => s.gaps],
      ['triquant_gateway_feed_retransmit_requests', 'Retransmission requests sent', (s) => s.retransmitRequests],
      ['triquant_gateway_feed_unrecoverable_messages', 'Messages lost for good (ranges the feed no longer held)', (s) => s.unrecoverableMessages],
      ['triquant_gateway_feed_decode_errors', 'Malformed frames skipped and fatal framing errors', (s) => s.malformed + s.framingErrors],
      ['triquant_gateway_feed_duplicates', 'Duplicate messages dropped', (s) => s.duplicates],
    ] as const satisfies ReadonlyArray<readonly [string, string, (s: ReturnType<FeedClient['stats']>) => number]>) {
      new Gauge({
        name, help, labelNames: ['feed'] as const, registers: [registry],
        // Read on scrape, from the clients' own counters: nothing to keep in step.
        collect() {
          for (const client of clients) {
            const stats = client.stats();
            this.set({ feed: stats.feed }, read(stats));
          }
        },
      });
    }
    return {
      ticksIn: new Counter({ name: 'triquant_gateway_ticks_in_total', help: 'Market-data messages received from feeds', labelNames: ['feed', 'type'] as const, registers: [registry] }),
      events: new Counter({ name: 'triquant_gateway_feed_events_total', help: 'Feed connection events by type', labelNames: ['feed', 'type'] as const, registers: [registry] }),
      feedLatency: new Histogram({
        name: 'triquant_gateway_feed_latency_seconds', help: 'Receive time minus the exchange event time',
        buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [registry],
      }),
    };
  }
}
