import assert from 'node:assert/strict';
import type { JWK } from 'jose';
import { createKeyService } from '../services/signing-keys/key-service.ts';
import { cleanupKeys } from '../services/signing-keys/key-lifecycle.ts';
import type { RunningService } from '../services/platform/runtime.ts';
import { TEST_SECRETS, testConfig } from './support/infra.ts';
import { metricValue, MODULES, stopAll, type ModuleName } from './support/modules.ts';
import { forgedTokens } from './support/forged-tokens.ts';
import { accountWithToken, adminToken, bearer, claimsOf, kidOf, requestToken, tokenFor } from './support/tokens.ts';
import { waitFor } from './support/wait-for.ts';

const moduleNames = Object.keys(MODULES) as ModuleName[];

/** Well under the account cache's 5 s TTL, so a change seen within it proves the change notice worked. */
const NOTICE_WITHIN_MS = 1000;
const whoami = (service: RunningService, token: string) => fetch(`${service.url}/api/v1/auth/whoami`, bearer(token));

describe('service tokens across the modules', () => {
  let modules: Record<ModuleName, RunningService>;
  let adminUrl: string;
  let admin: string;

  before(async function () {
    this.timeout(60_000);
    // Start admin first: the other modules verify against its JWKS.
    const adminService = await MODULES.admin(testConfig('admin'));
    adminUrl = adminService.url;
    const others = await Promise.all(
      moduleNames
        .filter((n) => n !== 'admin')
        .map(async (n) => [n, await MODULES[n](testConfig(n, { ADMIN_URL: adminUrl, JWKS_CACHE_MAX_AGE_SECONDS: '1', JWKS_COOLDOWN_SECONDS: '1' }))] as const),
    );
    modules = { admin: adminService, ...Object.fromEntries(others) } as Record<ModuleName, RunningService>;
    admin = await adminToken(adminUrl);
  });
  after(() => stopAll(Object.values(modules ?? {})));

  describe('the token endpoint', () => {
    it('when JSON credentials are posted, then a Bearer token with every claim and a kid is issued', async () => {
      const answer = await requestToken(adminUrl, {
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID, client_secret: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET }),
      });
      assert.equal(answer.status, 200);
      assert.equal(answer.body.token_type, 'Bearer');
      assert.equal(answer.body.expires_in, 1800);
      const token = answer.body.access_token as string;
      const claims = claimsOf(token);
      for (const claim of ['iss', 'sub', 'aud', 'iat', 'nbf', 'exp', 'jti', 'role']) assert.ok(claim in claims, `missing ${claim}`);
      assert.equal(claims.iss, 'artstore-admin');
      assert.equal(claims.aud, 'artstore');
      assert.equal(claims.role, 'admin');
      assert.equal(claims.exp! - claims.iat!, 1800);
      const jwks = (await (await fetch(`${adminUrl}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
      assert.ok(jwks.keys.some((k) => k.kid === kidOf(token) && k.use === 'sig' && k.alg === 'RS256'));
    });

    it('when the OAuth2 client-credentials form or HTTP Basic is used, then a token is issued too', async () => {
      const { service_account, client_secret } = await accountWithToken(adminUrl, admin, 'reader');
      const form = await requestToken(adminUrl, {
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: service_account.client_id, client_secret }).toString(),
      });
      assert.equal(form.status, 200, JSON.stringify(form.body));
      const basic = await requestToken(adminUrl, {
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Authorization: `Basic ${Buffer.from(`${service_account.client_id}:${client_secret}`).toString('base64')}`,
        },
        body: 'grant_type=client_credentials',
      });
      assert.equal(basic.status, 200, JSON.stringify(basic.body));
      assert.equal(claimsOf(basic.body.access_token as string).role, 'reader');
    });

    it('when the credentials are wrong, unknown or suspended, then every answer is the same OAuth2 401', async () => {
      const { service_account, client_secret } = await accountWithToken(adminUrl, admin, 'ingester');
      const post = (client_id: string, secret: string) =>
        requestToken(adminUrl, { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ client_id, client_secret: secret }) });
      const wrong = await post(service_account.client_id, `${client_secret}x`);
      const unknown = await post('nobody-here', client_secret);
      await fetch(`${adminUrl}/api/v1/service-accounts/${service_account.id}/suspend`, { method: 'POST', ...bearer(admin) });
      const suspended = await post(service_account.client_id, client_secret);
      for (const answer of [wrong, unknown, suspended]) {
        assert.equal(answer.status, 401);
        assert.deepEqual(answer.body, { error: 'invalid_client', error_description: 'Client authentication failed' });
      }
    });

    it('when an account changes on one admin replica, then another replica that cached it follows at once', async () => {
      const replica = await MODULES.admin(testConfig('admin'));
      try {
        const { service_account, client_secret } = await accountWithToken(adminUrl, admin, 'reader');
        const post = (url: string, secret: string) =>
          requestToken(url, {
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ client_id: service_account.client_id, client_secret: secret }),
          });
        assert.equal((await post(replica.url, client_secret)).status, 200, 'the replica issues (and now caches the account)');

        const rotated = await fetch(`${adminUrl}/api/v1/service-accounts/${service_account.id}/rotate-secret`, { method: 'POST', ...bearer(admin) });
        const { client_secret: newSecret } = (await rotated.json()) as { client_secret: string };
        await waitFor(async () => (await post(replica.url, newSecret)).status === 200, {
          timeoutMs: NOTICE_WITHIN_MS,
          message: 'the replica to accept the rotated secret',
        });

        await fetch(`${adminUrl}/api/v1/service-accounts/${service_account.id}/suspend`, { method: 'POST', ...bearer(admin) });
        await waitFor(async () => (await post(replica.url, newSecret)).status === 401, {
          timeoutMs: NOTICE_WITHIN_MS,
          message: 'the replica to refuse the suspended account',
        });
      } finally {
        await replica.stop();
      }
    });

    it('when a client_id or account name holds NUL or control characters, then it is refused cleanly, never a 500', async () => {
      const token = await requestToken(adminUrl, {
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: 'a\u0000b', client_secret: 'x' }),
      });
      assert.equal(token.status, 401);
      for (const name of ['nul\u0000name', 'escape\u001b[31m', 'line\nbreak']) {
        const created = await fetch(`${adminUrl}/api/v1/service-accounts`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ name, role: 'reader' }),
        });
        assert.equal(created.status, 400, JSON.stringify(name));
        assert.match(((await created.json()) as { error: { message: string } }).error.message, /control characters/);
      }
    });

    it('when the request is malformed, then it is a 400 invalid_request or unsupported_grant_type', async () => {
      const json = (body: unknown) => requestToken(adminUrl, { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal((await json({})).body.error, 'invalid_request');
      assert.equal((await json({ client_id: 5, client_secret: [] })).body.error, 'invalid_request');
      assert.equal((await json({ grant_type: 'password', client_id: 'a', client_secret: 'b' })).body.error, 'unsupported_grant_type');
      const noGrant = await requestToken(adminUrl, { headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'client_id=a&client_secret=b' });
      assert.equal(noGrant.status, 400);
      assert.equal(noGrant.body.error, 'invalid_request');
    });
  });

  it('when admin issues a token, then all four modules accept it', async () => {
    const { token } = await accountWithToken(adminUrl, admin, 'reader');
    for (const name of moduleNames) {
      const res = await whoami(modules[name], token);
      assert.equal(res.status, 200, `${name}: ${await res.clone().text()}`);
      const body = (await res.json()) as { service: string; principal: { role: string } };
      assert.equal(body.service, name);
      assert.equal(body.principal.role, 'reader');
    }
  });

  it('when a valid token has the wrong role, then the answer is 403', async () => {
    const { token } = await accountWithToken(adminUrl, admin, 'reader');
    const res = await fetch(`${adminUrl}/api/v1/service-accounts`, bearer(token));
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'forbidden');
  });

  describe('forged and broken tokens', () => {
    let genuine: string;
    let signingKey: Awaited<ReturnType<ReturnType<ReturnType<typeof createKeyService>['signingKeys']>['current']>>;
    let publicJwk: JWK;

    before(async () => {
      genuine = await adminToken(adminUrl);
      const deps = modules.admin.deps;
      const keys = createKeyService({ config: deps.config, prisma: deps.prisma, redis: deps.redis, logger: deps.logger });
      signingKey = await keys.signingKeys().current();
      const jwks = (await (await fetch(`${adminUrl}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
      publicJwk = jwks.keys.find((k) => k.kid === signingKey.kid)!;
    });

    const cases = forgedTokens(() => ({ genuine, signingKey, publicJwk }));
    for (const [name, make] of Object.entries(cases)) {
      it(`when ${name} is presented, then every module answers 401`, async () => {
        const token = await make();
        for (const module of moduleNames) {
          const res = await whoami(modules[module], token);
          assert.equal(res.status, 401, `${module} accepted ${name}`);
          assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid_token');
        }
      });
    }

    it('when no token or a non-bearer header is sent, then the answer is 401 missing_token with a challenge', async () => {
      for (const headers of [{}, { Authorization: 'Basic abc' }, { Authorization: 'Bearer' }] as Record<string, string>[]) {
        const res = await fetch(`${modules.query.url}/api/v1/auth/whoami`, { headers });
        assert.equal(res.status, 401);
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
      }
    });

    it('when a flood of made-up kids arrives, then the JWKS is refetched at most once per cooldown', async function () {
      this.timeout(30_000);
      const flooded = await MODULES.query(testConfig('query', { ADMIN_URL: adminUrl, JWKS_COOLDOWN_SECONDS: '30', JWKS_CACHE_MAX_AGE_SECONDS: '300' }));
      try {
        assert.equal((await whoami(flooded, genuine)).status, 200, 'warm the JWKS cache');
        const fetches = async () =>
          metricValue(await (await fetch(`${adminUrl}/metrics`)).text(), 'http_requests_total', { route: '/.well-known/jwks.json', status: '200' }) ?? 0;
        const before = await fetches();
        const answers = await Promise.all(Array.from({ length: 200 }, async () => (await whoami(flooded, await cases['an unknown kid']!())).status));
        assert.ok(answers.every((s) => s === 401));
        const refetches = (await fetches()) - before;
        assert.ok(refetches <= 1, `JWKS fetched ${refetches} times for 200 unknown kids`);
      } finally {
        await flooded.stop();
      }
    });
  });

  describe('rotation, retirement and revocation', () => {
    it('when keys rotate, then older tokens keep verifying through the grace period and new tokens carry the new kid', async () => {
      const { token: before } = await accountWithToken(adminUrl, admin, 'reader');
      const oldKid = kidOf(before);
      const rotated = await fetch(`${adminUrl}/api/v1/keys/rotate`, { method: 'POST', ...bearer(admin) });
      assert.equal(rotated.status, 200, await rotated.clone().text());
      const result = (await rotated.json()) as { active_kid: string };
      assert.notEqual(result.active_kid, oldKid);
      const after = await adminToken(adminUrl);
      assert.equal(kidOf(after), result.active_kid);
      for (const name of moduleNames) {
        assert.equal((await whoami(modules[name], before)).status, 200, `${name} refused a grace-period token`);
        assert.equal((await whoami(modules[name], after)).status, 200, `${name} refused a token of the new key`);
      }
    });

    it('when keys rotate twice in a row, then a verifier with a long cache and cooldown accepts the newest key at once', async function () {
      this.timeout(20_000);
      const slow = await MODULES.query(testConfig('query', { ADMIN_URL: adminUrl, JWKS_COOLDOWN_SECONDS: '300', JWKS_CACHE_MAX_AGE_SECONDS: '3600' }));
      try {
        assert.equal((await whoami(slow, await adminToken(adminUrl))).status, 200, 'warm the JWKS cache');
        // The second rotation promotes the key the first one created moments ago: only the
        // jwt-keys-changed notice can have told this verifier about it.
        for (let i = 0; i < 2; i++)
          assert.equal((await fetch(`${adminUrl}/api/v1/keys/rotate`, { method: 'POST', ...bearer(await adminToken(adminUrl)) })).status, 200);
        const newest = await adminToken(adminUrl);
        await waitFor(async () => (await whoami(slow, newest)).status === 200, {
          timeoutMs: NOTICE_WITHIN_MS,
          message: 'the verifier to accept the newest key',
        });
      } finally {
        await slow.stop();
      }
    });

    it('when the grace period is over and the key is retired, then its tokens fail within the verifiers cache age', async function () {
      this.timeout(20_000);
      const old = await adminToken(adminUrl);
      for (const name of moduleNames) assert.equal((await whoami(modules[name], old)).status, 200, `${name} refused a live token`);
      await fetch(`${adminUrl}/api/v1/keys/rotate`, { method: 'POST', ...bearer(admin) });
      const deps = modules.admin.deps;
      const graceOver = new Date(Date.now() + (deps.config.jwt.gracePeriodSeconds + 1) * 1000);
      const cleaned = await cleanupKeys(deps.prisma, graceOver, deps.config.jwt.keyRetentionDays);
      assert.ok(cleaned.retiredKids.includes(kidOf(old)));
      const keys = (await (await fetch(`${adminUrl}/api/v1/keys`, bearer(await adminToken(adminUrl)))).json()) as { keys: { kid: string; state: string }[] };
      assert.equal(keys.keys.find((k) => k.kid === kidOf(old))?.state, 'retired');
      await new Promise((r) => setTimeout(r, 1500)); // the verifiers' JWKS cache age in this suite
      for (const name of moduleNames) {
        assert.equal((await whoami(modules[name], old)).status, 401, `${name} still accepts a retired key`);
      }
    });

    it('when the active key is revoked, then the next key signs at once and old tokens fail within the cache age', async function () {
      this.timeout(20_000);
      // The suite's first admin token was signed by a key an earlier test has since retired.
      const { token: victim } = await accountWithToken(adminUrl, await adminToken(adminUrl), 'ingester');
      const kid = kidOf(victim);
      // Used first, so every verifier holds it as already verified when the key is revoked.
      for (const name of moduleNames) assert.equal((await whoami(modules[name], victim)).status, 200, `${name} refused a live token`);
      const revoked = await fetch(`${adminUrl}/api/v1/keys/${kid}/revoke`, { method: 'POST', ...bearer(await adminToken(adminUrl)) });
      assert.equal(revoked.status, 200, await revoked.clone().text());
      const jwks = (await (await fetch(`${adminUrl}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
      assert.ok(!jwks.keys.some((k) => k.kid === kid), 'a revoked key leaves the JWKS at once');
      const fresh = await tokenFor(adminUrl, TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID, TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET);
      assert.notEqual(kidOf(fresh), kid);
      await new Promise((r) => setTimeout(r, 1500));
      for (const name of moduleNames) {
        assert.equal((await whoami(modules[name], victim)).status, 401, `${name} still accepts a revoked key`);
        assert.equal((await whoami(modules[name], fresh)).status, 200);
      }
    });
  });
});
