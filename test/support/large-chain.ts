import type { AuditKeyRing } from '../../services/audit-log/audit-signature.ts';
import { createChainWriter, ensureChainHead } from '../../services/audit-log/chain-writer.ts';
import type { PrismaClient } from '../../services/platform/db/client.ts';
import { sampleAuditEvents } from './audit-events.ts';

/**
 * A chain of `count` genuine records (signed, chained, each leaf in the Merkle tree) written by the
 * real chain writer in large batches — the fastest honest way to a log of a million records.
 */
export async function writeLargeChain(
  prisma: PrismaClient,
  keyRing: AuditKeyRing,
  chainId: number,
  count: number,
  onProgress?: (written: number) => void,
): Promise<void> {
  await ensureChainHead(prisma, chainId);
  const writer = createChainWriter(prisma, keyRing, { chainId });
  const batch = 5000;
  for (let written = 0; written < count; written += batch) {
    await writer.write(sampleAuditEvents(Math.min(batch, count - written)));
    onProgress?.(Math.min(written + batch, count));
  }
}
