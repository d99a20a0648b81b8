/**
 * One `record-audit-event` job: validate the event, hand it to the batch of the moment, settle
 * when that batch's transaction has committed (or failed). An invalid payload fails at once and
 * for good; a failed batch retries with the queue's backoff, except while the database is
 * unreachable: then the jobs wait in `delayed` without spending attempts, so an outage of any
 * length loses nothing.
 */
import { DelayedError, type Job } from 'bullmq';
import type { AuditEvent } from '../../services/audit-log/events.ts';
import type { PrismaClient } from '../../services/platform/db/client.ts';
import type { Logger } from '../../services/platform/logger.ts';
import { chainOfEvent } from '../../services/audit-log/chain-assignment.ts';
import { createBatcher, type BatcherOptions } from './batcher.ts';
import type { WriteOutcome } from '../../services/audit-log/chain-writer.ts';
import { InvalidAuditEventError, parseAuditJobData } from './event-validation.ts';
import type { WriterMetrics } from './writer-metrics.ts';

const OUTAGE_DELAY_MS = { first: 1000, max: 30_000 };
const PING_TIMEOUT_MS = 2000;

class DatabaseUnavailableError extends Error {
  constructor(
    readonly retryInMs: number,
    cause: unknown,
  ) {
    super(`database unreachable: ${(cause as Error).message}`, { cause });
    this.name = 'DatabaseUnavailableError';
  }
}

async function databaseReachable(prisma: PrismaClient): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
  });
  const ping = prisma.$queryRaw`SELECT 1 AS ok`.then(
    () => true,
    () => false,
  );
  return Promise.race([ping, timeout]).finally(() => clearTimeout(timer));
}

export interface EventRecorder {
  record(job: Job, token?: string): Promise<WriteOutcome>;
  /**
   * A `record-audit-events` job: each valid event goes into the batches like a single one; an
   * invalid one is dead-lettered alone and the others are stored, so one bad event never holds back
   * or drops its group. Resolves with one outcome per event (`refused` for a dead-lettered one).
   */
  recordGroup(job: Job, token?: string): Promise<(WriteOutcome | 'refused')[]>;
  /** Flushes the batches that are gathering and waits for every one in flight. */
  drain(): Promise<void>;
}

export function createEventRecorder(deps: {
  prisma: PrismaClient;
  logger: Logger;
  metrics: WriterMetrics;
  /** Appends a batch to the chain (in-process, or in the writer thread). */
  writer: { write(events: AuditEvent[]): Promise<{ outcomes: WriteOutcome[] }> };
  batch?: Partial<BatcherOptions>;
  /** AUDIT_CHAINS: one micro-batcher per chain. @defaultValue 1 */
  chains?: number;
  /**
   * Keeps a refused payload on the dead-letter queue under `deadLetterId` (so a redelivery keeps it
   * once); a rejection fails the job for a retry rather than lose it.
   */
  deadLetter(refused: { sourceJobId: string | null; deadLetterId: string | undefined; payload: unknown }, reason: string): Promise<void>;
}): EventRecorder {
  const { prisma, logger, metrics, writer } = deps;
  let outageDelay = OUTAGE_DELAY_MS.first;

  const flush = async (events: AuditEvent[]): Promise<WriteOutcome[]> => {
    let result: { outcomes: WriteOutcome[] };
    try {
      result = await writer.write(events);
    } catch (err) {
      if (await databaseReachable(prisma)) {
        logger.warn({ err: (err as Error).message, events: events.length }, 'audit batch failed; its jobs retry with backoff');
        throw err;
      }
      logger.warn({ err: (err as Error).message, events: events.length, retryInMs: outageDelay }, 'database unreachable; audit events wait in delayed');
      const unavailable = new DatabaseUnavailableError(outageDelay, err);
      outageDelay = Math.min(outageDelay * 2, OUTAGE_DELAY_MS.max);
      throw unavailable;
    }
    outageDelay = OUTAGE_DELAY_MS.first;
    const committedAt = Date.now();
    metrics.batchSize.observe(events.length);
    let duplicates = 0;
    for (const [i, outcome] of result.outcomes.entries()) {
      const event = events[i]!;
      if (outcome === 'duplicate') {
        duplicates++;
        continue;
      }
      metrics.stored.inc({ event_category: event.event_category, event_type: event.event_type, status: event.status });
      metrics.persistLatency.observe(Math.max(0, committedAt - Date.parse(event.timestamp)) / 1000);
    }
    if (duplicates > 0) metrics.duplicates.inc(duplicates);
    return result.outcomes;
  };
  // A batcher per chain, so a batch is one chain's and one transaction: split at commit instead, a
  // batch of 500 over N chains would become N transactions of 500 / N, each paying a transaction's
  // fixed cost (lock, duplicate probe, insert, round trips) for fewer records.
  const chains = deps.chains ?? 1;
  const batchers = Array.from({ length: chains }, () => createBatcher(flush, deps.batch));
  const batcherOf = (event: AuditEvent) => batchers[chainOfEvent(event.event_id, chains)]!;

  const refuse = async (job: Job, payload: unknown, err: unknown, index?: number) => {
    // Kept before the job fails for good: a payload the writer cannot store is never simply dropped.
    if (err instanceof InvalidAuditEventError) {
      const deadLetterId = job.id ? (index === undefined ? `dead-${job.id}` : `dead-${job.id}-${index}`) : undefined;
      await deps.deadLetter({ sourceJobId: job.id ?? null, deadLetterId, payload }, err.message);
    }
    metrics.rejected.inc();
    logger.error({ jobId: job.id, index, err: (err as Error).message }, 'audit event refused and dead-lettered');
  };

  /** Waits for the batches holding `events`; while the database is away the job waits in delayed instead. */
  const store = async <T>(job: Job, token: string | undefined, pending: Promise<T>): Promise<T> => {
    try {
      return await pending;
    } catch (err) {
      if (!(err instanceof DatabaseUnavailableError) || !token) throw err;
      await job.moveToDelayed(Date.now() + err.retryInMs, token);
      throw new DelayedError();
    }
  };

  return {
    async record(job, token) {
      let event: AuditEvent;
      try {
        event = parseAuditJobData(job.data);
      } catch (err) {
        await refuse(job, job.data, err);
        throw err;
      }
      return store(job, token, batcherOf(event).add(event));
    },
    async recordGroup(job, token) {
      const events: unknown = (job.data as { events?: unknown } | undefined)?.events;
      if (!Array.isArray(events) || events.length === 0) {
        const err = new InvalidAuditEventError('a record-audit-events job carries a non-empty "events" array');
        await refuse(job, job.data, err);
        throw err;
      }
      // Every event of the group is handed to the batches before any is awaited, so they share batches.
      const pending = events.map((data, index): Promise<WriteOutcome | 'refused'> => {
        let event: AuditEvent;
        try {
          event = parseAuditJobData(data);
        } catch (err) {
          return refuse(job, data, err, index).then(() => 'refused' as const);
        }
        return batcherOf(event).add(event);
      });
      return store(job, token, Promise.all(pending));
    },
    drain: async () => {
      await Promise.all(batchers.map((batcher) => batcher.drain()));
    },
  };
}
