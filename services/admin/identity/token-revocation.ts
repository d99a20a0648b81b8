import type { RequestHandler } from 'express';
import { decodeJwt } from 'jose';
import { auditedAction } from '../../audit-log/audited-action.ts';
import { requestAuditContext } from '../../audit-log/request-events.ts';
import type { Auth } from '../../platform/http/auth.ts';
import { AppError } from '../../platform/errors.ts';
import type { Principal } from '../../platform/auth/roles.ts';
import { authenticateClient, type ClientAuthenticationDeps, OAuthError, oauthFields, sendOAuthError } from './client-authentication.ts';
import type { ServiceAccountStore } from './service-account-store.ts';

/** The access token a request names in its `token` field (RFC 7009 §2.1, RFC 7662 §2.1). */
function namedToken(fields: Record<string, string | undefined>): string {
  const token = fields.token;
  if (!token || token.length > 8192) throw new OAuthError(400, 'invalid_request', 'token is required');
  const hint = fields.token_type_hint;
  if (hint !== undefined && hint !== 'access_token') throw new OAuthError(400, 'unsupported_token_type', 'Only access tokens exist here');
  return token;
}

/** The token's principal, or undefined when it is not a live token of ours (expired, forged, revoked). */
async function liveToken(auth: Auth, token: string): Promise<Principal | undefined> {
  try {
    return await auth.verify(token);
  } catch (err) {
    if (err instanceof AppError && err.status === 401) return undefined;
    throw err;
  }
}

/**
 * POST /api/v1/auth/revoke (RFC 7009): a client, authenticated like at the token endpoint and
 * behind the same limits, revokes a token it holds. The revocation is the account's not-before
 * raised past that token's second, so every token of the account issued up to then stops with it
 * (RFC 7009 §2.1 lets a revocation reach related tokens). 200 with an empty body whether the token
 * was live or not; a live token of another client is refused.
 */
export function revocationEndpoint(
  deps: ClientAuthenticationDeps & { auth: Auth; revokeIssuedUpTo(accountId: string, issuedAt: number): Promise<unknown> },
): RequestHandler {
  return async (req, res, next) => {
    res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
    try {
      let token = '';
      const { account } = await authenticateClient(req, res, deps, 'revoke_token', () => {
        token = namedToken(oauthFields(req, ['token', 'token_type_hint']));
      });
      const principal = await liveToken(deps.auth, token);
      if (principal && principal.serviceAccountId !== account.id) {
        throw new OAuthError(400, 'invalid_request', 'The token was not issued to this client');
      }
      if (principal) {
        await auditedAction(deps.audit, () => deps.revokeIssuedUpTo(account.id, principal.issuedAt), {
          success: () => ({
            event_type: 'tokens_revoked',
            action: 'revoke_token',
            status: 'success',
            resource_type: 'access_token',
            resource_id: principal.tokenId,
            ...requestAuditContext(req),
            service_account_id: account.id,
            details: { client_id: account.clientId, trigger: 'rfc7009', issued_up_to: new Date(principal.issuedAt * 1000).toISOString() },
          }),
        });
      }
      res.status(200).end();
    } catch (err) {
      if (!(err instanceof OAuthError)) return next(err);
      sendOAuthError(req, res, err);
    }
  };
}

/**
 * POST /api/v1/auth/introspect (RFC 7662), for resource servers in any language: the caller's
 * bearer token must have an introspecting role. `{"active":false}` for anything not live — expired,
 * forged, revoked, or of a suspended or deleted account — else the token's claims.
 */
export function introspectionEndpoint(deps: { auth: Auth; store: ServiceAccountStore }): RequestHandler {
  return async (req, res, next) => {
    res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
    try {
      const token = namedToken(oauthFields(req, ['token', 'token_type_hint']));
      const principal = await liveToken(deps.auth, token);
      const account = principal && (await deps.store.findById(principal.serviceAccountId));
      if (!principal || !account || account.status !== 'active') {
        res.json({ active: false });
        return;
      }
      const claims = decodeJwt(token);
      res.json({
        active: true,
        token_type: 'Bearer',
        client_id: account.clientId,
        sub: claims.sub,
        role: principal.role,
        iss: claims.iss,
        aud: claims.aud,
        iat: claims.iat,
        nbf: claims.nbf,
        exp: claims.exp,
        jti: claims.jti,
      });
    } catch (err) {
      if (!(err instanceof OAuthError)) return next(err);
      sendOAuthError(req, res, err);
    }
  };
}
