/**
 * The verifiable audit log at a million records: inclusion proof latency (p99) next to a plain
 * indexed read of the same record, and `audit:verify --public` over the whole chain next to reading
 * the same rows without verifying them — both baselines measured in the same run, on the same data.
 */
import { randomInt } from 'node:crypto';
import pg from 'pg';
import { AUDIT_RECORD_COLUMNS, rowToAuditRecord, type AuditRecordRow } from '../services/audit-log/audit-records.ts';
import { createAuditKeyRing } from '../services/audit-log/audit-signature.ts';
import { issueTreeDigest } from '../services/audit-log/digests/digest-issuer.ts';
import { publishedDigestKeys } from '../services/audit-log/digests/digest-keys.ts';
import { createAuditProofs } from '../services/audit-log/proofs.ts';
import { verifyAuditLogPublicly } from '../services/audit-log/public-verification.ts';
import { digestTestContext } from '../test/support/audit-digests.ts';
import { testConfig, testInfra } from '../test/support/infra.ts';
import { writeLargeChain } from '../test/support/large-chain.ts';
import type { Benchmark, Figure } from './report.ts';

const RECORDS = 1_000_000;
const PROOFS = 1000;

const percentile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

const benchmark: Benchmark = {
  title: 'Audit log proofs and public verification at a million records',
  async run(): Promise<Figure[]> {
    const ctx = await digestTestContext();
    try {
      const chain = await ctx.chain();
      await writeLargeChain(ctx.prisma, createAuditKeyRing(testConfig('audit-writer').auditKeys), chain.chainId, RECORDS);
      const digest = await issueTreeDigest(ctx.prisma, ctx.kek, chain.chainId, { everyMs: 1000, maxSilenceMs: 3_600_000 });
      if (!digest) throw new Error('no digest was issued');
      await ctx.prisma.$executeRawUnsafe('VACUUM ANALYZE audit_logs');
      await ctx.prisma.$executeRawUnsafe('VACUUM ANALYZE audit_tree_nodes');

      const ids = (
        await ctx.prisma.$queryRawUnsafe<{ event_id: string }[]>(
          `SELECT event_id::text AS event_id FROM audit_logs WHERE chain_id = $1::int AND sequence = ANY($2::bigint[])`,
          chain.chainId,
          Array.from({ length: PROOFS }, () => randomInt(1, RECORDS + 1)),
        )
      ).map((r) => r.event_id);
      // As the admin module serves them: through a small node-postgres pool of their own.
      const pool = new pg.Pool({ connectionString: testInfra().databaseUrl, max: 2 });
      const proofs = createAuditProofs(ctx.prisma, pool);
      const proofMs: number[] = [];
      const readMs: number[] = [];
      for (const id of ids) {
        let started = performance.now();
        await proofs.inclusion(id);
        proofMs.push(performance.now() - started);
        started = performance.now();
        await ctx.prisma.$queryRawUnsafe(`SELECT ${AUDIT_RECORD_COLUMNS} FROM audit_logs WHERE event_id = $1::uuid`, id);
        readMs.push(performance.now() - started);
      }
      await pool.end();
      proofMs.sort((a, b) => a - b);
      readMs.sort((a, b) => a - b);

      let started = performance.now();
      for (let lo = 1; lo <= RECORDS; lo += 10_000) {
        const rows = await ctx.prisma.$queryRawUnsafe<AuditRecordRow[]>(
          `SELECT ${AUDIT_RECORD_COLUMNS} FROM audit_logs WHERE chain_id = $1::int AND sequence >= $2::bigint AND sequence < $3::bigint
            ORDER BY audit_logs.sequence, audit_logs.event_id`,
          chain.chainId,
          lo,
          lo + 10_000,
        );
        for (const row of rows) rowToAuditRecord(row);
      }
      const readRate = RECORDS / ((performance.now() - started) / 1000);
      const { keys } = await publishedDigestKeys(ctx.prisma);
      started = performance.now();
      const report = await verifyAuditLogPublicly(testInfra().databaseUrl, [digest], keys, { chainIds: [chain.chainId] });
      const publicRate = report.records_checked / ((performance.now() - started) / 1000);
      if (!report.ok) throw new Error(`the chain does not verify publicly: ${JSON.stringify(report.first_break)}`);

      return [
        {
          name: `inclusion proof p99 at ${RECORDS} records (${ids.length} random records; p50 ${percentile(proofMs, 0.5).toFixed(2)} ms)`,
          value: percentile(proofMs, 0.99),
          unit: 'ms',
          baseline: { name: 'reading the same record by event_id, p99', value: percentile(readMs, 0.99), unit: 'ms' },
          target: '≤ 5 ms',
          met: percentile(proofMs, 0.99) <= 5,
        },
        {
          name: `audit:verify --public over ${report.records_checked} records`,
          value: publicRate,
          unit: 'records/s',
          baseline: { name: 'reading the same rows without verifying', value: readRate, unit: 'records/s' },
          target: '≥ 50000 records/s',
          met: publicRate >= 50_000,
        },
      ];
    } finally {
      await ctx.close();
    }
  },
};
export default benchmark;
