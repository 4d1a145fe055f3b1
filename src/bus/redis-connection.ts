/**
 * One Redis connection (bullmq's `redis-connection` is the model): an ioredis client for a
 * standalone server, a Sentinel-managed master or a Cluster, built from a typed options
 * object that mirrors `config.redis`; a `ready` init promise; connection-state events for
 * metrics and logs; `duplicate()` for a blocking reader's own connection; an idempotent
 * `close()`. A connection is either *owned* (built here from options, closed by `close()`) or
 * *shared* (an existing ioredis client passed in; `close()` leaves it open for its owner).
 *
 * Everything else is ioredis': reconnection with back-off (`retryStrategy`), Sentinel master
 * discovery and failover following, Cluster slot routing, MOVED/ASK redirection and
 * TRYAGAIN/CLUSTERDOWN retries, the ready check (waits while Redis loads its AOF/RDB).
 *
 * Command queuing (`failFast`, default true): the ioredis defaults queue commands without
 * bound while disconnected (`enableOfflineQueue: true`) and re-send in-flight commands after a
 * reconnect (`maxRetriesPerRequest: 20`). For the market-data publisher that would hide ticks
 * in an unbounded queue outside its own bounded, metered buffer, and re-send them behind the
 * publisher's back. So by default a connection fails fast: `enableOfflineQueue: false`
 * (a command issued while not connected is rejected at once) and `maxRetriesPerRequest: 0`
 * (a command in flight when the connection drops is rejected, not replayed): the caller
 * retries — the publisher from its buffer, in order. `failFast: false` restores ioredis'
 * queuing (`maxRetriesPerRequest: null` = wait for the reconnect); a blocking reader whose
 * only outstanding command is one XREADGROUP may prefer that.
 */
import { EventEmitter } from 'node:events';
import { Cluster, Redis } from 'ioredis';
import type { ClusterNode, ClusterOptions, RedisOptions } from 'ioredis';
import { TriquantError, ValidationError } from '../core/errors.ts';

export type RedisMode = 'standalone' | 'sentinel' | 'cluster';

export interface HostPort {
  host: string;
  port: number;
}

/** Mirrors `config.redis` (plus tuning). `embedded` is a standalone server the caller started at `url`. */
export interface RedisConnectionOptions {
  mode: RedisMode | 'embedded';
  /** standalone: the server. sentinel/cluster: credentials, database and TLS (`rediss:`) only; cluster falls back to it as the seed node when `clusterNodes` is empty. */
  url: string;
  sentinels?: readonly HostPort[];
  sentinelMasterName?: string;
  clusterNodes?: readonly HostPort[];
  /** The key prefix of the key schemes built on this connection (not applied by ioredis: keys are built explicitly, see market-data-keys.ts). */
  keyPrefix?: string;
  /** CLIENT SETNAME, visible in CLIENT LIST (default "triquant"). */
  connectionName?: string;
  /** Fail commands instead of queuing them while disconnected (default true; see the module comment). */
  failFast?: boolean;
  /** Reject a command without a reply after this many ms (default: none). A timed-out write may still have been applied. */
  commandTimeoutMs?: number;
  /** Reconnect back-off: min(initial · 2^(attempt−1), max) + up to 20% jitter (defaults 50 ms, 2000 ms). */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /** TCP connect timeout per attempt (default 5000 ms). */
  connectTimeoutMs?: number;
}

export type RedisClient = Redis | Cluster;

/** connecting: before the first ready. connected: ready for commands. reconnecting: lost, retrying. closed: close() was called. */
export type RedisConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface RedisStateChange {
  state: RedisConnectionState;
  previous: RedisConnectionState;
  /** The error that caused a drop, when ioredis reported one. */
  error?: Error;
  /** ioredis' reconnect delay, for `reconnecting`. */
  delayMs?: number;
}

interface RedisConnectionEvents {
  state: [RedisStateChange];
  /** Every error ioredis emits (connection refused, reset, …); listened to so none is unhandled. */
  error: [Error];
}

/** Redis could not be reached or a command was cut off by a connection loss. Retryable. */
export class RedisUnavailableError extends TriquantError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('REDIS_UNAVAILABLE', message, { ...options, retryable: true });
  }
}

/** The connection was closed (by `close()`) before or while an operation needed it. */
export class RedisConnectionClosedError extends TriquantError {
  constructor(message = 'the Redis connection is closed') {
    super('REDIS_CLOSED', message);
  }
}

/** Redis replied with an error; `retryable` for the transient ones (LOADING, BUSY, READONLY, OOM, …). */
export class RedisCommandError extends TriquantError {
  constructor(message: string, options: { cause?: unknown; retryable: boolean }) {
    super('REDIS_COMMAND', message, options);
  }
}

const TRANSIENT_REPLY = /^(LOADING|BUSY|READONLY|OOM|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|MOVED|ASK|NOSCRIPT)\b/;

