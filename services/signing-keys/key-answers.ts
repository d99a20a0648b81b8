import type { RevocationResult, RotationResult } from './key-lifecycle.ts';

/** A rotation of either key set: JWT signing keys, or the audit digest keys, whose result has the same members. */
export type KeyRotationOutcome = Pick<RotationResult, 'rotated' | 'activeKid' | 'nextKid' | 'retiredKids'>;

/**
 * A rotation as the admin API answers it (`POST /api/v1/keys/rotate`), in the API's snake_case; the
 * command lines print the same object, so a script written against one reads the other.
 */
export function rotationAnswer(result: KeyRotationOutcome) {
  return { rotated: result.rotated, active_kid: result.activeKid, next_kid: result.nextKid, retired_kids: result.retiredKids };
}

/** A revocation as the admin API answers it (`POST /api/v1/keys/:kid/revoke`). */
export function revocationAnswer(result: RevocationResult) {
  return { revoked_kid: result.revokedKid, active_kid: result.activeKid, next_kid: result.nextKid };
}
