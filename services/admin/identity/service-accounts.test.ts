import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createPrismaClient, type PrismaClient } from '../../platform/db/client.ts';
import { createLogger } from '../../platform/logger.ts';
import { testConfig, testInfra } from '../../../test/support/infra.ts';
import { ensureBootstrapAdmin } from './bootstrap.ts';
import { hashClientSecret, secretMatchesHash } from './client-secrets.ts';
import { createServiceAccountStore } from './service-account-store.ts';
import { createServiceAccounts } from './service-accounts.ts';

describe('service accounts', () => {
  let prisma: PrismaClient;
  let clock = new Date('2026-01-01T00:00:00Z');
  const store = () => createServiceAccountStore(prisma);
  const accounts = () => createServiceAccounts(store(), { secretOverlapSeconds: 600, now: () => clock });
  const unique = (name: string) => `${name}-${Math.random().toString(36).slice(2, 10)}`;

  before(() => {
    prisma = createPrismaClient(testInfra().databaseUrl);
  });
  after(() => prisma.$disconnect());

  it('when an account is created, then its secret is 256 random bits stored only as a SHA-256 hash', async () => {
    const { account, clientSecret } = await accounts().create({ name: 'Ingest robot', role: 'ingester', client_id: unique('ingest') });
    assert.equal(Buffer.from(clientSecret, 'base64url').length, 32);
    assert.equal(account.secretHash, hashClientSecret(clientSecret));
    const row = await prisma.$queryRaw<{ secret_hash: string }[]>`SELECT secret_hash FROM service_accounts WHERE id = ${account.id}::uuid`;
    assert.ok(!JSON.stringify(row).includes(clientSecret));
  });

  it('when the right secret is given, then the account authenticates; a wrong or unknown one does not', async () => {
    const clientId = unique('reader');
    const { clientSecret } = await accounts().create({ name: 'Reader', role: 'reader', client_id: clientId });
    assert.equal((await accounts().authenticate(clientId, clientSecret))?.clientId, clientId);
    assert.equal(await accounts().authenticate(clientId, `${clientSecret}x`), null);
    assert.equal(await accounts().authenticate('no-such-client', clientSecret), null);
    assert.equal(await accounts().authenticate('x'.repeat(5000), clientSecret), null);
  });

  it('when a secret is rotated, then the old one works until the overlap ends and the new one after', async () => {
    const clientId = unique('rotating');
    const { account, clientSecret: oldSecret } = await accounts().create({ name: 'Rotating', role: 'storage', client_id: clientId });
    const { clientSecret: newSecret, previousSecretExpiresAt } = await accounts().rotateSecret(account.id);
    assert.notEqual(newSecret, oldSecret);
    assert.equal(previousSecretExpiresAt?.getTime(), clock.getTime() + 600_000);
    assert.ok(await accounts().authenticate(clientId, oldSecret), 'old secret valid during the overlap');
    assert.ok(await accounts().authenticate(clientId, newSecret));
    clock = new Date(clock.getTime() + 601_000);
    assert.equal(await accounts().authenticate(clientId, oldSecret), null, 'old secret refused after the overlap');
    assert.ok(await accounts().authenticate(clientId, newSecret));
  });

  it('when an account is suspended, then its correct secret no longer authenticates until it is reactivated', async () => {
    const clientId = unique('suspend');
    const { account, clientSecret } = await accounts().create({ name: 'Suspended', role: 'reader', client_id: clientId });
    const otherAdmin = randomUUID();
    await accounts().setStatus(account.id, 'suspended', otherAdmin);
    assert.equal(await accounts().authenticate(clientId, clientSecret), null);
    await accounts().setStatus(account.id, 'active', otherAdmin);
    assert.ok(await accounts().authenticate(clientId, clientSecret));
  });

  it('when an account is suspended or deleted, then a revocation commits with the change; an account cannot change its own status', async () => {
    const revoked: string[] = [];
    const watched = createServiceAccounts(store(), { secretOverlapSeconds: 600, now: () => clock, onRevoked: (r) => revoked.push(r.serviceAccountId) });
    const { account } = await watched.create({ name: 'Target', role: 'reader', client_id: unique('target') });
    await assert.rejects(watched.setStatus(account.id, 'suspended', account.id), { status: 403, code: 'self_change_forbidden' });
    await assert.rejects(watched.remove(account.id, account.id), { status: 403, code: 'self_change_forbidden' });
    assert.deepEqual(revoked, []);
    const suspended = await watched.setStatus(account.id, 'suspended', randomUUID());
    assert.equal(suspended.revocation?.notBefore.getTime(), clock.getTime());
    await watched.remove(account.id, randomUUID());
    assert.deepEqual(revoked, [account.id, account.id]);
    const [row] = await prisma.$queryRaw<{ reason: string }[]>`SELECT reason FROM token_revocations WHERE service_account_id = ${account.id}::uuid`;
    assert.equal(row?.reason, 'deleted', 'the revocation outlives the deleted account');
  });

  it('when a secret is rotated with revoke_previous, then the old secret stops at once and the tokens issued so far are revoked', async () => {
    const clientId = unique('leaked');
    const { account, clientSecret: oldSecret } = await accounts().create({ name: 'Leaked', role: 'reader', client_id: clientId });
    const rotated = await accounts().rotateSecret(account.id, { revokePrevious: true });
    assert.equal(rotated.previousSecretExpiresAt, null);
    assert.equal(rotated.revocation?.notBefore.getTime(), clock.getTime());
    assert.equal(await accounts().authenticate(clientId, oldSecret), null);
    assert.ok(await accounts().authenticate(clientId, rotated.clientSecret));
  });

  it('when a client authenticates, then last_used_at is recorded', async () => {
    const clientId = unique('used');
    const { account, clientSecret } = await accounts().create({ name: 'Used', role: 'reader', client_id: clientId });
    assert.equal(account.lastUsedAt, null);
    await accounts().authenticate(clientId, clientSecret);
    assert.equal((await store().findById(account.id))?.lastUsedAt?.getTime(), clock.getTime());
  });

  it('when a client_id is taken, then creating it again is a 409', async () => {
    const clientId = unique('dup');
    await accounts().create({ name: 'First', role: 'reader', client_id: clientId });
    await assert.rejects(accounts().create({ name: 'Second', role: 'reader', client_id: clientId }), { status: 409, code: 'client_id_taken' });
  });

  it('when hashes are compared, then only the exact secret matches and a missing hash never does', () => {
    const hash = hashClientSecret('s3cret');
    assert.ok(secretMatchesHash('s3cret', hash));
    assert.ok(!secretMatchesHash('s3cret ', hash));
    assert.ok(!secretMatchesHash('s3cret', null));
    assert.ok(!secretMatchesHash('s3cret', 'not-hex'));
  });

  describe('bootstrap', () => {
    const silent = createLogger({ service: 'admin', level: 'silent' }, undefined);

    it('when bootstrap credentials are configured, then the admin account is created once with that secret', async () => {
      const clientId = unique('boot-admin');
      const secret = 'BootstrapSecretValue-0123456789abcdefghijkl';
      const config = testConfig('admin', { ADMIN_BOOTSTRAP_CLIENT_ID: clientId, ADMIN_BOOTSTRAP_CLIENT_SECRET: secret });
      await ensureBootstrapAdmin(config, accounts(), store(), silent);
      await ensureBootstrapAdmin(config, accounts(), store(), silent);
      const account = await accounts().authenticate(clientId, secret);
      assert.equal(account?.role, 'admin');
      assert.equal(await prisma.serviceAccount.count({ where: { clientId } }), 1);
    });

    const NO_BOOTSTRAP_CREDENTIALS = { ENVIRONMENT: 'development', ADMIN_BOOTSTRAP_CLIENT_ID: undefined, ADMIN_BOOTSTRAP_CLIENT_SECRET: undefined };
    it('when no credentials are configured in development and no admin exists, then one is generated and printed once', async () => {
      await prisma.serviceAccount.updateMany({ where: { role: 'admin' }, data: { status: 'suspended' } });
      try {
        const printed: string[] = [];
        await ensureBootstrapAdmin(testConfig('admin', NO_BOOTSTRAP_CREDENTIALS), accounts(), store(), silent, (l) => printed.push(l));
        assert.equal(printed.length, 1);
        const secret = /client_secret=(\S+)/.exec(printed[0]!)?.[1];
        const clientId = /client_id=(\S+)/.exec(printed[0]!)?.[1];
        assert.ok(secret && clientId);
        assert.equal((await accounts().authenticate(clientId, secret))?.role, 'admin');
        await ensureBootstrapAdmin(testConfig('admin', NO_BOOTSTRAP_CREDENTIALS), accounts(), store(), silent, (l) => printed.push(l));
        assert.equal(printed.length, 1, 'an existing admin means nothing new is printed');
      } finally {
        await prisma.serviceAccount.updateMany({ where: { role: 'admin' }, data: { status: 'active' } });
      }
    });
  });
});
