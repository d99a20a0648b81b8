import type { Config } from '../platform/config/index.ts';
import { AppError } from '../platform/errors.ts';
import type { Logger } from '../platform/logger.ts';

/** A token is renewed once less than this share of its life, or this many seconds, is left. */
const RENEW_AT_REMAINING_SHARE = 0.2;
const RENEW_AT_REMAINING_MS = 60_000;
const TOKEN_REQUEST_TIMEOUT_MS = 5000;

export interface ServiceTokenSource {
  /** A valid access token of the `storage` account, fetched or renewed when needed. */
  token(): Promise<string>;
  /** Forgets the token (a storage element refused it), so the next call fetches a new one. */
  invalidate(token: string): void;
}

interface Held {
  token: string;
  renewAt: number;
  expiresAt: number;
}

/**
 * Module-to-module calls carry a token of the `storage` service account (STORAGE_CLIENT_ID /
 * STORAGE_CLIENT_SECRET), obtained with client credentials from the admin module and renewed before
 * it expires. Concurrent callers share one token request.
 */
export function createServiceTokenSource(config: Config, logger: Logger, now: () => number = Date.now, fetchWith: typeof fetch = fetch): ServiceTokenSource {
  const { clientId, clientSecret } = config.storage.client;
  let held: Held | undefined;
  let pending: Promise<Held> | undefined;

  const fetchToken = async (): Promise<Held> => {
    if (!clientId || !clientSecret) {
      throw new AppError(503, 'storage_credentials_missing', 'Storage is not configured: set STORAGE_CLIENT_ID and STORAGE_CLIENT_SECRET');
    }
    const requestedAt = now();
    let response: Response;
    try {
      response = await fetchWith(`${config.jwt.adminUrl}/api/v1/auth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret.reveal() }),
        signal: AbortSignal.timeout(TOKEN_REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw new AppError(503, 'storage_unavailable', 'Storage is unavailable right now; try again shortly', { cause: err, headers: { 'Retry-After': '5' } });
    }
    const body = (await response.json().catch(() => ({}))) as { access_token?: unknown; expires_in?: unknown };
    if (!response.ok || typeof body.access_token !== 'string') {
      logger.error({ status: response.status, clientId }, 'the admin module refused the storage account credentials');
      throw new AppError(503, 'storage_unavailable', 'Storage is unavailable right now; try again shortly', { headers: { 'Retry-After': '5' } });
    }
    const lifeMs = (typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60) * 1000;
    const expiresAt = requestedAt + lifeMs;
    return {
      token: body.access_token,
      expiresAt,
      renewAt: expiresAt - Math.max(lifeMs * RENEW_AT_REMAINING_SHARE, Math.min(RENEW_AT_REMAINING_MS, lifeMs / 2)),
    };
  };

  return {
    async token() {
      const at = now();
      if (held && at < held.renewAt) return held.token;
      if (!pending) {
        pending = fetchToken().finally(() => {
          pending = undefined;
        });
        pending.then(
          (fresh) => (held = fresh),
          (err: Error) => logger.warn({ err: err.message }, 'storage token request failed'),
        );
      }
      // While a renewal is under way, a token that has not expired yet still serves.
      if (held && at < held.expiresAt - 1000) return held.token;
      return (await pending).token;
    },
    invalidate(token) {
      if (held?.token === token) held = undefined;
    },
  };
}
