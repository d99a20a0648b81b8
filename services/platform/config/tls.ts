import type { KeyObject } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigError } from './config-error.ts';
import { parseChoice, parseInteger, parseList, parseSchedule, type Env, type Schedule } from './parse.ts';
import { readKeyEncryptionKey } from './secrets.ts';

export const TLS_MODES = ['off', 'on'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

const DAY = 86_400;

export const TLS_DEFAULTS = {
  TLS_MODE: 'off',
  TLS_BUNDLE_REFRESH_SECONDS: 300,
  TLS_STARTUP_WAIT_SECONDS: 120,
  PKI_LEAF_TTL_SECONDS: DAY,
  PKI_INTERMEDIATE_TTL_SECONDS: 60 * DAY,
  PKI_INTERMEDIATE_ROTATE_SECONDS: 30 * DAY,
  PKI_ROOT_TTL_SECONDS: 10 * 365 * DAY,
  PKI_ROOT_ROTATE_SECONDS: 5 * 365 * DAY,
  PKI_ROOT_PUBLISH_AHEAD_SECONDS: 7 * DAY,
  PKI_INTERMEDIATE_ROTATION_CRON: '20 * * * *',
  PKI_INTERMEDIATE_ROTATION_TZ: 'UTC',
  PKI_ROOT_ROTATION_CRON: '40 4 * * *',
  PKI_ROOT_ROTATION_TZ: 'UTC',
} as const;

/** How this process serves and calls over TLS (docs/TLS.md). */
export interface TlsConfig {
  /** `on`: every listener serves TLS 1.3 only and module-to-module calls use mutual TLS. @defaultValue TLS_DEFAULTS.TLS_MODE */
  mode: TlsMode;
  /** The trust bundle to start from (PEM roots and intermediates); later bundles come from admin over TLS. Required with TLS on, except by admin and maintenance, which read the CA. */
  caFile?: string;
  /** A public certificate (and its key) for external clients, picked by SNI for its DNS names; reloaded when the files change. */
  publicCertFile?: string;
  publicKeyFile?: string;
  /** DNS names and IP addresses this process's own certificate names besides its SPIFFE ID. @defaultValue the host name, localhost, 127.0.0.1, ::1 */
  sans: string[];
  /** How often the trust bundle is re-read from admin besides on every change notice. @defaultValue TLS_DEFAULTS.TLS_BUNDLE_REFRESH_SECONDS */
  bundleRefreshSeconds: number;
  /** How long start-up waits for a first certificate while admin is unreachable or answers 5xx (it cannot record the issuance), or a lock on failed attempts (429) ends within it; any other failure ends start-up at once. @defaultValue TLS_DEFAULTS.TLS_STARTUP_WAIT_SECONDS */
  startupWaitSeconds: number;
}

/** The internal certificate authority: lifetimes and rotation of its roots, intermediates and leaves. */
export interface PkiConfig {
  /** AES-256-GCM key encrypting the CA's private keys at rest (PKI_KEY_ENCRYPTION_KEY). The CA runs only where it is given: admin and maintenance. */
  keyEncryptionKey?: KeyObject;
  /** Lifetime of a workload certificate; renewed at two thirds. @defaultValue TLS_DEFAULTS.PKI_LEAF_TTL_SECONDS */
  leafTtlSeconds: number;
  /** @defaultValue TLS_DEFAULTS.PKI_INTERMEDIATE_TTL_SECONDS */
  intermediateTtlSeconds: number;
  /** An intermediate this old is replaced at the next rotation tick; it stays trusted (grace) until it expires. @defaultValue TLS_DEFAULTS.PKI_INTERMEDIATE_ROTATE_SECONDS */
  intermediateRotateSeconds: number;
  /** @defaultValue TLS_DEFAULTS.PKI_ROOT_TTL_SECONDS */
  rootTtlSeconds: number;
  /** A root this old is replaced: its successor is published first (next), then signs. @defaultValue TLS_DEFAULTS.PKI_ROOT_ROTATE_SECONDS */
  rootRotateSeconds: number;
  /** How long a new root sits in every trust bundle before anything it signs is used. @defaultValue TLS_DEFAULTS.PKI_ROOT_PUBLISH_AHEAD_SECONDS */
  rootPublishAheadSeconds: number;
  /** @defaultValue TLS_DEFAULTS.PKI_INTERMEDIATE_ROTATION_CRON in TLS_DEFAULTS.PKI_INTERMEDIATE_ROTATION_TZ */
  intermediateRotationSchedule: Schedule;
  /** @defaultValue TLS_DEFAULTS.PKI_ROOT_ROTATION_CRON in TLS_DEFAULTS.PKI_ROOT_ROTATION_TZ */
  rootRotationSchedule: Schedule;
  /** Where admin writes the current trust bundle for processes to start from (PKI_BUNDLE_FILE). */
  bundleFile?: string;
}

const IP_OR_DNS = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|[0-9.]+|[0-9a-fA-F:]+)$/;

