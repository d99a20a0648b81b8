import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import type { LoginThrottleConfig } from '../../platform/config/index.ts';
import type { Logger } from '../../platform/logger.ts';

export type ThrottleLimit = 'address' | 'client';

export type ThrottleVerdict =
  | { throttled: false; clientFailures: number; hasHistory: boolean }
  | { throttled: true; limit: ThrottleLimit; retryAfterSeconds: number };

/** What a throttled attempt leaves in the audit log: one event per limit, key and window. */
export interface ThrottleWindow {
  limit: ThrottleLimit;
  /** Throttled attempts of this key in the window before (0 for the first window of a flood). */
  previousWindowCount: number;
  windowSeconds: number;
}

const LOCK_MEMORY_SECONDS = 24 * 3600;

/**
 * Brute-force protection on the existing Redis (rate-limiter-flexible, shared by every admin
 * replica). Two limits: failures per source address in a window, and failures in a row of one
 * client id from one address, which lock that pair for a time that doubles with each lock. The
 * pair includes the address, so an attacker elsewhere cannot lock a client out of its own address.
 * A throttled attempt is answered 429 whether its credentials were right or not, so a lock cannot
 * be used to test guesses.
 */
export function createLoginThrottle(redis: Redis, keyPrefix: string, config: LoginThrottleConfig, logger?: Logger) {
  const byAddress = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${keyPrefix}:auth-throttle:address`,
    points: config.maxFailuresPerAddress,
    duration: config.windowSeconds,
  });
  const byClient = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${keyPrefix}:auth-throttle:client`,
    points: config.lockAfterFailures,
    duration: LOCK_MEMORY_SECONDS,
  });
  const locks = new RateLimiterRedis({
    storeClient: redis,
    keyPrefix: `${keyPrefix}:auth-throttle:locks`,
    points: Number.MAX_SAFE_INTEGER,
    duration: LOCK_MEMORY_SECONDS,
  });
  const eventsPrefix = `${keyPrefix}:auth-throttle:events`;
  // A client id is whatever the caller sent: hashed, so a key's size is bounded.
  const pair = (clientId: string | undefined, address: string) =>
    `${createHash('sha256')
      .update(clientId ?? '')
      .digest('hex')
      .slice(0, 32)}|${address}`;
  const secondsLeft = async (rawKey: string) => Math.max(1, Math.ceil((await redis.pttl(rawKey)) / 1000));

  // While Redis is unreachable nothing can be counted: the check lets attempts through and the audit
  // delivery mode decides (fail-closed answers 503 before any token leaves; spool records every attempt).
  const unthrottled =
    <T>(fallback: T) =>
    (err: Error) => {
      logger?.warn({ err: err.message }, 'login throttle unavailable (Redis): attempts are not being counted');
      return fallback;
    };
  const open: ThrottleVerdict = { throttled: false, clientFailures: 0, hasHistory: false };

  const limits = {
    /** Before any credential is looked at: is this address or this (client id, address) pair throttled? One round trip. */
    async check(clientId: string | undefined, address: string): Promise<ThrottleVerdict> {
      const addressKey = byAddress.getKey(address);
      const clientKey = byClient.getKey(pair(clientId, address));
      const [addressFailures, clientFailures, lockCount] = (await redis.mget(addressKey, clientKey, locks.getKey(pair(clientId, address)))).map((value) =>
        Number(value ?? 0),
      );
      if (addressFailures! > config.maxFailuresPerAddress) return { throttled: true, limit: 'address', retryAfterSeconds: await secondsLeft(addressKey) };
      if (clientFailures! > config.lockAfterFailures) return { throttled: true, limit: 'client', retryAfterSeconds: await secondsLeft(clientKey) };
      // A success clears both the failures in a row and the lock history; most clients have neither.
      return { throttled: false, clientFailures: clientFailures!, hasHistory: clientFailures! > 0 || lockCount! > 0 };
    },

    /** Counts a failed attempt; the failure that crosses a limit is answered as throttled. */
    async failed(clientId: string | undefined, address: string): Promise<ThrottleVerdict> {
      const key = pair(clientId, address);
      const [addressRes, clientRes] = await Promise.all([byAddress.penalty(address), byClient.penalty(key)]);
      // Only the failure that crosses the limit starts a lock: a burst of concurrent failures that all
      // passed check() before it landed must not double the lock once each.
      if (clientRes.consumedPoints === config.lockAfterFailures + 1) {
        const lockCount = (await locks.penalty(key)).consumedPoints;
        const lockSeconds = Math.min(config.lockSeconds * 2 ** Math.min(lockCount - 1, 30), config.maxLockSeconds);
        await byClient.block(key, lockSeconds);
        return { throttled: true, limit: 'client', retryAfterSeconds: lockSeconds };
      }
      if (clientRes.consumedPoints > config.lockAfterFailures) {
        return { throttled: true, limit: 'client', retryAfterSeconds: await secondsLeft(byClient.getKey(key)) };
      }
      if (addressRes.consumedPoints > config.maxFailuresPerAddress) {
        return { throttled: true, limit: 'address', retryAfterSeconds: Math.max(1, Math.ceil(addressRes.msBeforeNext / 1000)) };
      }
      return { throttled: false, clientFailures: clientRes.consumedPoints, hasHistory: true };
    },

    /** The right credentials from this address: its failures in a row start again from zero. */
    async succeeded(clientId: string | undefined, address: string): Promise<void> {
      const key = pair(clientId, address);
      await Promise.all([byClient.delete(key), locks.delete(key)]);
    },

    /**
     * Counts a throttled attempt in its window; the first of each window per limit and key returns
     * what its one `auth_throttled` event carries, every other returns undefined.
     */
    async throttledWindow(limit: ThrottleLimit, clientId: string | undefined, address: string): Promise<ThrottleWindow | undefined> {
      const window = Math.floor(Date.now() / 1000 / config.windowSeconds);
      const key = `${eventsPrefix}:${limit}:${limit === 'address' ? address : pair(clientId, address)}`;
      const [[, count]] = (await redis
        .multi()
        .incr(`${key}:${window}`)
        .expire(`${key}:${window}`, config.windowSeconds * 2)
        .exec()) as [[Error | null, number]];
      if (count !== 1) return undefined;
      const previous = Number((await redis.get(`${key}:${window - 1}`)) ?? 0);
      return { limit, previousWindowCount: previous, windowSeconds: config.windowSeconds };
    },
  };
  return {
    check: (clientId: string | undefined, address: string) => limits.check(clientId, address).catch(unthrottled(open)),
    failed: (clientId: string | undefined, address: string) => limits.failed(clientId, address).catch(unthrottled(open)),
    succeeded: (clientId: string | undefined, address: string) => limits.succeeded(clientId, address).catch(unthrottled(undefined)),
    throttledWindow: (limit: ThrottleLimit, clientId: string | undefined, address: string) =>
      limits.throttledWindow(limit, clientId, address).catch(unthrottled(undefined)),
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
