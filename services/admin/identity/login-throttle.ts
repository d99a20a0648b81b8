import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { type ChangeListeners, ChangeTopic, publishChangeNotice, type ThrottleNotice } from '../../platform/change-notices.ts';
import type { LoginThrottleConfig } from '../../platform/config/index.ts';
import type { Logger } from '../../platform/logger.ts';
import { scanKeys, type RedisClient } from '../../platform/redis.ts';

export type ThrottleLimit = 'address' | 'client';

export type ThrottleVerdict = { throttled: false; hasHistory: boolean } | { throttled: true; limit: ThrottleLimit; retryAfterSeconds: number };

/** What a throttled attempt leaves in the audit log: one event per limit, key and window. */
export interface ThrottleWindow {
  limit: ThrottleLimit;
  /** Throttled attempts of this key in the window before (0 for the first window of a flood). */
  previousWindowCount: number;
  windowSeconds: number;
}

const LOCK_MEMORY_SECONDS = 24 * 3600;
/**
 * A pair's lock as Redis holds it: the ms it has left when its failure count is over the limit, else
 * -1 (and with ARGV[4] = 1 the count is deleted: a success). A count over the limit whose expiry is
 * still the day-long failure memory is a lock being made (another request crossed the limit and is
 * between rate-limiter-flexible's penalty and its block) or one whose maker died in between: it is
 * given the shortest lock here, which the maker's block, if it comes, replaces.
 */
const LOCK_LEFT = `
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > tonumber(ARGV[1]) then
  local left = redis.call('PTTL', KEYS[1])
  if left < 0 or left > tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    left = tonumber(ARGV[3])
  end
  return left
end
if ARGV[4] == '1' then redis.call('DEL', KEYS[1]) end
return -1`;
const MAX_REMEMBERED = 100_000;
/** Every IPv6 address one host of the Internet is given: a /64 (RFC 6177; any server or home line gets one). */
const IPV6_HOST_PREFIX = 64;
/** IPv6 ranges whose /64 is not one host's: internal networks (a pod or container network is one /64 of many hosts), and translations whose IPv4 is local. */
const PER_ADDRESS_RANGES = new Set([
  'uniqueLocal',
  'linkLocal',
  'deprecatedSiteLocal',
  'loopback',
  'unspecified',
  'multicast',
  'rfc6052',
  'rfc6145',
  '6to4',
  'teredo',
]);

/** An address as a proxy may write it in X-Forwarded-For, port and brackets removed: `[2001:db8::1]:443`, `198.51.100.7:5678`. */
function withoutPort(address: string): string {
  return /^\[([^\]]+)\](?::\d+)?$/.exec(address)?.[1] ?? /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(address)?.[1] ?? address;
}

/** IPv4 ranges an address carried in an IPv6 one must not name: it would share a local client's key. */
const LOCAL_IPV4_RANGES = new Set(['unspecified', 'broadcast', 'multicast', 'linkLocal', 'loopback', 'carrierGradeNat', 'private']);

/** The IPv4 host an IPv6 address carries, unless it is a local one. */
function carriedIpv4(high: number, low: number): string | undefined {
  const ipv4 = new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
  return LOCAL_IPV4_RANGES.has(ipv4.range()) ? undefined : ipv4.toString();
}

/** The IPv4 host an IPv6 address stands for: NAT64's well-known prefix, 6to4 and Teredo (its client's public address, inverted). */
function translatedIpv4(v6: ipaddr.IPv6, range: string): string | undefined {
  const p = v6.parts as [number, number, number, number, number, number, number, number];
  if (range === 'rfc6052' && p[1] === 0xff9b && p[2] === 0) return carriedIpv4(p[6], p[7]);
  if (range === 'rfc6145') return carriedIpv4(p[6], p[7]);
  if (range === '6to4') return carriedIpv4(p[1], p[2]);
  if (range === 'teredo') return carriedIpv4(p[6] ^ 0xffff, p[7] ^ 0xffff);
  return undefined;
}

/**
 * The source a throttle counts. An IPv4 address is itself, also when it comes IPv4-mapped
 * (`::ffff:a.b.c.d`) or translated (NAT64's `64:ff9b::a.b.c.d`, a 6to4 site, a Teredo client). An
 * IPv6 address of the Internet counts as its /64: counted per address, one host could take a new
 * address for every guess and never be throttled. One of an internal network, where a /64 holds many
 * hosts, is itself, as is one in `perAddressNetworks` (AUTH_THROTTLE_PER_ADDRESS_NETWORKS). Anything
 * that is no address is its own key.
 */
export function throttledSource(raw: string, perAddressNetworks: readonly [ipaddr.IPv6, number][] = []): string {
  const address = withoutPort(raw);
  if (!ipaddr.isValid(address)) return raw;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const v6 = parsed as ipaddr.IPv6;
  const range = v6.range();
  const ipv4 = translatedIpv4(v6, range);
  if (ipv4) return ipv4;
  const bare = new ipaddr.IPv6(v6.parts).toString();
  if (PER_ADDRESS_RANGES.has(range) || perAddressNetworks.some((network) => v6.match(network))) return bare;
  return `${ipaddr.IPv6.networkAddressFromCIDR(`${bare}/${IPV6_HOST_PREFIX}`).toString()}/${IPV6_HOST_PREFIX}`;
}

