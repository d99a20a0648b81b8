/**
 * `npm run audit:digest-keys:rotate [-- --json]`: rotates the audit digest signing keys now against
 * the configured database (the maintenance worker's configuration; in development, after
 * `npm start`, what it left in dev-settings.json fills in what the environment does not set),
 * publishes digest_key_rotated (source `cli`) and prints the result in the shape keys:rotate prints
 * (`active_kid`, …). Used after a change of AUDIT_DIGEST_KEY_ENCRYPTION_KEY (twice,
 * docs/SECRETS_MANAGEMENT.md) or when a digest key may have leaked. Exits 1 on failure; under
 * AUDIT_DELIVERY=fail-closed it refuses to rotate while the audit queue is unreachable.
 */

import { auditedAction } from '../services/audit-log/audited-action.ts';
import { digestKeyRotationEvents } from '../services/audit-log/digests/digest-key-audit.ts';
import { ensureDigestKeys, rotateDigestKeys } from '../services/audit-log/digests/digest-keys.ts';
import { rotationAnswer } from '../services/signing-keys/key-answers.ts';
import { runAuditedCli } from './cli/audited-cli.ts';

await runAuditedCli({
  name: 'audit:digest-keys:rotate',
  title: 'Audit digest keys rotated',
  action: async ({ config, prisma, audit }) => {
    const keys = { prisma, kek: config.auditDigestKeyEncryptionKey!, rotationSchedule: config.auditDigests.keyRotationSchedule };
    await ensureDigestKeys(keys);
    return auditedAction(audit, () => rotateDigestKeys(keys, { force: true }), digestKeyRotationEvents({}, 'cli'));
  },
  answer: rotationAnswer,
});
