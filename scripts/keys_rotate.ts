/**
 * `npm run keys:rotate`: rotates the JWT signing keys now against the configured database (the
 * maintenance worker's configuration, read from the environment), tells running admin modules, and
 * prints the result as JSON. Exits 1 on failure.
 */
import { createKeyService } from '../services/admin/keys/key-service.ts';
import { ConfigError, loadConfig } from '../services/platform/config.ts';
import { createPrismaClient } from '../services/platform/db/client.ts';
import { createLogger } from '../services/platform/logger.ts';
import { createRedis, waitForRedis } from '../services/platform/redis.ts';

async function rotateNow(): Promise<void> {
  const config = loadConfig('maintenance', process.env);
  // Logs go to stderr so stdout holds only the JSON result.
  const logger = createLogger({ service: 'keys-rotate', level: config.logLevel }, process.stderr);
  const prisma = createPrismaClient(config.databaseUrl.reveal());
  const redis = createRedis(config.redisUrl, 'producer', logger, 'keys-rotate');
  try {
    await waitForRedis(redis, 5000).catch((err: Error) => logger.warn({ err: err.message }, 'redis unreachable: admin modules will see the new key within their cache TTL'));
    const keys = createKeyService({ config, prisma, redis, logger });
    await keys.ensure();
    const result = await keys.rotate({ force: true });
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    redis.disconnect();
    await prisma.$disconnect();
  }
}

try {
  await rotateNow();
} catch (error) {
  console.error(`keys:rotate: ${error instanceof ConfigError ? error.message : (error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
}
