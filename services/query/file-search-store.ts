import { Prisma, type FileRecord, type PrismaClient } from '../platform/db/client.ts';

export interface FileFilter {
  /** Already folded (see foldForSearch); matched as a substring of name_folded. */
  nameFolded?: string;
  contentType?: string;
  /** `type/` of a `type/*` filter. */
  contentTypePrefix?: string;
  minSize?: number;
  maxSize?: number;
  createdFrom?: Date;
  createdBefore?: Date;
  ownerId?: string;
  storageElementId?: string;
}

/** LIKE treats % _ and \ specially; a user's text must match literally. */
const escapeLike = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

const COLUMNS = Prisma.sql`id, original_name AS "originalName", name_folded AS "nameFolded", size, sha256, content_type AS "contentType",
  owner_id AS "ownerId", storage_element_id AS "storageElementId", created_at AS "createdAt"`;

/** Data access for the query module: reads of files, newest first with a keyset cursor. */
export function createFileSearchStore(prisma: PrismaClient) {
  return {
    findById(id: string): Promise<FileRecord | null> {
      return prisma.file.findUnique({ where: { id } });
    },

    /** Raw SQL so the name filter is a plain `LIKE '%…%'` (served by the pg_trgm index) with our own escaping. */
    search(filter: FileFilter, limit: number, after?: { createdAt: Date; id: string }): Promise<FileRecord[]> {
      const where: Prisma.Sql[] = [];
      if (filter.nameFolded) where.push(Prisma.sql`name_folded LIKE ${`%${escapeLike(filter.nameFolded)}%`}`);
      if (filter.contentType) where.push(Prisma.sql`content_type = ${filter.contentType}`);
      if (filter.contentTypePrefix) where.push(Prisma.sql`content_type LIKE ${`${escapeLike(filter.contentTypePrefix)}%`}`);
      if (filter.minSize !== undefined) where.push(Prisma.sql`size >= ${BigInt(filter.minSize)}`);
      if (filter.maxSize !== undefined) where.push(Prisma.sql`size <= ${BigInt(filter.maxSize)}`);
      if (filter.createdFrom) where.push(Prisma.sql`created_at >= ${filter.createdFrom}`);
      if (filter.createdBefore) where.push(Prisma.sql`created_at < ${filter.createdBefore}`);
      if (filter.ownerId) where.push(Prisma.sql`owner_id = ${filter.ownerId}::uuid`);
      if (filter.storageElementId) where.push(Prisma.sql`storage_element_id = ${filter.storageElementId}`);
      if (after) where.push(Prisma.sql`(created_at, id) < (${after.createdAt}, ${after.id}::uuid)`);
      const condition = where.length ? Prisma.sql`WHERE ${Prisma.join(where, ' AND ')}` : Prisma.empty;
      return prisma.$queryRaw<FileRecord[]>`SELECT ${COLUMNS} FROM files ${condition} ORDER BY created_at DESC, id DESC LIMIT ${limit}`;
    },
  };
}

export type FileSearchStore = ReturnType<typeof createFileSearchStore>;
