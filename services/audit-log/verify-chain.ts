/**
 * Verification of the audit log: every record's signature and its place in its chain, from the
 * retention anchor (or --from) to the chain head (or --to), against the head, the checkpoints in
 * `audit_checkpoints` and any checkpoints kept outside the database.
 */
import { monthStart } from './audit-partitions.ts';
import { AUDIT_RECORD_COLUMNS, rowToAuditRecord, type AuditRecordRow } from './audit-records.ts';
import type { AuditKeyRing } from './audit-signature.ts';
import type { PrismaClient } from '../platform/db/client.ts';
import { createChainWalk, type ChainBreak, type ChainBreakKind } from './chain-walk.ts';
import { anchorAttestation } from './digests/anchor-attestation.ts';

export type { ChainBreak, ChainBreakKind };

/** A chain head as it was once: from `audit_checkpoints`, or from the writer's log lines. */
export interface ChainCheckpoint {
  chain_id: number;
  sequence: number;
  signature: string;
  /** When the checkpointed record was stored: a retention anchor can be no older than a checkpoint before it. */
  recorded_at?: string;
}

export interface VerifyProgress {
  chain_id: number;
  checked: number;
  sequence: number;
  last_sequence: number;
}

export interface VerifyOptions {
  /** Only records stored (recorded_at) at or after this time. */
  from?: Date;
  /** Only records stored before this time; the head and later checkpoints are then not compared. */
  to?: Date;
  /** Checkpoints kept outside the database. */
  checkpoints?: ChainCheckpoint[];
  /** When set, an anchor younger than the retention period means records were deleted early. */
  retentionDays?: number;
  now?: Date;
  /** Only these chains. @defaultValue every chain with a head */
  chainIds?: number[];
  /** @defaultValue 5000 */
  pageSize?: number;
  onProgress?: (progress: VerifyProgress) => void;
}

export interface ChainReport {
  chain_id: number;
  head_sequence: number;
  anchor_sequence: number;
  first_sequence: number | null;
  last_sequence: number | null;
  records_checked: number;
  breaks: number;
  first_break: ChainBreak | null;
}

export interface VerifyReport {
  ok: boolean;
  records_checked: number;
  /** Broken points found (each counted once; damage after a break is judged afresh). */
  breaks: number;
  first_break: ChainBreak | null;
  checkpoints_checked: number;
  chains: ChainReport[];
}

interface HeadRow {
  chain_id: number;
  sequence: bigint;
  signature: string | null;
  anchor_sequence: bigint;
  anchor_signature: string | null;
  anchor_recorded_at: Date | null;
}

const MAX_SEQUENCE = Number.MAX_SAFE_INTEGER;
const DAY_MS = 86_400_000;

/**
 * The newest checkpoint of each chain, which shows truncation, and every checkpoint at or below its
 * chain's anchor, which shows a forged anchor (retention removes older ones when it moves an anchor).
 */
async function storedCheckpoints(prisma: PrismaClient): Promise<ChainCheckpoint[]> {
  const rows = await prisma.$queryRaw<{ chain_id: number; sequence: bigint; signature: string; recorded_at: Date }[]>`
    (SELECT DISTINCT ON (chain_id) chain_id, sequence, signature, recorded_at FROM audit_checkpoints ORDER BY chain_id, sequence DESC)
    UNION
    (SELECT c.chain_id, c.sequence, c.signature, c.recorded_at FROM audit_checkpoints c
       JOIN audit_chain_heads h ON h.chain_id = c.chain_id WHERE c.sequence <= h.anchor_sequence)`;
  return rows.map((r) => ({ chain_id: r.chain_id, sequence: Number(r.sequence), signature: r.signature, recorded_at: r.recorded_at.toISOString() }));
}

/** Every chain id that has records, found by skipping through the primary key rather than reading every row. */
export const CHAINS_WITH_RECORDS = `
  WITH RECURSIVE c AS (
    (SELECT chain_id FROM audit_logs ORDER BY chain_id LIMIT 1)
    UNION ALL
    SELECT (SELECT a.chain_id FROM audit_logs a WHERE a.chain_id > c.chain_id ORDER BY a.chain_id LIMIT 1) FROM c WHERE c.chain_id IS NOT NULL
  ) SELECT chain_id FROM c WHERE chain_id IS NOT NULL`;

