import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { Secret } from './secret.ts';

export type ServiceName = 'admin' | 'storage-element' | 'ingester' | 'query' | 'audit-writer' | 'maintenance';
export type Environment = 'development' | 'test' | 'staging' | 'production';
export type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULT_PORTS: Readonly<Record<ServiceName, number>> = {
  admin: 8000,
  'storage-element': 8010,
  ingester: 8020,
  query: 8030,
  'audit-writer': 9100,
  maintenance: 9101,
};

/** Every secret a process may read; each may come as NAME or NAME_FILE (Docker secrets). */
export type SecretName =
  | 'DATABASE_URL'
  | 'POSTGRES_PASSWORD'
  | 'REDIS_URL'
  | 'REDIS_PASSWORD'
  | 'AUDIT_LOG_SECRET_KEY'
  | 'JWT_KEY_ENCRYPTION_KEY'
  | 'ADMIN_BOOTSTRAP_CLIENT_SECRET'
  | 'STORAGE_CLIENT_SECRET';

/** Which processes cannot do their work without which key. */
const REQUIRED_KEYS: Readonly<Record<ServiceName, readonly SecretName[]>> = {
  admin: ['JWT_KEY_ENCRYPTION_KEY', 'AUDIT_LOG_SECRET_KEY'],
  'storage-element': [],
  ingester: [],
  query: [],
  'audit-writer': ['AUDIT_LOG_SECRET_KEY'],
  maintenance: ['JWT_KEY_ENCRYPTION_KEY', 'AUDIT_LOG_SECRET_KEY'],
};

const PLACEHOLDER_MARKERS = ['REPLACE_WITH', 'CHANGE_THIS', 'changeme'];
export const MIN_SECRET_LENGTH = 32;