/**
 * True when retrying later may succeed: a transport failure (anything that is not a Redis
 * reply error, e.g. ECONNREFUSED, "Connection is closed", a command timeout) or a transient
 * reply (LOADING, BUSY, READONLY after a failover, OOM, MASTERDOWN, TRYAGAIN, CLUSTERDOWN,
 * NOREPLICAS). An EXECABORT is retryable when the errors that aborted it are.
 */
export function isRetryableRedisError(error: unknown): boolean {
  if (error instanceof TriquantError) return error.retryable;
  if (!(error instanceof Error)) return false;
  if (error.name !== 'ReplyError') return true;
  if (error.message.startsWith('EXECABORT')) {
    const previous = (error as { previousErrors?: unknown[] }).previousErrors ?? [];
    return previous.length > 0 && previous.every((e) => isRetryableRedisError(e));
  }
  return TRANSIENT_REPLY.test(error.message);
}

/** Wraps an ioredis failure into the project's typed errors. */
export function toRedisError(error: unknown, what: string): TriquantError {
  if (error instanceof TriquantError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof Error && error.name === 'ReplyError') {
    return new RedisCommandError(`${what}: ${message}`, { cause: error, retryable: isRetryableRedisError(error) });
  }
  return new RedisUnavailableError(`${what}: ${message}`, { cause: error });
}

export class RedisConnection extends EventEmitter<RedisConnectionEvents> {
  readonly client: RedisClient;
  readonly mode: RedisMode;
  readonly shared: boolean;
  readonly keyPrefix: string;
  /** Resolves on the first `ready`; rejects with RedisConnectionClosedError if closed before. Never rejects unhandled. */
  readonly ready: Promise<void>;
  private readonly options: RedisConnectionOptions | undefined;
  private current: RedisConnectionState = 'connecting';
  private closing: Promise<void> | undefined;
  private rejectReady: ((error: Error) => void) | undefined;
  private readonly detach: () => void;

  /**
   * `new RedisConnection(options)` builds and owns a client. `new RedisConnection(client,
   * { keyPrefix })` shares an existing ioredis client (`close()` does not close it).
   */
  constructor(source: RedisConnectionOptions | RedisClient, shared?: { keyPrefix?: string }) {
    super();
    // whenReady() callers each listen once; many may wait together during an outage.
    this.setMaxListeners(1_000);
    if (source instanceof Redis || source instanceof Cluster) {
      this.client = source;
      this.shared = true;
      this.mode = source instanceof Cluster ? 'cluster' : 'standalone';
      this.keyPrefix = shared?.keyPrefix ?? 'tq';
      this.options = undefined;
    } else {
      this.options = { ...source };
      this.mode = source.mode === 'embedded' ? 'standalone' : source.mode;
      this.client = createClient(source);
      this.shared = false;
      this.keyPrefix = source.keyPrefix ?? 'tq';
    }
    this.ready = new Promise<void>((resolve, reject) => {
      this.rejectReady = reject;
      if (this.client.status === 'ready') resolve();
      else this.client.once('ready', () => resolve());
    });
    this.ready.catch(() => {});
    if (this.client.status === 'ready') this.current = 'connected';
    this.detach = this.watch();
  }

  get state(): RedisConnectionState {
    return this.current;
  }

  get isReady(): boolean {
    return this.current === 'connected' && this.client.status === 'ready';
  }

