/**
 * Issues a chain's next digest: under the chain's digest lock it reads the head row once (sequence,
 * signature and Merkle frontier together, so they match), checks the tree only grew since the last
 * digest, signs with the active digest key and stores the digest after its predecessor. A tree
 * that shrank or changed under a signed digest is never signed over: that is tampering to report.
 */
import type { KeyObject } from 'node:crypto';
import type { Prisma, PrismaClient } from '../../platform/db/client.ts';
import { createFrontier } from '../merkle/frontier.ts';
import { createAuditProofs } from '../proofs.ts';
import { DIGEST_VERSION, signDigest, type AuditDigest } from './digest-format.ts';
import { activeDigestSigner } from './digest-keys.ts';
import { insertDigest, latestDigest, lockDigestChain, type StoredDigest } from './digest-store.ts';

export type DigestRefusalReason = 'tree_behind_chain' | 'tree_shrank' | 'root_changed' | 'nodes_disagree';

/** The chain's head or tree contradicts its last signed digest, or itself; no digest was signed. */
export class DigestRefusedError extends Error {
  readonly code = 'ERR_AUDIT_DIGEST_REFUSED';
  constructor(
    readonly chainId: number,
    readonly reason: DigestRefusalReason,
    message: string,
  ) {
    super(`chain ${chainId}: ${message}`);
    this.name = 'DigestRefusedError';
  }
}

export interface DigestPolicy {
  /** How often the writer looks (AUDIT_DIGEST_EVERY_MS). */
  everyMs: number;
  /** The longest a chain goes without a digest (AUDIT_DIGEST_MAX_SILENCE_MS). */
  maxSilenceMs: number;
}

interface HeadSnapshot {
  sequence: number;
  signature: string | null;
  treeSize: number;
  rootHash: string;
}

type Tx = Prisma.TransactionClient;

async function readHead(tx: Tx, chainId: number): Promise<HeadSnapshot | undefined> {
  const [row] = await tx.$queryRaw<{ sequence: bigint; signature: string | null; tree_frontier: string }[]>`
    SELECT sequence, signature, tree_frontier FROM audit_chain_heads WHERE chain_id = ${chainId}`;
  if (!row) return undefined;
  const frontier = createFrontier(row.tree_frontier);
  return { sequence: Number(row.sequence), signature: row.signature, treeSize: frontier.size, rootHash: frontier.root().toString('hex') };
}

function checkHead(chainId: number, head: HeadSnapshot, last: StoredDigest | undefined): void {
  if (head.treeSize !== head.sequence) {
    throw new DigestRefusedError(chainId, 'tree_behind_chain', `the Merkle tree holds ${head.treeSize} leaves but the chain ${head.sequence} records`);
  }
  if (!last) return;
  if (head.treeSize < last.digest.tree_size) {
    throw new DigestRefusedError(chainId, 'tree_shrank', `the tree has ${head.treeSize} leaves, fewer than the ${last.digest.tree_size} of its signed digest`);
  }
  if (head.treeSize === last.digest.tree_size && head.rootHash !== last.digest.root_hash) {
    throw new DigestRefusedError(chainId, 'root_changed', `the root at size ${head.treeSize} is not the one its signed digest holds`);
  }
}

/** The stored nodes give the head's root now and the last digest's root at its size: the tree only grew. */
async function checkStoredNodes(prisma: PrismaClient, chainId: number, head: HeadSnapshot, last: StoredDigest | undefined): Promise<void> {
  const proofs = createAuditProofs(prisma);
  const now = await proofs.treeHead(chainId, head.treeSize);
  const before = last ? await proofs.treeHead(chainId, last.digest.tree_size) : undefined;
  if (now.root_hash !== head.rootHash || (last && before?.root_hash !== last.digest.root_hash)) {
    throw new DigestRefusedError(chainId, 'nodes_disagree', 'the stored tree nodes do not give the roots of the head and of the last signed digest');
  }
}

