import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import { verifyAuditLog } from './verify-chain.ts';
import { addMonths, ensureAuditPartitions, listAuditPartitions, partitionFor } from './audit-partitions.ts';
import { createAuditKeyRing } from './audit-signature.ts';
import { parseAuditKeyRing } from '../platform/config/index.ts';
import { createPrismaClient, type PrismaClient } from '../platform/db/client.ts';
import { Secret } from '../platform/secret.ts';
import { removeChains, sampleAuditEvents } from '../../test/support/audit-events.ts';
import { TEST_SECRETS, testInfra } from '../../test/support/infra.ts';
import { Queue, QueueEvents } from 'bullmq';
import { MaintenanceJob, QueueName } from '../platform/queues.ts';
import { isolatedPrefix, testConfig } from '../../test/support/infra.ts';
import { createChainWriter, ensureChainHead } from './chain-writer.ts';
import { applyAuditRetention } from './retention.ts';
import { ensureDigestKeys } from './digests/digest-keys.ts';
import { start as startMaintenance } from '../../workers/maintenance/worker.ts';

const keyRing = createAuditKeyRing(parseAuditKeyRing(new Secret(TEST_SECRETS.AUDIT_LOG_SECRET_KEY)));
const YEAR_MS = 365 * 86_400_000;

describe('audit log retention', () => {
  let prisma: PrismaClient;
  let digestKek: KeyObject;
  const chainId = 500_000 + Math.floor(Math.random() * 10_000);
  before(async () => {
    prisma = createPrismaClient(testInfra().databaseUrl);
    const config = testConfig('maintenance');
    digestKek = config.auditDigestKeyEncryptionKey!;
    await ensureDigestKeys({ prisma, kek: digestKek, rotationSchedule: config.auditDigests.keyRotationSchedule });
  });
  after(async () => {
    await removeChains(prisma, chainId, chainId + 2);
    await prisma.$disconnect();
  });

  const writeAt = async (when: Date, count: number, chain = chainId) => {
    await ensureChainHead(prisma, chain);
    return (await createChainWriter(prisma, keyRing, { chainId: chain, now: () => when }).write(sampleAuditEvents(count))).stored;
  };

  it('when records pass their retention, then their partitions are dropped, the chain keeps an anchor and still verifies', async () => {
    const now = new Date();
    const fourYearsAgo = new Date(now.getTime() - 4 * YEAR_MS);
    const threeYearsAgo = new Date(now.getTime() - 3 * YEAR_MS);
    await ensureAuditPartitions(prisma, { first: threeYearsAgo, monthsAhead: 0 });
    await writeAt(fourYearsAgo, 2); // no partition for that month: these wait in the default partition
    const old = await writeAt(threeYearsAgo, 3);
    await writeAt(now, 4);
    const before = await verifyAuditLog(prisma, keyRing, { chainIds: [chainId] });
    assert.deepEqual([before.ok, before.records_checked], [true, 9]);

    const result = await applyAuditRetention(prisma, { retentionDays: 365, now, digestKek });
    assert.ok(result.droppedPartitions.includes(partitionFor(threeYearsAgo).name), JSON.stringify(result));
    assert.ok(result.deletedRows >= 2);
    assert.deepEqual(
      result.anchors.find((a) => a.chain_id === chainId),
      { chain_id: chainId, sequence: 5 },
    );
    const partitions = (await listAuditPartitions(prisma)).map((p) => p.name);
    assert.ok(!partitions.includes(partitionFor(threeYearsAgo).name));
    assert.ok(partitions.includes(partitionFor(addMonths(now, 3)).name), 'the coming months have partitions');

    const after = await verifyAuditLog(prisma, keyRing, { chainIds: [chainId], retentionDays: 365, now });
    assert.equal(after.ok, true, JSON.stringify(after.first_break));
    assert.deepEqual([after.records_checked, after.chains[0]?.anchor_sequence, after.chains[0]?.first_sequence], [4, 5, 6]);
    const [head] = await prisma.$queryRaw<{ anchor_signature: string }[]>`SELECT anchor_signature FROM audit_chain_heads WHERE chain_id = ${chainId}`;
    assert.equal(head?.anchor_signature, old.at(-1)!.signature);

    const again = await applyAuditRetention(prisma, { retentionDays: 365, now, digestKek });
    assert.deepEqual([again.droppedPartitions, again.anchors.filter((a) => a.chain_id === chainId)], [[], []]);

    await prisma.$executeRaw`DELETE FROM audit_logs WHERE chain_id = ${chainId} AND sequence = 6`;
    const tampered = await verifyAuditLog(prisma, keyRing, { chainIds: [chainId], retentionDays: 365, now });
    assert.deepEqual([tampered.first_break?.kind, tampered.first_break?.sequence], ['deleted', 6]);
  });

  it('when records still within retention are removed and an anchor is faked over them, then verification reports them deleted', async () => {
    const chain = chainId + 1;
    const records = await writeAt(new Date(), 5, chain);
    await prisma.$executeRaw`DELETE FROM audit_logs WHERE chain_id = ${chain} AND sequence <= 2`;
    await prisma.$executeRaw`UPDATE audit_chain_heads SET anchor_sequence = 2, anchor_signature = ${records[1]!.signature},
      anchor_recorded_at = ${new Date(records[1]!.recorded_at)} WHERE chain_id = ${chain}`;
    const report = await verifyAuditLog(prisma, keyRing, { chainIds: [chain], retentionDays: 365 });
    assert.deepEqual([report.first_break?.kind, report.first_break?.sequence], ['deleted', 2]);
    assert.match(report.first_break!.message, /before their retention ended/);
  });

  it('when the weekly cleanup job runs, then it applies audit retention and keeps partitions ahead', async function () {
    this.timeout(30_000);
    const prefix = isolatedPrefix('cleanup');
    const connection = { url: testInfra().redisUrl };
    const queue = new Queue(QueueName.Maintenance, { connection, prefix });
    const events = new QueueEvents(QueueName.Maintenance, { connection, prefix });
    const worker = await startMaintenance(testConfig('maintenance', { BULLMQ_PREFIX: prefix }));
    try {
      await events.waitUntilReady();
      const job = await queue.add(MaintenanceJob.WeeklyCleanup, {});
      const result = (await job.waitUntilFinished(events, 20_000)) as { audit: { cutoff: string } };
      const expected = new Date(Date.now() - 2555 * 86_400_000);
      assert.equal(result.audit.cutoff, new Date(Date.UTC(expected.getUTCFullYear(), expected.getUTCMonth(), 1)).toISOString());
      const partitions = (await listAuditPartitions(prisma)).map((p) => p.name);
      assert.ok(partitions.includes(partitionFor(addMonths(new Date(), 3)).name));
    } finally {
      await worker.stop();
      await events.close();
      await queue.close();
    }
  });
});
