import { ConfigError } from './config-error.ts';
import type { Environment } from './environment.ts';
import { parseBoolean, parseInteger, parseList, type Env } from './parse.ts';

export const CORS_DEFAULTS = {
  CORS_ALLOWED_ORIGINS: ['http://localhost:4200'],
  CORS_ALLOW_CREDENTIALS: true,
  CORS_ALLOWED_METHODS: ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
  CORS_ALLOWED_HEADERS: ['Authorization', 'Content-Type', 'X-Request-Id'],
  CORS_EXPOSE_HEADERS: ['X-Request-Id'],
  CORS_MAX_AGE: 600,
} as const;

export interface CorsConfig {
  /** Exact origins; `*` only outside production and never with credentials. @defaultValue CORS_DEFAULTS.CORS_ALLOWED_ORIGINS */
  allowedOrigins: string[];
  /** Matched against the whole Origin header (anchored). @defaultValue undefined */
  allowedOriginsRegex?: RegExp;
  /** @defaultValue CORS_DEFAULTS.CORS_ALLOW_CREDENTIALS */
  allowCredentials: boolean;
  /** @defaultValue CORS_DEFAULTS.CORS_ALLOWED_METHODS */
  allowedMethods: string[];
  /** `['*']` reflects the requested headers. @defaultValue CORS_DEFAULTS.CORS_ALLOWED_HEADERS */
  allowedHeaders: string[];
  /** @defaultValue CORS_DEFAULTS.CORS_EXPOSE_HEADERS */
  exposeHeaders: string[];
  /** Seconds a browser may cache a preflight. @defaultValue CORS_DEFAULTS.CORS_MAX_AGE */
  maxAge: number;
}

function checkOrigins(origins: readonly string[]): void {
  for (const origin of origins) {
    if (origin === '*') continue;
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || parsed.origin !== origin) {
      throw new ConfigError('CORS_ALLOWED_ORIGINS', `"${origin}" is not an origin (scheme://host[:port], no path or trailing slash)`);
    }
  }
}

function parseOriginsRegex(raw: string | undefined): RegExp | undefined {
  const regex = raw?.trim();
  if (!regex) return undefined;
  try {
    return new RegExp(`^(?:${regex})$`);
  } catch (err) {
    throw new ConfigError('CORS_ALLOWED_ORIGINS_REGEX', `is not a valid regular expression (${(err as Error).message})`);
  }
}

export function parseCors(env: Env, environment: Environment): CorsConfig {
  const allowedOrigins = parseList('CORS_ALLOWED_ORIGINS', env.CORS_ALLOWED_ORIGINS, CORS_DEFAULTS.CORS_ALLOWED_ORIGINS);
  checkOrigins(allowedOrigins);
  const allowCredentials = parseBoolean('CORS_ALLOW_CREDENTIALS', env.CORS_ALLOW_CREDENTIALS, CORS_DEFAULTS.CORS_ALLOW_CREDENTIALS);
  if (allowedOrigins.includes('*')) {
    if (environment === 'production') {
      throw new ConfigError('CORS_ALLOWED_ORIGINS', 'wildcard "*" CORS origin is not allowed in production; list the allowed origins');
    }
    if (allowCredentials) {
      throw new ConfigError('CORS_ALLOWED_ORIGINS', 'wildcard "*" CORS origin cannot be combined with CORS_ALLOW_CREDENTIALS=true');
    }
  }
  return {
    allowedOrigins,
    allowedOriginsRegex: parseOriginsRegex(env.CORS_ALLOWED_ORIGINS_REGEX),
    allowCredentials,
    allowedMethods: parseList('CORS_ALLOWED_METHODS', env.CORS_ALLOWED_METHODS, CORS_DEFAULTS.CORS_ALLOWED_METHODS).map((m) => m.toUpperCase()),
    allowedHeaders: parseList('CORS_ALLOWED_HEADERS', env.CORS_ALLOWED_HEADERS, CORS_DEFAULTS.CORS_ALLOWED_HEADERS),
    exposeHeaders: parseList('CORS_EXPOSE_HEADERS', env.CORS_EXPOSE_HEADERS, CORS_DEFAULTS.CORS_EXPOSE_HEADERS),
    maxAge: parseInteger('CORS_MAX_AGE', env.CORS_MAX_AGE, CORS_DEFAULTS.CORS_MAX_AGE, 0, 86_400),
  };
}
