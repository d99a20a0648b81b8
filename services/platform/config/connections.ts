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

/** One node of a Redis Cluster as REDIS_CLUSTER_NODES names it. */
export interface RedisNodeAddress {
  host: string;
  port: number;
}

/**
 * Where a process's Redis is: one server by URL (REDIS_URL or its parts), or a Redis Cluster by the
 * nodes it is first asked about (REDIS_CLUSTER_NODES; the client learns the others from them), with
 * REDIS_PASSWORD for every node and REDIS_TLS for TLS to every node.
 */
export type RedisConfig = StandaloneRedis | { mode: 'cluster'; nodes: RedisNodeAddress[]; password: Secret | undefined; tls: boolean };
export type StandaloneRedis = { mode: 'standalone'; url: Secret };

/** A single server at `url`: for tests and tools that are handed a URL rather than a configuration. */
export const standaloneRedis = (url: string | Secret): StandaloneRedis => ({ mode: 'standalone', url: url instanceof Secret ? url : new Secret(url) });

/** `host:port,host:port` (an IPv6 host in brackets: `[::1]:7000`). */
function parseClusterNodes(raw: string): RedisNodeAddress[] {
  const nodes = raw
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item) => {
      const match = /^(?:\[([^\]]+)\]|([^:\s]+)):(\d{1,5})$/.exec(item);
      const port = Number(match?.[3]);
      if (!match || port < 1 || port > 65535) throw new ConfigError('REDIS_CLUSTER_NODES', `"${item}" is not host:port`);
      return { host: match[1] ?? match[2]!, port };
    });
  if (nodes.length === 0) throw new ConfigError('REDIS_CLUSTER_NODES', 'names no node (host:port,host:port)');
  return nodes;
}

/**
 * REDIS_CLUSTER_NODES for a cluster; else REDIS_URL(_FILE), else one built from REDIS_HOST/PORT/DB and
 * REDIS_PASSWORD(_FILE), `rediss://` with REDIS_TLS=true.
 */
export function loadRedis(env: Env): RedisConfig {
  const clusterNodes = env.REDIS_CLUSTER_NODES?.trim();
  const url = readSecret(env, 'REDIS_URL');
  const password = readSecret(env, 'REDIS_PASSWORD');
  const tls = parseBoolean('REDIS_TLS', env.REDIS_TLS, CONNECTION_DEFAULTS.REDIS_TLS);
  if (clusterNodes) {
    // Two addresses for one Redis would leave the reader guessing which one the processes use.
    if (url) throw new ConfigError('REDIS_URL', 'is set with REDIS_CLUSTER_NODES; give only one');
    // A cluster has only database 0: another would be silently ignored.
    if ((env.REDIS_DB ?? CONNECTION_DEFAULTS.REDIS_DB).trim() !== '0')
      throw new ConfigError('REDIS_DB', 'must be 0 with REDIS_CLUSTER_NODES (a cluster has only database 0)');
    return { mode: 'cluster', nodes: parseClusterNodes(clusterNodes), password, tls };
  }
  if (url) return { mode: 'standalone', url: checkUrl('REDIS_URL', url, ['redis:', 'rediss:']) };
  if (!env.REDIS_HOST) {
    throw new ConfigError('REDIS_URL', 'not set (set REDIS_URL, REDIS_URL_FILE, REDIS_CLUSTER_NODES or REDIS_HOST with REDIS_PASSWORD_FILE)');
  }
  return {
    mode: 'standalone',
    url: buildUrl(
      tls ? 'rediss' : 'redis',
      '',
      password,
      env.REDIS_HOST,
      env.REDIS_PORT ?? CONNECTION_DEFAULTS.REDIS_PORT,
      env.REDIS_DB ?? CONNECTION_DEFAULTS.REDIS_DB,
    ),
  };
}

/** A hash tag: the part of a key Redis Cluster hashes to pick its slot. */
const HASH_TAG = /\{[^{}]+\}/;

/**
 * BULLMQ_PREFIX as the keys use it. A queue's keys must share one cluster slot (BullMQ's scripts
 * touch several at once), so with REDIS_CLUSTER_NODES a prefix without a hash tag is wrapped in one:
 * `artstore` becomes `{artstore}`. A prefix that holds a tag (`{artstore}`, `eu-{artstore}`) is kept.
 */
export function parseBullmqPrefix(env: Env): string {
  const prefix = env.BULLMQ_PREFIX ?? CONNECTION_DEFAULTS.BULLMQ_PREFIX;
  const tag = HASH_TAG.exec(prefix)?.[0];
  const rest = tag ? prefix.replace(tag, '') : prefix;
  if (!/^[A-Za-z0-9_.-]{0,64}$/.test(rest) || (!tag && rest === '') || prefix.length > 64 || (tag && !/^\{[A-Za-z0-9_.-]+\}$/.test(tag))) {
    throw new ConfigError('BULLMQ_PREFIX', 'must be 1-64 letters, digits, _ . or -, with at most one {hash tag} of the same');
  }
  return tag || !env.REDIS_CLUSTER_NODES?.trim() ? prefix : `{${prefix}}`;
}
