import type { Request, Response } from 'express';
import type { Counter } from 'prom-client';
import type { AuditEventInput, AuditPublisher } from '../../audit-log/publisher.ts';
import { clientIp, requestAuditContext } from '../../audit-log/request-events.ts';
import type { LoginThrottle, ThrottleVerdict } from './login-throttle.ts';
import type { ServiceAccount } from './service-account-store.ts';
import type { ServiceAccounts } from './service-accounts.ts';

/**
 * The RFC 6749 §5.2 `error` values the OAuth2 endpoints answer with (RFC 7009 adds
 * unsupported_token_type; a throttled attempt is temporarily_unavailable). OAuth2's own
 * vocabulary, kept apart from ErrorCode: standard clients read `{error, error_description}` here.
 */
export type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'unsupported_grant_type' | 'unsupported_token_type' | 'temporarily_unavailable';

/** RFC 6749 §5.2 error answer; the OAuth2 endpoints speak OAuth2 so standard clients understand them. */
export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }
}

export interface Credentials {
  clientId: string;
  clientSecret: string;
  viaBasic: boolean;
}

/** PostgreSQL text cannot hold NUL, no client id has control characters or lone surrogates: such an id is unknown, never a 500. */
const PRINTABLE = /^[^\p{Cc}\p{Cs}]*$/u;

function basicCredentials(req: Request): Credentials | undefined {
  const header = req.get('authorization');
  if (!header || !/^basic /i.test(header)) return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new OAuthError(400, 'invalid_request', 'Malformed HTTP Basic credentials');
  try {
    // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return {
      clientId: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' ')),
      clientSecret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' ')),
      viaBasic: true,
    };
  } catch {
    throw new OAuthError(400, 'invalid_request', 'Malformed HTTP Basic credentials');
  }
}

/** The request body as named string fields (JSON object or form); anything else is invalid_request. */
export function oauthFields(req: Request, names: readonly string[]): Record<string, string | undefined> {
  const body: unknown = req.body;
  if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
    throw new OAuthError(400, 'invalid_request', 'Body must be a JSON object or a form');
  }
  const fields = (body ?? {}) as Record<string, unknown>;
  for (const name of names) {
    if (fields[name] !== undefined && typeof fields[name] !== 'string') throw new OAuthError(400, 'invalid_request', `${name} must be a string`);
  }
  return fields as Record<string, string | undefined>;
}

/** Client authentication (RFC 6749 §2.3.1): HTTP Basic, or client_id and client_secret in the body; one of them. */
export function readCredentials(req: Request): Credentials {
  const fields = oauthFields(req, ['client_id', 'client_secret']);
  const basic = basicCredentials(req);
  const inBody = fields.client_id !== undefined || fields.client_secret !== undefined;
  if (basic && inBody) throw new OAuthError(400, 'invalid_request', 'Use one client authentication method, not both');
  if (basic) return basic;
  if (!fields.client_id || !fields.client_secret) throw new OAuthError(400, 'invalid_request', 'client_id and client_secret are required');
  return { clientId: fields.client_id, clientSecret: fields.client_secret, viaBasic: false };
}

export function sendOAuthError(req: Request, res: Response, err: OAuthError) {
  if (err.status === 401) res.set('WWW-Authenticate', /^basic /i.test(req.get('authorization') ?? '') ? 'Basic realm="artstore"' : 'Bearer realm="artstore"');
  res.set(err.headers);
  res.status(err.status).json({ error: err.error, error_description: err.description });
}

export interface ClientAuthenticationDeps {
  accounts: ServiceAccounts;
  throttle: LoginThrottle;
  audit: AuditPublisher;
  /** auth_throttled_total{reason}: throttled attempts, by the limit that refused them (address, client). */
  throttled: Counter<'reason'>;
}

/**
 * Authenticates the client of an OAuth2 request, behind the brute-force limits. A failure is an
 * `auth_failure` audit event; an attempt refused by a limit is a 429 whatever its credentials, and
 * only the first of each key in a window becomes an `auth_throttled` event (with the previous
 * window's count), so a flood cannot write the audit log faster than the limits allow. Resolves
 * the account, or throws OAuthError (after recording it) for the caller to answer.
 */
