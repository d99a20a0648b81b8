/**
 * What publishing an audit event adds to a request: p50/p99 of `audit.publish()` (validation plus
 * one BullMQ add with jobId = event_id on the producer connection) one at a time and with requests
 * arriving at fixed rates (open loop), each next to a plain Redis PING round trip on the same
 * connection in the same run; the most one process can publish; and the spool's fsynced append,
 * the price of a publish while Redis is away.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { createAuditPublisher, type AuditEventInput, type AuditPublisher } from '../services/audit-log/publisher.ts';
import { createLogger } from '../services/platform/logger.ts';
import { createRedis, waitForRedis } from '../services/platform/redis.ts';
import { standaloneRedis } from '../services/platform/config/index.ts';
import { deleteKeys, testInfra } from '../test/support/infra.ts';
import { startRedisProxy } from '../test/support/redis-proxy.ts';
import { percentile, type Benchmark, type Figure } from './report.ts';

const SERIAL = 20_000;
const CONCURRENT = 16;
const CONCURRENT_TOTAL = 40_000;
const SPOOLED = 2000;
/** Request rates a module might see: everyday, busy, and the pipeline's 10,000 events/s target. */
const RATES = [1000, 5000, 10_000];
const RATE_SECONDS = 4;
const logger = createLogger({ service: 'bench', level: 'silent' });

/** A realistic event: what the 401/403 middleware publishes. */
const event = (n: number): AuditEventInput => ({
  event_type: 'authorization_denied',
  action: 'GET',
  status: 'denied',
  resource_type: 'api',
  resource_id: '/api/v1/service-accounts',
  ip_address: '203.0.113.7',
  user_agent: 'Mozilla/5.0 (X11; Linux x86_64) bench/1.0',
  request_id: `bench-${n}`,
  service_account_id: '6d1f5a8e-1b2c-4d3e-8f90-a1b2c3d4e5f6',
  details: { http_status: 403, reason: 'forbidden', client_id: 'reader-bench', role: 'reader' },
});

