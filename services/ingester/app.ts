import type { Config } from '../platform/config.ts';
import type { Logger } from '../platform/logger.ts';
import { startService, type RunningService } from '../platform/runtime.ts';

/** The ingester module: uploads, deletes and transfers between storage elements. */
export function start(config: Config, options: { logger?: Logger } = {}): Promise<RunningService> {
  return startService(config, { logger: options.logger });
}
