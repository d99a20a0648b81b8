/**
 * Appends a batch of events to the audit chains: each chain's part of the batch (the chain its
 * event_id picks, chain-assignment.ts) in its own transaction, the parts at once. Each transaction
 * locks its chain's head row first (SELECT … FOR UPDATE), so writer replicas take turns per chain:
 * under the lock a writer sees every record committed to that chain before it, skips events already
 * stored (a redelivered job never duplicates or advances a chain), numbers and signs the rest after
 * the head, and moves the head.
 */
import { AUDIT_RECORD_COLUMNS, rowToAuditRecord, type AuditRecordRow } from './audit-records.ts';
import { signingInputTemplate, type AuditKeyRing, type AuditRecord } from './audit-signature.ts';
import { createFrontier, type MerkleFrontier } from './merkle/frontier.ts';
import { leafHash } from './merkle/hashing.ts';
import type { TreeNode } from './merkle/tree.ts';
import { leafDataFromSigningInput, recordLeafHash } from './record-leaf.ts';
import type { AuditEvent } from './events.ts';
import { chainOfEvent } from './chain-assignment.ts';
import type { PrismaClient } from '../platform/db/client.ts';

/** The chain of a log kept in one chain (AUDIT_CHAINS=1), the first of several otherwise. */
export const DEFAULT_CHAIN_ID = 0;

/**
 * A redelivered event's first copy was recorded after the event happened, less the producer's
 * clock skew; looking back this far from its timestamp keeps the duplicate check to one or two
 * monthly partitions.
 */
export const DEDUP_CLOCK_SKEW_MS = 24 * 3600_000;

export type WriteOutcome = 'stored' | 'duplicate';

export interface BatchResult {
  /** One per event, in order. */
  outcomes: WriteOutcome[];
  stored: AuditRecord[];
}

export interface ChainWriter {
  write(events: AuditEvent[]): Promise<BatchResult>;
}

type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];
type Template = ReturnType<typeof signingInputTemplate>;

interface HeadRow {
  sequence: bigint;
  signature: string | null;
  recorded_at: Date | null;
  tree_frontier: string;
}

async function lockHead(tx: Tx, chainId: number): Promise<HeadRow> {
  const select = () =>
    tx.$queryRaw<HeadRow[]>`SELECT sequence, signature, recorded_at, tree_frontier FROM audit_chain_heads WHERE chain_id = ${chainId} FOR UPDATE`;
  let [head] = await select();
  if (!head) {
    await tx.$executeRaw`INSERT INTO audit_chain_heads (chain_id) VALUES (${chainId}) ON CONFLICT DO NOTHING`;
    [head] = await select();
  }
  return head!;
}

/**
 * Makes sure the chain head row exists, so the first batches do not race to create it, and that
 * its Merkle tree covers every record (a chain written before trees existed is caught up here).
 */
export async function ensureChainHead(prisma: PrismaClient, chainId = DEFAULT_CHAIN_ID, options: { merkleTrees?: boolean } = {}): Promise<void> {
  await prisma.$executeRaw`INSERT INTO audit_chain_heads (chain_id) VALUES (${chainId}) ON CONFLICT DO NOTHING`;
  if (options.merkleTrees === false) return;
  await prisma.$transaction(
    async (tx) => {
      const head = await lockHead(tx, chainId);
      const frontier = createFrontier(head.tree_frontier);
      if (frontier.size === Number(head.sequence)) return;
      const nodes = await catchUpTree(tx, chainId, frontier, Number(head.sequence));
      await tx.$executeRawUnsafe(
        `WITH nodes AS (${INSERT_NODES}) UPDATE audit_chain_heads SET tree_frontier = $5 WHERE chain_id = $1::int`,
        ...nodeParams(chainId, nodes),
        frontier.serialize(),
      );
    },
    { maxWait: 10_000, timeout: 600_000 },
  );
}

/** Inserts tree nodes given as parallel arrays ($1 chain, $2 levels, $3 indexes, $4 hex hashes). */
const INSERT_NODES = `INSERT INTO audit_tree_nodes (chain_id, level, idx, hash)
  SELECT $1::int, n.level, n.idx, decode(n.hash, 'hex') FROM unnest($2::smallint[], $3::bigint[], $4::text[]) AS n(level, idx, hash) RETURNING 1`;

function nodeParams(chainId: number, nodes: readonly TreeNode[]): [number, number[], number[], string[]] {
  return [chainId, nodes.map((n) => n.level), nodes.map((n) => n.index), nodes.map((n) => n.hash.toString('hex'))];
}

