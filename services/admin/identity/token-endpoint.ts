import type { Request, RequestHandler, Response } from 'express';
import { decodeJwt } from 'jose';
import type { AuditEventInput, AuditPublisher } from '../../audit-log/publisher.ts';
import { requestAuditContext } from '../../audit-log/request-events.ts';
import type { Config } from '../../platform/config/index.ts';
import type { Counter } from 'prom-client';
import { issueAccessToken, type SigningKey } from './token-issuer.ts';
import type { ServiceAccounts } from './service-accounts.ts';

/**
 * The RFC 6749 §5.2 `error` values this endpoint answers with. OAuth2's own vocabulary, kept apart
 * from ErrorCode: standard clients read `{error, error_description}` here, not `{error:{code}}`.
 */
export type OAuthErrorCode = 'invalid_request' | 'invalid_client' | 'unsupported_grant_type';

/** RFC 6749 §5.2 error answer; the token endpoint speaks OAuth2 so standard clients understand it. */
class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: OAuthErrorCode,
    readonly description: string,
  ) {
    super(description);
  }
}

interface Credentials {
  clientId: string;
  clientSecret: string;
  viaBasic: boolean;
}

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

function readCredentials(req: Request): Credentials {
  const body: unknown = req.body;
  if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
    throw new OAuthError(400, 'invalid_request', 'Body must be a JSON object or a form');
  }
  const fields = (body ?? {}) as Record<string, unknown>;
  for (const name of ['grant_type', 'client_id', 'client_secret'] as const) {
    if (fields[name] !== undefined && typeof fields[name] !== 'string') throw new OAuthError(400, 'invalid_request', `${name} must be a string`);
  }
  const grantType = fields.grant_type as string | undefined;
  const isForm = Boolean(req.is('application/x-www-form-urlencoded'));
  if (grantType !== undefined && grantType !== 'client_credentials') {
    throw new OAuthError(400, 'unsupported_grant_type', 'Only grant_type=client_credentials is supported');
  }
  if (isForm && grantType === undefined) throw new OAuthError(400, 'invalid_request', 'grant_type is required');
  const basic = basicCredentials(req);
  const inBody = fields.client_id !== undefined || fields.client_secret !== undefined;
  if (basic && inBody) throw new OAuthError(400, 'invalid_request', 'Use one client authentication method, not both');
  if (basic) return basic;
  if (typeof fields.client_id !== 'string' || typeof fields.client_secret !== 'string' || !fields.client_id || !fields.client_secret) {
    throw new OAuthError(400, 'invalid_request', 'client_id and client_secret are required');
  }
  return { clientId: fields.client_id, clientSecret: fields.client_secret, viaBasic: false };
}

/** The event of one token request (the resource is the token, by its jti); never the secret. */
function tokenRequestEvent(req: Request, type: 'auth_success' | 'auth_failure', details: Record<string, string | null>): AuditEventInput {
  return {
    event_type: type,
    status: type === 'auth_success' ? 'success' : 'failure',
    action: 'issue_token',
    resource_type: 'access_token',
    ...requestAuditContext(req),
    details,
  };
}

function sendOAuthError(res: Response, err: OAuthError, viaBasic: boolean) {
  if (err.status === 401) res.set('WWW-Authenticate', viaBasic ? 'Basic realm="artstore"' : 'Bearer realm="artstore"');
  res.status(err.status).json({ error: err.error, error_description: err.description });
}

/**
 * POST /api/v1/auth/token: a JSON `{client_id, client_secret}` body and the OAuth2
 * client-credentials grant (form body or HTTP Basic). Wrong, unknown or suspended credentials all
 * answer the same 401 invalid_client.
 */
export function tokenEndpoint(deps: {
  config: Config;
  /** jwt_tokens_issued_total{result} */
  tokensIssued: Counter<'result'>;
  accounts: ServiceAccounts;
  signingKey: () => Promise<SigningKey>;
  /** auth_success / auth_failure for every answer; fail-closed turns an unrecordable answer into a 503. */
  audit: AuditPublisher;
}): RequestHandler {
  return async (req, res, next) => {
    res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
    let credentials: Credentials | undefined;
    try {
      credentials = readCredentials(req);
      const account = await deps.accounts.authenticate(credentials.clientId, credentials.clientSecret);
      if (!account) throw new OAuthError(401, 'invalid_client', 'Client authentication failed');
      const token = await issueAccessToken(account, await deps.signingKey(), deps.config.jwt);
      // Recorded before the token leaves: a token nobody can account for is never handed out.
      await deps.audit.publish({
        ...tokenRequestEvent(req, 'auth_success', {
          client_id: account.clientId,
          role: account.role,
          method: credentials.viaBasic ? 'client_secret_basic' : 'client_secret_post',
        }),
        service_account_id: account.id,
        resource_id: decodeJwt(token.access_token).jti ?? null,
      });
      deps.tokensIssued.inc({ result: 'issued' });
      res.json(token);
    } catch (err) {
      if (!(err instanceof OAuthError)) return next(err);
      try {
        await deps.audit.publish(tokenRequestEvent(req, 'auth_failure', { client_id: credentials?.clientId.slice(0, 128) ?? null, reason: err.error }));
      } catch (auditError) {
        return next(auditError);
      }
      res.locals.auditRecorded = true;
      deps.tokensIssued.inc({ result: err.error });
      sendOAuthError(res, err, credentials?.viaBasic ?? /^basic /i.test(req.get('authorization') ?? ''));
    }
  };
}
