/**
 * The signature of an audit record: HMAC-SHA256, keyed by the AUDIT_LOG_SECRET_KEY entry named in
 * the record's key_id, over the UTF-8 bytes of the RFC 8785 canonical JSON of every column but the
 * signature itself. docs/AUDIT_LOGGING.md specifies it for verifiers in other languages.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AuditKey } from '../platform/config/index.ts';
import { canonicalJson, canonicalJsonOfKnownKeys } from './canonical-json.ts';
import type { AuditEvent } from './events.ts';

/**
 * One row of `audit_logs` in its signed form: the event as published plus what the writer adds.
 * Timestamps are ISO 8601 UTC strings with milliseconds, absent values are null.
 */
export interface AuditRecord extends AuditEvent {
  /** The chain the record belongs to. @defaultValue 0 */
  chain_id: number;
  /** Position in the chain: 1 for its first record, then +1 without gaps. */
  sequence: number;
  /** Signature of the record at sequence - 1 (or the retention anchor); null for sequence 1. */
  prev_signature: string | null;
  /** Id of the key that signed the record. */
  key_id: string;
  /** When the writer stored the record; never decreases along a chain. */
  recorded_at: string;
  /** Lowercase hex HMAC-SHA256 of `signingInput(record)`. */
  signature: string;
}
export type UnsignedAuditRecord = Omit<AuditRecord, 'signature'>;

/** The signed fields, in the order docs/AUDIT_LOGGING.md lists them (the canonical form sorts them anyway). */
export const SIGNED_FIELDS = [
  'event_id',
  'event_type',
  'event_category',
  'timestamp',
  'user_id',
  'service_account_id',
  'ip_address',
  'user_agent',
  'resource_type',
  'resource_id',
  'action',
  'status',
  'details',
  'source',
  'request_id',
  'chain_id',
  'sequence',
  'prev_signature',
  'key_id',
  'recorded_at',
] as const satisfies readonly (keyof UnsignedAuditRecord)[];

const SORTED_SIGNED_FIELDS: readonly string[] = [...SIGNED_FIELDS].sort();

/** The exact text that is signed: the canonical JSON of the signed fields, nothing more. */
export function signingInput(record: UnsignedAuditRecord): string {
  return canonicalJsonOfKnownKeys(record as unknown as Record<string, unknown>, SORTED_SIGNED_FIELDS);
}

/** The members the writer adds under the chain lock; everything else is known beforehand. */
export type ChainFields = Pick<UnsignedAuditRecord, 'chain_id' | 'sequence' | 'prev_signature' | 'key_id' | 'recorded_at'>;
const CHAIN_FIELDS = new Set<string>(['chain_id', 'sequence', 'prev_signature', 'key_id', 'recorded_at'] satisfies (keyof ChainFields)[]);

/**
 * `signingInput` in two steps: the event's members are canonicalized now, the chain's members
 * when they are known. The writer does the first step before it takes the chain lock.
 */
export function signingInputTemplate(event: AuditEvent): (chain: ChainFields) => string {
  const parts: (string | { field: keyof ChainFields })[] = [];
  let text = '{';
  SORTED_SIGNED_FIELDS.forEach((key, index) => {
    text += `${index === 0 ? '' : ','}${JSON.stringify(key)}:`;
    if (CHAIN_FIELDS.has(key)) {
      parts.push(text, { field: key as keyof ChainFields });
      text = '';
    } else {
      text += canonicalJson((event as unknown as Record<string, unknown>)[key]);
    }
  });
  parts.push(`${text}}`);
  return (chain) => parts.map((part) => (typeof part === 'string' ? part : canonicalJson(chain[part.field]))).join('');
}

export type SignatureCheck = 'valid' | 'invalid' | 'unknown_key';

export interface AuditKeyRing {
  /** Id of the key new records are signed with (the first of AUDIT_LOG_SECRET_KEY). */
  readonly signingKeyId: string;
  /** Signs with the first key; the record's key_id must already name it. */
  sign(record: UnsignedAuditRecord): string;
  /** Signs a signing input made by `signingInputTemplate` with `key_id` = `signingKeyId`. */
  signInput(input: string): string;
  /** Checks a stored record against the key its key_id names. */
  check(record: AuditRecord): SignatureCheck;
}

const HEX_SIGNATURE = /^[0-9a-f]{64}$/;

export function hmacHex(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('hex');
}

/** The key ring of AUDIT_LOG_SECRET_KEY: key bytes are the UTF-8 bytes of each key's text. */
export function createAuditKeyRing(keys: readonly AuditKey[]): AuditKeyRing {
  const first = keys[0];
  if (!first) throw new Error('AUDIT_LOG_SECRET_KEY holds no key');
  const byId = new Map(keys.map((k) => [k.id, Buffer.from(k.key.reveal(), 'utf8')]));
  const signingKey = byId.get(first.id)!;
  return {
    signingKeyId: first.id,
    sign(record) {
      if (record.key_id !== first.id) throw new Error(`record names key ${record.key_id}, but ${first.id} signs`);
      return hmacHex(signingKey, signingInput(record));
    },
    signInput: (input) => hmacHex(signingKey, input),
    check(record) {
      const key = byId.get(record.key_id);
      if (!key) return 'unknown_key';
      if (!HEX_SIGNATURE.test(record.signature)) return 'invalid';
      let expected: string;
      try {
        expected = hmacHex(key, signingInput(record));
      } catch {
        return 'invalid';
      }
      return timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(record.signature, 'latin1')) ? 'valid' : 'invalid';
    },
  };
}
