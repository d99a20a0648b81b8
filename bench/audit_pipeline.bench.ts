/**
 * The audit pipeline end to end: 50,000 events queued on `audit-events` (one job each, jobId =
 * event_id, as publishers add them), then the real audit writer takes them — validated, batched,
 * signed, chained, stored — timed from the queue's resume until the chain head has advanced by
 * all of them; next to a plain BullMQ worker with a no-op processor on the same number of identical
 * jobs in the same run (at the writer's concurrency and at the no-op's own best, the faster counts).
 * Medians of alternating rounds. Also how fast `audit:verify` reads the chain back.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { verifyAuditLog } from '../services/audit-log/verify-chain.ts';
import { createAuditKeyRing } from '../services/audit-log/audit-signature.ts';
import type { AuditEvent } from '../services/audit-log/events.ts';
import { createPrismaClient, type PrismaClient } from '../services/platform/db/client.ts';
import { AuditJob, DEFAULT_JOB_OPTIONS, QueueName } from '../services/platform/queues.ts';
import { sampleAuditEvents } from '../test/support/audit-events.ts';
import { deleteKeys, testConfig, testInfra } from '../test/support/infra.ts';
import { DEFAULT_WRITER_CONCURRENCY, start as startAuditWriter } from '../workers/audit-writer/worker.ts';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createAuditPublisher, type AuditEventInput } from '../services/audit-log/publisher.ts';
import { createLogger } from '../services/platform/logger.ts';
import { createRedis, waitForRedis } from '../services/platform/redis.ts';
import { standaloneRedis } from '../services/platform/config/index.ts';
import { startChildService } from '../test/support/child-service.ts';
import { testEnv } from '../test/support/infra.ts';
import type { Benchmark, Figure } from './report.ts';

const EVENTS = 50_000;
const ROUNDS = 3;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const ADD_CHUNK = 5000;

/** A paused queue holding one job per event, so the clock starts when the work can. */
async function pausedQueueWith(prefix: string, events: AuditEvent[]): Promise<Queue> {
  const queue = new Queue(QueueName.AuditEvents, { connection: { url: testInfra().redisUrl }, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
  await queue.pause();
  for (let i = 0; i < events.length; i += ADD_CHUNK) {
    await queue.addBulk(events.slice(i, i + ADD_CHUNK).map((data) => ({ name: AuditJob.Record, data, opts: { jobId: data.event_id } })));
  }
  return queue;
}

/** Where a no-op worker on this machine peaks; the baseline is the better of this and the writer's concurrency. */
const NOOP_BEST_CONCURRENCY = 100;

async function noopJobsPerSecond(events: AuditEvent[], concurrency: number): Promise<number> {
  const prefix = `${testInfra().bullmqPrefix}-bench-noop-${randomBytes(3).toString('hex')}`;
  const queue = await pausedQueueWith(prefix, events);
  let completed = 0;
  let allDone!: () => void;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  const worker = new Worker(QueueName.AuditEvents, async () => 'ok', {
    connection: { url: testInfra().redisUrl, maxRetriesPerRequest: null },
    prefix,
    concurrency,
  });
  worker.on('completed', () => ++completed === events.length && allDone());
  await worker.waitUntilReady();
  const started = performance.now();
  await queue.resume();
  await done;
  const seconds = (performance.now() - started) / 1000;
  await worker.close();
  await queue.close();
  return events.length / seconds;
}

const headSequence = async (prisma: PrismaClient, chainId: number) =>
  Number((await prisma.$queryRaw<{ sequence: bigint }[]>`SELECT sequence FROM audit_chain_heads WHERE chain_id = ${chainId}`)[0]?.sequence ?? 0);

/** The pipeline as it runs (chain 0 with its Merkle tree), or the same pipeline writing chain 1 without a tree. */
const WITH_TREE = { chainId: 0, merkleTrees: true };
const WITHOUT_TREE = { chainId: 1, merkleTrees: false };

async function pipelineEventsPerSecond(prisma: PrismaClient, events: AuditEvent[], chain = WITH_TREE): Promise<{ perSecond: number }> {
  const prefix = `${testInfra().bullmqPrefix}-bench-audit-${randomBytes(3).toString('hex')}`;
  const writer = await startAuditWriter(testConfig('audit-writer', { BULLMQ_PREFIX: prefix, LOG_LEVEL: 'silent' }), { chain });
  const queue = await pausedQueueWith(prefix, events);
  const fromSequence = (await headSequence(prisma, chain.chainId)) + 1;
  try {
    const started = performance.now();
    await queue.resume();
    while ((await headSequence(prisma, chain.chainId)) < fromSequence - 1 + events.length) await sleep(10);
    const seconds = (performance.now() - started) / 1000;
    const [stored] = await prisma.$queryRaw<{ n: bigint }[]>`
      SELECT count(DISTINCT event_id) AS n FROM audit_logs WHERE event_id = ANY(${events.map((e) => e.event_id)}::uuid[])`;
    if (Number(stored!.n) !== events.length) throw new Error(`only ${stored!.n} of ${events.length} events were stored`);
    return { perSecond: events.length / seconds };
  } finally {
    await writer.stop();
    await queue.close();
  }
}

/** Producers as the modules are: one publisher per process (here four), each with many requests publishing at once. */
const PUBLISHERS = 4;
const PUBLISHES_IN_FLIGHT = 64;

/**
 * The pipeline as production runs it: the compiled audit writer in its own process, and publishers
 * publishing (group commit) while it writes, timed from the first publish until the chain head has
 * advanced by every event.
 */
async function publishedEventsPerSecond(prisma: PrismaClient, count: number): Promise<number> {
  const prefix = `${testInfra().bullmqPrefix}-bench-audit-${randomBytes(3).toString('hex')}`;
  const writer = await startChildService('workers/audit-writer/main.ts', testEnv({ BULLMQ_PREFIX: prefix, LOG_LEVEL: 'warn' }), { compiled: true });
  const logger = createLogger({ service: 'bench-publisher', level: 'silent' });
  const spoolDir = await mkdtemp(path.join(tmpdir(), 'bench-spool-'));
  const publishers = await Promise.all(
    Array.from({ length: PUBLISHERS }, async (_, i) => {
      const redis = createRedis(standaloneRedis(testInfra().redisUrl), 'producer', logger, `bench-publisher-${i}`);
      await waitForRedis(redis, 5000);
      const audit = await createAuditPublisher({
        redis,
        bullmqPrefix: prefix,
        source: 'ingester',
        delivery: 'fail-closed',
        spoolDir: path.join(spoolDir, String(i)),
        logger,
      });
      return { redis, audit };
    }),
  );
  const sample = sampleAuditEvents(1)[0]!;
  const input: AuditEventInput = {
    event_type: sample.event_type,
    action: sample.action,
    status: sample.status,
    resource_type: sample.resource_type,
    resource_id: sample.resource_id,
    details: sample.details,
    user_agent: sample.user_agent,
    ip_address: sample.ip_address,
  };
  const fromSequence = (await headSequence(prisma, 0)) + 1;
  try {
    let left = count;
    const started = performance.now();
    await Promise.all(
      publishers.flatMap(({ audit }) =>
        Array.from({ length: PUBLISHES_IN_FLIGHT }, async () => {
          while (left > 0) {
            left--;
            await audit.publish(input);
          }
        }),
      ),
    );
    while ((await headSequence(prisma, 0)) < fromSequence - 1 + count) await sleep(10);
    return count / ((performance.now() - started) / 1000);
  } finally {
    for (const { audit, redis } of publishers) {
      await audit.close();
      redis.disconnect();
    }
    await writer.stop();
  }
}

const benchmark: Benchmark = {
  title: 'Audit pipeline: queued events signed, chained and stored',
  async run(): Promise<Figure[]> {
    const prisma = createPrismaClient(testInfra().databaseUrl);
    const redis = new Redis(testInfra().redisUrl);
    try {
      // A warm-up on a few jobs, so neither side pays for first connections and compiled scripts.
      await noopJobsPerSecond(sampleAuditEvents(2000), NOOP_BEST_CONCURRENCY);
      await pipelineEventsPerSecond(prisma, sampleAuditEvents(2000));
      // Alternating rounds, so drift on a shared machine hits every side alike; medians are reported.
      const rounds = { noopSame: [] as number[], noopBest: [] as number[], pipeline: [] as number[], withoutTree: [] as number[], published: [] as number[] };
      await publishedEventsPerSecond(prisma, 2000);
      await pipelineEventsPerSecond(prisma, sampleAuditEvents(2000), WITHOUT_TREE);
      for (let round = 0; round < ROUNDS; round++) {
        rounds.noopSame.push(await noopJobsPerSecond(sampleAuditEvents(EVENTS), DEFAULT_WRITER_CONCURRENCY));
        rounds.noopBest.push(await noopJobsPerSecond(sampleAuditEvents(EVENTS), NOOP_BEST_CONCURRENCY));
        rounds.pipeline.push((await pipelineEventsPerSecond(prisma, sampleAuditEvents(EVENTS))).perSecond);
        rounds.withoutTree.push((await pipelineEventsPerSecond(prisma, sampleAuditEvents(EVENTS), WITHOUT_TREE)).perSecond);
        rounds.published.push(await publishedEventsPerSecond(prisma, EVENTS));
      }
      const published = median(rounds.published);
      const withoutTree = median(rounds.withoutTree);
      const noopSame = median(rounds.noopSame);
      const noopBest = median(rounds.noopBest);
      const pipeline = { perSecond: median(rounds.pipeline) };
      const noop = Math.max(noopSame, noopBest);
      const noopConcurrency = noop === noopSame ? DEFAULT_WRITER_CONCURRENCY : NOOP_BEST_CONCURRENCY;

      const keyRing = createAuditKeyRing(testConfig('audit-writer').auditKeys);
      const verifyStarted = performance.now();
      const report = await verifyAuditLog(prisma, keyRing, { chainIds: [0] });
      const verifySeconds = (performance.now() - verifyStarted) / 1000;
      if (!report.ok) throw new Error(`the chain does not verify: ${JSON.stringify(report.first_break)}`);
      const verified = report.records_checked / verifySeconds;
      return [
        {
          name: `audit events end to end as production runs them (${PUBLISHERS} publishers × ${PUBLISHES_IN_FLIGHT} in flight, group commit → compiled writer → signed, chained, stored; ${EVENTS} events, median of ${ROUNDS})`,
          value: published,
          unit: 'events/s',
          baseline: { name: `no-op BullMQ worker fed one job per event, concurrency ${noopConcurrency}`, value: noop, unit: 'jobs/s' },
          target: '≥ 1.5 of baseline',
          met: published / noop >= 1.5,
        },
        {
          name: `audit events end to end (${EVENTS} queued → signed, chained, stored; median of ${ROUNDS})`,
          value: pipeline.perSecond,
          unit: 'events/s',
          baseline: {
            name: `no-op BullMQ worker, same jobs, concurrency ${noopConcurrency} (the faster of ${DEFAULT_WRITER_CONCURRENCY} and ${NOOP_BEST_CONCURRENCY})`,
            value: noop,
            unit: 'jobs/s',
          },
          target: '≥ 0.4 of baseline',
          met: pipeline.perSecond / noop >= 0.4,
        },
        {
          name: `audit events end to end with the Merkle tree (median of ${ROUNDS})`,
          value: pipeline.perSecond,
          unit: 'events/s',
          baseline: { name: 'the same pipeline writing a chain without a tree', value: withoutTree, unit: 'events/s' },
          target: '≥ 0.9 of baseline',
          met: pipeline.perSecond / withoutTree >= 0.9,
        },
        {
          name: 'audit events end to end as production runs them, absolute',
          value: published,
          unit: 'events/s',
          target: '≥ 10000 events/s',
          met: published >= 10_000,
        },
        {
          name: `audit:verify over the whole chain (${report.records_checked} records)`,
          value: verified,
          unit: 'records/s',
          target: 'none (reported for planning)',
          met: true,
        },
      ];
    } finally {
      await deleteKeys(redis, `${testInfra().bullmqPrefix}-bench-*`);
      redis.disconnect();
      await prisma.$disconnect();
    }
  },
};
export default benchmark;