export class ConfigError extends Error {
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

export interface CorsConfig {
  /** Exact origins; `*` only outside production and never with credentials. @defaultValue ['http://localhost:4200'] */
  allowedOrigins: string[];
  /** Matched against the whole Origin header (anchored). @defaultValue undefined */
  allowedOriginsRegex?: RegExp;
  /** @defaultValue true */
  allowCredentials: boolean;
  /** @defaultValue ['GET','POST','PUT','DELETE','PATCH','OPTIONS'] */
  allowedMethods: string[];
  /** `['*']` reflects the requested headers. @defaultValue ['Authorization','Content-Type','X-Request-Id'] */
  allowedHeaders: string[];
  /** @defaultValue ['X-Request-Id'] */
  exposeHeaders: string[];
  /** Seconds a browser may cache a preflight. @defaultValue 600 */
  maxAge: number;
}

export type JwtAlgorithm = 'RS256' | 'ES256' | 'EdDSA';
export const JWT_ALGORITHMS: readonly JwtAlgorithm[] = ['RS256', 'ES256', 'EdDSA'];

/** When a BullMQ job scheduler fires: a cron pattern in a timezone, or a fixed interval (tests, drills). */
export type Schedule = { pattern: string; tz: string } | { every: number };

export interface JwtConfig {
  /** Algorithm of newly generated signing keys. @defaultValue 'RS256' */
  algorithm: JwtAlgorithm;
  /** `iss` of issued tokens, checked by every verifier. @defaultValue 'artstore-admin' */
  issuer: string;
  /** `aud` of issued tokens, checked by every verifier. @defaultValue 'artstore' */
  audience: string;
  /** Token lifetime. @defaultValue 1800 */
  accessTokenTtlSeconds: number;
  /** How long a replaced key keeps verifying; at least the token lifetime plus clock tolerance. @defaultValue 3600 */
  gracePeriodSeconds: number;
  /** Accepted clock skew for exp/nbf/iat. @defaultValue 30 */
  clockToleranceSeconds: number;
  /** Daily rotation. @defaultValue { pattern: '0 2 * * *', tz: 'UTC' } */
  rotationSchedule: Schedule;
  /** Weekly cleanup. @defaultValue { pattern: '0 3 * * 0', tz: 'UTC' } */
  cleanupSchedule: Schedule;
  /** Retired and revoked keys are deleted this long after leaving the JWKS. @defaultValue 30 */
  keyRetentionDays: number;
  /** Base URL of the admin module; verifiers fetch `${adminUrl}/.well-known/jwks.json`. @defaultValue 'http://127.0.0.1:8000' */
  adminUrl: string;
  /** How long a verifier trusts its cached JWKS; also the bound on revocation. @defaultValue 300 */
  jwksCacheMaxAgeSeconds: number;
  /** After a fetch, an unknown kid waits this long before the JWKS is fetched again. @defaultValue 30 */
  jwksCooldownSeconds: number;
  /** How long the previous client secret stays valid after a secret rotation. @defaultValue 3600 */
  secretRotationOverlapSeconds: number;
}

export interface AuditKey {
  id: string;
  key: Secret;
}

/** The validated configuration of one process, read once at start-up. */
export interface Config {
  service: ServiceName;
  /** @defaultValue 'development' */
  environment: Environment;
  /** @defaultValue 'info' */
  logLevel: string;
  http: {
    /** @defaultValue '0.0.0.0' */
    host: string;
    /** 0 picks a free port (tests). @defaultValue DEFAULT_PORTS[service] */
    port: number;
    /** @defaultValue '1mb' */
    bodyLimit: string;
    /** Express `trust proxy` value: false, true, a hop count or a list of subnets. @defaultValue false */
    trustProxy: boolean | number | string;
  };
  databaseUrl: Secret;
  redisUrl: Secret;
  /** Prefix of every BullMQ key in Redis. @defaultValue 'artstore' */
  bullmqPrefix: string;
  cors: CorsConfig;
  /** HMAC key ring: the first key signs, all verify. Required by admin, audit-writer, maintenance. */
  auditKeys: AuditKey[];
  /** 32-byte AES-256-GCM key encrypting JWT private keys at rest. Required by admin, maintenance. */
  jwtKeyEncryptionKey?: Secret;
  adminBootstrap: { clientId?: string; clientSecret?: Secret };
  jwt: JwtConfig;
  audit: {
    /** @defaultValue 2555 (about seven years) */
    retentionDays: number;
    /**
     * What a publish does when Redis is unreachable: `fail-closed` answers 503, `spool` appends the event
     * to the local spool and replays it later. @defaultValue 'spool' in development, else 'fail-closed'
     */
    delivery: AuditDelivery;
    /** Directory of the local durable spool (absolute). @defaultValue `.data/audit-spool/<service>` under the working directory */
    spoolDir: string;
    /** How often the audit writer records a checkpoint of each chain head (AUDIT_CHECKPOINT_EVERY_MS). @defaultValue 60000 */
    checkpointEveryMs: number;
  };
  storage: StorageConfig;
}

/** The file archive: storage elements, uploads and the module-to-module `storage` account. */
export interface StorageConfig {
  /** Id of this storage element (STORAGE_ELEMENT_ID). @defaultValue 'hot' */
  elementId: string;
  /** Directory of this storage element's content (STORAGE_ROOT, absolute). @defaultValue `.data/storage/<elementId>` under the working directory */
  root: string;
  /** Base URL registered for this storage element (STORAGE_ELEMENT_PUBLIC_URL). @defaultValue its own listening URL */
  publicUrl?: string;
  /** Storage element that receives uploads (UPLOAD_STORAGE_ELEMENT). @defaultValue 'hot' */
  uploadElement: string;
  /** Largest file an upload may carry, in bytes (UPLOAD_MAX_BYTES). @defaultValue 10737418240 (10 GiB) */
  uploadMaxBytes: number;
  /**
   * The `storage` service account the modules call each other with (STORAGE_CLIENT_ID,
   * STORAGE_CLIENT_SECRET or _FILE); admin creates it at start when it does not exist. Without
   * it ingester and query start, warn, and answer file operations with 503. @defaultValue unset
   */
  client: { clientId?: string; clientSecret?: Secret };
}

const STORAGE_ELEMENT_ID = /^[a-z0-9][a-z0-9_-]{0,49}$/;
const STORAGE_CLIENT_ID = /^[a-z0-9][a-z0-9._-]{2,63}$/;

function parseElementId(name: string, raw: string | undefined): string {
  const value = (raw ?? '').trim() || 'hot';
  if (!STORAGE_ELEMENT_ID.test(value)) throw new ConfigError(name, 'must be 1-50 of a-z 0-9 _ - starting with a letter or digit');
  return value;
}

function parseStorage(env: Env): StorageConfig {
  const elementId = parseElementId('STORAGE_ELEMENT_ID', env.STORAGE_ELEMENT_ID);
  const publicUrl = env.STORAGE_ELEMENT_PUBLIC_URL?.trim().replace(/\/+$/, '') || undefined;
  if (publicUrl !== undefined) {
    let protocol = '';
    try {
      protocol = new URL(publicUrl).protocol;
    } catch {
      // reported below
    }
    if (!/^https?:$/.test(protocol)) throw new ConfigError('STORAGE_ELEMENT_PUBLIC_URL', 'must be an http(s) URL');
  }
  const clientId = env.STORAGE_CLIENT_ID?.trim() || undefined;
  const clientSecret = readSecret(env, 'STORAGE_CLIENT_SECRET');
  if (clientId !== undefined && !STORAGE_CLIENT_ID.test(clientId)) {
    throw new ConfigError('STORAGE_CLIENT_ID', 'must be 3-64 of a-z 0-9 . _ - starting with a letter or digit');
  }
  if (Boolean(clientId) !== Boolean(clientSecret)) {
    throw new ConfigError(clientId ? 'STORAGE_CLIENT_SECRET' : 'STORAGE_CLIENT_ID', 'STORAGE_CLIENT_ID and STORAGE_CLIENT_SECRET (or _FILE) must be given together');
  }
  return {
    elementId,
    root: path.resolve(env.STORAGE_ROOT?.trim() || path.join('.data', 'storage', elementId)),
    publicUrl,
    uploadElement: parseElementId('UPLOAD_STORAGE_ELEMENT', env.UPLOAD_STORAGE_ELEMENT),
    uploadMaxBytes: parseInteger('UPLOAD_MAX_BYTES', env.UPLOAD_MAX_BYTES, 10 * 2 ** 30, 1, Number.MAX_SAFE_INTEGER),
    client: { clientId, clientSecret },
  };
}

/** Reads a secret given as NAME or NAME_FILE; both set, or an unreadable file, is an error. */
export function readSecret(env: Env, name: SecretName): Secret | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct !== undefined && direct !== '' && file !== undefined && file !== '') {
    throw new ConfigError(name, `both ${name} and ${name}_FILE are set; give only one`);
  }
  if (file !== undefined && file !== '') {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const reason = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new ConfigError(`${name}_FILE`, `cannot read secret file ${file} (${reason})`);
    }
    const value = text.replace(/\r?\n+$/, '');
    if (value === '') throw new ConfigError(`${name}_FILE`, `secret file ${file} is empty`);
    return new Secret(value);
  }
  if (direct === undefined || direct === '') return undefined;
  return new Secret(direct);
}

