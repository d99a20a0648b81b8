import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PrismaClient } from '../platform/db/client.ts';
import { createKeyStore, type KeyRecord } from './key-store.ts';

export type RotationStatus = 'success' | 'failure' | 'skipped';

/** Rotation counters; every process that rotates (maintenance worker, admin on manual rotation) records into its own registry. */
export interface KeyMetrics {
  rotations: Counter<'status'>;
  rotationDuration: Histogram;
}

// One scrape reads both gauges; a short memo makes that one query, not two.
const SCRAPE_MEMO_MS = 1000;

/**
 * Registers the signing-key metrics the dashboards and alerts use on `registry`. The gauges are computed at scrape time from the
 * database; while it is unreachable they keep their last value rather than failing /metrics.
 */
export function registerKeyMetrics(registry: Registry, prisma: PrismaClient): KeyMetrics {
  const store = createKeyStore(prisma);
  let memo: { at: number; keys: Promise<KeyRecord[]> } | undefined;
  const publishedKeys = () => {
    const now = Date.now();
    if (!memo || now - memo.at > SCRAPE_MEMO_MS) memo = { at: now, keys: store.published(new Date(now)) };
    return memo.keys;
  };

  new Gauge({
    name: 'jwt_active_keys_count',
    help: 'Signing keys currently published in the JWKS (next, active and grace keys)',
    registers: [registry],
    async collect() {
      try {
        this.set((await publishedKeys()).length);
      } catch {
        // Keep the last value: a scrape must not fail because the database is away.
      }
    },
  });
  new Gauge({
    name: 'jwt_key_next_rotation_seconds',
    help: 'Seconds until the next key becomes active (negative: the rotation is overdue)',
    registers: [registry],
    async collect() {
      try {
        const next = (await publishedKeys()).find((k) => k.state === 'next');
        if (next?.activatesAt) this.set((next.activatesAt.getTime() - Date.now()) / 1000);
      } catch {
        // As above.
      }
    },
  });
  return {
    rotations: new Counter({
      name: 'jwt_key_rotation_total',
      help: 'JWT signing key rotations, by status (success, failure, skipped: not due yet)',
      labelNames: ['status'],
      registers: [registry],
    }),
    rotationDuration: new Histogram({
      name: 'jwt_key_rotation_duration_seconds',
      help: 'Time taken by successful JWT signing key rotations, key generation included',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
  };
}
