import { Redis } from 'ioredis';
import type { Logger } from '../../platform/logger.ts';
import { Secret } from '../../platform/secret.ts';

/**
 * Published on `${bullmqPrefix}:jwt-keys-changed` after a key change commits, so the admin module
 * drops its cached signing key at once instead of after its TTL.
 */
export interface KeysChangedEvent {
  reason: 'created' | 'rotated' | 'revoked' | 'retired' | 'reconnected';
  activeKid?: string;
  /** ISO time of the change. */
  at: string;
}

export const keysChangedChannel = (bullmqPrefix: string) => `${bullmqPrefix}:jwt-keys-changed`;

const SUBSCRIBE_WAIT_MS = 2000;

/** Best effort: the change is committed already, and caches expire on their own within their TTL. */
export async function publishKeysChanged(redis: Redis, bullmqPrefix: string, event: Omit<KeysChangedEvent, 'at'>, logger?: Logger): Promise<void> {
  try {
    await redis.publish(keysChangedChannel(bullmqPrefix), JSON.stringify({ ...event, at: new Date().toISOString() }));
  } catch (err) {
    logger?.warn({ err: (err as Error).message, reason: event.reason }, 'could not publish jwt-keys-changed');
  }
}

/**
 * Calls `onChange` for every key change, on a subscriber connection of its own. Messages sent while
 * the connection was down are lost, so a reconnect counts as a change too. Resolves once subscribed
 * (or after a short wait if Redis is away: ioredis subscribes when it connects); returns `close`.
 */
export async function subscribeKeysChanged(
  redisUrl: Secret | string,
  bullmqPrefix: string,
  onChange: (event: KeysChangedEvent) => void,
  logger?: Logger,
): Promise<() => Promise<void>> {
  const url = redisUrl instanceof Secret ? redisUrl.reveal() : redisUrl;
  const subscriber = new Redis(url, { connectionName: 'jwt-keys-changed:subscriber', retryStrategy: (attempt) => Math.min(attempt * 200, 2000) });
  const channel = keysChangedChannel(bullmqPrefix);
  const notify = (event: KeysChangedEvent) => {
    try {
      onChange(event);
    } catch (err) {
      logger?.warn({ err: (err as Error).message }, 'jwt-keys-changed handler failed');
    }
  };
  let connectedBefore = false;
  subscriber.on('ready', () => {
    if (connectedBefore) notify({ reason: 'reconnected', at: new Date().toISOString() });
    connectedBefore = true;
  });
  subscriber.on('error', (err: Error) => logger?.debug({ err: err.message }, 'jwt-keys-changed subscriber error'));
  subscriber.on('message', (from: string, text: string) => {
    if (from !== channel) return;
    try {
      notify(JSON.parse(text) as KeysChangedEvent);
    } catch {
      notify({ reason: 'rotated', at: new Date().toISOString() });
    }
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    subscriber.subscribe(channel).catch((err: Error) => logger?.warn({ err: err.message }, 'jwt-keys-changed subscription failed')),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, SUBSCRIBE_WAIT_MS))),
  ]);
  clearTimeout(timer);
  return async () => {
    await subscriber.quit().catch(() => subscriber.disconnect());
  };
}
