import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Principal } from './roles.ts';
import type { Revocation } from './revocation-store.ts';

/** What travels over pub/sub when an account's tokens are revoked. */
export interface RevocationNotice {
  service_account_id: string;
  /** ISO 8601: tokens of the account issued before this instant are refused. */
  not_before: string;
}

export interface RevocationList {
  /** The account's not-before in epoch milliseconds, when its tokens were revoked within the window. */
  notBefore(serviceAccountId: string): number | undefined;
  /** Throws 401 `token_revoked` for a token issued before its account's not-before, 503 while the list is stale. */
  check(principal: Principal): void;
  /** A notice from another process; `undefined` (a resubscribed channel) means "anything may have changed": resync. */
  apply(notice: RevocationNotice | undefined): void;
  /** Reloads the window from PostgreSQL; resolves false when it could not. */
  sync(): Promise<boolean>;
  close(): void;
}

export interface RevocationListOptions {
  /** Reads the not-befores later than a time (revocationStore.since over this process's client). */
  load(after: Date): Promise<Revocation[]>;
  /** The longest a token can live (lifetime + clock tolerance): older not-befores refuse nothing live. */
  windowMs: number;
  /** How often the list is reloaded: the bound on a lost notice. */
  resyncMs: number;
  logger?: Logger;
  clock?: () => number;
}

/**
 * Every account's not-before, held in memory by every verifying process: a notice over pub/sub
 * applies a revocation within moments, and a reload every `resyncMs` bounds a lost notice. A list
 * that could not reload for three intervals refuses tokens (503) rather than trust stale state.
 * Memory holds at most one entry per account revoked within the last token lifetime.
 */
export function createRevocationList(options: RevocationListOptions): RevocationList {
  const clock = options.clock ?? Date.now;
  const entries = new Map<string, number>();
  let syncedAt: number | undefined;
  let syncing: Promise<boolean> | undefined;

  const raise = (serviceAccountId: string, notBefore: number) => {
    if (notBefore > (entries.get(serviceAccountId) ?? Number.NEGATIVE_INFINITY)) entries.set(serviceAccountId, notBefore);
  };
  const prune = () => {
    const oldest = clock() - options.windowMs;
    for (const [id, notBefore] of entries) if (notBefore < oldest) entries.delete(id);
  };
  const sync = () =>
    (syncing ??= (async () => {
      const startedAt = clock();
      try {
        // Not-befores only ever rise, so merging by maximum never loses one applied meanwhile.
        for (const revocation of await options.load(new Date(startedAt - options.windowMs))) {
          raise(revocation.serviceAccountId, revocation.notBefore.getTime());
        }
        prune();
        syncedAt = startedAt;
        return true;
      } catch (err) {
        options.logger?.warn({ err: (err as Error).message }, 'token revocations could not be reloaded');
        return false;
      } finally {
        syncing = undefined;
      }
    })());
  const timer = setInterval(() => void sync(), options.resyncMs);
  timer.unref();

  return {
    notBefore: (serviceAccountId) => entries.get(serviceAccountId),
    check(principal) {
      if (syncedAt === undefined || clock() - syncedAt > 3 * options.resyncMs) {
        void sync();
        throw new AppError(503, 'auth_unavailable', 'Token revocations are unavailable; try again shortly', { headers: { 'Retry-After': '1' } });
      }
      const notBefore = entries.get(principal.serviceAccountId);
      // iat has whole seconds: a token from the very second of a revocation is refused too.
      if (notBefore !== undefined && principal.issuedAt * 1000 < notBefore) {
        throw new AppError(401, 'token_revoked', 'Access token has been revoked', {
          headers: { 'WWW-Authenticate': 'Bearer realm="artstore", error="invalid_token"' },
        });
      }
    },
    apply(notice) {
      const at = notice ? Date.parse(notice.not_before) : Number.NaN;
      if (notice && typeof notice.service_account_id === 'string' && Number.isFinite(at)) raise(notice.service_account_id, at);
      else void sync();
    },
    sync,
    close: () => clearInterval(timer),
  };
}
