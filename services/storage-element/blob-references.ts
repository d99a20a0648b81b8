import type { PrismaClient } from '../platform/db/client.ts';

/** How many live files point at a content on this storage element (the files table, read-only). */
export function createBlobReferences(prisma: PrismaClient, storageElementId: string) {
  return (sha256: string): Promise<number> => prisma.file.count({ where: { storageElementId, sha256 } });
}
