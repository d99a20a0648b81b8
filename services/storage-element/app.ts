import type { Config } from '../platform/config/index.ts';
import { createStorageElementStore } from '../file-archive/storage-element-store.ts';
import type { Logger } from '../platform/logger.ts';
import { startService, type RunningService } from '../platform/runtime.ts';
import { createBlobReferences } from './blob-references.ts';
import { mountBlobRoutes } from './blob-routes.ts';
import { createBlobStore } from './blob-store.ts';
import { FILE_STREAM_BUFFER_BYTES } from '../file-archive/stream-buffer.ts';

/**
 * The storage-element module: file bytes on disk under STORAGE_ROOT, content-addressed; for
 * module-to-module calls only. Once listening it registers its id and base URL in PostgreSQL.
 */
export async function start(config: Config, options: { logger?: Logger } = {}): Promise<RunningService> {
  const { elementId, root, publicUrl } = config.storage;
  const blobs = createBlobStore(root);
  const running = await startService(config, {
    logger: options.logger,
    streamHighWaterMark: FILE_STREAM_BUFFER_BYTES,
    prepare: async (deps) => {
      const { leftovers } = await blobs.prepare();
      if (leftovers) deps.logger.warn({ leftovers, root }, 'removed temporary files an earlier run left behind');
    },
    routes: (app, deps) => mountBlobRoutes(app, deps, blobs, createBlobReferences(deps.prisma, elementId)),
  });
  try {
    const baseUrl = publicUrl ?? running.url;
    await createStorageElementStore(running.deps.prisma).register(elementId, baseUrl);
    running.deps.logger.info({ elementId, baseUrl, root }, 'storage element registered');
  } catch (err) {
    await running.stop();
    throw err;
  }
  return running;
}
