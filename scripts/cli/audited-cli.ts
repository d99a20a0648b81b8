/**
 * What every maintenance command line shares: the maintenance worker's configuration, logs on
 * stderr so stdout holds only the JSON result, an audit publisher of source `cli` with its own
 * spool file (a line left there is replayed by the next run of a command), and an exit code of 1
 * naming the problem. Under AUDIT_DELIVERY=fail-closed an action is refused while the audit queue
 * is unreachable.
 */
import type { Redis } from 'ioredis';
import type { PrismaClient } from '../../services/platform/db/client.ts';
import { createAuditPublisher, type AuditPublisher } from '../../services/audit-log/publisher.ts';
import { ConfigError, loadConfig, type Config } from '../../services/platform/config/index.ts';
import { AppError } from '../../services/platform/errors.ts';
import { createPrismaClient } from '../../services/platform/db/client.ts';
import { createLogger, type Logger } from '../../services/platform/logger.ts';
import { createRedis, waitForRedis } from '../../services/platform/redis.ts';

export interface CliContext {
  config: Config;
  logger: Logger;
  prisma: PrismaClient;
  redis: Redis;
  audit: AuditPublisher;
}

/** Runs `action` and prints what it returns as JSON; `name` is the npm script, for messages. */
export async function runAuditedCli(name: string, action: (ctx: CliContext) => Promise<unknown>): Promise<void> {
  try {
    const config = loadConfig('maintenance', process.env);
    const logger = createLogger({ service: name.replaceAll(':', '-'), level: config.logLevel }, process.stderr);
    const prisma = createPrismaClient(config.databaseUrl.reveal());
    const redis = createRedis(config.redisUrl, 'producer', logger, name);
    let audit: AuditPublisher | undefined;
    try {
      await waitForRedis(redis, 5000).catch((err: Error) => logger.warn({ err: err.message }, 'redis unreachable: running processes hear of the change later'));
      audit = await createAuditPublisher({
        redis,
        bullmqPrefix: config.bullmqPrefix,
        source: 'cli',
        delivery: config.audit.delivery,
        spoolDir: config.audit.spoolDir,
        logger,
      });
      const result = await action({ config, logger, prisma, redis, audit });
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } finally {
      await audit?.close();
      redis.disconnect();
      await prisma.$disconnect();
    }
  } catch (error) {
    console.error(`${name}: ${error instanceof ConfigError || error instanceof AppError ? error.message : ((error as Error).stack ?? String(error))}`);
    process.exitCode = 1;
  }
}
