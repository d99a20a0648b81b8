import { setTimeout as sleep } from 'node:timers/promises';
import { QueueEvents } from 'bullmq';
import type { Env } from '../../services/platform/config/index.ts';
import { MaintenanceJob, openQueue, QueueName } from '../../services/platform/queues.ts';
import type { RotationOutcome } from '../../services/pki/certificate-authority.ts';

/**
 * A CA for a run of seconds: leaves of `leafTtlSeconds` (renewed at two thirds, so every few seconds in
 * every process) and a new root published `publishAheadSeconds` before it signs. The intermediate and
 * the root are far from due: they rotate when `rotateIntermediateAndRoot` forces them.
 */
export function fastLeafPki(options: { leafTtlSeconds: number; publishAheadSeconds: number }): Env {
  return {
    PKI_LEAF_TTL_SECONDS: String(options.leafTtlSeconds),
    PKI_INTERMEDIATE_TTL_SECONDS: '3600',
    PKI_INTERMEDIATE_ROTATE_SECONDS: '1800',
    PKI_ROOT_TTL_SECONDS: '7200',
    PKI_ROOT_ROTATE_SECONDS: '3600',
    PKI_ROOT_PUBLISH_AHEAD_SECONDS: String(options.publishAheadSeconds),
  };
}

/** What `rotateIntermediateAndRoot` reports when every step rotated. */
export const ROTATED_ONCE = ['intermediate activated', 'root published', 'root promoted'];

/**
 * The intermediate rotated once and the root replaced once, by the maintenance worker's own jobs
 * (rotate-ca-intermediate, rotate-ca-root) forced through its queue under `bullmqPrefix`: after
 * `pauseMs` the intermediate, after another `pauseMs` the new root is published, and once every
 * bundle has held it for `publishAheadSeconds` it is promoted. Each job's outcome, as
 * "intermediate activated" or, when a job did not rotate, its reason.
 */
export async function rotateIntermediateAndRoot(
  redisUrl: string,
  bullmqPrefix: string,
  options: { pauseMs: number; publishAheadSeconds: number },
): Promise<string[]> {
  const connection = { connection: { url: redisUrl }, prefix: bullmqPrefix };
  const queue = openQueue(QueueName.Maintenance, connection);
  const events = new QueueEvents(QueueName.Maintenance, connection);
  try {
    await events.waitUntilReady();
    const rotate = async (name: typeof MaintenanceJob.RotateCaIntermediate | typeof MaintenanceJob.RotateCaRoot) => {
      const outcome = (await (await queue.add(name, { force: true })).waitUntilFinished(events, 30_000)) as RotationOutcome;
      return outcome.rotated ? `${outcome.kind} ${outcome.step}` : `${name}: ${outcome.reason}`;
    };
    const steps: string[] = [];
    await sleep(options.pauseMs);
    steps.push(await rotate(MaintenanceJob.RotateCaIntermediate));
    await sleep(options.pauseMs);
    steps.push(await rotate(MaintenanceJob.RotateCaRoot));
    await sleep(options.publishAheadSeconds * 1000 + 500);
    steps.push(await rotate(MaintenanceJob.RotateCaRoot));
    return steps;
  } finally {
    await events.close();
    await queue.close();
  }
}
