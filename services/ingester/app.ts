import type { Config } from '../platform/config/index.ts';
import { createServiceTokenSource } from '../file-archive/service-token.ts';
import { createStorageClient } from '../file-archive/storage-client.ts';
import { createStorageElementStore } from '../file-archive/storage-element-store.ts';
import type { Logger } from '../platform/logger.ts';
import { startService, type RunningService } from '../platform/runtime.ts';
import { createFileOperations } from './file-operations.ts';
import { createFileStore } from './file-store.ts';
import { mountFileRoutes } from './routes.ts';
import { FILE_STREAM_BUFFER_BYTES } from '../file-archive/stream-buffer.ts';

/** The ingester module: uploads, deletes and transfers between storage elements. */
export function start(config: Config, options: { logger?: Logger } = {}): Promise<RunningService> {
  return startService(config, {
    logger: options.logger,
    streamHighWaterMark: FILE_STREAM_BUFFER_BYTES,
    prepare: async (deps) => {
      if (!config.storage.client.clientId) deps.logger.warn('STORAGE_CLIENT_ID/STORAGE_CLIENT_SECRET are not set: file operations will answer 503');
    },
    routes: (app, deps) => {
      const tokens = createServiceTokenSource(config, deps.logger, Date.now, deps.fetch);
      const storage = createStorageClient(createStorageElementStore(deps.prisma), tokens, deps.logger, () => deps.tls()?.agent());
      const operations = createFileOperations(createFileStore(deps.prisma), storage, { uploadElement: config.storage.uploadElement, logger: deps.logger });
      mountFileRoutes(app, deps, operations);
    },
  });
}
