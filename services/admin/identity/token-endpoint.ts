import { setTimeout as sleep } from 'node:timers/promises';
import type { RequestHandler } from 'express';
import type { Counter } from 'prom-client';
import type { RevocationList } from '../../platform/auth/revocation-list.ts';
import type { Config } from '../../platform/config/index.ts';
import { authenticateClient, type ClientAuthenticationDeps, clientAuthEvent, OAuthError, oauthFields, sendOAuthError } from './client-authentication.ts';
import { issueAccessToken, type SigningKey } from './token-issuer.ts';

/** The longest a token request waits for its account's not-before; beyond it (another replica's clock ahead) the issuer stamps that second. */
const MAX_NOT_BEFORE_WAIT_MS = 1000;

/**
 * iat has whole seconds and verifiers refuse a token issued before its account's not-before: right
 * after a revocation, wait for the next whole second rather than stamp an iat in the future, which
 * a verifier with little clock tolerance refuses and which each RFC 7009 revocation of the new
 * token would push one second further ahead.
 */
async function secondAfter(notBefore: number | undefined): Promise<void> {
  if (notBefore === undefined) return;
  const deadline = Math.min(Math.ceil(notBefore / 1000) * 1000, Date.now() + MAX_NOT_BEFORE_WAIT_MS);
  while (Date.now() < deadline) await sleep(deadline - Date.now());
}

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
      const notBefore = deps.revocations.notBefore(account.id);
      await secondAfter(notBefore);
      const { token, jti } = await issueAccessToken(account, await deps.signingKey(), deps.config.jwt, new Date(), notBefore);
      // Recorded before the token leaves: a token nobody can account for is never handed out.
      await deps.audit.publish({
        ...clientAuthEvent(req, 'auth_success', 'issue_token', {
          client_id: account.clientId,
          role: account.role,
          method: credentials.viaBasic ? 'client_secret_basic' : 'client_secret_post',
        }),
        service_account_id: account.id,
        resource_id: jti,
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
