/**
 * Queue contracts: the one place that names BullMQ queues, their job names and payload types.
 * Producers and workers import from here; nothing else spells a queue or job name.
 */
import type { DefaultJobOptions } from 'bullmq';

export const QueueName = {
  AuditEvents: 'audit-events',
  Maintenance: 'maintenance',
} as const;
export type QueueName = (typeof QueueName)[keyof typeof QueueName];

/**
 * Jobs of the audit-events queue: `record-audit-event`, one per event, jobId = event_id, payload an
 * `AuditEvent` (audit/events.ts); `write-audit-checkpoint`, made by a job scheduler of that id,
 * payload empty.
 */
export const AuditJob = {
  Record: 'record-audit-event',
  Checkpoint: 'write-audit-checkpoint',
} as const;
export type AuditJob = (typeof AuditJob)[keyof typeof AuditJob];

/** Jobs of the maintenance queue; each is created by a BullMQ job scheduler whose id is the job name. */
export const MaintenanceJob = {
  RotateJwtKeys: 'rotate-jwt-keys',
  WeeklyCleanup: 'weekly-cleanup',
} as const;
export type MaintenanceJob = (typeof MaintenanceJob)[keyof typeof MaintenanceJob];

/** Payload of `rotate-jwt-keys`. */
export interface RotateJwtKeysPayload {
  /** Rotate even when the next key's planned time is still ahead. The scheduler sends false, so a duplicate job is a no-op. @defaultValue false */
  force: boolean;
}

/** Payload of `weekly-cleanup`: nothing; retention periods come from the worker's config. */
export type WeeklyCleanupPayload = Record<string, never>;

/** Job names each queue carries; a worker must register exactly one processor for each. */
export const JOBS_BY_QUEUE = {
  [QueueName.AuditEvents]: [AuditJob.Record, AuditJob.Checkpoint] as string[],
  [QueueName.Maintenance]: [MaintenanceJob.RotateJwtKeys, MaintenanceJob.WeeklyCleanup] as string[],
} satisfies Record<QueueName, string[]>;

/**
 * Set once for every queue: retried with exponential backoff, completed jobs trimmed,
 * failed ones kept for inspection in Bull Board.
 */
export const DEFAULT_JOB_OPTIONS: DefaultJobOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 30 * 24 * 3600 },
};
