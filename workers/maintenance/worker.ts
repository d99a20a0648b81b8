import type { Job } from 'bullmq';
import { createKeyService, type KeyService } from '../../services/signing-keys/key-service.ts';
import { schedulerRepeatOptions } from '../../services/signing-keys/schedule-ticks.ts';
import { keyRotationEvents } from '../../services/signing-keys/key-audit.ts';
import { auditedAction } from '../../services/audit-log/audited-action.ts';
import type { Config } from '../../services/platform/config/index.ts';
import { AppError } from '../../services/platform/errors.ts';
import type { Logger } from '../../services/platform/logger.ts';
import {
  DEFAULT_JOB_OPTIONS,
  MaintenanceJob,
  QueueName,
  type ContractQueue,
  type RotateAuditDigestKeysPayload,
  type RotateJwtKeysPayload,
  type WeeklyCleanupPayload,
} from '../../services/platform/queues.ts';
import { openQueueWithOwnConnection } from '../../services/platform/redis.ts';
import type { ServiceDeps } from '../../services/platform/runtime.ts';
import { startWorkerService } from '../../services/platform/worker-runtime.ts';
import { applyAuditRetention } from '../../services/audit-log/retention.ts';
import { digestKeyRotationEvents } from '../../services/audit-log/digests/digest-key-audit.ts';
import { ensureDigestKeys, replanDigestKeyRotation, rotateDigestKeys, type DigestKeyContext } from '../../services/audit-log/digests/digest-keys.ts';
import { logDigest } from '../../services/audit-log/digests/periodic-digests.ts';
import { certificatesFromAuthority } from '../../services/pki/authority-source.ts';
import type { CertificateAuthority } from '../../services/pki/certificate-authority.ts';
import { caOf, rotateCa, upsertCaSchedulers } from './ca-rotation-jobs.ts';

/** The tick a scheduler job was made for: BullMQ names those jobs `repeat:<scheduler id>:<millis>`. */
function scheduledTickOf(job: Job): Date | undefined {
  const millis = job.repeatJobKey ? /^repeat:.+:(\d+)$/.exec(job.id ?? '')?.[1] : undefined;
  return millis ? new Date(Number(millis)) : undefined;
}

/** A rotation nobody can audit waits: under fail-closed the job fails before any change and retries with backoff. */
async function rotateJwtKeys(job: Job<Partial<RotateJwtKeysPayload>>, keys: KeyService, { logger, audit }: ServiceDeps) {
  await keys.ensure();
  const result = await auditedAction(
    audit,
    () => keys.rotate({ force: job.data?.force === true, scheduledAt: scheduledTickOf(job) }),
    keyRotationEvents({ request_id: job.id ?? null }, job.repeatJobKey ? 'schedule' : 'job'),
  );
  logger.info({ jobId: job.id, ...result }, result.rotated ? 'rotate-jwt-keys: rotated' : `rotate-jwt-keys: skipped (${result.skippedReason})`);
  return result;
}

/** Like the JWT rotation: a duplicate job for the same tick changes nothing, and nobody-can-audit-it waits. */
async function rotateAuditDigestKeys(job: Job<Partial<RotateAuditDigestKeysPayload>>, digestKeys: DigestKeyContext, { logger, audit }: ServiceDeps) {
  await ensureDigestKeys(digestKeys);
  const result = await auditedAction(
    audit,
    () => rotateDigestKeys(digestKeys, { force: job.data?.force === true, scheduledAt: scheduledTickOf(job) }),
    digestKeyRotationEvents({ request_id: job.id ?? null }, job.repeatJobKey ? 'schedule' : 'job'),
  );
  logger.info(
    { jobId: job.id, ...result },
    result.rotated ? 'rotate-audit-digest-keys: rotated' : `rotate-audit-digest-keys: skipped (${result.skippedReason})`,
  );
  return result;
}

/** Retired signing keys past their retention, then audit records past theirs (services/audit-log/retention.ts). */
async function weeklyCleanup(job: Job<WeeklyCleanupPayload>, keys: KeyService, digestKeys: DigestKeyContext, { logger, prisma, config }: ServiceDeps) {
  const result = await keys.cleanup();
  const audit = await applyAuditRetention(prisma, { retentionDays: config.audit.retentionDays, digestKek: digestKeys.kek });
  for (const digest of audit.anchorDigests) logDigest(logger, digest);
  logger.info(
    { jobId: job.id, retiredKids: result.retiredKids, deletedKeys: result.deletedCount, audit: { ...audit, anchorDigests: audit.anchorDigests.length } },
    'weekly-cleanup: done',
  );
  return { ...result, audit };
}

