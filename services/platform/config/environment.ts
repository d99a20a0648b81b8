import type { Env } from './parse.ts';
import { parseChoice } from './parse.ts';

export const SERVICE_NAMES = ['admin', 'storage-element', 'ingester', 'query', 'audit-writer', 'maintenance'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

export const ENVIRONMENTS = ['development', 'test', 'staging', 'production'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const ENVIRONMENT_DEFAULTS = {
  ENVIRONMENT: 'development',
  LOG_LEVEL: 'info',
} as const satisfies { ENVIRONMENT: Environment; LOG_LEVEL: LogLevel };

export function parseEnvironment(env: Env): Environment {
  return parseChoice('ENVIRONMENT', env.ENVIRONMENT ?? ENVIRONMENT_DEFAULTS.ENVIRONMENT, ENVIRONMENTS);
}

export function parseLogLevel(env: Env): LogLevel {
  return parseChoice('LOG_LEVEL', (env.LOG_LEVEL ?? ENVIRONMENT_DEFAULTS.LOG_LEVEL).toLowerCase(), LOG_LEVELS);
}
