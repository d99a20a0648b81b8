/**
 * An audit publisher, in a process of its own, on a producer connection already closed: every
 * set-up of its queue fails within the turn it starts. Prints "timers ran" once a timer has fired
 * beside it, then closes the publisher; a publisher that retried the set-up at once would spin the
 * event loop and never let either happen.
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { createAuditPublisher } from '../../services/audit-log/publisher.ts';
import { createLogger } from '../../services/platform/logger.ts';

const redis = new Redis(process.env.REDIS_URL!, { enableOfflineQueue: false, lazyConnect: true });
redis.disconnect();
const audit = await createAuditPublisher({
  redis,
  bullmqPrefix: 'closed-connection',
  source: 'admin',
  delivery: 'fail-closed',
  spoolDir: await mkdtemp(path.join(os.tmpdir(), 'artstore-closed-connection-')),
  logger: createLogger({ service: 'closed-connection', level: 'silent' }),
});
await sleep(300);
process.stdout.write('timers ran\n');
await audit.close();
