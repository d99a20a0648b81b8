import { z } from 'zod';

/**
 * Text PostgreSQL cannot store or compare (NUL) and text RFC 8785 cannot canonicalize (an unpaired
 * surrogate). In a `u` regex a surrogate pair is one code point, so `\p{Cs}` matches lone halves only.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point
const UNSTORABLE = /\u0000|\p{Cs}/u;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is the point
const SUSPECT = /[\u0000\ud800-\udfff]/;

export function hasUnstorableText(value: string): boolean {
  return SUSPECT.test(value) && UNSTORABLE.test(value);
}

/** A filter or other short text taken from a request: 400 (never a 500) when PostgreSQL could not compare it. */
export const storableText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((value) => !hasUnstorableText(value), 'must not contain NUL characters or unpaired surrogates');

// biome-ignore lint/suspicious/noControlCharactersInRegex: escaping NUL is the point
const TO_ESCAPE = /\\|\u0000|\p{Cs}/gu;
const ESCAPE_SEQUENCE = /\\(?:\\|u([0-9a-f]{4}))/g;

/**
 * The reversible escape of an audited value that holds unstorable text: each backslash becomes
 * `\\`, each NUL or unpaired surrogate `\uXXXX` (four lowercase hex digits), nothing else changes.
 * Undefined when the value needs no escape (then it is stored exactly as given).
 */
export function escapeUnstorable(value: string): string | undefined {
  if (!hasUnstorableText(value)) return undefined;
  return value.replace(TO_ESCAPE, (unit) => (unit === '\\' ? '\\\\' : `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`));
}

/** The original of an escaped value (docs/AUDIT_LOGGING.md "Unstorable text"). */
export function unescapeUnstorable(value: string): string {
  return value.replace(ESCAPE_SEQUENCE, (_sequence, hex: string | undefined) => (hex ? String.fromCharCode(Number.parseInt(hex, 16)) : '\\'));
}

/** Cuts an escaped value to `max` characters without splitting an escape sequence or a surrogate pair. */
export function cutEscaped(value: string, max: number): string {
  if (value.length <= max) return value;
  let end = 0;
  for (const token of value.matchAll(/\\\\|\\u[0-9a-f]{4}|[\ud800-\udbff][\udc00-\udfff]|[\s\S]/g)) {
    if (end + token[0].length > max) break;
    end += token[0].length;
  }
  return value.slice(0, end);
}
