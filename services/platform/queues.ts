/**
 * Queue contracts: the one place that names BullMQ queues, their job names and payload types.
 * Producers and workers import from here; nothing else spells a queue or job name.
 */
import {
  Queue,
  type BulkJobOptions,
  type DefaultJobOptions,
  type Job,
  type JobSchedulerTemplateOptions,
  type JobsOptions,
  type QueueOptions,
  type RepeatOptions,
} from 'bullmq';
// Types only: platform must not load the audit log to name its payload.
import type { AuditEvent } from '../audit-log/events.ts';

export const QueueName = {
  AuditEvents: 'audit-events',
  /** Events the writer could not store as given: kept with the reason, never silently dropped. No worker takes them. */
  AuditDeadLetter: 'audit-dead-letter',
  Maintenance: 'maintenance',
} as const;
export type QueueName = (typeof QueueName)[keyof typeof QueueName];

/** Jobs of the audit-events queue; payloads in QueueJobs. */
export const AuditJob = {
  Record: 'record-audit-event',
  RecordGroup: 'record-audit-events',
  Checkpoint: 'write-audit-checkpoint',
  Digest: 'write-audit-digest',
} as const;
export type AuditJob = (typeof AuditJob)[keyof typeof AuditJob];

/** Jobs of the audit dead-letter queue. */
export const DeadLetterJob = {
  DeadAuditEvent: 'dead-audit-event',
} as const;
export type DeadLetterJob = (typeof DeadLetterJob)[keyof typeof DeadLetterJob];

/**
 * Payload of `record-audit-events`: the events one publisher gathered while its previous add was in
 * flight (group commit), so the queue's per-job cost is paid once for all of them.
 */
export interface AuditEventGroup {
  /** In publish order; each keeps its own event_id, which is what makes a redelivery harmless. */
  events: AuditEvent[];
}

/** Payload of `dead-audit-event`: the refused payload exactly as it arrived, and why. */
export interface DeadAuditEventPayload {
  /** The audit-events job it came from (the event_id when the producer set it). */
  source_job_id: string | null;
  /** Why the writer refused it. */
  reason: string;
  /** ISO time of the refusal. */
  refused_at: string;
  /** The job's data as received. */
  payload: unknown;
}

/** Jobs of the maintenance queue; each is created by a BullMQ job scheduler whose id is the job name. */
export const MaintenanceJob = {
  RotateJwtKeys: 'rotate-jwt-keys',
  WeeklyCleanup: 'weekly-cleanup',
  RotateAuditDigestKeys: 'rotate-audit-digest-keys',
  RotateCaIntermediate: 'rotate-ca-intermediate',
  RotateCaRoot: 'rotate-ca-root',
} as const;
export type MaintenanceJob = (typeof MaintenanceJob)[keyof typeof MaintenanceJob];

/** Payload of `rotate-jwt-keys`. */
export interface RotateJwtKeysPayload {
  /** Rotate even when the next key's planned time is still ahead. The scheduler sends false, so a duplicate job is a no-op. @defaultValue false */
  force: boolean;
}

/** Payload of `rotate-audit-digest-keys`. */
export interface RotateAuditDigestKeysPayload {
  /** Rotate even when the next digest key's planned time is still ahead. The scheduler sends false, so a duplicate job is a no-op. @defaultValue false */
  force: boolean;
}

/** Payload of `rotate-ca-intermediate` and `rotate-ca-root`. */
export interface RotateCaPayload {
  /** Rotate even when the active one is not yet due. The scheduler sends false, so a duplicate job is a no-op. @defaultValue false */
  force: boolean;
}

/** Payload of `weekly-cleanup`: nothing; retention periods come from the worker's config. */
export type WeeklyCleanupPayload = Record<string, never>;

/** Payload of `write-audit-checkpoint`: nothing; the writer checkpoints every chain it holds. */
export type WriteAuditCheckpointPayload = Record<string, never>;

/** Payload of `write-audit-digest`: nothing; the writer digests every chain that grew or fell silent. */
export type WriteAuditDigestPayload = Record<string, never>;

/**
 * The contract producers and workers share: each queue's job names, and each job's payload. A
 * worker must register exactly these processors, and a producer can add nothing else.
 */
