import { createSecretKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Secret } from '../secret.ts';
import { ConfigError, type ConfigProblems } from './config-error.ts';
import type { ServiceName } from './environment.ts';
import type { Env } from './parse.ts';

/** Every secret a process may read; each may come as NAME or NAME_FILE (Docker secrets). */
export const SECRET_NAMES = [
  'DATABASE_URL',
  'POSTGRES_PASSWORD',
  'REDIS_URL',
  'REDIS_PASSWORD',
  'AUDIT_LOG_SECRET_KEY',
  'JWT_KEY_ENCRYPTION_KEY',
  'AUDIT_DIGEST_KEY_ENCRYPTION_KEY',
  'PKI_KEY_ENCRYPTION_KEY',
  'ADMIN_BOOTSTRAP_CLIENT_SECRET',
  'STORAGE_CLIENT_SECRET',
  'METRICS_TOKEN',
] as const;
export type SecretName = (typeof SECRET_NAMES)[number];

/** The AES-256-GCM keys that encrypt private keys at rest: one for JWT signing keys, one for audit digest keys. */
export type KeyEncryptionKeyName = 'JWT_KEY_ENCRYPTION_KEY' | 'AUDIT_DIGEST_KEY_ENCRYPTION_KEY' | 'PKI_KEY_ENCRYPTION_KEY';

/** Keys some processes cannot do their work without. */
export type RequiredKey = 'AUDIT_LOG_SECRET_KEY' | Exclude<KeyEncryptionKeyName, 'PKI_KEY_ENCRYPTION_KEY'>;

/**
 * Each key-encryption key goes only where its keys are used: the audit writer signs digests but
 * never holds the key that decrypts JWT signing keys, and admin publishes digest keys without
 * being able to decrypt them.
 */
const REQUIRED_KEYS: Readonly<Record<ServiceName, readonly RequiredKey[]>> = {
  admin: ['JWT_KEY_ENCRYPTION_KEY', 'AUDIT_LOG_SECRET_KEY'],
  'storage-element': [],
  ingester: [],
  query: [],
  'audit-writer': ['AUDIT_LOG_SECRET_KEY', 'AUDIT_DIGEST_KEY_ENCRYPTION_KEY'],
  maintenance: ['JWT_KEY_ENCRYPTION_KEY', 'AUDIT_LOG_SECRET_KEY', 'AUDIT_DIGEST_KEY_ENCRYPTION_KEY'],
};

const PLACEHOLDER_MARKERS = ['REPLACE_WITH', 'CHANGE_THIS', 'changeme'];
export const MIN_SECRET_LENGTH = 32;

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

export function refuseWeakSecret(name: string, value: string): void {
  const marker = PLACEHOLDER_MARKERS.find((m) => value.toLowerCase().includes(m.toLowerCase()));
  if (marker) throw new ConfigError(name, `still holds a placeholder (contains "${marker}"); generate one with scripts/generate_secrets.sh`);
  if (value.length < MIN_SECRET_LENGTH) {
    throw new ConfigError(name, `is shorter than ${MIN_SECRET_LENGTH} characters; production refuses weak secrets`);
  }
}

/**
 * A key-encryption key: 64 hex characters (32 bytes), held as a KeyObject so logs and inspection
 * never print it.
 */
export function readKeyEncryptionKey(env: Env, name: KeyEncryptionKeyName): KeyObject | undefined {
  const secret = readSecret(env, name);
  if (!secret) return undefined;
  const hex = secret.reveal();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    // A placeholder left in place deserves that message rather than the format's.
    refuseWeakSecret(name, hex);
    throw new ConfigError(name, 'must be 64 hexadecimal characters (32 bytes)');
  }
  return createSecretKey(Buffer.from(hex, 'hex'));
}

/** Reports each key `service` needs and was not given; one given but malformed is already reported under its own name. */
export function requireKeys(service: ServiceName, given: Readonly<Record<RequiredKey, boolean>>, problems: ConfigProblems): void {
  for (const name of REQUIRED_KEYS[service]) {
    if (!given[name] && !problems.concerns(name)) {
      problems.add({ variable: name, message: `is required by ${service} (set ${name} or ${name}_FILE)` });
    }
  }
}

/** The secrets a process was given, as far as their sections could be read. */
export interface GivenSecrets {
  databaseUrl?: Secret;
  redisUrl?: Secret;
  auditKeys?: readonly { id: string; key: Secret }[];
  adminBootstrapSecret?: Secret;
  storageClientSecret?: Secret;
  metricsToken?: Secret;
  /** False when the http section could not be read, so a missing token is not reported twice. */
  httpRead: boolean;
}

/** Production refuses placeholders and short values in every secret, each reported on its own. */
export function checkProductionSecrets(given: GivenSecrets, env: Env, problems: ConfigProblems): void {
  for (const name of ['POSTGRES_PASSWORD', 'REDIS_PASSWORD'] as const) {
    problems.check(() => {
      const secret = readSecret(env, name);
      if (secret) refuseWeakSecret(name, secret.reveal());
    });
  }
  for (const [name, url] of [
    ['DATABASE_URL', given.databaseUrl],
    ['REDIS_URL', given.redisUrl],
  ] as const) {
    const password = url ? decodeURIComponent(new URL(url.reveal()).password) : '';
    if (password) problems.check(() => refuseWeakSecret(name, password));
  }
  for (const { id, key } of given.auditKeys ?? []) problems.check(() => refuseWeakSecret(`AUDIT_LOG_SECRET_KEY (key ${id})`, key.reveal()));
  // Metrics name routes, counts and queue sizes: in production only Prometheus may read them.
  if (given.metricsToken) problems.check(() => refuseWeakSecret('METRICS_TOKEN', given.metricsToken!.reveal()));
  else if (given.httpRead)
    problems.add({ variable: 'METRICS_TOKEN', message: 'is required in production (set METRICS_TOKEN or METRICS_TOKEN_FILE; Prometheus sends it)' });
  const named = [
    ['ADMIN_BOOTSTRAP_CLIENT_SECRET', given.adminBootstrapSecret],
    ['STORAGE_CLIENT_SECRET', given.storageClientSecret],
  ] as const;
  for (const [name, secret] of named) if (secret) problems.check(() => refuseWeakSecret(name, secret.reveal()));
}
