import ipaddr from 'ipaddr.js';
import type { Secret } from '../secret.ts';
import { CLIENT_ID_PATTERN, CLIENT_ID_RULE } from '../identifiers.ts';
import { ConfigError } from './config-error.ts';
import { isRole, ROLES, type Role } from '../auth/roles.ts';
import { parseInteger, parseList, type Env } from './parse.ts';
import { readSecret } from './secrets.ts';

export const IDENTITY_DEFAULTS = {
  SECRET_ROTATION_OVERLAP_SECONDS: 3600,
  TOKEN_REVOCATION_RESYNC_SECONDS: 10,
  INTROSPECTION_ROLES: 'admin,storage',
  AUTH_MAX_FAILURES_PER_ADDRESS: 100,
  AUTH_THROTTLE_WINDOW_SECONDS: 60,
  AUTH_LOCK_AFTER_FAILURES: 5,
  AUTH_LOCK_SECONDS: 60,
  AUTH_LOCK_MAX_SECONDS: 3600,
  ADMIN_SESSION_IDLE_SECONDS: 900,
  ADMIN_SESSION_MAX_SECONDS: 28_800,
} as const;

/** Service accounts: the admin module's first account and how client secrets rotate. */
export interface IdentityConfig {
  /**
   * The first admin account (ADMIN_BOOTSTRAP_CLIENT_ID with ADMIN_BOOTSTRAP_CLIENT_SECRET or _FILE),
   * created at the admin module's first start. @defaultValue unset
   */
  adminBootstrap: { clientId?: string; clientSecret?: Secret };
  /** How long the previous client secret stays valid after a secret rotation. @defaultValue IDENTITY_DEFAULTS.SECRET_ROTATION_OVERLAP_SECONDS */
  secretRotationOverlapSeconds: number;
  /**
   * How often every verifier reloads the per-account revocations from PostgreSQL: the bound on a
   * lost revocation notice (at most 30 s). @defaultValue IDENTITY_DEFAULTS.TOKEN_REVOCATION_RESYNC_SECONDS
   */
  revocationResyncSeconds: number;
  /** Roles whose tokens may call POST /api/v1/auth/introspect. @defaultValue IDENTITY_DEFAULTS.INTROSPECTION_ROLES */
  introspectionRoles: Role[];
  /** Brute-force limits of every credential check (AUTH_* variables). */
  throttle: LoginThrottleConfig;
  /** Browser sessions of the admin console (/admin/login). */
  adminSession: AdminSessionConfig;
}

/** How long a browser session of the admin console lives; it is held in Redis, the cookie only names it. */
export interface AdminSessionConfig {
  /** A session unused this long ends; each request renews it. @defaultValue IDENTITY_DEFAULTS.ADMIN_SESSION_IDLE_SECONDS */
  idleSeconds: number;
  /** No session outlives this, however busy: then the admin logs in again. @defaultValue IDENTITY_DEFAULTS.ADMIN_SESSION_MAX_SECONDS */
  maxSeconds: number;
}

/** Brute-force limits of every credential check (token endpoint, token revocation, admin login). */
export interface LoginThrottleConfig {
  /** Failed attempts one address may make per window before all its attempts are refused. @defaultValue IDENTITY_DEFAULTS.AUTH_MAX_FAILURES_PER_ADDRESS */
  maxFailuresPerAddress: number;
  /** The window of the per-address limit and of `auth_throttled` events. @defaultValue IDENTITY_DEFAULTS.AUTH_THROTTLE_WINDOW_SECONDS */
  windowSeconds: number;
  /** Failures in a row of one client id from one address before that pair is locked. @defaultValue IDENTITY_DEFAULTS.AUTH_LOCK_AFTER_FAILURES */
  lockAfterFailures: number;
  /** The first lock; each further lock within a day doubles it. @defaultValue IDENTITY_DEFAULTS.AUTH_LOCK_SECONDS */
  lockSeconds: number;
  /** The longest lock. @defaultValue IDENTITY_DEFAULTS.AUTH_LOCK_MAX_SECONDS */
  maxLockSeconds: number;
  /**
   * IPv6 networks whose addresses are counted one by one rather than by their /64: networks of many
   * hosts that use global addresses (a cloud's IPv6 pod or container subnet). @defaultValue none
   */
  perAddressNetworks: readonly [ipaddr.IPv6, number][];
}

