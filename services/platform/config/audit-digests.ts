import path from 'node:path';
import { ConfigError } from './config-error.ts';
import { parseInteger, parseSchedule, type Env, type Schedule } from './parse.ts';

export const AUDIT_DIGEST_DEFAULTS = {
  AUDIT_DIGEST_DIR: '.data/audit-digests',
  AUDIT_DIGEST_EVERY_MS: 60_000,
  AUDIT_DIGEST_MAX_SILENCE_MS: 3_600_000,
  AUDIT_DIGEST_KEY_ROTATION_CRON: '0 4 1 * *',
  AUDIT_DIGEST_KEY_ROTATION_TZ: 'UTC',
} as const;

/** Signed digests of the audit chains (docs/AUDIT_LOGGING.md, "Signed digests"). */
export interface AuditDigestConfig {
  /**
   * The append-only directory the audit writer keeps every digest in, one file per chain and hour
   * (absolute). @defaultValue AUDIT_DIGEST_DEFAULTS.AUDIT_DIGEST_DIR under the working directory
   */
  dir: string;
  /** How often the audit writer signs a digest of each chain that grew. @defaultValue AUDIT_DIGEST_DEFAULTS.AUDIT_DIGEST_EVERY_MS */
  everyMs: number;
  /** The longest a chain goes without a digest, even when nothing happens. @defaultValue AUDIT_DIGEST_DEFAULTS.AUDIT_DIGEST_MAX_SILENCE_MS */
  maxSilenceMs: number;
  /**
   * When the maintenance worker rotates the digest signing key (AUDIT_DIGEST_KEY_ROTATION_CRON in
   * _TZ, or _EVERY_MS). @defaultValue AUDIT_DIGEST_DEFAULTS.AUDIT_DIGEST_KEY_ROTATION_CRON in AUDIT_DIGEST_DEFAULTS.AUDIT_DIGEST_KEY_ROTATION_TZ
   */
  keyRotationSchedule: Schedule;
}

export function parseAuditDigests(env: Env): AuditDigestConfig {
  const everyMs = parseInteger('AUDIT_DIGEST_EVERY_MS', env.AUDIT_DIGEST_EVERY_MS, AUDIT_DIGEST_DEFAULTS.AUDIT_DIGEST_EVERY_MS, 100, 3_600_000);
  const maxSilenceMs = parseInteger(
    'AUDIT_DIGEST_MAX_SILENCE_MS',
    env.AUDIT_DIGEST_MAX_SILENCE_MS,
    AUDIT_DIGEST_DEFAULTS.AUDIT_DIGEST_MAX_SILENCE_MS,
    100,
    86_400_000,
  );
  if (maxSilenceMs < everyMs) throw new ConfigError('AUDIT_DIGEST_MAX_SILENCE_MS', `must be at least AUDIT_DIGEST_EVERY_MS (${everyMs})`);
  return {
    dir: path.resolve(env.AUDIT_DIGEST_DIR?.trim() || AUDIT_DIGEST_DEFAULTS.AUDIT_DIGEST_DIR),
    everyMs,
    maxSilenceMs,
    keyRotationSchedule: parseSchedule(env, 'AUDIT_DIGEST_KEY_ROTATION', {
      cron: AUDIT_DIGEST_DEFAULTS.AUDIT_DIGEST_KEY_ROTATION_CRON,
      tz: AUDIT_DIGEST_DEFAULTS.AUDIT_DIGEST_KEY_ROTATION_TZ,
    }),
  };
}
