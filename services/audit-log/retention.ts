/**
 * Audit log retention, run by the weekly cleanup: monthly partitions whose whole month was
 * recorded more than AUDIT_LOG_RETENTION_DAYS ago are dropped (a record is kept at least its
 * retention period and at most a month longer), and the coming months get their partitions.
 * recorded_at never decreases along a chain, so what goes is always a chain's oldest run of
 * records; the newest of them becomes the chain's anchor, which the first kept record chains to,
 * and the rest stays verifiable. The anchor moves only together with a signed `anchor` digest, so
 * an anchor forged in the database has no digest to show for it.
 */
import type { KeyObject } from 'node:crypto';
import { ensureAuditPartitions, listAuditPartitions, monthStart } from './audit-partitions.ts';
import type { AuditDigest } from './digests/digest-format.ts';
import { recordAnchorDigest } from './digests/digest-issuer.ts';
import type { PrismaClient } from '../platform/db/client.ts';

const DAY_MS = 86_400_000;

export interface AuditRetentionResult {
  /** Records stored before this instant were past retention. */
  cutoff: string;
  droppedPartitions: string[];
  /** Expired rows deleted from the default partition (only there when partitions were missing). */
  deletedRows: number;
  /** New anchors: the newest deleted record of each chain that lost records. */
  anchors: { chain_id: number; sequence: number }[];
  /** The signed digest of each new anchor, stored with it; the audit writer's next run copies them to the sink. */
  anchorDigests: AuditDigest[];
  createdPartitions: string[];
}

interface AnchorRow {
  sequence: bigint;
  signature: string;
  recorded_at: Date;
}

/** `digestKek` (AUDIT_DIGEST_KEY_ENCRYPTION_KEY) decrypts the active digest key that signs each new anchor. */
export async function applyAuditRetention(
  prisma: PrismaClient,
  options: { retentionDays: number; digestKek: KeyObject; now?: Date },
): Promise<AuditRetentionResult> {
  const now = options.now ?? new Date();
  const cutoff = monthStart(new Date(now.getTime() - options.retentionDays * DAY_MS));
  const expired = (await listAuditPartitions(prisma)).filter((p) => p.to <= cutoff);
  const { anchors, anchorDigests, deletedRows } = await prisma.$transaction(
    async (tx) => {
      // Writers wait on the heads while partitions go; a long reader holding the table makes this
      // attempt give up instead of stalling the writers, and the job retries.
      await tx.$executeRawUnsafe(`SET LOCAL lock_timeout = '10s'`);
      const heads = await tx.$queryRaw<{ chain_id: number; anchor_sequence: bigint }[]>`
        SELECT chain_id, anchor_sequence FROM audit_chain_heads ORDER BY chain_id FOR UPDATE`;
      const anchors: { chain_id: number; sequence: number }[] = [];
      const anchorDigests: AuditDigest[] = [];
      for (const head of heads) {
        const [last] = await tx.$queryRaw<AnchorRow[]>`
          SELECT sequence, signature, recorded_at FROM audit_logs
           WHERE chain_id = ${head.chain_id} AND recorded_at < ${cutoff} ORDER BY sequence DESC LIMIT 1`;
        if (!last || last.sequence <= head.anchor_sequence) continue;
        await tx.$executeRaw`
          UPDATE audit_chain_heads SET anchor_sequence = ${last.sequence}, anchor_signature = ${last.signature}, anchor_recorded_at = ${last.recorded_at}
           WHERE chain_id = ${head.chain_id}`;
        await tx.$executeRaw`DELETE FROM audit_checkpoints WHERE chain_id = ${head.chain_id} AND sequence < ${last.sequence}`;
        const anchor = { sequence: Number(last.sequence), signature: last.signature, recordedAt: last.recorded_at };
        anchorDigests.push(await recordAnchorDigest(tx, options.digestKek, head.chain_id, anchor, now));
        anchors.push({ chain_id: head.chain_id, sequence: anchor.sequence });
      }
      for (const partition of expired) await tx.$executeRawUnsafe(`DROP TABLE "${partition.name}"`);
      const deletedRows = await tx.$executeRaw`DELETE FROM audit_logs_default WHERE recorded_at < ${cutoff}`;
      return { anchors, anchorDigests, deletedRows };
    },
    { maxWait: 10_000, timeout: 120_000 },
  );
  const createdPartitions = await ensureAuditPartitions(prisma, { first: now });
  return { cutoff: cutoff.toISOString(), droppedPartitions: expired.map((p) => p.name), deletedRows, anchors, anchorDigests, createdPartitions };
}
