import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { FileView } from '../services/file-archive/file-view.ts';
import { waitForAuditRows } from './support/audit-rows.ts';
import { startFileArchive, type FileArchive } from './support/file-archive.ts';

const run = promisify(execFile);

describe('file archive end to end (upload → search → download → transfer → delete)', function () {
  this.timeout(30_000);
  let archive: FileArchive;
  let dir: string;
  const content = randomBytes(300 * 1024 + 7);
  const sha256 = createHash('sha256').update(content).digest('hex');
  let file: FileView;

  const as = (token: string, requestId?: string, extra: Record<string, string> = {}) => ({
    Authorization: `Bearer ${token}`,
    ...(requestId ? { 'X-Request-Id': requestId } : {}),
    ...extra,
  });
  const contentPath = () => path.join('blobs', sha256.slice(0, 2), sha256.slice(2, 4), sha256);

  before(async function () {
    this.timeout(60_000);
    archive = await startFileArchive();
    dir = await mkdtemp(path.join(os.tmpdir(), 'artstore-e2e-'));
  });
  after(async () => {
    await archive?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('when a file is uploaded with curl -F file=@…, then it is stored under its sha256 and described in PostgreSQL', async () => {
    const local = path.join(dir, 'Quarterly-Report.txt');
    await writeFile(local, content);
    const { stdout } = await run('curl', [
      '-sS',
      '-X',
      'POST',
      `${archive.ingester.url}/api/v1/files/upload`,
      '-H',
      `Authorization: Bearer ${archive.tokens.ingester}`,
      '-H',
      'X-Request-Id: e2e-upload',
      '-F',
      `file=@${local}`,
      '-w',
      '\n%{http_code}',
    ]);
    const [body, status] = [stdout.slice(0, stdout.lastIndexOf('\n')), stdout.slice(stdout.lastIndexOf('\n') + 1)];
    assert.equal(status, '201', body);
    file = JSON.parse(body) as FileView;
    assert.equal(file.original_name, 'Quarterly-Report.txt');
    assert.equal(file.size, content.length);
    assert.equal(file.sha256, sha256);
    assert.equal(file.content_type, 'text/plain');
    assert.equal(file.owner_id, archive.accounts.ingester);
    assert.equal(file.storage_element_id, archive.elements.hot);
    assert.deepEqual(await archive.filesUnder(archive.roots.hot), [contentPath()]);

    const [row] = await waitForAuditRows('e2e-upload');
    assert.equal(row!.event_type, 'file_upload');
    assert.equal(row!.status, 'success');
    assert.equal(row!.resource_type, 'file');
    assert.equal(row!.resource_id, file.id);
    assert.equal(row!.service_account_id, archive.accounts.ingester);
    assert.deepEqual([row!.details?.file_name, row!.details?.file_size], ['Quarterly-Report.txt', content.length]);
  });

  it('when a reader searches for part of the name in another case, then the file is found and its metadata matches', async () => {
    const res = await fetch(`${archive.query.url}/api/v1/files?name=${encodeURIComponent('RTERLY-rep')}`, { headers: as(archive.tokens.reader) });
    assert.equal(res.status, 200);
    const page = (await res.json()) as { items: FileView[] };
    assert.deepEqual(
      page.items.map((f) => f.id),
      [file.id],
    );
    const meta = await fetch(`${archive.query.url}/api/v1/files/${file.id}`, { headers: as(archive.tokens.reader) });
    assert.deepEqual(await meta.json(), page.items[0]);
  });

  it('when a reader downloads the file, then the bytes are identical, with Content-Length, the sha256 as ETag and an attachment disposition', async () => {
    const res = await fetch(`${archive.query.url}/api/v1/files/${file.id}/download`, { headers: as(archive.tokens.reader, 'e2e-download') });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-length'), String(content.length));
    assert.equal(res.headers.get('etag'), `"${sha256}"`);
    assert.equal(res.headers.get('content-type'), 'text/plain');
    assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="Quarterly-Report.txt"; filename\*=UTF-8''Quarterly-Report.txt$/);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(content));
    const [row] = await waitForAuditRows('e2e-download');
    assert.deepEqual([row!.event_type, row!.status, row!.resource_id], ['file_download', 'success', file.id]);
  });

  it('when a range is asked for, then 206 carries exactly those bytes; a range past the end gets 416', async () => {
    const partial = await fetch(`${archive.query.url}/api/v1/files/${file.id}/download`, {
      headers: as(archive.tokens.reader, undefined, { Range: 'bytes=1000-1999' }),
    });
    assert.equal(partial.status, 206);
    assert.equal(partial.headers.get('content-range'), `bytes 1000-1999/${content.length}`);
    assert.ok(Buffer.from(await partial.arrayBuffer()).equals(content.subarray(1000, 2000)));

    const suffix = await fetch(`${archive.query.url}/api/v1/files/${file.id}/download`, {
      headers: as(archive.tokens.reader, undefined, { Range: 'bytes=-10' }),
    });
    assert.equal(suffix.status, 206);
    assert.ok(Buffer.from(await suffix.arrayBuffer()).equals(content.subarray(-10)));

    const beyond = await fetch(`${archive.query.url}/api/v1/files/${file.id}/download`, {
      headers: as(archive.tokens.reader, undefined, { Range: `bytes=${content.length}-` }),
    });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get('content-range'), `bytes */${content.length}`);
    assert.equal(((await beyond.json()) as { error: { code: string } }).error.code, 'range_not_satisfiable');
  });

  it('when the file is transferred to the other storage element, then its content moves there and downloads stay identical', async () => {
    const res = await fetch(`${archive.ingester.url}/api/v1/files/${file.id}/transfer`, {
      method: 'POST',
      headers: as(archive.tokens.ingester, 'e2e-transfer', { 'Content-Type': 'application/json' }),
      body: JSON.stringify({ target_storage_element: archive.elements.archive }),
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as FileView).storage_element_id, archive.elements.archive);
    assert.deepEqual(await archive.filesUnder(archive.roots.archive), [contentPath()]);
    assert.deepEqual(await archive.filesUnder(archive.roots.hot), [], 'the source copy is removed');

    const meta = (await (await fetch(`${archive.query.url}/api/v1/files/${file.id}`, { headers: as(archive.tokens.reader) })).json()) as FileView;
    assert.equal(meta.storage_element_id, archive.elements.archive);
    const download = await fetch(`${archive.query.url}/api/v1/files/${file.id}/download`, { headers: as(archive.tokens.reader) });
    assert.ok(Buffer.from(await download.arrayBuffer()).equals(content));
    const [row] = await waitForAuditRows('e2e-transfer');
    assert.deepEqual(
      [row!.event_type, row!.status, row!.details?.from_storage_element, row!.details?.to_storage_element],
      ['file_transfer', 'success', archive.elements.hot, archive.elements.archive],
    );
  });

  it('when an admin looks at the storage elements, then each shows whether it answers and its file count and bytes', async () => {
    const res = await fetch(`${archive.admin.url}/api/v1/storage-elements`, { headers: as(archive.tokens.admin) });
    assert.equal(res.status, 200);
    const { items } = (await res.json()) as { items: { id: string; status: string; file_count: number; total_bytes: number; base_url: string }[] };
    const mine = Object.fromEntries(items.map((e) => [e.id, e]));
    assert.deepEqual(
      [mine[archive.elements.archive]?.file_count, mine[archive.elements.archive]?.total_bytes, mine[archive.elements.archive]?.status],
      [1, content.length, 'up'],
    );
    assert.deepEqual([mine[archive.elements.hot]?.file_count, mine[archive.elements.hot]?.base_url], [0, archive.hot.url]);
    const asReader = await fetch(`${archive.admin.url}/api/v1/storage-elements`, { headers: as(archive.tokens.reader) });
    assert.equal(asReader.status, 403);
  });

  it('when the file is deleted, then its metadata, download and search answer nothing and its content is gone from disk', async () => {
    const res = await fetch(`${archive.ingester.url}/api/v1/files/${file.id}`, { method: 'DELETE', headers: as(archive.tokens.ingester, 'e2e-delete') });
    assert.equal(res.status, 204);
    assert.deepEqual(await archive.filesUnder(archive.roots.archive), []);
    for (const url of [`/api/v1/files/${file.id}`, `/api/v1/files/${file.id}/download`]) {
      const gone = await fetch(`${archive.query.url}${url}`, { headers: as(archive.tokens.reader) });
      assert.equal(gone.status, 404, url);
      assert.equal(((await gone.json()) as { error: { code: string } }).error.code, 'file_not_found');
    }
    const search = await fetch(`${archive.query.url}/api/v1/files?name=quarterly`, { headers: as(archive.tokens.reader) });
    assert.deepEqual(((await search.json()) as { items: unknown[] }).items, []);
    const again = await fetch(`${archive.ingester.url}/api/v1/files/${file.id}`, { method: 'DELETE', headers: as(archive.tokens.ingester) });
    assert.equal(again.status, 404);
    const [row] = await waitForAuditRows('e2e-delete');
    assert.deepEqual([row!.event_type, row!.status, row!.resource_id, row!.details?.file_name], ['file_delete', 'success', file.id, 'Quarterly-Report.txt']);
  });
});
