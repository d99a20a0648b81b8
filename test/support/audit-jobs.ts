import { Queue, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { AuditEvent } from '../../services/audit-log/events.ts';
import { AuditJob, QueueName, type AuditEventGroup } from '../../services/platform/queues.ts';
import { testInfra } from './infra.ts';
import { waitFor } from './wait-for.ts';

/** The events some audit-events jobs carry: one per `record-audit-event` job, all of a `record-audit-events` group, in order. */
export function eventsOfJobs(jobs: readonly Job[]): AuditEvent[] {
  return jobs.flatMap((job) =>
    job.name === AuditJob.RecordGroup ? (job.data as AuditEventGroup).events : job.name === AuditJob.Record ? [job.data as AuditEvent] : [],
  );
}

/** Reads the jobs of the audit-events queue under one prefix, straight from the run's Redis. */
export function auditJobs(prefix: string) {
  const connection = new Redis(testInfra().redisUrl);
  const queue = new Queue(QueueName.AuditEvents, { connection, prefix });
  const jobs = () => queue.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized']);
  const events = async (): Promise<AuditEvent[]> => eventsOfJobs(await jobs());
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
