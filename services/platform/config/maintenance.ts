import { parseSchedule, type Env, type Schedule } from './parse.ts';

export const MAINTENANCE_DEFAULTS = {
  CLEANUP_CRON: '0 3 * * 0',
  CLEANUP_TZ: 'UTC',
} as const;

/** The maintenance worker's own schedules; the key rotation schedule belongs to the JWT settings every signer plans with. */
export interface MaintenanceConfig {
  /** Weekly cleanup of retired keys and expired audit records (CLEANUP_CRON in CLEANUP_TZ, or CLEANUP_EVERY_MS). @defaultValue MAINTENANCE_DEFAULTS.CLEANUP_CRON in MAINTENANCE_DEFAULTS.CLEANUP_TZ */
  cleanupSchedule: Schedule;
}

export function parseMaintenance(env: Env): MaintenanceConfig {
  return { cleanupSchedule: parseSchedule(env, 'CLEANUP', { cron: MAINTENANCE_DEFAULTS.CLEANUP_CRON, tz: MAINTENANCE_DEFAULTS.CLEANUP_TZ }) };
}
