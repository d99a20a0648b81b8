import { ChangeTopic, publishChangeNotice, type KeysChangedNotice } from '../platform/change-notices.ts';
import type { Logger } from '../platform/logger.ts';
import type { RedisClient } from '../platform/redis.ts';

/**
 * Published on `${bullmqPrefix}:jwt-keys-changed` after a key change commits, so the admin module
 * drops its cached signing key and every verifier refetches the JWKS at once instead of after a TTL.
 */
export type KeysChangedEvent = KeysChangedNotice;

/** Best effort: the change is committed already, and caches expire on their own within their TTL. */
export function publishKeysChanged(redis: RedisClient, bullmqPrefix: string, event: Omit<KeysChangedEvent, 'at'>, logger?: Logger): Promise<void> {
  return publishChangeNotice(redis, bullmqPrefix, ChangeTopic.KeysChanged, event, logger);
}
