/**
 * What an auditor checks of a chain's digests with nothing but them and the published digest keys
 * (`/.well-known/audit-keys.json`): each is well-formed and signed by a published key while that
 * key was the signing one; each names its predecessor's signature; the tree never shrinks or
 * changes at a size already signed; every record is covered once.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { auditDigestSchema, digestSignatureValid, type AuditDigest } from './digest-format.ts';

export type DigestProblemKind = 'malformed' | 'unknown_key' | 'bad_signature' | 'key_not_signing' | 'broken_link' | 'tree_rewritten';

export interface DigestProblem {
  /** Position in the list checked. */
  index: number;
  kind: DigestProblemKind;
  message: string;
}

export interface DigestChainReport {
  ok: boolean;
  checked: number;
  problems: DigestProblem[];
}

/** A published digest key as read from the JWKS: at least the public part, the kid and the signing dates. */
export interface PublishedDigestKey {
  kid?: string;
  kty?: string;
  crv?: string;
  x?: string;
  alg?: string;
  activated_at?: string | null;
  deactivated_at?: string | null;
}

/**
 * Clock difference allowed between the process that rotated the key and the one that signed: a
 * digest signed with a key that a concurrent rotation had just replaced is still genuine.
 */
export const SIGNING_WINDOW_TOLERANCE_MS = 5 * 60_000;

interface UsableKey {
  publicKey: KeyObject;
  from: number;
  until: number;
}

function usableKeys(keys: readonly PublishedDigestKey[]): Map<string, UsableKey> {
  const usable = new Map<string, UsableKey>();
  for (const key of keys) {
    // Only Ed25519 verifies a digest, whatever else a key set holds.
    if (!key.kid || key.kty !== 'OKP' || key.crv !== 'Ed25519' || key.alg !== 'EdDSA' || !key.x || !key.activated_at) continue;
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key.x }, format: 'jwk' });
    const from = Date.parse(key.activated_at) - SIGNING_WINDOW_TOLERANCE_MS;
    const until = key.deactivated_at ? Date.parse(key.deactivated_at) + SIGNING_WINDOW_TOLERANCE_MS : Number.POSITIVE_INFINITY;
    usable.set(key.kid, { publicKey, from, until });
  }
  return usable;
}

function linkProblem(digest: AuditDigest, previous: AuditDigest | undefined, fromFirst: boolean): string | undefined {
  if (!previous) {
    return fromFirst && digest.previous_signature !== null ? 'the first digest of a chain names a predecessor' : undefined;
  }
  if (digest.chain_id !== previous.chain_id) return `chain ${digest.chain_id} follows a digest of chain ${previous.chain_id}`;
  if (digest.previous_signature !== previous.signature) return 'previous_signature is not the signature of the digest before it';
  if (digest.first_sequence !== previous.last_sequence + 1)
    return `first_sequence ${digest.first_sequence} does not follow last_sequence ${previous.last_sequence}`;
  if (Date.parse(digest.issued_at) < Date.parse(previous.issued_at)) return 'issued before the digest before it';
  return undefined;
}

function treeProblem(digest: AuditDigest, previous: AuditDigest | undefined): string | undefined {
  if (digest.last_sequence !== digest.tree_size) return `last_sequence ${digest.last_sequence} is not tree_size ${digest.tree_size}`;
  if (!previous) return undefined;
  if (digest.tree_size < previous.tree_size) return `the tree shrank from ${previous.tree_size} to ${digest.tree_size} leaves`;
  if (digest.tree_size === previous.tree_size && (digest.root_hash !== previous.root_hash || digest.last_signature !== previous.last_signature)) {
    return `another tree at the same size ${digest.tree_size}`;
  }
  return undefined;
}

/**
 * Checks a chain's digests in order. `fromFirst`: the list starts at the chain's first digest, so
 * that one must name no predecessor; otherwise the first in the list is taken as given. A digest
 * that fails its signature is not trusted as a predecessor: the next one is linked to the last good one.
 */
export function verifyDigestChain(digests: readonly unknown[], keys: readonly PublishedDigestKey[], options: { fromFirst?: boolean } = {}): DigestChainReport {
  const usable = usableKeys(keys);
  const problems: DigestProblem[] = [];
  let previous: AuditDigest | undefined;
  for (const [index, candidate] of digests.entries()) {
    const problem = (kind: DigestProblemKind, message: string) => problems.push({ index, kind, message });
    const parsed = auditDigestSchema.safeParse(candidate);
    if (!parsed.success) {
      problem('malformed', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      continue;
    }
    const digest = parsed.data;
    const key = usable.get(digest.key_id);
    if (!key) {
      problem('unknown_key', `key ${digest.key_id} is not a published digest key`);
      continue;
    }
    if (!digestSignatureValid(digest, key.publicKey)) {
      problem('bad_signature', `the signature does not match the digest (key ${digest.key_id})`);
      continue;
    }
    const issuedAt = Date.parse(digest.issued_at);
    if (issuedAt < key.from || issuedAt > key.until) problem('key_not_signing', `key ${digest.key_id} was not the signing key at ${digest.issued_at}`);
    const link = linkProblem(digest, previous, options.fromFirst === true);
    if (link) problem('broken_link', link);
    const tree = treeProblem(digest, previous);
    if (tree) problem('tree_rewritten', tree);
    previous = digest;
  }
  return { ok: problems.length === 0, checked: digests.length, problems };
}
