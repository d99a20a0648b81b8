import type { Queue } from 'bullmq';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../platform/logger.ts';

const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;
/** A scrape must not hang on a stalled Redis; past this the gauges are left out of that scrape. */
const SCRAPE_TIMEOUT_MS = 1000;

/**
 * bullmq_job_count{queue,state}: read at scrape time with one getJobCounts per queue (a few O(1)
 * Redis commands), nothing kept in between. An unreachable Redis leaves the series out rather than
 * reporting stale counts.
 */
export function registerQueueGauges(registry: Registry, queues: Queue[], logger: Logger): Gauge<'queue' | 'state'> {
  return new Gauge({
    name: 'bullmq_job_count',
    help: 'Jobs in each BullMQ queue by state, read when scraped',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      await Promise.all(
        queues.map(async (queue) => {
          let timer: NodeJS.Timeout | undefined;
          try {
            const counts = await Promise.race([
              queue.getJobCounts(...STATES),
              new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), SCRAPE_TIMEOUT_MS))),
            ]);
            for (const state of STATES) this.set({ queue: queue.name, state }, counts[state] ?? 0);
          } catch (err) {
            logger.debug({ queue: queue.name, err: (err as Error).message }, 'bullmq_job_count: queue unreadable');
          } finally {
            clearTimeout(timer);
          }
        }),
      );
    },
  });
}
