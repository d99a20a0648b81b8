/**
 * Reading `audit_logs` rows back in their signed form. Values are read as text where a driver
 * could otherwise change them (JSON numbers, 64-bit sequences), so a verifier sees exactly what
 * was stored.
 */
import type { AuditRecord } from './audit-signature.ts';

/** The select list for `AuditRecord`s; alias-free so it works with any FROM. */
export const AUDIT_RECORD_COLUMNS = `event_id::text AS event_id, event_type, event_category, "timestamp", user_id, service_account_id,
  ip_address, user_agent, resource_type, resource_id, action, status, details::text AS details, source, request_id,
  chain_id, sequence::text AS sequence, prev_signature, key_id, signature, recorded_at`;

/** One row as `$queryRaw` returns it for `AUDIT_RECORD_COLUMNS`. */
export interface AuditRecordRow
  extends Omit<AuditRecord, 'timestamp' | 'recorded_at' | 'details' | 'sequence' | 'event_type' | 'event_category' | 'status' | 'source'> {
  event_type: string;
  event_category: string;
  status: string;
  source: string;
  timestamp: Date;
  recorded_at: Date;
  details: string | null;
  sequence: string;
}

export function toSequence(value: string | number | bigint): number {
  const sequence = Number(value);
  if (!Number.isSafeInteger(sequence)) throw new Error(`sequence ${value} is beyond 2^53`);
  return sequence;
}

/** The stored row as the record that was signed; enum-like columns stay as stored so tampering shows. */
export function rowToAuditRecord(row: AuditRecordRow): AuditRecord {
  return {
    ...row,
    timestamp: row.timestamp.toISOString(),
    recorded_at: row.recorded_at.toISOString(),
    details: row.details === null ? null : JSON.parse(row.details),
    sequence: toSequence(row.sequence),
  } as AuditRecord;
}
