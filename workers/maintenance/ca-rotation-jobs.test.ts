import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import type { AuditEvent } from '../../services/audit-log/events.ts';
import { createPrismaClient, type PrismaClient } from '../../services/platform/db/client.ts';
import { MaintenanceJob, QueueName, type AuditEventGroup } from '../../services/platform/queues.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { isolatedPrefix, testConfig, testInfra } from '../../test/support/infra.ts';
import { metricValue } from '../../test/support/modules.ts';
import { untilMidSlot } from '../../test/support/scheduler-slot.ts';
import { emptyCaTable } from '../../test/support/tls-modules.ts';
import { start } from './worker.ts';

/** Every tick is due: an intermediate older than a second is replaced, and a tick comes every 2 s. */
const EVERY_MS = 2000;
const caEnv = () => ({
  PKI_KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
  PKI_INTERMEDIATE_ROTATION_EVERY_MS: String(EVERY_MS),
  PKI_INTERMEDIATE_ROTATE_SECONDS: '1',
  PKI_INTERMEDIATE_TTL_SECONDS: '3600',
  PKI_LEAF_TTL_SECONDS: '60',
});

/** The audit events still waiting in a prefix's audit queue (no writer runs in these tests), singly or grouped. */
async function queuedAuditEvents(prefix: string): Promise<AuditEvent[]> {
  const queue = new Queue(QueueName.AuditEvents, { connection: { url: testInfra().redisUrl }, prefix });
  try {
    const jobs = await queue.getJobs(['waiting', 'prioritized', 'delayed']);
    return jobs.flatMap((job) => ((job.data as AuditEventGroup).events ?? [job.data]) as AuditEvent[]);
  } finally {
    await queue.close();
  }
}

describe('maintenance worker: CA intermediate rotation across replicas', () => {
  let prisma: PrismaClient;
  const running: RunningService[] = [];
  const intermediates = () => prisma.pkiAuthority.findMany({ where: { kind: 'intermediate' }, orderBy: { id: 'asc' } });

  before(() => {
    prisma = createPrismaClient(testInfra().databaseUrl);
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((w) => w.stop()));
  });
  after(async () => {
    await prisma.$disconnect();
    await emptyCaTable();
  });

  it('when three workers share one CA scheduler ticking every 2 s, then each tick makes exactly one intermediate and one certificate_rotation event', async function () {
    this.timeout(60_000);
    await emptyCaTable();
    const prefix = isolatedPrefix('ca-replicas');
    const env = { ...caEnv(), BULLMQ_PREFIX: prefix };
    const workers = await Promise.all([0, 1, 2].map(() => start(testConfig('maintenance', env))));
    running.push(...workers);

    await untilMidSlot(EVERY_MS);
    const from = { slot: Math.floor(Date.now() / EVERY_MS), rows: (await intermediates()).length, at: new Date() };
    await sleep(5 * EVERY_MS);
    await untilMidSlot(EVERY_MS);
    const to = { slot: Math.floor(Date.now() / EVERY_MS), at: new Date() };
    const rows = await intermediates();
    const ticks = to.slot - from.slot;
    assert.ok(ticks >= 5, `at least five ticks elapsed (${ticks})`);
    assert.equal(rows.length - from.rows, ticks, 'one new intermediate per tick');

    const activationSlots = rows.filter((row) => row.activatedAt! > from.at).map((row) => Math.floor(row.activatedAt!.getTime() / EVERY_MS));
    assert.equal(new Set(activationSlots).size, activationSlots.length, 'never two intermediates in one slot');
    assert.equal(rows.filter((row) => row.state === 'active').length, 1, 'one active intermediate');
    assert.ok(
      rows.slice(0, -1).every((row) => row.state === 'grace'),
      'the replaced ones stay trusted until they expire',
    );

    // The ticks' jobs: one per tick, whichever replica took it, each of which rotated.
    const queue = new Queue(QueueName.Maintenance, { connection: { url: testInfra().redisUrl }, prefix });
    try {
      const completed = (await queue.getJobs(['completed']))
        .filter(
          (job) =>
            job.name === MaintenanceJob.RotateCaIntermediate && job.repeatJobKey && job.finishedOn! > from.at.getTime() && job.finishedOn! <= to.at.getTime(),
        )
        .map((job) => job.returnvalue as { rotated: boolean });
      assert.equal(completed.length, ticks, 'one scheduler job per tick');
      assert.ok(
        completed.every((outcome) => outcome.rotated),
        'each rotated',
      );
    } finally {
      await queue.close();
    }

    await Promise.all(running.splice(0).map((w) => w.stop()));
    const counted = await Promise.all(
      workers.map(
        async (w) => metricValue(await w.deps.metrics.registry.metrics(), 'tls_certificate_rotations_total', { kind: 'intermediate', status: 'success' }) ?? 0,
      ),
    );
    const rotatedSinceStart = rows.length - 1;
    assert.equal(
      counted.reduce((a, b) => a + b, 0),
      rotatedSinceStart,
      'the workers together counted every rotation once',
    );
    const events = (await queuedAuditEvents(prefix)).filter((e) => e.event_type === 'certificate_rotation' && e.action === 'rotate_intermediate');
    assert.equal(events.length, rotatedSinceStart, 'one certificate_rotation event per rotation');
    assert.deepEqual(new Set(events.map((e) => e.resource_id)), new Set(rows.slice(1).map((row) => row.fingerprint)));
    assert.ok(events.every((e) => e.status === 'success' && e.source === 'maintenance' && e.event_category === 'security'));
  });

  it('when the same tick reaches three workers at once, then the CA lock lets one rotate and the others find nothing due', async function () {
    this.timeout(60_000);
    await emptyCaTable();
    const prefix = isolatedPrefix('ca-duplicates');
    // The schedule far away: only the jobs added here run, once the intermediate is due (4 s), and a
    // duplicate would have to come 4 s after the rotation to find another one due.
    const env = { ...caEnv(), BULLMQ_PREFIX: prefix, PKI_INTERMEDIATE_ROTATION_EVERY_MS: String(3_600_000), PKI_INTERMEDIATE_ROTATE_SECONDS: '4' };
    running.push(...(await Promise.all([0, 1, 2].map(() => start(testConfig('maintenance', env))))));
    const before = (await intermediates()).length;
    await sleep(4100);

    const queue = new Queue(QueueName.Maintenance, { connection: { url: testInfra().redisUrl }, prefix });
    try {
      const jobs = await queue.addBulk(Array.from({ length: 6 }, () => ({ name: MaintenanceJob.RotateCaIntermediate, data: { force: false } })));
      const outcomes = await Promise.all(
        jobs.map(async (job) => {
          for (;;) {
            const state = await job.getState();
            if (state === 'completed') {
              const done = (await queue.getJob(job.id!))!;
              // A rotation that collided with another (no lock) fails and is retried: none may have.
              assert.deepEqual(done.stacktrace, [], `job ${job.id} failed on the way`);
              return done.returnvalue as { rotated: boolean; reason?: string };
            }
            if (state === 'failed') throw new Error(`job ${job.id} failed: ${(await queue.getJob(job.id!))!.failedReason}`);
            await sleep(50);
          }
        }),
      );
      assert.equal(outcomes.filter((o) => o.rotated).length, 1, JSON.stringify(outcomes));
      assert.ok(outcomes.filter((o) => !o.rotated).every((o) => o.reason === 'not due'));
    } finally {
      await queue.close();
    }
    assert.equal((await intermediates()).length, before + 1);
  });
});
