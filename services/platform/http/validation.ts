import type { z } from 'zod';
import { AppError } from '../errors.ts';

/** Reads a body or query with a schema; anything wrong is a JSON 400 naming the field. */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new AppError(400, 'invalid_request', `${where}${issue?.message ?? 'invalid input'}`);
  }
  return result.data;
}
