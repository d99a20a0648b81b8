/**
 * Proofs over a chain's Merkle tree (RFC 9162 §2.1.3 and §2.1.4) read from the stored complete
 * subtrees: any root or proof is one indexed query for O(log n) nodes, never a read of the log.
 */
import type pg from 'pg';
import type { PrismaClient } from '../platform/db/client.ts';
import { auditDigestSchema, type AuditDigest } from './digests/digest-format.ts';
import { createFrontier } from './merkle/frontier.ts';
import { type NodePlan, assemble, assembleRoot, planConsistencyProof, planInclusionProof, planRoot } from './merkle/tree.ts';

export interface TreeHead {
  chain_id: number;
  tree_size: number;
  /** Lowercase hex SHA-256. */
  root_hash: string;
}

export interface InclusionProof {
  chain_id: number;
  event_id: string;
  sequence: number;
  leaf_index: number;
  tree_size: number;
  /** Sibling hashes from the leaf up, lowercase hex (RFC 9162 §2.1.3.1 PATH). */
  audit_path: string[];
  root_hash: string;
  /**
   * The signed digest whose tree_size and root_hash the proof is against, so the answer verifies
   * with the published digest key alone; null when no digest covers the record yet (then the proof
   * is against the tree as it is now) or none was signed at the asked tree_size.
   */
  signed_tree_head: AuditDigest | null;
}

export interface ConsistencyProof {
  chain_id: number;
  first: number;
  second: number;
  first_root_hash: string;
  second_root_hash: string;
  /** RFC 9162 §2.1.4.1 PROOF, lowercase hex. */
  consistency_path: string[];
}

/** Why a proof cannot be given: the answer's 404/400. */
export class ProofUnavailableError extends Error {
  constructor(
    readonly reason: 'no_such_event' | 'tree_size_out_of_range' | 'no_such_chain',
    message: string,
  ) {
    super(message);
    this.name = 'ProofUnavailableError';
  }
}

const hex = (hashes: Buffer[]) => hashes.map((h) => h.toString('hex'));

/**
 * Reads for proofs. Given a node-postgres pool, the two queries of an inclusion proof go straight
 * through it: Prisma's own work per query is about the rest of a proof's time, and an auditor
 * asking for proofs of many records is the case the latency target is about.
 */
