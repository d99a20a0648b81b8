import type { AuditEvent } from './events.ts';

/**
 * What a caller gives to publish one audit event; the publisher fills in event_id (a new UUID),
 * timestamp (now), event_category (from the type), source (this process) and, when absent,
 * the nullable fields as null.
 */
export type AuditEventInput = Pick<AuditEvent, 'event_type' | 'action' | 'status'> &
  Partial<Pick<AuditEvent, 'user_id' | 'service_account_id' | 'ip_address' | 'user_agent' | 'resource_type' | 'resource_id' | 'details' | 'request_id'>>;

/**
 * Publishing an audit event is one call. It resolves once the event is durable — a BullMQ job on
 * `audit-events` (jobId = event_id), or with AUDIT_DELIVERY=spool an fsynced line in the local
 * spool — and rejects with a 503 AppError when neither is possible (fail-closed).
 */
export interface AuditPublisher {
  publish(event: AuditEventInput): Promise<AuditEvent>;
}
