/**
 * Fault suite, the verifiable audit log at scale (in the fast run too): a chain of a million records,
 * two signed digests over it, then inclusion proofs for random records and consistency
 * proofs between random tree sizes, each checked as an outside auditor would — with the digest's
 * signed root, the published key and nothing else — and a record changed afterwards whose proof
 * fails.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { createAuditKeyRing } from '../../services/audit-log/audit-signature.ts';
import { issueTreeDigest } from '../../services/audit-log/digests/digest-issuer.ts';
import { publishedDigestKeys } from '../../services/audit-log/digests/digest-keys.ts';
import { verifyDigestChain } from '../../services/audit-log/digests/digest-verification.ts';
import { verifyConsistency, verifyInclusion } from '../../services/audit-log/merkle/verify.ts';
import { createAuditProofs } from '../../services/audit-log/proofs.ts';
import { AUDIT_RECORD_COLUMNS, rowToAuditRecord, type AuditRecordRow } from '../../services/audit-log/audit-records.ts';
import { recordLeafHash } from '../../services/audit-log/record-leaf.ts';
import { digestTestContext } from '../support/audit-digests.ts';
import { testConfig } from '../support/infra.ts';
import { writeLargeChain } from '../support/large-chain.ts';

const RECORDS = 1_000_000;
const PROOFS = 300;

describe('fault suite: Merkle proofs over a large audit chain', function () {
  this.timeout(1_800_000);
  let ctx: Awaited<ReturnType<typeof digestTestContext>>;
  before(async () => {
    ctx = await digestTestContext();
  });
  after(() => ctx.close());

  it(`when a chain holds ${RECORDS.toLocaleString('en')} records, then random inclusion and consistency proofs verify against signed tree heads, and a changed record's proof fails`, async () => {
    const chain = await ctx.chain();
    const keyRing = createAuditKeyRing(testConfig('audit-writer').auditKeys);
    const started = Date.now();
    await writeLargeChain(ctx.prisma, keyRing, chain.chainId, RECORDS / 2);
    const half = await issueTreeDigest(ctx.prisma, ctx.kek, chain.chainId, { everyMs: 1000, maxSilenceMs: 3_600_000 });
    await writeLargeChain(ctx.prisma, keyRing, chain.chainId, RECORDS / 2);
    const full = await issueTreeDigest(ctx.prisma, ctx.kek, chain.chainId, { everyMs: 1000, maxSilenceMs: 3_600_000 });
    assert.ok(half && full);
    assert.equal(full.tree_size, RECORDS);
    const writeSeconds = (Date.now() - started) / 1000;
    const { keys } = await publishedDigestKeys(ctx.prisma);
    assert.equal(verifyDigestChain([half, full], keys, { fromFirst: true }).ok, true, 'the signed tree heads verify with the published key');

    const proofs = createAuditProofs(ctx.prisma);
    const recordAt = async (sequence: number) => {
      const rows = await ctx.prisma.$queryRawUnsafe<AuditRecordRow[]>(
        `SELECT ${AUDIT_RECORD_COLUMNS} FROM audit_logs WHERE chain_id = $1::int AND sequence = $2::bigint`,
        chain.chainId,
        sequence,
      );
      return rowToAuditRecord(rows[0]!);
    };
    const root = Buffer.from(full.root_hash, 'hex');
    const proofStarted = Date.now();
    const inclusionMs: number[] = [];
    for (let i = 0; i < PROOFS; i++) {
      const record = await recordAt(randomInt(1, RECORDS + 1));
      const asked = performance.now();
      const proof = await proofs.inclusion(record.event_id, full.tree_size);
      inclusionMs.push(performance.now() - asked);
      const path = proof.audit_path.map((h) => Buffer.from(h, 'hex'));
      assert.ok(verifyInclusion(recordLeafHash(record), proof.leaf_index, full.tree_size, path, root), `record ${record.sequence}`);
      const first = randomInt(1, RECORDS);
      const second = randomInt(first, RECORDS + 1);
      const consistency = await proofs.consistency(chain.chainId, first, second);
      const roots = [Buffer.from(consistency.first_root_hash, 'hex'), Buffer.from(consistency.second_root_hash, 'hex')] as const;
      assert.ok(
        verifyConsistency(
          first,
          second,
          ...roots,
          consistency.consistency_path.map((h) => Buffer.from(h, 'hex')),
        ),
        `${first} → ${second}`,
      );
    }
    // The signed heads themselves are consistent: the second extends the first.
    const signed = await proofs.consistency(chain.chainId, half.tree_size, full.tree_size);
    assert.ok(
      verifyConsistency(
        half.tree_size,
        full.tree_size,
        Buffer.from(half.root_hash, 'hex'),
        root,
        signed.consistency_path.map((h) => Buffer.from(h, 'hex')),
      ),
    );
    const proofSeconds = (Date.now() - proofStarted) / 1000;

    const victim = randomInt(1, RECORDS + 1);
    const before = await recordAt(victim);
    const proof = await proofs.inclusion(before.event_id, full.tree_size);
    await ctx.prisma.$executeRawUnsafe(`UPDATE audit_logs SET action = 'changed' WHERE chain_id = $1 AND sequence = $2::bigint`, chain.chainId, victim);
    const changed = await recordAt(victim);
    assert.ok(
      !verifyInclusion(
        recordLeafHash(changed),
        proof.leaf_index,
        full.tree_size,
        proof.audit_path.map((h) => Buffer.from(h, 'hex')),
        root,
      ),
    );
    inclusionMs.sort((a, b) => a - b);
    const p = (q: number) => inclusionMs[Math.min(inclusionMs.length - 1, Math.floor(q * inclusionMs.length))]!.toFixed(1);
    process.stdout.write(
      `    merkle: ${RECORDS} records written in ${writeSeconds.toFixed(0)} s; ${PROOFS} inclusion + ${PROOFS} consistency proofs verified in ${proofSeconds.toFixed(1)} s ` +
        `(inclusion proof p50 ${p(0.5)} ms, p99 ${p(0.99)} ms); record ${victim} changed: its proof fails\n`,
    );
  });
});
