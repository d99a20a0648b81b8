/**
 * `npm run keys:rotate`: rotates the JWT signing keys now against the configured database (the
 * maintenance worker's configuration, read from the environment), tells running admin modules,
 * publishes key_rotated (source `cli`), and prints the result as JSON. Exits 1 on failure; under
 * AUDIT_DELIVERY=fail-closed it refuses to rotate while the audit queue is unreachable.
 */
import { keyRotationEvents } from '../services/signing-keys/key-audit.ts';
import { createKeyService } from '../services/signing-keys/key-service.ts';
import { auditedAction } from '../services/audit-log/audited-action.ts';
import { createAuditPublisher, type AuditPublisher } from '../services/audit-log/publisher.ts';
import { ConfigError, loadConfig } from '../services/platform/config/index.ts';
import { AppError } from '../services/platform/errors.ts';
import { createPrismaClient } from '../services/platform/db/client.ts';
import { createLogger } from '../services/platform/logger.ts';
import { createRedis, waitForRedis } from '../services/platform/redis.ts';

async function rotateNow(): Promise<void> {
  const config = loadConfig('maintenance', process.env);
  // Logs go to stderr so stdout holds only the JSON result.
  const logger = createLogger({ service: 'keys-rotate', level: config.logLevel }, process.stderr);
  const prisma = createPrismaClient(config.databaseUrl.reveal());
  const redis = createRedis(config.redisUrl, 'producer', logger, 'keys-rotate');
  let audit: AuditPublisher | undefined;
  try {
    await waitForRedis(redis, 5000).catch((err: Error) =>
      logger.warn({ err: err.message }, 'redis unreachable: admin modules will see the new key within their cache TTL'),
    );
    // Its own spool file (cli.ndjson): a line left there is replayed by the next run of this command.
    audit = await createAuditPublisher({
      redis,
      bullmqPrefix: config.bullmqPrefix,
      source: 'cli',
      delivery: config.audit.delivery,
      spoolDir: config.audit.spoolDir,
      logger,
    });
    const keys = createKeyService({ config, prisma, redis, logger });
    await keys.ensure();
    const result = await auditedAction(audit, () => keys.rotate({ force: true }), keyRotationEvents({}, 'cli'));
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
  console.error(`keys:rotate: ${error instanceof ConfigError || error instanceof AppError ? error.message : ((error as Error).stack ?? String(error))}`);
  process.exitCode = 1;
}
