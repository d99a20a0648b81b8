import type { RequestHandler } from 'express';
import { decodeJwt } from 'jose';
import type { Counter } from 'prom-client';
import type { RevocationList } from '../../platform/auth/revocation-list.ts';
import type { Config } from '../../platform/config/index.ts';
import { authenticateClient, type ClientAuthenticationDeps, clientAuthEvent, OAuthError, oauthFields, sendOAuthError } from './client-authentication.ts';
import { issueAccessToken, type SigningKey } from './token-issuer.ts';

/**
 * POST /api/v1/auth/token: a JSON `{client_id, client_secret}` body and the OAuth2
 * client-credentials grant (form body or HTTP Basic), behind the brute-force limits. Wrong, unknown
 * or suspended credentials all answer the same 401 invalid_client; a throttled attempt 429.
 */
export function tokenEndpoint(
  deps: ClientAuthenticationDeps & {
    config: Config;
    /** jwt_tokens_issued_total{result} */
    tokensIssued: Counter<'result'>;
    signingKey: () => Promise<SigningKey>;
    revocations: RevocationList;
  },
): RequestHandler {
  return async (req, res, next) => {
    res.set({ 'Cache-Control': 'no-store', Pragma: 'no-cache' });
    try {
      const { account, credentials } = await authenticateClient(req, res, deps, 'issue_token', () => {
        const { grant_type: grantType } = oauthFields(req, ['grant_type']);
        if (grantType !== undefined && grantType !== 'client_credentials') {
          throw new OAuthError(400, 'unsupported_grant_type', 'Only grant_type=client_credentials is supported');
        }
        if (req.is('application/x-www-form-urlencoded') && grantType === undefined) throw new OAuthError(400, 'invalid_request', 'grant_type is required');
      });
      // Never issued before the account's not-before: a token fetched right after a revocation must work.
      const token = await issueAccessToken(account, await deps.signingKey(), deps.config.jwt, new Date(), deps.revocations.notBefore(account.id));
      // Recorded before the token leaves: a token nobody can account for is never handed out.
      await deps.audit.publish({
        ...clientAuthEvent(req, 'auth_success', 'issue_token', {
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
      deps.tokensIssued.inc({ result: err.error });
      sendOAuthError(req, res, err);
    }
  };
}
