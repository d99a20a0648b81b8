/**
 * Fault suite, audit: events published under load while writers are SIGKILLed, Redis (AOF) restarts
 * and PostgreSQL restarts must all be stored exactly once in a chain that verifies. Runs on its own
 * embedded PostgreSQL and Redis, never the machine's shared servers. With TLS on (SUITE_TLS) an
 * admin runs too: every writer, the restarted ones included, gets its certificate from it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { startEmbeddedPostgres } from '../../scripts/embedded/postgres.ts';
import { pickPort } from '../../scripts/embedded/process-control.ts';
import { startEmbeddedRedis } from '../../scripts/embedded/redis.ts';
import { verifyAuditLog } from '../../services/audit-log/verify-chain.ts';
import { createAuditKeyRing } from '../../services/audit-log/audit-signature.ts';
import { loadConfig } from '../../services/platform/config/index.ts';
import { createPrismaClient } from '../../services/platform/db/client.ts';
import { createTestDatabase } from '../support/test-databases.ts';
import { AuditJob, DEFAULT_JOB_OPTIONS, QueueName } from '../../services/platform/queues.ts';
import { sampleAuditEvent } from '../support/audit-events.ts';
import { startChildService, type ChildService } from '../support/child-service.ts';
import { testEnv } from '../support/infra.ts';
import { suiteTlsModes } from '../support/suite-tls.ts';
import { tlsTestEnv } from '../support/tls-modules.ts';
import { waitFor } from '../support/wait-for.ts';

const FULL = process.env.FAULT_SUITE !== 'fast';
const EVENTS = FULL ? 50_000 : 6_000;
const PUBLISH_CONCURRENCY = 16;
/** Publishing is paced over this long, so every fault lands while events are still arriving. */
const PUBLISH_SECONDS = FULL ? 60 : 20;

