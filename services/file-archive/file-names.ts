/**
 * File names are user input. They are stored and shown as given (unicode round-trips byte for
 * byte), but never with a directory part, control characters or bidirectional overrides, and a
 * folded copy serves case-insensitive search.
 */

/** Longest name kept, in characters (files.original_name is VARCHAR(255)). */
export const MAX_FILE_NAME_LENGTH = 255;

/** C0, DEL and C1 controls (NUL, CR, LF…) and the bidi embeddings/overrides/isolates that disguise an extension. */
const FORBIDDEN = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;

export type FileNameProblem = 'missing' | 'control_characters' | 'too_long';

/**
 * The name to store for a client-given file name: its last path component (either slash), or the
 * problem that makes it unusable.
 */
export function acceptFileName(raw: string | undefined): { name: string } | { problem: FileNameProblem } {
  if (raw === undefined) return { problem: 'missing' };
  const name = raw.slice(Math.max(raw.lastIndexOf('/'), raw.lastIndexOf('\\')) + 1);
  if (FORBIDDEN.test(name)) return { problem: 'control_characters' };
  if (name.trim() === '' || name === '.' || name === '..') return { problem: 'missing' };
  if ([...name].length > MAX_FILE_NAME_LENGTH) return { problem: 'too_long' };
  return { name };
}

/**
 * The form names are searched in: compatibility-normalised (NFKC: "ﬁ" → "fi", full-width →
 * ASCII) and case-folded in a locale-independent way (upper then lower turns "ß" into "ss"; final
 * sigma becomes σ), so `name_folded LIKE %fold(q)%` is unicode-correct whatever the database locale.
 */
export function foldForSearch(text: string): string {
  return text.normalize('NFKC').toUpperCase().toLowerCase().replace(/ς/g, 'σ');
}

const TOKEN = '[A-Za-z0-9!#$&^_.+-]{1,127}';
const MEDIA_TYPE = new RegExp(`^${TOKEN}/${TOKEN}$`);

/** The media type stored for a part's Content-Type: `type/subtype` in lower case, else application/octet-stream. */
export function acceptContentType(raw: string | undefined): string {
  const essence = (raw ?? '').split(';')[0]!.trim().toLowerCase();
  return MEDIA_TYPE.test(essence) ? essence : 'application/octet-stream';
}
