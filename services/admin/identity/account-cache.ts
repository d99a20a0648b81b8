import type { ServiceAccount } from './service-account-store.ts';

/**
 * Accounts by client_id for the token endpoint, so issuing a token does not cost a database read.
 * Unknown client ids are cached too (as null), so a flood of made-up ids cannot hammer the database.
 * Every change made through this process drops its entry at once, a change notice drops it on the
 * other replicas, and `ttlMs` bounds staleness when a notice is lost.
 */
export function createAccountCache(options: { ttlMs: number; maxEntries: number; clock?: () => number }) {
  const clock = options.clock ?? Date.now;
  const entries = new Map<string, { account: ServiceAccount | null; loadedAt: number }>();
  return {
    get(clientId: string): ServiceAccount | null | undefined {
      const entry = entries.get(clientId);
      if (!entry) return undefined;
      if (clock() - entry.loadedAt >= options.ttlMs) {
        entries.delete(clientId);
        return undefined;
      }
      return entry.account;
    },
    set(clientId: string, account: ServiceAccount | null, loadedAt: number) {
      if (entries.size >= options.maxEntries) entries.delete(entries.keys().next().value!);
      entries.set(clientId, { account, loadedAt });
    },
    /** Drops one client id, or everything when none is given. */
    forget(clientId?: string) {
      if (clientId === undefined) entries.clear();
      else entries.delete(clientId);
    },
  };
}
