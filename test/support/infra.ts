import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startEmbeddedPostgres } from '../../scripts/embedded/postgres.ts';
import { startEmbeddedRedis } from '../../scripts/embedded/redis.ts';
import { loadConfig, type Config, type Env, type ServiceName } from '../../services/platform/config/index.ts';
import { createTestDatabase } from './test-databases.ts';

/**
 * Real PostgreSQL and Redis for the whole test run: DATABASE_URL / REDIS_URL when set (CI points them
 * at the machine's servers), else the same embedded servers `npm start` uses, with their data under
 * `.data/test/`. Each run gets its own database and BullMQ prefix and removes both afterwards.
 */
export interface TestInfra {
  databaseUrl: string;
  redisUrl: string;
  bullmqPrefix: string;
  /** The run's audit digest sink (AUDIT_DIGEST_DIR): it mirrors this run's database, so it is the run's alone. */
  digestDir: string;
}

let infra: TestInfra | undefined;
let dropDatabase: (() => Promise<void>) | undefined;
/** Embedded servers this run started, stopped last. */
const embedded: { stop(): Promise<void> }[] = [];
const EMBEDDED_DATA_DIR = path.resolve(import.meta.dirname, '../../.data/test');

export const TEST_SECRETS = {
  AUDIT_LOG_SECRET_KEY: `t1:${randomBytes(24).toString('hex')}`,
  JWT_KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
  AUDIT_DIGEST_KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
  ADMIN_BOOTSTRAP_CLIENT_ID: 'test-admin',
  ADMIN_BOOTSTRAP_CLIENT_SECRET: randomBytes(32).toString('base64url'),
  STORAGE_CLIENT_ID: 'test-storage',
  STORAGE_CLIENT_SECRET: randomBytes(32).toString('base64url'),
};

export async function setUpInfra(env: Env): Promise<TestInfra> {
  const [adminUrl, redisUrl] = await Promise.all([
    env.DATABASE_URL || startEmbedded(startEmbeddedPostgres({ dataDir: path.join(EMBEDDED_DATA_DIR, 'postgres') })),
    env.REDIS_URL || startEmbedded(startEmbeddedRedis({ dataDir: path.join(EMBEDDED_DATA_DIR, 'redis') })),
  ]);
  const database = await createTestDatabase(adminUrl);
  dropDatabase = database.drop;
  const digestDir = await mkdtemp(path.join(os.tmpdir(), 'artstore-test-digests-'));
  infra = { databaseUrl: database.url, redisUrl, bullmqPrefix: `test-${process.pid}-${randomBytes(4).toString('hex')}`, digestDir };
  return infra;
}

export async function tearDownInfra(): Promise<void> {
  if (!infra) return;
  const redis = new Redis(infra.redisUrl);
  try {
    await deleteKeys(redis, `${infra.bullmqPrefix}*`);
  } finally {
    redis.disconnect();
  }
  await dropDatabase?.();
  await rm(infra.digestDir, { recursive: true, force: true });
  infra = undefined;
  await Promise.all(embedded.splice(0).map((server) => server.stop()));
}

async function startEmbedded(starting: Promise<{ url: string; stop(): Promise<void> }>): Promise<string> {
  const server = await starting;
  embedded.push(server);
  return server.url;
}

export async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}

export function testInfra(): TestInfra {
  if (!infra) throw new Error('test infrastructure is not set up (root hooks in test/setup.ts)');
  return infra;
}

/** A BullMQ prefix of this run (removed with it) that no other test publishes into. */
export const isolatedPrefix = (name: string) => `${testInfra().bullmqPrefix}-${name}-${randomBytes(3).toString('hex')}`;

/** The environment a process gets in tests: this run's database and prefix, port 0, silent logs. */
export function testEnv(overrides: Env = {}): Env {
  const { databaseUrl, redisUrl, bullmqPrefix, digestDir } = testInfra();
  return {
    ENVIRONMENT: 'test',
    LOG_LEVEL: 'silent',
    HOST: '127.0.0.1',
    PORT: '0',
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    BULLMQ_PREFIX: bullmqPrefix,
    AUDIT_DIGEST_DIR: digestDir,
    ...TEST_SECRETS,
    ...overrides,
  };
}

export function testConfig(service: ServiceName, overrides: Env = {}): Config {
  return loadConfig(service, testEnv(overrides));
}
