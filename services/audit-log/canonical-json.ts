/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): the one byte form of a JSON value that the audit
 * signature covers. Objects get their properties sorted by UTF-16 code units, no whitespace is
 * written, numbers and strings are serialized as ECMAScript's JSON.stringify does (which RFC 8785
 * adopts), and values I-JSON forbids — non-finite numbers, lone surrogates — are refused.
 */

export class CanonicalJsonError extends Error {
  readonly code = 'ERR_NOT_CANONICALIZABLE';
  constructor(message: string) {
    super(message);
    this.name = 'CanonicalJsonError';
  }
}

/** In a `u` regex a surrogate pair is one code point, so this matches only unpaired surrogates. */
const LONE_SURROGATE = /\p{Cs}/u;

/** A string holding an unpaired UTF-16 surrogate has no UTF-8 form; I-JSON forbids it. */
function checkString(value: string): string {
  const json = JSON.stringify(value);
  // JSON.stringify writes an unpaired surrogate as a \u escape, so strings without one need no regex.
  if (json.includes('\\u') && LONE_SURROGATE.test(value)) throw new CanonicalJsonError('string holds an unpaired surrogate');
  return json;
}

// Built by string concatenation: V8 joins the pieces as ropes, with none of an array's allocations
// (verification canonicalizes every record of a log).
function canonical(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`number ${value} is not finite`);
      // Number.prototype.toString is RFC 8785's number serialization; -0 becomes "0".
      return JSON.stringify(value);
    case 'string':
      return checkString(value);
    case 'object':
      break;
    default:
      throw new CanonicalJsonError(`a ${typeof value} is not JSON`);
  }
  if (Array.isArray(value)) {
    let text = '[';
    for (let i = 0; i < value.length; i++) text += i === 0 ? canonical(value[i]) : `,${canonical(value[i])}`;
    return `${text}]`;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) {
    throw new CanonicalJsonError(`a ${prototype?.constructor?.name ?? 'non-plain'} object is not JSON`);
  }
  // The default sort compares UTF-16 code units, exactly the order RFC 8785 §3.2.3 asks for.
  const keys = Object.keys(value).sort();
  let text = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    text += `${i === 0 ? '' : ','}${checkString(key)}:${canonical((value as Record<string, unknown>)[key])}`;
  }
  return `${text}}`;
}

/** The RFC 8785 canonical text of `value`; UTF-8 encode it to get the bytes to hash or sign. */
export function canonicalJson(value: unknown): string {
  return canonical(value);
}

/**
 * The canonical text of an object whose property names are known in advance: `keys` must be
 * sorted as RFC 8785 sorts them. Same output as `canonicalJson`, without sorting on every call.
 */
export function canonicalJsonOfKnownKeys(value: Record<string, unknown>, sortedKeys: readonly string[]): string {
  let text = '{';
  for (let i = 0; i < sortedKeys.length; i++) {
    const key = sortedKeys[i]!;
    text += `${i === 0 ? '' : ','}${JSON.stringify(key)}:${canonical(value[key])}`;
  }
  return `${text}}`;
}
