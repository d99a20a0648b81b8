/**
 * Audit event contract: the one place that names event types, categories and statuses, and the
 * shape of an event as producers publish it onto the `audit-events` queue (a job of its own, jobId =
 * event_id, or one of a group published together). The audit writer validates every event against
 * `auditEventSchema`.
 */
import { z } from 'zod';

export const AuditCategory = {
  Authentication: 'authentication',
  Authorization: 'authorization',
  DataOperation: 'data_operation',
  Administration: 'administration',
  Security: 'security',
} as const;
export type AuditCategory = (typeof AuditCategory)[keyof typeof AuditCategory];

/** Every event type and the one category it belongs to. */
export const AUDIT_EVENT_CATEGORY = {
  auth_success: AuditCategory.Authentication,
  auth_failure: AuditCategory.Authentication,
  auth_throttled: AuditCategory.Authentication,
  session_ended: AuditCategory.Authentication,
  authorization_denied: AuditCategory.Authorization,
  file_upload: AuditCategory.DataOperation,
  file_delete: AuditCategory.DataOperation,
  file_transfer: AuditCategory.DataOperation,
  file_download: AuditCategory.DataOperation,
  blob_read: AuditCategory.DataOperation,
  blob_delete: AuditCategory.DataOperation,
  service_account_created: AuditCategory.Administration,
  service_account_deleted: AuditCategory.Administration,
  service_account_updated: AuditCategory.Administration,
  secret_rotated: AuditCategory.Administration,
  audit_log_read: AuditCategory.Administration,
  queue_changed: AuditCategory.Administration,
  key_rotated: AuditCategory.Security,
  key_revoked: AuditCategory.Security,
  digest_key_rotated: AuditCategory.Security,
  tokens_revoked: AuditCategory.Security,
  certificate_issued: AuditCategory.Security,
  certificate_rotation: AuditCategory.Security,
} as const satisfies Record<string, AuditCategory>;
export type AuditEventType = keyof typeof AUDIT_EVENT_CATEGORY;
export const AUDIT_EVENT_TYPES = Object.keys(AUDIT_EVENT_CATEGORY) as [AuditEventType, ...AuditEventType[]];

export const AuditStatus = { Success: 'success', Failure: 'failure', Denied: 'denied' } as const;
export type AuditStatus = (typeof AuditStatus)[keyof typeof AuditStatus];

const AUDIT_SOURCES = ['admin', 'storage-element', 'ingester', 'query', 'audit-writer', 'maintenance', 'cli'] as const;

/** Column limits of `audit_logs`, enforced before a job is ever queued. */
export const AUDIT_TEXT_LIMITS = {
  user_id: 100,
  service_account_id: 100,
  ip_address: 45,
  user_agent: 1000,
  resource_type: 50,
  resource_id: 200,
  action: 50,
  request_id: 128,
} as const;
const text = (column: keyof typeof AUDIT_TEXT_LIMITS) => z.string().max(AUDIT_TEXT_LIMITS[column]);

/** The member of `details` listing the JSON Pointers of values the publisher escaped (unstorable-values.ts). */
export const ESCAPED_POINTERS_KEY = '$escaped';

/**
 * One audit event as published. Field names are the `audit_logs` column names, so the record the
 * writer signs and stores is this object plus the writer's own fields (sequence, chain, key id, signature).
 */
export const auditEventSchema = z
  .object({
    /** UUID made by the producer; also the BullMQ jobId, so a redelivery is the same event. */
    event_id: z.uuid(),
    event_type: z.enum(AUDIT_EVENT_TYPES),
    event_category: z.enum(Object.values(AuditCategory) as [AuditCategory, ...AuditCategory[]]),
    /** When it happened, ISO 8601 UTC with milliseconds (`Date.prototype.toISOString`). */
    timestamp: z.iso.datetime({ precision: 3 }),
    /** A human user, when one is behind the request; null for service accounts. @defaultValue null */
    user_id: text('user_id').nullable(),
    /** The service account (its id) that acted, when known. @defaultValue null */
    service_account_id: text('service_account_id').nullable(),
    ip_address: text('ip_address').nullable(),
    user_agent: text('user_agent').nullable(),
    resource_type: text('resource_type').nullable(),
    resource_id: text('resource_id').nullable(),
    action: text('action').min(1),
    status: z.enum([AuditStatus.Success, AuditStatus.Failure, AuditStatus.Denied]),
    /** Free-form JSON context; never secrets. @defaultValue null */
    details: z.record(z.string(), z.json()).nullable(),
    /** The process that published the event. */
    source: z.enum(AUDIT_SOURCES),
    /** The request id (X-Request-Id) or job id the event came from. @defaultValue null */
    request_id: text('request_id').nullable(),
  })
  .strict()
  .refine((event) => AUDIT_EVENT_CATEGORY[event.event_type] === event.event_category, {
    message: 'event_category does not match event_type',
    path: ['event_category'],
  });
export type AuditEvent = z.infer<typeof auditEventSchema>;
export type AuditSource = AuditEvent['source'];
