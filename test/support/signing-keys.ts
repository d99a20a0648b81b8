import { ensureSigningKeys, type KeyPolicy, type SigningKeyContext } from '../../services/signing-keys/key-lifecycle.ts';
import type { Env } from '../../services/platform/config/index.ts';
import { createPrismaClient, type PrismaClient } from '../../services/platform/db/client.ts';
import { testConfig, testInfra } from './infra.ts';

/** A key context on this run's database with the test KEK; ES256 unless told, since RSA generation is slow. */
export function keyTestContext(policy: Partial<KeyPolicy> = {}, env: Env = {}): SigningKeyContext & { close(): Promise<void> } {
  const config = testConfig('maintenance', env);
  const prisma = createPrismaClient(testInfra().databaseUrl);
  return {
    prisma,
    kek: config.jwtKeyEncryptionKey!,
    policy: { algorithm: 'ES256', rotationSchedule: config.jwt.rotationSchedule, gracePeriodSeconds: config.jwt.gracePeriodSeconds, ...policy },
    close: () => prisma.$disconnect(),
  };
}

/** Key tests own jwt_keys while they run (mocha runs one test at a time). */
export async function emptyKeyTable(prisma: PrismaClient): Promise<void> {
  await prisma.$executeRawUnsafe('TRUNCATE jwt_keys');
}

/** Leaves the table as every process expects it: a fresh active and next key on the default schedule. */
export async function restoreDefaultKeys(): Promise<void> {
  const ctx = keyTestContext({ algorithm: 'RS256' });
  try {
    await emptyKeyTable(ctx.prisma);
    await ensureSigningKeys(ctx);
  } finally {
    await ctx.close();
  }
}
