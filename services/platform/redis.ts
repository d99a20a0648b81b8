import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from './config/index.ts';
import type { Logger } from './logger.ts';
import type { Secret } from './secret.ts';

/**
 * `producer`: fails fast while Redis is away (no offline queue), so a publish or a readiness probe
 * answers at once instead of hanging. `worker`: BullMQ workers need maxRetriesPerRequest null so
 * their blocking commands survive reconnects.
 */
export type RedisRole = 'producer' | 'worker';

/**
 * TLS for a `rediss://` URL: the server's certificate is checked (chain and name) against `caFile`
 * (TLS_CA_FILE: the deployment's trust bundle, which holds the CA that issued Redis's certificate)
 * or, without one, the system's CAs. The file is read at every (re)connection, so a bundle admin
 * rewrote after a CA rotation is trusted from the next reconnect on. Nothing for `redis://`.
 */
export function redisTlsOptions(url: string, caFile: string | undefined): Pick<RedisOptions, 'tls'> {
  if (!/^rediss:/i.test(url)) return {};
  if (!caFile) return { tls: { minVersion: 'TLSv1.2' } };
  return {
    tls: {
      minVersion: 'TLSv1.2',
      // ioredis copies these options into tls.connect() at each connection: the getter re-reads the bundle then.
      get ca() {
        // Not there yet (a first start, before anything wrote it): the system's CAs, which refuse the server, and ioredis retries.
        try {
          return readFileSync(caFile, 'utf8');
        } catch {
          return undefined;
        }
      },
    },
  };
}

/** BullMQ's `connection` for a process's Redis: its URL and, for rediss://, the TLS above. */
export function redisConnectionOf(config: Pick<Config, 'redisUrl' | 'tls'>): { url: string } & Pick<RedisOptions, 'tls'> {
  const url = config.redisUrl.reveal();
  return { url, ...redisTlsOptions(url, config.tls.caFile) };
}

export function createRedis(url: Secret, role: RedisRole, logger: Logger, name: string, options: { caFile?: string } = {}): Redis {
  const redis = new Redis(url.reveal(), {
    ...redisTlsOptions(url.reveal(), options.caFile),
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
