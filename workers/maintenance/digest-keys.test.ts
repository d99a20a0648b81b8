import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { issueTreeDigest } from '../../services/audit-log/digests/digest-issuer.ts';
import { publishedDigestKeys } from '../../services/audit-log/digests/digest-keys.ts';
import { verifyDigestChain } from '../../services/audit-log/digests/digest-verification.ts';
import { QueueName } from '../../services/platform/queues.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { digestTestContext } from '../../test/support/audit-digests.ts';
import { eventsOfJobs } from '../../test/support/audit-jobs.ts';
import { isolatedPrefix, testConfig, testInfra } from '../../test/support/infra.ts';
import { untilMidSlot } from '../../test/support/scheduler-slot.ts';
import { start } from './worker.ts';

describe('maintenance worker: audit digest key rotation', () => {
  let ctx: Awaited<ReturnType<typeof digestTestContext>>;
  const running: RunningService[] = [];
  before(async () => {
    ctx = await digestTestContext();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((w) => w.stop()));
  });
  after(() => ctx.close());

  const rotationCount = async () => {
    const [row] = await ctx.prisma.$queryRaw<{ n: number }[]>`SELECT max(rotation_count)::int AS n FROM audit_digest_keys`;
    return row!.n;
  };

  it('when three workers share a rotation ticking every 2 s, then each tick rotates once, and digests signed by every earlier key still verify', async function () {
    this.timeout(60_000);
    const every = 2000;
    const prefix = isolatedPrefix('digest-keys');
    const before = await rotationCount();
    const env = { BULLMQ_PREFIX: prefix, AUDIT_DIGEST_KEY_ROTATION_EVERY_MS: String(every) };
    running.push(...(await Promise.all([0, 1, 2].map(() => start(testConfig('maintenance', env))))));

    const chain = await ctx.chain();
    await untilMidSlot(every);
    const from = { slot: Math.floor(Date.now() / every), rotation: await rotationCount(), at: new Date() };
    // A digest in every slot, so each key that was active signs one.
    for (let i = 0; i < 5; i++) {
      await chain.write(1);
      assert.ok(await issueTreeDigest(ctx.prisma, ctx.kek, chain.chainId, { everyMs: every, maxSilenceMs: 60_000 }));
      await sleep(every);
    }
    await untilMidSlot(every);
    const to = { slot: Math.floor(Date.now() / every), rotation: await rotationCount() };
    const ticks = to.slot - from.slot;
    assert.ok(ticks >= 5, `at least five ticks elapsed (${ticks})`);
    assert.equal(to.rotation - from.rotation, ticks, 'one rotation per tick');
    await Promise.all(running.splice(0).map((w) => w.stop()));

    const { keys } = await publishedDigestKeys(ctx.prisma);
    const activations = keys
      .filter((k) => k.activated_at && Date.parse(k.activated_at) > from.at.getTime())
      .map((k) => Math.floor(Date.parse(k.activated_at!) / every));
    assert.equal(new Set(activations).size, activations.length, 'never two rotations in one slot');

    const digests = await ctx.digests(chain.chainId);
    assert.ok(new Set(digests.map((d) => d.key_id)).size >= 3, 'the digests were signed by several keys in turn');
    assert.deepEqual(verifyDigestChain(digests, keys, { fromFirst: true }), { ok: true, checked: digests.length, problems: [] });
    const retired = keys.filter((k) => k.state === 'retired');
    assert.ok(retired.length >= 3, 'retired keys stay published');
    const [kept] = await ctx.prisma.$queryRaw<
      { n: number }[]
    >`SELECT count(*)::int AS n FROM audit_digest_keys WHERE state = 'retired' AND private_key IS NOT NULL`;
    assert.equal(kept!.n, 0, 'a retired key has no private half left');
    await assert.rejects(ctx.prisma.$executeRaw`DELETE FROM audit_digest_keys WHERE kid = ${retired[0]!.kid}`, /never deleted/);

    // Every rotation is one digest_key_rotated event, whichever replica did it.
    const queue = new Queue(QueueName.AuditEvents, { connection: { url: testInfra().redisUrl }, prefix });
    try {
      const events = eventsOfJobs(await queue.getJobs(['waiting', 'prioritized', 'delayed']));
      const rotated = events.filter((e) => e.event_type === 'digest_key_rotated');
      assert.equal(rotated.length, (await rotationCount()) - before);
      assert.ok(rotated.every((e) => e.event_category === 'security' && e.source === 'maintenance'));
    } finally {
      await queue.close();
    }
  });
});