  /** Resolves when the client is ready (at once if it is); rejects after `timeoutMs` (RedisUnavailableError) or on close. */
  async whenReady(timeoutMs?: number): Promise<void> {
    if (this.closing) throw new RedisConnectionClosedError();
    if (this.isReady) return;
    await new Promise<void>((resolve, reject) => {
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => done(new RedisUnavailableError(`Redis not ready within ${timeoutMs} ms`)), timeoutMs);
      const onState = (change: RedisStateChange) => {
        if (change.state === 'connected') done();
        else if (change.state === 'closed') done(new RedisConnectionClosedError());
      };
      const done = (error?: Error) => {
        if (timer) clearTimeout(timer);
        this.off('state', onState);
        if (error) reject(error);
        else resolve();
      };
      this.on('state', onState);
    });
  }

  /**
   * A new owned connection to the same Redis with its own socket, e.g. for a blocking
   * XREADGROUP (a blocked connection serves nothing else). Only for owned connections (a
   * shared client's options are its owner's); `overrides` change e.g. `failFast` or the name.
   */
  duplicate(overrides: Partial<Omit<RedisConnectionOptions, 'mode' | 'url'>> = {}): RedisConnection {
    if (!this.options) throw new ValidationError('duplicate() needs an owned RedisConnection (built from options)');
    return new RedisConnection({ ...this.options, ...overrides });
  }

  /** Closes an owned client (QUIT, then disconnect if it does not answer within 1 s); leaves a shared one open. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.rejectReady?.(new RedisConnectionClosedError('closed before Redis was ready'));
      if (!this.shared) {
        const client = this.client;
        if (client.status === 'ready') {
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([
            client.quit().catch(() => undefined),
            new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000))),
          ]);
          clearTimeout(timer);
        }
        client.disconnect();
      }
      this.setState('closed');
      this.detach();
    })();
    return this.closing;
  }

  private watch(): () => void {
    const client = this.client;
    let lastError: Error | undefined;
    const onReady = () => {
      lastError = undefined;
      this.setState('connected');
    };
    const onError = (error: Error) => {
      lastError = error;
      if (this.listenerCount('error') > 0) this.emit('error', error);
    };
    const onReconnecting = (delayMs?: unknown) => {
      if (this.closing) return;
      this.setState('reconnecting', { ...(lastError ? { error: lastError } : {}), ...(typeof delayMs === 'number' ? { delayMs } : {}) });
    };
    const onClose = () => {
      if (this.closing || this.current !== 'connected') return;
      this.setState('reconnecting', lastError ? { error: lastError } : {});
    };
    client.on('ready', onReady);
    client.on('error', onError);
    client.on('reconnecting', onReconnecting);
    client.on('close', onClose);
    return () => {
      client.off('ready', onReady);
      client.off('reconnecting', onReconnecting);
      client.off('close', onClose);
      // Keep swallowing late errors of a client that is being torn down.
      client.off('error', onError);
      if (!this.shared) client.on('error', () => {});
    };
  }

  private setState(state: RedisConnectionState, extra: { error?: Error; delayMs?: number } = {}): void {
    if (state === this.current || this.current === 'closed') return;
    const previous = this.current;
    this.current = state;
    this.emit('state', { state, previous, ...extra });
  }
}

function createClient(options: RedisConnectionOptions): RedisClient {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch (error) {
    throw new ValidationError(`redis url ${JSON.stringify(options.url)} is not a URL`, { cause: error });
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new ValidationError(`redis url must start with redis:// or rediss:// (got ${url.protocol})`);
  const failFast = options.failFast ?? true;
  const initial = options.reconnectInitialMs ?? 50;
  const max = options.reconnectMaxMs ?? 2_000;
  const backoff = (attempt: number) => {
    const base = Math.min(initial * 2 ** Math.max(0, attempt - 1), max);
    return Math.round(base + Math.random() * base * 0.2);
  };
  const db = url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new ValidationError(`redis url database must be a whole number (got ${url.pathname.slice(1)})`);
  const common: RedisOptions = {
    connectionName: options.connectionName ?? 'triquant',
    ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
    ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    ...(options.commandTimeoutMs !== undefined ? { commandTimeout: options.commandTimeoutMs } : {}),
    maxRetriesPerRequest: failFast ? 0 : null,
    enableReadyCheck: true,
    // No lazy connect: `ready` starts resolving at once, and outages are visible from the start.
    lazyConnect: false,
  };
  switch (options.mode) {
    case 'standalone':
    case 'embedded':
      return new Redis({
        ...common,
        host: url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
        port: url.port ? Number(url.port) : 6379,
        db,
        enableOfflineQueue: !failFast,
        retryStrategy: backoff,
      });
    case 'sentinel': {
      const sentinels = options.sentinels ?? [];
      if (sentinels.length === 0) throw new ValidationError('sentinel mode needs at least one sentinel');
      return new Redis({
        ...common,
        sentinels: sentinels.map(({ host, port }) => ({ host, port })),
        name: options.sentinelMasterName ?? 'mymaster',
        db,
        enableOfflineQueue: !failFast,
        retryStrategy: backoff,
        sentinelRetryStrategy: backoff,
        // After a failover the old master turns replica and answers writes with READONLY:
        // reconnect (Sentinel then names the new master) and let the caller retry.
        reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 1 : false),
      });
    }
    case 'cluster': {
      const seeds: ClusterNode[] = (options.clusterNodes?.length ? options.clusterNodes : [{ host: url.hostname, port: url.port ? Number(url.port) : 6379 }]).map(
        ({ host, port }) => ({ host, port }),
      );
      const { maxRetriesPerRequest, connectionName, username, password, tls, connectTimeout, commandTimeout } = common;
      const clusterOptions: ClusterOptions = {
        enableOfflineQueue: !failFast,
        enableReadyCheck: true,
        clusterRetryStrategy: backoff,
        redisOptions: {
          maxRetriesPerRequest,
          ...(connectionName ? { connectionName } : {}),
          ...(username ? { username } : {}),
          ...(password ? { password } : {}),
          ...(tls ? { tls } : {}),
          ...(connectTimeout ? { connectTimeout } : {}),
          ...(commandTimeout ? { commandTimeout } : {}),
        },
      };
      if (db !== 0) throw new ValidationError('Redis Cluster has only database 0; remove the database from the redis url');
      return new Cluster(seeds, clusterOptions);
    }
    default: {
      const mode: never = options.mode;
      throw new ValidationError(`unknown redis mode ${String(mode)}`);
    }
  }
}
