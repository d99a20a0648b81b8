/**
 * Checkpoints: each chain head (sequence, signature, recorded_at) as it is now, stored in
 * `audit_checkpoints` and written as one log line, so a copy lives outside the database (log
 * shipping). A chain that later ends before a checkpoint's sequence was truncated; a record at a
 * checkpoint's sequence with another signature was rewritten.
 */
import type { PrismaClient } from '../platform/db/client.ts';
import type { Logger } from '../platform/logger.ts';
import { AuditJob, DEFAULT_JOB_OPTIONS, type ContractQueue, type QueueName } from '../platform/queues.ts';

/** A checkpoint as logged and as `npm run audit:verify --checkpoint FILE` reads it back. */
export interface AuditCheckpointLine {
  chain_id: number;
  sequence: number;
  signature: string;
  recorded_at: string;
  created_at: string;
}

interface CheckpointRow {
  chain_id: number;
  sequence: bigint;
  signature: string;
  recorded_at: Date;
  created_at: Date;
}

/** Records a checkpoint of every chain whose head moved since its last one; returns them. */
export async function writeCheckpoints(prisma: PrismaClient, logger: Logger): Promise<AuditCheckpointLine[]> {
  const rows = await prisma.$queryRaw<CheckpointRow[]>`
    INSERT INTO audit_checkpoints (chain_id, sequence, signature, recorded_at)
    SELECT h.chain_id, h.sequence, h.signature, h.recorded_at FROM audit_chain_heads h
     WHERE h.sequence > 0 AND h.signature IS NOT NULL AND h.recorded_at IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM audit_checkpoints c WHERE c.chain_id = h.chain_id AND c.sequence = h.sequence)
    RETURNING chain_id, sequence, signature, recorded_at, created_at`;
  return rows.map((row) => {
    const checkpoint: AuditCheckpointLine = {
      chain_id: row.chain_id,
      sequence: Number(row.sequence),
      signature: row.signature,
      recorded_at: row.recorded_at.toISOString(),
      created_at: row.created_at.toISOString(),
    };
    logger.info({ audit_checkpoint: checkpoint }, 'audit checkpoint');
    return checkpoint;
  });
}

/** One scheduler with a fixed id, so every writer start replaces the same one. */
export async function upsertCheckpointScheduler(queue: ContractQueue<typeof QueueName.AuditEvents>, everyMs: number): Promise<void> {
  await queue.upsertJobScheduler(AuditJob.Checkpoint, { every: everyMs }, { name: AuditJob.Checkpoint, data: {}, opts: DEFAULT_JOB_OPTIONS });
}
