/**
 * Fault suite, Redis Cluster: the master holding the audit queue's slot is SIGKILLed while 20,000
 * audit events are being published, and its replica takes over. Every publish that resolved must be
 * stored exactly once and the chain must verify; with AUDIT_DELIVERY=fail-closed the publishes
 * refused (503) during the failover are counted, with AUDIT_DELIVERY=spool none may be refused.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { Registry } from 'prom-client';
import { createAuditKeyRing } from '../../services/audit-log/audit-signature.ts';
import { createAuditPublisher, type AuditPublisher } from '../../services/audit-log/publisher.ts';
import { verifyAuditLog } from '../../services/audit-log/verify-chain.ts';
import type { AuditDelivery } from '../../services/platform/config/index.ts';
import { createPrismaClient } from '../../services/platform/db/client.ts';
import { AppError } from '../../services/platform/errors.ts';
import { createLogger } from '../../services/platform/logger.ts';
import { QueueName } from '../../services/platform/queues.ts';
import { createRedis, waitForRedis, type RedisClient } from '../../services/platform/redis.ts';
import { startChildService, type ChildService } from '../support/child-service.ts';
import { isolatedPrefix, testConfig, testEnv, testInfra } from '../support/infra.ts';
import { metricValue } from '../support/modules.ts';
import { startRedisCluster } from '../support/redis-cluster.ts';
import { waitFor } from '../support/wait-for.ts';

const FULL = process.env.FAULT_SUITE !== 'fast';
const EVENTS = 20_000;
/** Publishing is paced over this long; the master dies at KILL_AT of it, so events arrive before, during and after. */
const PUBLISH_SECONDS = FULL ? 40 : 20;
const KILL_AT = 0.3;
/** As many publishers as modules would run, each with its own connection, spool and group commit. */
const PUBLISHERS = 4;
/** Publishes in flight at once across the publishers (requests being served). */
const IN_FLIGHT = 64;
/** How long a silent master stays one before its replica is elected (cluster-node-timeout). */
const NODE_TIMEOUT_MS = 2000;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