function buildUrl(scheme: string, user: string, password: Secret | undefined, host: string, port: string, path: string) {
  const auth = password ? `${encodeURIComponent(user)}:${encodeURIComponent(password.reveal())}@` : user ? `${encodeURIComponent(user)}@` : '';
  return new Secret(`${scheme}://${auth}${host}:${port}/${path}`);
}

/** DATABASE_URL(_FILE), else one built from POSTGRES_HOST/PORT/USER/DB and POSTGRES_PASSWORD(_FILE). */
export function loadDatabaseUrl(env: Env): Secret {
  const url = readSecret(env, 'DATABASE_URL');
  const password = readSecret(env, 'POSTGRES_PASSWORD');
  if (url) return checkUrl('DATABASE_URL', url, ['postgresql:', 'postgres:']);
  if (!env.POSTGRES_HOST) {
    throw new ConfigError('DATABASE_URL', 'not set (set DATABASE_URL, DATABASE_URL_FILE or POSTGRES_HOST with POSTGRES_PASSWORD_FILE)');
  }
  return buildUrl('postgresql', env.POSTGRES_USER ?? 'artstore', password, env.POSTGRES_HOST, env.POSTGRES_PORT ?? '5432', env.POSTGRES_DB ?? 'artstore');
}

/** REDIS_URL(_FILE), else one built from REDIS_HOST/PORT/DB and REDIS_PASSWORD(_FILE). */
export function loadRedisUrl(env: Env): Secret {
  const url = readSecret(env, 'REDIS_URL');
  const password = readSecret(env, 'REDIS_PASSWORD');
  if (url) return checkUrl('REDIS_URL', url, ['redis:', 'rediss:']);
  if (!env.REDIS_HOST) {
    throw new ConfigError('REDIS_URL', 'not set (set REDIS_URL, REDIS_URL_FILE or REDIS_HOST with REDIS_PASSWORD_FILE)');
  }
  return buildUrl('redis', '', password, env.REDIS_HOST, env.REDIS_PORT ?? '6379', env.REDIS_DB ?? '0');
}

