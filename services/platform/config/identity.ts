import type { Secret } from '../secret.ts';
import { CLIENT_ID_PATTERN, CLIENT_ID_RULE } from '../identifiers.ts';
import { ConfigError } from './config-error.ts';
import { parseInteger, type Env } from './parse.ts';
import { readSecret } from './secrets.ts';

export const IDENTITY_DEFAULTS = {
  SECRET_ROTATION_OVERLAP_SECONDS: 3600,
} as const;

/** Service accounts: the admin module's first account and how client secrets rotate. */
export interface IdentityConfig {
  /**
   * The first admin account (ADMIN_BOOTSTRAP_CLIENT_ID with ADMIN_BOOTSTRAP_CLIENT_SECRET or _FILE),
   * created at the admin module's first start. @defaultValue unset
   */
  adminBootstrap: { clientId?: string; clientSecret?: Secret };
  /** How long the previous client secret stays valid after a secret rotation. @defaultValue IDENTITY_DEFAULTS.SECRET_ROTATION_OVERLAP_SECONDS */
  secretRotationOverlapSeconds: number;
}

/** A service account given by two variables, its client id and its secret: both or neither. */
export function parseClientCredentials(env: Env, idName: string, secretName: 'ADMIN_BOOTSTRAP_CLIENT_SECRET' | 'STORAGE_CLIENT_SECRET') {
  const clientId = env[idName]?.trim() || undefined;
  const clientSecret = readSecret(env, secretName);
  if (clientId !== undefined && !CLIENT_ID_PATTERN.test(clientId)) throw new ConfigError(idName, CLIENT_ID_RULE);
  if (Boolean(clientId) !== Boolean(clientSecret)) {
    throw new ConfigError(clientId ? secretName : idName, `${idName} and ${secretName} (or _FILE) must be given together`);
  }
  return { clientId, clientSecret };
}

export function parseIdentity(env: Env): IdentityConfig {
  return {
    adminBootstrap: parseClientCredentials(env, 'ADMIN_BOOTSTRAP_CLIENT_ID', 'ADMIN_BOOTSTRAP_CLIENT_SECRET'),
    secretRotationOverlapSeconds: parseInteger(
      'SECRET_ROTATION_OVERLAP_SECONDS',
      env.SECRET_ROTATION_OVERLAP_SECONDS,
      IDENTITY_DEFAULTS.SECRET_ROTATION_OVERLAP_SECONDS,
      0,
      30 * 86_400,
    ),
  };
}
