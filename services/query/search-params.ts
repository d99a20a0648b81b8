import { z } from 'zod';
import { AppError } from '../platform/errors.ts';
import { parseInput } from '../platform/http/validation.ts';
import { STORAGE_ELEMENT_ID_PATTERN } from '../platform/identifiers.ts';
import { foldForSearch, MAX_FILE_NAME_LENGTH } from '../file-archive/file-names.ts';
import type { FileFilter } from './file-search-store.ts';

const size = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const instant = z.iso.datetime({ offset: true }).transform((text) => new Date(text));
const MEDIA_TYPE = /^[A-Za-z0-9!#$&^_.+-]{1,127}\/(?:\*|[A-Za-z0-9!#$&^_.+-]{1,127})$/;

/** GET /api/v1/files query: every filter optional, unknown parameters refused. */
const searchQuery = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(MAX_FILE_NAME_LENGTH)
      .regex(/^[^\p{Cc}]*$/u, 'must not contain control characters')
      .optional(),
    content_type: z.string().regex(MEDIA_TYPE, 'must be type/subtype or type/*').optional(),
    min_size: size.optional(),
    max_size: size.optional(),
    created_from: instant.optional(),
    created_before: instant.optional(),
    owner: z.uuid().optional(),
    storage_element: z.string().regex(STORAGE_ELEMENT_ID_PATTERN).optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.string().max(200).optional(),
  })
  .refine((q) => q.min_size === undefined || q.max_size === undefined || q.min_size <= q.max_size, {
    message: 'min_size must not exceed max_size',
    path: ['min_size'],
  })
  .refine((q) => !q.created_from || !q.created_before || q.created_from < q.created_before, {
    message: 'created_from must be before created_before',
    path: ['created_from'],
  });

export interface Search {
  filter: FileFilter;
  limit: number;
  after?: { createdAt: Date; id: string };
}

export function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [time = '', id = ''] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(time);
  if (Number.isNaN(createdAt.getTime()) || !z.uuid().safeParse(id).success) {
    throw new AppError(400, 'invalid_cursor', 'cursor is not one this API returned');
  }
  return { createdAt, id };
}

export function parseSearch(query: unknown): Search {
  const q = parseInput(searchQuery, query);
  const contentType = q.content_type?.toLowerCase();
  return {
    filter: {
      nameFolded: q.name === undefined ? undefined : foldForSearch(q.name),
      contentType: contentType?.endsWith('/*') ? undefined : contentType,
      contentTypePrefix: contentType?.endsWith('/*') ? contentType.slice(0, -1) : undefined,
      minSize: q.min_size,
      maxSize: q.max_size,
      createdFrom: q.created_from,
      createdBefore: q.created_before,
      ownerId: q.owner,
      storageElementId: q.storage_element,
    },
    limit: q.limit,
    after: q.cursor === undefined ? undefined : decodeCursor(q.cursor),
  };
}
