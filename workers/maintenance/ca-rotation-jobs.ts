import type { Job } from 'bullmq';
import type { Config } from '../../services/platform/config/index.ts';
import { DEFAULT_JOB_OPTIONS, MaintenanceJob, type ContractQueue, type QueueName, type RotateCaPayload } from '../../services/platform/queues.ts';
import type { ServiceDeps } from '../../services/platform/runtime.ts';
import { schedulerRepeatOptions } from '../../services/signing-keys/schedule-ticks.ts';
import { createCertificateAuthority, type CertificateAuthority } from '../../services/pki/certificate-authority.ts';
import { rotateAuthority } from '../../services/pki/ca-rotation.ts';

/** The CA the maintenance worker rotates; undefined when PKI_KEY_ENCRYPTION_KEY is not given (no internal CA). */
export function caOf(config: Config, deps: Pick<ServiceDeps, 'prisma'>): CertificateAuthority | undefined {
  return config.pki.keyEncryptionKey ? createCertificateAuthority(deps.prisma, config.pki) : undefined;
}

/**
 * One tick of `rotate-ca-intermediate` or `rotate-ca-root`: the CA's own check of what is due makes a
 * duplicate job for the same tick change nothing, and the CA's database lock keeps replicas apart.
 */
export async function rotateCa(kind: 'intermediate' | 'root', job: Job<Partial<RotateCaPayload>>, ca: CertificateAuthority | undefined, deps: ServiceDeps) {
  if (!ca) {
    deps.logger.warn({ jobId: job.id }, `rotate-ca-${kind}: no internal CA here (PKI_KEY_ENCRYPTION_KEY not set); skipped`);
    return { rotated: false, reason: 'no internal CA' };
  }
  await ca.ensure();
  const outcome = await rotateAuthority(
    kind,
    { ca, audit: deps.audit, redis: deps.redis, bullmqPrefix: deps.config.bullmqPrefix, registry: deps.metrics.registry, logger: deps.logger },
    { force: job.data?.force === true, trigger: job.repeatJobKey ? 'schedule' : 'job', context: { request_id: job.id ?? null } },
  );
  deps.logger.info({ jobId: job.id, ...outcome }, outcome.rotated ? `rotate-ca-${kind}: ${outcome.step}` : `rotate-ca-${kind}: skipped (${outcome.reason})`);
  return outcome;
}

/** The CA's two schedulers, when this deployment runs the internal CA. */
export async function upsertCaSchedulers(queue: ContractQueue<typeof QueueName.Maintenance>, config: Config, now = new Date()) {
  if (!config.pki.keyEncryptionKey) return;
  for (const [name, schedule] of [
    [MaintenanceJob.RotateCaIntermediate, config.pki.intermediateRotationSchedule],
    [MaintenanceJob.RotateCaRoot, config.pki.rootRotationSchedule],
  ] as const) {
    await queue.upsertJobScheduler(name, schedulerRepeatOptions(schedule, now), { name, data: { force: false }, opts: DEFAULT_JOB_OPTIONS });
  }
}
