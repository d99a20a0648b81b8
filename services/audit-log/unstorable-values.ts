import { cutEscaped, escapeUnstorable } from '../platform/storable-text.ts';
import { AUDIT_TEXT_LIMITS, ESCAPED_POINTERS_KEY } from './events.ts';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** RFC 6901: `~` and `/` in a member name are written `~0` and `~1`. */
const pointerPart = (name: string) => name.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * No event is dropped for what it holds. A value with text PostgreSQL cannot store (NUL) or RFC 8785
 * cannot canonicalize (an unpaired surrogate) — a `%00` in a path, a lone surrogate in a client id —
 * is escaped reversibly before it is signed (platform/storable-text.ts), so what is signed is what is
 * stored. `details["$escaped"]` lists the JSON Pointers (RFC 6901, into the event) of every escaped
 * string or member name; an escaped column value is cut to its column's length without splitting
 * an escape sequence.
 */
export function escapeUnstorableValues(event: Record<string, unknown>): Record<string, unknown> {
  const escaped: string[] = [];
  const walk = (value: Json, pointer: string): Json => {
    if (typeof value === 'string') {
      const safe = escapeUnstorable(value);
      if (safe === undefined) return value;
      escaped.push(pointer);
      return safe;
    }
    if (Array.isArray(value)) return value.map((item, i) => walk(item, `${pointer}/${i}`));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, Json> = {};
      for (const [name, item] of Object.entries(value)) {
        const safeName = escapeUnstorable(name);
        if (safeName !== undefined) escaped.push(`${pointer}/${pointerPart(safeName)}`);
        out[safeName ?? name] = walk(item, `${pointer}/${pointerPart(safeName ?? name)}`);
      }
      return out;
    }
    return value;
  };
  const out: Record<string, unknown> = { ...event };
  for (const [column, max] of Object.entries(AUDIT_TEXT_LIMITS)) {
    const value = event[column];
    const safe = typeof value === 'string' ? escapeUnstorable(value) : undefined;
    if (safe === undefined) continue;
    escaped.push(`/${column}`);
    out[column] = cutEscaped(safe, max);
  }
  if (event.details !== null && event.details !== undefined) out.details = walk(event.details as Json, '/details');
  if (escaped.length === 0) return event;
  out.details = { ...((out.details as Record<string, Json> | null) ?? {}), [ESCAPED_POINTERS_KEY]: escaped };
  return out;
}
