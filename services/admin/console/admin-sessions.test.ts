import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { RunningService } from '../../platform/runtime.ts';
import { isolatedPrefix, TEST_SECRETS, testConfig, testInfra } from '../../../test/support/infra.ts';
import { auditJobs } from '../../../test/support/audit-jobs.ts';
import { accountWithToken, adminToken, requestToken } from '../../../test/support/tokens.ts';
import { createAdminSessions } from './admin-sessions.ts';
import { start } from '../app.ts';

describe('Admin console sessions, as an attacker would try them', function () {
  this.timeout(60_000);
  let admin: RunningService;
  let bearer: string;
  let prefix: string;

  before(async () => {
    prefix = isolatedPrefix('sessions');
    admin = await start(testConfig('admin', { BULLMQ_PREFIX: prefix }));
    bearer = await adminToken(admin.url);
  });
  after(() => admin?.stop());

  /** The login form posted to an admin module, from its own origin unless `headers` say otherwise. */
  const formAt = (url: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${url}/admin/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: url, ...headers },
      body: new URLSearchParams(fields),
    });
  const form = (fields: Record<string, string>, headers: Record<string, string> = {}) => formAt(admin.url, fields, headers);
  const sessionCookie = (res: Response) => /^(artstore_admin=[^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
  const board = (cookie: string) => fetch(`${admin.url}/admin/queues/api/queues`, { headers: { Cookie: cookie } });

  it('when the login form names another site as the place to go next, then the admin is sent to the console instead', async () => {
    for (const next of ['//evil.example/x', 'https://evil.example/', '/\\evil.example', '/admin/../../evil', '/admin/%2e%2e/evil', '/api/v1/keys']) {
      const res = await form({ client_id: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID, client_secret: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET, next });
      assert.equal(res.status, 303, next);
      assert.equal(res.headers.get('location'), '/admin/queues', next);
    }
  });

  it('when a login form comes from another origin, then it is refused before any credential is checked', async () => {
    const res = await form(
      { client_id: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID, client_secret: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET },
      { Origin: 'http://evil.example', Accept: 'text/html' },
    );
    assert.equal(res.status, 403);
    assert.equal(sessionCookie(res), undefined);
    assert.match(await res.text(), /must be sent from this site/);
  });

  it('when someone guesses a secret at the form, then the token endpoint locks that client too, and both answer 429', async () => {
    const victim = await accountWithToken(admin.url, bearer, 'admin');
    const clientId = victim.service_account.client_id;
    const answers: number[] = [];
    for (let i = 0; i < 6; i++) answers.push((await form({ client_id: clientId, client_secret: `guess-${i}` })).status);
    assert.deepEqual(answers.slice(0, 5), [401, 401, 401, 401, 401]);
    assert.equal(answers[5], 429);
    const right = await form({ client_id: clientId, client_secret: victim.client_secret });
    assert.equal(right.status, 429, 'the right secret does not get through a lock');
    assert.ok(Number(right.headers.get('retry-after')) > 0);
    assert.match(await right.text(), /Too many failed attempts/);
    const token = await requestToken(admin.url, {
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_id: clientId, client_secret: victim.client_secret }),
    });
    assert.equal(token.status, 429, 'the lock the form caused holds at the token endpoint');
  });

  it('when a wrong secret is sent at the form, then an auth_failure admin_login event names the client and no session is made', async () => {
    const victim = await accountWithToken(admin.url, bearer, 'admin');
    const clientId = victim.service_account.client_id;
    const jobs = auditJobs(prefix);
    try {
      const res = await form({ client_id: clientId, client_secret: 'not-the-secret' });
      assert.equal(res.status, 401);
      assert.equal(sessionCookie(res), undefined);
      const failure = await jobs.waitFor(
        (event) => event.event_type === 'auth_failure' && event.action === 'admin_login' && event.details?.client_id === clientId,
      );
      assert.equal(failure.status, 'failure');
      assert.equal(failure.details?.reason, 'invalid_client');
      assert.equal(
        (await jobs.matching((event) => event.event_type === 'auth_success' && event.action === 'admin_login' && event.details?.client_id === clientId)).length,
        0,
      );
    } finally {
      await jobs.close();
    }
  });

  it('when a script with an admin bearer token asks Bull Board to empty the audit queue, then the board refuses in its own error shape and no job goes', async () => {
    const jobs = auditJobs(prefix);
    try {
      const before = (await jobs.jobs()).length;
      assert.ok(before > 0, 'the logins above left audit jobs on the queue');
      const res = await fetch(`${admin.url}/admin/queues/api/queues/audit-events/empty`, { method: 'PUT', headers: { Authorization: `Bearer ${bearer}` } });
      assert.equal(res.status, 405);
      assert.deepEqual(await res.json(), { error: { key: 'ERRORS.QUEUE_READ_ONLY' } });
      assert.ok((await jobs.jobs()).length >= before, 'nothing was removed from the audit queue');
    } finally {
      await jobs.close();
    }
  });

  it('when malformed credentials reach the form (NUL, lone surrogate, a megabyte), then the answer is a 401 page, never a 500', async () => {
    for (const clientId of ['admin\u0000', 'x\ud800y', 'a'.repeat(1_000_000)]) {
      const res = await form({ client_id: clientId, client_secret: 's' });
      assert.ok([401, 413].includes(res.status), `${res.status} for a client id of ${clientId.length} characters`);
      assert.equal(sessionCookie(res), undefined);
    }
  });

  it('when an admin account with a live session is suspended, or its tokens revoked, then the session stops working at once', async () => {
    for (const end of ['suspend', 'revoke-tokens'] as const) {
      const other = await accountWithToken(admin.url, bearer, 'admin');
      const login = await form({ client_id: other.service_account.client_id, client_secret: other.client_secret });
      const cookie = sessionCookie(login)!;
      assert.ok(cookie, 'logged in');
      assert.equal((await board(cookie)).status, 200);
      const changed = await fetch(`${admin.url}/api/v1/service-accounts/${other.service_account.id}/${end}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${bearer}` },
      });
      assert.equal(changed.status, 200);
      const after = await board(cookie);
      assert.equal(after.status, 401, end);
      assert.equal(((await after.json()) as { error: { code: string } }).error.code, 'session_required');
    }
  });

  it('when a session cookie is forged or copied from a value Redis holds, then it opens nothing', async () => {
    const login = await form({ client_id: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID, client_secret: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET });
    const redis = new Redis(testInfra().redisUrl);
    try {
      const keys = await redis.keys(`${prefix}:admin-session:*`);
      assert.ok(keys.length >= 1);
      const stored = keys.map((key) => key.slice(key.lastIndexOf(':') + 1));
      for (const value of [...stored, 'A'.repeat(43), '../../etc', '']) {
        assert.equal((await board(`artstore_admin=${value}`)).status, 401, value);
      }
      assert.ok(!stored.some((digest) => sessionCookie(login)?.includes(digest)), 'Redis holds a digest of the id, not the id');
    } finally {
      redis.disconnect();
    }
  });

  it('when a session outlives the token lifetime after its tokens were revoked, then it still stays ended: the revocation is not forgotten with the tokens', async () => {
    // Tokens of 10 s and no tolerance: the verifiers forget a not-before 10 s after it, a session lives on.
    const short = await start(
      testConfig('admin', {
        BULLMQ_PREFIX: isolatedPrefix('sessions-revoked'),
        JWT_ACCESS_TOKEN_TTL_SECONDS: '10',
        JWT_CLOCK_TOLERANCE_SECONDS: '0',
        JWT_KEY_GRACE_PERIOD_SECONDS: '10',
        TOKEN_REVOCATION_RESYNC_SECONDS: '1',
      }),
    );
    try {
      const other = await accountWithToken(short.url, await adminToken(short.url), 'admin');
      const login = await formAt(short.url, { client_id: other.service_account.client_id, client_secret: other.client_secret });
      const cookie = sessionCookie(login)!;
      assert.ok(cookie, 'logged in');
      const revoked = await fetch(`${short.url}/api/v1/service-accounts/${other.service_account.id}/revoke-tokens`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${await adminToken(short.url)}` },
      });
      assert.equal(revoked.status, 200);
      // The stolen cookie lies low past the token window and a resync that prunes the not-before.
      await sleep(12_500);
      const board = await fetch(`${short.url}/admin/queues/api/queues`, { headers: { Cookie: cookie } });
      assert.equal(board.status, 401);
      assert.equal(((await board.json()) as { error: { code: string } }).error.code, 'session_required');
    } finally {
      await short.stop();
    }
  });

  it("when a site the API's CORS whitelist trusts reads the board with the admin's cookie, then no CORS header lets it, preflight included; the API keeps its CORS", async () => {
    const trusted = 'https://app.example.com';
    const other = await start(testConfig('admin', { BULLMQ_PREFIX: isolatedPrefix('sessions-cors'), CORS_ALLOWED_ORIGINS: trusted }));
    try {
      const login = await formAt(other.url, { client_id: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID, client_secret: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET });
      const cookie = sessionCookie(login)!;
      assert.ok(cookie, 'logged in');
      for (const path of ['/admin/queues/api/queues', '/ADMIN/queues/api/queues', '/admin/queues']) {
        const read = await fetch(`${other.url}${path}`, { headers: { Cookie: cookie, Origin: trusted, 'Sec-Fetch-Site': 'same-site' } });
        assert.equal(read.headers.get('access-control-allow-origin'), null, path);
        assert.equal(read.headers.get('access-control-allow-credentials'), null, path);
      }
      const preflight = await fetch(`${other.url}/admin/queues/api/queues/maintenance/pause`, {
        method: 'OPTIONS',
        headers: { Origin: trusted, 'Access-Control-Request-Method': 'PUT' },
      });
      assert.equal(preflight.status, 403);
      assert.equal(((await preflight.json()) as { error: { code: string } }).error.code, 'cors_origin_denied');
      assert.equal(preflight.headers.get('access-control-allow-origin'), null);
      assert.equal(preflight.headers.get('access-control-allow-methods'), null);

      const api = await fetch(`${other.url}/api/v1/auth/whoami`, { headers: { Authorization: `Bearer ${await adminToken(other.url)}`, Origin: trusted } });
      assert.equal(api.status, 200);
      assert.equal(api.headers.get('access-control-allow-origin'), trusted, 'the API still answers the trusted site');
    } finally {
      await other.stop();
    }
  });
});

describe('Admin session lifetimes on real Redis', () => {
  const redis = () => new Redis(testInfra().redisUrl);

  it('when a session is idle past its idle timeout, then it is gone; used within it, it lives on', async () => {
    const connection = redis();
    try {
      const sessions = createAdminSessions(connection, isolatedPrefix('idle'), { idleSeconds: 1, maxSeconds: 60 });
      const kept = await sessions.create({ id: 'a', clientId: 'admin-a' });
      const idle = await sessions.create({ id: 'b', clientId: 'admin-b' });
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        assert.ok(await sessions.resume(kept), 'each use renews the idle timer');
      }
      assert.equal(await sessions.resume(idle), undefined);
    } finally {
      connection.disconnect();
    }
  });

  it('when a busy session reaches its longest life, then it ends however recently it was used', async () => {
    const connection = redis();
    let now = Date.now();
    try {
      const sessions = createAdminSessions(connection, isolatedPrefix('max'), { idleSeconds: 600, maxSeconds: 3600 }, () => now);
      const id = await sessions.create({ id: 'a', clientId: 'admin-a' });
      now += 3599_000;
      assert.ok(await sessions.resume(id));
      now += 2000;
      assert.equal(await sessions.resume(id), undefined);
    } finally {
      connection.disconnect();
    }
  });
});