async function chainsWithRecords(prisma: PrismaClient): Promise<number[]> {
  return (await prisma.$queryRawUnsafe<{ chain_id: number }[]>(CHAINS_WITH_RECORDS)).map((r) => r.chain_id);
}

/** Records stored at or below the anchor (or at a sequence below 1): retention deleted that range, so none may exist. */
async function recordsBelowAnchor(prisma: PrismaClient, chainId: number, anchor: number): Promise<{ sequence: number; event_id: string }[]> {
  const rows = await prisma.$queryRaw<{ sequence: bigint; event_id: string }[]>`
    SELECT sequence, event_id::text AS event_id FROM audit_logs WHERE chain_id = ${chainId} AND sequence <= ${anchor} ORDER BY sequence LIMIT 1000`;
  return rows.map((r) => ({ sequence: Number(r.sequence), event_id: r.event_id }));
}

async function boundarySequence(prisma: PrismaClient, chainId: number, edge: 'from' | 'to', at: Date): Promise<number | undefined> {
  // recorded_at never decreases along a chain, so a time range is one run of sequences.
  const [row] =
    edge === 'from'
      ? await prisma.$queryRaw<{ s: bigint | null }[]>`SELECT min(sequence) AS s FROM audit_logs WHERE chain_id = ${chainId} AND recorded_at >= ${at}`
      : await prisma.$queryRaw<{ s: bigint | null }[]>`SELECT max(sequence) AS s FROM audit_logs WHERE chain_id = ${chainId} AND recorded_at < ${at}`;
  return row?.s === null || row?.s === undefined ? undefined : Number(row.s);
}

async function signatureAt(prisma: PrismaClient, chainId: number, sequence: number): Promise<string | undefined> {
  const rows = await prisma.$queryRaw<{ signature: string }[]>`
    SELECT signature FROM audit_logs WHERE chain_id = ${chainId} AND sequence = ${sequence} LIMIT 2`;
  return rows.length === 1 ? rows[0]!.signature : undefined;
}

