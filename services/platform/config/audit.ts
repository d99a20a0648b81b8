import path from 'node:path';
import { Secret } from '../secret.ts';
import { ConfigError } from './config-error.ts';
import type { Environment, ServiceName } from './environment.ts';
import { parseInteger, type Env } from './parse.ts';
import { readSecret } from './secrets.ts';

export interface AuditKey {
  id: string;
  key: Secret;
}

export const AUDIT_DELIVERIES = ['fail-closed', 'spool'] as const;
export type AuditDelivery = (typeof AUDIT_DELIVERIES)[number];

/** Production, staging and test refuse what they cannot audit; only development spools by default. */
export const AUDIT_DELIVERY_BY_ENVIRONMENT: Readonly<Record<Environment, AuditDelivery>> = {
  development: 'spool',
  test: 'fail-closed',
  staging: 'fail-closed',
  production: 'fail-closed',
};

/** `<process>` stands for the service name: each process keeps its own spool. */
export const AUDIT_DEFAULTS = {
  AUDIT_LOG_RETENTION_DAYS: 2555,
  AUDIT_SPOOL_DIR: '.data/audit-spool/<process>',
  AUDIT_CHECKPOINT_EVERY_MS: 60_000,
  AUDIT_CHAINS: 1,
} as const;

/**
 * Each chain is one more head row, one more transaction per batch and one more connection of the
 * writer thread's pool; past the cores PostgreSQL has, more chains only add that overhead.
 */
export const MAX_AUDIT_CHAINS = 64;

export interface AuditConfig {
  /** @defaultValue AUDIT_DEFAULTS.AUDIT_LOG_RETENTION_DAYS (about seven years) */
  retentionDays: number;
  /**
   * What a publish does when Redis is unreachable: `fail-closed` answers 503, `spool` appends the event
   * to the local spool and replays it later. @defaultValue AUDIT_DELIVERY_BY_ENVIRONMENT[environment]
   */
  delivery: AuditDelivery;
  /** Directory of the local durable spool (absolute). @defaultValue AUDIT_DEFAULTS.AUDIT_SPOOL_DIR under the working directory */
  spoolDir: string;
  /** How often the audit writer records a checkpoint of each chain head (AUDIT_CHECKPOINT_EVERY_MS). @defaultValue AUDIT_DEFAULTS.AUDIT_CHECKPOINT_EVERY_MS */
  checkpointEveryMs: number;
  /**
   * How many chains the audit writer spreads new events over (AUDIT_CHAINS): chains 0 … chains − 1,
   * each event to the one its event_id picks (services/audit-log/chain-assignment.ts). Lowering it
   * leaves the higher chains as they are, still verified. @defaultValue AUDIT_DEFAULTS.AUDIT_CHAINS
   */
  chains: number;
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

/** The HMAC key ring of AUDIT_LOG_SECRET_KEY(_FILE): the first key signs, all verify; empty when unset. */
export function readAuditKeyRing(env: Env): AuditKey[] {
  const secret = readSecret(env, 'AUDIT_LOG_SECRET_KEY');
  return secret ? parseAuditKeyRing(secret) : [];
}

function parseAuditDelivery(raw: string | undefined, environment: Environment): AuditDelivery {
  if (raw === undefined || raw.trim() === '') return AUDIT_DELIVERY_BY_ENVIRONMENT[environment];
  const value = raw.trim().toLowerCase();
  const delivery = AUDIT_DELIVERIES.find((d) => d === value);
  if (delivery === undefined) throw new ConfigError('AUDIT_DELIVERY', `must be ${AUDIT_DELIVERIES.join(' or ')}, got "${raw}"`);
  return delivery;
}

export function parseAudit(env: Env, service: ServiceName, environment: Environment): AuditConfig {
  return {
    retentionDays: parseInteger('AUDIT_LOG_RETENTION_DAYS', env.AUDIT_LOG_RETENTION_DAYS, AUDIT_DEFAULTS.AUDIT_LOG_RETENTION_DAYS, 1, 36_500),
    delivery: parseAuditDelivery(env.AUDIT_DELIVERY, environment),
    spoolDir: path.resolve(env.AUDIT_SPOOL_DIR?.trim() || AUDIT_DEFAULTS.AUDIT_SPOOL_DIR.replace('<process>', service)),
    checkpointEveryMs: parseInteger('AUDIT_CHECKPOINT_EVERY_MS', env.AUDIT_CHECKPOINT_EVERY_MS, AUDIT_DEFAULTS.AUDIT_CHECKPOINT_EVERY_MS, 100, 86_400_000),
    chains: parseInteger('AUDIT_CHAINS', env.AUDIT_CHAINS, AUDIT_DEFAULTS.AUDIT_CHAINS, 1, MAX_AUDIT_CHAINS),
  };
}
