import type { Request, Response } from 'express';
import type { AuditEventInput, AuditPublisher } from '../audit-log/publisher.ts';
import type { AuditStatus } from '../audit-log/events.ts';
import { AppError } from '../platform/errors.ts';
import { requestAuditContext } from '../audit-log/request-events.ts';

export type FileEventType = 'file_upload' | 'file_delete' | 'file_transfer' | 'file_download';

/** The status an error gives a file event: refused by authorization → denied, anything else → failure. */
export function statusOf(err: unknown): AuditStatus {
  return err instanceof AppError && err.status === 403 ? 'denied' : 'failure';
}

export function reasonOf(err: unknown): string {
  return err instanceof AppError ? err.code : 'internal_error';
}

/** One file operation's audit event (the seed's log_file_operation: file name and size in details). */
export function fileEvent(
  req: Request,
  type: FileEventType,
  action: string,
  status: AuditStatus,
  fileId: string | null,
  details: Record<string, string | number | null>,
): AuditEventInput {
  return {
    event_type: type,
    action,
    status,
    resource_type: 'file',
    resource_id: fileId ? fileId.slice(0, 200) : null,
    ...requestAuditContext(req),
    details,
  };
}

/**
 * Publishes an event for something that already happened (`committed`: spooled if Redis is away).
 * Marks the response as audited, so a 403 gets this event rather than a second, generic one.
 */
export async function publishFileEvent(audit: AuditPublisher, req: Request, res: Response, event: AuditEventInput): Promise<void> {
  res.locals.auditRecorded = true;
  try {
    await audit.publish(event, { committed: true });
  } catch (err) {
    req.log.error({ err: (err as Error).message, eventType: event.event_type, status: event.status }, 'file audit event was lost');
    if (event.status === 'success') {
      throw new AppError(500, 'audit_not_recorded', 'The operation was done but its audit event could not be recorded', { isOperational: true, cause: err });
    }
  }
}
