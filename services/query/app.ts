import type { Config } from '../platform/config/index.ts';
import { createServiceTokenSource } from '../file-archive/service-token.ts';
import { createStorageClient } from '../file-archive/storage-client.ts';
import { createStorageElementStore } from '../file-archive/storage-element-store.ts';
import type { Logger } from '../platform/logger.ts';
import { startService, type RunningService } from '../platform/runtime.ts';
import { createFileSearchStore } from './file-search-store.ts';
import { mountQueryRoutes } from './routes.ts';
import { FILE_STREAM_BUFFER_BYTES } from '../file-archive/stream-buffer.ts';

/** The query module: search, metadata and downloads. */
export function start(config: Config, options: { logger?: Logger } = {}): Promise<RunningService> {
  return startService(config, {
    logger: options.logger,
    streamHighWaterMark: FILE_STREAM_BUFFER_BYTES,
    prepare: async (deps) => {
      if (!config.storage.client.clientId) deps.logger.warn('STORAGE_CLIENT_ID/STORAGE_CLIENT_SECRET are not set: downloads will answer 503');
    },
    routes: (app, deps) => {
      const storage = createStorageClient(
        createStorageElementStore(deps.prisma),
        createServiceTokenSource(config, deps.logger, Date.now, deps.fetch),
        deps.logger,
        () => deps.tls()?.agent(),
      );
      mountQueryRoutes(app, deps, createFileSearchStore(deps.prisma), storage);
    },
  });
}
