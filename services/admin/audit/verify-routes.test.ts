import assert from 'node:assert/strict';
import type { RunningService } from '../../platform/runtime.ts';
import { createAuditKeyRing } from '../../audit-log/audit-signature.ts';
import { createPrismaClient, type PrismaClient } from '../../platform/db/client.ts';
import { auditJobs } from '../../../test/support/audit-jobs.ts';
import { removeChains, sampleAuditEvents } from '../../../test/support/audit-events.ts';
import { isolatedPrefix, testConfig, testInfra } from '../../../test/support/infra.ts';
import { metricValue, MODULES } from '../../../test/support/modules.ts';
import { accountWithToken, adminToken } from '../../../test/support/tokens.ts';
import { createChainWriter, ensureChainHead } from '../../audit-log/chain-writer.ts';
import type { VerifyReport } from '../../audit-log/verify-chain.ts';

describe('GET /api/v1/audit/verify', () => {
  let admin: RunningService;
  let prisma: PrismaClient;
  let bearer: string;
  let jobs: ReturnType<typeof auditJobs>;
  const chainId = 800_000 + Math.floor(Math.random() * 10_000);

  before(async function () {
    this.timeout(30_000);
    const prefix = isolatedPrefix('verify');
    admin = await MODULES.admin(testConfig('admin', { BULLMQ_PREFIX: prefix }));
    jobs = auditJobs(prefix);
    prisma = createPrismaClient(testInfra().databaseUrl);
    bearer = await adminToken(admin.url);
    await ensureChainHead(prisma, chainId);
    const keyRing = createAuditKeyRing(testConfig('audit-writer').auditKeys);
    await createChainWriter(prisma, keyRing, { chainId }).write(sampleAuditEvents(6));
  });
  after(async () => {
    await removeChains(prisma, chainId, chainId + 1);
    await prisma.$disconnect();
    await jobs.close();
    await admin.stop();
  });

  const verify = (token = bearer) => fetch(`${admin.url}/api/v1/audit/verify`, { headers: { Authorization: `Bearer ${token}` } });
  const ourChain = (report: VerifyReport) => report.chains.find((c) => c.chain_id === chainId)!;

  it('when called without a token or with a non-admin one, then it answers 401 or 403', async () => {
    assert.equal((await fetch(`${admin.url}/api/v1/audit/verify`)).status, 401);
    const reader = await accountWithToken(admin.url, bearer, 'reader');
    assert.equal((await verify(reader.token)).status, 403);
  });

  it('when the log is intact, then it reports ok with what it checked, and the check is an audit event', async () => {
    const res = await verify();
    assert.equal(res.status, 200);
    const report = (await res.json()) as VerifyReport;
    assert.equal(report.ok, true, JSON.stringify(report.first_break));
    assert.deepEqual([ourChain(report).records_checked, ourChain(report).breaks], [6, 0]);
    const event = await jobs.waitFor((e) => e.event_type === 'audit_log_read' && e.action === 'verify');
    assert.equal(event.status, 'success');
  });

  it('when a record was changed, then it reports the break and counts it in audit_log_verification_failures_total', async () => {
    await prisma.$executeRaw`UPDATE audit_logs SET status = 'failure' WHERE chain_id = ${chainId} AND sequence = 3`;
    const report = (await (await verify()).json()) as VerifyReport;
    assert.equal(report.ok, false);
    assert.deepEqual([ourChain(report).first_break?.kind, ourChain(report).first_break?.sequence], ['modified', 3]);
    const metrics = await (await fetch(`${admin.url}/metrics`)).text();
    assert.equal(metricValue(metrics, 'audit_log_verification_failures_total'), 1);
    await jobs.waitFor((e) => e.event_type === 'audit_log_read' && e.action === 'verify' && e.status === 'failure');
  });
});
