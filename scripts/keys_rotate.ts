/**
 * `npm run keys:rotate [-- --json]`: rotates the JWT signing keys now against the configured
 * database (the maintenance worker's configuration; in development, after `npm start`, what it left
 * in dev-settings.json fills in what the environment does not set), tells running admin modules,
 * publishes key_rotated (source `cli`), and prints what `POST /api/v1/keys/rotate` answers
 * (`active_kid`, …). Exits 1 on failure; under AUDIT_DELIVERY=fail-closed it refuses to rotate while
 * the audit queue is unreachable.
 */
import { auditedAction } from '../services/audit-log/audited-action.ts';
import { keyRotationEvents } from '../services/signing-keys/key-audit.ts';
import { rotationAnswer } from '../services/signing-keys/key-answers.ts';
import { createKeyService } from '../services/signing-keys/key-service.ts';
import { runAuditedCli } from './cli/audited-cli.ts';

await runAuditedCli({
  name: 'keys:rotate',
  title: 'JWT signing keys rotated',
  action: async ({ config, prisma, redis, logger, audit }) => {
    const keys = createKeyService({ config, prisma, redis, logger });
    await keys.ensure();
    return auditedAction(audit, () => keys.rotate({ force: true }), keyRotationEvents({}, 'cli'));
  },
  answer: rotationAnswer,
});
