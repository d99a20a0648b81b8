import type { Express } from 'express';
import type { PrismaClient } from '../../platform/db/client.ts';
import type { ServiceDeps } from '../../platform/runtime.ts';

const HEALTH_TIMEOUT_MS = 1000;

/** Data access for the overview: every registered element with the count and bytes of its files. */
export function createStorageOverviewStore(prisma: PrismaClient) {
  return {
    async elementsWithUsage() {
      const [elements, usage] = await Promise.all([
        prisma.storageElement.findMany({ orderBy: { id: 'asc' } }),
        prisma.file.groupBy({ by: ['storageElementId'], _count: { _all: true }, _sum: { size: true } }),
      ]);
      const byElement = new Map(usage.map((u) => [u.storageElementId, { files: u._count._all, bytes: Number(u._sum.size ?? 0n) }]));
      return elements.map((element) => ({ element, ...(byElement.get(element.id) ?? { files: 0, bytes: 0 }) }));
    },
  };
}

async function reachable(baseUrl: string, fetchWith: typeof fetch): Promise<'up' | 'down'> {
  try {
    const res = await fetchWith(`${baseUrl}/health`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
    await res.body?.cancel();
    return res.ok ? 'up' : 'down';
  } catch {
    return 'down';
  }
}

/** GET /api/v1/storage-elements (admin): each storage element, whether it answers, its file count and bytes. */
export function mountStorageOverview(app: Express, deps: ServiceDeps) {
  const store = createStorageOverviewStore(deps.prisma);
  app.get('/api/v1/storage-elements', deps.auth.require('admin'), async (_req, res) => {
    const rows = await store.elementsWithUsage();
    const items = await Promise.all(
      rows.map(async ({ element, files, bytes }) => ({
        id: element.id,
        base_url: element.baseUrl,
        status: await reachable(element.baseUrl, deps.fetch),
        file_count: files,
        total_bytes: bytes,
        registered_at: element.createdAt.toISOString(),
        last_registered_at: element.updatedAt.toISOString(),
      })),
    );
    res.json({ items });
  });
}