/** Extends the tree with the stored records it does not cover yet (up to `sequence`); returns the new nodes. */
async function catchUpTree(tx: Tx, chainId: number, frontier: MerkleFrontier, sequence: number): Promise<TreeNode[]> {
  const nodes: TreeNode[] = [];
  while (frontier.size < sequence) {
    const rows = await tx.$queryRawUnsafe<AuditRecordRow[]>(
      `SELECT ${AUDIT_RECORD_COLUMNS} FROM audit_logs WHERE chain_id = $1::int AND sequence > $2::bigint AND sequence <= $3::bigint
        ORDER BY audit_logs.sequence LIMIT 5000`,
      chainId,
      frontier.size,
      sequence,
    );
    const records = rows.map(rowToAuditRecord);
    if (records[0]?.sequence !== frontier.size + 1 || records.some((r, i) => r.sequence !== frontier.size + 1 + i)) {
      throw new Error(`chain ${chainId}: the Merkle tree cannot be built past ${frontier.size}: records are missing or repeated`);
    }
    nodes.push(...frontier.appendAll(records.map(recordLeafHash)));
  }
  return nodes;
}

export interface ChainWriterOptions {
  /** Spread events over chains 0 … chains − 1 by their event_id. @defaultValue 1 */
  chains?: number;
  /** Append every event to this one chain instead (tests and benchmarks give each their own). */
  chainId?: number;
  now?: () => Date;
  /** `false` writes the chain alone: only benchmarks use it, to measure what the tree costs. @defaultValue true */
  merkleTrees?: boolean;
}

/** $1–$9 of an append: chain, the new tree nodes ($2–$4), the records as JSON, then the head after them. */
function appendParams(chainId: number, appended: { nodes: readonly TreeNode[]; stored: AuditRecord[]; head: HeadState }) {
  const { head } = appended;
  return [
    ...nodeParams(chainId, appended.nodes),
    JSON.stringify(appended.stored),
    head.sequence,
    head.signature,
    new Date(head.recordedAt!).toISOString(),
    head.frontier,
  ] as const;
}

/** A chain head as this writer last left it: the next batch is appended after it, if it is still the head. */
interface HeadState {
  sequence: number;
  signature: string | null;
  /** Epoch ms; undefined for an empty chain. */
  recordedAt: number | undefined;
  /** The Merkle frontier, serialized (always caught up with `sequence` when trees are kept). */
  frontier: string;
}

/** What a batch appends after a head: one outcome per event, the records, their tree nodes, the head after them. */
interface Appended extends BatchResult {
  nodes: TreeNode[];
  /** Undefined when the head in the database is not known (a tree caught up but not stored). */
  head: HeadState | undefined;
}

/** A batch numbered, signed and hashed after `after`, with the parameters of its one-statement append. */
interface Prepared {
  after: HeadState;
  appended: Appended & { head: HeadState };
  params: unknown[];
}

/**
 * The whole append of a batch in one statement, taken only if the chain's head is still the one
 * this writer left and no event of the batch is stored yet ($10 ids, $11 since, $12 sequence and
 * $13 signature of the head assumed): the UPDATE re-reads the head row under its lock (READ
 * COMMITTED), and the inserts run only if it moved the head. `applied` is 0 when either check failed.
 */
const APPEND_IF_HEAD = `WITH dup AS (
    SELECT 1 FROM unnest($10::uuid[]) AS ids(id)
      CROSS JOIN LATERAL (SELECT 1 FROM audit_logs a WHERE a.event_id = ids.id AND a.recorded_at >= $11::timestamptz LIMIT 1) AS hit LIMIT 1),
  head AS (
    UPDATE audit_chain_heads SET sequence = $6::bigint, signature = $7, recorded_at = $8::timestamptz, tree_frontier = CASE WHEN $14::boolean THEN $9 ELSE tree_frontier END
      WHERE chain_id = $1::int AND sequence = $12::bigint AND signature IS NOT DISTINCT FROM $13::varchar AND NOT EXISTS (SELECT 1 FROM dup)
      RETURNING 1),
  nodes AS (
    INSERT INTO audit_tree_nodes (chain_id, level, idx, hash)
      SELECT $1::int, n.level, n.idx, decode(n.hash, 'hex') FROM unnest($2::smallint[], $3::bigint[], $4::text[]) AS n(level, idx, hash)
      WHERE EXISTS (SELECT 1 FROM head) RETURNING 1),
  stored AS (
    INSERT INTO audit_logs SELECT * FROM json_populate_recordset(NULL::audit_logs, $5::json) WHERE EXISTS (SELECT 1 FROM head) RETURNING 1)
  SELECT (SELECT count(*) FROM head)::int AS applied`;

