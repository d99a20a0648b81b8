import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { digestTestContext } from '../../../test/support/audit-digests.ts';
import { digestLine } from './digest-format.ts';
import { issueTreeDigest } from './digest-issuer.ts';
import { chainDirectory, DigestSinkMismatchError, digestFileName, digestFiles, syncDigestSink } from './digest-sink.ts';

const policy = { everyMs: 1000, maxSilenceMs: 60_000 };

describe('the digest sink outside PostgreSQL', () => {
  let ctx: Awaited<ReturnType<typeof digestTestContext>>;
  let dir: string;
  before(async () => {
    ctx = await digestTestContext();
    dir = await mkdtemp(path.join(os.tmpdir(), 'artstore-digest-sink-'));
  });
  after(async () => {
    await ctx.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** Every line of the chain's files, in file order. */
  const sinkLines = async (chainId: number) => {
    const chainDir = chainDirectory(dir, chainId);
    const lines: string[] = [];
    for (const name of await digestFiles(chainDir)) lines.push(...(await readFile(path.join(chainDir, name), 'utf8')).split('\n').slice(0, -1));
    return lines;
  };
  const tableLines = async (chainId: number) => (await ctx.digests(chainId)).map(digestLine);
  const grow = async (chain: Awaited<ReturnType<typeof ctx.chain>>, count: number, at?: Date) => {
    await chain.write(count);
    return issueTreeDigest(ctx.prisma, ctx.kek, chain.chainId, policy, at);
  };

  it('when digests are issued across hours, then the sink holds exactly the table digests, one per line, in one file per hour', async () => {
    const chain = await ctx.chain();
    const hour = 3_600_000;
    const start = Date.now() - 3 * hour;
    await grow(chain, 2, new Date(start));
    await grow(chain, 1, new Date(start + 60_000));
    await grow(chain, 3, new Date(start + hour));
    await grow(chain, 1, new Date(start + 2 * hour + 5));
    assert.equal(await syncDigestSink(ctx.prisma, dir, chain.chainId), 4);
    assert.equal(await syncDigestSink(ctx.prisma, dir, chain.chainId), 0, 'a second run appends nothing');

    const digests = await ctx.digests(chain.chainId);
    assert.deepEqual(await sinkLines(chain.chainId), await tableLines(chain.chainId));
    assert.deepEqual(await digestFiles(chainDirectory(dir, chain.chainId)), [...new Set(digests.map((d) => digestFileName(d.issued_at)))]);
    assert.match(digestFileName('2026-11-28T09:15:30.123Z'), /^digests-20261128T09\.ndjson$/);
  });

  it('when a writer dies between the table and the file, or mid-line, then the next run appends exactly what is missing', async () => {
    const chain = await ctx.chain();
    await grow(chain, 2);
    assert.equal(await syncDigestSink(ctx.prisma, dir, chain.chainId), 1);
    // Stored in the table, never written out: the process died before the file write.
    await grow(chain, 1);
    await grow(chain, 1);
    // …and a later one died halfway through a line.
    const files = await digestFiles(chainDirectory(dir, chain.chainId));
    await appendFile(path.join(chainDirectory(dir, chain.chainId), files.at(-1)!), '{"version":1,"kind":"tr');
    assert.equal(await syncDigestSink(ctx.prisma, dir, chain.chainId), 2);
    assert.equal(await syncDigestSink(ctx.prisma, dir, chain.chainId), 0);

    const lines = await sinkLines(chain.chainId);
    const table = await tableLines(chain.chainId);
    assert.deepEqual(
      lines.filter((line) => table.includes(line)),
      table,
      'every digest once, in order',
    );
    assert.deepEqual(
      lines.filter((line) => !table.includes(line)),
      ['{"version":1,"kind":"tr'],
      'the torn fragment stays a line of its own',
    );
  });

  it('when the table lost digests the sink holds, then the sink refuses to go on and says so', async () => {
    const chain = await ctx.chain();
    await grow(chain, 1);
    await grow(chain, 1);
    await syncDigestSink(ctx.prisma, dir, chain.chainId);
    await ctx.prisma.$executeRaw`DELETE FROM audit_digests WHERE chain_id = ${chain.chainId} AND seq = 2`;
    await assert.rejects(syncDigestSink(ctx.prisma, dir, chain.chainId), DigestSinkMismatchError);
  });
});
