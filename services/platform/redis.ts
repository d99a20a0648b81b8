import { Redis } from 'ioredis';
import type { Logger } from './logger.ts';
import type { Secret } from './secret.ts';

/**
 * `producer`: fails fast while Redis is away (no offline queue), so a publish or a readiness probe
 * answers at once instead of hanging. `worker`: BullMQ workers need maxRetriesPerRequest null so
 * their blocking commands survive reconnects.
 */
export type RedisRole = 'producer' | 'worker';

export function createRedis(url: Secret, role: RedisRole, logger: Logger, name: string): Redis {
  const redis = new Redis(url.reveal(), {
    connectionName: name,
    enableOfflineQueue: role === 'worker',
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  let lastReport = 0;
  redis.on('error', (err: Error) => {
    // ioredis emits one error per reconnect attempt; one line every 10 s is enough to see an outage.
    const now = Date.now();
    if (now - lastReport < 10_000) return;
    lastReport = now;
    logger.warn({ connection: name, err: err.message }, 'redis connection error');
  });
  return redis;
}

/** Resolves once the connection is ready, rejects on the first error (start-up wants to know). */
export async function waitForRedis(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`redis not ready after ${timeoutMs} ms`)), timeoutMs);
    const done = (err?: Error) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      err ? reject(err) : resolve();
    };
    const onReady = () => done();
    redis.on('ready', onReady);
  });
}
