/**
 * Data access for audit_digest_keys: the only code that touches prisma.auditDigestKey. Rows are
 * never deleted and their public half never changes (the migration's trigger refuses both); the
 * encrypted private half is read only by `activeEncrypted()`.
 */
import type { AuditDigestKeyState, Prisma, PrismaClient } from '../../platform/db/client.ts';
import type { NewKeyMaterial } from '../../signing-keys/key-crypto.ts';

export type DigestKeyState = AuditDigestKeyState;

export interface DigestKeyRecord {
  kid: string;
  algorithm: string;
  state: DigestKeyState;
  /** Public JWK as JSON text. */
  publicKey: string;
  rotationCount: number;
  createdAt: Date;
  activatesAt: Date | null;
  activatedAt: Date | null;
  deactivatedAt: Date | null;
  retiredAt: Date | null;
}

type Db = Prisma.TransactionClient | PrismaClient;

const WITHOUT_PRIVATE_KEY = { privateKey: false } as const;
// Shared by every process: rotations and first creations of digest keys queue up behind it.
const DIGEST_KEY_LIFECYCLE_LOCK = 4_711_000_002;

/** The operations that change key states; only reachable while holding the digest key lock. */
export interface LockedDigestKeyStore {
  live(): Promise<{ active?: DigestKeyRecord; next?: DigestKeyRecord }>;
  maxRotationCount(): Promise<number>;
  insert(
    material: NewKeyMaterial,
    fields: { state: 'active' | 'next'; activatesAt: Date; activatedAt?: Date; createdAt?: Date; rotationCount: number },
  ): Promise<DigestKeyRecord>;
  update(kid: string, changes: Partial<Pick<DigestKeyRecord, 'state' | 'activatesAt' | 'activatedAt' | 'deactivatedAt' | 'rotationCount'>>): Promise<void>;
  /** Grace keys become retired and lose their private half; returns their kids. */
  retireGraceKeys(now: Date): Promise<string[]>;
}

async function live(db: Db) {
  const rows = await db.auditDigestKey.findMany({ where: { state: { in: ['active', 'next'] } }, omit: WITHOUT_PRIVATE_KEY });
  return { active: rows.find((r) => r.state === 'active'), next: rows.find((r) => r.state === 'next') };
}

function lockedStore(tx: Prisma.TransactionClient): LockedDigestKeyStore {
  return {
    live: () => live(tx),
    async maxRotationCount() {
      const { _max } = await tx.auditDigestKey.aggregate({ _max: { rotationCount: true } });
      return _max.rotationCount ?? 0;
    },
    insert: (material, fields) =>
      tx.auditDigestKey.create({
        data: {
          kid: material.kid,
          algorithm: material.algorithm,
          publicKey: JSON.stringify(material.publicJwk),
          privateKey: material.encryptedPrivateKey,
          ...fields,
        },
        omit: WITHOUT_PRIVATE_KEY,
      }),
    async update(kid, changes) {
      await tx.auditDigestKey.update({ where: { kid }, data: changes });
    },
    async retireGraceKeys(now) {
      const rows = await tx.$queryRaw<{ kid: string }[]>`
        UPDATE audit_digest_keys SET state = 'retired', private_key = NULL, retired_at = ${now} WHERE state = 'grace' RETURNING kid`;
      return rows.map((r) => r.kid);
    },
  };
}

export function createDigestKeyStore(prisma: PrismaClient) {
  return {
    /** One transaction under a transaction-scoped advisory lock: it also serialises callers while the table is empty. */
    locked<T>(work: (keys: LockedDigestKeyStore) => Promise<T>): Promise<T> {
      return prisma.$transaction(
        async (tx) => {
          await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${DIGEST_KEY_LIFECYCLE_LOCK})`);
          return work(lockedStore(tx));
        },
        { maxWait: 10_000, timeout: 30_000 },
      );
    },
    live: () => live(prisma),
    /** Every key ever made, oldest first. */
    all: (): Promise<DigestKeyRecord[]> => prisma.auditDigestKey.findMany({ omit: WITHOUT_PRIVATE_KEY, orderBy: { id: 'asc' } }),
  };
}

/** The active key's kid and encrypted private half, read in the caller's transaction. */
export async function activeEncryptedDigestKey(db: Db): Promise<{ kid: string; encryptedPrivateKey: string } | undefined> {
  const row = await db.auditDigestKey.findFirst({ where: { state: 'active' }, select: { kid: true, privateKey: true } });
  return row?.privateKey ? { kid: row.kid, encryptedPrivateKey: row.privateKey } : undefined;
}