async function verifyChain(
  prisma: PrismaClient,
  keyRing: AuditKeyRing,
  head: HeadRow,
  checkpoints: ChainCheckpoint[],
  options: VerifyOptions & { headless?: boolean },
): Promise<ChainReport> {
  const chainId = head.chain_id;
  const headSequence = Number(head.sequence);
  const anchor = Number(head.anchor_sequence);
  const breaks: ChainBreak[] = [];
  const onBreak = (b: ChainBreak) => breaks.push(b);
  const brk = (kind: ChainBreakKind, sequence: number, message: string) => onBreak({ kind, chain_id: chainId, sequence, event_id: null, message });

  const fromSeq = options.from ? ((await boundarySequence(prisma, chainId, 'from', options.from)) ?? headSequence + 1) : anchor + 1;
  const toSeq = options.to ? ((await boundarySequence(prisma, chainId, 'to', options.to)) ?? 0) : MAX_SEQUENCE;
  const lastWanted = Math.min(toSeq, headSequence);

  let prevSignature: string | null | undefined;
  if (fromSeq <= anchor + 1) {
    prevSignature = anchor === 0 ? null : (head.anchor_signature ?? undefined);
    if (anchor > 0 && !options.from) {
      const cutoff = options.retentionDays ? monthStart(new Date((options.now ?? new Date()).getTime() - options.retentionDays * DAY_MS)) : undefined;
      if (!head.anchor_recorded_at || !head.anchor_signature)
        brk('deleted', anchor, `records up to ${anchor} are gone and the anchor does not say when they were recorded`);
      else if (cutoff && head.anchor_recorded_at >= cutoff) {
        brk('deleted', anchor, `records up to ${anchor} (recorded until ${head.anchor_recorded_at.toISOString()}) were deleted before their retention ended`);
      }
    }
  } else {
    prevSignature = await signatureAt(prisma, chainId, fromSeq - 1);
    if (prevSignature === undefined) brk('deleted', fromSeq - 1, `record ${fromSeq - 1}, just before the range, is missing`);
  }

  const inRange = checkpoints.filter((c) => c.chain_id === chainId && c.sequence >= fromSeq && c.sequence <= toSeq);
  for (const c of checkpoints.filter((c) => c.chain_id === chainId && c.sequence === anchor && anchor > 0)) {
    if (c.signature !== head.anchor_signature) brk('modified', anchor, `the retention anchor ${anchor} differs from the checkpoint taken of that record`);
  }
  if (!options.from) {
    // recorded_at never decreases along a chain: an anchor dated before a checkpoint it lies after was rewritten.
    const cutoff = options.retentionDays ? monthStart(new Date((options.now ?? new Date()).getTime() - options.retentionDays * DAY_MS)) : undefined;
    for (const c of checkpoints.filter((c) => c.chain_id === chainId && c.sequence <= anchor && c.recorded_at)) {
      const checkpointAt = new Date(c.recorded_at!);
      if (head.anchor_recorded_at && checkpointAt > head.anchor_recorded_at) {
        brk(
          'modified',
          anchor,
          `the anchor says record ${anchor} was stored at ${head.anchor_recorded_at.toISOString()}, but a checkpoint shows record ${c.sequence} stored later, at ${c.recorded_at}`,
        );
      } else if (cutoff && checkpointAt >= cutoff) {
        brk('deleted', c.sequence, `record ${c.sequence} (stored ${c.recorded_at}) lies below the anchor, but its retention had not ended`);
      }
    }
    // Retention moves an anchor only together with a signed anchor digest: one without it was written by hand.
    if (anchor > 0 && !options.headless && (await anchorAttestation(prisma, chainId)).status === 'unattested') {
      brk('modified', anchor, `the anchor at ${anchor} has no signed anchor digest: retention did not write it`);
    }
    for (const row of await recordsBelowAnchor(prisma, chainId, anchor)) {
      onBreak({
        kind: 'inserted',
        chain_id: chainId,
        sequence: row.sequence,
        event_id: row.event_id,
        message: `a record claims sequence ${row.sequence}, at or below the retention anchor ${anchor}, where no record can remain`,
      });
    }
  }
  const walk = createChainWalk(
    keyRing,
    { chainId, sequence: fromSeq, prevSignature, headSequence, expected: new Map(inRange.map((c) => [c.sequence, c.signature])) },
    onBreak,
  );

  const pageSize = options.pageSize ?? 5000;
  let lo = fromSeq;
  let firstSequence: number | null = null;
  for (;;) {
    const rows = await prisma.$queryRawUnsafe<AuditRecordRow[]>(
      `SELECT ${AUDIT_RECORD_COLUMNS} FROM audit_logs WHERE chain_id = $1::int AND sequence >= $2::bigint AND sequence <= $3::bigint
        ORDER BY audit_logs.sequence, audit_logs.event_id LIMIT $4::int`,
      chainId,
      lo,
      toSeq,
      pageSize,
    );
    const records = rows.map(rowToAuditRecord);
    if (records.length === 0) break;
    firstSequence ??= records[0]!.sequence;
    const full = records.length === pageSize;
    const top = records.at(-1)!.sequence;
    // A full page may cut a group of records sharing a sequence: hold its last sequence for the next page.
    const cut = full && records[0]!.sequence !== top ? records.findIndex((r) => r.sequence === top) : records.length;
    walk.feed(records.slice(0, cut), records.slice(cut));
    options.onProgress?.({ chain_id: chainId, checked: walk.checked, sequence: walk.lastSequence ?? lo, last_sequence: lastWanted });
    if (!full) break;
    lo = cut === records.length ? top + 1 : top;
  }

  const last = walk.lastSequence;
  // After a renumbering the stored positions are off by the shift; the chain ends where its last record was signed.
  const end = (last ?? fromSeq - 1) + walk.shift;
  const headAgrees = last !== undefined && walk.lastSignature === head.signature && (end === headSequence || (walk.shift !== 0 && last === headSequence));
  if (!options.to && !options.headless && !headAgrees) {
    if (end < headSequence) brk('truncated', end + 1, `the chain ends at ${end} but its head is at ${headSequence}`);
    else if (last !== undefined && end === headSequence) {
      brk('modified', last, `the last record ${last} is not the one the chain head recorded`);
    } else if (end > headSequence && breaks.every((b) => b.sequence <= headSequence)) {
      brk('modified', headSequence, `signed records continue to ${end} past the chain head at ${headSequence}`);
    }
  }
  const beyond = Math.max(...inRange.map((c) => c.sequence));
  if (beyond > end && !breaks.some((b) => b.kind === 'truncated')) {
    brk('truncated', end + 1, `the chain ends at ${end} but a checkpoint shows it reached ${beyond}`);
  }
  breaks.sort((a, b) => a.sequence - b.sequence);
  return {
    chain_id: chainId,
    head_sequence: headSequence,
    anchor_sequence: anchor,
    first_sequence: firstSequence,
    last_sequence: last ?? null,
    records_checked: walk.checked,
    breaks: breaks.length,
    first_break: breaks[0] ?? null,
  };
}

