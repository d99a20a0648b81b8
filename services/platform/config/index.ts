import type { KeyObject } from 'node:crypto';
import type { Secret } from '../secret.ts';
import { AUDIT_DEFAULTS, AUDIT_DELIVERIES, parseAudit, readAuditKeyRing, type AuditConfig, type AuditKey } from './audit.ts';
import { AUDIT_DIGEST_DEFAULTS, parseAuditDigests, type AuditDigestConfig } from './audit-digests.ts';
import { ConfigProblems } from './config-error.ts';
import { CONNECTION_DEFAULTS, loadDatabaseUrl, loadRedis, parseBullmqPrefix, POSTGRES_SSLMODES, type RedisConfig } from './connections.ts';
import { CORS_DEFAULTS, parseCors, type CorsConfig } from './cors.ts';
import {
  ENVIRONMENT_DEFAULTS,
  ENVIRONMENTS,
  LOG_LEVELS,
  parseEnvironment,
  parseLogLevel,
  type Environment,
  type LogLevel,
  type ServiceName,
} from './environment.ts';
import { HTTP_DEFAULTS, parseHttp, type HttpConfig } from './http.ts';
import { IDENTITY_DEFAULTS, parseIdentity, type IdentityConfig } from './identity.ts';
import { JWT_ALGORITHMS, JWT_DEFAULTS, parseJwt, type JwtConfig } from './jwt.ts';
import { MAINTENANCE_DEFAULTS, parseMaintenance, type MaintenanceConfig } from './maintenance.ts';
import type { Env } from './parse.ts';
import { checkProductionSecrets, readKeyEncryptionKey, requireKeys } from './secrets.ts';
import { parseStorage, STORAGE_DEFAULTS, type StorageConfig } from './storage.ts';
import { parsePki, parseTls, TLS_DEFAULTS, TLS_MODES, type PkiConfig, type TlsConfig } from './tls.ts';

export { AUDIT_DELIVERY_BY_ENVIRONMENT, parseAuditKeyRing, type AuditDelivery, type AuditKey } from './audit.ts';
export type { AuditDigestConfig } from './audit-digests.ts';
export { ConfigError, type ConfigProblem } from './config-error.ts';
export { loadDatabaseUrl, loadRedis, standaloneRedis, type RedisConfig, type RedisNodeAddress, type StandaloneRedis } from './connections.ts';
export type { CorsConfig } from './cors.ts';
export { SERVICE_NAMES, type Environment, type LogLevel, type ServiceName } from './environment.ts';
export { DEFAULT_PORTS, type HttpConfig } from './http.ts';
export type { AdminSessionConfig, IdentityConfig, LoginThrottleConfig } from './identity.ts';
export { JWT_ALGORITHMS, type JwtAlgorithm, type JwtConfig } from './jwt.ts';
export type { MaintenanceConfig } from './maintenance.ts';
export type { Env, Schedule } from './parse.ts';
export { MIN_SECRET_LENGTH, readSecret, SECRET_NAMES, type SecretName } from './secrets.ts';
export type { StorageConfig } from './storage.ts';
export type { PkiConfig, TlsConfig, TlsMode } from './tls.ts';

/**
 * Every variable with a fixed default, by name, as the code uses it. PORT (DEFAULT_PORTS) and
 * AUDIT_DELIVERY (AUDIT_DELIVERY_BY_ENVIRONMENT) depend on the process instead.
 */
export const CONFIG_DEFAULTS = {
  ...ENVIRONMENT_DEFAULTS,
  ...HTTP_DEFAULTS,
  ...CONNECTION_DEFAULTS,
  ...CORS_DEFAULTS,
  ...JWT_DEFAULTS,
  ...IDENTITY_DEFAULTS,
  ...MAINTENANCE_DEFAULTS,
  ...AUDIT_DEFAULTS,
  ...AUDIT_DIGEST_DEFAULTS,
  ...STORAGE_DEFAULTS,
  ...TLS_DEFAULTS,
} as const;

/** Variables that take one of a fixed set of values. */
export const CONFIG_CHOICES: Readonly<Record<string, readonly string[]>> = {
  ENVIRONMENT: ENVIRONMENTS,
  LOG_LEVEL: LOG_LEVELS,
  JWT_ALGORITHM: JWT_ALGORITHMS,
  AUDIT_DELIVERY: AUDIT_DELIVERIES,
  TLS_MODE: TLS_MODES,
  POSTGRES_SSLMODE: POSTGRES_SSLMODES,
};