function checkUrl(name: string, url: Secret, schemes: string[]): Secret {
  let parsed: URL;
  try {
    parsed = new URL(url.reveal());
  } catch {
    throw new ConfigError(name, 'is not a valid URL');
  }
  if (!schemes.includes(parsed.protocol)) {
    throw new ConfigError(name, `must start with ${schemes.map((s) => `${s}//`).join(' or ')}`);
  }
  return url;
}

const AUDIT_KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** `id:key[,id:key…]`; a value without a colon is one key with id `k1`. */
export function parseAuditKeyRing(secret: Secret): AuditKey[] {
  const text = secret.reveal();
  const entries = text.includes(':') ? text.split(',') : [`k1:${text}`];
  const keys = entries.map((entry) => {
    const at = entry.indexOf(':');
    const id = entry.slice(0, at).trim();
    const key = entry.slice(at + 1).trim();
    if (at < 0 || !AUDIT_KEY_ID.test(id) || key === '') {
      throw new ConfigError('AUDIT_LOG_SECRET_KEY', 'must be id:key[,id:key…] with ids of letters, digits, _ or -');
    }
    return { id, key: new Secret(key) };
  });
  const ids = new Set(keys.map((k) => k.id));
  if (ids.size !== keys.length) throw new ConfigError('AUDIT_LOG_SECRET_KEY', 'key ids must be unique');
  return keys;
}

function parseList(name: string, raw: string | undefined, fallback: string[]): string[] {
  if (raw === undefined || raw.trim() === '') return fallback;
  const text = raw.trim();
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ConfigError(name, 'is not a valid JSON array');
    }
    if (!Array.isArray(parsed) || !parsed.every((v) => typeof v === 'string')) {
      throw new ConfigError(name, 'must be a JSON array of strings');
    }
    return parsed.map((v) => v.trim()).filter(Boolean);
  }
  return text.split(',').map((v) => v.trim()).filter(Boolean);
}

