import type { PrismaClient, StorageElement } from '../platform/db/client.ts';

export type { StorageElement };

/** Data access for storage_elements: the registry of where each storage element answers. */
export function createStorageElementStore(prisma: PrismaClient) {
  return {
    /** A storage element says where it answers each time it starts. */
    register(id: string, baseUrl: string): Promise<StorageElement> {
      return prisma.storageElement.upsert({ where: { id }, create: { id, baseUrl }, update: { baseUrl } });
    },
    find(id: string): Promise<StorageElement | null> {
      return prisma.storageElement.findUnique({ where: { id } });
    },
  };
}

export type StorageElementStore = ReturnType<typeof createStorageElementStore>;