/** Milliseconds of each call, `concurrency` loops sharing `total` calls. */
async function timed(total: number, concurrency: number, call: (n: number) => Promise<unknown>): Promise<{ sorted: number[]; perSecond: number }> {
  const samples: number[] = [];
  let next = 0;
  const started = performance.now();
  const loop = async () => {
    while (next < total) {
      const n = next++;
      const t0 = performance.now();
      await call(n);
      samples.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { sorted: samples.sort((a, b) => a - b), perSecond: total / ((performance.now() - started) / 1000) };
}

/**
 * Open loop: calls started at `perSecond` whatever the answers do, as requests arrive at a server,
 * for `durationMs`; each call's time from its start to its answer.
 */
async function atRate(perSecond: number, durationMs: number, call: (n: number) => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  const inFlight: Promise<void>[] = [];
  const started = performance.now();
  let issued = 0;
  while (performance.now() - started < durationMs) {
    const due = Math.floor(((performance.now() - started) / 1000) * perSecond);
    for (; issued < due; issued++) {
      const t0 = performance.now();
      inFlight.push(call(issued).then(() => void samples.push(performance.now() - t0)));
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(inFlight);
  return samples.sort((a, b) => a - b);
}

/** p99 targets: 1 ms for everyday rates, 2 ms from 5,000 requests/s up (queueing in one event loop). */
const p99TargetMs = (rate?: number) => (rate !== undefined && rate >= 5000 ? 2 : 1);

function latencyFigures(label: string, publish: number[], ping: number[], pingLabel: string, rate?: number): Figure[] {
  const p99Target = p99TargetMs(rate);
  const p50 = percentile(publish, 50);
  const p99 = percentile(publish, 99);
  return [
    {
      name: `${label}: publish p50`,
      value: p50,
      unit: 'ms',
      baseline: { name: `${pingLabel} p50`, value: percentile(ping, 50), unit: 'ms' },
      target: '≤ 1 ms',
      met: p50 <= 1,
    },
    {
      name: `${label}: publish p99`,
      value: p99,
      unit: 'ms',
      baseline: { name: `${pingLabel} p99`, value: percentile(ping, 99), unit: 'ms' },
      target: `≤ ${p99Target} ms`,
      met: p99 <= p99Target,
    },
  ];
}

async function withPublisher<T>(
  redisUrl: string,
  prefix: string,
  delivery: 'fail-closed' | 'spool',
  spoolDir: string,
  use: (audit: AuditPublisher, redis: Redis) => Promise<T>,
): Promise<T> {
  const redis = createRedis(standaloneRedis(redisUrl), 'producer', logger, 'bench:producer');
  await waitForRedis(redis, 5000);
  const audit = await createAuditPublisher({ redis, bullmqPrefix: prefix, source: 'admin', delivery, spoolDir, logger });
  try {
    return await use(audit, redis);
  } finally {
    await audit.close();
    redis.disconnect();
  }
}

const benchmark: Benchmark = {
  title: 'Audit publish: the time an audit event adds to a request',
  async run(): Promise<Figure[]> {
    const infra = testInfra();
    const prefix = `${infra.bullmqPrefix}-bench-${randomBytes(3).toString('hex')}`;
    const spoolDir = await mkdtemp(path.join(tmpdir(), 'audit-spool-bench-'));
    const cleanup = createRedis(standaloneRedis(infra.redisUrl), 'producer', logger, 'bench:cleanup');
    const figures: Figure[] = [];
    try {
      await withPublisher(infra.redisUrl, prefix, 'fail-closed', spoolDir, async (audit, redis) => {
        // Warm-up: script loading, JIT, connection buffers.
        await timed(2000, 4, (n) => audit.publish(event(n)));
        await timed(2000, 4, () => redis.ping());

        const pingSerial = await timed(SERIAL, 1, () => redis.ping());
        const serial = await timed(SERIAL, 1, (n) => audit.publish(event(n)));
        figures.push(...latencyFigures('one request at a time', serial.sorted, pingSerial.sorted, 'Redis PING'));

        for (const rate of RATES) {
          const pings = await atRate(rate, RATE_SECONDS * 1000, () => redis.ping());
          const publishes = await atRate(rate, RATE_SECONDS * 1000, (n) => audit.publish(event(n)));
          figures.push(...latencyFigures(`${rate} requests/s, each publishing`, publishes, pings, `Redis PING at ${rate}/s`, rate));
        }

        // Closed loop: as fast as one process can publish, which is what caps the rates above.
        const pingConcurrent = await timed(CONCURRENT_TOTAL, CONCURRENT, () => redis.ping());
        const concurrent = await timed(CONCURRENT_TOTAL, CONCURRENT, (n) => audit.publish(event(n)));
        figures.push({
          name: `saturated (${CONCURRENT} in flight): publish p99`,
          value: percentile(concurrent.sorted, 99),
          unit: 'ms',
          baseline: { name: `Redis PING ×${CONCURRENT} p99`, value: percentile(pingConcurrent.sorted, 99), unit: 'ms' },
          target: 'none (queueing at saturation)',
          met: true,
        });
        figures.push({
          name: `publishes/s (${CONCURRENT} concurrent, one process)`,
          value: concurrent.perSecond,
          unit: 'events/s',
          baseline: { name: `Redis PING ×${CONCURRENT}`, value: pingConcurrent.perSecond, unit: 'pings/s' },
          target: '≥ 10,000 events/s (the pipeline target)',
          met: concurrent.perSecond >= 10_000,
        });
      });

      // Redis away under AUDIT_DELIVERY=spool: every publish waits for its fsync (appends share one).
      const proxy = await startRedisProxy(infra.redisUrl);
      try {
        await withPublisher(proxy.url, prefix, 'spool', spoolDir, async (audit, redis) => {
          proxy.cut();
          while (redis.status === 'ready') await new Promise((r) => setTimeout(r, 10));
          const spooled = await timed(SPOOLED, CONCURRENT, (n) => audit.publish(event(n)));
          figures.push({
            name: `Redis away, spool mode (${CONCURRENT} concurrent): publish p99`,
            value: percentile(spooled.sorted, 99),
            unit: 'ms',
            baseline: { name: 'p50', value: percentile(spooled.sorted, 50), unit: 'ms' },
            target: 'none (outage path, bounded by fsync)',
            met: true,
          });
        });
      } finally {
        await proxy.close();
      }
    } finally {
      await deleteKeys(cleanup, `${prefix}*`);
      cleanup.disconnect();
      await rm(spoolDir, { recursive: true, force: true });
    }
    return figures;
  },
};
export default benchmark;
