import { ensureAuditPartitions } from '../../services/audit-log/audit-partitions.ts';
import type { Config } from '../../services/platform/config/index.ts';
import { createLogger, type Logger } from '../../services/platform/logger.ts';
import { AuditJob, DeadLetterJob, QueueName } from '../../services/platform/queues.ts';
import { openQueueWithOwnConnection } from '../../services/platform/redis.ts';
import { startWorkerService } from '../../services/platform/worker-runtime.ts';
import type { BatcherOptions } from './batcher.ts';
import { chainIdsUpTo } from '../../services/audit-log/chain-assignment.ts';
import { ensureChainHeads } from '../../services/audit-log/chain-writer.ts';
import { upsertCheckpointScheduler, writeCheckpoints } from '../../services/audit-log/checkpoints.ts';
import { ensureDigestKeys } from '../../services/audit-log/digests/digest-keys.ts';
import { upsertDigestScheduler, writePeriodicDigests } from '../../services/audit-log/digests/periodic-digests.ts';
import { createEventRecorder, type EventRecorder } from './event-recorder.ts';
import { startThreadedChainWriter } from './threaded-chain-writer.ts';
import { createWriterMetrics } from './writer-metrics.ts';

/** Jobs held at once per chain: about two full batches, so one gathers while the other commits. */
export const DEFAULT_WRITER_CONCURRENCY = 1000;

export interface AuditWriterOptions {
  logger?: Logger;
  /** @defaultValue DEFAULT_WRITER_CONCURRENCY × the chains written */
  concurrency?: number;
  batch?: Partial<BatcherOptions>;
  /** Tests shorten locks to see a killed writer's jobs come back quickly. */
  workerOptions?: { lockDuration?: number; stalledInterval?: number; maxStalledCount?: number };
  /**
   * Benchmarks write every event to one chain of their own, or one without its Merkle tree, to
   * measure what the tree costs. @defaultValue chains 0 … AUDIT_CHAINS − 1, each with its tree
   */
  chain?: { chainId?: number; merkleTrees?: boolean };
}

/**
 * The audit-writer worker: takes `audit-events` jobs in micro-batches and appends each batch —
 * signed, chained, deduplicated — in one transaction per chain (AUDIT_CHAINS); records periodic
 * checkpoints and signed digests of every chain.
 */
export async function start(config: Config, options: AuditWriterOptions = {}) {
  const digestKek = config.auditDigestKeyEncryptionKey;
  if (!digestKek) throw new Error('AUDIT_DIGEST_KEY_ENCRYPTION_KEY is required by audit-writer to sign audit digests');
  let recorder: EventRecorder | undefined;
  const chainIds = options.chain?.chainId === undefined ? chainIdsUpTo(config.audit.chains) : [options.chain.chainId];
  const chainWriter = startThreadedChainWriter(config, options.chain);
  const logger = options.logger ?? createLogger({ service: config.service, level: config.logLevel });
  const deadLetters = openQueueWithOwnConnection(QueueName.AuditDeadLetter, config, logger, {
    defaultJobOptions: { removeOnComplete: false, removeOnFail: false },
  });
  const service = await startWorkerService(config, {
    queue: QueueName.AuditEvents,
    concurrency: options.concurrency ?? DEFAULT_WRITER_CONCURRENCY * chainIds.length,
    // A stall only means a writer died holding the job; redelivery is harmless, failing it is not.
    workerOptions: { maxStalledCount: 20, ...options.workerOptions },
    logger,
    prepare: async (deps) => {
      await ensureChainHeads(deps.prisma, chainIds, { merkleTrees: options.chain?.merkleTrees });
      deps.logger.info({ chain_ids: chainIds }, 'audit writer appends new events to these chains');
      const created = await ensureAuditPartitions(deps.prisma);
      if (created.length > 0) deps.logger.info({ partitions: created }, 'audit_logs partitions created');
      // The first digest can be signed before any maintenance worker has run.
      await ensureDigestKeys({ prisma: deps.prisma, kek: digestKek, rotationSchedule: config.auditDigests.keyRotationSchedule });
      recorder = createEventRecorder({
        prisma: deps.prisma,
        logger: deps.logger,
        metrics: createWriterMetrics(deps.metrics.registry),
        writer: chainWriter,
        batch: options.batch,
        chains: chainIds.length,
        deadLetter: async ({ sourceJobId, deadLetterId, payload }, reason) => {
          // jobId from the refused job's id (and the event's place in a group): a redelivery of the same refusal is kept once.
          await deadLetters.add(
            DeadLetterJob.DeadAuditEvent,
            { source_job_id: sourceJobId, reason, refused_at: new Date().toISOString(), payload },
            deadLetterId ? { jobId: deadLetterId } : {},
          );
        },
      });
    },
    processors: {
      [AuditJob.Record]: (job, _deps, token) => recorder!.record(job, token),
      [AuditJob.RecordGroup]: (job, _deps, token) => recorder!.recordGroup(job, token),
      [AuditJob.Checkpoint]: async (_job, deps) => ({ checkpoints: (await writeCheckpoints(deps.prisma, deps.logger)).length }),
      [AuditJob.Digest]: (_job, deps) => writePeriodicDigests({ prisma: deps.prisma, logger: deps.logger, kek: digestKek, config: config.auditDigests }),
    },
  }).catch(async (err: unknown) => {
    await chainWriter.close();
    await deadLetters.close();
    throw err;
  });
  const schedulers = openQueueWithOwnConnection(QueueName.AuditEvents, config, logger);
  const stop = async () => {
    // Closing the worker waits for its active jobs, whose batches flush on their timers.
    await service.stop();
    await chainWriter.close();
    await schedulers.close();
    await deadLetters.close();
  };
  try {
    await upsertCheckpointScheduler(schedulers, config.audit.checkpointEveryMs);
    await upsertDigestScheduler(schedulers, config.auditDigests.everyMs);
  } catch (err) {
    await stop();
    throw err;
  }
  return { ...service, stop };
}
