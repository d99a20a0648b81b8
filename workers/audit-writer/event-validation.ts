import { UnrecoverableError } from 'bullmq';
import { auditEventSchema, type AuditEvent } from '../../services/audit-log/events.ts';
import { hasUnstorableText } from '../../services/platform/storable-text.ts';

/** Larger details would bloat every verification; producers keep context small. */
export const MAX_DETAILS_CHARS = 64 * 1024;

export class InvalidAuditEventError extends UnrecoverableError {
  constructor(message: string) {
    super(`invalid audit event: ${message}`);
    this.name = 'InvalidAuditEventError';
  }
}

/**
 * A string PostgreSQL cannot store as given (NUL) or RFC 8785 cannot canonicalize (an unpaired
 * surrogate) would fail its whole batch again and again. Publishers escape such text; an event that
 * still holds some (a producer that bypassed the publisher) is refused alone and dead-lettered.
 */
function holdsUnstorable(value: unknown): boolean {
  if (typeof value === 'string') return hasUnstorableText(value);
  if (Array.isArray(value)) return value.some(holdsUnstorable);
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) if (holdsUnstorable(key) || holdsUnstorable(item)) return true;
  }
  return false;
}

/**
 * The event a job carries, or an `InvalidAuditEventError` (no retry: the same payload would fail
 * again) when it breaks the contract or could not be stored and signed exactly as given.
 */
export function parseAuditJobData(data: unknown): AuditEvent {
  const parsed = auditEventSchema.safeParse(data);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`);
    throw new InvalidAuditEventError(issues.join('; '));
  }
  const event = parsed.data;
  // Dates like 2026-02-30 pass a pattern but not PostgreSQL; a round trip shows them.
  const time = new Date(event.timestamp);
  if (Number.isNaN(time.getTime()) || time.toISOString() !== event.timestamp) {
    throw new InvalidAuditEventError(`timestamp ${event.timestamp} is not a real UTC instant`);
  }
  if (holdsUnstorable(event)) throw new InvalidAuditEventError('a value holds a NUL character or an unpaired surrogate');
  if (event.details !== null && JSON.stringify(event.details).length > MAX_DETAILS_CHARS) {
    throw new InvalidAuditEventError(`details exceed ${MAX_DETAILS_CHARS} characters of JSON`);
  }
  // PostgreSQL prints uuids in lowercase; the record is signed as it will read back.
  return { ...event, event_id: event.event_id.toLowerCase() };
}
