import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { AuditEvent } from '../services/audit-log/events.ts';
import { type DeadAuditEventPayload, MaintenanceJob, QueueName } from '../services/platform/queues.ts';
import { answerOf } from './support/answers.ts';
import { type AuditRow, waitForAuditRows } from './support/audit-rows.ts';
import { type FileArchive, multipartBody, startFileArchive } from './support/file-archive.ts';
import { testInfra } from './support/infra.ts';
import { metricValue } from './support/modules.ts';
import { claimsOf } from './support/tokens.ts';
import { waitFor } from './support/wait-for.ts';

describe('nothing an attacker does escapes the audit log', function () {
  this.timeout(20_000);
  let archive: FileArchive;
  let adminId: string;
  let connection: Redis;

  const requestId = (name: string) => `${name}-${randomBytes(4).toString('hex')}`;
  const as = (token: string, id: string, extra: Record<string, string> = {}) => ({ Authorization: `Bearer ${token}`, 'X-Request-Id': id, ...extra });
  /** The one stored row of a request with this event type, waiting for the writer. */
  const storedEvent = async (id: string, type: string): Promise<AuditRow> => {
    const rows = await waitFor(async () => (await waitForAuditRows(id)).filter((row) => row.event_type === type), {
      message: `a stored ${type} event for request ${id}`,
    });
    assert.equal(rows.length, 1, `${type} events of ${id}`);
    return rows[0]!;
  };
  /**
   * Writes requests on one raw connection (pipelined when several) and closes it as soon as they are
   * sent, before any answer: Node then never emits 'finish' for their responses.
   */
  const sendAndHangUp = (base: string, ...requests: [method: string, path: string, headers: Record<string, string>][]) =>
    new Promise<void>((resolve, reject) => {
      const { hostname, port } = new URL(base);
      const raw = requests
        .map(([method, path, headers]) => {
          const lines = Object.entries({ Host: hostname, ...headers, 'Content-Length': '0' }).map(([name, value]) => `${name}: ${value}\r\n`);
          return `${method} ${path} HTTP/1.1\r\n${lines.join('')}\r\n`;
        })
        .join('');
      const socket = connect(Number(port), hostname, () => {
        socket.write(raw, () => {
          socket.destroy();
          resolve();
        });
      });
      socket.on('error', reject);
    });
  const rejectedByWriter = async () => metricValue(await (await fetch(`${archive.writer.url}/metrics`)).text(), 'audit_log_rejected_total') ?? 0;

  before(async function () {
    this.timeout(60_000);
    archive = await startFileArchive();
    adminId = claimsOf(archive.tokens.admin).sub!;
    connection = new Redis(testInfra().redisUrl);
  });
  after(async () => {
    connection?.disconnect();
    await archive?.stop();
  });

  describe('content on the storage element', () => {
    const content = randomBytes(64 * 1024);
    const sha256 = createHash('sha256').update(content).digest('hex');
    let fileId: string;
    const blob = (sha: string) => `${archive.hot.url}/api/v1/blobs/${sha}`;

    before(async () => {
      const { body, contentType } = multipartBody('evidence.bin', content);
      const res = await fetch(`${archive.ingester.url}/api/v1/files/upload`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${archive.tokens.ingester}`, 'Content-Type': contentType },
        body,
      });
      assert.equal(res.status, 201, await res.clone().text());
      fileId = ((await res.json()) as { id: string }).id;
    });

    it("when an admin reads a blob straight from the storage element, then it is served and a blob_read event names the admin's account", async () => {
      const id = requestId('blob-read');
      const res = await fetch(blob(sha256), { headers: as(archive.tokens.admin, id) });
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(content));
      const event = await storedEvent(id, 'blob_read');
      assert.deepEqual([event.status, event.service_account_id, event.resource_id], ['success', adminId, sha256]);
    });

    it('when an admin deletes content a live file points at, then 409 content_in_use, the file still downloads, and the refusal is audited', async () => {
      const id = requestId('blob-delete-in-use');
      assert.equal(await answerOf(await fetch(blob(sha256), { method: 'DELETE', headers: as(archive.tokens.admin, id) })), '409 content_in_use');
      const download = await fetch(`${archive.query.url}/api/v1/files/${fileId}/download`, { headers: as(archive.tokens.reader, requestId('download')) });
      assert.equal(download.status, 200);
      assert.ok(Buffer.from(await download.arrayBuffer()).equals(content));
      const event = await storedEvent(id, 'blob_delete');
      assert.deepEqual([event.status, event.service_account_id, event.details?.reason], ['failure', adminId, 'content_in_use']);
    });

    it('when an admin deletes content no file points at, then 204, the content is gone, and a blob_delete event names the admin', async () => {
      const orphan = randomBytes(1024);
      const stored = await fetch(`${archive.hot.url}/api/v1/blobs`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${archive.tokens.admin}`, 'Content-Type': 'application/octet-stream' },
        body: orphan,
      });
      assert.equal(stored.status, 201);
      const { sha256: orphanSha } = (await stored.json()) as { sha256: string };
      const id = requestId('blob-delete');
      assert.equal((await fetch(blob(orphanSha), { method: 'DELETE', headers: as(archive.tokens.admin, id) })).status, 204);
      assert.equal(await answerOf(await fetch(blob(orphanSha), { headers: as(archive.tokens.admin, requestId('gone')) })), '404 blob_not_found');
      const event = await storedEvent(id, 'blob_delete');
      assert.deepEqual([event.status, event.service_account_id, event.resource_id], ['success', adminId, orphanSha]);
    });
  });

  describe('text PostgreSQL cannot store', () => {
    it('when ids carry %00 and a client id a lone surrogate, then each answer is a 4xx and its event is stored with the value escaped and listed in details.$escaped, and the writer rejects nothing', async () => {
      const rejectedBefore = await rejectedByWriter();
      const attacks: {
        name: string;
        send: (id: string) => Promise<Response>;
        type: string;
        pointer: string;
        stored: (row: AuditRow) => unknown;
        escaped: string;
      }[] = [
        {
          name: 'download of file %00',
          send: (id) => fetch(`${archive.query.url}/api/v1/files/%00/download`, { headers: as(archive.tokens.reader, id) }),
          type: 'file_download',
          pointer: '/resource_id',
          stored: (row) => row.resource_id,
          escaped: '\\u0000',
        },
        {
          name: 'delete of file %00',
          send: (id) => fetch(`${archive.ingester.url}/api/v1/files/%00`, { method: 'DELETE', headers: as(archive.tokens.ingester, id) }),
          type: 'file_delete',
          pointer: '/resource_id',
          stored: (row) => row.resource_id,
          escaped: '\\u0000',
        },
        {
          name: 'suspension of account a%00b',
          send: (id) => fetch(`${archive.admin.url}/api/v1/service-accounts/a%00b/suspend`, { method: 'POST', headers: as(archive.tokens.admin, id) }),
          type: 'service_account_updated',
          pointer: '/resource_id',
          stored: (row) => row.resource_id,
          escaped: 'a\\u0000b',
        },
        {
          name: 'token request for a client id with a lone surrogate',
          // Raw JSON text: JSON.stringify would never write a lone surrogate escape, an attacker's client does.
          send: (id) =>
            fetch(`${archive.admin.url}/api/v1/auth/token`, {
              method: 'POST',
              headers: { 'Content-Type': 'application/json', 'X-Request-Id': id },
              body: '{"client_id":"admin-service\\ud800","client_secret":"x"}',
            }),
          type: 'auth_failure',
          pointer: '/details/client_id',
          stored: (row) => row.details?.client_id,
          escaped: 'admin-service\\ud800',
        },
      ];
      for (const attack of attacks) {
        const id = requestId('unstorable');
        const res = await attack.send(id);
        assert.ok(res.status >= 400 && res.status < 500, `${attack.name}: ${res.status} ${await res.text()}`);
        const event = await storedEvent(id, attack.type);
        assert.equal(attack.stored(event), attack.escaped, attack.name);
        assert.ok((event.details?.$escaped as string[] | undefined)?.includes(attack.pointer), `${attack.name}: ${JSON.stringify(event.details)}`);
      }
      assert.equal(await rejectedByWriter(), rejectedBefore, 'the writer refused an escaped event');
    });

    it('when an insider puts an event holding a raw NUL straight onto audit-events, then the writer keeps it on audit-dead-letter with its reason and counts it as rejected', async () => {
      const rejectedBefore = await rejectedByWriter();
      const id = requestId('insider');
      const event: AuditEvent = {
        event_id: randomUUID(),
        event_type: 'auth_failure',
        event_category: 'authentication',
        timestamp: new Date().toISOString(),
        user_id: null,
        service_account_id: null,
        ip_address: '127.0.0.1',
        user_agent: null,
        resource_type: 'api',
        resource_id: 'a\u0000b',
        action: 'GET',
        status: 'failure',
        details: null,
        source: 'admin',
        request_id: id,
      };
      const events = new Queue(QueueName.AuditEvents, { connection, prefix: archive.prefix });
      const deadLetters = new Queue(QueueName.AuditDeadLetter, { connection, prefix: archive.prefix });
      try {
        await events.add('record-audit-event', event, { jobId: event.event_id });
        const dead = await waitFor(() => deadLetters.getJob(`dead-${event.event_id}`), { message: 'the refused event on audit-dead-letter' });
        const payload = dead.data as DeadAuditEventPayload;
        assert.match(payload.reason, /NUL/);
        assert.equal((payload.payload as AuditEvent).resource_id, 'a\u0000b', 'kept exactly as it arrived');
        await waitFor(async () => (await rejectedByWriter()) === rejectedBefore + 1, { message: 'audit_log_rejected_total to count the refusal' });
      } finally {
        await Promise.all([events.close(), deadLetters.close()]);
      }
    });
  });

  describe('Bull Board', () => {
    let maintenance: Queue;
    const board = (path: string, id: string) =>
      fetch(`${archive.admin.url}/admin/queues/api/queues/${path}`, { method: 'PUT', headers: as(archive.tokens.admin, id) });

    before(async () => {
      maintenance = new Queue(QueueName.Maintenance, { connection, prefix: archive.prefix });
      await maintenance.upsertJobScheduler(MaintenanceJob.RotateJwtKeys, { every: 86_400_000 }, { name: MaintenanceJob.RotateJwtKeys, data: { force: false } });
    });
    after(() => maintenance?.close());

    it("when an admin removes the key-rotation scheduler and pauses and resumes the maintenance queue, then each change is a queue_changed event naming what changed, the action and the admin's account", async () => {
      const changes = [
        { path: 'maintenance/job-schedulers/rotate-jwt-keys/remove', action: 'remove', resource: ['job_scheduler', 'maintenance/rotate-jwt-keys'] },
        { path: 'maintenance/pause', action: 'pause', resource: ['queue', 'maintenance'] },
        { path: 'maintenance/resume', action: 'resume', resource: ['queue', 'maintenance'] },
      ];
      const done: Record<string, unknown>[] = [];
      for (const change of changes) {
        const id = requestId('board');
        const res = await board(change.path, id);
        assert.ok(res.ok, `${change.path}: ${res.status} ${await res.text()}`);
        if (change.action === 'pause') assert.equal(await maintenance.isPaused(), true);
        const event = await storedEvent(id, 'queue_changed');
        done.push({
          action: event.action,
          resource: [event.resource_type, event.resource_id],
          by: event.service_account_id,
          queue: event.details?.queue,
          status: event.status,
        });
      }
      assert.deepEqual(
        done,
        changes.map((c) => ({ action: c.action, resource: c.resource, by: adminId, queue: 'maintenance', status: 'success' })),
      );
      assert.equal(await maintenance.getJobScheduler(MaintenanceJob.RotateJwtKeys), undefined);
      assert.equal(await maintenance.isPaused(), false);
    });

    it('when a change is spelled as the board also understands it (capitals, a trailing slash), then its event still names the action and what changed', async () => {
      const variants = [
        { path: 'maintenance/PAUSE', expected: ['pause', 'queue', 'maintenance'] },
        { path: 'maintenance/pause/', expected: ['pause', 'queue', 'maintenance'] },
        { path: 'maintenance/Pause/', expected: ['pause', 'queue', 'maintenance'] },
        { path: 'maintenance/job-schedulers/rotate-jwt-keys/REMOVE/', expected: ['remove', 'job_scheduler', 'maintenance/rotate-jwt-keys'] },
      ];
      const recorded: Record<string, unknown> = {};
      for (const { path } of variants) {
        await maintenance.upsertJobScheduler(
          MaintenanceJob.RotateJwtKeys,
          { every: 86_400_000 },
          { name: MaintenanceJob.RotateJwtKeys, data: { force: false } },
        );
        const id = requestId('board-variant');
        assert.ok((await board(path, id)).ok, path);
        const changed = path.includes('chedulers')
          ? (await maintenance.getJobScheduler(MaintenanceJob.RotateJwtKeys)) === undefined
          : await maintenance.isPaused();
        assert.ok(changed, `the board did not act on ${path}`);
        await maintenance.resume();
        const event = await storedEvent(id, 'queue_changed');
        recorded[path] = [event.action, event.resource_type, event.resource_id];
      }
      assert.deepEqual(recorded, Object.fromEntries(variants.map((v) => [v.path, v.expected])));
    });

    it('when an admin sends a change and hangs up before the answer, then the board still acts and the change is still a queue_changed event', async () => {
      const id = requestId('board-hang-up');
      await sendAndHangUp(archive.admin.url, ['PUT', '/admin/queues/api/queues/maintenance/pause', as(archive.tokens.admin, id)]);
      await waitFor(() => maintenance.isPaused(), { message: 'the board pausing the queue for a client that left' });
      const event = await storedEvent(id, 'queue_changed');
      assert.deepEqual([event.action, event.resource_type, event.resource_id, event.status], ['pause', 'queue', 'maintenance', 'success']);
      assert.equal(event.service_account_id, adminId);
      await maintenance.resume();
    });

    it('when the change is pipelined behind a read on a connection that then closes, then the board acts and the change is still a queue_changed event', async () => {
      const id = requestId('board-pipelined');
      await sendAndHangUp(
        archive.admin.url,
        ['GET', '/admin/queues/api/queues', as(archive.tokens.admin, requestId('board-read'))],
        ['PUT', '/admin/queues/api/queues/maintenance/pause', as(archive.tokens.admin, id)],
      );
      await waitFor(() => maintenance.isPaused(), { message: 'the board pausing the queue for a pipelined request' });
      const event = await storedEvent(id, 'queue_changed');
      assert.deepEqual([event.action, event.resource_id, event.status], ['pause', 'maintenance', 'success']);
      await maintenance.resume();
    });

    it("when a job's own action is spelled like a queue's (a job named retry, capitals), then the event names that job and its action, as the board reads it", async () => {
      await maintenance.add(MaintenanceJob.RotateJwtKeys, { force: false }, { jobId: 'retry', delay: 3_600_000 });
      try {
        const id = requestId('board-job');
        const runAt = Date.now() + 7_200_000;
        const res = await fetch(`${archive.admin.url}/admin/queues/API/QUEUES/maintenance/retry/DELAY`, {
          method: 'PATCH',
          headers: { ...as(archive.tokens.admin, id), 'Content-Type': 'application/json' },
          body: JSON.stringify({ runAt }),
        });
        assert.equal(res.status, 200, await res.text());
        const job = await maintenance.getJob('retry');
        assert.ok(job && job.delay > 3_600_000, 'the board changed the delay of the job named retry');
        const event = await storedEvent(id, 'queue_changed');
        assert.deepEqual([event.action, event.resource_type, event.resource_id], ['delay', 'job', 'maintenance/retry']);
        assert.equal(event.details?.job_id, 'retry');
      } finally {
        await (await maintenance.getJob('retry'))?.remove();
      }
    });
  });

  describe('clients that hang up before the answer', () => {
    it('when a forged token and a reader token are refused to clients already gone, then each refusal is still one stored event', async () => {
      const forged = requestId('hang-up-401');
      const reader = requestId('hang-up-403');
      await sendAndHangUp(archive.admin.url, ['GET', '/api/v1/service-accounts', as(`${archive.tokens.admin.slice(0, -4)}AAAA`, forged)]);
      await sendAndHangUp(archive.admin.url, ['GET', '/api/v1/service-accounts', as(archive.tokens.reader, reader)]);
      const failure = await storedEvent(forged, 'auth_failure');
      assert.equal(failure.details?.http_status, 401);
      const denied = await storedEvent(reader, 'authorization_denied');
      assert.equal(denied.service_account_id, archive.accounts.reader);
    });
  });

  describe('malformed filters and cursors', () => {
    it('when an audit filter carries NUL, then /audit/logs and /audit/export answer 400, never a 500', async () => {
      for (const endpoint of ['logs', 'export']) {
        for (const filter of ['resource_id', 'service_account_id', 'request_id', 'resource_type', 'source']) {
          const res = await fetch(`${archive.admin.url}/api/v1/audit/${endpoint}?${filter}=a%00b`, {
            headers: as(archive.tokens.admin, requestId('nul-filter')),
          });
          assert.equal(res.status, 400, `${endpoint} ${filter}: ${await res.text()}`);
        }
      }
    });

    it('when a service-account cursor is not one the API made, then the answer is 400 invalid_cursor', async () => {
      const cursors = ['2026-01-01T00:00:00Z|notuuid', `2026-01-01T00:00:00Z|${randomUUID()}\u0000`, `not-a-date|${randomUUID()}`, '|'].map((text) =>
        Buffer.from(text).toString('base64url'),
      );
      for (const cursor of [...cursors, '%00', '!!!']) {
        const res = await fetch(`${archive.admin.url}/api/v1/service-accounts?cursor=${cursor}`, { headers: as(archive.tokens.admin, requestId('cursor')) });
        assert.equal(await answerOf(res), '400 invalid_cursor', cursor);
      }
    });
  });
});
