import { readFileSync } from 'node:fs';
import type { QueueOptions } from 'bullmq';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Config, RedisConfig, StandaloneRedis } from './config/index.ts';
import type { Logger } from './logger.ts';
import { openQueue, type ContractQueue, type QueueName } from './queues.ts';

/**
 * A connection to the process's Redis: one server, or a Redis Cluster. Both take the same commands;
 * what differs is what a command without a key reaches (one node of a cluster, see `scanKeys`).
 */
export type RedisClient = Redis | Cluster;

/**
 * `producer`: fails fast while Redis is away (no offline queue), so a publish or a readiness probe
 * answers at once instead of hanging. `worker`: waits for Redis instead (offline queue, no limit on
 * retries): BullMQ workers need maxRetriesPerRequest null so their blocking commands survive
 * reconnects, and the schedulers and the notice subscriber would rather wait than fail.
 */
export type RedisRole = 'producer' | 'worker';

/**
 * TLS to Redis (a `rediss://` URL, or REDIS_TLS with a cluster): the server's certificate is checked
 * (chain and name) against `caFile` (TLS_CA_FILE: the deployment's trust bundle, which holds the CA
 * that issued Redis's certificate) or, without one, the system's CAs. The file is read at every
 * (re)connection, so a bundle admin rewrote after a CA rotation is trusted from the next reconnect on.
 */
export function redisTlsOptions(tls: boolean, caFile: string | undefined): Pick<RedisOptions, 'tls'> {
  if (!tls) return {};
  if (!caFile) return { tls: { minVersion: 'TLSv1.2' } };
  return {
    tls: {
      minVersion: 'TLSv1.2',
      // ioredis copies these options into tls.connect() at each connection (a cluster's every node
      // and its subscriber included): the getter re-reads the bundle then.
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

const retryStrategy = (attempt: number) => Math.min(attempt * 200, 2000);

type ClusterConfig = Extract<RedisConfig, { mode: 'cluster' }>;

/** What every connection to a node of the cluster needs: TLS, the password, a name for CLIENT LIST. */
export function clusterNodeOptions(target: ClusterConfig, name: string, caFile: string | undefined): RedisOptions {
  return { ...redisTlsOptions(target.tls, caFile), password: target.password?.reveal(), connectionName: name };
}

function clusterOptions(target: ClusterConfig, role: RedisRole, name: string, caFile: string | undefined): ClusterOptions {
  return {
    enableOfflineQueue: role === 'worker',
    clusterRetryStrategy: retryStrategy,
    // Names stay names, so TLS checks each node's certificate against the name it is reached by
    // (ioredis's advice for TLS clusters); without TLS the addresses are resolved as usual.
    ...(target.tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
    redisOptions: { ...clusterNodeOptions(target, name, caFile), maxRetriesPerRequest: role === 'worker' ? null : 1 },
  };
}

interface ConnectionOptions {
  /** TLS_CA_FILE, for TLS. */
  caFile?: string;
  /** How a connection error is logged (at most once every 10 s). @defaultValue 'warn' */
  errorLevel?: 'warn' | 'debug';
}

export function createRedis(target: StandaloneRedis, role: RedisRole, logger: Logger, name: string, options?: ConnectionOptions): Redis;
export function createRedis(target: RedisConfig, role: RedisRole, logger: Logger, name: string, options?: ConnectionOptions): RedisClient;
export function createRedis(target: RedisConfig, role: RedisRole, logger: Logger, name: string, options: ConnectionOptions = {}): RedisClient {
  let redis: RedisClient;
  if (target.mode === 'cluster') {
    redis = new Cluster(target.nodes, clusterOptions(target, role, name, options.caFile));
  } else {
    const url = target.url.reveal();
    redis = new Redis(url, {
      ...redisTlsOptions(/^rediss:/i.test(url), options.caFile),
      connectionName: name,
      enableOfflineQueue: role === 'worker',
      maxRetriesPerRequest: role === 'worker' ? null : 1,
      retryStrategy,
    });
  }
  let lastReport = 0;
  const report = (err: Error) => {
    // ioredis emits one error per reconnect attempt; one line every 10 s is enough to see an outage.
    const now = Date.now();
    if (now - lastReport < 10_000) return;
    lastReport = now;
    logger[options.errorLevel ?? 'warn']({ connection: name, err: err.message }, 'redis connection error');
  };
  redis.on('error', report);
  // A cluster reports a node's errors apart; without a listener they would go unseen.
  if (redis instanceof Cluster) redis.on('node error', report);
  return redis;
}

/**
 * A queue with a connection of its own, for what a process adds outside its producer connection
 * (job schedulers, dead letters). With one server BullMQ connects from options and disconnects when
 * the queue closes. BullMQ cannot connect to a cluster from options, so there the queue gets a
 * Cluster of its own (waiting for Redis, as BullMQ's own connection would), ended by its close.
 */
export function openQueueWithOwnConnection<Q extends QueueName>(
  queue: Q,
  config: Pick<Config, 'redis' | 'tls' | 'bullmqPrefix' | 'service'>,
  logger: Logger,
  options: Omit<QueueOptions, 'connection' | 'prefix'> = {},
): ContractQueue<Q> {
  const { redis } = config;
  if (redis.mode === 'standalone') {
    const url = redis.url.reveal();
    return openQueue(queue, { ...options, prefix: config.bullmqPrefix, connection: { url, ...redisTlsOptions(/^rediss:/i.test(url), config.tls.caFile) } });
  }
  const connection = createRedis(redis, 'worker', logger, `${config.service}:${queue}`, { caFile: config.tls.caFile });
  const opened = openQueue(queue, { ...options, prefix: config.bullmqPrefix, connection });
  const closeQueue = opened.close.bind(opened);
  opened.close = async () => {
    await closeQueue();
    await connection.quit().catch(() => connection.disconnect());
  };
  return opened;
}

/**
 * The keys matching `pattern`, a batch at a time. SCAN walks one server's keys, and a cluster's
 * keys are spread over its masters, so there each master is walked.
 */
export async function* scanKeys(redis: RedisClient, pattern: string): AsyncGenerator<string[]> {
  // Before a cluster knows its masters there are none to walk: that is not "no keys".
  if (redis instanceof Cluster && redis.status !== 'ready') throw new Error(`redis cluster is ${redis.status}`);
  for (const node of redis instanceof Cluster ? redis.nodes('master') : [redis]) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) yield keys;
    } while (cursor !== '0');
  }
}

/** Resolves once the connection is ready, rejects on the first error (start-up wants to know). */
export async function waitForRedis(redis: RedisClient, timeoutMs = 10_000): Promise<void> {
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
