import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Client secrets are made by the system: 256 random bits, base64url. Being uniformly random they
 * need no slow password KDF; a SHA-256 hash compared in constant time is enough and keeps token
 * issuance fast.
 */
export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashClientSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function secretMatchesHash(secret: string, hash: string | null | undefined): boolean {
  const candidate = Buffer.from(hashClientSecret(secret), 'hex');
  // Compare against a same-length dummy when there is no hash, so timing does not reveal it.
  const expected = hash && /^[0-9a-f]{64}$/.test(hash) ? Buffer.from(hash, 'hex') : Buffer.alloc(32);
  return timingSafeEqual(candidate, expected) && hash !== null && hash !== undefined;
}
