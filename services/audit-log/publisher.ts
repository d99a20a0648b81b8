import { randomUUID } from 'node:crypto';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AuditDelivery } from '../platform/config/index.ts';
import { AppError } from '../platform/errors.ts';
import type { Logger } from '../platform/logger.ts';
import { AuditJob, DEFAULT_JOB_OPTIONS, openQueue, QueueName, type ContractQueue } from '../platform/queues.ts';
import { AUDIT_EVENT_CATEGORY, auditEventSchema, type AuditEvent, type AuditSource } from './events.ts';
import { openAuditSpool, type AuditSpool } from './spool.ts';
import { createGroupCommit, MAX_GROUP_EVENTS } from './group-commit.ts';
import { replicaAcknowledgement } from './replica-acknowledgement.ts';
import { escapeUnstorableValues } from './unstorable-values.ts';
import type { RedisClient } from '../platform/redis.ts';

/**
 * What a caller gives to publish one audit event; the publisher fills in event_id (a new UUID),
 * timestamp (now), event_category (from the type), source (this process) and, when absent,
 * the nullable fields as null.
 */
export type AuditEventInput = Pick<AuditEvent, 'event_type' | 'action' | 'status'> &
  Partial<Pick<AuditEvent, 'user_id' | 'service_account_id' | 'ip_address' | 'user_agent' | 'resource_type' | 'resource_id' | 'details' | 'request_id'>>;

export interface PublishOptions {
  /**
   * The event records something that already happened and cannot be undone (a committed change, a
   * response already sent): when the queue is unreachable it goes to the spool even with
   * AUDIT_DELIVERY=fail-closed, since refusing would lose it without preventing anything.
   * @defaultValue false
   */
  committed?: boolean;
}

/**
 * Publishing an audit event is one call. It resolves once the event is durable — a BullMQ job on
 * `audit-events` (its own or a group's), or with AUDIT_DELIVERY=spool an fsynced line in the local
 * spool — and rejects with a 503 AppError when neither is possible (fail-closed).
 */
export interface AuditPublisher {
  publish(event: AuditEventInput, options?: PublishOptions): Promise<AuditEvent>;
  /**
   * Throws the 503 AppError a publish would throw right now (fail-closed and Redis unreachable).
   * Call it before a change that will be published with `committed`, so nothing changes unaudited.
   */
  assertAvailable(): void;
  /** Waits for queued spool appends, stops replaying; the Redis connection stays open (it is not ours). */
  close(): Promise<void>;
}

export interface AuditPublisherOptions {
  /** The producer connection (no offline queue, so an outage fails at once). */
  redis: RedisClient;
  bullmqPrefix: string;
  source: AuditSource;
  delivery: AuditDelivery;
  spoolDir: string;
  logger: Logger;
  /** Where audit_events_published_total and audit_spool_backlog_bytes are registered. */
  registry?: Registry;
}

/** A hung (not refused) Redis must not hold a request for long: past this a publish counts as failed. */
const QUEUE_TIMEOUT_MS = 1000;
const REPLAY_RETRY_MS = { first: 500, max: 10_000 };
/** Pauses before a queue whose set-up failed is replaced: short, since publishing waits on it. */
const REOPEN_QUEUE_MS = { first: 50, max: 2_000 };

export const auditUnavailable = (cause?: unknown) =>
  new AppError(503, 'audit_unavailable', 'The audit log cannot record this request right now; try again shortly', {
    headers: { 'Retry-After': '5' },
    cause,
  });

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The job id of a group of events: its first and last event ids. */
export const groupJobId = (events: readonly AuditEvent[]) => `group-${events[0]!.event_id}-${events.at(-1)!.event_id}`;

export function buildAuditEvent(input: AuditEventInput, source: AuditSource, now = new Date()): AuditEvent {
  // parse, not safeParse: an event that does not fit the contract is a bug in the caller.
  return auditEventSchema.parse(
    escapeUnstorableValues({
      event_id: randomUUID(),
      event_type: input.event_type,
      event_category: AUDIT_EVENT_CATEGORY[input.event_type],
      timestamp: now.toISOString(),
      user_id: input.user_id ?? null,
      service_account_id: input.service_account_id ?? null,
      ip_address: input.ip_address ?? null,
      user_agent: input.user_agent ?? null,
      resource_type: input.resource_type ?? null,
      resource_id: input.resource_id ?? null,
      action: input.action,
      status: input.status,
      details: input.details ?? null,
      source,
      request_id: input.request_id ?? null,
    }),
  );
}

/**
 * The publisher of one process: `Queue.add` on the producer connection with group commit (the
 * publishes made while an add is in flight leave together as one job, group-commit.ts), the spool
 * when Redis is away (AUDIT_DELIVERY=spool, or `committed` events), and a replay of the spool, in
 * file order, whenever Redis is ready again and at start.
 */
