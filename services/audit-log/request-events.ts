import type { Request, RequestHandler, Response } from 'express';
import { recordOutcome } from './audited-action.ts';
import { whenAnswered } from '../platform/http/answered.ts';
import type { ErrorCode } from '../platform/errors.ts';
import type { AuditEventInput, AuditPublisher } from './publisher.ts';

declare module 'express-serve-static-core' {
  interface Locals {
    /** Set by a handler that published its own event for this response, so the middleware adds none. */
    auditRecorded?: boolean;
    /** The error code of an error response (set by the error handler). */
    errorCode?: ErrorCode;
  }
}

/** Column limits of audit_logs: values from the client are cut to fit, never rejected. */
const cut = (value: string | undefined, max: number) => (value === undefined ? null : value.length > max ? value.slice(0, max) : value);

/** The client's address as Express sees it (honouring `trust proxy`), IPv4-mapped IPv6 shown as IPv4. */
export function clientIp(req: Request): string | null {
  const ip = req.ip ?? req.socket.remoteAddress;
  return cut(ip?.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip, 45);
}

/** Who and where of a request, for any event published while handling it. */
export function requestAuditContext(req: Request): Pick<AuditEventInput, 'ip_address' | 'user_agent' | 'request_id' | 'service_account_id'> {
  return {
    ip_address: clientIp(req),
    user_agent: cut(req.get('user-agent'), 1000),
    request_id: req.id ?? null,
    service_account_id: req.principal?.serviceAccountId ?? null,
  };
}

function deniedEvent(req: Request, res: Response): AuditEventInput {
  const denied = res.statusCode === 403;
  return {
    event_type: denied ? 'authorization_denied' : 'auth_failure',
    status: denied ? 'denied' : 'failure',
    action: req.method,
    resource_type: 'api',
    // The path only: a query string may carry credentials.
    resource_id: cut(req.originalUrl.split('?')[0], 200),
    ...requestAuditContext(req),
    details: {
      http_status: res.statusCode,
      reason: res.locals.errorCode ?? null,
      client_id: req.principal?.clientId ?? null,
      role: req.principal?.role ?? null,
    },
  };
}

/**
 * Every 401 becomes an auth_failure and every 403 an authorization_denied event, on every module
 * and route, unless the handler recorded its own. It publishes once the answer is given (sent, or
 * ended after the client hung up: a refusal is recorded even then), so
 * it never delays or changes it; the response cannot be taken back, so the event is recorded as an
 * outcome (spooled even under fail-closed when Redis is away) and a loss is only logged.
 */
export function auditDeniedResponses(audit: AuditPublisher): RequestHandler {
  return (req, res, next) => {
    whenAnswered(res, () => {
      if ((res.statusCode !== 401 && res.statusCode !== 403) || res.locals.auditRecorded) return;
      try {
        void recordOutcome(audit, deniedEvent(req, res), res);
      } catch (err) {
        req.log.error({ err }, 'audit event for a denied request could not be built');
      }
    });
    next();
  };
}
