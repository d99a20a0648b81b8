import type { Config } from '../../services/platform/config.ts';
import type { Logger } from '../../services/platform/logger.ts';
import { QueueName } from '../../services/platform/queues.ts';
import { startWorkerService } from '../../services/platform/worker-runtime.ts';

/** The audit-writer worker: signs, chains and persists audit events. */
export function start(config: Config, options: { logger?: Logger } = {}) {
  return startWorkerService(config, { queue: QueueName.AuditEvents, processors: {}, logger: options.logger });
}