export async function createAuditPublisher(options: AuditPublisherOptions): Promise<AuditPublisher> {
  const { redis, logger, source, delivery } = options;
  let closed = false;
  // BullMQ keeps a failed connection set-up (Redis lost between ready and its version check) for
  // good; a queue whose set-up failed is replaced so publishing recovers with Redis. Not at once: a
  // set-up can fail within the same turn (a cluster node stopped), and replacing it at once would
  // spin the event loop in promise callbacks, starving every timer and socket of the process.
  let reopenDelay = REOPEN_QUEUE_MS.first;
  let reopenTimer: NodeJS.Timeout | undefined;
  const openAuditQueue = (): ContractQueue<typeof QueueName.AuditEvents> => {
    const opened = openQueue(QueueName.AuditEvents, { connection: redis, prefix: options.bullmqPrefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
    opened.on('error', (err) => logger.debug({ err: err.message }, 'audit queue error'));
    opened.waitUntilReady().then(
      () => {
        reopenDelay = REOPEN_QUEUE_MS.first;
      },
      () => {
        if (closed || queue !== opened) return;
        reopenTimer = setTimeout(() => {
          if (closed || queue !== opened) return;
          queue = openAuditQueue();
          void opened.close().catch(() => undefined);
        }, reopenDelay);
        reopenTimer.unref();
        reopenDelay = Math.min(reopenDelay * 2, REOPEN_QUEUE_MS.max);
      },
    );
    return opened;
  };
  let queue = openAuditQueue();
  const spool: AuditSpool = await openAuditSpool(options.spoolDir, source, logger);
  const published = new Counter({
    name: 'audit_events_published_total',
    help: 'Audit events published by this process, by outcome (queued, spooled, rejected)',
    labelNames: ['outcome'],
    registers: options.registry ? [options.registry] : [],
  });
  new Gauge({
    name: 'audit_spool_backlog_bytes',
    help: 'Bytes of audit events in the local spool waiting to be replayed into the queue',
    registers: options.registry ? [options.registry] : [],
    collect() {
      this.set(spool.backlogBytes());
    },
  });

  // One event keeps its own job (jobId = event_id); several leave as one group job named after the
  // first and the last: a replay cut short and resumed with more lines behind makes another group
  // (its repeated events are dropped by the writer), never one BullMQ would skip as already added.
  const jobOf = (events: AuditEvent[]) =>
    events.length === 1
      ? ({ name: AuditJob.Record, data: events[0]!, opts: { jobId: events[0]!.event_id } } as const)
      : ({ name: AuditJob.RecordGroup, data: { events }, opts: { jobId: groupJobId(events) } } as const);
  // On a cluster, a job counts as added once the master's replica holds it too (replica-acknowledgement.ts).
  const replicated = replicaAcknowledgement(redis, `${options.bullmqPrefix}:${QueueName.AuditEvents}:id`);
  const grouped = createGroupCommit(async (events) => {
    if (redis.status !== 'ready') throw new Error(`redis is ${redis.status}`);
    const [first] = events;
    const added = async () => {
      await (events.length === 1
        ? queue.add(AuditJob.Record, first!, { jobId: first!.event_id })
        : queue.add(AuditJob.RecordGroup, { events }, { jobId: groupJobId(events) }));
      await replicated();
    };
    await withTimeout(added(), QUEUE_TIMEOUT_MS);
  });
  const enqueue = (event: AuditEvent) => grouped.send(event);
  const deliverReplayed = async (events: AuditEvent[]) => {
    if (redis.status !== 'ready') throw new Error(`redis is ${redis.status}`);
    const jobs = [];
    for (let i = 0; i < events.length; i += MAX_GROUP_EVENTS) jobs.push(jobOf(events.slice(i, i + MAX_GROUP_EVENTS)));
    await withTimeout(
      queue.addBulk(jobs).then(() => replicated()),
      QUEUE_TIMEOUT_MS * 5,
    );
  };

  let replaying: Promise<void> | undefined;
  let retry: NodeJS.Timeout | undefined;
  let retryDelay = REPLAY_RETRY_MS.first;
  const replay = () => {
    if (closed || replaying || !spool.hasBacklog()) return;
    clearTimeout(retry);
    replaying = spool
      .replay(deliverReplayed)
      .then(
        () => {
          retryDelay = REPLAY_RETRY_MS.first;
          logger.info('audit spool replayed into the queue');
        },
        (err: Error) => {
          logger.warn({ err: err.message, backlogBytes: spool.backlogBytes(), retryInMs: retryDelay }, 'audit spool replay paused');
          if (closed) return;
          retry = setTimeout(replay, retryDelay);
          retry.unref();
          retryDelay = Math.min(retryDelay * 2, REPLAY_RETRY_MS.max);
        },
      )
      .finally(() => {
        replaying = undefined;
      });
  };
  const onReady = () => {
    retryDelay = REPLAY_RETRY_MS.first;
    replay();
  };
  redis.on('ready', onReady);
  if (spool.hasBacklog()) {
    logger.warn({ backlogBytes: spool.backlogBytes() }, 'audit spool holds events from an earlier run; replaying them');
    replay();
  }

  const mayRefuse = (committed: boolean) => delivery === 'fail-closed' && !committed;

  return {
    async publish(input, publishOptions = {}) {
      const event = buildAuditEvent(input, source);
      const committed = publishOptions.committed === true;
      // Behind a backlog a new event waits its turn in the spool, so the queue sees events in order.
      if (!spool.hasBacklog()) {
        try {
          await enqueue(event);
          published.inc({ outcome: 'queued' });
          return event;
        } catch (err) {
          if (mayRefuse(committed)) {
            published.inc({ outcome: 'rejected' });
            throw auditUnavailable(err);
          }
        }
      } else if (mayRefuse(committed) && redis.status !== 'ready') {
        published.inc({ outcome: 'rejected' });
        throw auditUnavailable();
      }
      try {
        await spool.append(event);
      } catch (err) {
        published.inc({ outcome: 'rejected' });
        logger.error({ err: (err as Error).message, eventId: event.event_id, eventType: event.event_type }, 'audit event could not be queued or spooled');
        throw auditUnavailable(err);
      }
      published.inc({ outcome: 'spooled' });
      if (redis.status === 'ready') replay();
      return event;
    },

    assertAvailable() {
      if (delivery === 'fail-closed' && redis.status !== 'ready') throw auditUnavailable();
    },

    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(retry);
      clearTimeout(reopenTimer);
      redis.off('ready', onReady);
      await grouped.idle();
      await replaying;
      await spool.close();
      await queue.close();
    },
  };
}
