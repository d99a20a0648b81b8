import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FileView } from '../services/file-archive/file-view.ts';
import { multipartBody, startFileArchive, type FileArchive } from './support/file-archive.ts';
import { waitFor } from './support/wait-for.ts';

/** The name a client following RFC 6266 takes from a Content-Disposition header. */
function dispositionName(header: string | null): string {
  const extended = /filename\*=UTF-8''([^;\s]+)/.exec(header ?? '');
  assert.ok(extended, `no filename* in ${header}`);
  return decodeURIComponent(extended[1]!);
}

describe('file archive: file names and multipart input', function () {
  this.timeout(30_000);
  let archive: FileArchive;
  const post = (body: Buffer | string, contentType: string) =>
    fetch(`${archive.ingester.url}/api/v1/files/upload`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${archive.tokens.ingester}`, 'Content-Type': contentType },
      body,
    });
  const uploadRaw = (rawDisposition: string, content = Buffer.from('content')) => {
    const form = multipartBody('', content, { rawDisposition });
    return post(form.body, form.contentType);
  };
  const uploadNamed = (name: string, content = randomBytes(32)) => {
    const form = multipartBody(name, content);
    return post(form.body, form.contentType);
  };
  const errorOf = async (res: Response) => ((await res.json()) as { error: { code: string; message: string } }).error;
  const download = (id: string) => fetch(`${archive.query.url}/api/v1/files/${id}/download`, { headers: { Authorization: `Bearer ${archive.tokens.reader}` } });
  const search = async (name: string) => {
    const res = await fetch(`${archive.query.url}/api/v1/files?name=${encodeURIComponent(name)}`, {
      headers: { Authorization: `Bearer ${archive.tokens.reader}` },
    });
    assert.equal(res.status, 200);
    return ((await res.json()) as { items: FileView[] }).items.map((f) => f.original_name);
  };

  before(async function () {
    this.timeout(60_000);
    archive = await startFileArchive();
  });
  after(() => archive?.stop());

  describe('hostile file names', () => {
    it('when a name carries a path, then only its last component is kept and the content lands under its hash only', async () => {
      for (const [given, kept] of [
        ['../../etc/passwd', 'passwd'],
        ['..\\..\\Windows\\system.ini', 'system.ini'],
        ['/abs/dir/report.pdf', 'report.pdf'],
      ]) {
        const res = await uploadNamed(given!);
        assert.equal(res.status, 201, given);
        assert.equal(((await res.json()) as FileView).original_name, kept);
      }
      const stored = await archive.filesUnder(archive.roots.hot);
      assert.ok(stored.length > 0 && stored.every((f) => /^blobs\/[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(f)), stored.join(', '));
    });

    it('when a name is only a path, "..", or blank, then 400 invalid_file_name; an empty one is no file part at all', async () => {
      for (const name of ['../', '..', 'dir/..', '   ']) {
        const res = await uploadNamed(name);
        assert.equal(res.status, 400, JSON.stringify(name));
        assert.equal((await errorOf(res)).code, 'invalid_file_name');
      }
      const empty = await uploadNamed('');
      assert.equal(empty.status, 400);
      assert.equal((await errorOf(empty)).code, 'file_missing');
    });

    it('when a name holds CR LF, NUL, other control characters or a bidi override, then 400 and nothing is stored', async () => {
      const before = await archive.filesUnder(archive.roots.hot);
      for (const encoded of ['evil.txt%0D%0AX-Injected%3A%201', 'a%00b.txt', 'bell%07.txt', 'del%7F.txt', 'c1%C2%85.txt', 'invoice%E2%80%AEfdp.exe']) {
        const res = await uploadRaw(`form-data; name="file"; filename*=UTF-8''${encoded}`);
        assert.equal(res.status, 400, encoded);
        assert.equal((await errorOf(res)).code, 'invalid_file_name');
      }
      assert.deepEqual(await archive.filesUnder(archive.roots.hot), before);
    });

    it('when a name is longer than 255 characters, then 400 invalid_file_name', async () => {
      const res = await uploadNamed(`${'ä'.repeat(256)}.txt`);
      assert.equal(res.status, 400);
      assert.equal((await errorOf(res)).code, 'invalid_file_name');
    });

    it('when a name holds quotes, semicolons and percent signs, then the download header stays one attachment with that exact name', async () => {
      const name = 'a"; filename="evil.sh; 100%.txt';
      const res = await uploadRaw(`form-data; name="file"; filename*=UTF-8''${encodeURIComponent(name)}`);
      assert.equal(res.status, 201);
      const { id } = (await res.json()) as FileView;
      const header = (await download(id)).headers.get('content-disposition');
      assert.equal(header, `attachment; filename="a_; filename=_evil.sh; 100_.txt"; filename*=UTF-8''a%22%3B%20filename%3D%22evil.sh%3B%20100%25.txt`);
      assert.equal(dispositionName(header), name);
    });

    it('when an HTML file is uploaded, then it is only ever served as a sandboxed, unsniffed attachment', async () => {
      const form = multipartBody('page.html', Buffer.from('<script>alert(1)</script>'), { contentType: 'text/html' });
      const res = await post(form.body, form.contentType);
      assert.equal(res.status, 201);
      const { id, content_type } = (await res.json()) as FileView;
      assert.equal(content_type, 'text/html');
      const served = await download(id);
      assert.equal(served.headers.get('content-type'), 'text/html');
      assert.equal(served.headers.get('x-content-type-options'), 'nosniff');
      assert.match(served.headers.get('content-security-policy') ?? '', /^sandbox/);
      assert.match(served.headers.get('content-disposition') ?? '', /^attachment;/);
    });
  });

  describe('unicode names', () => {
    const names = ['Отчёт за 2024 — итоги.pdf', 'Straße ﬁnal 📦.txt', 'ΟΔΟΣ.md', '報告書（最終）.docx', 'e\u0301te\u0301.txt'];

    it('when files with unicode names are uploaded, then names round-trip byte for byte through metadata and downloads', async () => {
      for (const name of names) {
        const res = await uploadRaw(`form-data; name="file"; filename="${name}"`);
        assert.equal(res.status, 201, name);
        const file = (await res.json()) as FileView;
        assert.equal(file.original_name, name);
        assert.equal(dispositionName((await download(file.id)).headers.get('content-disposition')), name);
      }
    });

    it('when searching in another case or compatibility form, then the unicode names are found', async () => {
      assert.deepEqual(await search('ОТЧЁТ'), [names[0]]);
      assert.deepEqual(await search('STRASSE FINAL'), [names[1]]);
      assert.deepEqual(await search('οδοσ'), [names[2]]);
      assert.deepEqual(await search('（最終）'), [names[3]]);
      assert.deepEqual(await search('%'), ['a"; filename="evil.sh; 100%.txt'], 'LIKE wildcards match literally');
      assert.deepEqual(await search('_'), []);
    });
  });

  describe('broken multipart', () => {
    const cases: [string, () => Promise<Response>, number, string][] = [
      ['multipart without a boundary', () => post('--x\r\n', 'multipart/form-data'), 400, 'invalid_multipart'],
      [
        'a body cut off before the closing boundary',
        () => {
          const form = multipartBody('cut.txt', randomBytes(1000));
          return post(form.body.subarray(0, form.body.length - 40), form.contentType);
        },
        400,
        'invalid_multipart',
      ],
      [
        'a form without a file part',
        () => post('--b\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--b--\r\n', 'multipart/form-data; boundary=b'),
        400,
        'file_missing',
      ],
      [
        'a file in another field',
        () => {
          const form = multipartBody('x.txt', Buffer.from('x'), { field: 'upload' });
          return post(form.body, form.contentType);
        },
        400,
        'unexpected_file',
      ],
      [
        'two files',
        () => {
          const body =
            '--b\r\nContent-Disposition: form-data; name="file"; filename="1.txt"\r\n\r\none\r\n--b\r\nContent-Disposition: form-data; name="file"; filename="2.txt"\r\n\r\ntwo\r\n--b--\r\n';
          return post(body, 'multipart/form-data; boundary=b');
        },
        400,
        'unexpected_file',
      ],
      ['a JSON body', () => post('{"file":"x"}', 'application/json'), 415, 'unsupported_media_type'],
    ];
    for (const [what, send, status, code] of cases) {
      it(`when the upload is ${what}, then ${status} with a JSON error ${code} and nothing is stored`, async () => {
        const before = await archive.filesUnder(archive.roots.hot);
        const res = await send();
        assert.equal(res.status, status);
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
        assert.equal((await errorOf(res)).code, code);
        // The storage element discards an interrupted stream as soon as it sees the connection cut.
        const added = async () => (await archive.filesUnder(archive.roots.hot)).filter((f) => !before.includes(f));
        await waitFor(added, {
          until: (files) => files.length === 0,
          timeoutMs: 2000,
          message: (files) => `the interrupted upload's files to go: ${files.join(', ')}`,
        });
        assert.deepEqual(await added(), []);
      });
    }
  });
});
