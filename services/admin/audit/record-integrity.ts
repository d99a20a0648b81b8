import type { AuditKeyRing, AuditRecord } from '../../audit-log/audit-signature.ts';
import type { PrismaClient } from '../../platform/db/client.ts';
import type { toAuditView } from './audit-query.ts';

/**
 * What the read API says of each record it serves: `verified` (its signature holds and it lies at a
 * position its chain covers: a head exists, and anchor < sequence ≤ head), `signature_invalid`, or
 * `outside_chain` (no head for its chain, or a sequence retention or the head rule out). Only a
 * `verified` record is presented as genuine; whether the chain around it is whole is what
 * `GET /api/v1/audit/verify` and `npm run audit:verify` establish.
 */
export type RecordIntegrity = 'verified' | 'signature_invalid' | 'outside_chain';

type AuditView = ReturnType<typeof toAuditView>;

export function createRecordIntegrity(prisma: PrismaClient, keyRing: AuditKeyRing) {
  return {
    /** A marker for one request or export: reads the heads once, again only when a record lies past them. */
    forRequest() {
      let heads: Map<number, { sequence: number; anchor: number }> | undefined;
      const load = async () => {
        const rows = await prisma.$queryRaw<{ chain_id: number; sequence: bigint; anchor_sequence: bigint }[]>`
          SELECT chain_id, sequence, anchor_sequence FROM audit_chain_heads`;
        heads = new Map(rows.map((r) => [r.chain_id, { sequence: Number(r.sequence), anchor: Number(r.anchor_sequence) }]));
      };
      return async (view: AuditView): Promise<AuditView & { integrity: RecordIntegrity }> => {
        const record = { ...view, sequence: Number(view.sequence) } as unknown as AuditRecord;
        if (keyRing.check(record) !== 'valid') return { ...view, integrity: 'signature_invalid' };
        if (!heads) await load();
        let head = heads!.get(record.chain_id);
        // The head moved on while we read: one fresh look before calling a new record outside.
        if (!head || record.sequence > head.sequence) {
          await load();
          head = heads!.get(record.chain_id);
        }
        const inside = head !== undefined && record.sequence > head.anchor && record.sequence <= head.sequence;
        return { ...view, integrity: inside ? 'verified' : 'outside_chain' };
      };
    },
  };
}
