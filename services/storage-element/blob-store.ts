import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../platform/errors.ts';
import { fsyncDirectory } from '../platform/fsync-directory.ts';
import { FILE_STREAM_BUFFER_BYTES } from '../file-archive/stream-buffer.ts';

export const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * While content arrives, what has been written is flushed to disk every this many bytes, in the
 * background: the kernel would otherwise hold it all as dirty pages and the closing fsync would
 * stall the answer for the time it takes to write the whole file.
 */
const EARLY_SYNC_BYTES = 32 * 2 ** 20;

/**
 * Content on local disk, addressed by its sha256: `<root>/blobs/<aa>/<bb>/<sha256>`. Content is
 * streamed to `<root>/tmp/<uuid>.part` while it is hashed, fsynced, then renamed into place (and the
 * directory fsynced), so a reader or a crash never sees a partial file under a content name.
 * One process owns a root: at start it removes the temporary files a crash left behind.
 */
export function createBlobStore(root: string) {
  const blobsDir = path.join(root, 'blobs');
  const tmpDir = path.join(root, 'tmp');
  const blobPath = (sha256: string) => path.join(blobsDir, sha256.slice(0, 2), sha256.slice(2, 4), sha256);

  return {
    blobPath,

    async prepare(): Promise<{ leftovers: number }> {
      await mkdir(blobsDir, { recursive: true });
      await mkdir(tmpDir, { recursive: true });
      const leftovers = (await readdir(tmpDir)).filter((name) => name.endsWith('.part'));
      await Promise.all(leftovers.map((name) => rm(path.join(tmpDir, name), { force: true })));
      return { leftovers: leftovers.length };
    },

    /** Streams `source` into the store; rejects (leaving nothing behind) if it fails or does not match `expectedSha256`. */
    async write(source: Readable, expectedSha256?: string): Promise<{ sha256: string; size: number; created: boolean }> {
      const temporary = path.join(tmpDir, `${randomUUID()}.part`);
      const hash = createHash('sha256');
      let size = 0;
      try {
        const file = await open(temporary, 'wx', 0o640);
        let syncing: Promise<void> | undefined;
        let syncedSize = 0;
        let syncError: Error | undefined;
        const hashing = new Transform({
          highWaterMark: FILE_STREAM_BUFFER_BYTES,
          transform(chunk: Buffer, _encoding, done) {
            hash.update(chunk);
            size += chunk.length;
            if (!syncing && size - syncedSize >= EARLY_SYNC_BYTES) {
              syncedSize = size;
              syncing = file.datasync().then(
                () => (syncing = undefined),
                (err: Error) => {
                  syncing = undefined;
                  syncError = err;
                },
              );
            }
            done(syncError ?? null, chunk);
          },
          // The file stream closes the file after this: no flush may still be running on it.
          flush(done) {
            void Promise.resolve(syncing).then(() => done(syncError ?? null));
          },
        });
        await pipeline(source, hashing, createWriteStream(temporary, { fd: file, flush: true, highWaterMark: FILE_STREAM_BUFFER_BYTES }));
        const sha256 = hash.digest('hex');
        if (expectedSha256 !== undefined && sha256 !== expectedSha256) {
          throw new AppError(422, 'sha256_mismatch', 'The content does not match the sha256 it was sent under');
        }
        const target = blobPath(sha256);
        await mkdir(path.dirname(target), { recursive: true });
        const created = !(await stat(target).then(
          () => true,
          () => false,
        ));
        await rename(temporary, target);
        await fsyncDirectory(path.dirname(target));
        return { sha256, size, created };
      } catch (err) {
        await rm(temporary, { force: true });
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
          throw new AppError(507, 'insufficient_storage', 'The storage element is out of space', { cause: err });
        }
        throw err;
      }
    },

    /** Size of the content, or undefined when it is not here. */
    async sizeOf(sha256: string): Promise<number | undefined> {
      const info = await stat(blobPath(sha256)).catch(() => undefined);
      return info?.isFile() ? info.size : undefined;
    },

    /** The content opened for reading (`writeFileRange` sends it on), or undefined when it is not here. */
    async open(sha256: string): Promise<FileHandle | undefined> {
      return open(blobPath(sha256), 'r').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
    },

    /** True when the content was here. */
    async remove(sha256: string): Promise<boolean> {
      const target = blobPath(sha256);
      const existed = await stat(target).then(
        () => true,
        () => false,
      );
      if (!existed) return false;
      await rm(target, { force: true });
      await fsyncDirectory(path.dirname(target));
      return true;
    },

    /** Temporary files currently being written (for tests and diagnostics). */
    async inProgress(): Promise<number> {
      return (await readdir(tmpDir).catch(() => [])).filter((name) => name.endsWith('.part')).length;
    },
  };
}

export type BlobStore = ReturnType<typeof createBlobStore>;
