import type { AuditContext, RotationTrigger } from '../../signing-keys/key-audit.ts';
import type { ActionEvents } from '../audited-action.ts';
import type { DigestKeyRotation } from './digest-keys.ts';

/** digest_key_rotated for a rotation that happened (the resource is the new active key); none for a skipped one. */
export function digestKeyRotationEvents(context: AuditContext, trigger: RotationTrigger): ActionEvents<DigestKeyRotation> {
  return {
    success: (result) =>
      result.rotated
        ? {
            event_type: 'digest_key_rotated',
            action: 'rotate',
            status: 'success',
            resource_type: 'audit_digest_key',
            resource_id: result.activeKid,
            ...context,
            details: { trigger, active_kid: result.activeKid, next_kid: result.nextKid, retired_kids: result.retiredKids },
          }
        : undefined,
  };
}
