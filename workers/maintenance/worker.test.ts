import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { ensureSigningKeys } from '../../services/signing-keys/key-lifecycle.ts';
import { createKeyStore, type KeyRecord } from '../../services/signing-keys/key-store.ts';
import type { Env } from '../../services/platform/config/index.ts';
import { QueueName } from '../../services/platform/queues.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { isolatedPrefix, testConfig, testInfra } from '../../test/support/infra.ts';
import { metricValue } from '../../test/support/modules.ts';
import { untilMidSlot } from '../../test/support/scheduler-slot.ts';
import { emptyKeyTable, keyTestContext, restoreDefaultKeys } from '../../test/support/signing-keys.ts';
import { start } from './worker.ts';

describe('maintenance worker: signing key schedule', () => {
  let ctx: ReturnType<typeof keyTestContext>;
  const running: RunningService[] = [];
  const startWorker = async (env: Env) => {
    const worker = await start(testConfig('maintenance', env));
    running.push(worker);
    return worker;
  };
  const live = async () => {
    const keys = await createKeyStore(ctx.prisma).live();
    const one = (state: KeyRecord['state']) => keys.find((k) => k.state === state)!;
    return { active: one('active'), next: one('next') };
  };

  before(() => {
    ctx = keyTestContext();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((w) => w.stop()));
  });
  after(async () => {
    await ctx.close();
    await restoreDefaultKeys();
  });

  it('when workers start again and again, then each scheduler id exists once with one pending job', async () => {
    const prefix = isolatedPrefix('mw');
    await Promise.all([startWorker({ BULLMQ_PREFIX: prefix }), startWorker({ BULLMQ_PREFIX: prefix })]);
    await startWorker({ BULLMQ_PREFIX: prefix, JWT_KEY_ROTATION_CRON: '30 4 * * *', JWT_KEY_ROTATION_TZ: 'Europe/Paris' });
    const queue = new Queue(QueueName.Maintenance, { connection: { url: testInfra().redisUrl }, prefix });
    try {
      const schedulers = (await queue.getJobSchedulers()).sort((a, b) => a.key.localeCompare(b.key));
      assert.deepEqual(
        schedulers.map((s) => ({ key: s.key, name: s.name, pattern: s.pattern, tz: s.tz })),
        [
          { key: 'rotate-audit-digest-keys', name: 'rotate-audit-digest-keys', pattern: '0 4 1 * *', tz: 'UTC' },
          { key: 'rotate-jwt-keys', name: 'rotate-jwt-keys', pattern: '30 4 * * *', tz: 'Europe/Paris' },
          { key: 'weekly-cleanup', name: 'weekly-cleanup', pattern: '0 3 * * 0', tz: 'UTC' },
        ],
      );
      const pending = (await queue.getDelayed()).map((job) => job.name).sort();
      assert.deepEqual(pending, ['rotate-audit-digest-keys', 'rotate-jwt-keys', 'weekly-cleanup']);
    } finally {
      await queue.close();
    }
  });

  it('when a worker starts after a missed rotation tick, then it rotates at once, and the next start does not rotate again', async () => {
    await emptyKeyTable(ctx.prisma);
    await ensureSigningKeys(ctx, new Date(Date.now() - 3 * 86_400_000));
    const before = await live();
    assert.ok(before.next.activatesAt! < new Date(), 'the planned rotation was missed');

    const prefix = isolatedPrefix('mw');
    await startWorker({ BULLMQ_PREFIX: prefix });
    const after = await live();
    assert.equal(after.active.kid, before.next.kid);
    assert.equal(after.active.rotationCount, before.active.rotationCount + 1);
    assert.ok(after.next.activatesAt! > new Date(), 'the new next key is planned for the coming tick');

    await startWorker({ BULLMQ_PREFIX: prefix });
    assert.equal((await live()).active.kid, after.active.kid);
  });

  it('when three workers share one scheduler ticking every 2 s, then each tick rotates exactly once', async function () {
    this.timeout(60_000);
    const every = 2000;
    await emptyKeyTable(ctx.prisma);
    const env = { BULLMQ_PREFIX: isolatedPrefix('mw'), JWT_KEY_ROTATION_EVERY_MS: String(every), JWT_ALGORITHM: 'ES256' };
    const workers = await Promise.all([startWorker(env), startWorker(env), startWorker(env)]);

    await untilMidSlot(every);
    const from = { slot: Math.floor(Date.now() / every), rotation: (await live()).active.rotationCount, at: new Date() };
    await sleep(5 * every);
    await untilMidSlot(every);
    const to = { slot: Math.floor(Date.now() / every), rotation: (await live()).active.rotationCount };
    const ticks = to.slot - from.slot;
    assert.ok(ticks >= 5, `at least five ticks elapsed (${ticks})`);
    assert.equal(to.rotation - from.rotation, ticks, 'one rotation per tick');

    const activationSlots = (await createKeyStore(ctx.prisma).all())
      .filter((k) => k.activatedAt && k.activatedAt > from.at)
      .map((k) => Math.floor(k.activatedAt!.getTime() / every));
    assert.equal(new Set(activationSlots).size, activationSlots.length, 'never two rotations in one slot');

    await Promise.all(running.splice(0).map((w) => w.stop()));
    const successes = await Promise.all(
      workers.map(async (w) => metricValue(await w.deps.metrics.registry.metrics(), 'jwt_key_rotation_total', { status: 'success' }) ?? 0),
    );
    assert.equal(
      successes.reduce((a, b) => a + b, 0),
      (await live()).active.rotationCount,
      'the workers together recorded every rotation once',
    );
  });
});
