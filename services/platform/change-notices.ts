import { Redis } from 'ioredis';
import type { Logger } from './logger.ts';
import { Secret } from './secret.ts';

/**
 * Change notices between replicas over Redis pub/sub, on `${bullmqPrefix}:${topic}`: a process that
 * changed something publishes after the change commits, and every replica drops what it cached.
 * Best effort by design — a notice can be lost, so caches still expire on their own TTL — and a
 * subscriber that reconnects hears `undefined`, meaning "anything may have changed meanwhile".
 */
export const changeChannel = (bullmqPrefix: string, topic: string) => `${bullmqPrefix}:${topic}`;

const SUBSCRIBE_WAIT_MS = 2000;

/** Signing keys changed (created, rotated, revoked, retired): signers drop cached keys, verifiers refetch the JWKS. */
export const KEYS_CHANGED_TOPIC = 'jwt-keys-changed';

export async function publishChangeNotice(redis: Redis, bullmqPrefix: string, topic: string, notice: object, logger?: Logger): Promise<void> {
  try {
    await redis.publish(changeChannel(bullmqPrefix, topic), JSON.stringify({ ...notice, at: new Date().toISOString() }));
  } catch (err) {
    logger?.warn({ err: (err as Error).message, topic }, 'could not publish a change notice');
  }
}

/**
 * Calls `onNotice` for every notice on its own subscriber connection. Resolves once subscribed (or
 * after a short wait if Redis is away: ioredis subscribes when it connects); returns `close`.
 */
export async function subscribeChangeNotices<T>(
  redisUrl: Secret | string,
  bullmqPrefix: string,
  topic: string,
  onNotice: (notice: T | undefined) => void,
  logger?: Logger,
): Promise<() => Promise<void>> {
  const url = redisUrl instanceof Secret ? redisUrl.reveal() : redisUrl;
  const subscriber = new Redis(url, { connectionName: `${topic}:subscriber`, retryStrategy: (attempt) => Math.min(attempt * 200, 2000) });
  const channel = changeChannel(bullmqPrefix, topic);
  const notify = (notice: T | undefined) => {
    try {
      onNotice(notice);
    } catch (err) {
      logger?.warn({ err: (err as Error).message, topic }, 'change notice handler failed');
    }
  };
  let connectedBefore = false;
  subscriber.on('ready', () => {
    if (connectedBefore) notify(undefined);
    connectedBefore = true;
  });
  subscriber.on('error', (err: Error) => logger?.debug({ err: err.message, topic }, 'change notice subscriber error'));
  subscriber.on('message', (from: string, text: string) => {
    if (from !== channel) return;
    let notice: T | undefined;
    try {
      notice = JSON.parse(text) as T;
    } catch {
      notice = undefined;
    }
    notify(notice);
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    subscriber.subscribe(channel).catch((err: Error) => logger?.warn({ err: err.message, topic }, 'change notice subscription failed')),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, SUBSCRIBE_WAIT_MS))),
  ]);
  clearTimeout(timer);
  return async () => {
    await subscriber.quit().catch(() => subscriber.disconnect());
  };
}
