/**
 * `npm run keys:rotate`: rotates the JWT signing keys now against the configured database (the
 * maintenance worker's configuration, read from the environment), tells running admin modules,
 * publishes key_rotated (source `cli`), and prints the result as JSON. Exits 1 on failure; under
 * AUDIT_DELIVERY=fail-closed it refuses to rotate while the audit queue is unreachable.
 */
import { auditedAction } from '../services/audit-log/audited-action.ts';
import { keyRotationEvents } from '../services/signing-keys/key-audit.ts';
import { createKeyService } from '../services/signing-keys/key-service.ts';
import { runAuditedCli } from './cli/audited-cli.ts';

await runAuditedCli('keys:rotate', async ({ config, prisma, redis, logger, audit }) => {
  const keys = createKeyService({ config, prisma, redis, logger });
  await keys.ensure();
  return auditedAction(audit, () => keys.rotate({ force: true }), keyRotationEvents({}, 'cli'));
});
