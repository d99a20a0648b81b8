/**
 * The audit writer's `write-audit-digest` job: a signed digest of every chain that grew (or fell
 * silent for almost AUDIT_DIGEST_MAX_SILENCE_MS), logged as one line each, then the sink directory
 * brought up to the table, which also writes out the anchor digests the maintenance worker stored.
 */
import type { KeyObject } from 'node:crypto';
import type { AuditDigestConfig } from '../../platform/config/index.ts';
import type { PrismaClient } from '../../platform/db/client.ts';
import type { Logger } from '../../platform/logger.ts';
import { AuditJob, DEFAULT_JOB_OPTIONS, type ContractQueue, type QueueName } from '../../platform/queues.ts';
import type { AuditDigest } from './digest-format.ts';
import { issueTreeDigests } from './digest-issuer.ts';
import { syncDigestSink } from './digest-sink.ts';
import { chainsWithDigests } from './digest-store.ts';

export interface PeriodicDigestDeps {
  prisma: PrismaClient;
  logger: Logger;
  /** AUDIT_DIGEST_KEY_ENCRYPTION_KEY. */
  kek: KeyObject;
  config: AuditDigestConfig;
}

export interface PeriodicDigestResult {
  issued: number;
  /** Chains whose head or tree contradicts their signed digests: no digest was signed over them. */
  refused: number;
  /** Lines appended to the sink (this run's digests and any the sink was missing). */
  appended: number;
}

/** Logs a digest as the one line the log stream keeps of it. */
export function logDigest(logger: Logger, digest: AuditDigest): void {
  logger.info({ audit_digest: digest }, 'audit digest');
}

export async function writePeriodicDigests(deps: PeriodicDigestDeps, now = new Date()): Promise<PeriodicDigestResult> {
  const { prisma, logger, config } = deps;
  const { issued, refused } = await issueTreeDigests(prisma, deps.kek, config, now);
  for (const digest of issued) logDigest(logger, digest);
  for (const err of refused)
    logger.error({ chain_id: err.chainId, reason: err.reason, err: err.message }, 'audit digest refused: the chain contradicts its signed digests');
  let appended = 0;
  const failures: Error[] = [];
  for (const chainId of await chainsWithDigests(prisma)) {
    try {
      appended += await syncDigestSink(prisma, config.dir, chainId);
    } catch (err) {
      logger.error({ chain_id: chainId, err: (err as Error).message }, 'audit digest sink not written');
      failures.push(err as Error);
    }
  }
  // The digests are stored; failing the job retries the sink and leaves the failure in Bull Board.
  if (failures.length > 0) throw new Error(`the digest sink failed for ${failures.length} chain(s): ${failures[0]!.message}`, { cause: failures[0] });
  return { issued: issued.length, refused: refused.length, appended };
}

/** One scheduler with a fixed id, so every writer start replaces the same one. */
export async function upsertDigestScheduler(queue: ContractQueue<typeof QueueName.AuditEvents>, everyMs: number): Promise<void> {
  await queue.upsertJobScheduler(AuditJob.Digest, { every: everyMs }, { name: AuditJob.Digest, data: {}, opts: DEFAULT_JOB_OPTIONS });
}
