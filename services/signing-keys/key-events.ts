import type { Redis } from 'ioredis';
import { KEYS_CHANGED_TOPIC as TOPIC, publishChangeNotice, subscribeChangeNotices } from '../platform/change-notices.ts';
import type { Logger } from '../platform/logger.ts';
import type { Secret } from '../platform/secret.ts';

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

/** Best effort: the change is committed already, and caches expire on their own within their TTL. */
export function publishKeysChanged(redis: Redis, bullmqPrefix: string, event: Omit<KeysChangedEvent, 'at'>, logger?: Logger): Promise<void> {
  return publishChangeNotice(redis, bullmqPrefix, TOPIC, event, logger);
}

/** Calls `onChange` for every key change; a reconnect counts as one (notices sent meanwhile are lost). */
export function subscribeKeysChanged(
  redisUrl: Secret | string,
  bullmqPrefix: string,
  onChange: (event: KeysChangedEvent) => void,
  logger?: Logger,
): Promise<() => Promise<void>> {
  return subscribeChangeNotices<KeysChangedEvent>(redisUrl, bullmqPrefix, TOPIC, (event) =>
    onChange(event ?? { reason: 'reconnected', at: new Date().toISOString() }),
  logger);
}
