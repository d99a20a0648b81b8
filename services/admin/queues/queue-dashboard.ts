import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import type { Express } from 'express';
import { QueueName } from '../../platform/queues.ts';
import { createRedis } from '../../platform/redis.ts';
import type { ServiceDeps } from '../../platform/runtime.ts';
import { auditQueueChanges } from './queue-actions.ts';
import { registerQueueGauges } from './queue-metrics.ts';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/** Pending and dead-lettered audit events are evidence: no admin may retry, clean or drop them. */
const READ_ONLY_QUEUES = new Set<string>([QueueName.AuditEvents, QueueName.AuditDeadLetter]);

/**
 * Bull Board at /admin/queues for every queue, behind an admin bearer token (401/403 JSON like any
 * other route), plus the bullmq_job_count gauges on /metrics. Both read through a connection of
 * their own, so a busy dashboard never queues up behind audit publishes. The audit queues are
 * read-only on the board; every change made through it on the others is an audit event.
 * Returns `close`.
 */
export function mountQueueDashboard(app: Express, deps: ServiceDeps): () => Promise<void> {
  const { config, logger } = deps;
  const connection = createRedis(config.redisUrl, 'producer', logger, `${config.service}:queues`);
  const queues = Object.values(QueueName).map((name) => new Queue(name, { connection, prefix: config.bullmqPrefix }));
  for (const queue of queues) queue.on('error', (err) => logger.debug({ queue: queue.name, err: err.message }, 'dashboard queue error'));

  const board = new ExpressAdapter();
  board.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: READ_ONLY_QUEUES.has(queue.name) })),
    serverAdapter: board,
    options: { uiConfig: { boardTitle: `ArtStore queues (${config.environment})` } },
  });
  app.use(QUEUE_DASHBOARD_PATH, deps.auth.require('admin'), auditQueueChanges(deps.audit), board.getRouter());
  registerQueueGauges(deps.metrics.registry, queues, logger);

  return async () => {
    await Promise.allSettled(queues.map((queue) => queue.close()));
    await connection.quit().catch(() => connection.disconnect());
  };
}