export async function authenticateClient(
  req: Request,
  res: Response,
  deps: ClientAuthenticationDeps,
  action: string,
  /** The endpoint's own checks of the request, counted and recorded like malformed credentials. */
  checkRequest: () => void = () => undefined,
): Promise<{ account: ServiceAccount; credentials: Credentials }> {
  const address = clientIp(req) ?? 'unknown';
  let credentials: Credentials | undefined;
  let verdict: ThrottleVerdict;
  try {
    checkRequest();
    credentials = readCredentials(req);
  } catch (err) {
    verdict = deps.throttle.check(undefined, address);
    if (!verdict.throttled) verdict = await deps.throttle.failed(undefined, address);
    if (verdict.throttled) throw await throttledAttempt(req, res, deps, verdict, undefined, action);
    if (!(err instanceof OAuthError)) throw err;
    throw await failedAttempt(req, res, deps, err, undefined, action);
  }
  // As sent, cut to a size: the publisher escapes what PostgreSQL cannot store.
  const clientId = credentials.clientId.slice(0, 128);
  verdict = deps.throttle.check(credentials.clientId, address);
  if (verdict.throttled) throw await throttledAttempt(req, res, deps, verdict, clientId, action);
  const account = PRINTABLE.test(credentials.clientId) ? await deps.accounts.authenticate(credentials.clientId, credentials.clientSecret) : null;
  if (!account) {
    const after = await deps.throttle.failed(credentials.clientId, address);
    if (after.throttled) throw await throttledAttempt(req, res, deps, after, clientId, action);
    throw await failedAttempt(req, res, deps, new OAuthError(401, 'invalid_client', 'Client authentication failed'), clientId, action);
  }
  // A lock that ran out leaves its lock count, which a success clears too (else the next lock's
  // length would depend on whether a failure happened to come first); most successes have neither.
  // Clearing asks Redis, which may hold a lock another replica made after this one's check.
  if (verdict.hasHistory) {
    const after = await deps.throttle.succeeded(credentials.clientId, address);
    if (after.throttled) throw await throttledAttempt(req, res, deps, after, clientId, action);
  }
  return { account, credentials };
}

/** The event of one credential check (the resource is the token, by its jti, once one exists); never the secret. */
export function clientAuthEvent(
  req: Request,
  type: 'auth_success' | 'auth_failure' | 'auth_throttled',
  action: string,
  details: Record<string, string | number | null>,
): AuditEventInput {
  return {
    event_type: type,
    status: type === 'auth_success' ? 'success' : type === 'auth_throttled' ? 'denied' : 'failure',
    action,
    resource_type: 'access_token',
    ...requestAuditContext(req),
    details,
  };
}

async function failedAttempt(req: Request, res: Response, deps: ClientAuthenticationDeps, err: OAuthError, clientId: string | undefined, action: string) {
  // Fail-closed: a failure that cannot be recorded is not answered as one (the error middleware answers 503).
  await deps.audit.publish(clientAuthEvent(req, 'auth_failure', action, { client_id: clientId ?? null, reason: err.error }));
  res.locals.auditRecorded = true;
  return err;
}

async function throttledAttempt(
  req: Request,
  res: Response,
  deps: ClientAuthenticationDeps,
  verdict: Extract<ThrottleVerdict, { throttled: true }>,
  clientId: string | undefined,
  action: string,
) {
  deps.throttled.inc({ reason: verdict.limit });
  const window = await deps.throttle.throttledWindow(verdict.limit, clientId, clientIp(req) ?? 'unknown');
  if (window) {
    await deps.audit.publish(
      clientAuthEvent(req, 'auth_throttled', action, {
        client_id: clientId ?? null,
        limit: window.limit,
        retry_after_seconds: verdict.retryAfterSeconds,
        window_seconds: window.windowSeconds,
        throttled_in_previous_window: window.previousWindowCount,
      }),
    );
  }
  res.locals.auditRecorded = true;
  return new OAuthError(429, 'temporarily_unavailable', `Too many failed attempts; retry after ${verdict.retryAfterSeconds} s`, {
    'Retry-After': String(verdict.retryAfterSeconds),
  });
}
