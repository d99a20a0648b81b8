import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ROLES, type Role } from '../../platform/auth/roles.ts';
import { AppError } from '../../platform/errors.ts';
import { CLIENT_ID_PATTERN, CLIENT_ID_RULE } from '../../platform/identifiers.ts';
import { createAccountCache } from './account-cache.ts';
import { generateClientSecret, hashClientSecret, secretMatchesHash } from './client-secrets.ts';
import type { Revocation, RevocationReason } from '../../platform/auth/revocation-store.ts';
import { isUniqueViolation, type ServiceAccount, type ServiceAccountStore } from './service-account-store.ts';

/** What the API shows of an account: never a secret or its hash. */
export interface ServiceAccountView {
  id: string;
  client_id: string;
  name: string;
  role: Role;
  status: 'active' | 'suspended';
  created_at: string;
  updated_at: string;
  last_used_at: string | null;
}

export function toView(account: ServiceAccount): ServiceAccountView {
  return {
    id: account.id,
    client_id: account.clientId,
    name: account.name,
    role: account.role,
    status: account.status,
    created_at: account.createdAt.toISOString(),
    updated_at: account.updatedAt.toISOString(),
    last_used_at: account.lastUsedAt?.toISOString() ?? null,
  };
}

/** PostgreSQL text cannot hold NUL, no name needs control characters, and a lone surrogate would be stored as U+FFFD. */
const NO_CONTROL_CHARACTERS = /^[^\p{Cc}\p{Cs}]*$/u;

export const newAccountSchema = z.strictObject({
  name: z.string().trim().min(1).max(100).regex(NO_CONTROL_CHARACTERS, 'name must not contain control characters or unpaired surrogates'),
  role: z.enum(ROLES),
  client_id: z.string().regex(CLIENT_ID_PATTERN, `client_id ${CLIENT_ID_RULE}`).optional(),
});

/** How often last_used_at is written at most: a busy client must not turn every token into a write. */
const LAST_USED_RESOLUTION_MS = 60_000;
/** How long another replica may still act on an account changed elsewhere when its change notice was lost. */
export const ACCOUNT_CACHE_TTL_MS = 5000;

