import assert from 'node:assert/strict';
import type { FileView } from '../services/file-archive/file-view.ts';
import { multipartBody, startFileArchive, type FileArchive } from './support/file-archive.ts';
import { parseRaw, sendRaw } from './support/raw-http.ts';

type ErrorBody = { error: { code: string; message: string } };

/** Error answers a new operator meets typing requests by hand: each says what to change. */
describe('error answers that say what to change', function () {
  this.timeout(30_000);
  let archive: FileArchive;
  let file: FileView;
  const content = Buffer.from('0123456789abcdef');

  before(async function () {
    this.timeout(60_000);
    archive = await startFileArchive();
    const form = multipartBody('report.pdf', content, { contentType: 'application/pdf' });
    const res = await fetch(`${archive.ingester.url}/api/v1/files/upload`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${archive.tokens.ingester}`, 'Content-Type': form.contentType },
      body: form.body,
    });
    assert.equal(res.status, 201, await res.clone().text());
    file = (await res.json()) as FileView;
  });
  after(() => archive?.stop());

  const asReader = (extra: Record<string, string> = {}) => ({ headers: { Authorization: `Bearer ${archive.tokens.reader}`, ...extra } });

  describe('a URL with characters that must be percent-encoded', () => {
    it('when the query holds raw UTF-8 (curl "…?name=Straße"), then a JSON 400 unencoded_url shows the encoded form', async () => {
      const raw = Buffer.from('GET /api/v1/files?name=Straße HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', 'utf8');
      const answer = parseRaw(await sendRaw(archive.query.port, raw));
      assert.equal(answer.status, 400);
      assert.deepEqual(Object.keys(answer.json), ['error']);
      assert.equal(answer.json.error.code, 'unencoded_url');
      assert.match(answer.json.error.message, /must be percent-encoded/);
      assert.match(answer.json.error.message, /Straße → Stra%C3%9Fe/);
      assert.match(answer.json.error.message, /--data-urlencode/);
    });

    it('when the query holds a raw space, then the same hint answers rather than "not valid HTTP"', async () => {
      const answer = parseRaw(await sendRaw(archive.query.port, 'GET /api/v1/files?name=annual report HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'));
      assert.equal(answer.status, 400);
      assert.equal(answer.json.error.code, 'unencoded_url');
    });

    it('when the bytes are not HTTP at all, then the answer stays malformed_request', async () => {
      const answer = parseRaw(await sendRaw(archive.query.port, 'NOT HTTP AT ALL\r\n\r\n'));
      assert.equal(answer.json.error.code, 'malformed_request');
    });

    it('when the same name is percent-encoded, then the search answers 200', async () => {
      const res = await fetch(`${archive.query.url}/api/v1/files?name=Stra%C3%9Fe`, asReader());
      assert.equal(res.status, 200);
    });
  });

  describe("a datetime whose offset '+' was not encoded", () => {
    it("when a file search sends created_from=…+00:00, then the 400 says a '+' in a URL means a space and shows %2B00:00", async () => {
      const res = await fetch(`${archive.query.url}/api/v1/files?created_from=2026-11-30T00:00:00+02:00`, asReader());
      assert.equal(res.status, 400);
      const body = (await res.json()) as ErrorBody;
      assert.equal(body.error.code, 'invalid_request');
      assert.match(body.error.message, /^created_from: Invalid ISO datetime: /);
      assert.match(body.error.message, /a '\+' in a URL query means a space: write the offset as %2B02:00, or use Z/);
    });

    it('when the audit log API gets from=…+00:00, then the same hint answers', async () => {
      const res = await fetch(`${archive.admin.url}/api/v1/audit/logs?from=2026-11-30T00:00:00+00:00`, {
        headers: { Authorization: `Bearer ${archive.tokens.admin}` },
      });
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as ErrorBody).error.message, /^from: .*write the offset as %2B00:00, or use Z$/);
    });

    it('when the offset is sent as %2B00:00, then the search answers 200', async () => {
      const res = await fetch(`${archive.query.url}/api/v1/files?created_from=2026-11-30T00:00:00%2B00:00`, asReader());
      assert.equal(res.status, 200);
    });

    it('when a datetime is wrong in another way, then the plain message stays', async () => {
      const res = await fetch(`${archive.query.url}/api/v1/files?created_from=yesterday`, asReader());
      assert.equal(((await res.json()) as ErrorBody).error.message, 'created_from: Invalid ISO datetime');
    });
  });

  describe('errors on download routes', () => {
    const download = () => `${archive.query.url}/api/v1/files/${file.id}/download`;

    /** An error answer must describe itself, not the content the route would have sent. */
    function assertPlainJsonError(res: Response, status: number) {
      assert.equal(res.status, status);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(res.headers.get('content-disposition'), null);
      assert.notEqual(res.headers.get('etag'), `"${file.sha256}"`);
    }

    it('when a download asks for a range past the end, then the 416 is JSON with Content-Range bytes */size and no attachment', async () => {
      const res = await fetch(download(), asReader({ Range: `bytes=${content.length}-` }));
      assertPlainJsonError(res, 416);
      assert.equal(res.headers.get('content-range'), `bytes */${content.length}`);
      assert.equal(((await res.json()) as ErrorBody).error.code, 'range_not_satisfiable');
    });

    it('when a HEAD download asks for a range past the end, then the 416 carries the same headers', async () => {
      const res = await fetch(download(), { method: 'HEAD', ...asReader({ Range: `bytes=${content.length + 10}-` }) });
      assertPlainJsonError(res, 416);
      assert.equal(res.headers.get('content-range'), `bytes */${content.length}`);
    });

    it('when a download has no token or names no file, then the 401 and 404 are JSON without an attachment', async () => {
      const anonymous = await fetch(download());
      assertPlainJsonError(anonymous, 401);
      assert.equal(((await anonymous.json()) as ErrorBody).error.code, 'missing_token');
      const missing = await fetch(`${archive.query.url}/api/v1/files/00000000-0000-4000-8000-000000000000/download`, asReader());
      assertPlainJsonError(missing, 404);
      assert.equal(((await missing.json()) as ErrorBody).error.code, 'file_not_found');
    });

    it('when a storage element is asked for a range past the end of content, then the 416 is JSON with Content-Range bytes */size', async () => {
      const res = await fetch(`${archive.hot.url}/api/v1/blobs/${file.sha256}`, {
        headers: { Authorization: `Bearer ${archive.tokens.admin}`, Range: `bytes=${content.length}-` },
      });
      assertPlainJsonError(res, 416);
      assert.equal(res.headers.get('content-range'), `bytes */${content.length}`);
      assert.equal(((await res.json()) as ErrorBody).error.code, 'range_not_satisfiable');
    });

    it('when the range is satisfiable, then the download still carries its content headers', async () => {
      const res = await fetch(download(), asReader({ Range: 'bytes=0-3' }));
      assert.equal(res.status, 206);
      assert.equal(res.headers.get('content-type'), 'application/pdf');
      assert.match(res.headers.get('content-disposition') ?? '', /^attachment; filename="report.pdf"/);
      assert.equal(Buffer.from(await res.arrayBuffer()).toString(), '0123');
    });
  });
});
