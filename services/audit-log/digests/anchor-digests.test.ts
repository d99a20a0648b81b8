import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { digestTestContext } from '../../../test/support/audit-digests.ts';
import { testConfig } from '../../../test/support/infra.ts';
import { createLogger } from '../../platform/logger.ts';
import { ensureAuditPartitions } from '../audit-partitions.ts';
import { applyAuditRetention } from '../retention.ts';
import { anchorAttestation } from './anchor-attestation.ts';
import { digestLine, type AnchorDigest } from './digest-format.ts';
import { issueTreeDigest } from './digest-issuer.ts';
import { publishedDigestKeys } from './digest-keys.ts';
import { chainDirectory, digestFiles } from './digest-sink.ts';
import { verifyDigestChain } from './digest-verification.ts';
import { writePeriodicDigests } from './periodic-digests.ts';

const YEAR_MS = 365 * 86_400_000;

describe('anchor digests', () => {
  let ctx: Awaited<ReturnType<typeof digestTestContext>>;
  let dir: string;
  before(async () => {
    ctx = await digestTestContext();
    dir = await mkdtemp(path.join(os.tmpdir(), 'artstore-anchor-digests-'));
  });
  after(async () => {
    await ctx.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('when retention moves an anchor, then a signed anchor digest records it after the tree digests, reaches the sink, and a forged anchor has none', async () => {
    const chain = await ctx.chain();
    const threeYearsAgo = new Date(Date.now() - 3 * YEAR_MS);
    await ensureAuditPartitions(ctx.prisma, { first: threeYearsAgo, monthsAhead: 0 });
    const old = await chain.write(3, threeYearsAgo);
    const kept = await chain.write(2);
    const tree = (await issueTreeDigest(ctx.prisma, ctx.kek, chain.chainId, { everyMs: 1000, maxSilenceMs: 60_000 }))!;
    assert.deepEqual(await anchorAttestation(ctx.prisma, chain.chainId), { status: 'no_anchor' });

    const result = await applyAuditRetention(ctx.prisma, { retentionDays: 365, digestKek: ctx.kek });
    const anchor = result.anchorDigests.find((d) => d.chain_id === chain.chainId) as AnchorDigest;
    assert.ok(anchor, JSON.stringify(result.anchors));
    assert.deepEqual(
      [anchor.kind, anchor.anchor_sequence, anchor.anchor_signature, anchor.anchor_recorded_at],
      ['anchor', 3, old[2]!.signature, old[2]!.recorded_at],
    );
    assert.deepEqual(
      [anchor.tree_size, anchor.root_hash, anchor.last_sequence, anchor.first_sequence, anchor.previous_signature],
      [5, tree.root_hash, 5, 6, tree.signature],
    );
    const { keys } = await publishedDigestKeys(ctx.prisma);
    assert.deepEqual(verifyDigestChain([tree, anchor], keys, { fromFirst: true }).problems, []);
    assert.deepEqual(await anchorAttestation(ctx.prisma, chain.chainId), { status: 'attested', digest: anchor });

    // Signed by the maintenance worker into the table; the writer's next run puts it in the sink.
    const config = { ...testConfig('audit-writer').auditDigests, dir };
    await writePeriodicDigests({ prisma: ctx.prisma, logger: createLogger({ service: 'test', level: 'silent' }), kek: ctx.kek, config });
    const chainDir = chainDirectory(dir, chain.chainId);
    const lines = (await Promise.all((await digestFiles(chainDir)).map((name) => readFile(path.join(chainDir, name), 'utf8')))).join('').split('\n');
    assert.deepEqual(lines.filter(Boolean), [digestLine(tree), digestLine(anchor)]);

    // Someone with write access to the database moves the anchor forward over a kept record.
    await ctx.prisma.$executeRaw`UPDATE audit_chain_heads SET anchor_sequence = 4, anchor_signature = ${kept[0]!.signature},
      anchor_recorded_at = ${new Date(kept[0]!.recorded_at)} WHERE chain_id = ${chain.chainId}`;
    assert.deepEqual(await anchorAttestation(ctx.prisma, chain.chainId), { status: 'unattested', anchorSequence: 4 });
  });
});
