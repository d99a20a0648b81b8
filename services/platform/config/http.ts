import { ConfigError } from './config-error.ts';
import type { ServiceName } from './environment.ts';
import type { Secret } from '../secret.ts';
import { parseInteger, type Env } from './parse.ts';
import { readSecret } from './secrets.ts';

/** Where each process listens unless PORT says otherwise. */
export const DEFAULT_PORTS: Readonly<Record<ServiceName, number>> = {
  admin: 8000,
  'storage-element': 8010,
  ingester: 8020,
  query: 8030,
  'audit-writer': 9100,
  maintenance: 9101,
};

export const HTTP_DEFAULTS = {
  HOST: '0.0.0.0',
  BODY_LIMIT: '1mb',
  TRUST_PROXY: false,
} as const;

export interface HttpConfig {
  /** @defaultValue HTTP_DEFAULTS.HOST */
  host: string;
  /** 0 picks a free port (tests). @defaultValue DEFAULT_PORTS[service] */
  port: number;
  /** @defaultValue HTTP_DEFAULTS.BODY_LIMIT */
  bodyLimit: string;
  /** Express `trust proxy` value: false, true, a hop count or a list of subnets. @defaultValue HTTP_DEFAULTS.TRUST_PROXY */
  trustProxy: boolean | number | string;
  /**
   * The bearer token /metrics requires (METRICS_TOKEN or _FILE); required in production. Health and
   * readiness stay open. @defaultValue unset: /metrics answers anyone
   */
  metricsToken?: Secret;
}

function parseTrustProxy(raw: string | undefined): boolean | number | string {
  if (raw === undefined || raw === '') return HTTP_DEFAULTS.TRUST_PROXY;
  if (/^\d+$/.test(raw)) return Number(raw);
  const lower = raw.toLowerCase();
  if (lower === 'true' || lower === 'false') return lower === 'true';
  return raw;
}

export function parseHttp(env: Env, service: ServiceName): HttpConfig {
  const bodyLimit = env.BODY_LIMIT ?? HTTP_DEFAULTS.BODY_LIMIT;
  if (!/^\d+(?:b|kb|mb)?$/i.test(bodyLimit)) throw new ConfigError('BODY_LIMIT', 'must look like 100kb or 1mb');
  return {
    host: env.HOST ?? HTTP_DEFAULTS.HOST,
    port: parseInteger('PORT', env.PORT, DEFAULT_PORTS[service], 0, 65_535),
    bodyLimit,
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    metricsToken: readSecret(env, 'METRICS_TOKEN'),
  };
}