export function createServiceAccounts(
  store: ServiceAccountStore,
  options: {
    secretOverlapSeconds: number;
    now?: () => Date;
    /** Called after a change commits, to tell the other replicas (see change-notices). */
    onChanged?: (clientId: string) => void;
    /** Called after a revocation commits: every verifier must refuse the account's earlier tokens. */
    onRevoked?: (revocation: Revocation) => void;
  },
) {
  const now = options.now ?? (() => new Date());
  const cache = createAccountCache({ ttlMs: ACCOUNT_CACHE_TTL_MS, maxEntries: 10_000, clock: () => now().getTime() });
  const changed = <T extends { clientId: string }>(account: T): T => {
    cache.forget(account.clientId);
    options.onChanged?.(account.clientId);
    return account;
  };

  async function findByClientId(clientId: string): Promise<ServiceAccount | null> {
    const cached = cache.get(clientId);
    if (cached !== undefined) return cached;
    const loadedAt = now().getTime();
    const account = await store.findByClientId(clientId);
    cache.set(clientId, account, loadedAt);
    return account;
  }

  /** Commits a change together with the revocation of the account's earlier tokens, then announces both. */
  async function changeAndRevoke<T extends { clientId: string }>(
    accountId: string,
    reason: RevocationReason,
    change: (tx: Parameters<Parameters<ServiceAccountStore['transaction']>[0]>[0]) => Promise<T>,
  ): Promise<T & { revocation: Revocation }> {
    const { result, revocation } = await store.transaction(async (tx) => ({
      result: await change(tx),
      revocation: await tx.revokeTokens(accountId, now(), reason),
    }));
    changed(result);
    options.onRevoked?.(revocation);
    return { ...result, revocation };
  }

  /** An account changes neither its own status nor itself out of existence: another admin must. */
  function assertNotSelf(id: string, actorId: string) {
    if (id === actorId) throw new AppError(403, 'self_change_forbidden', 'An account cannot change its own status or delete itself');
  }

  async function mustFind(id: string): Promise<ServiceAccount> {
    const account = z.uuid().safeParse(id).success ? await store.findById(id) : null;
    if (!account) throw new AppError(404, 'service_account_not_found', 'No service account with that id');
    return account;
  }

  return {
    async create(input: z.infer<typeof newAccountSchema>, clientSecret = generateClientSecret()) {
      const clientId = input.client_id ?? `${input.role}-${randomBytes(6).toString('hex')}`;
      try {
        const account = changed(await store.create({ clientId, name: input.name, role: input.role, secretHash: hashClientSecret(clientSecret) }));
        return { account, clientSecret };
      } catch (err) {
        if (isUniqueViolation(err)) throw new AppError(409, 'client_id_taken', `client_id "${clientId}" is already in use`);
        throw err;
      }
    },

    get: mustFind,

    async list(limit: number, cursor?: string) {
      let after: { createdAt: Date; id: string } | undefined;
      if (cursor) {
        const [time, id] = Buffer.from(cursor, 'base64url').toString().split('|');
        const createdAt = new Date(time ?? '');
        const uuid = z.uuid().safeParse(id);
        if (!uuid.success || Number.isNaN(createdAt.getTime())) throw new AppError(400, 'invalid_cursor', 'cursor is not one this API returned');
        after = { createdAt, id: uuid.data };
      }
      const items = await store.list(limit + 1, after);
      const page = items.slice(0, limit);
      const last = page.at(-1);
      const nextCursor = items.length > limit && last ? Buffer.from(`${last.createdAt.toISOString()}|${last.id}`).toString('base64url') : null;
      return { items: page, nextCursor };
    },

    /** Suspending also revokes every token the account holds; activating brings none of them back. */
    async setStatus(id: string, status: 'active' | 'suspended', actorId: string): Promise<ServiceAccount & { revocation?: Revocation }> {
      assertNotSelf(id, actorId);
      const account = await mustFind(id);
      if (status === 'active') return changed(await store.setStatus(account.id, status));
      if (account.role === 'admin' && account.status === 'active' && (await store.countActiveAdmins()) <= 1) {
        throw new AppError(409, 'last_admin', 'Refusing to suspend the last active admin account');
      }
      return changeAndRevoke(account.id, 'suspended', (tx) => tx.setStatus(account.id, status));
    },

    /** Deleting revokes the account's tokens too; the revocation outlives the account until they have expired. */
    async remove(id: string, actorId: string) {
      assertNotSelf(id, actorId);
      const account = await mustFind(id);
      if (account.role === 'admin' && account.status === 'active' && (await store.countActiveAdmins()) <= 1) {
        throw new AppError(409, 'last_admin', 'Refusing to delete the last active admin account');
      }
      return changeAndRevoke(account.id, 'deleted', async (tx) => {
        if (!(await tx.delete(account.id))) throw new AppError(404, 'service_account_not_found', 'No service account with that id');
        return account;
      });
    },

    /** Every token the account holds stops working; its credentials keep issuing new ones. */
    async revokeTokens(id: string) {
      const account = await mustFind(id);
      return changeAndRevoke(account.id, 'revoke_tokens', async () => account);
    },

    /**
     * Revokes the token a client presents (RFC 7009): its account's tokens issued up to that token's
     * second, the token included. Returns the revocation.
     */
    async revokeIssuedUpTo(accountId: string, issuedAt: number) {
      const revocation = await store.revokeTokens(accountId, new Date(issuedAt * 1000 + 1), 'token_revoked');
      options.onRevoked?.(revocation);
      return revocation;
    },

    /**
     * A new secret; the old one keeps working for the configured overlap so clients can roll over,
     * unless `revokePrevious` ends it now, which also revokes every token issued so far.
     */
    async rotateSecret(id: string, { revokePrevious = false }: { revokePrevious?: boolean } = {}) {
      const account = await mustFind(id);
      const clientSecret = generateClientSecret();
      const secretHash = hashClientSecret(clientSecret);
      if (revokePrevious) {
        const updated = await changeAndRevoke(account.id, 'secret_rotated', (tx) => tx.replaceSecret(account.id, secretHash, null));
        return { account: updated, clientSecret, previousSecretExpiresAt: null, revocation: updated.revocation };
      }
      const expiresAt = new Date(now().getTime() + options.secretOverlapSeconds * 1000);
      const updated = changed(await store.replaceSecret(account.id, secretHash, { hash: account.secretHash, expiresAt }));
      return { account: updated, clientSecret, previousSecretExpiresAt: expiresAt, revocation: undefined };
    },

    /** The active account these credentials belong to, or null; never says which part was wrong. */
    async authenticate(clientId: string, clientSecret: string): Promise<ServiceAccount | null> {
      const account = clientId.length <= 128 && NO_CONTROL_CHARACTERS.test(clientId) ? await findByClientId(clientId) : null;
      const at = now();
      const current = secretMatchesHash(clientSecret, account?.secretHash);
      const previous =
        !current &&
        account?.previousSecretExpiresAt !== null &&
        account?.previousSecretExpiresAt !== undefined &&
        account.previousSecretExpiresAt > at &&
        secretMatchesHash(clientSecret, account.previousSecretHash);
      if (!account || !(current || previous) || account.status !== 'active') return null;
      if (!account.lastUsedAt || at.getTime() - account.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
        account.lastUsedAt = at;
        await store.touchLastUsed(account.id, at);
      }
      return account;
    },

    /** Drops cached accounts after a change notice from another replica (all of them when `clientId` is absent). */
    forgetCached: (clientId?: string) => cache.forget(clientId),
  };
}

export type ServiceAccounts = ReturnType<typeof createServiceAccounts>;
