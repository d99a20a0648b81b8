import assert from 'node:assert/strict';
import { Queue, QueueEvents } from 'bullmq';
import { MaintenanceJob, QueueName } from '../services/platform/queues.ts';
import type { RunningService } from '../services/platform/runtime.ts';
import { startWorkerService, type Processors } from '../services/platform/worker-runtime.ts';
import { start as startAuditWriter } from '../workers/audit-writer/worker.ts';
import { start as startMaintenance } from '../workers/maintenance/worker.ts';
import { testConfig, testInfra } from './support/infra.ts';

describe('worker processes', () => {
  const running: RunningService[] = [];
  after(() => Promise.all(running.map((w) => w.stop())));

  for (const [name, start] of [
    ['audit-writer', startAuditWriter],
    ['maintenance', startMaintenance],
  ] as const) {
    it(`when the ${name} worker starts, then it serves /health, /ready and /metrics for Prometheus`, async () => {
      const worker = await start(testConfig(name));
      running.push(worker);
      assert.equal((await fetch(`${worker.url}/health`)).status, 200);
      const ready = await fetch(`${worker.url}/ready`);
      assert.equal(ready.status, 200, await ready.clone().text());
      assert.deepEqual(((await ready.json()) as { checks: unknown }).checks, { redis: 'ok', database: 'ok', worker: 'ok' });
      const metrics = await (await fetch(`${worker.url}/metrics`)).text();
      assert.match(metrics, new RegExp(`process_cpu_user_seconds_total\\{service="${name}"\\}`));
    });
  }

  it('when a job name has no processor, then it fails at once without retries', async function () {
    this.timeout(20_000);
    const { redisUrl, bullmqPrefix } = testInfra();
    const connection = { url: redisUrl };
    const queue = new Queue(QueueName.Maintenance, { connection, prefix: bullmqPrefix });
    const events = new QueueEvents(QueueName.Maintenance, { connection, prefix: bullmqPrefix });
    try {
      await events.waitUntilReady();
      if (!running.some((w) => w.deps.config.service === 'maintenance')) running.push(await startMaintenance(testConfig('maintenance')));
      const job = await queue.add('no-such-job', {}, { attempts: 5 });
      const failed = await new Promise<string>((resolve) => events.on('failed', ({ jobId, failedReason }) => jobId === job.id && resolve(failedReason)));
      assert.match(failed, /no processor for job "no-such-job"/);
      const stored = await queue.getJob(job.id!);
      assert.equal(stored?.attemptsMade, 1);
    } finally {
      await events.close();
      await queue.close();
    }
  });

  // The Processors type refuses both at compile time; a JavaScript caller or a cast still meets the boot check.
  const refusedStart = (processors: Record<string, () => Promise<unknown>>) =>
    startWorkerService(testConfig('maintenance'), {
      queue: QueueName.Maintenance,
      processors: processors as unknown as Processors<typeof QueueName.Maintenance>,
    });

  it('when a job of the queue has no processor, then the worker refuses to start and names that job', async () => {
    const processors = {
      [MaintenanceJob.RotateJwtKeys]: async () => undefined,
      [MaintenanceJob.RotateAuditDigestKeys]: async () => undefined,
      [MaintenanceJob.RotateCaIntermediate]: async () => undefined,
      [MaintenanceJob.RotateCaRoot]: async () => undefined,
    };
    await assert.rejects(refusedStart(processors), /missing for \[weekly-cleanup\]/);
  });

  it('when a processor names a job the queue does not carry, then the worker refuses to start and names that job', async () => {
    const processors = {
      [MaintenanceJob.RotateJwtKeys]: async () => undefined,
      [MaintenanceJob.WeeklyCleanup]: async () => undefined,
      [MaintenanceJob.RotateAuditDigestKeys]: async () => undefined,
      [MaintenanceJob.RotateCaIntermediate]: async () => undefined,
      [MaintenanceJob.RotateCaRoot]: async () => undefined,
    };
    await assert.rejects(refusedStart({ ...processors, 'made-up-job': async () => undefined }), /unknown \[made-up-job\]/);
  });
});