/** A Retry-After in whole seconds, at least 1. */
const wholeSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * Brute-force protection on the existing Redis (rate-limiter-flexible, shared by every admin
 * replica). Two limits: failures per source address in a window, and failures in a row of one
 * client id from one address, which lock that pair for a time that doubles with each lock. The
 * pair includes the address, so an attacker elsewhere cannot lock a client out of its own address.
 * A throttled attempt is answered 429 whether its credentials were right or not, so a lock cannot
 * be used to test guesses.
 *
 * Failures are counted in Redis, the one truth. Which keys are blocked, and which pairs have
 * failures to clear, every replica also holds in memory — loaded from Redis at start and after a
 * reconnect, kept current by `auth-throttle` notices — so a request with the right credentials costs
 * no Redis round trip (one would cost about an eighth of the token endpoint's throughput).
 */
export function createLoginThrottle(
  redis: RedisClient,
  keyPrefix: string,
  config: LoginThrottleConfig,
  options: { notices: ChangeListeners; logger?: Logger },
) {
  const { logger } = options;
  const prefix = `${keyPrefix}:auth-throttle`;
  const limiter = (kind: string, points: number, duration: number) =>
    new RateLimiterRedis({ storeClient: redis, keyPrefix: `${prefix}:${kind}`, points, duration });
  const byAddress = limiter('address', config.maxFailuresPerAddress, config.windowSeconds);
  const byClient = limiter('client', config.lockAfterFailures, LOCK_MEMORY_SECONDS);
  const locks = limiter('locks', Number.MAX_SAFE_INTEGER, LOCK_MEMORY_SECONDS);
  // A client id is whatever the caller sent: hashed, so a key's size is bounded.
  const pair = (clientId: string | undefined, address: string) =>
    `${createHash('sha256')
      .update(clientId ?? '')
      .digest('hex')
      .slice(0, 32)}|${address}`;

  /** `address:<addr>` and `client:<pair>` → blocked until (epoch ms); `<pair>` → has failures or locks until. */
  const blocked = new Map<string, number>();
  const history = new Map<string, number>();
  const remember = (map: Map<string, number>, key: string, until: number) => {
    if (map.size >= MAX_REMEMBERED) for (const [k, at] of map) if (at <= Date.now()) map.delete(k);
    if (until > (map.get(key) ?? 0)) map.set(key, until);
  };
  const apply = (notice: Omit<ThrottleNotice, 'at'>) => {
    if (notice.kind === 'blocked') remember(blocked, notice.key, Date.parse(notice.until));
    else if (notice.kind === 'failed') remember(history, notice.key, Date.parse(notice.until));
    // A success clears the pair's history only: its lock, if one was made meanwhile on another
    // replica (its notice may arrive before or after this one), runs out by its time.
    else history.delete(notice.key);
  };
  const announce = (notice: Omit<ThrottleNotice, 'at'>) => {
    apply(notice);
    void publishChangeNotice(redis, keyPrefix, ChangeTopic.AuthThrottle, notice, logger);
  };

  /** Everything blocked or remembered in Redis now: at start, and after a reconnect lost notices. */
  const reload = async () => {
    for await (const keys of scanKeys(redis, `${prefix}:*`)) {
      for (const rawKey of keys) {
        const [kind, ...rest] = rawKey.slice(prefix.length + 1).split(':');
        const key = rest.join(':');
        if (kind !== 'address' && kind !== 'client' && kind !== 'locks') continue;
        const [value, ttl] = await Promise.all([redis.get(rawKey), redis.pttl(rawKey)]);
        const until = Date.now() + Math.max(ttl, 0);
        if (kind !== 'address') remember(history, key, until);
        const limit = kind === 'address' ? config.maxFailuresPerAddress : kind === 'client' ? config.lockAfterFailures : Number.POSITIVE_INFINITY;
        if (Number(value ?? 0) > limit) remember(blocked, `${kind}:${key}`, until);
      }
    }
  };
  let loaded = false;
  const reloadQuietly = () =>
    reload().then(
      () => {
        loaded = true;
        return true;
      },
      (err: Error) => {
        logger?.warn({ err: err.message }, 'login throttle state could not be loaded from Redis');
        return false;
      },
    );
  /** At start; a replica started while Redis is not ready yet (a cluster takes a while) loads once it is. */
  const load = async () => {
    if (!(await reloadQuietly())) redis.once('ready', () => void reloadQuietly());
  };
  options.notices.on(ChangeTopic.AuthThrottle, (notice) => (notice ? apply(notice) : void reloadQuietly()));

  const blockedFor = (key: string): number | undefined => {
    const until = blocked.get(key);
    if (until === undefined) return undefined;
    if (until <= Date.now()) {
      blocked.delete(key);
      return undefined;
    }
    return wholeSeconds(until - Date.now());
  };
  const block = (limit: ThrottleLimit, key: string, seconds: number): ThrottleVerdict => {
    announce({ kind: 'blocked', key: `${limit}:${key}`, until: new Date(Date.now() + seconds * 1000).toISOString() });
    return { throttled: true, limit, retryAfterSeconds: seconds };
  };

  const lockLeftMs = async (key: string, clearIfNot: boolean) =>
    Number(
      await redis.eval(
        LOCK_LEFT,
        1,
        byClient.getKey(key),
        config.lockAfterFailures,
        config.maxLockSeconds * 1000,
        config.lockSeconds * 1000,
        clearIfNot ? 1 : 0,
      ),
    );

  const limits = {
    /** Before any credential is looked at: is this address or this (client id, address) pair throttled? No Redis. */
    check(clientId: string | undefined, address: string): ThrottleVerdict {
      const key = pair(clientId, address);
      const addressLeft = blockedFor(`address:${address}`);
      if (addressLeft !== undefined) return { throttled: true, limit: 'address', retryAfterSeconds: addressLeft };
      const clientLeft = blockedFor(`client:${key}`);
      if (clientLeft !== undefined) return { throttled: true, limit: 'client', retryAfterSeconds: clientLeft };
      const remembered = history.get(key);
      return { throttled: false, hasHistory: remembered !== undefined && remembered > Date.now() };
    },

    /** Counts a failed attempt in Redis; the failure that crosses a limit, and any after it, is throttled. */
    async failed(clientId: string | undefined, address: string): Promise<ThrottleVerdict> {
      const key = pair(clientId, address);
      const [addressRes, clientRes] = await Promise.all([byAddress.penalty(address), byClient.penalty(key)]);
      if (!history.has(key)) announce({ kind: 'failed', key, until: new Date(Date.now() + LOCK_MEMORY_SECONDS * 1000).toISOString() });
      // Only the failure that crosses the limit starts a lock: a burst of concurrent failures that all
      // passed check() before it landed must not double the lock once each.
      if (clientRes.consumedPoints === config.lockAfterFailures + 1) {
        const lockCount = (await locks.penalty(key)).consumedPoints;
        const lockSeconds = Math.min(config.lockSeconds * 2 ** Math.min(lockCount - 1, 30), config.maxLockSeconds);
        await byClient.block(key, lockSeconds);
        return block('client', key, lockSeconds);
      }
      if (clientRes.consumedPoints > config.lockAfterFailures) {
        return block('client', key, wholeSeconds(await lockLeftMs(key, false)));
      }
      if (addressRes.consumedPoints > config.maxFailuresPerAddress) {
        return block('address', address, wholeSeconds(addressRes.msBeforeNext));
      }
      return { throttled: false, hasHistory: true };
    },

    /**
     * The right credentials from this address: its failures in a row and its lock history start
     * again from zero — unless Redis holds a lock this replica has not heard of yet (another replica
     * made it a moment ago), which refuses the attempt like any other and stays.
     */
    async succeeded(clientId: string | undefined, address: string): Promise<ThrottleVerdict> {
      const key = pair(clientId, address);
      const lockedMs = await lockLeftMs(key, true);
      if (lockedMs >= 0) return block('client', key, wholeSeconds(lockedMs));
      await locks.delete(key);
      announce({ kind: 'cleared', key, until: new Date().toISOString() });
      return { throttled: false, hasHistory: false };
    },

    /**
     * Counts a throttled attempt in its window; the first of each window per limit and key returns
     * what its one `auth_throttled` event carries, every other returns undefined.
     */
    async throttledWindow(limit: ThrottleLimit, clientId: string | undefined, address: string): Promise<ThrottleWindow | undefined> {
      const window = Math.floor(Date.now() / 1000 / config.windowSeconds);
      const key = `${prefix}:events:${limit}:${limit === 'address' ? address : pair(clientId, address)}`;
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

  // While Redis is unreachable nothing can be counted: attempts go through and the audit delivery
  // mode decides (fail-closed answers 503 before any token leaves; spool records every attempt).
  const unthrottled =
    <T>(fallback: T) =>
    (err: Error) => {
      logger?.warn({ err: err.message }, 'login throttle unavailable (Redis): attempts are not being counted');
      return fallback;
    };
  const open: ThrottleVerdict = { throttled: false, hasHistory: false };
  const source = (address: string) => throttledSource(address, config.perAddressNetworks);
  return {
    /** Loads what Redis holds; call once before serving. */
    load,
    /**
     * For /ready: resolves once what Redis held has been loaded, trying again if not yet. Until then a
     * replica would let through a client another replica has locked.
     */
    async ensureLoaded(): Promise<void> {
      if (!loaded) await reload();
      loaded = true;
    },
    check: (clientId: string | undefined, address: string) => limits.check(clientId, source(address)),
    failed: (clientId: string | undefined, address: string) => limits.failed(clientId, source(address)).catch(unthrottled(open)),
    succeeded: (clientId: string | undefined, address: string) => limits.succeeded(clientId, source(address)).catch(unthrottled(open)),
    throttledWindow: (limit: ThrottleLimit, clientId: string | undefined, address: string) =>
      limits.throttledWindow(limit, clientId, source(address)).catch(unthrottled(undefined)),
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
