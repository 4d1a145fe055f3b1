/**
 * Hosts the Trading session service and the Admin service on one grpc-js server, with
 * keepalive settings, and shuts it down in phases.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../obs/log.ts';
import type { AdminGrpcService } from './admin-server.ts';
import type { TradingSessionServer } from './session-server.ts';

export interface KeepaliveOptions {
  /** Ping an idle connection this often, to notice dead peers and keep NAT/firewall state alive. */
  readonly timeMs: number;
  /** Drop the connection when a ping is not answered within this time. */
  readonly timeoutMs: number;
}

/**
 * 30 s pings with a 10 s timeout: a vanished strategy host (power loss, cable) is noticed within
 * ~40 s even when no heartbeat would be missed (heartbeats cover the live streams faster; pings
 * also cover connections between streams). Matches the client's settings in
 * src/strategy/order-client.ts; grpc-js servers do not police client ping rates.
 */
export const DEFAULT_SERVER_KEEPALIVE: KeepaliveOptions = { timeMs: 30_000, timeoutMs: 10_000 };

/** Channel options of the server (exported for the docs and tests). */
export function serverChannelOptions(keepalive: KeepaliveOptions = DEFAULT_SERVER_KEEPALIVE): grpc.ServerOptions {
  return {
    'grpc.keepalive_time_ms': keepalive.timeMs,
    'grpc.keepalive_timeout_ms': keepalive.timeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
    // Session streams live all day: never age connections out.
  };
}

export interface StartGrpcServerOptions {
  /** e.g. "127.0.0.1" or "0.0.0.0". */
  readonly host: string;
  /** 0 = any free port (see `port` of the result). */
  readonly port: number;
  readonly trading?: TradingSessionServer;
  readonly admin?: AdminGrpcService;
  readonly keepalive?: Partial<KeepaliveOptions>;
  readonly log?: Logger;
}

export interface GrpcServerHandle {
  readonly port: number;
  readonly server: grpc.Server;
  /**
   * Phased and idempotent: stop accepting connections, end session streams with UNAVAILABLE
   * (clients resume elsewhere/later), wait up to `graceMs` for calls to finish, then force.
   */
  close(graceMs?: number): Promise<void>;
}

export async function startGrpcServer(options: StartGrpcServerOptions): Promise<GrpcServerHandle> {
  const keepalive = { ...DEFAULT_SERVER_KEEPALIVE, ...options.keepalive };
  const server = new grpc.Server(serverChannelOptions(keepalive));
  options.trading?.addTo(server);
  options.admin?.addTo(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${options.host}:${options.port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => {
      if (error) reject(error);
      else resolve(bound);
    });
  });
  options.log?.info('gRPC server listening', { host: options.host, port, trading: options.trading !== undefined, admin: options.admin !== undefined });
  let closing: Promise<void> | undefined;
  return {
    port,
    server,
    close: (graceMs = 5_000) =>
      (closing ??= new Promise<void>((resolve) => {
        let done = false;
        const timer = setTimeout(() => {
          if (done) return;
          options.log?.warn('gRPC server did not drain in time; forcing shutdown', { graceMs });
          server.forceShutdown();
          done = true;
          resolve();
        }, graceMs);
        // tryShutdown first: it stops accepting new connections before the streams are ended,
        // so clients cannot reconnect into a server that is going away.
        server.tryShutdown(() => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve();
        });
        options.trading?.shutdown();
      })),
  };
}