/** The validated configuration of one process, read once at start-up. */
export interface Config {
  service: ServiceName;
  /** @defaultValue CONFIG_DEFAULTS.ENVIRONMENT */
  environment: Environment;
  /** @defaultValue CONFIG_DEFAULTS.LOG_LEVEL */
  logLevel: LogLevel;
  http: HttpConfig;
  databaseUrl: Secret;
  /** One Redis server, or a Redis Cluster (REDIS_CLUSTER_NODES). */
  redis: RedisConfig;
  /**
   * Prefix of every BullMQ key in Redis, and of this system's other keys and channels there. With a
   * cluster it holds a hash tag (`{artstore}`), so each queue's keys share a slot.
   * @defaultValue CONFIG_DEFAULTS.BULLMQ_PREFIX
   */
  bullmqPrefix: string;
  cors: CorsConfig;
  /** HMAC key ring: the first key signs, all verify. Required by admin, audit-writer, maintenance. */
  auditKeys: AuditKey[];
  /** 32-byte AES-256-GCM key encrypting JWT private keys at rest. Required by admin, maintenance. */
  jwtKeyEncryptionKey?: KeyObject;
  /**
   * 32-byte AES-256-GCM key encrypting the audit digest keys' private halves at rest; never the JWT
   * one. Required by audit-writer (signs digests) and maintenance (rotates them and signs anchor digests).
   */
  auditDigestKeyEncryptionKey?: KeyObject;
  identity: IdentityConfig;
  jwt: JwtConfig;
  maintenance: MaintenanceConfig;
  audit: AuditConfig;
  auditDigests: AuditDigestConfig;
  storage: StorageConfig;
  tls: TlsConfig;
  pki: PkiConfig;
}

/**
 * Reads and validates the configuration of one process from its environment. The only place that
 * reads environment variables; every missing or bad value is reported in one ConfigError, a line
 * per variable.
 */
export function loadConfig(service: ServiceName, env: Env): Config {
  const problems = new ConfigProblems();
  const environment = problems.check(() => parseEnvironment(env));
  // With ENVIRONMENT unknown the rest is still read, as in development, so one start names every problem.
  const assumed = environment ?? ENVIRONMENT_DEFAULTS.ENVIRONMENT;
  const sections = problems.readSections<Omit<Config, 'service' | 'environment'>>({
    logLevel: () => parseLogLevel(env),
    http: () => parseHttp(env, service),
    databaseUrl: () => loadDatabaseUrl(env),
    redis: () => loadRedis(env),
    bullmqPrefix: () => parseBullmqPrefix(env),
    cors: () => parseCors(env, assumed),
    auditKeys: () => readAuditKeyRing(env),
    jwtKeyEncryptionKey: () => readKeyEncryptionKey(env, 'JWT_KEY_ENCRYPTION_KEY'),
    auditDigestKeyEncryptionKey: () => readKeyEncryptionKey(env, 'AUDIT_DIGEST_KEY_ENCRYPTION_KEY'),
    identity: () => parseIdentity(env),
    jwt: () => parseJwt(env),
    maintenance: () => parseMaintenance(env),
    audit: () => parseAudit(env, service, assumed),
    auditDigests: () => parseAuditDigests(env),
    storage: () => parseStorage(env),
    tls: () => parseTls(env),
    pki: () => parsePki(env),
  });
  requireKeys(
    service,
    {
      AUDIT_LOG_SECRET_KEY: (sections.auditKeys?.length ?? 0) > 0,
      JWT_KEY_ENCRYPTION_KEY: sections.jwtKeyEncryptionKey !== undefined,
      AUDIT_DIGEST_KEY_ENCRYPTION_KEY: sections.auditDigestKeyEncryptionKey !== undefined,
    },
    problems,
  );
  if (sections.tls?.mode === 'on') {
    // admin issues certificates and maintenance rotates the CA: neither can do without its key; the others start from a bundle file.
    if ((service === 'admin' || service === 'maintenance') && sections.pki && !sections.pki.keyEncryptionKey) {
      problems.add({
        variable: 'PKI_KEY_ENCRYPTION_KEY',
        message: `is required by ${service} with TLS_MODE=on (set PKI_KEY_ENCRYPTION_KEY or PKI_KEY_ENCRYPTION_KEY_FILE)`,
      });
    }
    if (service !== 'admin' && service !== 'maintenance' && !sections.tls.caFile) {
      problems.add({
        variable: 'TLS_CA_FILE',
        message: 'is required with TLS_MODE=on: the trust bundle this process starts from (admin writes it to PKI_BUNDLE_FILE)',
      });
    }
  }
  // One key for both would let whoever decrypts the JWT signing keys forge audit digests too.
  if (sections.jwtKeyEncryptionKey && sections.auditDigestKeyEncryptionKey?.equals(sections.jwtKeyEncryptionKey)) {
    problems.add({ variable: 'AUDIT_DIGEST_KEY_ENCRYPTION_KEY', message: 'must differ from JWT_KEY_ENCRYPTION_KEY' });
  }
  if (environment === 'production') {
    const given = {
      databaseUrl: sections.databaseUrl,
      redisUrl: sections.redis?.mode === 'standalone' ? sections.redis.url : undefined,
      auditKeys: sections.auditKeys,
      adminBootstrapSecret: sections.identity?.adminBootstrap.clientSecret,
      storageClientSecret: sections.storage?.client.clientSecret,
      metricsToken: sections.http?.metricsToken,
      httpRead: sections.http !== undefined,
    };
    checkProductionSecrets(given, env, problems);
  }
  return { service, environment: assumed, ...problems.complete(sections) };
}