export function parseTls(env: Env): TlsConfig {
  const mode = parseChoice('TLS_MODE', (env.TLS_MODE || TLS_DEFAULTS.TLS_MODE).trim(), TLS_MODES);
  const publicCertFile = env.TLS_CERT_FILE?.trim() || undefined;
  const publicKeyFile = env.TLS_KEY_FILE?.trim() || undefined;
  if (Boolean(publicCertFile) !== Boolean(publicKeyFile))
    throw new ConfigError(publicCertFile ? 'TLS_KEY_FILE' : 'TLS_CERT_FILE', 'TLS_CERT_FILE and TLS_KEY_FILE go together');
  // A host name that is no DNS name (an underscore in a container's) is left out of the default rather than refused.
  const sans = parseList('TLS_SANS', env.TLS_SANS, [...(IP_OR_DNS.test(hostname()) ? [hostname()] : []), 'localhost', '127.0.0.1', '::1']);
  const bad = sans.find((name) => !IP_OR_DNS.test(name));
  if (bad !== undefined) throw new ConfigError('TLS_SANS', `"${bad}" is neither a DNS name nor an IP address`);
  return {
    mode,
    caFile: env.TLS_CA_FILE?.trim() || undefined,
    publicCertFile,
    publicKeyFile,
    sans,
    bundleRefreshSeconds: parseInteger('TLS_BUNDLE_REFRESH_SECONDS', env.TLS_BUNDLE_REFRESH_SECONDS, TLS_DEFAULTS.TLS_BUNDLE_REFRESH_SECONDS, 1, DAY),
    startupWaitSeconds: parseInteger('TLS_STARTUP_WAIT_SECONDS', env.TLS_STARTUP_WAIT_SECONDS, TLS_DEFAULTS.TLS_STARTUP_WAIT_SECONDS, 0, DAY),
  };
}

export function parsePki(env: Env): PkiConfig {
  const seconds = (name: keyof typeof TLS_DEFAULTS & `PKI_${string}_SECONDS`, min: number, max: number) =>
    parseInteger(name, env[name], TLS_DEFAULTS[name] as number, min, max);
  const config: PkiConfig = {
    keyEncryptionKey: readKeyEncryptionKey(env, 'PKI_KEY_ENCRYPTION_KEY'),
    leafTtlSeconds: seconds('PKI_LEAF_TTL_SECONDS', 2, 30 * DAY),
    intermediateTtlSeconds: seconds('PKI_INTERMEDIATE_TTL_SECONDS', 4, 5 * 365 * DAY),
    intermediateRotateSeconds: seconds('PKI_INTERMEDIATE_ROTATE_SECONDS', 1, 5 * 365 * DAY),
    rootTtlSeconds: seconds('PKI_ROOT_TTL_SECONDS', 8, 30 * 365 * DAY),
    rootRotateSeconds: seconds('PKI_ROOT_ROTATE_SECONDS', 1, 30 * 365 * DAY),
    rootPublishAheadSeconds: seconds('PKI_ROOT_PUBLISH_AHEAD_SECONDS', 0, 365 * DAY),
    intermediateRotationSchedule: parseSchedule(env, 'PKI_INTERMEDIATE_ROTATION', {
      cron: TLS_DEFAULTS.PKI_INTERMEDIATE_ROTATION_CRON,
      tz: TLS_DEFAULTS.PKI_INTERMEDIATE_ROTATION_TZ,
    }),
    rootRotationSchedule: parseSchedule(env, 'PKI_ROOT_ROTATION', { cron: TLS_DEFAULTS.PKI_ROOT_ROTATION_CRON, tz: TLS_DEFAULTS.PKI_ROOT_ROTATION_TZ }),
    bundleFile: env.PKI_BUNDLE_FILE?.trim() || undefined,
  };
  // Every certificate must be able to live its whole life under the one that signed it, with overlap for the next.
  if (config.intermediateRotateSeconds >= config.intermediateTtlSeconds) {
    throw new ConfigError('PKI_INTERMEDIATE_ROTATE_SECONDS', `must be less than PKI_INTERMEDIATE_TTL_SECONDS (${config.intermediateTtlSeconds})`);
  }
  if (config.leafTtlSeconds > config.intermediateTtlSeconds - config.intermediateRotateSeconds) {
    throw new ConfigError(
      'PKI_LEAF_TTL_SECONDS',
      'must fit in the overlap of two intermediates (PKI_INTERMEDIATE_TTL_SECONDS - PKI_INTERMEDIATE_ROTATE_SECONDS)',
    );
  }
  if (config.rootRotateSeconds + config.intermediateTtlSeconds > config.rootTtlSeconds) {
    throw new ConfigError(
      'PKI_ROOT_ROTATE_SECONDS',
      'plus PKI_INTERMEDIATE_TTL_SECONDS must not exceed PKI_ROOT_TTL_SECONDS: the last intermediate of a root must expire before it',
    );
  }
  return config;
}
