import type { JwtAlgorithm } from '../platform/config/index.ts';
import type { JwtKey, JwtKeyState, Prisma, PrismaClient } from '../platform/db/client.ts';
import type { NewKeyMaterial } from './key-crypto.ts';

export type KeyState = JwtKeyState;

export interface KeyRecord {
  kid: string;
  algorithm: JwtAlgorithm;
  state: KeyState;
  /** Public JWK as JSON text. */
  publicKey: string;
  /** True while the key is in the JWKS (`is_active`). */
  published: boolean;
  rotationCount: number;
  createdAt: Date;
  expiresAt: Date;
  activatesAt: Date | null;
  activatedAt: Date | null;
  graceUntil: Date | null;
  retiredAt: Date | null;
  revokedAt: Date | null;
}

export interface EncryptedSigningKey {
  kid: string;
  algorithm: JwtAlgorithm;
  encryptedPrivateKey: string;
}

export interface NewKeyRow {
  material: NewKeyMaterial;
  state: Extract<KeyState, 'next' | 'active'>;
  activatesAt: Date;
  activatedAt?: Date;
  expiresAt: Date;
  rotationCount: number;
}

export type KeyChanges = Partial<
  Pick<KeyRecord, 'state' | 'published' | 'rotationCount' | 'expiresAt' | 'activatesAt' | 'activatedAt' | 'graceUntil' | 'retiredAt' | 'revokedAt'>
>;

type Db = Prisma.TransactionClient;

const WITHOUT_PRIVATE_KEY = { privateKey: false } as const;
const LIVE_STATES: KeyState[] = ['next', 'active', 'grace'];
// Any constant shared by every process: rotation, revocation and creation of keys queue up behind it.
const KEY_LIFECYCLE_LOCK = 4_711_000_001;

function toRecord(row: Omit<JwtKey, 'privateKey'>): KeyRecord {
  return {
    kid: row.version,
    algorithm: row.algorithm as JwtAlgorithm,
    state: row.state,
    publicKey: row.publicKey,
    published: row.isActive,
    rotationCount: row.rotationCount,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    activatesAt: row.activatesAt,
    activatedAt: row.activatedAt,
    graceUntil: row.graceUntil,
    retiredAt: row.retiredAt,
    revokedAt: row.revokedAt,
  };
}

async function liveKeys(db: Db): Promise<KeyRecord[]> {
  const rows = await db.jwtKey.findMany({ where: { state: { in: LIVE_STATES } }, omit: WITHOUT_PRIVATE_KEY, orderBy: { id: 'asc' } });
  return rows.map(toRecord);
}

async function findByKid(db: Db, kid: string): Promise<KeyRecord | undefined> {
  const row = await db.jwtKey.findUnique({ where: { version: kid }, omit: WITHOUT_PRIVATE_KEY });
  return row ? toRecord(row) : undefined;
}

/** The operations that change key states; only reachable while holding the key lifecycle lock. */
export interface LockedKeyStore {
  live(): Promise<KeyRecord[]>;
  findByKid(kid: string): Promise<KeyRecord | undefined>;
  maxRotationCount(): Promise<number>;
  insert(row: NewKeyRow): Promise<KeyRecord>;
  update(kid: string, changes: KeyChanges): Promise<KeyRecord>;
  /** Grace keys whose grace ended by `now` become retired, as of their grace end; returns their kids. */
  retireGraceEndedBy(now: Date): Promise<string[]>;
}

function lockedStore(tx: Db): LockedKeyStore {
  return {
    live: () => liveKeys(tx),
    findByKid: (kid) => findByKid(tx, kid),
    async maxRotationCount() {
      const { _max } = await tx.jwtKey.aggregate({ _max: { rotationCount: true } });
      return _max.rotationCount ?? 0;
    },
    async insert({ material, state, activatesAt, activatedAt, expiresAt, rotationCount }) {
      const row = await tx.jwtKey.create({
        data: {
          version: material.kid,
          algorithm: material.algorithm,
          publicKey: JSON.stringify(material.publicJwk),
          privateKey: material.encryptedPrivateKey,
          state,
          isActive: true,
          activatesAt,
          activatedAt,
          expiresAt,
          rotationCount,
        },
        omit: WITHOUT_PRIVATE_KEY,
      });
      return toRecord(row);
    },
    async update(kid, { published, ...changes }) {
      const row = await tx.jwtKey.update({ where: { version: kid }, data: { ...changes, isActive: published }, omit: WITHOUT_PRIVATE_KEY });
      return toRecord(row);
    },
    async retireGraceEndedBy(now) {
      const rows = await tx.$queryRaw<{ version: string }[]>`
        UPDATE jwt_keys
           SET state = 'retired', is_active = false, retired_at = grace_until, expires_at = grace_until
         WHERE state = 'grace' AND grace_until <= ${now}
        RETURNING version`;
      return rows.map((r) => r.version);
    },
  };
}

export type KeyStore = ReturnType<typeof createKeyStore>;

/** Data access for jwt_keys: the only code that touches prisma.jwtKey. Plain records; private material only from `activeSigningKey()`. */
export function createKeyStore(prisma: PrismaClient) {
  return {
    /**
     * One transaction holding a transaction-scoped advisory lock, so concurrent rotations, revocations
     * and first creations (from admin, workers and the CLI) run one after another and each sees the
     * state the previous one committed. An advisory lock rather than row locks: it also serialises
     * callers when the table is still empty.
     */
    locked<T>(work: (keys: LockedKeyStore) => Promise<T>): Promise<T> {
      return prisma.$transaction(
        async (tx) => {
          await tx.$executeRawUnsafe(`SELECT pg_advisory_xact_lock(${KEY_LIFECYCLE_LOCK})`);
          return work(lockedStore(tx));
        },
        { maxWait: 10_000, timeout: 30_000 },
      );
    },
    live: () => liveKeys(prisma),
    findByKid: (kid: string) => findByKid(prisma, kid),
    async all(): Promise<KeyRecord[]> {
      const rows = await prisma.jwtKey.findMany({ omit: WITHOUT_PRIVATE_KEY, orderBy: { id: 'desc' } });
      return rows.map(toRecord);
    },
    /** Keys that verify at `now`: next, active, and grace keys whose grace has not ended (whatever a job has marked yet). */
    async published(now: Date): Promise<KeyRecord[]> {
      const rows = await prisma.jwtKey.findMany({
        where: { OR: [{ state: { in: ['next', 'active'] } }, { state: 'grace', graceUntil: { gt: now } }] },
        omit: WITHOUT_PRIVATE_KEY,
        orderBy: { id: 'desc' },
      });
      return rows.map(toRecord);
    },
    async activeSigningKey(): Promise<EncryptedSigningKey | undefined> {
      const row = await prisma.jwtKey.findFirst({ where: { state: 'active' }, select: { version: true, algorithm: true, privateKey: true } });
      return row ? { kid: row.version, algorithm: row.algorithm as JwtAlgorithm, encryptedPrivateKey: row.privateKey } : undefined;
    },
    /** Deletes retired and revoked keys that left the JWKS before `cutoff`; returns how many. */
    async deleteRemovedBefore(cutoff: Date): Promise<number> {
      const { count } = await prisma.jwtKey.deleteMany({
        where: {
          OR: [
            { state: 'retired', retiredAt: { lt: cutoff } },
            { state: 'revoked', revokedAt: { lt: cutoff } },
          ],
        },
      });
      return count;
    },
  };
}
