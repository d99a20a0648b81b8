import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { AuditEvent } from '../../services/audit-log/events.ts';
import { QueueName } from '../../services/platform/queues.ts';
import { testInfra } from './infra.ts';
import { waitFor } from './wait-for.ts';

/** Reads the jobs of the audit-events queue under one prefix, straight from the run's Redis. */
export function auditJobs(prefix: string) {
  const connection = new Redis(testInfra().redisUrl);
  const queue = new Queue(QueueName.AuditEvents, { connection, prefix });
  const jobs = () => queue.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized']);
  const events = async (): Promise<AuditEvent[]> => (await jobs()).map((job) => job.data as AuditEvent);
  return {
    queue,
    jobs,
    events,
    async matching(predicate: (event: AuditEvent) => boolean): Promise<AuditEvent[]> {
      return (await events()).filter(predicate);
    },
    /** The first event that matches, waiting for it up to `timeoutMs`. */
    waitFor(predicate: (event: AuditEvent) => boolean, timeoutMs = 5000): Promise<AuditEvent> {
      return waitFor(async () => (await events()).find(predicate), { timeoutMs, intervalMs: 25, message: 'a matching audit event' });
    },
    async close() {
      await queue.close();
      connection.disconnect();
    },
  };
}
