import type { Request } from 'express';
import { requestAuditContext } from '../audit-log/request-events.ts';
import type { AuditStatus } from '../audit-log/events.ts';
import type { AuditEventInput } from '../audit-log/publisher.ts';

export type FileEventType = 'file_upload' | 'file_delete' | 'file_transfer' | 'file_download';

/** One file operation's audit event: who did what to which file, with its name and size in details. */
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
