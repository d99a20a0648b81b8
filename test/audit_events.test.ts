import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { AuditEvent } from '../services/audit-log/events.ts';
import { MaintenanceJob, QueueName } from '../services/platform/queues.ts';
import type { RunningService } from '../services/platform/runtime.ts';
import { start as startMaintenance } from '../workers/maintenance/worker.ts';
import { auditJobs } from './support/audit-jobs.ts';
import { isolatedPrefix, TEST_SECRETS, testConfig, testEnv, testInfra } from './support/infra.ts';
import { MODULES } from './support/modules.ts';
import { accountWithToken, adminToken, claimsOf, requestToken } from './support/tokens.ts';

const run = promisify(execFile);

describe('audit events from their real triggers', () => {
  let prefix: string;
  let admin: RunningService;
  let query: RunningService;
  let adminBearer: string;
  let adminId: string;
  let jobs: ReturnType<typeof auditJobs>;
  const byRequest = (id: string) => (e: AuditEvent) => e.request_id === id;
  const call = (url: string, init: RequestInit & { token?: string; requestId?: string } = {}) =>
    fetch(url, {
      ...init,
      headers: {
        ...(init.token ? { Authorization: `Bearer ${init.token}` } : {}),
        ...(init.requestId ? { 'X-Request-Id': init.requestId } : {}),
        ...(init.body ? { 'Content-Type': 'application/json' } : {}),
        ...(init.headers as Record<string, string>),
      },
    });

  before(async function () {
    this.timeout(60_000);
    prefix = isolatedPrefix('events');
    admin = await MODULES.admin(testConfig('admin', { BULLMQ_PREFIX: prefix }));
    query = await MODULES.query(testConfig('query', { BULLMQ_PREFIX: prefix, ADMIN_URL: admin.url, TRUST_PROXY: 'loopback', JWKS_COOLDOWN_SECONDS: '1' }));
    adminBearer = await adminToken(admin.url);
    adminId = claimsOf(adminBearer).sub!;
    jobs = auditJobs(prefix);
  });
  after(async () => {
    await Promise.all([admin?.stop(), query?.stop()]);
    await jobs?.close();
  });

  describe('the 401/403 middleware', () => {
    it('when a request has no token, then one auth_failure records the client IP, user agent, request id, method and path', async () => {
      const res = await call(`${query.url}/api/v1/auth/whoami?api_key=hidden`, {
        requestId: 'audit-401-a',
        headers: { 'User-Agent': 'audit-test/1.0', 'X-Forwarded-For': '203.0.113.9' },
      });
      assert.equal(res.status, 401);
      const event = await jobs.waitFor(byRequest('audit-401-a'));
      assert.equal(event.event_type, 'auth_failure');
      assert.equal(event.event_category, 'authentication');
      assert.equal(event.status, 'failure');
      assert.equal(event.ip_address, '203.0.113.9', 'TRUST_PROXY=loopback takes the client from X-Forwarded-For');
      assert.equal(event.user_agent, 'audit-test/1.0');
      assert.equal(event.action, 'GET');
      assert.equal(event.resource_type, 'api');
      assert.equal(event.resource_id, '/api/v1/auth/whoami', 'the query string is never recorded');
      assert.equal(event.source, 'query');
      assert.equal(event.details?.reason, 'missing_token');
      await sleep(100);
      assert.equal((await jobs.matching(byRequest('audit-401-a'))).length, 1);
    });

    it('when TRUST_PROXY is off, then a forged X-Forwarded-For is ignored and the socket address is recorded', async () => {
      await call(`${admin.url}/api/v1/keys`, { requestId: 'audit-401-b', headers: { 'X-Forwarded-For': '198.51.100.1' } });
      const event = await jobs.waitFor(byRequest('audit-401-b'));
      assert.equal(event.ip_address, '127.0.0.1');
      assert.equal(event.source, 'admin');
    });

    it('when a reader calls an admin-only route, then authorization_denied with status denied names the caller', async () => {
      const reader = await accountWithToken(admin.url, adminBearer, 'reader');
      const res = await call(`${admin.url}/api/v1/service-accounts`, { token: reader.token, requestId: 'audit-403-a' });
      assert.equal(res.status, 403);
      const event = await jobs.waitFor(byRequest('audit-403-a'));
      assert.equal(event.event_type, 'authorization_denied');
      assert.equal(event.event_category, 'authorization');
      assert.equal(event.status, 'denied');
      assert.equal(event.service_account_id, reader.service_account.id);
      assert.equal(event.details?.client_id, reader.service_account.client_id);
      assert.equal(event.details?.role, 'reader');
    });
  });

  describe('the token endpoint', () => {
    it('when a token is issued, then auth_success names the account and the token id and holds no secret', async () => {
      const answer = await requestToken(admin.url, {
        headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'audit-token-ok', 'User-Agent': 'token-client/2' },
        body: JSON.stringify({ client_id: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID, client_secret: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET }),
      });
      assert.equal(answer.status, 200);
      const event = await jobs.waitFor(byRequest('audit-token-ok'));
      assert.equal(event.event_type, 'auth_success');
      assert.equal(event.status, 'success');
      assert.equal(event.service_account_id, adminId);
      assert.equal(event.resource_type, 'access_token');
      assert.equal(event.resource_id, claimsOf(answer.body.access_token as string).jti);
      assert.equal(event.details?.client_id, TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID);
      assert.equal(event.user_agent, 'token-client/2');
      const stored = JSON.stringify(event);
      assert.ok(!stored.includes(TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET) && !stored.includes(answer.body.access_token as string));
    });

    it('when the secret is wrong, then exactly one auth_failure records the client_id and the reason, never the secret', async () => {
      const wrong = `wrong-${randomUUID()}`;
      const answer = await requestToken(admin.url, {
        headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'audit-token-bad' },
        body: JSON.stringify({ client_id: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID, client_secret: wrong }),
      });
      assert.equal(answer.status, 401);
      const event = await jobs.waitFor(byRequest('audit-token-bad'));
      assert.equal(event.event_type, 'auth_failure');
      assert.equal(event.service_account_id, null);
      assert.deepEqual(event.details, { client_id: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID, reason: 'invalid_client' });
      assert.ok(!JSON.stringify(event).includes(wrong));
      await sleep(100);
      assert.equal((await jobs.matching(byRequest('audit-token-bad'))).length, 1, 'the middleware does not record the 401 a second time');
    });
  });

  describe('administration', () => {
    it('when an admin creates, suspends, re-activates, rotates the secret of and deletes an account, then each change is one event naming both', async () => {
      const created = await call(`${admin.url}/api/v1/service-accounts`, {
        method: 'POST',
        token: adminBearer,
        requestId: 'audit-sa-create',
        body: JSON.stringify({ name: 'audited', role: 'ingester' }),
      });
      assert.equal(created.status, 201);
      const body = (await created.json()) as { service_account: { id: string; client_id: string }; client_secret: string };
      const id = body.service_account.id;
      const steps = [
        ['suspend', 'POST', `/api/v1/service-accounts/${id}/suspend`, 'service_account_updated'],
        ['activate', 'POST', `/api/v1/service-accounts/${id}/activate`, 'service_account_updated'],
        ['rotate_secret', 'POST', `/api/v1/service-accounts/${id}/rotate-secret`, 'secret_rotated'],
        ['delete', 'DELETE', `/api/v1/service-accounts/${id}`, 'service_account_deleted'],
      ] as const;
      const secrets = [body.client_secret];
      for (const [action, method, path] of steps) {
        const res = await call(`${admin.url}${path}`, { method, token: adminBearer, requestId: `audit-sa-${action}` });
        assert.ok(res.status < 300, `${action}: ${res.status}`);
        if (action === 'rotate_secret') secrets.push(((await res.json()) as { client_secret: string }).client_secret);
      }
      const expected = [['create', 'service_account_created'], ...steps.map(([action, , , type]) => [action, type])];
      for (const [action, type] of expected) {
        const event = await jobs.waitFor(byRequest(`audit-sa-${action}`));
        assert.equal(event.event_type, type);
        assert.equal(event.action, action);
        assert.equal(event.status, 'success');
        assert.equal(event.event_category, 'administration');
        assert.equal(event.service_account_id, adminId, 'the actor');
        assert.equal(event.resource_type, 'service_account');
        assert.equal(event.resource_id, id, 'the account acted on');
        assert.equal(event.details?.client_id, body.service_account.client_id);
        for (const secret of secrets) assert.ok(!JSON.stringify(event).includes(secret));
      }
      assert.equal((await jobs.waitFor(byRequest('audit-sa-suspend'))).details?.account_status, 'suspended');
    });

    it('when an admin action is refused, then the attempt is recorded with status failure', async () => {
      const missing = randomUUID();
      const res = await call(`${admin.url}/api/v1/service-accounts/${missing}`, { method: 'DELETE', token: adminBearer, requestId: 'audit-sa-missing' });
      assert.equal(res.status, 404);
      const event = await jobs.waitFor(byRequest('audit-sa-missing'));
      assert.equal(event.event_type, 'service_account_deleted');
      assert.equal(event.status, 'failure');
      assert.equal(event.resource_id, missing);
      assert.equal(event.details?.reason, 'service_account_not_found');
    });
  });

  describe('signing keys', () => {
    it('when an admin rotates the keys and revokes the next key, then key_rotated and key_revoked record it', async () => {
      const rotated = await call(`${admin.url}/api/v1/keys/rotate`, { method: 'POST', token: adminBearer, requestId: 'audit-key-rotate' });
      assert.equal(rotated.status, 200);
      const { active_kid, next_kid } = (await rotated.json()) as { active_kid: string; next_kid: string };
      const rotation = await jobs.waitFor(byRequest('audit-key-rotate'));
      assert.equal(rotation.event_type, 'key_rotated');
      assert.equal(rotation.event_category, 'security');
      assert.equal(rotation.resource_id, active_kid);
      assert.equal(rotation.service_account_id, adminId);
      assert.equal(rotation.details?.trigger, 'api');

      const revoked = await call(`${admin.url}/api/v1/keys/${next_kid}/revoke`, { method: 'POST', token: adminBearer, requestId: 'audit-key-revoke' });
      assert.equal(revoked.status, 200);
      const revocation = await jobs.waitFor(byRequest('audit-key-revoke'));
      assert.equal(revocation.event_type, 'key_revoked');
      assert.equal(revocation.status, 'success');
      assert.equal(revocation.resource_id, next_kid);
    });

    it('when the maintenance worker runs a rotation job, then key_rotated comes from source maintenance with the job id', async function () {
      this.timeout(30_000);
      const worker = await startMaintenance(testConfig('maintenance', { BULLMQ_PREFIX: prefix }));
      const connection = new Redis(testInfra().redisUrl);
      const maintenance = new Queue(QueueName.Maintenance, { connection, prefix });
      try {
        const job = await maintenance.add(MaintenanceJob.RotateJwtKeys, { force: true });
        const event = await jobs.waitFor((e) => e.request_id === job.id, 15_000);
        assert.equal(event.event_type, 'key_rotated');
        assert.equal(event.source, 'maintenance');
        assert.equal(event.details?.trigger, 'job');
      } finally {
        await maintenance.close();
        connection.disconnect();
        await worker.stop();
      }
    });

    it('when npm run keys:rotate runs, then key_rotated comes from source cli', async function () {
      this.timeout(60_000);
      const { stdout } = await run('npx', ['tsx', 'scripts/keys_rotate.ts'], { env: { ...process.env, ...testEnv({ BULLMQ_PREFIX: prefix }) } });
      const { active_kid: activeKid } = JSON.parse(stdout) as { active_kid: string };
      const event = await jobs.waitFor((e) => e.source === 'cli');
      assert.equal(event.event_type, 'key_rotated');
      assert.equal(event.resource_id, activeKid);
      assert.equal(event.details?.trigger, 'cli');
    });
  });
});
