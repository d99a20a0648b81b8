import type { KeyObject } from 'node:crypto';
import type { JwtAlgorithm } from '../platform/config/index.ts';
import type { PrismaClient } from '../platform/db/client.ts';
import { AppError } from '../platform/errors.ts';
import { privateKeyFrom } from './key-crypto.ts';
import { createKeyStore } from './key-store.ts';

/** The key the token endpoint signs with. */
export interface ActiveSigningKey {
  kid: string;
  alg: JwtAlgorithm;
  privateKey: KeyObject;
}

export interface SigningKeyProvider {
  /** The active key, decrypted; cached for `ttlMs`. */
  current(): Promise<ActiveSigningKey>;
  /** Drops the cached key: the next `current()` reads the database (after a rotation or revocation). */
  invalidate(): void;
}

/**
 * Caches the decrypted active key, since reading and decrypting it per token would cap issuance.
 * After a rotation elsewhere the cached key is a grace key, which still verifies; `invalidate()`
 * (wired to jwt-keys-changed) makes a revocation take effect at once rather than within `ttlMs`.
 */
export function createSigningKeyProvider(prisma: PrismaClient, kek: KeyObject, options: { ttlMs?: number; clock?: () => number } = {}): SigningKeyProvider {
  const ttlMs = options.ttlMs ?? 5000;
  const clock = options.clock ?? Date.now;
  const store = createKeyStore(prisma);
  let cached: { key: Promise<ActiveSigningKey>; loadedAt: number } | undefined;

  async function readActiveKey(): Promise<ActiveSigningKey> {
    const stored = await store.activeSigningKey();
    if (!stored) throw new AppError(503, 'signing_key_unavailable', 'No active signing key yet; try again shortly');
    return { kid: stored.kid, alg: stored.algorithm, privateKey: privateKeyFrom(stored.encryptedPrivateKey, stored.kid, kek) };
  }

  return {
    current() {
      if (cached && clock() - cached.loadedAt < ttlMs) return cached.key;
      const entry = { key: readActiveKey(), loadedAt: clock() };
      cached = entry;
      entry.key.catch(() => {
        if (cached === entry) cached = undefined;
      });
      return entry.key;
    },
    invalidate() {
      cached = undefined;
    },
  };
}
