/**
 * The signed digest of an audit chain (docs/AUDIT_LOGGING.md, "Signed digests"): the chain's Merkle
 * tree head and last record at a moment, chained to the chain's previous digest and signed with an
 * Ed25519 key that is not the HMAC key. Verifying one needs only the published public key.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from '../canonical-json.ts';

export const DIGEST_VERSION = 1;

/** `tree`: the writer's periodic digest; `anchor`: retention moved the chain's anchor. */
export type DigestKind = 'tree' | 'anchor';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const whole = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** Ed25519 signatures are 64 bytes: 86 base64url characters without padding. */
const ED25519_SIGNATURE = /^[A-Za-z0-9_-]{86}$/;

const common = {
  version: z.literal(DIGEST_VERSION),
  chain_id: whole,
  /** Leaves in the chain's Merkle tree: records 1 … tree_size. */
  tree_size: whole,
  /** MTH of the tree at tree_size, lowercase hex. */
  root_hash: hex64,
  /** The first sequence this digest covers beyond the previous digest (previous last_sequence + 1, or 1). */
  first_sequence: whole,
  /** The chain head when signed; equals tree_size. */
  last_sequence: whole,
  /** HMAC signature of the record at last_sequence; null while the chain is empty. */
  last_signature: hex64.nullable(),
  issued_at: z.iso.datetime({ precision: 3 }),
  /** The chain's previous digest's signature; null for its first digest. */
  previous_signature: z.string().regex(ED25519_SIGNATURE).nullable(),
  key_id: z.string().min(1).max(64),
  signature: z.string().regex(ED25519_SIGNATURE),
};

const treeDigestSchema = z.strictObject({ ...common, kind: z.literal('tree') });
const anchorDigestSchema = z.strictObject({
  ...common,
  kind: z.literal('anchor'),
  /** The newest record retention deleted: the first kept record chains to it. */
  anchor_sequence: whole,
  anchor_signature: hex64,
  anchor_recorded_at: z.iso.datetime({ precision: 3 }),
});

/** A digest exactly as signed, stored and published; unknown members are refused. */
export const auditDigestSchema = z.discriminatedUnion('kind', [treeDigestSchema, anchorDigestSchema]);
export type AuditDigest = z.infer<typeof auditDigestSchema>;
export type TreeDigest = z.infer<typeof treeDigestSchema>;
export type AnchorDigest = z.infer<typeof anchorDigestSchema>;
export type UnsignedDigest = Omit<TreeDigest, 'signature'> | Omit<AnchorDigest, 'signature'>;
/** A digest's members before it is signed: what its issuer decides, without the signer's key id. */
export type DigestContent = Omit<TreeDigest, 'signature' | 'key_id'> | Omit<AnchorDigest, 'signature' | 'key_id'>;

/** What signs digests: a digest key's kid and its decrypted private key. */
export interface DigestSigner {
  kid: string;
  privateKey: KeyObject;
}

/** The bytes a digest's signature covers: the RFC 8785 canonical JSON of every member but `signature`, UTF-8. */
export function digestSigningInput(digest: UnsignedDigest | AuditDigest): Buffer {
  const { signature: _omitted, ...signed } = digest as AuditDigest;
  return Buffer.from(canonicalJson(signed), 'utf8');
}

/** Signs with Ed25519 (pure, no pre-hash): `signature` is the raw 64 bytes in base64url. */
export function signDigest(unsigned: DigestContent, signer: DigestSigner): AuditDigest {
  const body = { ...unsigned, key_id: signer.kid } as UnsignedDigest;
  return { ...body, signature: sign(null, digestSigningInput(body), signer.privateKey).toString('base64url') } as AuditDigest;
}

/** True when `publicKey` made the digest's signature over its members as they are. */
export function digestSignatureValid(digest: AuditDigest, publicKey: KeyObject): boolean {
  if (!ED25519_SIGNATURE.test(digest.signature)) return false;
  try {
    return verify(null, digestSigningInput(digest), publicKey, Buffer.from(digest.signature, 'base64url'));
  } catch {
    return false;
  }
}

/** The one-line text of a digest in the sink, the log and the table: its canonical JSON, signature included. */
export const digestLine = (digest: AuditDigest): string => canonicalJson(digest);
