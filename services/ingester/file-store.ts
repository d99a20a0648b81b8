import type { FileRecord, PrismaClient } from '../platform/db/client.ts';

export type { FileRecord };

export interface NewFile {
  originalName: string;
  nameFolded: string;
  size: number;
  sha256: string;
  contentType: string;
  ownerId: string;
  storageElementId: string;
}

/** What may be done while holding the lock of one content on one storage element. */
export interface LockedContent {
  insert(file: NewFile): Promise<FileRecord>;
  /** Moves the file here if it is still on `from`; false when it was deleted or moved meanwhile. */
  moveHere(id: string, from: string): Promise<boolean>;
  /** Files whose content this is. */
  references(): Promise<number>;
}

const LOCK_TIMEOUTS = { maxWait: 10_000, timeout: 60_000 };

/** Data access for files, as the ingester changes them. */
export function createFileStore(prisma: PrismaClient) {
  return {
    findById(id: string): Promise<FileRecord | null> {
      return prisma.file.findUnique({ where: { id } });
    },

    async delete(id: string): Promise<boolean> {
      const { count } = await prisma.file.deleteMany({ where: { id } });
      return count === 1;
    },

    /**
     * Runs `work` in a transaction holding a PostgreSQL advisory lock on (element, sha256). Several
     * files may share one content, so whoever adds the first reference or removes the content
     * takes this lock: content is never removed while a new file starts pointing at it.
     */
    withContentLock<T>(storageElementId: string, sha256: string, work: (locked: LockedContent) => Promise<T>): Promise<T> {
      return prisma.$transaction(async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`file-content:${storageElementId}:${sha256}`}, 0))`;
        return work({
          // Millisecond timestamps: the keyset cursor of the search carries a JavaScript Date.
          insert: (file) => tx.file.create({ data: { ...file, size: BigInt(file.size), createdAt: new Date() } }),
          async moveHere(id, from) {
            const { count } = await tx.file.updateMany({ where: { id, storageElementId: from }, data: { storageElementId } });
            return count === 1;
          },
          references: () => tx.file.count({ where: { storageElementId, sha256 } }),
        });
      }, LOCK_TIMEOUTS);
    },
  };
}

export type FileStore = ReturnType<typeof createFileStore>;