/** A service account given by two variables, its client id and its secret: both or neither. */
export function parseClientCredentials(env: Env, idName: string, secretName: 'ADMIN_BOOTSTRAP_CLIENT_SECRET' | 'STORAGE_CLIENT_SECRET') {
  const clientId = env[idName]?.trim() || undefined;
  const clientSecret = readSecret(env, secretName);
  if (clientId !== undefined && !CLIENT_ID_PATTERN.test(clientId)) throw new ConfigError(idName, CLIENT_ID_RULE);
  if (Boolean(clientId) !== Boolean(clientSecret)) {
    throw new ConfigError(clientId ? secretName : idName, `${idName} and ${secretName} (or _FILE) must be given together`);
  }
  return { clientId, clientSecret };
}

export function parseIdentity(env: Env): IdentityConfig {
  return {
    adminBootstrap: parseClientCredentials(env, 'ADMIN_BOOTSTRAP_CLIENT_ID', 'ADMIN_BOOTSTRAP_CLIENT_SECRET'),
    secretRotationOverlapSeconds: parseInteger(
      'SECRET_ROTATION_OVERLAP_SECONDS',
      env.SECRET_ROTATION_OVERLAP_SECONDS,
      IDENTITY_DEFAULTS.SECRET_ROTATION_OVERLAP_SECONDS,
      0,
      30 * 86_400,
    ),
    revocationResyncSeconds: parseInteger(
      'TOKEN_REVOCATION_RESYNC_SECONDS',
      env.TOKEN_REVOCATION_RESYNC_SECONDS,
      IDENTITY_DEFAULTS.TOKEN_REVOCATION_RESYNC_SECONDS,
      1,
      30,
    ),
    introspectionRoles: parseList('INTROSPECTION_ROLES', env.INTROSPECTION_ROLES, IDENTITY_DEFAULTS.INTROSPECTION_ROLES.split(',')).map((role) => {
      if (!isRole(role)) throw new ConfigError('INTROSPECTION_ROLES', `"${role}" is not a role (${ROLES.join(', ')})`);
      return role;
    }),
    throttle: parseThrottle(env),
    adminSession: parseAdminSession(env),
  };
}

function parseAdminSession(env: Env): AdminSessionConfig {
  const idleSeconds = parseInteger('ADMIN_SESSION_IDLE_SECONDS', env.ADMIN_SESSION_IDLE_SECONDS, IDENTITY_DEFAULTS.ADMIN_SESSION_IDLE_SECONDS, 1, 86_400);
  const maxSeconds = parseInteger('ADMIN_SESSION_MAX_SECONDS', env.ADMIN_SESSION_MAX_SECONDS, IDENTITY_DEFAULTS.ADMIN_SESSION_MAX_SECONDS, 1, 7 * 86_400);
  if (maxSeconds < idleSeconds) throw new ConfigError('ADMIN_SESSION_MAX_SECONDS', `must be at least ADMIN_SESSION_IDLE_SECONDS (${idleSeconds})`);
  return { idleSeconds, maxSeconds };
}

function parseThrottle(env: Env): LoginThrottleConfig {
  const whole = (name: keyof typeof IDENTITY_DEFAULTS & `AUTH_${string}`, min: number, max: number) =>
    parseInteger(name, env[name], IDENTITY_DEFAULTS[name], min, max);
  const lockSeconds = whole('AUTH_LOCK_SECONDS', 1, 86_400);
  const maxLockSeconds = whole('AUTH_LOCK_MAX_SECONDS', 1, 7 * 86_400);
  if (maxLockSeconds < lockSeconds) throw new ConfigError('AUTH_LOCK_MAX_SECONDS', `must be at least AUTH_LOCK_SECONDS (${lockSeconds})`);
  return {
    maxFailuresPerAddress: whole('AUTH_MAX_FAILURES_PER_ADDRESS', 1, 1_000_000),
    windowSeconds: whole('AUTH_THROTTLE_WINDOW_SECONDS', 1, 86_400),
    lockAfterFailures: whole('AUTH_LOCK_AFTER_FAILURES', 1, 1000),
    lockSeconds,
    maxLockSeconds,
    perAddressNetworks: parseList('AUTH_THROTTLE_PER_ADDRESS_NETWORKS', env.AUTH_THROTTLE_PER_ADDRESS_NETWORKS, []).map((cidr) => {
      const parsed = ipaddr.isValidCIDR(cidr) ? ipaddr.parseCIDR(cidr) : undefined;
      if (parsed?.[0].kind() !== 'ipv6') throw new ConfigError('AUTH_THROTTLE_PER_ADDRESS_NETWORKS', `"${cidr}" is not an IPv6 network in CIDR notation`);
      return parsed as [ipaddr.IPv6, number];
    }),
  };
}
