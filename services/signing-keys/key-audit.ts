import { statusOf, reasonOf, type ActionEvents } from '../audit-log/audited-action.ts';
import type { AuditEventInput } from '../audit-log/publisher.ts';
import type { RevocationResult, RotationResult } from './key-lifecycle.ts';

/**
 * What set a rotation off: an admin's request, the daily scheduler, a job added by hand (Bull Board),
 * a worker catching up at start, `npm run keys:rotate`.
 */
export type RotationTrigger = 'api' | 'schedule' | 'job' | 'catch_up' | 'cli';

/** Who and where: the caller's account, IP and request id for the API; the job id for the worker. */
export type AuditContext = Partial<Pick<AuditEventInput, 'service_account_id' | 'ip_address' | 'user_agent' | 'request_id'>>;

/** key_rotated for a rotation that happened (the resource is the new active key); none for a skipped one. */
export function keyRotationEvents(context: AuditContext, trigger: RotationTrigger): ActionEvents<RotationResult> {
  return {
    success: (result) =>
      result.rotated
        ? {
            event_type: 'key_rotated',
            action: 'rotate',
            status: 'success',
            resource_type: 'jwt_key',
            resource_id: result.activeKid,
            ...context,
            details: { trigger, active_kid: result.activeKid, next_kid: result.nextKid, retired_kids: result.retiredKids },
          }
        : undefined,
  };
}

/** key_revoked for a revocation, and for a refused one (unknown or no longer live key) with status failure. */
export function keyRevocationEvents(context: AuditContext, kid: string): ActionEvents<RevocationResult> {
  const event = (status: AuditEventInput['status'], details: Record<string, string>): AuditEventInput => ({
    event_type: 'key_revoked',
    action: 'revoke',
    status,
    resource_type: 'jwt_key',
    resource_id: kid,
    ...context,
    details,
  });
  return {
    success: (result) => event('success', { active_kid: result.activeKid, next_kid: result.nextKid }),
    failed: (error) => event(statusOf(error), { reason: reasonOf(error) }),
  };
}
