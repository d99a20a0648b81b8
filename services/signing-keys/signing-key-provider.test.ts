import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { jwtVerify, SignJWT } from 'jose';
import { createLogger } from '../platform/logger.ts';
import { keyTestContext, restoreDefaultKeys } from '../../test/support/signing-keys.ts';
import { isolatedPrefix, testConfig, testInfra } from '../../test/support/infra.ts';
import { waitFor } from '../../test/support/wait-for.ts';
import { ChangeTopic, openChangeNotices } from '../platform/change-notices.ts';
import type { KeysChangedEvent } from './key-events.ts';
import { ensureSigningKeys, rotateSigningKeys } from './key-lifecycle.ts';
import { createKeyService } from './key-service.ts';
import { createSigningKeyProvider } from './signing-key-provider.ts';

describe('signing key provider', () => {
  let ctx: ReturnType<typeof keyTestContext>;
  before(async () => {
    ctx = keyTestContext();
    await ensureSigningKeys(ctx);
  });
  after(async () => {
    await ctx.close();
    await restoreDefaultKeys();
  });

  it('when the active key rotates, then the cached key serves until the TTL ends or invalidate() is called', async () => {
    let clock = 0;
    const provider = createSigningKeyProvider(ctx.prisma, ctx.kek, { ttlMs: 5000, clock: () => clock });
    const before = await provider.current();
    const rotation = await rotateSigningKeys(ctx, { force: true });
    assert.equal((await provider.current()).kid, before.kid, 'cached within the TTL');
    assert.equal((await provider.current()).privateKey, before.privateKey, 'decrypted once');
    clock = 5000;
    assert.equal((await provider.current()).kid, rotation.activeKid, 're-read after the TTL');

    await rotateSigningKeys(ctx, { force: true });
    provider.invalidate();
    assert.equal((await provider.current()).kid, rotation.nextKid, 're-read at once after invalidate()');
  });

  it('when a rotation commits in one process, then a subscriber in another hears jwt-keys-changed', async () => {
    const prefix = isolatedPrefix('events');
    const config = testConfig('maintenance', { BULLMQ_PREFIX: prefix, JWT_ALGORITHM: 'ES256' });
    const redis = new Redis(testInfra().redisUrl);
    const heard: KeysChangedEvent[] = [];
    const notices = await openChangeNotices(testInfra().redisUrl, prefix);
    notices.on(ChangeTopic.KeysChanged, (event) => event && heard.push(event));
    try {
      const keys = createKeyService({ config, prisma: ctx.prisma, redis, logger: createLogger({ service: 'maintenance', level: 'silent' }) });
      const result = await keys.rotate({ force: true });
      await waitFor(() => heard.length > 0, { timeoutMs: 3000, intervalMs: 20, message: 'jwt-keys-changed' });
      assert.equal(heard[0]?.reason, 'rotated');
      assert.equal(heard[0]?.activeKid, result.activeKid);
    } finally {
      await notices.close();
      redis.disconnect();
    }
  });

  it('when a forced rotation promotes a key created seconds before, then the local verification keys accept its tokens at once', async () => {
    const prefix = isolatedPrefix('local');
    const redis = new Redis(testInfra().redisUrl);
    try {
      const config = testConfig('maintenance', { BULLMQ_PREFIX: prefix, JWT_ALGORITHM: 'ES256' });
      const keys = createKeyService({ config, prisma: ctx.prisma, redis, logger: createLogger({ service: 'maintenance', level: 'silent' }) });
      const verification = keys.verificationKeys();
      const sign = async () => {
        const key = await keys.signingKeys().current();
        return new SignJWT({}).setProtectedHeader({ alg: key.alg, kid: key.kid }).sign(key.privateKey);
      };
      await jwtVerify(await sign(), verification.getKey);
      await keys.rotate({ force: true });
      await keys.rotate({ force: true });
      const { protectedHeader } = await jwtVerify(await sign(), verification.getKey);
      assert.equal(protectedHeader.kid, (await keys.signingKeys().current()).kid);
    } finally {
      redis.disconnect();
    }
  });
});
