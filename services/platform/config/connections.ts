import { Secret } from '../secret.ts';
import { ConfigError } from './config-error.ts';
import { parseBoolean, parseChoice, type Env } from './parse.ts';
import { readSecret } from './secrets.ts';

/** The parts a database or Redis URL is built from when no whole URL is given, and the BullMQ key prefix. */
export const CONNECTION_DEFAULTS = {
  POSTGRES_PORT: '5432',
  POSTGRES_USER: 'artstore',
  POSTGRES_DB: 'artstore',
  REDIS_PORT: '6379',
  REDIS_DB: '0',
  REDIS_TLS: false,
  BULLMQ_PREFIX: 'artstore',
} as const;

/**
 * How a database URL built from POSTGRES_* asks for TLS (libpq's sslmode, as node-postgres reads it).
 * `verify-full` checks the server's chain against TLS_CA_FILE and its name against POSTGRES_HOST.
 */
export const POSTGRES_SSLMODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;

function buildUrl(scheme: string, user: string, password: Secret | undefined, host: string, port: string, path: string, query = new URLSearchParams()) {
  const auth = password ? `${encodeURIComponent(user)}:${encodeURIComponent(password.reveal())}@` : user ? `${encodeURIComponent(user)}@` : '';
  // A host that is a directory is PostgreSQL's Unix socket: libpq, node-postgres and Prisma take it as ?host=.
  if (host.startsWith('/')) {
    query.set('host', host);
    host = 'localhost';
  }
  const search = query.size ? `?${query.toString()}` : '';
  return new Secret(`${scheme}://${auth}${host}:${port}/${path}${search}`);
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

/**
 * DATABASE_URL(_FILE), else one built from POSTGRES_HOST/PORT/USER/DB and POSTGRES_PASSWORD(_FILE),
 * with POSTGRES_SSLMODE and, for the verify modes, TLS_CA_FILE as the root certificates. POSTGRES_HOST
 * may be a socket directory (`/var/run/postgresql`).
 */
export function loadDatabaseUrl(env: Env): Secret {
  const url = readSecret(env, 'DATABASE_URL');
  const password = readSecret(env, 'POSTGRES_PASSWORD');
  if (url) return checkUrl('DATABASE_URL', url, ['postgresql:', 'postgres:']);
  if (!env.POSTGRES_HOST) {
    throw new ConfigError('DATABASE_URL', 'not set (set DATABASE_URL, DATABASE_URL_FILE or POSTGRES_HOST with POSTGRES_PASSWORD_FILE)');
  }
  const { POSTGRES_USER, POSTGRES_PORT, POSTGRES_DB } = CONNECTION_DEFAULTS;
  const query = new URLSearchParams();
  const sslmode = env.POSTGRES_SSLMODE?.trim();
  if (sslmode) {
    query.set('sslmode', parseChoice('POSTGRES_SSLMODE', sslmode, POSTGRES_SSLMODES));
    const caFile = env.TLS_CA_FILE?.trim();
    if (sslmode.startsWith('verify-') && caFile) query.set('sslrootcert', caFile);
  }
  return buildUrl(
    'postgresql',
    env.POSTGRES_USER ?? POSTGRES_USER,
    password,
    env.POSTGRES_HOST,
    env.POSTGRES_PORT ?? POSTGRES_PORT,
    env.POSTGRES_DB ?? POSTGRES_DB,
    query,
  );
}

/** REDIS_URL(_FILE), else one built from REDIS_HOST/PORT/DB and REDIS_PASSWORD(_FILE); `rediss://` with REDIS_TLS=true. */
export function loadRedisUrl(env: Env): Secret {
  const url = readSecret(env, 'REDIS_URL');
  const password = readSecret(env, 'REDIS_PASSWORD');
  if (url) return checkUrl('REDIS_URL', url, ['redis:', 'rediss:']);
  if (!env.REDIS_HOST) {
    throw new ConfigError('REDIS_URL', 'not set (set REDIS_URL, REDIS_URL_FILE or REDIS_HOST with REDIS_PASSWORD_FILE)');
  }
  const scheme = parseBoolean('REDIS_TLS', env.REDIS_TLS, CONNECTION_DEFAULTS.REDIS_TLS) ? 'rediss' : 'redis';
  return buildUrl(scheme, '', password, env.REDIS_HOST, env.REDIS_PORT ?? CONNECTION_DEFAULTS.REDIS_PORT, env.REDIS_DB ?? CONNECTION_DEFAULTS.REDIS_DB);
}

export function parseBullmqPrefix(env: Env): string {
  const prefix = env.BULLMQ_PREFIX ?? CONNECTION_DEFAULTS.BULLMQ_PREFIX;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(prefix)) throw new ConfigError('BULLMQ_PREFIX', 'must be 1-64 letters, digits, _ . or -');
  return prefix;
}
