import { ConfigError } from './config-error.ts';
import { checkHttpUrl, parseChoice, parseInteger, parseSchedule, type Env, type Schedule } from './parse.ts';

export const JWT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export const JWT_DEFAULTS = {
  JWT_ALGORITHM: 'RS256',
  JWT_ISSUER: 'artstore-admin',
  JWT_AUDIENCE: 'artstore',
  JWT_ACCESS_TOKEN_TTL_SECONDS: 1800,
  JWT_KEY_GRACE_PERIOD_SECONDS: 3600,
  JWT_CLOCK_TOLERANCE_SECONDS: 30,
  JWT_KEY_ROTATION_CRON: '0 2 * * *',
  JWT_KEY_ROTATION_TZ: 'UTC',
  JWT_KEY_RETENTION_DAYS: 30,
  ADMIN_URL: 'http://127.0.0.1:8000',
  JWKS_CACHE_MAX_AGE_SECONDS: 300,
  JWKS_COOLDOWN_SECONDS: 30,
} as const satisfies { JWT_ALGORITHM: JwtAlgorithm } & Record<string, string | number>;

/** Issuing, verifying and rotating the JWTs every module checks. Each default is the JWT_DEFAULTS entry of its variable. */
export interface JwtConfig {
  /** Algorithm of newly generated signing keys (JWT_ALGORITHM). @defaultValue JWT_DEFAULTS.JWT_ALGORITHM */
  algorithm: JwtAlgorithm;
  /** `iss` of issued tokens, checked by every verifier. @defaultValue JWT_DEFAULTS.JWT_ISSUER */
  issuer: string;
  /** `aud` of issued tokens, checked by every verifier. @defaultValue JWT_DEFAULTS.JWT_AUDIENCE */
  audience: string;
  /** Token lifetime. @defaultValue JWT_DEFAULTS.JWT_ACCESS_TOKEN_TTL_SECONDS */
  accessTokenTtlSeconds: number;
  /** How long a replaced key keeps verifying; at least the token lifetime plus clock tolerance. @defaultValue JWT_DEFAULTS.JWT_KEY_GRACE_PERIOD_SECONDS */
  gracePeriodSeconds: number;
  /** Accepted clock skew for exp/nbf/iat. @defaultValue JWT_DEFAULTS.JWT_CLOCK_TOLERANCE_SECONDS */
  clockToleranceSeconds: number;
  /** Daily rotation. @defaultValue JWT_DEFAULTS.JWT_KEY_ROTATION_CRON in JWT_DEFAULTS.JWT_KEY_ROTATION_TZ */
  rotationSchedule: Schedule;
  /** Retired and revoked keys are deleted this long after leaving the JWKS. @defaultValue JWT_DEFAULTS.JWT_KEY_RETENTION_DAYS */
  keyRetentionDays: number;
  /** Base URL of the admin module; verifiers fetch `${adminUrl}/.well-known/jwks.json`. @defaultValue JWT_DEFAULTS.ADMIN_URL */
  adminUrl: string;
  /** How long a verifier trusts its cached JWKS; also the bound on revocation. @defaultValue JWT_DEFAULTS.JWKS_CACHE_MAX_AGE_SECONDS */
  jwksCacheMaxAgeSeconds: number;
  /** After a fetch, an unknown kid waits this long before the JWKS is fetched again. @defaultValue JWT_DEFAULTS.JWKS_COOLDOWN_SECONDS */
  jwksCooldownSeconds: number;
}

export function parseJwt(env: Env): JwtConfig {
  const algorithm = parseChoice('JWT_ALGORITHM', env.JWT_ALGORITHM ?? JWT_DEFAULTS.JWT_ALGORITHM, JWT_ALGORITHMS);
  const accessTokenTtlSeconds = parseInteger(
    'JWT_ACCESS_TOKEN_TTL_SECONDS',
    env.JWT_ACCESS_TOKEN_TTL_SECONDS,
    JWT_DEFAULTS.JWT_ACCESS_TOKEN_TTL_SECONDS,
    10,
    86_400,
  );
  const clockToleranceSeconds = parseInteger('JWT_CLOCK_TOLERANCE_SECONDS', env.JWT_CLOCK_TOLERANCE_SECONDS, JWT_DEFAULTS.JWT_CLOCK_TOLERANCE_SECONDS, 0, 300);
  const gracePeriodSeconds = parseInteger(
    'JWT_KEY_GRACE_PERIOD_SECONDS',
    env.JWT_KEY_GRACE_PERIOD_SECONDS,
    JWT_DEFAULTS.JWT_KEY_GRACE_PERIOD_SECONDS,
    1,
    7 * 86_400,
  );
  if (gracePeriodSeconds < accessTokenTtlSeconds + clockToleranceSeconds) {
    throw new ConfigError(
      'JWT_KEY_GRACE_PERIOD_SECONDS',
      `must be at least the token lifetime plus clock tolerance (${accessTokenTtlSeconds + clockToleranceSeconds} s) so no live token outlives its key`,
    );
  }
  return {
    algorithm,
    issuer: env.JWT_ISSUER ?? JWT_DEFAULTS.JWT_ISSUER,
    audience: env.JWT_AUDIENCE ?? JWT_DEFAULTS.JWT_AUDIENCE,
    accessTokenTtlSeconds,
    gracePeriodSeconds,
    clockToleranceSeconds,
    rotationSchedule: parseSchedule(env, 'JWT_KEY_ROTATION', { cron: JWT_DEFAULTS.JWT_KEY_ROTATION_CRON, tz: JWT_DEFAULTS.JWT_KEY_ROTATION_TZ }),
    keyRetentionDays: parseInteger('JWT_KEY_RETENTION_DAYS', env.JWT_KEY_RETENTION_DAYS, JWT_DEFAULTS.JWT_KEY_RETENTION_DAYS, 1, 3650),
    adminUrl: checkHttpUrl('ADMIN_URL', (env.ADMIN_URL ?? JWT_DEFAULTS.ADMIN_URL).replace(/\/+$/, '')),
    jwksCacheMaxAgeSeconds: parseInteger('JWKS_CACHE_MAX_AGE_SECONDS', env.JWKS_CACHE_MAX_AGE_SECONDS, JWT_DEFAULTS.JWKS_CACHE_MAX_AGE_SECONDS, 1, 86_400),
    jwksCooldownSeconds: parseInteger('JWKS_COOLDOWN_SECONDS', env.JWKS_COOLDOWN_SECONDS, JWT_DEFAULTS.JWKS_COOLDOWN_SECONDS, 0, 3600),
  };
}