export function createChainWriter(prisma: PrismaClient, keyRing: AuditKeyRing, options: ChainWriterOptions = {}): ChainWriter {
  const chains = options.chains ?? 1;
  const merkleTrees = options.merkleTrees !== false;
  const now = options.now ?? (() => new Date());
  /** Each chain's head as this writer's last append left it. */
  const lastHeads = new Map<number, HeadState>();
  /** This writer's appends to one chain run one after the other, each after the head the one before left. */
  const queues = new Map<number, Promise<unknown>>();
  /** Per chain, while appends are queued: the head the last of them leaves if it goes through as prepared. */
  const expectedHeads = new Map<number, HeadState>();

  /** Numbers, signs and hashes the events not in `seen` after `head`. */
  const appendAfter = (
    head: HeadState,
    frontier: MerkleFrontier,
    events: AuditEvent[],
    templates: Template[],
    seen: Set<string>,
    chainId: number,
  ): Appended & { head: HeadState } => {
    let sequence = head.sequence;
    let prev = head.signature;
    // Never before the head's time, so recorded_at grows along the chain even across replicas' clocks.
    const recordedAt = new Date(Math.max(now().getTime(), head.recordedAt ?? 0));
    const outcomes: WriteOutcome[] = [];
    const stored: AuditRecord[] = [];
    const leaves: Buffer[] = [];
    for (const [i, event] of events.entries()) {
      if (seen.has(event.event_id)) {
        outcomes.push('duplicate');
        continue;
      }
      seen.add(event.event_id);
      const chain = { chain_id: chainId, sequence: ++sequence, prev_signature: prev, key_id: keyRing.signingKeyId, recorded_at: recordedAt.toISOString() };
      const input = templates[i]!(chain);
      const record: AuditRecord = { ...event, ...chain, signature: keyRing.signInput(input) };
      if (merkleTrees) leaves.push(leafHash(leafDataFromSigningInput(input, record.signature)));
      prev = record.signature;
      stored.push(record);
      outcomes.push('stored');
    }
    const nodes = merkleTrees ? frontier.appendAll(leaves) : [];
    return { outcomes, stored, nodes, head: { sequence, signature: prev, recordedAt: recordedAt.getTime(), frontier: frontier.serialize() } };
  };

  /** Under the head's lock, in a transaction: sees every batch committed before, skips what is stored. */
  const appendLocked = (chainId: number, events: AuditEvent[], templates: Template[], since: string, ids: string[]): Promise<Appended> =>
    prisma.$transaction(
      async (tx) => {
        const locked = await lockHead(tx, chainId);
        // Read after the lock is held: READ COMMITTED gives this statement a snapshot holding
        // every batch committed by whoever held the lock before. The LATERAL makes it one index
        // probe per id whatever the table statistics say (a plain `= ANY` may become a scan). Every
        // chain is searched, not only this one: a copy stored while AUDIT_CHAINS had another value
        // sits in the chain that value picked.
        const found = await tx.$queryRawUnsafe<{ event_id: string }[]>(
          `SELECT ids.id::text AS event_id FROM unnest($1::uuid[]) AS ids(id)
               CROSS JOIN LATERAL (SELECT 1 FROM audit_logs a WHERE a.event_id = ids.id AND a.recorded_at >= $2::timestamptz LIMIT 1) AS hit`,
          ids,
          since,
        );
        const frontier = createFrontier(locked.tree_frontier);
        // A tree behind its chain (records from before trees existed) catches up first.
        const caughtUp = merkleTrees && frontier.size < Number(locked.sequence) ? await catchUpTree(tx, chainId, frontier, Number(locked.sequence)) : [];
        const head: HeadState = {
          sequence: Number(locked.sequence),
          signature: locked.signature,
          recordedAt: locked.recorded_at?.getTime(),
          frontier: frontier.serialize(),
        };
        const appended = appendAfter(head, frontier, events, templates, new Set(found.map((row) => row.event_id)), chainId);
        appended.nodes.unshift(...caughtUp);
        if (appended.stored.length === 0) return { ...appended, head: caughtUp.length === 0 ? head : undefined };
        const next = appended.head;
        if (!merkleTrees) {
          await tx.$executeRawUnsafe(
            `WITH stored AS (INSERT INTO audit_logs SELECT * FROM json_populate_recordset(NULL::audit_logs, $1::json) RETURNING 1)
               UPDATE audit_chain_heads SET sequence = $2::bigint, signature = $3, recorded_at = $4::timestamptz WHERE chain_id = $5::int`,
            JSON.stringify(appended.stored),
            next.sequence,
            next.signature,
            new Date(next.recordedAt!).toISOString(),
            chainId,
          );
        } else {
          // Records, their tree nodes and the head move in one statement under the head's lock.
          await tx.$executeRawUnsafe(
            `WITH nodes AS (${INSERT_NODES}),
                    stored AS (INSERT INTO audit_logs SELECT * FROM json_populate_recordset(NULL::audit_logs, $5::json) RETURNING 1)
               UPDATE audit_chain_heads SET sequence = $6::bigint, signature = $7, recorded_at = $8::timestamptz, tree_frontier = $9 WHERE chain_id = $1::int`,
            ...appendParams(chainId, appended),
          );
        }
        return appended;
      },
      { maxWait: 10_000, timeout: 60_000 },
    );

  const prepareAfter = (chainId: number, after: HeadState, events: AuditEvent[], templates: Template[], since: string, ids: string[]): Prepared => {
    const appended = appendAfter(after, createFrontier(merkleTrees ? after.frontier : undefined), events, templates, new Set(), chainId);
    return { after, appended, params: [...appendParams(chainId, appended), ids, since, after.sequence, after.signature, merkleTrees] };
  };

  /**
   * The same append as one statement (one round trip, no interactive transaction), assuming the head
   * it was prepared after is still the head and nothing of the batch is stored: a single writer of a
   * chain, the usual case, pays a third of the locked path. Undefined when either assumption failed.
   */
  const appendIfHead = async (prepared: Prepared): Promise<Appended | undefined> => {
    const [row] = await prisma.$queryRawUnsafe<{ applied: number }[]>(APPEND_IF_HEAD, ...prepared.params);
    return row?.applied === 1 ? prepared.appended : undefined;
  };

  /** One chain's part of a batch, in one transaction (one statement, or under that chain's head lock). */
  const appendToChain = (chainId: number, events: AuditEvent[]): Promise<BatchResult> => {
    // Everything that does not depend on the chain is done before any round trip.
    const templates = events.map(signingInputTemplate);
    const since = new Date(Math.min(...events.map((e) => Date.parse(e.timestamp))) - DEDUP_CLOCK_SKEW_MS).toISOString();
    const ids = [...new Set(events.map((e) => e.event_id))];
    // While the append queued before this one is still out, this batch is numbered and signed after
    // the head that one will leave, so the work overlaps its round trip; it is sent as prepared only
    // if that append did leave exactly that head.
    const expected = queues.has(chainId) ? expectedHeads.get(chainId) : lastHeads.get(chainId);
    const early = expected && prepareAfter(chainId, expected, events, templates, since, ids);
    if (early) expectedHeads.set(chainId, early.appended.head);
    else expectedHeads.delete(chainId);
    const append = async (): Promise<BatchResult> => {
      const last = lastHeads.get(chainId);
      lastHeads.delete(chainId);
      const prepared = last && (early?.after === last ? early : prepareAfter(chainId, last, events, templates, since, ids));
      const appended = (prepared && (await appendIfHead(prepared))) || (await appendLocked(chainId, events, templates, since, ids));
      if (appended.head) lastHeads.set(chainId, appended.head);
      return { outcomes: appended.outcomes, stored: appended.stored };
    };
    const done = (queues.get(chainId) ?? Promise.resolve()).then(append, append);
    const settled = done.catch(() => undefined);
    queues.set(chainId, settled);
    void settled.then(() => {
      if (queues.get(chainId) !== settled) return;
      queues.delete(chainId);
      expectedHeads.delete(chainId);
    });
    return done;
  };

  return {
    async write(events) {
      if (options.chainId !== undefined || chains === 1) return appendToChain(options.chainId ?? DEFAULT_CHAIN_ID, events);
      const parts = new Map<number, number[]>();
      for (const [i, event] of events.entries()) {
        const chainId = chainOfEvent(event.event_id, chains);
        parts.set(chainId, [...(parts.get(chainId) ?? []), i]);
      }
      const results = await Promise.allSettled(
        [...parts].map(([chainId, at]) =>
          appendToChain(
            chainId,
            at.map((i) => events[i]!),
          ),
        ),
      );
      // Every part is settled before the batch fails: its jobs retry, and the parts that did commit
      // come back as duplicates, which is how a redelivery is always answered.
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      const outcomes: WriteOutcome[] = new Array(events.length);
      const stored: AuditRecord[] = [];
      [...parts.values()].forEach((at, part) => {
        const result = (results[part] as PromiseFulfilledResult<BatchResult>).value;
        for (const [k, i] of at.entries()) outcomes[i] = result.outcomes[k]!;
        stored.push(...result.stored);
      });
      return { outcomes, stored };
    },
  };
}

/** Every chain head a writer appends to, in place before the first batch (see ensureChainHead). */
export async function ensureChainHeads(prisma: PrismaClient, chainIds: readonly number[], options: { merkleTrees?: boolean } = {}): Promise<void> {
  for (const chainId of chainIds) await ensureChainHead(prisma, chainId, options);
}
