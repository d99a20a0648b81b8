import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createAuditKeyRing } from '../services/audit-log/audit-signature.ts';
import { createPrismaClient, type PrismaClient } from '../services/platform/db/client.ts';
import { createChainWriter, ensureChainHead } from '../services/audit-log/chain-writer.ts';
import { writeCheckpoints } from '../services/audit-log/checkpoints.ts';
import { issueTreeDigest } from '../services/audit-log/digests/digest-issuer.ts';
import { publishedDigestKeys } from '../services/audit-log/digests/digest-keys.ts';
import { syncDigestSink } from '../services/audit-log/digests/digest-sink.ts';
import { removeChains, sampleAuditEvents } from './support/audit-events.ts';
import { digestTestContext } from './support/audit-digests.ts';
import { runAuditVerify } from './support/audit-verify-cli.ts';
import { testConfig, testInfra } from './support/infra.ts';

describe('npm run audit:verify', () => {
  let prisma: PrismaClient;
  let dir: string;
  const chainId = 900_000 + Math.floor(Math.random() * 10_000);

  before(async () => {
    prisma = createPrismaClient(testInfra().databaseUrl);
    dir = await mkdtemp(path.join(tmpdir(), 'audit-verify-'));
  });
  after(async () => {
    await removeChains(prisma, chainId, chainId + 1);
    await prisma.$disconnect();
    await rm(dir, { recursive: true, force: true });
  });

  it('when the log is intact, then it exits 0 with a report; when its tail is cut, the kept checkpoint log makes it exit 1 naming truncated', async function () {
    this.timeout(60_000);
    const keyRing = createAuditKeyRing(testConfig('audit-writer').auditKeys);
    await ensureChainHead(prisma, chainId);
    const records = (await createChainWriter(prisma, keyRing, { chainId }).write(sampleAuditEvents(5))).stored;
    // The writer's log output, as a log shipper would keep it.
    const lines: string[] = ['{"level":30,"msg":"something else"}\n'];
    await writeCheckpoints(prisma, pino({ level: 'info' }, new Writable({ write: (chunk, _e, done) => done(void lines.push(String(chunk))) })));
    const logFile = path.join(dir, 'audit-writer.log');
    await writeFile(logFile, lines.join(''));

    const intact = await runAuditVerify(['--checkpoint', logFile]);
    assert.equal(intact.code, 0, intact.stderr);
    const report = JSON.parse(intact.stdout) as { ok: boolean; chains: { chain_id: number; records_checked: number }[] };
    assert.equal(report.ok, true);
    assert.equal(report.chains.find((c) => c.chain_id === chainId)?.records_checked, 5);
    assert.match(intact.stderr, /intact/);

    await prisma.$executeRaw`DELETE FROM audit_logs WHERE chain_id = ${chainId} AND sequence = 5`;
    await prisma.$executeRaw`DELETE FROM audit_checkpoints WHERE chain_id = ${chainId}`;
    await prisma.$executeRaw`UPDATE audit_chain_heads SET sequence = 4, signature = ${records[3]!.signature} WHERE chain_id = ${chainId}`;
    const cut = await runAuditVerify(['--checkpoint', logFile]);
    assert.equal(cut.code, 1, cut.stderr);
    const broken = JSON.parse(cut.stdout) as { ok: boolean; first_break: { kind: string; chain_id: number; sequence: number } };
    assert.deepEqual([broken.ok, broken.first_break.kind, broken.first_break.chain_id, broken.first_break.sequence], [false, 'truncated', chainId, 5]);
    assert.match(cut.stderr, /BROKEN .* truncated at chain \d+ sequence 5/);
  });

  it('when an argument is wrong, then it exits 2 and says which', async () => {
    const bad = await runAuditVerify(['--from', 'yesterday']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--from must be an ISO 8601 time/);
    const missing = await runAuditVerify(['--checkpoint', path.join(dir, 'nope.log')]);
    assert.deepEqual([missing.code, /cannot read checkpoint file/.test(missing.stderr)], [2, true]);
  });

  it('when an outside auditor runs --public with the digest files and the published keys, then it needs no HMAC key and finds a changed record', async function () {
    this.timeout(60_000);
    const ctx = await digestTestContext();
    try {
      const chain = await ctx.chain();
      for (const size of [4, 6]) {
        await chain.write(size);
        await issueTreeDigest(ctx.prisma, ctx.kek, chain.chainId, { everyMs: 1000, maxSilenceMs: 3_600_000 });
      }
      const digestDir = path.join(dir, 'digests');
      await syncDigestSink(ctx.prisma, digestDir, chain.chainId);
      const keysFile = path.join(dir, 'audit-keys.json');
      await writeFile(keysFile, JSON.stringify(await publishedDigestKeys(ctx.prisma)));
      const savedFile = path.join(dir, 'saved-digest.json');
      await writeFile(savedFile, JSON.stringify((await ctx.digests(chain.chainId))[0]));
      const run = (extra: string[] = []) =>
        runAuditVerify(['--public', '--digests', digestDir, '--keys', keysFile, '--chain', String(chain.chainId), ...extra], {
          AUDIT_LOG_SECRET_KEY: '',
          AUDIT_DIGEST_KEY_ENCRYPTION_KEY: '',
        });
      const intact = await run(['--since-digest', savedFile]);
      assert.equal(intact.code, 0, intact.stderr);
      assert.match(intact.stderr, /intact — 10 records, 10 attested/);
      await ctx.prisma.$executeRawUnsafe(`UPDATE audit_logs SET action = 'changed' WHERE chain_id = $1 AND sequence = 7`, chain.chainId);
      const broken = await run();
      assert.equal(broken.code, 1, broken.stderr);
      assert.match(broken.stderr, /BROKEN — 1 broken point\(s\); first: modified at chain \d+ sequence 5/);
      assert.equal((await run(['--digests'])).code, 2, 'a usage error exits 2');
    } finally {
      await ctx.close();
    }
  });
});
