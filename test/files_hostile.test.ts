import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitForAuditRows } from './support/audit-rows.ts';
import { multipartBody, startFileArchive, type FileArchive } from './support/file-archive.ts';
import { TEST_SECRETS } from './support/infra.ts';
import { accountWithToken, tokenFor } from './support/tokens.ts';
import { waitFor } from './support/wait-for.ts';

const LIMIT = 64 * 1024;

describe('file archive: roles, limits, hostile names and broken uploads', function () {
  this.timeout(30_000);
  let archive: FileArchive;

  const upload = (body: Buffer, contentType: string, token = archive.tokens.ingester, requestId?: string) =>
    fetch(`${archive.ingester.url}/api/v1/files/upload`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': contentType, ...(requestId ? { 'X-Request-Id': requestId } : {}) },
      body,
    });
  const uploadNamed = (name: string, content = Buffer.from('x'), options: Parameters<typeof multipartBody>[2] = {}) => {
    const form = multipartBody(name, content, options);
    return upload(form.body, form.contentType);
  };
  const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;
  const search = async (name: string) => {
    const res = await fetch(`${archive.query.url}/api/v1/files?name=${encodeURIComponent(name)}`, {
      headers: { Authorization: `Bearer ${archive.tokens.reader}` },
    });
    return ((await res.json()) as { items: { id: string; original_name: string }[] }).items;
  };
  /** Storage holds nothing beyond `expected` content files, and no temporary file once the element has settled. */
  const assertNothingLeft = async (before: string[]) => {
    await waitFor(() => archive.filesUnder(archive.roots.hot), {
      until: (files) => !files.some((f) => f.startsWith('tmp')),
      timeoutMs: 2000,
      message: (files) => `no temporary file among ${files.join(', ')}`,
    });
    assert.deepEqual(await archive.filesUnder(archive.roots.hot), before);
  };

  /** http_requests_total of the ingester's upload route, by status. */
  const uploadsCounted = async () => {
    const text = await (await fetch(`${archive.ingester.url}/metrics`)).text();
    const byStatus = new Map<string, number>();
    for (const [, status, value] of text.matchAll(/^http_requests_total\{method="POST",route="\/api\/v1\/files\/upload",status="([^"]+)"[^}]*\} (\d+)$/gm))
      byStatus.set(status!, Number(value));
    return byStatus;
  };
  const sum = (counted: Map<string, number>) => [...counted.values()].reduce((a, b) => a + b, 0);

  before(async function () {
    this.timeout(60_000);
    archive = await startFileArchive({ UPLOAD_MAX_BYTES: String(LIMIT) });
  });
  after(() => archive?.stop());

  describe('roles', () => {
    it('when a reader tries to upload, then 403 and an authorization_denied row in audit_logs', async () => {
      const form = multipartBody('denied.txt', Buffer.from('nope'));
      const res = await upload(form.body, form.contentType, archive.tokens.reader, 'files-403-upload');
      assert.equal(res.status, 403);
      assert.equal(await errorCode(res), 'forbidden');
      const [row] = await waitForAuditRows('files-403-upload');
      assert.deepEqual([row!.event_type, row!.status, row!.service_account_id], ['authorization_denied', 'denied', archive.accounts.reader]);
      assert.deepEqual(await search('denied.txt'), []);
    });

    it('when an ingester or reader calls a storage element directly, then 403; only the storage account gets through', async () => {
      const sha = 'a'.repeat(64);
      for (const token of [archive.tokens.ingester, archive.tokens.reader]) {
        const res = await fetch(`${archive.hot.url}/api/v1/blobs/${sha}`, { headers: { Authorization: `Bearer ${token}` } });
        assert.equal(res.status, 403);
      }
      const storage = await tokenFor(archive.admin.url, TEST_SECRETS.STORAGE_CLIENT_ID, TEST_SECRETS.STORAGE_CLIENT_SECRET);
      const res = await fetch(`${archive.hot.url}/api/v1/blobs/${sha}`, { headers: { Authorization: `Bearer ${storage}` } });
      assert.equal(res.status, 404);
    });

    it("when an ingester deletes or transfers another account's file, then 403 with a denied file event and the file stays", async () => {
      const res = await uploadNamed('owned-by-first.txt');
      const { id } = (await res.json()) as { id: string };
      const other = await accountWithToken(archive.admin.url, archive.tokens.admin, 'ingester');
      const del = await fetch(`${archive.ingester.url}/api/v1/files/${id}`, {
        method: 'DELETE',
        headers: { Authorization: `Bearer ${other.token}`, 'X-Request-Id': 'files-not-owner' },
      });
      assert.equal(del.status, 403);
      assert.equal(await errorCode(del), 'not_owner');
      const [row] = await waitForAuditRows('files-not-owner');
      assert.deepEqual([row!.event_type, row!.status, row!.resource_id], ['file_delete', 'denied', id]);
      const move = await fetch(`${archive.ingester.url}/api/v1/files/${id}/transfer`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${other.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ target_storage_element: archive.elements.archive }),
      });
      assert.equal(move.status, 403);
      assert.equal((await search('owned-by-first')).length, 1);
    });
  });

  describe('size limit', () => {
    it('when an upload is exactly UPLOAD_MAX_BYTES, then it is accepted', async () => {
      const res = await uploadNamed('exactly-the-limit.bin', randomBytes(LIMIT));
      assert.equal(res.status, 201);
      assert.equal(((await res.json()) as { size: number }).size, LIMIT);
    });

    it('when an upload streams past UPLOAD_MAX_BYTES, then 413, a failure event, and nothing stored on disk or in PostgreSQL', async () => {
      const before = await archive.filesUnder(archive.roots.hot);
      const form = multipartBody('one-byte-too-many.bin', randomBytes(LIMIT + 1));
      const res = await upload(form.body, form.contentType, archive.tokens.ingester, 'files-413');
      assert.equal(res.status, 413);
      assert.equal(await errorCode(res), 'file_too_large');
      await assertNothingLeft(before);
      assert.deepEqual(await search('one-byte-too-many'), []);
      const [row] = await waitForAuditRows('files-413');
      assert.deepEqual([row!.event_type, row!.status, row!.details?.reason], ['file_upload', 'failure', 'file_too_large']);
    });

    it('when a chunked upload without Content-Length keeps going past the limit, then 413 and nothing is left behind', async () => {
      const before = await archive.filesUnder(archive.roots.hot);
      const form = multipartBody('endless.bin', randomBytes(LIMIT * 8));
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request(`${archive.ingester.url}/api/v1/files/upload`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${archive.tokens.ingester}`, 'Content-Type': form.contentType, 'Transfer-Encoding': 'chunked' },
        });
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        for (let at = 0; at < form.body.length; at += 16 * 1024) req.write(form.body.subarray(at, at + 16 * 1024));
        req.end();
      });
      assert.equal(status, 413);
      await assertNothingLeft(before);
      assert.deepEqual(await search('endless'), []);
    });

    it('when the client goes away in the middle of an upload, then no partial content and no metadata remain, and the access log has the request', async () => {
      const before = await archive.filesUnder(archive.roots.hot);
      const uploadsBefore = await uploadsCounted();
      const form = multipartBody('abandoned.bin', randomBytes(LIMIT - 100));
      const req = http.request(`${archive.ingester.url}/api/v1/files/upload`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${archive.tokens.ingester}`, 'Content-Type': form.contentType, 'Content-Length': String(form.body.length) },
      });
      req.on('error', () => undefined);
      req.write(form.body.subarray(0, form.body.length / 2));
      await waitFor(async () => (await archive.filesUnder(archive.roots.hot)).some((f) => f.startsWith('tmp')), {
        timeoutMs: 1000,
        intervalMs: 25,
        message: 'a temporary file of the upload',
      });
      assert.ok(
        (await archive.filesUnder(archive.roots.hot)).some((f) => f.startsWith('tmp')),
        'the content was streaming to the storage element',
      );
      req.destroy();
      await sleep(200);
      await assertNothingLeft(before);
      assert.deepEqual(await search('abandoned'), []);
      const uploadsAfter = await waitFor(uploadsCounted, {
        timeoutMs: 15_000,
        until: (now) => now.size > 0 && sum(now) > sum(uploadsBefore),
        message: 'the abandoned upload counted',
      });
      assert.equal(sum(uploadsAfter), sum(uploadsBefore) + 1, `counted once (${[...uploadsAfter].join('; ')})`);
    });
  });
});
