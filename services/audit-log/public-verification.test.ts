import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { digestTestContext } from '../../test/support/audit-digests.ts';
import { testInfra } from '../../test/support/infra.ts';
import { issueTreeDigest } from './digests/digest-issuer.ts';
import { publishedDigestKeys } from './digests/digest-keys.ts';
import { verifyAuditLogPublicly, type PublicReport } from './public-verification.ts';

const policy = { everyMs: 1000, maxSilenceMs: 3_600_000 };

describe('audit verification with public keys and digests only', () => {
  let ctx: Awaited<ReturnType<typeof digestTestContext>>;
  before(async () => {
    ctx = await digestTestContext();
  });
  after(() => ctx.close());

  const exec = (sql: string, ...params: unknown[]) => ctx.prisma.$executeRawUnsafe(sql, ...params);
  /** A chain of 3 batches with a digest after each, as the writer's schedule would leave it. */
  async function attestedChain() {
    const chain = await ctx.chain();
    const records = [];
    for (const size of [6, 5, 7]) {
      records.push(...(await chain.write(size)));
      await issueTreeDigest(ctx.prisma, ctx.kek, chain.chainId, policy);
    }
    return { chainId: chain.chainId, records, digests: await ctx.digests(chain.chainId) };
  }
  const verify = async (chainId: number, digests: Awaited<ReturnType<typeof ctx.digests>>, options = {}): Promise<PublicReport> =>
    verifyAuditLogPublicly(testInfra().databaseUrl, digests, (await publishedDigestKeys(ctx.prisma)).keys, { chainIds: [chainId], ...options });
  const firstKind = (report: PublicReport) => [report.first_break?.kind, report.first_break?.sequence];

  it('when the log is left alone, then every record is attested by a signed digest, with no HMAC key at hand', async () => {
    const { chainId, digests } = await attestedChain();
    assert.equal(digests.length, 3);
    const report = await verify(chainId, digests);
    assert.equal(report.ok, true, JSON.stringify(report.first_break));
    assert.deepEqual([report.records_checked, report.chains[0]?.attested_size, report.chains[0]?.unattested_records], [18, 18, 0]);
  });

  it('when a record is changed, then the digest that covers it no longer matches, naming the range', async () => {
    const { chainId, digests } = await attestedChain();
    await exec(`UPDATE audit_logs SET details = '{"changed":true}'::jsonb WHERE chain_id = $1 AND sequence = 8`, chainId);
    const report = await verify(chainId, digests);
    assert.deepEqual(firstKind(report), ['modified', 7]);
    assert.match(report.first_break!.message, /records 7 to 11/);
  });

  it('when the head row and the newest records are deleted and the checkpoints with them, then the digests show the truncation', async () => {
    const { chainId, digests } = await attestedChain();
    await exec('DELETE FROM audit_logs WHERE chain_id = $1 AND sequence > 13', chainId);
    await exec('DELETE FROM audit_checkpoints WHERE chain_id = $1', chainId);
    await exec('DELETE FROM audit_chain_heads WHERE chain_id = $1', chainId);
    const report = await verify(chainId, digests);
    assert.deepEqual(firstKind(report), ['truncated', 14]);
  });

  it('when old records are deleted and an anchor written to hide it, then without a signed anchor digest the records are missing', async () => {
    const { chainId, records, digests } = await attestedChain();
    await exec('DELETE FROM audit_logs WHERE chain_id = $1 AND sequence <= 4', chainId);
    await exec(
      'UPDATE audit_chain_heads SET anchor_sequence = 4, anchor_signature = $2, anchor_recorded_at = $3 WHERE chain_id = $1',
      chainId,
      records[3]!.signature,
      new Date('2000-01-01T00:00:00Z'),
    );
    const report = await verify(chainId, digests);
    assert.deepEqual(firstKind(report), ['deleted', 1]);
  });

  it('when a record is forged at sequence 0, in the middle, or in a chain no digest ever covered, then each is found', async () => {
    const { chainId, records, digests } = await attestedChain();
    const forged = { ...records[2]!, event_id: randomUUID(), action: 'forged', recorded_at: new Date(Date.now() - 3 * 3600_000).toISOString() };
    await exec('INSERT INTO audit_logs SELECT * FROM json_populate_record(NULL::audit_logs, $1::json)', JSON.stringify({ ...forged, sequence: 0 }));
    assert.deepEqual(firstKind(await verify(chainId, digests)), ['inserted', 0]);

    const headless = (await ctx.chain()).chainId;
    await exec(
      'INSERT INTO audit_logs SELECT * FROM json_populate_record(NULL::audit_logs, $1::json)',
      JSON.stringify({ ...forged, chain_id: headless, sequence: 1, prev_signature: null }),
    );
    const report = await verify(headless, []);
    assert.deepEqual(firstKind(report), ['unattested', 1]);
  });

  it('when a monitor kept an earlier digest, then the log today must extend it: a rewritten past fails even with every later digest re-signed', async () => {
    const { chainId, digests } = await attestedChain();
    const saved = digests[0]!;
    assert.equal((await verify(chainId, [], { sinceDigest: saved })).chains[0]?.attested_size, 6);
    await exec(`UPDATE audit_logs SET action = 'rewritten' WHERE chain_id = $1 AND sequence = 2`, chainId);
    // Only the monitor's saved digest is left to compare with.
    const report = await verify(chainId, [], { sinceDigest: saved });
    assert.deepEqual(firstKind(report), ['modified', 1]);
  });

  it('when a digest is altered or the digest chain is cut, then the digest itself is the break', async () => {
    const { chainId, digests } = await attestedChain();
    const altered = digests.map((d, i) => (i === 1 ? { ...d, tree_size: d.tree_size + 1 } : d));
    assert.equal((await verify(chainId, altered)).first_break?.kind, 'digest_invalid');
    assert.equal((await verify(chainId, [digests[0]!, digests[2]!])).first_break?.kind, 'digest_invalid');
  });
});