export function createAuditProofs(prisma: PrismaClient, pool?: pg.Pool) {
  const query = async <T>(sql: string, ...params: unknown[]): Promise<T[]> =>
    pool ? (await pool.query(sql, params)).rows : prisma.$queryRawUnsafe<T[]>(sql, ...params);
  /** The same through a prepared statement on the pool's connections: planned once per connection, not per proof. */
  const prepared = async <T>(name: string, sql: string, ...params: unknown[]): Promise<T[]> =>
    pool ? (await pool.query({ name, text: sql, values: params })).rows : prisma.$queryRawUnsafe<T[]>(sql, ...params);

  /** The nodes a plan names, in one query. */
  async function nodesOf(chainId: number, plans: NodePlan[]) {
    const wanted = plans.flatMap((plan) => plan.nodes);
    const rows = wanted.length
      ? await query<{ level: number; idx: string; hash: Uint8Array }>(
          // LATERAL: one primary-key probe per node, whatever the table's size or statistics.
          `SELECT w.level, w.idx::text AS idx, n.hash FROM unnest($2::smallint[], $3::bigint[]) AS w(level, idx)
             CROSS JOIN LATERAL (SELECT hash FROM audit_tree_nodes t WHERE t.chain_id = $1::int AND t.level = w.level AND t.idx = w.idx) AS n`,
          chainId,
          wanted.map((n) => n.level),
          wanted.map((n) => n.index),
        )
      : [];
    const found = new Map(rows.map((r) => [`${r.level}:${r.idx}`, Buffer.from(r.hash)]));
    return (level: number, index: number) => found.get(`${level}:${index}`);
  }

  /** The chain's tree size now (its head's frontier). */
  async function currentSize(chainId: number): Promise<number> {
    const [head] = await prisma.$queryRaw<{ tree_frontier: string }[]>`SELECT tree_frontier FROM audit_chain_heads WHERE chain_id = ${chainId}`;
    if (!head) throw new ProofUnavailableError('no_such_chain', `no audit chain ${chainId}`);
    return createFrontier(head.tree_frontier).size;
  }

  function checkSize(size: number, current: number, what: string) {
    if (!Number.isSafeInteger(size) || size < 0 || size > current) {
      throw new ProofUnavailableError('tree_size_out_of_range', `${what} must be from 0 to the tree's size, ${current}`);
    }
  }

  return {
    async treeHead(chainId: number, treeSize?: number): Promise<TreeHead> {
      const current = await currentSize(chainId);
      const size = treeSize ?? current;
      checkSize(size, current, 'tree_size');
      const plan = planRoot(size);
      return { chain_id: chainId, tree_size: size, root_hash: assembleRoot(plan, await nodesOf(chainId, [plan])).toString('hex') };
    },

    /**
     * The proof that the record with this event id is leaf `sequence - 1` of its chain's tree at
     * `treeSize`; by default at the size of the chain's latest signed digest, or now when that
     * digest does not cover the record yet.
     */
    async inclusion(eventId: string, treeSize?: number): Promise<InclusionProof> {
      // One round trip: the record, its chain's tree size, the signed heads, and every node a proof
      // of it can need — the sibling at each level, and the complete subtrees that make up the
      // tree's size (a partial sibling and the root are folded from those). No ORDER BY on
      // audit_logs itself: with one the planner may walk every partition's primary key instead of
      // probing the event_id index. An event is stored once; should a forged copy exist, the first wins.
      const rows = await prepared<{
        chain_id: number;
        sequence: string;
        tree_frontier: string | null;
        latest: string | null;
        of_size: string | null;
        nodes: [number, string, string][] | null;
      }>(
        'audit-inclusion-proof',
        `WITH found AS MATERIALIZED (SELECT chain_id, sequence FROM audit_logs WHERE event_id = $1::uuid),
              r AS (SELECT * FROM found ORDER BY chain_id, sequence LIMIT 1),
              h AS (
                SELECT r.chain_id, r.sequence, hd.tree_frontier,
                       (SELECT body FROM audit_digests d WHERE d.chain_id = r.chain_id ORDER BY seq DESC LIMIT 1) AS latest,
                       (SELECT tree_size FROM audit_digests d WHERE d.chain_id = r.chain_id ORDER BY seq DESC LIMIT 1) AS latest_size,
                       (SELECT body FROM audit_digests d WHERE d.chain_id = r.chain_id AND d.tree_size = $2::bigint ORDER BY seq DESC LIMIT 1) AS of_size
                  FROM r LEFT JOIN audit_chain_heads hd ON hd.chain_id = r.chain_id),
              s AS (
                SELECT h.*, h.sequence - 1 AS m,
                       CASE WHEN $2::bigint >= 0 THEN $2::bigint
                            WHEN h.latest_size > h.sequence - 1 THEN h.latest_size
                            ELSE split_part(h.tree_frontier, ':', 1)::bigint END AS n
                  FROM h),
              wanted AS (
                SELECT l AS level, (s.m >> l) # 1 AS idx FROM s, generate_series(0, 52) AS l WHERE (1::bigint << l) < s.n
                UNION
                SELECT l, (s.n >> l) - 1 FROM s, generate_series(0, 52) AS l WHERE ((s.n >> l) & 1) = 1)
         SELECT s.chain_id, s.sequence::text AS sequence, s.tree_frontier, s.latest, s.of_size,
                (SELECT json_agg(json_build_array(w.level, w.idx::text, encode(t.hash, 'hex')))
                   FROM wanted w CROSS JOIN LATERAL (SELECT hash FROM audit_tree_nodes t WHERE t.chain_id = s.chain_id AND t.level = w.level AND t.idx = w.idx) AS t) AS nodes
           FROM s`,
        eventId,
        treeSize ?? -1,
      );
      const [record] = rows;
      if (!record) throw new ProofUnavailableError('no_such_event', 'No audit record with that event_id');
      if (record.tree_frontier === null) throw new ProofUnavailableError('no_such_chain', `no audit chain ${record.chain_id}`);
      const chainId = record.chain_id;
      const leafIndex = Number(record.sequence) - 1;
      const current = createFrontier(record.tree_frontier).size;
      const digestOf = (body: string | null) => (body === null ? undefined : auditDigestSchema.parse(JSON.parse(body)));
      const latest = digestOf(record.latest);
      const signed = treeSize !== undefined ? digestOf(record.of_size) : latest && leafIndex < latest.tree_size ? latest : undefined;
      const size = treeSize ?? signed?.tree_size ?? current;
      checkSize(size, current, 'tree_size');
      if (leafIndex >= size) throw new ProofUnavailableError('tree_size_out_of_range', `the record is leaf ${leafIndex}: tree_size must exceed it`);
      const fetched = new Map((record.nodes ?? []).map(([level, index, hash]) => [`${level}:${index}`, Buffer.from(hash, 'hex')]));
      const pathPlan = planInclusionProof(leafIndex, size);
      const rootPlan = planRoot(size);
      // Every node the plans name came with the record; a second query only if one did not.
      const complete = [...pathPlan.nodes, ...rootPlan.nodes].every((n) => fetched.has(`${n.level}:${n.index}`));
      const get = complete ? (level: number, index: number) => fetched.get(`${level}:${index}`) : await nodesOf(chainId, [pathPlan, rootPlan]);
      return {
        chain_id: chainId,
        event_id: eventId,
        sequence: leafIndex + 1,
        leaf_index: leafIndex,
        tree_size: size,
        audit_path: hex(assemble(pathPlan, get)),
        root_hash: assembleRoot(rootPlan, get).toString('hex'),
        signed_tree_head: signed ?? null,
      };
    },

    /** The proof that the chain's tree at `second` extends its tree at `first` (RFC 9162 §2.1.4). */
    async consistency(chainId: number, first: number, second: number): Promise<ConsistencyProof> {
      const current = await currentSize(chainId);
      checkSize(second, current, 'second');
      if (!Number.isSafeInteger(first) || first < 0 || first > second) {
        throw new ProofUnavailableError('tree_size_out_of_range', 'first must be from 0 to second');
      }
      const proofPlan = planConsistencyProof(first, second);
      const firstPlan = planRoot(first);
      const secondPlan = planRoot(second);
      const get = await nodesOf(chainId, [proofPlan, firstPlan, secondPlan]);
      return {
        chain_id: chainId,
        first,
        second,
        first_root_hash: assembleRoot(firstPlan, get).toString('hex'),
        second_root_hash: assembleRoot(secondPlan, get).toString('hex'),
        consistency_path: hex(assemble(proofPlan, get)),
      };
    },
  };
}

export type AuditProofs = ReturnType<typeof createAuditProofs>;
