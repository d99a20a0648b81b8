import type { z } from 'zod';
import { AppError } from '../errors.ts';

/** `2026-11-30T00:00:00 00:00`: a datetime whose offset lost its '+' on the way. */
const SPACE_FOR_PLUS = / (\d{2}(?::?\d{2})?)$/;

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>((at, key) => (at !== null && typeof at === 'object' ? (at as Record<PropertyKey, unknown>)[key] : undefined), value);
}

/**
 * A '+' typed into a URL query arrives as a space (form encoding), so `from=…T00:00:00+00:00`
 * reaches the schema as `…T00:00:00 00:00`. "Invalid ISO datetime" alone sent every new user
 * hunting for a format mistake that is not theirs; this names the cause wherever a datetime is read.
 */
function explain(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.code !== 'invalid_format' || issue.format !== 'datetime') return issue.message;
  const text = valueAt(value, issue.path);
  const offset = typeof text === 'string' ? SPACE_FOR_PLUS.exec(text)?.[1] : undefined;
  if (offset === undefined) return issue.message;
  return `${issue.message}: it has a space where the offset's '+' would be, and a '+' in a URL query means a space: write the offset as %2B${offset}, or use Z`;
}

/** Reads a body or query with a schema; anything wrong is a JSON 400 naming the field. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new AppError(400, 'invalid_request', `${where}${issue ? explain(issue, value) : 'invalid input'}`);
  }
  return result.data;
}
