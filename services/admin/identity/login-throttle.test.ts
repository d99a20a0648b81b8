import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import ipaddr from 'ipaddr.js';
import { isolatedPrefix, testInfra } from '../../../test/support/infra.ts';
import { createLoginThrottle, throttledSource } from './login-throttle.ts';

/** Small limits, as the brute-force tests use. */
const LIMITS = { lockAfterFailures: 3, lockSeconds: 1, maxLockSeconds: 8, maxFailuresPerAddress: 40, windowSeconds: 60, perAddressNetworks: [] };

/**
 * Two admin replicas' throttles on one Redis, each hearing none of the other's notices: the moment
 * before a notice arrives, held open. The routes' behaviour is in test/brute_force.test.ts.
 */
describe('login throttle between admin replicas whose notices lag', () => {
  let redis: Redis;
  before(() => {
    redis = new Redis(testInfra().redisUrl);
  });
  after(() => redis.disconnect());

  const replica = (prefix: string, client: Redis = redis) => createLoginThrottle(client, prefix, LIMITS, { notices: { on: () => () => undefined } });
  const [client, address] = ['client-under-attack', '198.51.100.60'];

  it('when a lock was just made on another replica, then the right secret on this one is refused and the lock stays', async () => {
    const prefix = isolatedPrefix('throttle-lag');
    const [here, there] = [replica(prefix), replica(prefix)];
    for (let n = 1; n <= LIMITS.lockAfterFailures; n++) assert.equal((await here.failed(client, address)).throttled, false, `failure ${n}`);
    assert.equal((await there.failed(client, address)).throttled, true, 'the failure over the limit, on the other replica, locks');
    assert.deepEqual(here.check(client, address), { throttled: false, hasHistory: true }, 'this replica has not heard of the lock yet');

    assert.equal((await here.succeeded(client, address)).throttled, true, 'the right secret does not clear a lock Redis holds');
    const later = replica(prefix);
    await later.ensureLoaded();
    assert.equal(later.check(client, address).throttled, true, 'a replica that loads now still finds the lock');
    assert.equal(here.check(client, address).throttled, true, 'and this replica knows it from now on');
  });

  it('when the replica that crossed the limit fails before its lock is set, then the right secret is refused for the shortest lock only, and works once it has passed', async () => {
    const prefix = isolatedPrefix('throttle-half-lock');
    const here = replica(prefix);
    // The other replica's Redis answers its count and lock history, then fails the lock itself (a MULTI).
    const failingLock = new Proxy(redis, {
      get: (target, property) => {
        if (property === 'multi') return () => ({ set: () => ({ exec: () => Promise.reject(new Error('connection lost')) }) });
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const there = replica(prefix, failingLock);
    for (let n = 1; n <= LIMITS.lockAfterFailures; n++) assert.equal((await here.failed(client, address)).throttled, false, `failure ${n}`);
    assert.equal((await there.failed(client, address)).throttled, false, 'the lock could not be made: the attempt went through uncounted');

    const refused = await here.succeeded(client, address);
    assert.deepEqual(
      refused,
      { throttled: true, limit: 'client', retryAfterSeconds: LIMITS.lockSeconds },
      'the count is over the limit: the shortest lock, not the day of failure memory',
    );
    await sleep(LIMITS.lockSeconds * 1000 + 100);
    assert.deepEqual(here.check(client, address), { throttled: false, hasHistory: true });
    assert.deepEqual(await here.succeeded(client, address), { throttled: false, hasHistory: false }, 'once it has passed, the right secret clears the count');
  });
});

describe('the source a login throttle counts', () => {
  const cases: [written: string, counted: string][] = [
    ['198.51.100.7', '198.51.100.7'],
    ['198.51.100.7:5678', '198.51.100.7'],
    ['::ffff:198.51.100.7', '198.51.100.7'],
    ['::FFFF:c633:6407', '198.51.100.7'],
    ['64:ff9b::198.51.100.7', '198.51.100.7'],
    ['2002:c633:6407:1::1', '198.51.100.7'],
    ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
    ['[2001:0db8:0001:0002:ffff:ffff:ffff:ffff]:443', '2001:db8:1:2::/64'],
    ['2a01:4f8:1:3::9', '2a01:4f8:1:3::/64'],
    ['fd00:1:2:3::5', 'fd00:1:2:3::5'],
    ['fe80::1%eth0', 'fe80::1'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', '192.0.2.45'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd3', '192.0.2.44'],
    ['2002:7f00:1::1', '2002:7f00:1::1'],
    ['64:ff9b::7f00:1', '64:ff9b::7f00:1'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', '2001:0:4136:e378:8000:63bf:80ff:fffe'],
    ['fec0::1:2', 'fec0::1:2'],
    ['unknown', 'unknown'],
  ];
  for (const [written, counted] of cases) {
    it(`when the client address is written ${written}, then ${counted} is counted`, () => {
      assert.equal(throttledSource(written), counted);
    });
  }

  it('when a network of many hosts with global addresses is listed, then its addresses count one by one and others still by their /64', () => {
    const listed = [ipaddr.parseCIDR('2600:1f14:abc:100::/56') as [ipaddr.IPv6, number]];
    assert.deepEqual(
      ['2600:1f14:abc:1ff::1', '2600:1f14:abc:1ff::2', '2600:1f14:abc:200::1'].map((address) => throttledSource(address, listed)),
      ['2600:1f14:abc:1ff::1', '2600:1f14:abc:1ff::2', '2600:1f14:abc:200::/64'],
    );
  });
});
