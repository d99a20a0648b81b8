import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';
import type { RunningService } from '../services/platform/runtime.ts';
import { QueueName } from '../services/platform/queues.ts';
import { createSigningKeyProvider } from '../services/signing-keys/signing-key-provider.ts';
import { answerOf } from './support/answers.ts';
import { startFileArchive, type FileArchive } from './support/file-archive.ts';
import { isolatedPrefix, TEST_SECRETS, testConfig, testInfra } from './support/infra.ts';
import { MODULES } from './support/modules.ts';
import { accountWithToken, adminToken, bearer, claimsOf, requestToken } from './support/tokens.ts';
import { waitFor } from './support/wait-for.ts';

/** A revocation notice crosses Redis pub/sub in milliseconds; the periodic reload (10 s by default) is far beyond this. */
const NOTICE_WITHIN_MS = 1000;

describe('cutting an account off: the tokens it already holds stop everywhere', function () {
  this.timeout(20_000);
  let archive: FileArchive;
  /** A second admin replica on the same prefix: it never handles the change, it only hears of it. */
  let replica: RunningService;
  let admin: string;

  const modules = (): Record<string, RunningService> => ({
    admin: archive.admin,
    'admin replica': replica,
    'storage-element': archive.hot,
    ingester: archive.ingester,
    query: archive.query,
  });
  const whoami = (service: RunningService, token: string) => fetch(`${service.url}/api/v1/auth/whoami`, bearer(token));
  /** Each module's answer to the token, by module. */
  const everywhere = async (token: string) =>
    Object.fromEntries(await Promise.all(Object.entries(modules()).map(async ([name, service]) => [name, await answerOf(await whoami(service, token))])));
  const onEveryModule = (answer: string) => Object.fromEntries(Object.keys(modules()).map((name) => [name, answer]));
  const refusedEverywhere = (token: string, code = '401 token_revoked') =>
    waitFor(() => everywhere(token), {
      until: (answers) => Object.values(answers).every((answer) => answer === code),
      timeoutMs: NOTICE_WITHIN_MS,
      intervalMs: 25,
      message: (answers) => `every module to answer ${code} (last: ${JSON.stringify(answers)})`,
    });
  const adminCall = (method: string, path: string, token = admin, body?: unknown, service = archive.admin) =>
    fetch(`${service.url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const tokenRequest = (clientId: string, clientSecret: string) =>
    requestToken(archive.admin.url, {
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_id: clientId, client_secret: clientSecret }),
    });
  const oauth = (path: 'revoke' | 'introspect', body: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${archive.admin.url}/api/v1/auth/${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const introspect = async (token: string, caller = admin) => {
    const res = await oauth('introspect', { token }, { Authorization: `Bearer ${caller}` });
    assert.equal(res.status, 200);
    return (await res.json()) as Record<string, unknown>;
  };

  /** Signs with the live signing key as read from PostgreSQL and decrypted: an insider holding the key-encryption key. */
  const signWithLiveKey = async (claims: Record<string, unknown>) => {
    const key = await createSigningKeyProvider(archive.admin.deps.prisma, testConfig('admin').jwtKeyEncryptionKey!).current();
    return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' }).sign(key.privateKey);
  };
  const readerClaims = (account: { id: string; client_id: string }, times: { iat: number; exp: number }) => ({
    iss: 'artstore-admin',
    aud: 'artstore',
    sub: account.id,
    client_id: account.client_id,
    role: 'reader',
    jti: randomUUID(),
    nbf: times.iat,
    ...times,
  });

  before(async function () {
    this.timeout(60_000);
    archive = await startFileArchive();
    replica = await MODULES.admin(testConfig('admin', { BULLMQ_PREFIX: archive.prefix }));
    admin = archive.tokens.admin;
  });
  after(async () => {
    await Promise.all([replica?.stop(), archive?.stop()]);
  });

  const cutOffs: Record<string, (id: string) => Promise<Response>> = {
    suspended: (id) => adminCall('POST', `/api/v1/service-accounts/${id}/suspend`),
    deleted: (id) => adminCall('DELETE', `/api/v1/service-accounts/${id}`),
    'revoked with revoke-tokens': (id) => adminCall('POST', `/api/v1/service-accounts/${id}/revoke-tokens`),
  };
  for (const [how, cutOff] of Object.entries(cutOffs)) {
    it(`when a reader's account is ${how}, then within 1 s every module answers 401 token_revoked to the token it already holds`, async () => {
      const reader = await accountWithToken(archive.admin.url, admin, 'reader');
      // Every module has verified (and cached its verdict on) the token before the change.
      assert.deepEqual(await everywhere(reader.token), onEveryModule('200'));
      assert.equal((await fetch(`${archive.query.url}/api/v1/files`, bearer(reader.token))).status, 200);

      const changed = await cutOff(reader.service_account.id);
      assert.ok(changed.ok, `${how}: ${changed.status} ${await changed.text()}`);
      await refusedEverywhere(reader.token);
      assert.equal(await answerOf(await fetch(`${archive.query.url}/api/v1/files`, bearer(reader.token))), '401 token_revoked');
    });
  }

  it('when a suspended account is activated again, then its old token stays refused and only a new one works', async () => {
    const reader = await accountWithToken(archive.admin.url, admin, 'reader');
    const id = reader.service_account.id;
    assert.equal((await adminCall('POST', `/api/v1/service-accounts/${id}/suspend`)).status, 200);
    assert.equal((await tokenRequest(reader.service_account.client_id, reader.client_secret)).status, 401, 'a suspended account gets no token');
    assert.equal((await adminCall('POST', `/api/v1/service-accounts/${id}/activate`)).status, 200);

    const fresh = await tokenRequest(reader.service_account.client_id, reader.client_secret);
    assert.equal(fresh.status, 200);
    assert.deepEqual(await everywhere(fresh.body.access_token as string), onEveryModule('200'));
    assert.deepEqual(await everywhere(reader.token), onEveryModule('401 token_revoked'));
  });

  it('when no notice can reach a module, then its reload from PostgreSQL refuses the revoked token within the resync interval, not before', async () => {
    const resyncMs = 2000;
    const reader = await accountWithToken(archive.admin.url, admin, 'reader');
    const startingAt = Date.now();
    // Another prefix: it listens on another notice channel, but reads the same token_revocations table.
    const deaf = await MODULES.query(
      testConfig('query', { BULLMQ_PREFIX: isolatedPrefix('deaf'), ADMIN_URL: archive.admin.url, TOKEN_REVOCATION_RESYNC_SECONDS: String(resyncMs / 1000) }),
    );
    try {
      assert.equal(await answerOf(await whoami(deaf, reader.token)), '200');
      const revoked = await adminCall('POST', `/api/v1/service-accounts/${reader.service_account.id}/revoke-tokens`);
      const revokedAt = Date.now();
      assert.equal(revoked.status, 200);
      // Its first reload comes resyncMs after a moment of its start: a refusal before then could only be a notice.
      assert.ok(
        revokedAt - startingAt < resyncMs - 300,
        `${revokedAt - startingAt} ms from its start to the revocation: too slow to tell a reload from a notice`,
      );

      await waitFor(async () => (await answerOf(await whoami(archive.query, reader.token))) === '401 token_revoked', {
        timeoutMs: NOTICE_WITHIN_MS,
        message: 'the query module on the notice channel to refuse the token',
      });
      assert.equal(await answerOf(await whoami(deaf, reader.token)), '200', 'refused before any reload: a notice it should not hear reached it');

      await waitFor(async () => (await answerOf(await whoami(deaf, reader.token))) === '401 token_revoked', {
        timeoutMs: resyncMs + 1000,
        intervalMs: 25,
        message: 'the module without notices to refuse the token at its next reload',
      });
      const tookMs = Date.now() - revokedAt;
      assert.ok(tookMs <= resyncMs + 500, `refused ${tookMs} ms after the revocation; the bound is the ${resyncMs} ms resync interval`);
    } finally {
      await deaf.stop();
    }
  });

  it('when an active admin tries to suspend, activate or delete its own account, then each is 403 self_change_forbidden and it stays active', async () => {
    const other = await accountWithToken(archive.admin.url, admin, 'admin');
    const id = other.service_account.id;
    for (const [method, path] of [
      ['POST', `/api/v1/service-accounts/${id}/suspend`],
      ['POST', `/api/v1/service-accounts/${id}/activate`],
      ['DELETE', `/api/v1/service-accounts/${id}`],
    ] as const) {
      assert.equal(await answerOf(await adminCall(method, path, other.token)), '403 self_change_forbidden', `${method} ${path}`);
    }
    const account = (await (await adminCall('GET', `/api/v1/service-accounts/${id}`)).json()) as { status: string };
    assert.equal(account.status, 'active');
    assert.deepEqual(await everywhere(other.token), onEveryModule('200'));
  });

  it('when an admin account is suspended, then its unexpired token is refused by every admin endpoint on both replicas, nothing it asks for happens, and its secret gets no token', async () => {
    const rogue = await accountWithToken(archive.admin.url, admin, 'admin');
    const id = rogue.service_account.id;
    const keysBefore = await (await adminCall('GET', '/api/v1/keys')).text();
    assert.equal((await adminCall('POST', `/api/v1/service-accounts/${id}/suspend`)).status, 200);

    const backdoor = `backdoor-${randomUUID()}`;
    const attempts: [string, string, unknown?][] = [
      ['POST', '/api/v1/service-accounts', { name: backdoor, role: 'admin' }],
      ['GET', '/api/v1/service-accounts'],
      ['GET', `/api/v1/service-accounts/${id}`],
      ['POST', `/api/v1/service-accounts/${id}/activate`],
      ['POST', `/api/v1/service-accounts/${id}/rotate-secret`, { revoke_previous: false }],
      ['POST', `/api/v1/service-accounts/${id}/revoke-tokens`],
      ['POST', '/api/v1/keys/rotate'],
      ['GET', '/api/v1/audit/logs'],
      ['GET', '/api/v1/audit/export'],
      ['PUT', '/admin/queues/api/queues/maintenance/pause'],
      ['PUT', '/admin/queues/api/queues/maintenance/job-schedulers/rotate-jwt-keys/remove'],
    ];
    const answers: Record<string, string> = {};
    for (const service of [archive.admin, replica]) {
      for (const [method, path, body] of attempts)
        answers[`${service.url} ${method} ${path}`] = await answerOf(await adminCall(method, path, rogue.token, body, service));
    }
    assert.deepEqual(answers, Object.fromEntries(Object.keys(answers).map((key) => [key, '401 token_revoked'])));

    const account = (await (await adminCall('GET', `/api/v1/service-accounts/${id}`)).json()) as { status: string };
    assert.equal(account.status, 'suspended');
    const created = await archive.admin.deps.prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM service_accounts WHERE name = ${backdoor}`;
    assert.equal(created[0]!.n, 0);
    assert.equal(await (await adminCall('GET', '/api/v1/keys')).text(), keysBefore, 'no key was rotated');
    const connection = new Redis(testInfra().redisUrl);
    const maintenance = new Queue(QueueName.Maintenance, { connection, prefix: archive.prefix });
    try {
      assert.equal(await maintenance.isPaused(), false);
    } finally {
      await maintenance.close();
      connection.disconnect();
    }
    assert.equal((await tokenRequest(rogue.service_account.client_id, rogue.client_secret)).body.error, 'invalid_client');
  });

  it('when a secret is rotated with revoke_previous, then the old secret and every earlier token are refused at once, and a token fetched in the same second works everywhere', async () => {
    const reader = await accountWithToken(archive.admin.url, admin, 'reader');
    assert.deepEqual(await everywhere(reader.token), onEveryModule('200'));
    // Early in a second, so the rotation and the next token request fall in the same one.
    await sleep(1050 - (Date.now() % 1000));

    const rotated = await adminCall('POST', `/api/v1/service-accounts/${reader.service_account.id}/rotate-secret`, admin, { revoke_previous: true });
    assert.equal(rotated.status, 200);
    const body = (await rotated.json()) as { client_secret: string; previous_secret_expires_at: string | null; tokens_revoked_before: string };
    const requestedAt = Date.now();
    const fresh = await tokenRequest(reader.service_account.client_id, body.client_secret);
    assert.equal(fresh.status, 200);
    assert.equal(body.previous_secret_expires_at, null);
    assert.equal(
      Math.floor(requestedAt / 1000),
      Math.floor(Date.parse(body.tokens_revoked_before) / 1000),
      'the token was asked for in the second of the revocation',
    );

    assert.deepEqual(await everywhere(fresh.body.access_token as string), onEveryModule('200'));
    assert.equal((await tokenRequest(reader.service_account.client_id, reader.client_secret)).body.error, 'invalid_client');
    await refusedEverywhere(reader.token);
  });

  describe('RFC 7009 revocation and RFC 7662 introspection', () => {
    const revokeBody = (account: { service_account: { client_id: string }; client_secret: string }, token: string) => ({
      client_id: account.service_account.client_id,
      client_secret: account.client_secret,
      token,
    });

    it('when a client revokes its own live token, then 200 with an empty body, every module refuses it within 1 s and it introspects as active:false', async () => {
      const reader = await accountWithToken(archive.admin.url, admin, 'reader');
      assert.equal((await introspect(reader.token)).active, true);
      const res = await oauth('revoke', revokeBody(reader, reader.token));
      assert.equal(res.status, 200);
      assert.equal(await res.text(), '');
      await refusedEverywhere(reader.token);
      assert.deepEqual(await introspect(reader.token), { active: false });
    });

    it('when a client revokes garbage, a forged or an already revoked token, then the answer is 200 all the same', async () => {
      const reader = await accountWithToken(archive.admin.url, admin, 'reader');
      const [h, p] = reader.token.split('.');
      for (const token of ['not-a-token', `${h}.${p}.AAAA`, 'x'.repeat(4000)]) {
        const res = await oauth('revoke', revokeBody(reader, token));
        assert.equal(res.status, 200, token.slice(0, 20));
      }
      assert.equal((await oauth('revoke', revokeBody(reader, reader.token))).status, 200);
      assert.equal((await oauth('revoke', revokeBody(reader, reader.token))).status, 200, 'revoking it again');
    });

    it("when a client names another client's live token, then it is refused and that token keeps working; without the right secret nothing is revoked", async () => {
      const [attacker, victim] = await Promise.all([
        accountWithToken(archive.admin.url, admin, 'reader'),
        accountWithToken(archive.admin.url, admin, 'reader'),
      ]);
      const foreign = await oauth('revoke', revokeBody(attacker, victim.token));
      assert.equal(await answerOf(foreign), '400 invalid_request');
      const withoutSecret = await oauth('revoke', { client_id: victim.service_account.client_id, client_secret: 'guess', token: victim.token });
      assert.equal(await answerOf(withoutSecret), '401 invalid_client');
      // Long enough for a revocation notice to have reached every module, had one been sent.
      await sleep(100);
      assert.deepEqual(await everywhere(victim.token), onEveryModule('200'));
      assert.equal((await introspect(victim.token)).active, true);
    });

    it('when an admin or the storage account introspects a live token, then active:true with its claims; a reader caller gets 403', async () => {
      const reader = await accountWithToken(archive.admin.url, admin, 'reader');
      const storage = (await tokenRequest(TEST_SECRETS.STORAGE_CLIENT_ID, TEST_SECRETS.STORAGE_CLIENT_SECRET)).body.access_token as string;
      const claims = claimsOf(reader.token);
      for (const caller of [admin, storage]) {
        const answer = await introspect(reader.token, caller);
        assert.equal(answer.active, true);
        assert.equal(answer.sub, reader.service_account.id);
        assert.equal(answer.client_id, reader.service_account.client_id);
        assert.deepEqual([answer.iat, answer.exp, answer.jti], [claims.iat, claims.exp, claims.jti]);
      }
      const asReader = await oauth('introspect', { token: admin }, { Authorization: `Bearer ${reader.token}` });
      assert.equal(await answerOf(asReader), '403 forbidden');
      assert.equal(await answerOf(await oauth('introspect', { token: admin })), '401 missing_token');
    });

    it('when the token is revoked, of a suspended or deleted account, expired or forged, then introspection answers only {"active":false}', async () => {
      const make = () => accountWithToken(archive.admin.url, admin, 'reader');
      const [revoked, suspended, deleted, expiring] = await Promise.all([make(), make(), make(), make()]);
      await adminCall('POST', `/api/v1/service-accounts/${revoked.service_account.id}/revoke-tokens`);
      await adminCall('POST', `/api/v1/service-accounts/${suspended.service_account.id}/suspend`);
      await adminCall('DELETE', `/api/v1/service-accounts/${deleted.service_account.id}`);
      const now = Math.floor(Date.now() / 1000);
      const expired = await signWithLiveKey(readerClaims(expiring.service_account, { iat: now - 300, exp: now - 120 }));
      const [h, p] = expiring.token.split('.');
      const cases = { revoked: revoked.token, suspended: suspended.token, deleted: deleted.token, expired, forged: `${h}.${p}.AAAA`, garbage: 'garbage' };
      for (const [what, token] of Object.entries(cases)) assert.deepEqual(await introspect(token), { active: false }, what);
    });
  });

  it('when a token signed by a live key claims ten years of life, then every module refuses it, while the same key with the configured lifetime passes', async () => {
    const reader = await accountWithToken(archive.admin.url, admin, 'reader');
    const now = Math.floor(Date.now() / 1000);
    const tenYears = await signWithLiveKey(readerClaims(reader.service_account, { iat: now, exp: now + 10 * 365 * 86_400 }));
    const ordinary = await signWithLiveKey(readerClaims(reader.service_account, { iat: now, exp: now + 1800 }));
    assert.deepEqual(await everywhere(ordinary), onEveryModule('200'), 'the key is live');
    assert.deepEqual(await everywhere(tenYears), onEveryModule('401 invalid_token'));
    assert.deepEqual(await introspect(tenYears), { active: false });
  });

  describe('after a restart', () => {
    it('when every module restarts after a revocation, then the old token is still refused and a new one works', async function () {
      this.timeout(60_000);
      const reader = await accountWithToken(archive.admin.url, admin, 'reader');
      assert.equal((await adminCall('POST', `/api/v1/service-accounts/${reader.service_account.id}/revoke-tokens`)).status, 200);
      await Promise.all([replica.stop(), archive.stop()]);

      archive = await startFileArchive();
      replica = await MODULES.admin(testConfig('admin', { BULLMQ_PREFIX: archive.prefix }));
      admin = archive.tokens.admin;
      assert.deepEqual(await everywhere(reader.token), onEveryModule('401 token_revoked'));
      const fresh = await tokenRequest(reader.service_account.client_id, reader.client_secret);
      assert.deepEqual(await everywhere(fresh.body.access_token as string), onEveryModule('200'));
    });
  });
});

describe('a token fetched right after its account was revoked', function () {
  this.timeout(20_000);
  let admin: RunningService;
  let query: RunningService;
  let adminBearer: string;

  before(async function () {
    this.timeout(60_000);
    // No clock tolerance: a token stamped even one second ahead is refused by every verifier.
    const env = { BULLMQ_PREFIX: isolatedPrefix('no-tolerance'), JWT_CLOCK_TOLERANCE_SECONDS: '0' };
    admin = await MODULES.admin(testConfig('admin', env));
    query = await MODULES.query(testConfig('query', { ...env, ADMIN_URL: admin.url }));
    adminBearer = await adminToken(admin.url);
  });
  after(() => Promise.all([query?.stop(), admin?.stop()]));

  const fetchToken = async (credentials: { client_id: string; client_secret: string }) => {
    const answer = await requestToken(admin.url, { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(credentials) });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return answer.body.access_token as string;
  };
  /** The token is accepted at once, and was not stamped in the future (which each revocation would push further ahead). */
  const assertWorksAtOnce = async (token: string, what: string) => {
    const now = Date.now() / 1000;
    const { iat } = claimsOf(token);
    for (const service of [admin, query])
      assert.equal(await answerOf(await fetch(`${service.url}/api/v1/auth/whoami`, bearer(token))), '200', `${what}: ${service.url}`);
    assert.ok(iat! <= now, `${what}: iat is ${(iat! - now).toFixed(2)} s in the future`);
  };

  it('when the secret is rotated with revoke_previous and the client fetches a token at once, then that token works at once even with no clock tolerance', async () => {
    const reader = await accountWithToken(admin.url, adminBearer, 'reader');
    const rotated = await fetch(`${admin.url}/api/v1/service-accounts/${reader.service_account.id}/rotate-secret`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${adminBearer}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ revoke_previous: true }),
    });
    const { client_secret } = (await rotated.json()) as { client_secret: string };
    await assertWorksAtOnce(await fetchToken({ client_id: reader.service_account.client_id, client_secret }), 'after the rotation');
  });

  it('when a client revokes its own token and fetches a new one, again and again, then every new token works at once and none is stamped in the future', async () => {
    const reader = await accountWithToken(admin.url, adminBearer, 'reader');
    const credentials = { client_id: reader.service_account.client_id, client_secret: reader.client_secret };
    let token = reader.token;
    for (let round = 1; round <= 2; round++) {
      const revoked = await fetch(`${admin.url}/api/v1/auth/revoke`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ ...credentials, token }),
      });
      assert.equal(revoked.status, 200);
      token = await fetchToken(credentials);
      await assertWorksAtOnce(token, `round ${round}`);
    }
  });
});
