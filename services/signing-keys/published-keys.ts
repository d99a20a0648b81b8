import { createLocalJWKSet, type JWK, type JWTVerifyGetKey } from 'jose';
import type { PrismaClient } from '../platform/db/client.ts';
import { createKeyStore, type KeyRecord, type KeyState } from './key-store.ts';

export interface Jwks {
  keys: JWK[];
}

/** What the admin API shows of a key: states and dates, never key material. */
export interface KeyView {
  kid: string;
  algorithm: string;
  state: KeyState;
  in_jwks: boolean;
  rotation_count: number;
  created_at: string;
  activates_at: string | null;
  activated_at: string | null;
  grace_until: string | null;
  retired_at: string | null;
  revoked_at: string | null;
  expires_at: string;
}

function toJwk(key: KeyRecord): JWK {
  const { kty, n, e, crv, x, y } = JSON.parse(key.publicKey) as JWK;
  // Rebuilt field by field: whatever else the stored text holds is never published.
  const material = Object.fromEntries(Object.entries({ kty, n, e, crv, x, y }).filter(([, v]) => v !== undefined));
  return { ...material, kid: key.kid, alg: key.algorithm, use: 'sig' };
}

/**
 * Every key that may verify a live token at `now`: next, active, and grace keys until grace_until
 * (by time, so a grace key leaves exactly then even before a job marks it retired).
 */
export async function publishedJwks(prisma: PrismaClient, now: Date): Promise<Jwks> {
  const keys = await createKeyStore(prisma).published(now);
  return { keys: keys.map(toJwk) };
}

const iso = (date: Date | null) => date?.toISOString() ?? null;

const graceEnded = (key: KeyRecord, now: Date) => key.state === 'grace' && key.graceUntil !== null && key.graceUntil <= now;

export function toKeyView(key: KeyRecord, now: Date): KeyView {
  return {
    kid: key.kid,
    algorithm: key.algorithm,
    state: key.state,
    in_jwks: key.published && !graceEnded(key, now),
    rotation_count: key.rotationCount,
    created_at: key.createdAt.toISOString(),
    activates_at: iso(key.activatesAt),
    activated_at: iso(key.activatedAt),
    grace_until: iso(key.graceUntil),
    retired_at: iso(key.retiredAt),
    revoked_at: iso(key.revokedAt),
    expires_at: key.expiresAt.toISOString(),
  };
}

/** Every stored key, newest first, for the admin API. */
export async function listKeys(prisma: PrismaClient, now = new Date()): Promise<KeyView[]> {
  return (await createKeyStore(prisma).all()).map((key) => toKeyView(key, now));
}

export interface LocalVerificationKeys {
  /** A jose key resolver over the published keys, for `jwtVerify` inside the admin module. */
  getKey: JWTVerifyGetKey;
  /** Drops the cached key set (after a key change). */
  invalidate(): void;
}

/**
 * The admin module's own verification keys, read from the database rather than over HTTP: a key
 * promoted by a forced rotation or a revocation seconds after its creation verifies at once, with
 * no JWKS cache or refetch cooldown in between. Cached for `maxAgeMs`, so a flood of made-up kids
 * costs at most one query per `maxAgeMs`.
 */
export function createLocalVerificationKeys(prisma: PrismaClient, options: { maxAgeMs?: number } = {}): LocalVerificationKeys {
  const maxAgeMs = options.maxAgeMs ?? 1000;
  let cached: { at: number; keySet: Promise<JWTVerifyGetKey> } | undefined;
  const load = () => {
    const entry = { at: Date.now(), keySet: publishedJwks(prisma, new Date()).then((jwks) => createLocalJWKSet(jwks)) };
    cached = entry;
    entry.keySet.catch(() => {
      if (cached === entry) cached = undefined;
    });
    return entry.keySet;
  };
  return {
    async getKey(header, token) {
      const keySet = await (cached && Date.now() - cached.at < maxAgeMs ? cached.keySet : load());
      return keySet(header, token);
    },
    invalidate() {
      cached = undefined;
    },
  };
}
