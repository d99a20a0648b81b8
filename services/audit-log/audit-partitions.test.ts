import assert from 'node:assert/strict';
import { verifyAuditLog } from './verify-chain.ts';
import { removeChains, sampleAuditEvents } from '../../test/support/audit-events.ts';
import { TEST_SECRETS, testInfra } from '../../test/support/infra.ts';
import { createChainWriter, ensureChainHead } from './chain-writer.ts';
import { parseAuditKeyRing } from '../platform/config/index.ts';
import { createPrismaClient, type PrismaClient } from '../platform/db/client.ts';
import { Secret } from '../platform/secret.ts';
import { addMonths, ensureAuditPartitions, listAuditPartitions, partitionFor } from './audit-partitions.ts';
import { createAuditKeyRing } from './audit-signature.ts';

describe('audit_logs monthly partitions', () => {
  let prisma: PrismaClient;
  before(() => {
    prisma = createPrismaClient(testInfra().databaseUrl);
  });
  after(() => prisma.$disconnect());

  const partitionsOf = async (chainId: number) =>
    (await prisma.$queryRaw<{ part: string }[]>`SELECT DISTINCT tableoid::regclass::text AS part FROM audit_logs WHERE chain_id = ${chainId}`).map(
      (r) => r.part,
    );

  it('when a record lands in a month without a partition, then it waits in the default partition and moves when that month is created', async () => {
    const keyRing = createAuditKeyRing(parseAuditKeyRing(new Secret(TEST_SECRETS.AUDIT_LOG_SECRET_KEY)));
    const chainId = 700_000 + Math.floor(Math.random() * 10_000);
    const month = addMonths(new Date(), 30 + Math.floor(Math.random() * 100));
    await ensureChainHead(prisma, chainId);
    await createChainWriter(prisma, keyRing, { chainId, now: () => month }).write(sampleAuditEvents(3));
    assert.deepEqual(await partitionsOf(chainId), ['audit_logs_default']);

    const created = await ensureAuditPartitions(prisma, { first: month, monthsAhead: 0 });
    assert.deepEqual(created, [partitionFor(month).name]);
    assert.deepEqual(await partitionsOf(chainId), [partitionFor(month).name]);
    assert.ok((await listAuditPartitions(prisma)).some((p) => p.name === partitionFor(month).name && p.from.getTime() === month.getTime()));
    const report = await verifyAuditLog(prisma, keyRing, { chainIds: [chainId] });
    assert.deepEqual([report.ok, report.records_checked], [true, 3]);
    assert.deepEqual(await ensureAuditPartitions(prisma, { first: month, monthsAhead: 0 }), [], 'a second run creates nothing');
    await removeChains(prisma, chainId, chainId + 1);
  });
});
