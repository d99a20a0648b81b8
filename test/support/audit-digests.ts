import { createPublicKey, type KeyObject } from 'node:crypto';
import { createAuditKeyRing } from '../../services/audit-log/audit-signature.ts';
import { createChainWriter, ensureChainHead } from '../../services/audit-log/chain-writer.ts';
import type { AuditDigest } from '../../services/audit-log/digests/digest-format.ts';
import { ensureDigestKeys, publishedDigestKeys, type DigestJwk, type DigestKeyContext } from '../../services/audit-log/digests/digest-keys.ts';
import { digestsAfter } from '../../services/audit-log/digests/digest-store.ts';
import { createPrismaClient, type PrismaClient } from '../../services/platform/db/client.ts';
import { removeChains, sampleAuditEvents } from './audit-events.ts';
import { testConfig, testInfra } from './infra.ts';

/**
 * Chains of their own for digest tests, on this run's database, with the test digest KEK and keys
 * that exist. Chain ids come from a range no other test uses; `close()` removes them.
 */
export async function digestTestContext() {
  const config = testConfig('audit-writer');
  const prisma = createPrismaClient(testInfra().databaseUrl);
  const keys: DigestKeyContext = { prisma, kek: config.auditDigestKeyEncryptionKey!, rotationSchedule: config.auditDigests.keyRotationSchedule };
  await ensureDigestKeys(keys);
  const keyRing = createAuditKeyRing(config.auditKeys);
  const firstChainId = 1_100_000 + Math.floor(Math.random() * 10_000) * 100;
  let nextChainId = firstChainId;
  return {
    prisma,
    kek: keys.kek,
    keys,
    /** A new chain with a head row; `write(n[, at])` appends n records to it, recorded now or at `at`. */
    async chain() {
      const chainId = nextChainId++;
      await ensureChainHead(prisma, chainId);
      const write = async (count: number, at?: Date) =>
        (await createChainWriter(prisma, keyRing, { chainId, now: at && (() => at) }).write(sampleAuditEvents(count))).stored;
      return { chainId, write };
    },
    /** Every digest of a chain in the table, oldest first. */
    digests: async (chainId: number): Promise<AuditDigest[]> => (await digestsAfter(prisma, chainId, 0, 100_000)).map((d) => d.digest),
    async close() {
      await removeChains(prisma, firstChainId, nextChainId);
      await prisma.$disconnect();
    },
  };
}

/** The public key the published key set gives for a digest's key_id, as an outside auditor would build it. */
export function publicKeyFor(jwks: { keys: DigestJwk[] }, kid: string): KeyObject | undefined {
  const jwk = jwks.keys.find((k) => k.kid === kid && k.alg === 'EdDSA' && k.crv === 'Ed25519');
  return jwk ? createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x! }, format: 'jwk' }) : undefined;
}

export const publishedKeysOf = (prisma: PrismaClient) => publishedDigestKeys(prisma);
