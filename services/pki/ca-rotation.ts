import type { Registry } from 'prom-client';
import { auditedAction, reasonOf, statusOf, type ActionEvents } from '../audit-log/audited-action.ts';
import type { AuditEventInput, AuditPublisher } from '../audit-log/publisher.ts';
import { ChangeTopic, publishChangeNotice } from '../platform/change-notices.ts';
import type { Logger } from '../platform/logger.ts';
import { tlsRotations } from '../platform/tls/tls-metrics.ts';
import type { CertificateAuthority, RotationOutcome } from './certificate-authority.ts';
import type { RedisClient } from '../platform/redis.ts';

export type CaRotationTrigger = 'schedule' | 'job' | 'catch_up' | 'cli';

export interface CaRotationDeps {
  ca: CertificateAuthority;
  audit: AuditPublisher;
  redis: RedisClient;
  bullmqPrefix: string;
  registry: Registry;
  logger: Logger;
}

/** certificate_rotation for a rotation that changed something (and for a failed one); none for a tick with nothing due. */
function rotationEvents(kind: 'intermediate' | 'root', context: Partial<AuditEventInput>, trigger: CaRotationTrigger): ActionEvents<RotationOutcome> {
  const event = (status: AuditEventInput['status'], resourceId: string | null, details: Record<string, string | string[] | null>): AuditEventInput => ({
    event_type: 'certificate_rotation',
    action: `rotate_${kind}`,
    status,
    resource_type: `ca_${kind}`,
    resource_id: resourceId,
    ...context,
    details: { trigger, ...details },
  });
  return {
    success: (outcome) =>
      outcome.rotated
        ? event('success', outcome.fingerprint, {
            step: outcome.step,
            fingerprint: outcome.fingerprint,
            previous_fingerprint: outcome.previousFingerprint,
            retired: outcome.retired,
          })
        : undefined,
    failed: (error) => event(statusOf(error), null, { reason: reasonOf(error) }),
  };
}

/**
 * One rotation tick of the CA's intermediate or root: audited, counted, and told to every process
 * (which re-reads the trust bundle) when something changed.
 */
export async function rotateAuthority(
  kind: 'intermediate' | 'root',
  deps: CaRotationDeps,
  options: { force?: boolean; trigger: CaRotationTrigger; context?: Partial<AuditEventInput> },
): Promise<RotationOutcome> {
  const rotations = tlsRotations(deps.registry);
  // Both series exist from the first tick on, so an alert's increase() sees the first failure.
  for (const status of ['success', 'failure']) rotations.inc({ kind, status }, 0);
  try {
    const outcome = await auditedAction(
      deps.audit,
      () => (kind === 'root' ? deps.ca.rotateRoot({ force: options.force }) : deps.ca.rotateIntermediate({ force: options.force })),
      rotationEvents(kind, options.context ?? {}, options.trigger),
    );
    if (outcome.rotated) {
      rotations.inc({ kind, status: 'success' });
      await publishChangeNotice(
        deps.redis,
        deps.bullmqPrefix,
        ChangeTopic.PkiChanged,
        { kind, step: outcome.step, fingerprint: outcome.fingerprint },
        deps.logger,
      );
    }
    return outcome;
  } catch (err) {
    rotations.inc({ kind, status: 'failure' });
    throw err;
  }
}
