import { randomUUID } from 'node:crypto';
import type { AuditEvent } from '../../services/audit-log/events.ts';
import type { PrismaClient } from '../../services/platform/db/client.ts';

/** An audit event with every field set (nothing null), so each one can be tampered with. */
export function sampleAuditEvent(overrides: Partial<AuditEvent> = {}, index = 0): AuditEvent {
  return {
    event_id: randomUUID(),
    event_type: 'file_upload',
    event_category: 'data_operation',
    timestamp: new Date(Date.now() - 1000 + index).toISOString(),
    user_id: `user-${index}`,
    service_account_id: randomUUID(),
    ip_address: '203.0.113.7',
    user_agent: 'artstore-test/1.0 (ünïcode ✓)',
    resource_type: 'file',
    resource_id: `file-${index}`,
    action: 'upload',
    status: 'success',
    details: { size: 1024 + index, name: `report-${index}.pdf`, tags: ['a', 'b'], ratio: 0.1, nested: { ok: true, none: null } },
    source: 'ingester',
    request_id: `req-${index}`,
    ...overrides,
  };
}

export const sampleAuditEvents = (count: number, overrides: Partial<AuditEvent> = {}) =>
  Array.from({ length: count }, (_, i) => sampleAuditEvent(overrides, i));

/** Removes test chains [from, to) — records, head, checkpoints, tree and digests — so a tampered one never fails a later whole-log check. */
export async function removeChains(prisma: PrismaClient, from: number, to: number): Promise<void> {
  await prisma.$executeRaw`DELETE FROM audit_logs WHERE chain_id >= ${from} AND chain_id < ${to}`;
  await prisma.$executeRaw`DELETE FROM audit_checkpoints WHERE chain_id >= ${from} AND chain_id < ${to}`;
  await prisma.$executeRaw`DELETE FROM audit_chain_heads WHERE chain_id >= ${from} AND chain_id < ${to}`;
  await prisma.$executeRaw`DELETE FROM audit_tree_nodes WHERE chain_id >= ${from} AND chain_id < ${to}`;
  await prisma.$executeRaw`DELETE FROM audit_digests WHERE chain_id >= ${from} AND chain_id < ${to}`;
}
