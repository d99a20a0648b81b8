import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AuditEvent } from '../services/audit-log/events.ts';
import type { Env } from '../services/platform/config/index.ts';
import type { RunningService } from '../services/platform/runtime.ts';
import { auditJobs, eventsOfJobs } from './support/audit-jobs.ts';
import { isolatedPrefix, TEST_SECRETS, testConfig, testInfra } from './support/infra.ts';
import { MODULES } from './support/modules.ts';
import { startRedisProxy, type RedisProxy } from './support/redis-proxy.ts';
import { adminToken } from './support/tokens.ts';
import { waitFor } from './support/wait-for.ts';

describe('audit delivery while Redis is unreachable', () => {
  let proxy: RedisProxy;
  let prefix: string;
  let spoolDir: string;
  let jobs: ReturnType<typeof auditJobs>;
  const running: RunningService[] = [];
  const startAdmin = async (env: Env = {}) => {
    const admin = await MODULES.admin(testConfig('admin', { REDIS_URL: proxy.url, BULLMQ_PREFIX: prefix, AUDIT_SPOOL_DIR: spoolDir, ...env }));
    running.push(admin);
    return admin;
  };
  const spoolLines = async () =>
    (await readFile(path.join(spoolDir, 'admin.ndjson'), 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as AuditEvent);
  const createAccount = (admin: RunningService, token: string, name: string, requestId: string) =>
    fetch(`${admin.url}/api/v1/service-accounts`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'X-Request-Id': requestId },
      body: JSON.stringify({ name, role: 'reader' }),
    });
  const accountNames = async (admin: RunningService, token: string) => {
    const res = await fetch(`${admin.url}/api/v1/service-accounts?limit=500`, { headers: { Authorization: `Bearer ${token}` } });
    return ((await res.json()) as { items: { name: string }[] }).items.map((a) => a.name);
  };
  /** Cuts Redis and waits until the module's producer connection has noticed. */
  const outage = async (admin: RunningService) => {
    proxy.cut();
    await waitFor(() => admin.deps.redis.status !== 'ready', { message: 'the producer connection to notice the outage' });
  };
  const recovery = async (admin: RunningService) => {
    proxy.restore();
    await waitFor(() => admin.deps.redis.status === 'ready', { message: 'the producer connection to be ready again' });
  };

  beforeEach(async () => {
    proxy = await startRedisProxy(testInfra().redisUrl);
    prefix = isolatedPrefix('delivery');
    spoolDir = await mkdtemp(path.join(tmpdir(), 'audit-spool-'));
    jobs = auditJobs(prefix);
  });
  afterEach(async function () {
    this.timeout(30_000);
    proxy.restore();
    await Promise.all(running.splice(0).map((s) => s.stop()));
    await jobs.close();
    await proxy.close();
    await rm(spoolDir, { recursive: true, force: true });
  });

  it('when AUDIT_DELIVERY=fail-closed, then an admin change answers 503 JSON and changes nothing, and no token or audit read is served', async function () {
    this.timeout(30_000);
    const admin = await startAdmin({ AUDIT_DELIVERY: 'fail-closed' });
    const token = await adminToken(admin.url);
    await outage(admin);

    const res = await createAccount(admin, token, 'never-created', 'fc-create');
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '5');
    assert.deepEqual(((await res.json()) as { error: { code: string } }).error.code, 'audit_unavailable');
    const tokenAnswer = await fetch(`${admin.url}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_id: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID, client_secret: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET }),
    });
    assert.equal(tokenAnswer.status, 503, 'no token is handed out unaudited');
    assert.equal(((await tokenAnswer.json()) as { access_token?: string }).access_token, undefined);
    const read = await fetch(`${admin.url}/api/v1/audit/logs`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(read.status, 503, 'an audit log read that cannot be audited returns nothing');
    assert.equal(((await read.json()) as { items?: unknown }).items, undefined);
    assert.deepEqual(await spoolLines(), []);

    await recovery(admin);
    assert.ok(!(await accountNames(admin, token)).includes('never-created'), 'nothing changed');
    assert.deepEqual(await jobs.matching((e) => e.request_id === 'fc-create'), []);
  });

  it('when AUDIT_DELIVERY=fail-closed, then a 401 already sent is spooled and reaches the queue once Redis is back', async function () {
    this.timeout(30_000);
    const admin = await startAdmin({ AUDIT_DELIVERY: 'fail-closed' });
    await outage(admin);
    const res = await fetch(`${admin.url}/api/v1/keys`, { headers: { 'X-Request-Id': 'fc-401' } });
    assert.equal(res.status, 401, 'the answer itself does not change');
    await waitFor(async () => (await spoolLines()).some((e) => e.request_id === 'fc-401'), { message: 'the 401 event in the spool' });
    await recovery(admin);
    const event = await jobs.waitFor((e) => e.request_id === 'fc-401', 10_000);
    assert.equal(event.event_type, 'auth_failure');
    await waitFor(async () => (await spoolLines()).length === 0, { message: 'the spool to empty' });
  });

  it('when AUDIT_DELIVERY=spool, then requests succeed, their events wait fsynced in the spool and reach the queue in order, once each', async function () {
    this.timeout(30_000);
    const admin = await startAdmin({ AUDIT_DELIVERY: 'spool' });
    const token = await adminToken(admin.url);
    await outage(admin);

    for (const n of [1, 2, 3]) assert.equal((await createAccount(admin, token, `spooled-${n}`, `sp-create-${n}`)).status, 201);
    const tokenAnswer = await fetch(`${admin.url}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Request-Id': 'sp-token' },
      body: JSON.stringify({ client_id: 'test-admin', client_secret: 'wrong' }),
    });
    assert.equal(tokenAnswer.status, 401);
    const spooled = await spoolLines();
    assert.deepEqual(
      spooled.map((e) => e.request_id),
      ['sp-create-1', 'sp-create-2', 'sp-create-3', 'sp-token'],
    );
    assert.equal((await jobs.matching((e) => e.request_id?.startsWith('sp-') ?? false)).length, 0);

    await recovery(admin);
    await waitFor(async () => (await spoolLines()).length === 0, { message: 'the spool to empty' });
    const waiting = eventsOfJobs(await jobs.queue.getWaiting(0, -1))
      .map((event) => event.request_id)
      .filter((id) => id?.startsWith('sp-'));
    assert.deepEqual(waiting, ['sp-create-1', 'sp-create-2', 'sp-create-3', 'sp-token']);
    assert.deepEqual(
      (await jobs.events())
        .filter((e) => e.request_id?.startsWith('sp-'))
        .map((e) => e.event_id)
        .sort(),
      spooled.map((e) => e.event_id).sort(),
      'the very events spooled, none lost or doubled',
    );
  });

  it('when the module restarts with a non-empty spool, then the new process replays it', async function () {
    this.timeout(30_000);
    const first = await startAdmin({ AUDIT_DELIVERY: 'spool' });
    const token = await adminToken(first.url);
    await outage(first);
    assert.equal((await createAccount(first, token, 'before-restart', 'sp-restart')).status, 201);
    await first.stop();
    assert.equal((await spoolLines()).length, 1);

    proxy.restore();
    await startAdmin({ AUDIT_DELIVERY: 'spool' });
    const event = await jobs.waitFor((e) => e.request_id === 'sp-restart', 10_000);
    assert.equal(event.event_type, 'service_account_created');
    await waitFor(async () => (await spoolLines()).length === 0, { message: 'the spool to empty' });
  });
});
