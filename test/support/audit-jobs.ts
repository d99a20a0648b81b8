import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { AuditEvent } from '../../services/audit-log/events.ts';
import { QueueName } from '../../services/platform/queues.ts';
import { testInfra } from './infra.ts';

/** A BullMQ prefix of this run (removed with it) that no other test publishes into. */
export const isolatedPrefix = (name: string) => `${testInfra().bullmqPrefix}-${name}-${randomBytes(3).toString('hex')}`;

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
    async waitFor(predicate: (event: AuditEvent) => boolean, timeoutMs = 5000): Promise<AuditEvent> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = (await events()).find(predicate);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching audit event within ${timeoutMs} ms`);
        await sleep(25);
      }
    },
    async close() {
      await queue.close();
      connection.disconnect();
    },
  };
}
