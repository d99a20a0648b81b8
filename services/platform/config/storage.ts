import path from 'node:path';
import type { Secret } from '../secret.ts';
import { STORAGE_ELEMENT_ID_PATTERN, STORAGE_ELEMENT_ID_RULE } from '../identifiers.ts';
import { ConfigError } from './config-error.ts';
import { parseClientCredentials } from './identity.ts';
import { checkHttpUrl, parseInteger, type Env } from './parse.ts';

/** `<STORAGE_ELEMENT_ID>` stands for this storage element's id: each element keeps its own content. */
export const STORAGE_DEFAULTS = {
  STORAGE_ELEMENT_ID: 'hot',
  STORAGE_ROOT: '.data/storage/<STORAGE_ELEMENT_ID>',
  UPLOAD_STORAGE_ELEMENT: 'hot',
  UPLOAD_MAX_BYTES: 10 * 2 ** 30,
} as const;

/** The file archive: storage elements, uploads and the module-to-module `storage` account. */
export interface StorageConfig {
  /** Id of this storage element (STORAGE_ELEMENT_ID). @defaultValue STORAGE_DEFAULTS.STORAGE_ELEMENT_ID */
  elementId: string;
  /** Directory of this storage element's content (STORAGE_ROOT, absolute). @defaultValue STORAGE_DEFAULTS.STORAGE_ROOT under the working directory */
  root: string;
  /** Base URL registered for this storage element (STORAGE_ELEMENT_PUBLIC_URL). @defaultValue its own listening URL */
  publicUrl?: string;
  /** Storage element that receives uploads (UPLOAD_STORAGE_ELEMENT). @defaultValue STORAGE_DEFAULTS.UPLOAD_STORAGE_ELEMENT */
  uploadElement: string;
  /** Largest file an upload may carry, in bytes (UPLOAD_MAX_BYTES). @defaultValue STORAGE_DEFAULTS.UPLOAD_MAX_BYTES (10 GiB) */
  uploadMaxBytes: number;
  /**
   * The `storage` service account the modules call each other with (STORAGE_CLIENT_ID,
   * STORAGE_CLIENT_SECRET or _FILE); admin creates it at start when it does not exist. Without
   * it ingester and query start, warn, and answer file operations with 503. @defaultValue unset
   */
  client: { clientId?: string; clientSecret?: Secret };
}

function parseElementId(name: 'STORAGE_ELEMENT_ID' | 'UPLOAD_STORAGE_ELEMENT', raw: string | undefined): string {
  const value = (raw ?? '').trim() || STORAGE_DEFAULTS[name];
  if (!STORAGE_ELEMENT_ID_PATTERN.test(value)) throw new ConfigError(name, STORAGE_ELEMENT_ID_RULE);
  return value;
}

export function parseStorage(env: Env): StorageConfig {
  const elementId = parseElementId('STORAGE_ELEMENT_ID', env.STORAGE_ELEMENT_ID);
  const publicUrl = env.STORAGE_ELEMENT_PUBLIC_URL?.trim().replace(/\/+$/, '') || undefined;
  if (publicUrl !== undefined) checkHttpUrl('STORAGE_ELEMENT_PUBLIC_URL', publicUrl);
  const client = parseClientCredentials(env, 'STORAGE_CLIENT_ID', 'STORAGE_CLIENT_SECRET');
  return {
    elementId,
    root: path.resolve(env.STORAGE_ROOT?.trim() || STORAGE_DEFAULTS.STORAGE_ROOT.replace('<STORAGE_ELEMENT_ID>', elementId)),
    publicUrl,
    uploadElement: parseElementId('UPLOAD_STORAGE_ELEMENT', env.UPLOAD_STORAGE_ELEMENT),
    uploadMaxBytes: parseInteger('UPLOAD_MAX_BYTES', env.UPLOAD_MAX_BYTES, STORAGE_DEFAULTS.UPLOAD_MAX_BYTES, 1, Number.MAX_SAFE_INTEGER),
    client,
  };
}
