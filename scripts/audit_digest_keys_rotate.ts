/**
 * `npm run audit:digest-keys:rotate`: rotates the audit digest signing keys now against the
 * configured database (the maintenance worker's configuration, read from the environment),
 * publishes digest_key_rotated (source `cli`) and prints the result as JSON. Used after a change
 * of AUDIT_DIGEST_KEY_ENCRYPTION_KEY (twice, docs/SECRETS_MANAGEMENT.md) or when a digest key may
 * have leaked. Exits 1 on failure; under AUDIT_DELIVERY=fail-closed it refuses to rotate while the
 * audit queue is unreachable.
 */
import { auditedAction } from '../services/audit-log/audited-action.ts';
import { digestKeyRotationEvents } from '../services/audit-log/digests/digest-key-audit.ts';
import { ensureDigestKeys, rotateDigestKeys } from '../services/audit-log/digests/digest-keys.ts';
import { createAuditPublisher, type AuditPublisher } from '../services/audit-log/publisher.ts';
import { ConfigError, loadConfig } from '../services/platform/config/index.ts';
import { AppError } from '../services/platform/errors.ts';
import { createPrismaClient } from '../services/platform/db/client.ts';
import { createLogger } from '../services/platform/logger.ts';
import { createRedis, waitForRedis } from '../services/platform/redis.ts';

async function rotateNow(): Promise<void> {
  const config = loadConfig('maintenance', process.env);
  // Logs go to stderr so stdout holds only the JSON result.
  const logger = createLogger({ service: 'audit-digest-keys-rotate', level: config.logLevel }, process.stderr);
  const prisma = createPrismaClient(config.databaseUrl.reveal());
  const redis = createRedis(config.redisUrl, 'producer', logger, 'audit-digest-keys-rotate');
  let audit: AuditPublisher | undefined;
  try {
    await waitForRedis(redis, 5000).catch((err: Error) => logger.warn({ err: err.message }, 'redis unreachable'));
    // Its own spool file (cli.ndjson): a line left there is replayed by the next run of a CLI.
    audit = await createAuditPublisher({
      redis,
      bullmqPrefix: config.bullmqPrefix,
      source: 'cli',
      delivery: config.audit.delivery,
      spoolDir: config.audit.spoolDir,
      logger,
    });
    const keys = { prisma, kek: config.auditDigestKeyEncryptionKey!, rotationSchedule: config.auditDigests.keyRotationSchedule };
    await ensureDigestKeys(keys);
    const result = await auditedAction(audit, () => rotateDigestKeys(keys, { force: true }), digestKeyRotationEvents({}, 'cli'));
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await audit?.close();
    redis.disconnect();
    await prisma.$disconnect();
  }
}

try {
  await rotateNow();
} catch (error) {
  console.error(
    `audit:digest-keys:rotate: ${error instanceof ConfigError || error instanceof AppError ? error.message : ((error as Error).stack ?? String(error))}`,
  );
  process.exitCode = 1;
}
