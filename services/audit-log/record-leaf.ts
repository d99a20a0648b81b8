/**
 * What a record contributes to its chain's Merkle tree: leaf data = the RFC 8785 canonical JSON of
 * every column, the signature included (docs/AUDIT_LOGGING.md "Merkle trees"), so a leaf commits
 * to the record exactly as signed and stored, and an auditor with no HMAC key can recompute it.
 */
import type { AuditRecord } from './audit-signature.ts';
import { signingInput } from './audit-signature.ts';
import { leafHash } from './merkle/hashing.ts';

/**
 * The leaf data of a record from its signing input (the canonical JSON of every column but the
 * signature) and its signature. In canonical key order "signature" sorts just before "source",
 * which every record has; the keys after it (status, timestamp, user_agent, user_id) hold only
 * strings whose quotes are escaped, so the last `,"source":` is the top-level key.
 */
export function leafDataFromSigningInput(input: string, signature: string): string {
  const at = input.lastIndexOf(',"source":');
  if (at < 0) throw new Error('signing input has no source field');
  return `${input.slice(0, at)},"signature":"${signature}"${input.slice(at)}`;
}

/** The Merkle leaf hash of a stored record: SHA-256(0x00 ‖ canonical JSON of the record). */
export function recordLeafHash(record: AuditRecord): Buffer {
  return leafHash(leafDataFromSigningInput(signingInput(record), record.signature));
}