describe('fault suite: a Redis Cluster master fails over under audit load', function () {
  this.timeout(900_000);

  for (const delivery of ['fail-closed', 'spool'] as const satisfies readonly AuditDelivery[]) {
    it(`when the master of the audit queue's slot is SIGKILLed during ${EVENTS} publishes with AUDIT_DELIVERY=${delivery}, then every publish that resolved is stored exactly once${delivery === 'spool' ? ', none is refused' : ''} and the chain verifies`, async () => {
      const cluster = await startRedisCluster({ nodeTimeoutMs: NODE_TIMEOUT_MS });
      const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'artstore-cluster-spool-'));
      const env = testEnv({
        REDIS_URL: undefined,
        REDIS_CLUSTER_NODES: cluster.nodesSetting,
        BULLMQ_PREFIX: isolatedPrefix('failover'),
        AUDIT_DELIVERY: delivery,
      });
      const config = testConfig('ingester', env);
      const logger = createLogger({ service: 'cluster-fault', level: 'silent' });
      const prisma = createPrismaClient(testInfra().databaseUrl);
      const writers: ChildService[] = [];
      const publishers: { audit: AuditPublisher; redis: RedisClient; registry: Registry }[] = [];
      try {
        writers.push(...(await Promise.all([1, 2].map(() => startChildService('test/support/audit-writer-child.ts', env, { timeoutMs: 120_000 })))));
        for (let i = 0; i < PUBLISHERS; i++) {
          const redis = createRedis(config.redis, 'producer', logger, `cluster-fault-${i}`);
          await waitForRedis(redis, 30_000);
          const registry = new Registry();
          const audit = await createAuditPublisher({
            redis,
            bullmqPrefix: config.bullmqPrefix,
            source: 'ingester',
            delivery,
            spoolDir: path.join(spoolDir, String(i)),
            logger,
            registry,
          });
          publishers.push({ audit, redis, registry });
        }

        const run = randomBytes(4).toString('hex');
        const queueKey = `${config.bullmqPrefix}:${QueueName.AuditEvents}:id`;
        const outcomes: ('resolved' | 'refused')[] = [];
        const latencies: number[] = [];
        const refusedAt: number[] = [];
        let killedAt = 0;
        let failover: Promise<{ address: string; ms: number }> | undefined;
        let next = 0;
        const started = Date.now();
        const publishLoop = async () => {
          for (;;) {
            const index = next++;
            if (index >= EVENTS) return;
            const due = started + (index / EVENTS) * PUBLISH_SECONDS * 1000 - Date.now();
            if (due > 0) await sleep(due);
            if (index === Math.floor(EVENTS * KILL_AT)) {
              const victim = await cluster.masterOf(queueKey);
              await cluster.kill(victim);
              killedAt = Date.now();
              failover = cluster.untilFailedOver(queueKey, victim).then((master) => ({ address: master.address, ms: Date.now() - killedAt }));
            }
            const { audit } = publishers[index % PUBLISHERS]!;
            const at = Date.now();
            try {
              await audit.publish({ event_type: 'file_upload', action: 'upload', status: 'success', resource_type: 'file', resource_id: `${run}-${index}` });
              outcomes[index] = 'resolved';
              latencies.push(Date.now() - at);
            } catch (err) {
              // Only the refusal fail-closed promises is acceptable; anything else fails the test.
              if (!(err instanceof AppError && err.status === 503)) throw err;
              outcomes[index] = 'refused';
              refusedAt.push(Date.now());
            }
          }
        };
        await Promise.all(Array.from({ length: IN_FLIGHT }, publishLoop));
        const published = Date.now() - started;
        const failedOver = await failover!;

        const resolved = outcomes.filter((outcome) => outcome === 'resolved').length;
        const refused = outcomes.length - resolved;
        const storedOf = async () =>
          new Map(
            (
              await prisma.$queryRaw<{ resource_id: string; rows: number }[]>`
                SELECT resource_id, count(*)::int AS rows FROM audit_logs WHERE resource_id LIKE ${`${run}-%`} GROUP BY resource_id`
            ).map((row) => [row.resource_id, row.rows]),
          );
        const storeStarted = Date.now();
        // Not all stored in time: the counts below report the missing ones.
        await waitFor(
          async () => {
            const stored = await storedOf();
            return outcomes.every((outcome, i) => outcome !== 'resolved' || stored.has(`${run}-${i}`));
          },
          { timeoutMs: 300_000, intervalMs: 1000 },
        ).catch(() => undefined);
        const drained = Date.now() - storeStarted;
        // A refused publish whose add landed after all would arrive late; give it the time to.
        await sleep(3000);
        const stored = await storedOf();
        const lost = outcomes.filter((outcome, i) => outcome === 'resolved' && !stored.has(`${run}-${i}`)).length;
        const twice = [...stored.values()].filter((rows) => rows > 1).length;
        const refusedButStored = outcomes.filter((outcome, i) => outcome === 'refused' && stored.has(`${run}-${i}`)).length;
        const spooled = (
          await Promise.all(
            publishers.map(async ({ registry }) => metricValue(await registry.metrics(), 'audit_events_published_total', { outcome: 'spooled' }) ?? 0),
          )
        ).reduce((a, b) => a + b, 0);
        const report = await verifyAuditLog(prisma, createAuditKeyRing(config.auditKeys));
        const sorted = [...latencies].sort((a, b) => a - b);
        const refusedFor = refusedAt.length ? Math.max(...refusedAt) - Math.min(...refusedAt) : 0;
        process.stdout.write(
          `\n    cluster failover (${delivery}): replica took the slot at ${failedOver.address} ${failedOver.ms} ms after the kill ` +
            `(cluster-node-timeout ${NODE_TIMEOUT_MS} ms); ${EVENTS} publishes over ${(published / 1000).toFixed(1)} s: ${resolved} resolved ` +
            `(${spooled} of them through the spool), ${refused} refused with 503 over ${refusedFor} ms (${refusedButStored} of those stored all the same); ` +
            `publish latency p50 ${percentile(sorted, 0.5)} ms, p99 ${percentile(sorted, 0.99)} ms, max ${sorted.at(-1)} ms; ` +
            `every resolved event stored ${drained} ms after the last publish; ${lost} lost, ${twice} stored twice; ` +
            `chain ${report.ok ? 'verifies' : 'BROKEN'} over ${report.records_checked} records\n`,
        );
        assert.equal(lost, 0, 'resolved publishes lost');
        assert.equal(twice, 0, 'events stored twice');
        if (delivery === 'spool') assert.equal(refused, 0, 'publishes refused with AUDIT_DELIVERY=spool');
        assert.ok(report.ok, `chain broken: ${JSON.stringify(report.first_break)}`);
      } finally {
        for (const { audit, redis } of publishers) {
          await audit.close();
          redis.disconnect();
        }
        await Promise.all(writers.map((writer) => writer.stop()));
        await prisma.$disconnect();
        await cluster.stop();
        await rm(spoolDir, { recursive: true, force: true });
      }
    });
  }
});
