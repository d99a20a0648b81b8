import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { Principal } from '../platform/auth/roles.ts';
import { AppError } from '../platform/errors.ts';
import { foldForSearch } from '../file-archive/file-names.ts';
import type { StorageClient, StoredBlob } from '../file-archive/storage-client.ts';
import type { Logger } from '../platform/logger.ts';
import type { FileRecord, FileStore } from './file-store.ts';

export interface UploadedFile {
  name: string;
  contentType: string;
  owner: Principal;
  blob: StoredBlob;
}

const notFound = () => new AppError(404, 'file_not_found', 'No file with that id');

/**
 * The ingester's use cases. Content is stored first and metadata recorded second; removing goes
 * the other way (metadata, then content), and a transfer copies and verifies before it switches
 * the metadata and only then removes the source. A crash between two steps therefore leaves at
 * worst unreferenced content behind, never a file whose content is missing.
 */
export function createFileOperations(files: FileStore, storage: StorageClient, options: { uploadElement: string; logger: Logger }) {
  const { uploadElement, logger } = options;

  async function mustFind(id: string): Promise<FileRecord> {
    const file = z.uuid().safeParse(id).success ? await files.findById(id) : null;
    if (!file) throw notFound();
    return file;
  }

  /** Admins act on any file; other accounts only on the files they uploaded. */
  function assertMayChange(file: FileRecord, principal: Principal) {
    if (principal.role !== 'admin' && principal.serviceAccountId !== file.ownerId) {
      throw new AppError(403, 'not_owner', 'Only the account that uploaded this file, or an admin, may change it');
    }
  }

  /** Removes the content from an element unless a file still points at it. */
  async function releaseContent(storageElementId: string, sha256: string): Promise<void> {
    // Known before the lock: a first lookup inside would wait for a second pooled connection.
    await storage.ensureKnown(storageElementId);
    await files.withContentLock(storageElementId, sha256, async (locked) => {
      if ((await locked.references()) === 0) await storage.remove(storageElementId, sha256);
    });
  }

  async function releaseQuietly(storageElementId: string, sha256: string, why: string) {
    await releaseContent(storageElementId, sha256).catch((err: Error) =>
      logger.error({ err: err.message, storageElementId, sha256, why }, 'unreferenced content left on a storage element'),
    );
  }

  return {
    mustFind,
    uploadElement,

    /** Streams an upload's content to the upload storage element. */
    storeContent: (content: Readable) => storage.put(uploadElement, content),

    /** Gives up content stored for an upload that then failed. */
    discardContent: (blob: StoredBlob) => releaseQuietly(uploadElement, blob.sha256, 'upload failed'),

    async recordUpload(upload: UploadedFile): Promise<FileRecord> {
      const { blob } = upload;
      return files.withContentLock(uploadElement, blob.sha256, async (locked) => {
        // A delete of another file with the same content may have removed it since it was stored.
        if (!(await storage.exists(uploadElement, blob.sha256))) {
          throw new AppError(503, 'upload_interrupted', 'The content was removed while it was being stored; upload it again', {
            headers: { 'Retry-After': '1' },
          });
        }
        return locked.insert({
          originalName: upload.name,
          nameFolded: foldForSearch(upload.name),
          size: blob.size,
          sha256: blob.sha256,
          contentType: upload.contentType,
          ownerId: upload.owner.serviceAccountId,
          storageElementId: uploadElement,
        });
      });
    },

    async remove(id: string, principal: Principal): Promise<FileRecord> {
      const file = await mustFind(id);
      assertMayChange(file, principal);
      if (!(await files.delete(file.id))) throw notFound();
      await releaseQuietly(file.storageElementId, file.sha256, 'file deleted');
      return file;
    },

    async transfer(id: string, target: string, principal: Principal): Promise<{ file: FileRecord; from: string }> {
      const file = await mustFind(id);
      assertMayChange(file, principal);
      const from = file.storageElementId;
      if (target === from) throw new AppError(409, 'already_there', `The file is already on "${target}"`);
      await storage.ensureKnown(target).catch((err: unknown) => {
        if (err instanceof AppError && err.code === 'storage_element_not_found') throw new AppError(400, 'unknown_storage_element', err.message);
        throw err;
      });
      const source = await storage.read(from, file.sha256);
      // The target refuses content whose sha256 differs from the file's: the copy is verified.
      const copy = await storage.put(target, source, { expectedSha256: file.sha256 }).catch((err: unknown) => {
        source.destroy();
        throw err;
      });
      if (copy.size !== Number(file.size)) {
        await releaseQuietly(target, file.sha256, 'transfer copy had the wrong size');
        throw new AppError(502, 'content_mismatch', 'The copied content does not match the file');
      }
      const moved = await files.withContentLock(target, file.sha256, async (locked) => {
        if (!(await storage.exists(target, file.sha256))) {
          throw new AppError(503, 'transfer_interrupted', 'The copy was removed before the transfer completed; try again', { headers: { 'Retry-After': '1' } });
        }
        return locked.moveHere(file.id, from);
      });
      if (!moved) {
        await releaseQuietly(target, file.sha256, 'file changed during transfer');
        throw new AppError(409, 'file_changed', 'The file was deleted or moved while it was being transferred');
      }
      await releaseQuietly(from, file.sha256, 'transferred away');
      return { file: { ...file, storageElementId: target }, from };
    },
  };
}

export type FileOperations = ReturnType<typeof createFileOperations>;