function parseCors(env: Env, environment: Environment): CorsConfig {
  const allowedOrigins = parseList('CORS_ALLOWED_ORIGINS', env.CORS_ALLOWED_ORIGINS, ['http://localhost:4200']);
  for (const origin of allowedOrigins) {
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
  const allowCredentials = parseBoolean('CORS_ALLOW_CREDENTIALS', env.CORS_ALLOW_CREDENTIALS, true);
  if (allowedOrigins.includes('*')) {
    if (environment === 'production') {
      throw new ConfigError('CORS_ALLOWED_ORIGINS', 'wildcard "*" CORS origin is not allowed in production; list the allowed origins');
    }
    if (allowCredentials) {
      throw new ConfigError('CORS_ALLOWED_ORIGINS', 'wildcard "*" CORS origin cannot be combined with CORS_ALLOW_CREDENTIALS=true');
    }
  }
  let allowedOriginsRegex: RegExp | undefined;
  const regex = env.CORS_ALLOWED_ORIGINS_REGEX?.trim();
  if (regex) {
    try {
      allowedOriginsRegex = new RegExp(`^(?:${regex})$`);
    } catch (err) {
      throw new ConfigError('CORS_ALLOWED_ORIGINS_REGEX', `is not a valid regular expression (${(err as Error).message})`);
    }
  }
  return {
    allowedOrigins,
    allowedOriginsRegex,
    allowCredentials,
    allowedMethods: parseList('CORS_ALLOWED_METHODS', env.CORS_ALLOWED_METHODS, ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']).map((m) => m.toUpperCase()),
    allowedHeaders: parseList('CORS_ALLOWED_HEADERS', env.CORS_ALLOWED_HEADERS, ['Authorization', 'Content-Type', 'X-Request-Id']),
    exposeHeaders: parseList('CORS_EXPOSE_HEADERS', env.CORS_EXPOSE_HEADERS, ['X-Request-Id']),
    maxAge: parseInteger('CORS_MAX_AGE', env.CORS_MAX_AGE, 600, 0, 86_400),
  };
}

function parseBoolean(name: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined || raw === '') return fallback;
  const value = raw.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(value)) return true;
  if (['false', '0', 'no'].includes(value)) return false;
  throw new ConfigError(name, `must be true or false, got "${raw}"`);
}

function parseInteger(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  const result = z.coerce.number().int().min(min).max(max).safeParse(raw.trim());
  if (!result.success) throw new ConfigError(name, `must be a whole number from ${min} to ${max}, got "${raw}"`);
  return result.data;
}

function parseTrustProxy(raw: string | undefined): boolean | number | string {
  if (raw === undefined || raw === '') return false;
  if (/^\d+$/.test(raw)) return Number(raw);
  const lower = raw.toLowerCase();
  if (lower === 'true' || lower === 'false') return lower === 'true';
  return raw;
}

