/** The Redis connection settings a standalone service command uses (config redis.* or --redis-url). */
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../core/errors.ts';
import type { RedisConnectionOptions } from '../bus/redis-connection.ts';

/**
 * `redisUrl` (a command's --redis-url) means a standalone server. `redis.mode: embedded` is
 * refused with a clear message: only `triquant up` starts the embedded server (and hands its
 * URL to every child through TRIQUANT__REDIS__*).
 */
export function redisOptionsFor(config: Config, redisUrl: string | undefined, service: string, connectionName: string): RedisConnectionOptions {
  const mode = redisUrl !== undefined ? 'standalone' : config.redis.mode;
  if (mode === 'embedded') {
    throw new ConfigError(
      'redis.mode',
      `embedded Redis is started only by \`triquant up\`; for a standalone ${service} set redis.mode (standalone, sentinel or cluster) and redis.url, or pass --redis-url`,
    );
  }
  return {
    mode,
    url: redisUrl ?? config.redis.url,
    sentinels: config.redis.sentinels,
    sentinelMasterName: config.redis.sentinelMasterName,
    clusterNodes: config.redis.clusterNodes,
    keyPrefix: config.redis.keyPrefix,
    connectionName,
  };
}
