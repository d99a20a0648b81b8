import assert from 'node:assert/strict';
import type { RunningService } from '../../platform/runtime.ts';
import { isolatedPrefix, testConfig } from '../../../test/support/infra.ts';
import { metricValue } from '../../../test/support/modules.ts';
import { accountWithToken, adminToken } from '../../../test/support/tokens.ts';
import { start } from '../app.ts';

describe('Bull Board and queue gauges on the admin module', () => {
  let admin: RunningService;
  let adminBearer: string;

  before(async function () {
    this.timeout(60_000);
    admin = await start(testConfig('admin', { BULLMQ_PREFIX: isolatedPrefix('board') }));
    adminBearer = await adminToken(admin.url);
  });
  after(() => admin?.stop());

  const get = (path: string, token?: string) => fetch(`${admin.url}${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });

  it('when nobody or a non-admin asks for /admin/queues, then 401 and 403 JSON answers refuse them, for the page and its API', async () => {
    const reader = await accountWithToken(admin.url, adminBearer, 'reader');
    for (const path of ['/admin/queues', '/admin/queues/api/queues', '/admin/queues/static/images/logo.svg']) {
      const anonymous = await get(path);
      assert.equal(anonymous.status, 401, path);
      assert.equal(((await anonymous.json()) as { error: { code: string } }).error.code, 'session_required');
      const denied = await get(path, reader.token);
      assert.equal(denied.status, 403, path);
      assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'forbidden');
    }
  });

  it('when an admin opens /admin/queues, then the dashboard page renders and its API lists every queue', async () => {
    const page = await get('/admin/queues', adminBearer);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
    const html = await page.text();
    assert.match(html, /<div id="root">|id="root"/);
    assert.match(html, /\/admin\/queues\//, 'assets are served under the mount path');
    const api = await get('/admin/queues/api/queues', adminBearer);
    assert.equal(api.status, 200);
    const body = (await api.json()) as { queues: { name: string; readOnlyMode: boolean }[] };
    const names = body.queues.map((q) => q.name).sort();
    assert.deepEqual(names, ['audit-dead-letter', 'audit-events', 'maintenance']);
    assert.equal(body.queues.find((q) => q.name === 'audit-events')?.readOnlyMode, true, 'pending audit events cannot be dropped from the board');
    assert.equal(body.queues.find((q) => q.name === 'audit-dead-letter')?.readOnlyMode, true, 'dead-lettered audit events cannot be dropped either');
  });

  it('when an admin tries to empty the audit-events queue through the board, then it is refused, nothing can be added, and the jobs stay', async () => {
    await get('/api/v1/keys'); // a 401, so audit-events holds a job
    const count = async () => metricValue(await (await get('/metrics')).text(), 'bullmq_job_count', { queue: 'audit-events', state: 'waiting' })!;
    const before = await count();
    assert.ok(before >= 1);
    const res = await fetch(`${admin.url}/admin/queues/api/queues/audit-events/empty`, { method: 'PUT', headers: { Authorization: `Bearer ${adminBearer}` } });
    assert.equal(res.status, 405, await res.text());
    const forged = await fetch(`${admin.url}/admin/queues/api/queues/audit-events/add`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${adminBearer}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'record-audit-event', data: {}, options: {} }),
    });
    assert.equal(forged.status, 405, 'nobody adds a hand-made audit event through the board');
    assert.ok((await count()) >= before);
    const other = await fetch(`${admin.url}/admin/queues/api/queues/maintenance/pause`, { method: 'PUT', headers: { Authorization: `Bearer ${adminBearer}` } });
    assert.equal(other.status, 200, 'the maintenance queue stays manageable');
    await fetch(`${admin.url}/admin/queues/api/queues/maintenance/resume`, { method: 'PUT', headers: { Authorization: `Bearer ${adminBearer}` } });
  });

  it('when Prometheus scrapes the admin module, then bullmq_job_count is there for every queue and state', async () => {
    await get('/api/v1/keys'); // a 401, so audit-events holds at least one job
    const text = await (await get('/metrics')).text();
    for (const queue of ['audit-events', 'maintenance']) {
      for (const state of ['waiting', 'active', 'delayed', 'completed', 'failed']) {
        assert.notEqual(metricValue(text, 'bullmq_job_count', { queue, state }), undefined, `${queue} ${state}`);
      }
    }
    assert.ok(metricValue(text, 'bullmq_job_count', { queue: 'audit-events', state: 'waiting' })! >= 1);
  });
});
