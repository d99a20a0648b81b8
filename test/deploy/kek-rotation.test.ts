import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createKeyService, type KeyService } from '../../services/signing-keys/key-service.ts';
import { createPrismaClient, type PrismaClient } from '../../services/platform/db/client.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-databases.ts';
import { createLogger } from '../../services/platform/logger.ts';
import { testConfig, testInfra } from '../support/infra.ts';

/**
 * The JWT key-encryption key rotation of docs/SECRETS_MANAGEMENT.md, run against the real key code:
 * with a new key-encryption key, signing fails until two forced rotations have replaced the active
 * key. A database of its own, since the procedure replaces the keys every other test signs with.
 */
describe('rotating JWT_KEY_ENCRYPTION_KEY as the secrets guide describes', () => {
  let database: TestDatabase;
  let prisma: PrismaClient;
  let redis: Redis;
  const logger = createLogger({ service: 'kek-rotation-test', level: 'silent' });

  before(async () => {
    database = await createTestDatabase(testInfra().databaseUrl);
    prisma = createPrismaClient(database.url);
    redis = new Redis(testInfra().redisUrl);
  });
  after(async () => {
    redis?.disconnect();
    await prisma?.$disconnect();
    await database?.drop();
  });

  const keyServiceWith = (kek: string): KeyService =>
    createKeyService({ config: testConfig('maintenance', { DATABASE_URL: database.url, JWT_KEY_ENCRYPTION_KEY: kek }), prisma, redis, logger });

  it('when the key-encryption key changes, then signing fails until two forced rotations, and the old key no longer signs', async () => {
    const oldKek = randomBytes(32).toString('hex');
    const newKek = randomBytes(32).toString('hex');
    const before = keyServiceWith(oldKek);
    await before.ensure();
    const oldActive = await before.signingKeys().current();

    const after = keyServiceWith(newKek);
    await assert.rejects(after.signingKeys().current(), { code: 'ERR_JWT_KEY_DECRYPTION' });

    const first = await after.rotate({ force: true });
    assert.ok(first.rotated);
    after.dropCachedKeys();
    await assert.rejects(after.signingKeys().current(), { code: 'ERR_JWT_KEY_DECRYPTION' }, 'the promoted key was made under the old key');

    const second = await after.rotate({ force: true });
    after.dropCachedKeys();
    const newActive = await after.signingKeys().current();
    assert.equal(newActive.kid, second.activeKid);
    assert.notEqual(newActive.kid, oldActive.kid);
    assert.ok(
      (await after.jwks()).keys.some((k) => k.kid === oldActive.kid),
      'the old active key still verifies during its grace period',
    );

    const stale = keyServiceWith(oldKek);
    await assert.rejects(stale.signingKeys().current(), { code: 'ERR_JWT_KEY_DECRYPTION' });
  });
});
