import { AppError } from '../platform/errors.ts';
import type { AuditEventInput, AuditPublisher } from './publisher.ts';

export interface ChangeEvents<T> {
  /** The event of the change that happened; undefined when nothing changed (a skipped rotation). */
  success(result: T): AuditEventInput | undefined;
  /** The event of an attempt the domain refused (4xx: not found, conflict); nothing changed. */
  refused?(error: AppError): AuditEventInput | undefined;
}

/**
 * Runs an audited change: refuse before changing anything when the audit log cannot take the event
 * (fail-closed, Redis away → 503, nothing changed); change; then publish what happened as a
 * `committed` event, which falls back to the fsynced spool rather than be lost if Redis fails in
 * between. An auditor thus finds a record for every change that was made, and never one claiming a
 * change that was not. Refused attempts are recorded too, with status failure.
 */
export async function auditedChange<T>(audit: AuditPublisher, change: () => Promise<T>, events: ChangeEvents<T>): Promise<T> {
  audit.assertAvailable();
  let result: T;
  try {
    result = await change();
  } catch (err) {
    const refused = err instanceof AppError && err.status < 500 ? events.refused?.(err) : undefined;
    if (refused) await audit.publish(refused, { committed: true }).catch(() => undefined);
    throw err;
  }
  const event = events.success(result);
  if (event) {
    try {
      await audit.publish(event, { committed: true });
    } catch (err) {
      // Both the queue and the spool failed: the change stands, so say so rather than a plain 503.
      throw new AppError(500, 'audit_not_recorded', 'The change was applied but its audit event could not be recorded', {
        isOperational: true,
        cause: err,
      });
    }
  }
  return result;
}
