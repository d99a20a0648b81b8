import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FileView } from '../services/file-archive/file-view.ts';
import { multipartBody, startFileArchive, type FileArchive } from './support/file-archive.ts';
import { accountWithToken } from './support/tokens.ts';

describe('file search (query module)', function () {
  this.timeout(30_000);
  let archive: FileArchive;
  let files: FileView[];
  let otherOwner: string;
  const tag = randomBytes(3).toString('hex');

  const find = async (query: string) => {
    const res = await fetch(`${archive.query.url}/api/v1/files?${query}`, { headers: { Authorization: `Bearer ${archive.tokens.reader}` } });
    return { status: res.status, body: (await res.json()) as { items: FileView[]; next_cursor: string | null; error?: { code: string; message: string } } };
  };
  /** The given files in the order the API promises: newest first, then by id (uploads may share a millisecond). */
  const newestFirst = (...suffixes: string[]) =>
    files
      .filter((f) => suffixes.some((suffix) => f.original_name === `${tag}-${suffix}`))
      .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id))
      .map((f) => f.original_name);
  const names = async (query: string) => {
    const { status, body } = await find(query);
    assert.equal(status, 200, JSON.stringify(body));
    return body.items.map((f) => f.original_name);
  };

  before(async function () {
    this.timeout(60_000);
    archive = await startFileArchive();
    const second = await accountWithToken(archive.admin.url, archive.tokens.admin, 'ingester');
    otherOwner = second.service_account.id;
    const specs: [string, number, string, string][] = [
      [`${tag}-photo.jpg`, 100, 'image/jpeg', archive.tokens.ingester],
      [`${tag}-scan.png`, 2000, 'image/png', archive.tokens.ingester],
      [`${tag}-notes.txt`, 50, 'text/plain', second.token],
      [`${tag}-report.pdf`, 5000, 'application/pdf', archive.tokens.ingester],
      [`${tag}-Photo-2.JPG`, 300, 'image/jpeg', second.token],
    ];
    files = [];
    for (const [name, size, type, token] of specs) {
      const form = multipartBody(name, randomBytes(size), { contentType: type });
      const res = await fetch(`${archive.ingester.url}/api/v1/files/upload`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': form.contentType },
        body: form.body,
      });
      assert.equal(res.status, 201);
      files.push((await res.json()) as FileView);
      // Distinct milliseconds, so the date-range filter has clear edges.
      await sleep(3);
    }
  });
  after(() => archive?.stop());

  it('when searching by name, then matches are case-insensitive substrings, newest first', async () => {
    assert.deepEqual(await names(`name=${tag}-PHOTO`), newestFirst('Photo-2.JPG', 'photo.jpg'));
  });

  it('when filtering by content type, size, owner and dates, then only the files meeting every filter are returned', async () => {
    assert.deepEqual(await names(`name=${tag}&content_type=image/jpeg`), newestFirst('Photo-2.JPG', 'photo.jpg'));
    assert.deepEqual(await names(`name=${tag}&content_type=image/*`), newestFirst('Photo-2.JPG', 'scan.png', 'photo.jpg'));
    assert.deepEqual(await names(`name=${tag}&min_size=200&max_size=2000`), newestFirst('Photo-2.JPG', 'scan.png'));
    assert.deepEqual(await names(`name=${tag}&owner=${otherOwner}`), newestFirst('Photo-2.JPG', 'notes.txt'));
    const from = encodeURIComponent(files[2]!.created_at);
    const before = encodeURIComponent(files[4]!.created_at);
    assert.deepEqual(await names(`name=${tag}&created_from=${from}&created_before=${before}`), newestFirst('report.pdf', 'notes.txt'));
  });

  it('when paging with a limit, then the cursor walks every match exactly once and ends with null', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const { status, body } = await find(`name=${tag}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.equal(status, 200);
      assert.ok(body.items.length <= 2);
      seen.push(...body.items.map((f) => f.id));
      cursor = body.next_cursor;
    } while (cursor);
    assert.deepEqual(
      seen,
      [...files].sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id)).map((f) => f.id),
    );
  });

  it('when the query is malformed, then 400 with a JSON error naming the parameter', async () => {
    for (const [query, field] of [
      ['limit=0', 'limit'],
      ['limit=abc', 'limit'],
      ['min_size=-1', 'min_size'],
      ['min_size=10&max_size=5', 'min_size'],
      ['created_from=yesterday', 'created_from'],
      ['owner=not-a-uuid', 'owner'],
      ['content_type=image', 'content_type'],
      ['name=a&name=b', 'name'],
      ['sort=name', ''],
      [`name=${encodeURIComponent('a\u0000b')}`, 'name'],
      ['cursor=garbage', ''],
    ] as const) {
      const { status, body } = await find(query);
      assert.equal(status, 400, query);
      assert.ok(body.error?.code === 'invalid_request' || body.error?.code === 'invalid_cursor', query);
      assert.ok(body.error!.message.includes(field), `${query}: ${body.error!.message}`);
    }
  });

  it('when an ingester (not a reader) searches, then 403', async () => {
    const res = await fetch(`${archive.query.url}/api/v1/files`, { headers: { Authorization: `Bearer ${archive.tokens.ingester}` } });
    assert.equal(res.status, 403);
  });
});
