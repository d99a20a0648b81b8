/** RFC 8187 attr-char: what may stand unencoded in `filename*`. */
const ATTR_CHAR = /[A-Za-z0-9!#$&+\-.^_`|~]/;

function encodeExtValue(name: string): string {
  let out = '';
  for (const char of name) {
    out += ATTR_CHAR.test(char) ? char : [...Buffer.from(char, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
  return out;
}

/**
 * `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>` (RFC 6266): old
 * clients get a printable-ASCII name with quotes, backslashes and anything else replaced by `_`;
 * others get the exact name. Nothing from the name can end or extend the header.
 */
export function attachmentDisposition(name: string): string {
  const fallback = [...name].map((char) => (/^[\x20-\x7e]$/.test(char) && char !== '"' && char !== '\\' && char !== '%' ? char : '_')).join('');
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeExtValue(name)}`;
}