function parseSchedule(prefix: string, env: Env, fallbackPattern: string): Schedule {
  const every = env[`${prefix}_EVERY_MS`];
  if (every !== undefined && every !== '') {
    return { every: parseInteger(`${prefix}_EVERY_MS`, every, 0, 100, 366 * 86_400_000) };
  }
  const pattern = (env[`${prefix}_CRON`] ?? fallbackPattern).trim();
  const fields = pattern.split(/\s+/);
  if (fields.length < 5 || fields.length > 6 || !fields.every((f) => /^[0-9*,/?LW#A-Za-z-]+$/.test(f))) {
    throw new ConfigError(`${prefix}_CRON`, `"${pattern}" is not a cron pattern (minute hour day month weekday)`);
  }
  const tz = env[`${prefix}_TZ`] ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
  } catch {
    throw new ConfigError(`${prefix}_TZ`, `"${tz}" is not a known time zone`);
  }
  return { pattern, tz };
}

function parseJwt(env: Env): JwtConfig {
  const algorithm = (env.JWT_ALGORITHM ?? 'RS256') as JwtAlgorithm;
  if (!JWT_ALGORITHMS.includes(algorithm)) throw new ConfigError('JWT_ALGORITHM', `must be one of ${JWT_ALGORITHMS.join(', ')}`);
  const accessTokenTtlSeconds = parseInteger('JWT_ACCESS_TOKEN_TTL_SECONDS', env.JWT_ACCESS_TOKEN_TTL_SECONDS, 1800, 10, 86_400);
  const clockToleranceSeconds = parseInteger('JWT_CLOCK_TOLERANCE_SECONDS', env.JWT_CLOCK_TOLERANCE_SECONDS, 30, 0, 300);
  const gracePeriodSeconds = parseInteger('JWT_KEY_GRACE_PERIOD_SECONDS', env.JWT_KEY_GRACE_PERIOD_SECONDS, 3600, 1, 7 * 86_400);
  if (gracePeriodSeconds < accessTokenTtlSeconds + clockToleranceSeconds) {
    throw new ConfigError(
      'JWT_KEY_GRACE_PERIOD_SECONDS',
      `must be at least the token lifetime plus clock tolerance (${accessTokenTtlSeconds + clockToleranceSeconds} s) so no live token outlives its key`,
    );
  }
  const adminUrl = (env.ADMIN_URL ?? 'http://127.0.0.1:8000').replace(/\/+$/, '');
  try {
    if (!/^https?:$/.test(new URL(adminUrl).protocol)) throw new Error();
  } catch {
    throw new ConfigError('ADMIN_URL', 'must be an http(s) URL');
  }
  return {
    algorithm,
    issuer: env.JWT_ISSUER ?? 'artstore-admin',
    audience: env.JWT_AUDIENCE ?? 'artstore',
    accessTokenTtlSeconds,
    gracePeriodSeconds,
    clockToleranceSeconds,
    rotationSchedule: parseSchedule('JWT_KEY_ROTATION', env, '0 2 * * *'),
    cleanupSchedule: parseSchedule('CLEANUP', env, '0 3 * * 0'),
    keyRetentionDays: parseInteger('JWT_KEY_RETENTION_DAYS', env.JWT_KEY_RETENTION_DAYS, 30, 1, 3650),
    adminUrl,
    jwksCacheMaxAgeSeconds: parseInteger('JWKS_CACHE_MAX_AGE_SECONDS', env.JWKS_CACHE_MAX_AGE_SECONDS, 300, 1, 86_400),
    jwksCooldownSeconds: parseInteger('JWKS_COOLDOWN_SECONDS', env.JWKS_COOLDOWN_SECONDS, 30, 0, 3600),
    secretRotationOverlapSeconds: parseInteger('SECRET_ROTATION_OVERLAP_SECONDS', env.SECRET_ROTATION_OVERLAP_SECONDS, 3600, 0, 30 * 86_400),
  };
}

export type AuditDelivery = 'fail-closed' | 'spool';

/** Production, staging and test refuse what they cannot audit; only development spools by default. */
function parseAuditDelivery(raw: string | undefined, environment: Environment): AuditDelivery {
  if (raw === undefined || raw.trim() === '') return environment === 'development' ? 'spool' : 'fail-closed';
  const value = raw.trim().toLowerCase();
  if (value === 'fail-closed' || value === 'spool') return value;
  throw new ConfigError('AUDIT_DELIVERY', `must be fail-closed or spool, got "${raw}"`);
}

const environmentSchema = z.enum(['development', 'test', 'staging', 'production']);
const logLevelSchema = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

function refuseWeakSecret(name: string, value: string) {
  const marker = PLACEHOLDER_MARKERS.find((m) => value.toLowerCase().includes(m.toLowerCase()));
  if (marker) throw new ConfigError(name, `still holds a placeholder (contains "${marker}"); generate one with scripts/generate_secrets.sh`);
  if (value.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(name, `is shorter than ${MIN_SECRET_LENGTH} characters; production refuses weak secrets`);
  }
}

function checkProductionSecrets(config: Config, env: Env) {
  for (const name of ['POSTGRES_PASSWORD', 'REDIS_PASSWORD'] as const) {
    const secret = readSecret(env, name);
    if (secret) refuseWeakSecret(name, secret.reveal());
  }
  for (const [name, url] of [['DATABASE_URL', config.databaseUrl], ['REDIS_URL', config.redisUrl]] as const) {
    const password = decodeURIComponent(new URL(url.reveal()).password);
    if (password) refuseWeakSecret(name, password);
  }
  for (const { id, key } of config.auditKeys) refuseWeakSecret(`AUDIT_LOG_SECRET_KEY (key ${id})`, key.reveal());
  if (config.adminBootstrap.clientSecret) refuseWeakSecret('ADMIN_BOOTSTRAP_CLIENT_SECRET', config.adminBootstrap.clientSecret.reveal());
  if (config.storage.client.clientSecret) refuseWeakSecret('STORAGE_CLIENT_SECRET', config.storage.client.clientSecret.reveal());
}

/**
 * Reads and validates the configuration of one process from its environment. The only place that
 * reads environment variables; a missing or bad value throws a ConfigError naming the variable.
 */
export function loadConfig(service: ServiceName, env: Env): Config {
  const envName = environmentSchema.safeParse(env.ENVIRONMENT ?? 'development');
  if (!envName.success) throw new ConfigError('ENVIRONMENT', `must be one of ${environmentSchema.options.join(', ')}`);
  const environment = envName.data;
  const logLevel = logLevelSchema.safeParse((env.LOG_LEVEL ?? 'info').toLowerCase());
  if (!logLevel.success) throw new ConfigError('LOG_LEVEL', `must be one of ${logLevelSchema.options.join(', ')}`);

  const auditSecret = readSecret(env, 'AUDIT_LOG_SECRET_KEY');
  const jwtKeyEncryptionKey = readSecret(env, 'JWT_KEY_ENCRYPTION_KEY');
  if (jwtKeyEncryptionKey && !/^[0-9a-fA-F]{64}$/.test(jwtKeyEncryptionKey.reveal())) {
    refuseWeakSecret('JWT_KEY_ENCRYPTION_KEY', jwtKeyEncryptionKey.reveal());
    throw new ConfigError('JWT_KEY_ENCRYPTION_KEY', 'must be 64 hexadecimal characters (32 bytes)');
  }
  const present: Partial<Record<SecretName, unknown>> = { AUDIT_LOG_SECRET_KEY: auditSecret, JWT_KEY_ENCRYPTION_KEY: jwtKeyEncryptionKey };
  for (const name of REQUIRED_KEYS[service]) {
    if (!present[name]) throw new ConfigError(name, `is required by ${service} (set ${name} or ${name}_FILE)`);
  }

  const prefix = env.BULLMQ_PREFIX ?? 'artstore';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(prefix)) throw new ConfigError('BULLMQ_PREFIX', 'must be 1-64 letters, digits, _ . or -');
  const bodyLimit = env.BODY_LIMIT ?? '1mb';
  if (!/^\d+(?:b|kb|mb)?$/i.test(bodyLimit)) throw new ConfigError('BODY_LIMIT', 'must look like 100kb or 1mb');

  const config: Config = {
    service,
    environment,
    logLevel: logLevel.data,
    http: {
      host: env.HOST ?? '0.0.0.0',
      port: parseInteger('PORT', env.PORT, DEFAULT_PORTS[service], 0, 65_535),
      bodyLimit,
      trustProxy: parseTrustProxy(env.TRUST_PROXY),
    },
    databaseUrl: loadDatabaseUrl(env),
    redisUrl: loadRedisUrl(env),
    bullmqPrefix: prefix,
    cors: parseCors(env, environment),
    auditKeys: auditSecret ? parseAuditKeyRing(auditSecret) : [],
    jwtKeyEncryptionKey,
    adminBootstrap: {
      clientId: env.ADMIN_BOOTSTRAP_CLIENT_ID,
      clientSecret: readSecret(env, 'ADMIN_BOOTSTRAP_CLIENT_SECRET'),
    },
    jwt: parseJwt(env),
    audit: {
      retentionDays: parseInteger('AUDIT_LOG_RETENTION_DAYS', env.AUDIT_LOG_RETENTION_DAYS, 2555, 1, 36_500),
      delivery: parseAuditDelivery(env.AUDIT_DELIVERY, environment),
      spoolDir: path.resolve(env.AUDIT_SPOOL_DIR?.trim() || path.join('.data', 'audit-spool', service)),
      checkpointEveryMs: parseInteger('AUDIT_CHECKPOINT_EVERY_MS', env.AUDIT_CHECKPOINT_EVERY_MS, 60_000, 100, 86_400_000),
    },
    storage: parseStorage(env),
  };
  if (environment === 'production') checkProductionSecrets(config, env);
  return config;
}