for (const tlsMode of suiteTlsModes()) {
  describe(`fault suite: audit events through crashes and restarts (TLS ${tlsMode})`, function () {
    this.timeout(1_800_000);

    it(`when ${EVENTS} events are published while a writer is SIGKILLed three times, Redis restarts once and PostgreSQL once, then each is stored exactly once and the chain verifies`, async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'artstore-faults-'));
      const [pgPort, redisPort] = [await pickPort(0), await pickPort(0)];
      const pgOptions = { dataDir: path.join(dir, 'postgres'), port: pgPort };
      const redisOptions = { dataDir: path.join(dir, 'redis'), port: redisPort };
      let postgres = await startEmbeddedPostgres(pgOptions);
      let redis = await startEmbeddedRedis(redisOptions);
      const database = await createTestDatabase(postgres.url);
      let env = testEnv({ ...(tlsMode === 'on' ? await tlsTestEnv() : {}), DATABASE_URL: database.url, REDIS_URL: redis.url, BULLMQ_PREFIX: 'faults' });
      const admin = tlsMode === 'on' ? await startChildService('services/admin/main.ts', env) : undefined;
      if (admin) env = { ...env, ADMIN_URL: admin.url };
      const writers: ChildService[] = [];
      const startWriter = async () => writers.push(await startChildService('test/support/audit-writer-child.ts', env));
      const queue = new Queue(QueueName.AuditEvents, { connection: { url: redis.url, maxRetriesPerRequest: null }, prefix: 'faults' });
      // Its connection breaks with the Redis restart, a fault the test makes; publishOne retries.
      queue.on('error', () => undefined);
      const prisma = createPrismaClient(database.url);
      const faults: string[] = [];
      try {
        await startWriter();
        await startWriter();
        const actions: [number, () => Promise<void>][] = [
          [0.15, async () => killWriter()],
          [0.35, async () => killWriter()],
          [
            0.45,
            async () => {
              await redis.stop();
              redis = await startEmbeddedRedis(redisOptions);
              faults.push('Redis restarted (AOF)');
            },
          ],
          [0.6, async () => killWriter()],
          [
            0.75,
            async () => {
              await postgres.stop();
              postgres = await startEmbeddedPostgres(pgOptions);
              faults.push('PostgreSQL restarted');
            },
          ],
        ];
        async function killWriter() {
          const victim = writers.shift()!;
          process.kill(victim.pid, 'SIGKILL');
          await victim.stop();
          faults.push(`writer ${victim.pid} SIGKILLed`);
          await startWriter();
        }

        const ids = new Set<string>();
        let next = 0;
        let retries = 0;
        const publishOne = async (index: number) => {
          const event = sampleAuditEvent({}, index);
          ids.add(event.event_id);
          for (;;) {
            try {
              await queue.add(AuditJob.Record, event, { ...DEFAULT_JOB_OPTIONS, jobId: event.event_id });
              return;
            } catch {
              retries++;
              await sleep(100);
            }
          }
        };
        // Faults run one after another, each while publishing goes on.
        let faulting = Promise.resolve();
        const publishStart = Date.now();
        while (next < EVENTS) {
          const ahead = publishStart + (next / EVENTS) * PUBLISH_SECONDS * 1000 - Date.now();
          if (ahead > 0) await sleep(ahead);
          const due = actions[0];
          if (due && next >= due[0] * EVENTS) {
            actions.shift();
            faulting = faulting.then(due[1]);
          }
          const batch = Array.from({ length: Math.min(PUBLISH_CONCURRENCY * 10, EVENTS - next) }, () => next++);
          for (let i = 0; i < batch.length; i += PUBLISH_CONCURRENCY) await Promise.all(batch.slice(i, i + PUBLISH_CONCURRENCY).map(publishOne));
        }
        await faulting;
        while (actions.length) await actions.shift()![1]();

        // Only the published events: with TLS on, admin's own (certificates issued to writers) are in the log too.
        const published = [...ids];
        const stored = async () =>
          (
            await prisma.$queryRaw<
              { total: bigint; distinct_ids: bigint }[]
            >`SELECT count(*) AS total, count(DISTINCT event_id) AS distinct_ids FROM audit_logs WHERE event_id::text = ANY(${published}::text[])`
          )[0]!;
        // Not all stored in time: the count below reports the lost ones.
        await waitFor(
          () =>
            stored().then(
              (counts) => Number(counts.distinct_ids) >= EVENTS,
              () => false,
            ),
          {
            timeoutMs: FULL ? 600_000 : 180_000,
            intervalMs: 1000,
          },
        ).catch(() => undefined);
        await sleep(2000);
        const counts = await stored();
        const storedIds = new Set((await prisma.$queryRaw<{ event_id: string }[]>`SELECT event_id::text FROM audit_logs`).map((r) => r.event_id));
        const lost = [...ids].filter((id) => !storedIds.has(id)).length;
        const duplicated = Number(counts.total) - Number(counts.distinct_ids);
        const report = await verifyAuditLog(prisma, createAuditKeyRing(loadConfig('audit-writer', env).auditKeys));
        process.stdout.write(
          `\n    audit faults: ${faults.length} faults injected (${faults.join('; ')}), ${ids.size} events published (${retries} publish retries), ` +
            `${counts.distinct_ids} stored, ${lost} lost, ${duplicated} duplicated, chain ${report.ok ? 'verifies' : 'BROKEN'} over ${report.records_checked} records\n`,
        );
        assert.equal(faults.length, 5);
        assert.equal(lost, 0, 'events lost');
        assert.equal(duplicated, 0, 'events duplicated');
        assert.equal(Number(counts.total), EVENTS);
        assert.ok(report.ok, `chain broken: ${JSON.stringify(report.first_break)}`);
      } finally {
        await prisma.$disconnect();
        await queue.close().catch(() => {});
        await Promise.all([...writers, ...(admin ? [admin] : [])].map((w) => w.stop()));
        await redis.stop();
        await postgres.stop();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}
