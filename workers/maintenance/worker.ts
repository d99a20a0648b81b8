import type { Config } from '../../services/platform/config.ts';
import type { Logger } from '../../services/platform/logger.ts';
import { QueueName } from '../../services/platform/queues.ts';
import { startWorkerService } from '../../services/platform/worker-runtime.ts';

/** The maintenance worker: runs the scheduled key rotation and weekly cleanup. */
export function start(config: Config, options: { logger?: Logger } = {}) {
  return startWorkerService(config, { queue: QueueName.Maintenance, processors: {}, logger: options.logger });
}
