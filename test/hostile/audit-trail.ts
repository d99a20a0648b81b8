import { Queue } from 'bullmq';
import type { PrismaClient } from '../../services/platform/db/client.ts';
import { QueueName } from '../../services/platform/queues.ts';
import { waitFor } from '../support/wait-for.ts';

/** One audit row a hostile request left, found by the request id it was sent with. */
export interface TrailRow {
  request_id: string;
  event_type: string;
  status: string;
  ip_address: string | null;
  details: Record<string, unknown> | null;
}

/** A 401 becomes an auth_failure, a 403 an authorization_denied: exactly one of them per refused request. */
export const REFUSAL_EVENTS = new Set(['auth_failure', 'authorization_denied']);

/** Jobs in each state of one queue of this run's prefix. */
export async function queueCounts(redisUrl: string, prefix: string, name: QueueName): Promise<Record<string, number>> {
  const queue = new Queue(name, { connection: { url: redisUrl }, prefix });
  try {
    return await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'failed', 'completed');
  } finally {
    await queue.close();
  }
}

export async function pausedQueues(redisUrl: string, prefix: string): Promise<string[]> {
  const paused: string[] = [];
  for (const name of Object.values(QueueName)) {
    const queue = new Queue(name, { connection: { url: redisUrl }, prefix });
    if (await queue.isPaused()) paused.push(name);
    await queue.close();
  }
  return paused;
}

/**
 * The audit rows of every request whose id starts with `prefix`, by request id, once the audit
 * writer has caught up: every id in `mustHaveRows` has a row and nothing waits on the audit queue
 * (or 60 s have passed: the accounting then reports what is missing).
 */
export async function auditTrail(
  prisma: PrismaClient,
  queue: { redisUrl: string; prefix: string },
  requestIdPrefix: string,
  mustHaveRows: string[],
): Promise<Map<string, TrailRow[]>> {
  const read = async () => {
    const rows = await prisma.$queryRaw<TrailRow[]>`
      SELECT request_id, event_type, status, ip_address, details FROM audit_logs WHERE request_id LIKE ${`${requestIdPrefix}%`}`;
    const grouped = new Map<string, TrailRow[]>();
    for (const row of rows) grouped.set(row.request_id, [...(grouped.get(row.request_id) ?? []), row]);
    return grouped;
  };
  const backlog = async () => {
    const counts = await queueCounts(queue.redisUrl, queue.prefix, QueueName.AuditEvents);
    return counts.waiting! + counts.active! + counts.prioritized!;
  };
  let byRequest = new Map<string, TrailRow[]>();
  await waitFor(
    async () => {
      byRequest = await read();
      return (await backlog()) === 0 && mustHaveRows.every((id) => byRequest.has(id));
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  ).catch(() => undefined);
  return byRequest;
}