function chainedFields(chainId: number, head: HeadSnapshot, last: StoredDigest | undefined, now: Date) {
  return {
    version: DIGEST_VERSION,
    chain_id: chainId,
    tree_size: head.treeSize,
    root_hash: head.rootHash,
    first_sequence: (last?.digest.last_sequence ?? 0) + 1,
    last_sequence: head.sequence,
    last_signature: head.signature,
    // Never before the previous digest, whatever the clocks of the processes that issue them.
    issued_at: new Date(Math.max(now.getTime(), last ? Date.parse(last.digest.issued_at) : 0)).toISOString(),
    previous_signature: last?.digest.signature ?? null,
  } as const;
}

/**
 * The chain's next `tree` digest when its tree grew since the last digest, or the last one is
 * about to be older than the longest silence; undefined when neither (so a duplicate job adds nothing).
 */
export async function issueTreeDigest(
  prisma: PrismaClient,
  kek: KeyObject,
  chainId: number,
  policy: DigestPolicy,
  now = new Date(),
): Promise<AuditDigest | undefined> {
  return prisma.$transaction(
    async (tx) => {
      await lockDigestChain(tx, chainId);
      const head = await readHead(tx, chainId);
      if (!head) return undefined;
      const last = await latestDigest(tx, chainId);
      checkHead(chainId, head, last);
      const grew = head.treeSize > (last?.digest.tree_size ?? 0);
      // Due before the next look would come too late.
      const silent = last !== undefined && now.getTime() - Date.parse(last.digest.issued_at) + policy.everyMs > policy.maxSilenceMs;
      if (!grew && !silent) return undefined;
      if (grew) await checkStoredNodes(prisma, chainId, head, last);
      const digest = signDigest({ ...chainedFields(chainId, head, last, now), kind: 'tree' }, await activeDigestSigner(tx, kek));
      await insertDigest(tx, digest, last);
      return digest;
    },
    { maxWait: 10_000, timeout: 30_000 },
  );
}

/** Every chain's next tree digest; a chain refused is reported and the others still get theirs. */
export async function issueTreeDigests(
  prisma: PrismaClient,
  kek: KeyObject,
  policy: DigestPolicy,
  now = new Date(),
): Promise<{ issued: AuditDigest[]; refused: DigestRefusedError[] }> {
  const chains = await prisma.$queryRaw<{ chain_id: number }[]>`SELECT chain_id FROM audit_chain_heads ORDER BY chain_id`;
  const issued: AuditDigest[] = [];
  const refused: DigestRefusedError[] = [];
  for (const { chain_id: chainId } of chains) {
    try {
      const digest = await issueTreeDigest(prisma, kek, chainId, policy, now);
      if (digest) issued.push(digest);
    } catch (err) {
      if (!(err instanceof DigestRefusedError)) throw err;
      refused.push(err);
    }
  }
  return { issued, refused };
}

export interface AnchorRecord {
  sequence: number;
  signature: string;
  recordedAt: Date;
}

/**
 * The `anchor` digest of a retention run that moved the chain's anchor, inside retention's own
 * transaction (which holds the chain head), so the anchor moves only together with its signed digest.
 */
export async function recordAnchorDigest(tx: Tx, kek: KeyObject, chainId: number, anchor: AnchorRecord, now = new Date()): Promise<AuditDigest> {
  await lockDigestChain(tx, chainId);
  const head = await readHead(tx, chainId);
  if (!head) throw new Error(`chain ${chainId} has no head row`);
  const last = await latestDigest(tx, chainId);
  checkHead(chainId, head, last);
  const digest = signDigest(
    {
      ...chainedFields(chainId, head, last, now),
      kind: 'anchor',
      anchor_sequence: anchor.sequence,
      anchor_signature: anchor.signature,
      anchor_recorded_at: anchor.recordedAt.toISOString(),
    },
    await activeDigestSigner(tx, kek),
  );
  await insertDigest(tx, digest, last);
  return digest;
}