/**
 * Verifies every chain (or the part of it stored in [from, to)) and reports the first break. Every
 * chain that has a head, a record or a checkpoint is read: records in a chain without a head, and
 * a head or checkpoints without their records, are breaks too.
 */
export async function verifyAuditLog(prisma: PrismaClient, keyRing: AuditKeyRing, options: VerifyOptions = {}): Promise<VerifyReport> {
  const heads = await prisma.$queryRaw<HeadRow[]>`
    SELECT chain_id, sequence, signature, anchor_sequence, anchor_signature, anchor_recorded_at FROM audit_chain_heads ORDER BY chain_id`;
  const checkpoints = [...(await storedCheckpoints(prisma)), ...(options.checkpoints ?? [])];
  const headOf = new Map(heads.map((h) => [h.chain_id, h]));
  const chainIds = [...new Set([...heads.map((h) => h.chain_id), ...(await chainsWithRecords(prisma)), ...checkpoints.map((c) => c.chain_id)])]
    .filter((id) => !options.chainIds || options.chainIds.includes(id))
    .sort((a, b) => a - b);
  const chains: ChainReport[] = [];
  for (const chainId of chainIds) {
    const head = headOf.get(chainId);
    if (head) {
      chains.push(await verifyChain(prisma, keyRing, head, checkpoints, options));
      continue;
    }
    // No head: what the records hold is still checked, from sequence 1 to the last one stored.
    const [top] = await prisma.$queryRaw<{ s: bigint | null }[]>`SELECT max(sequence) AS s FROM audit_logs WHERE chain_id = ${chainId}`;
    const lastStored = Number(top?.s ?? 0);
    const report = await verifyChain(
      prisma,
      keyRing,
      { chain_id: chainId, sequence: BigInt(lastStored), signature: null, anchor_sequence: 0n, anchor_signature: null, anchor_recorded_at: null },
      checkpoints,
      { ...options, headless: true },
    );
    const missing: ChainBreak = {
      kind: 'head_missing',
      chain_id: chainId,
      sequence: lastStored,
      event_id: null,
      message: `chain ${chainId} has ${lastStored > 0 ? 'records' : 'checkpoints'} but no head row: its head was deleted, or its records forged`,
    };
    chains.push({ ...report, breaks: report.breaks + 1, first_break: missing });
  }
  const firstBreaks = chains.map((c) => c.first_break).filter((b): b is ChainBreak => b !== null);
  const breaks = chains.reduce((n, c) => n + c.breaks, 0);
  return {
    ok: breaks === 0,
    records_checked: chains.reduce((n, c) => n + c.records_checked, 0),
    breaks,
    first_break: firstBreaks[0] ?? null,
    checkpoints_checked: checkpoints.length,
    chains,
  };
}
