import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import ejs from 'ejs';
import type { Express, RequestHandler } from 'express';
import { QueueName } from '../../platform/queues.ts';
import { createRedis } from '../../platform/redis.ts';
import type { ServiceDeps } from '../../platform/runtime.ts';
import { auditQueueChanges } from './queue-actions.ts';
import { registerQueueGauges } from './queue-metrics.ts';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/** Pending and dead-lettered audit events are evidence: no admin may retry, clean or drop them. */
const READ_ONLY_QUEUES = new Set<string>([QueueName.AuditEvents, QueueName.AuditDeadLetter]);

/** Bull Board's page asks Google for its fonts; the console loads nothing from outside, so the system's sans-serif stands in. */
const EXTERNAL_FONTS = /<link[^>]+fonts\.googleapis\.com[^>]*>\s*/g;

/** Bull Board's page template, rendered as it ships but without the external font link. */
function renderOffline(file: string, options: object, callback: (err: Error | null, html?: string) => void) {
  ejs.renderFile(file, options as Record<string, unknown>, (err, html) => callback(err, html?.replace(EXTERNAL_FONTS, '')));
}

/**
 * Bull Board at /admin/queues for every queue, behind `requireAdmin` (an admin session from the
 * console's login, or an admin bearer token for scripts), plus the bullmq_job_count gauges on /metrics. Both read through a connection of
 * their own, so a busy dashboard never queues up behind audit publishes. The audit queues are
 * read-only on the board; every change made through it on the others is an audit event.
 * Returns `close`.
 */
export function mountQueueDashboard(app: Express, deps: ServiceDeps, requireAdmin: RequestHandler): () => Promise<void> {
  const { config, logger } = deps;
  const connection = createRedis(config.redis, 'producer', logger, `${config.service}:queues`, { caFile: config.tls.caFile });
  const queues = Object.values(QueueName).map((name) => new Queue(name, { connection, prefix: config.bullmqPrefix }));
  for (const queue of queues) queue.on('error', (err) => logger.debug({ queue: queue.name, err: err.message }, 'dashboard queue error'));

  const board = new ExpressAdapter();
  board.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: READ_ONLY_QUEUES.has(queue.name) })),
    serverAdapter: board,
    options: {
      uiConfig: {
        boardTitle: `ArtStore · ${config.environment}`,
        // Wide enough for the title and the longest queue name (audit-dead-letter) uncut.
        menu: { width: '19rem' },
        hideDocsLink: true,
        miscLinks: [{ text: 'Log out', url: '/admin/logout' }],
      },
    },
  });
  board.getRouter().engine('ejs', renderOffline);
  app.use(QUEUE_DASHBOARD_PATH, requireAdmin, auditQueueChanges(deps.audit), board.getRouter());
  registerQueueGauges(deps.metrics.registry, queues, logger);

  return async () => {
    await Promise.allSettled(queues.map((queue) => queue.close()));
    await connection.quit().catch(() => connection.disconnect());
  };
}
