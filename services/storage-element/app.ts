import type { Config } from '../platform/config.ts';
import type { Logger } from '../platform/logger.ts';
import { startService, type RunningService } from '../platform/runtime.ts';

/** The storage-element module: file bytes on disk, content-addressed; module-to-module calls only. */
export function start(config: Config, options: { logger?: Logger } = {}): Promise<RunningService> {
  return startService(config, { logger: options.logger });
}
