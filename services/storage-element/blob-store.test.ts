import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { AppError } from '../platform/errors.ts';
import { writeFileRange } from '../file-archive/file-range-writer.ts';
import { collector } from '../../test/support/collector.ts';
import { createBlobStore, type BlobStore } from './blob-store.ts';

describe('storage element: content-addressed blob store', () => {
  let root: string;
  let blobs: BlobStore;
  const everyFile = async () =>
    (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.relative(root, path.join(e.parentPath, e.name)));

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'artstore-blobs-'));
    blobs = createBlobStore(root);
    await blobs.prepare();
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('when content is written, then it is stored once under its sha256 and reads back whole and by range', async () => {
    const content = randomBytes(100_000);
    const sha = createHash('sha256').update(content).digest('hex');
    assert.deepEqual(await blobs.write(Readable.from([content.subarray(0, 3), content.subarray(3)])), { sha256: sha, size: content.length, created: true });
    assert.deepEqual(await blobs.write(Readable.from([content])), { sha256: sha, size: content.length, created: false });
    assert.deepEqual(await everyFile(), [path.join('blobs', sha.slice(0, 2), sha.slice(2, 4), sha)]);
    assert.ok((await readFile(blobs.blobPath(sha))).equals(content));
    const file = (await blobs.open(sha))!;
    const sink = collector();
    await writeFileRange(file, sink.stream, 10, 10).finally(() => file.close());
    assert.ok(sink.received().equals(content.subarray(10, 20)));
    assert.equal(await blobs.open('0'.repeat(64)), undefined, 'content that is not here opens as undefined');
  });

  it('when content does not match the sha256 it was sent under, then 422 and nothing is kept', async () => {
    await assert.rejects(blobs.write(Readable.from([Buffer.from('actual')]), 'f'.repeat(64)), (err: unknown) => err instanceof AppError && err.status === 422);
    assert.deepEqual(await everyFile(), []);
  });

  it('when the incoming stream fails midway, then the temporary file is removed and no content appears', async () => {
    const failing = new Readable({ read() {} });
    const writing = blobs.write(failing);
    failing.push(randomBytes(50_000));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(await blobs.inProgress(), 1);
    failing.destroy(new Error('client went away'));
    await assert.rejects(writing, /client went away/);
    assert.deepEqual(await everyFile(), []);
  });

  it('when the store starts after a crash, then leftover temporary files are removed and content is kept', async () => {
    const { sha256 } = await blobs.write(Readable.from([Buffer.from('kept')]));
    await writeFile(path.join(root, 'tmp', 'crashed.part'), 'half');
    assert.deepEqual(await createBlobStore(root).prepare(), { leftovers: 1 });
    assert.deepEqual(await everyFile(), [path.join('blobs', sha256.slice(0, 2), sha256.slice(2, 4), sha256)]);
  });

  it('when content is removed, then it is gone and removing it again says so', async () => {
    const { sha256 } = await blobs.write(Readable.from([Buffer.from('bye')]));
    assert.equal(await blobs.remove(sha256), true);
    assert.equal(await blobs.sizeOf(sha256), undefined);
    assert.equal(await blobs.remove(sha256), false);
  });
});
