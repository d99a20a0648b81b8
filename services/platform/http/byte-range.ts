/** Inclusive byte positions, as in an HTTP Range. */
export interface ByteRange {
  start: number;
  end: number;
}

export type RangeAnswer = { kind: 'full' } | { kind: 'partial'; range: ByteRange } | { kind: 'unsatisfiable' };

const SINGLE_RANGE = /^bytes=(\d*)-(\d*)$/i;

/**
 * What to send for a Range header (RFC 9110 §14): one satisfiable range → partial; a range that
 * starts past the end → unsatisfiable (416). Anything else — no header, another unit, several
 * ranges, bad syntax — is ignored and the whole content is sent, as the RFC allows.
 */
export function parseByteRange(header: string | undefined, size: number): RangeAnswer {
  const match = header === undefined ? null : SINGLE_RANGE.exec(header.trim());
  if (!match) return { kind: 'full' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'full' };
  const a = Number(first);
  const b = Number(last);
  if ((first !== '' && !Number.isSafeInteger(a)) || (last !== '' && !Number.isSafeInteger(b))) return { kind: 'full' };
  if (first === '') {
    // Suffix range: the last `b` bytes.
    if (b === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', range: { start: Math.max(0, size - b), end: size - 1 } };
  }
  if (last !== '' && b < a) return { kind: 'full' };
  if (a >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', range: { start: a, end: last === '' ? size - 1 : Math.min(b, size - 1) } };
}
