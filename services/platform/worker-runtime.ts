import { UnrecoverableError, Worker, type Job, type WorkerOptions } from 'bullmq';
import type { Config } from './config/index.ts';
import type { Logger } from './logger.ts';
import { jobNamesOf, type JobName, type JobPayload, type QueueName } from './queues.ts';
import { createRedis } from './redis.ts';
import { startService, type RunningService, type ServiceDeps, type ServiceOptions } from './runtime.ts';

/** `token` is the job's lock token, for processors that move their job themselves (e.g. `moveToDelayed`). */
export type JobProcessor<Q extends QueueName, N extends JobName<Q> = JobName<Q>> = (
  job: Job<JobPayload<Q, N>>,
  deps: ServiceDeps,
  token?: string,
) => Promise<unknown>;

/** Exactly one processor for each job name of queue `Q`: a missing or an unknown one does not compile. */
export type Processors<Q extends QueueName> = { [N in JobName<Q>]: JobProcessor<Q, N> };

/** A worker refuses to start unless every job name of its queue has exactly one processor. */
function checkProcessors(queue: QueueName, processors: object) {
  const expected = new Set<string>(jobNamesOf(queue));
  const missing = [...expected].filter((name) => !(name in processors));
  const unknown = Object.keys(processors).filter((name) => !expected.has(name));
  if (missing.length || unknown.length) {
    throw new Error(`queue ${queue}: processors missing for [${missing.join(', ')}], unknown [${unknown.join(', ')}]`);
  }
}

/**
 * Starts a BullMQ worker on one queue plus the HTTP server every process has (/health, /ready,
 * /metrics), so Prometheus can scrape workers like modules.
 */
export async function startWorkerService<Q extends QueueName>(
  config: Config,
  options: {
    queue: Q;
    processors: Processors<Q>;
    concurrency?: number;
    logger?: Logger;
    /** Runs before the worker takes its first job. */
    prepare?: (deps: ServiceDeps) => Promise<void>;
    /** Lock and stall settings, e.g. a writer that must survive restarts without failing jobs. */
    workerOptions?: Pick<WorkerOptions, 'lockDuration' | 'stalledInterval' | 'maxStalledCount' | 'drainDelay'>;
    /** Where the worker's certificate comes from with TLS on (maintenance: the CA it rotates). */
    certificates?: ServiceOptions['certificates'];
  },
): Promise<RunningService & { worker: Worker }> {
  checkProcessors(options.queue, options.processors);
  // A producer outside the contract (Bull Board, a script) can still add any name: look it up as a string.
  const processors: Partial<Record<string, (job: Job, deps: ServiceDeps, token?: string) => Promise<unknown>>> = options.processors;
  let worker: Worker | undefined;
  const service = await startService(config, {
    logger: options.logger,
    prepare: options.prepare,
    certificates: options.certificates,
    readiness: [{ name: 'worker', check: async () => void (worker?.isRunning() || Promise.reject(new Error('not running'))) }],
    beforeStop: async () => {
      await worker?.close();
      await connection.quit().catch(() => undefined);
    },
  });
  const { logger } = service.deps;
  const connection = createRedis(config.redis, 'worker', logger, `${config.service}:worker`, { caFile: config.tls.caFile });
  worker = new Worker(
    options.queue,
    async (job, token) => {
      const processor = processors[job.name];
      if (!processor) throw new UnrecoverableError(`no processor for job "${job.name}" on queue ${options.queue}`);
      return processor(job, service.deps, token);
    },
    { ...options.workerOptions, connection, prefix: config.bullmqPrefix, concurrency: options.concurrency ?? 1 },
  );
  worker.on('failed', (job, err) => logger.warn({ queue: options.queue, jobId: job?.id, job: job?.name, err: err.message }, 'job failed'));
  worker.on('error', (err) => logger.warn({ queue: options.queue, err: err.message }, 'worker error'));
  return { ...service, worker };
}
