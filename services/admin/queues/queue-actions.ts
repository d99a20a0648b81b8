import type { Request, RequestHandler, Response } from 'express';
import { recordOutcome } from '../../audit-log/audited-action.ts';
import type { AuditEventInput, AuditPublisher } from '../../audit-log/publisher.ts';
import { requestAuditContext } from '../../audit-log/request-events.ts';
import { whenAnswered } from '../../platform/http/answered.ts';

/** What a Bull Board API call changes: the queue, and the job or job scheduler when it names one. */
interface BoardAction {
  action: string;
  queue: string | null;
  jobId: string | null;
  schedulerId: string | null;
  queueStatus: string | null;
}

/**
 * Bull Board's API routes that change something, by method, in the order its router matches them
 * (@bull-board/api's routes): a path the board reads as a job's action is recorded as that job's
 * action, not as a queue's. Matched as Express matches them — case-insensitively, a trailing slash
 * ignored — so a `PUT …/PAUSE/` that pauses a queue is recorded as the pause it is.
 */
const ROUTES: { method: string; pattern: RegExp; action?: string }[] = [
  { method: 'PUT', pattern: /^\/api\/queues\/(?<action>pause|resume)$/i },
  { method: 'POST', pattern: /^\/api\/queues\/(?<queue>[^/]+)\/(?<action>add)$/i },
  { method: 'PUT', pattern: /^\/api\/queues\/(?<queue>[^/]+)\/(?<action>retry|clean)\/(?<status>[^/]+)$/i },
  { method: 'PUT', pattern: /^\/api\/queues\/(?<queue>[^/]+)\/(?<action>promote|pause|resume|concurrency|rate-limit|empty|obliterate)$/i },
  { method: 'PUT', pattern: /^\/api\/queues\/(?<queue>[^/]+)\/rate-limit\/release$/i, action: 'release_rate_limit' },
  { method: 'PUT', pattern: /^\/api\/queues\/(?<queue>[^/]+)\/job-schedulers\/(?<scheduler>[^/]+)\/(?<action>remove|run)$/i },
  { method: 'PATCH', pattern: /^\/api\/queues\/(?<queue>[^/]+)\/job-schedulers\/(?<scheduler>[^/]+)$/i, action: 'update_scheduler' },
  { method: 'PUT', pattern: /^\/api\/queues\/(?<queue>[^/]+)\/(?<job>[^/]+)\/(?<action>retry|clean|promote|remove-unprocessed-children)$/i },
  { method: 'PATCH', pattern: /^\/api\/queues\/(?<queue>[^/]+)\/(?<job>[^/]+)\/(?<action>update-data|delay|priority)$/i },
  { method: 'POST', pattern: /^\/api\/metrics\/history\/purge$/i, action: 'purge_metrics_history' },
];

const decoded = (part: string | undefined): string | null => {
  if (part === undefined) return null;
  try {
    return decodeURIComponent(part).slice(0, 200);
  } catch {
    return part.slice(0, 200);
  }
};

function boardActionOf(req: Request): BoardAction {
  const path = req.path.length > 1 ? req.path.replace(/\/$/, '') : req.path;
  for (const { method, pattern, action } of ROUTES) {
    if (method !== req.method) continue;
    const match = pattern.exec(path);
    if (!match?.groups) continue;
    const { groups } = match;
    return {
      action: (action ?? groups.action ?? req.method).toLowerCase().replace(/-/g, '_').slice(0, 50),
      queue: decoded(groups.queue),
      jobId: decoded(groups.job),
      schedulerId: decoded(groups.scheduler),
      queueStatus: decoded(groups.status),
    };
  }
  return { action: `${req.method.toLowerCase()} ${path}`.slice(0, 50), queue: null, jobId: null, schedulerId: null, queueStatus: null };
}

function queueChangedEvent(req: Request, res: Response, board: BoardAction): AuditEventInput {
  const status = res.statusCode < 400 ? 'success' : res.statusCode === 403 ? 'denied' : 'failure';
  const [resourceType, resourceId] = board.schedulerId
    ? ['job_scheduler', `${board.queue}/${board.schedulerId}`]
    : board.jobId
      ? ['job', `${board.queue}/${board.jobId}`]
      : ['queue', board.queue ?? 'all'];
  return {
    event_type: 'queue_changed',
    action: board.action,
    status,
    resource_type: resourceType,
    resource_id: resourceId.slice(0, 200),
    ...requestAuditContext(req),
    details: {
      queue: board.queue,
      job_id: board.jobId,
      scheduler_id: board.schedulerId,
      queue_status: board.queueStatus,
      method: req.method,
      http_status: res.statusCode,
    },
  };
}

/**
 * Every Bull Board call that changes something (pause, resume, retry, promote, clean, remove a job
 * or a scheduler, …) is a `queue_changed` audit event naming the queue, job or scheduler, the action
 * and the admin who did it. Under fail-closed with the audit log away the call is refused before
 * it reaches the board; the outcome is recorded once the board has answered.
 */
export function auditQueueChanges(audit: AuditPublisher): RequestHandler {
  return (req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
    try {
      audit.assertAvailable();
    } catch (err) {
      return next(err);
    }
    const board = boardActionOf(req);
    // Also when the client hangs up before the answer: the board still does what it was asked.
    whenAnswered(res, () => {
      // Answered already: a lost event can only be logged (recordOutcome logs it), never thrown.
      recordOutcome(audit, queueChangedEvent(req, res, board), res).catch(() => undefined);
    });
    next();
  };
}
