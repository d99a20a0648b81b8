/**
 * Data access for audit_digests. A chain's digests are numbered 1, 2, 3 … (`seq`) and each names
 * its predecessor's signature; inserts happen under the chain's digest lock, and the primary key
 * and the one-successor index refuse a second digest after the same one, so the digests of a
 * chain never fork even if two writers got past the lock.
 */
import type { Prisma, PrismaClient } from '../../platform/db/client.ts';
import { auditDigestSchema, digestLine, type AuditDigest } from './digest-format.ts';

type Db = Prisma.TransactionClient | PrismaClient;

export interface StoredDigest {
  seq: number;
  digest: AuditDigest;
  /** The digest's one-line text, exactly as signed and as the sink holds it. */
  body: string;
}

// Its own key space (two int4 keys): the digests of one chain are issued and written out one at a time.
const DIGEST_CHAIN_LOCK_CLASS = 47_110_003;

/** Holds the chain's digest lock until the transaction ends. */
export async function lockDigestChain(tx: Prisma.TransactionClient, chainId: number): Promise<void> {
  await tx.$executeRawUnsafe('SELECT pg_advisory_xact_lock($1::int, $2::int)', DIGEST_CHAIN_LOCK_CLASS, chainId);
}

interface DigestRow {
  seq: bigint;
  body: string;
}

const toStored = (row: DigestRow): StoredDigest => ({ seq: Number(row.seq), digest: auditDigestSchema.parse(JSON.parse(row.body)), body: row.body });

/** The chain's newest digest. */
export async function latestDigest(db: Db, chainId: number): Promise<StoredDigest | undefined> {
  const [row] = await db.$queryRaw<DigestRow[]>`SELECT seq, body FROM audit_digests WHERE chain_id = ${chainId} ORDER BY seq DESC LIMIT 1`;
  return row ? toStored(row) : undefined;
}

/** The chain's newest digest of a tree of exactly `treeSize` leaves. */
export async function latestDigestOfSize(db: Db, chainId: number, treeSize: number): Promise<StoredDigest | undefined> {
  const [row] = await db.$queryRaw<DigestRow[]>`
    SELECT seq, body FROM audit_digests WHERE chain_id = ${chainId} AND tree_size = ${treeSize} ORDER BY seq DESC LIMIT 1`;
  return row ? toStored(row) : undefined;
}

/** Stores the digest that follows `previous` (seq + 1); a second digest after the same one is refused by the keys. */
export async function insertDigest(tx: Prisma.TransactionClient, digest: AuditDigest, previous: StoredDigest | undefined): Promise<StoredDigest> {
  const seq = (previous?.seq ?? 0) + 1;
  const body = digestLine(digest);
  await tx.$executeRaw`
    INSERT INTO audit_digests (chain_id, seq, kind, tree_size, last_sequence, issued_at, key_id, signature, previous_signature, body)
    VALUES (${digest.chain_id}, ${seq}, ${digest.kind}, ${digest.tree_size}, ${digest.last_sequence}, ${new Date(digest.issued_at)},
            ${digest.key_id}, ${digest.signature}, ${digest.previous_signature}, ${body})`;
  return { seq, digest, body };
}

/** The seq of the chain's digest with this signature. */
export async function seqOfSignature(db: Db, chainId: number, signature: string): Promise<number | undefined> {
  const [row] = await db.$queryRaw<{ seq: bigint }[]>`SELECT seq FROM audit_digests WHERE chain_id = ${chainId} AND signature = ${signature}`;
  return row ? Number(row.seq) : undefined;
}

/** Up to `limit` digests of the chain after `afterSeq`, oldest first (keyset pagination). */
export async function digestsAfter(db: Db, chainId: number, afterSeq: number, limit: number): Promise<StoredDigest[]> {
  const rows = await db.$queryRaw<DigestRow[]>`
    SELECT seq, body FROM audit_digests WHERE chain_id = ${chainId} AND seq > ${afterSeq} ORDER BY seq LIMIT ${limit}`;
  return rows.map(toStored);
}

/** The chains (by their head rows) that have at least one digest: one index probe per chain. */
export async function chainsWithDigests(db: Db): Promise<number[]> {
  const rows = await db.$queryRaw<{ chain_id: number }[]>`
    SELECT h.chain_id FROM audit_chain_heads h WHERE EXISTS (SELECT 1 FROM audit_digests d WHERE d.chain_id = h.chain_id) ORDER BY h.chain_id`;
  return rows.map((r) => r.chain_id);
}