/** Fixed scheduler ids (the job names), so every start replaces the same three schedulers. */
async function upsertSchedulers(
  queue: ContractQueue<typeof QueueName.Maintenance>,
  { jwt, maintenance, auditDigests }: Pick<Config, 'jwt' | 'maintenance' | 'auditDigests'>,
  now = new Date(),
) {
  await queue.upsertJobScheduler(MaintenanceJob.RotateJwtKeys, schedulerRepeatOptions(jwt.rotationSchedule, now), {
    name: MaintenanceJob.RotateJwtKeys,
    data: { force: false },
    opts: DEFAULT_JOB_OPTIONS,
  });
  await queue.upsertJobScheduler(MaintenanceJob.WeeklyCleanup, schedulerRepeatOptions(maintenance.cleanupSchedule, now), {
    name: MaintenanceJob.WeeklyCleanup,
    data: {},
    opts: DEFAULT_JOB_OPTIONS,
  });
  await queue.upsertJobScheduler(MaintenanceJob.RotateAuditDigestKeys, schedulerRepeatOptions(auditDigests.keyRotationSchedule, now), {
    name: MaintenanceJob.RotateAuditDigestKeys,
    data: { force: false },
    opts: DEFAULT_JOB_OPTIONS,
  });
}

/**
 * Signing keys exist, a rotation missed while every worker was down happens now, and the planned
 * rotation follows the configured schedule.
 */
async function prepareSigningKeys(keys: KeyService, { logger, audit }: ServiceDeps) {
  await keys.ensure();
  const catchUp = await auditedAction(audit, () => keys.rotate({ force: false }), keyRotationEvents({}, 'catch_up')).catch((err: unknown) => {
    if (!(err instanceof AppError && err.code === 'audit_unavailable')) throw err;
    logger.warn('audit log unreachable: a missed rotation is left to the scheduled job');
    return undefined;
  });
  if (catchUp?.rotated) logger.info({ ...catchUp }, 'rotated signing keys missed while no worker ran');
  const replanned = await keys.replan();
  if (replanned) logger.info({ activatesAt: replanned.toISOString() }, 'next key rotation moved onto the configured schedule');
}

/** The same for the audit digest keys. */
async function prepareDigestKeys(digestKeys: DigestKeyContext, { logger, audit }: ServiceDeps) {
  await ensureDigestKeys(digestKeys);
  const catchUp = await auditedAction(audit, () => rotateDigestKeys(digestKeys, { force: false }), digestKeyRotationEvents({}, 'catch_up')).catch(
    (err: unknown) => {
      if (!(err instanceof AppError && err.code === 'audit_unavailable')) throw err;
      logger.warn('audit log unreachable: a missed digest key rotation is left to the scheduled job');
      return undefined;
    },
  );
  if (catchUp?.rotated) logger.info({ ...catchUp }, 'rotated audit digest keys missed while no worker ran');
  const replanned = await replanDigestKeyRotation(digestKeys);
  if (replanned) logger.info({ activatesAt: replanned.toISOString() }, 'next audit digest key rotation moved onto the configured schedule');
}

/** The maintenance worker: runs the scheduled JWT and audit digest key rotations, the CA's rotations and the weekly cleanup. */
export async function start(config: Config, options: { logger?: Logger } = {}) {
  const digestKek = config.auditDigestKeyEncryptionKey;
  if (!digestKek) throw new Error('AUDIT_DIGEST_KEY_ENCRYPTION_KEY is required by maintenance to rotate audit digest keys');
  let keys: KeyService | undefined;
  // Processors may run before start() finishes; whoever comes first creates the one key service.
  const keyService = (deps: ServiceDeps) => (keys ??= createKeyService(deps));
  const digestKeys = (deps: ServiceDeps): DigestKeyContext => ({
    prisma: deps.prisma,
    kek: digestKek,
    rotationSchedule: config.auditDigests.keyRotationSchedule,
  });
  let authority: CertificateAuthority | undefined;
  const ca = (deps: ServiceDeps) => (authority ??= caOf(config, deps));
  const service = await startWorkerService(config, {
    queue: QueueName.Maintenance,
    certificates: (deps) => {
      const held = ca(deps);
      if (!held) throw new Error('PKI_KEY_ENCRYPTION_KEY is required by maintenance with TLS_MODE=on');
      return certificatesFromAuthority(held, 'maintenance');
    },
    prepare: async (deps) => {
      await ca(deps)?.ensure();
    },
    processors: {
      [MaintenanceJob.RotateCaIntermediate]: (job, deps) => rotateCa('intermediate', job, ca(deps), deps),
      [MaintenanceJob.RotateCaRoot]: (job, deps) => rotateCa('root', job, ca(deps), deps),
      [MaintenanceJob.RotateJwtKeys]: (job, deps) => rotateJwtKeys(job, keyService(deps), deps),
      [MaintenanceJob.WeeklyCleanup]: (job, deps) => weeklyCleanup(job, keyService(deps), digestKeys(deps), deps),
      [MaintenanceJob.RotateAuditDigestKeys]: (job, deps) => rotateAuditDigestKeys(job, digestKeys(deps), deps),
    },
    logger: options.logger,
  });
  const schedulers = openQueueWithOwnConnection(QueueName.Maintenance, config, service.deps.logger);
  const stop = async () => {
    await service.stop();
    await schedulers.close();
  };
  try {
    await prepareSigningKeys(keyService(service.deps), service.deps);
    await prepareDigestKeys(digestKeys(service.deps), service.deps);
    await upsertSchedulers(schedulers, config);
    await upsertCaSchedulers(schedulers, config);
  } catch (err) {
    await stop();
    throw err;
  }
  return { ...service, stop };
}