export interface QueueJobs {
  [QueueName.AuditEvents]: {
    /** One per event, jobId = event_id, so a redelivered publish never makes a second record. */
    [AuditJob.Record]: AuditEvent;
    /** Several events; jobId = `group-<first event_id>`. */
    [AuditJob.RecordGroup]: AuditEventGroup;
    /** Made by the job scheduler of that id. */
    [AuditJob.Checkpoint]: WriteAuditCheckpointPayload;
    /** Made by the job scheduler of that id. */
    [AuditJob.Digest]: WriteAuditDigestPayload;
  };
  [QueueName.AuditDeadLetter]: {
    [DeadLetterJob.DeadAuditEvent]: DeadAuditEventPayload;
  };
  [QueueName.Maintenance]: {
    [MaintenanceJob.RotateJwtKeys]: RotateJwtKeysPayload;
    [MaintenanceJob.WeeklyCleanup]: WeeklyCleanupPayload;
    [MaintenanceJob.RotateAuditDigestKeys]: RotateAuditDigestKeysPayload;
    [MaintenanceJob.RotateCaIntermediate]: RotateCaPayload;
    [MaintenanceJob.RotateCaRoot]: RotateCaPayload;
  };
}

export type JobName<Q extends QueueName> = keyof QueueJobs[Q] & string;
export type JobPayload<Q extends QueueName, N extends JobName<Q> = JobName<Q>> = QueueJobs[Q][N];

/**
 * The same names at run time, for the worker's boot check (a JavaScript caller or a cast can still
 * get them wrong). Keyed by name, so a name missing here, or not in QueueJobs, does not compile.
 */
const JOB_NAMES: { readonly [Q in QueueName]: Readonly<Record<JobName<Q>, true>> } = {
  [QueueName.AuditEvents]: { [AuditJob.Record]: true, [AuditJob.RecordGroup]: true, [AuditJob.Checkpoint]: true, [AuditJob.Digest]: true },
  [QueueName.AuditDeadLetter]: { [DeadLetterJob.DeadAuditEvent]: true },
  [QueueName.Maintenance]: {
    [MaintenanceJob.RotateJwtKeys]: true,
    [MaintenanceJob.WeeklyCleanup]: true,
    [MaintenanceJob.RotateAuditDigestKeys]: true,
    [MaintenanceJob.RotateCaIntermediate]: true,
    [MaintenanceJob.RotateCaRoot]: true,
  },
};

export const jobNamesOf = <Q extends QueueName>(queue: Q): JobName<Q>[] => Object.keys(JOB_NAMES[queue]) as JobName<Q>[];

/** One job of queue `Q` as `addBulk` takes it: a name with its own payload. */
export type JobEntry<Q extends QueueName> = {
  [N in JobName<Q>]: { name: N; data: JobPayload<Q, N>; opts?: BulkJobOptions };
}[JobName<Q>];

/**
 * A BullMQ queue held to its contract: `add`, `addBulk` and `upsertJobScheduler` take only this
 * queue's job names, each with its own payload. (BullMQ's own generics type names and data apart,
 * so they cannot tie a payload to its name.)
 */
export type ContractQueue<Q extends QueueName> = Omit<Queue, 'add' | 'addBulk' | 'upsertJobScheduler'> & {
  add<N extends JobName<Q>>(name: N, data: JobPayload<Q, N>, opts?: JobsOptions): Promise<Job<JobPayload<Q, N>>>;
  addBulk(jobs: JobEntry<Q>[]): Promise<Job<JobPayload<Q>>[]>;
  /** Scheduler ids are the job names they make, so every start replaces the same scheduler. */
  upsertJobScheduler<N extends JobName<Q>>(
    schedulerId: N,
    repeat: Omit<RepeatOptions, 'key'>,
    template: { name: NoInfer<N>; data: JobPayload<Q, NoInfer<N>>; opts?: JobSchedulerTemplateOptions },
  ): Promise<Job<JobPayload<Q, N>>>;
};

/** Opens a queue for producing; every job added through it is checked against QueueJobs. */
export function openQueue<Q extends QueueName>(queue: Q, options: QueueOptions): ContractQueue<Q> {
  return new Queue(queue, options);
}

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
