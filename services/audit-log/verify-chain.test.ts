import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { TEST_SECRETS, testInfra } from '../../test/support/infra.ts';
import { removeChains, sampleAuditEvents } from '../../test/support/audit-events.ts';
import { createChainWriter, ensureChainHead } from './chain-writer.ts';
import { writeCheckpoints } from './checkpoints.ts';
import { ensureAuditPartitions } from './audit-partitions.ts';
import { createAuditKeyRing, type AuditRecord } from './audit-signature.ts';
import { parseAuditKeyRing } from '../platform/config/index.ts';
import { createPrismaClient, type PrismaClient } from '../platform/db/client.ts';
import { Secret } from '../platform/secret.ts';
import { verifyAuditLog, type ChainCheckpoint, type VerifyOptions, type VerifyProgress } from './verify-chain.ts';

const testKeys = parseAuditKeyRing(new Secret(TEST_SECRETS.AUDIT_LOG_SECRET_KEY));
const keyRing = createAuditKeyRing(testKeys);
const silent = pino({ level: 'silent' });
// Each test writes its own chain, so tampering in one never shows in another; all are removed after.
const firstChainId = 1000 + Math.floor(Math.random() * 1000) * 100;
let nextChainId = firstChainId;

describe('audit chain verification', () => {
  let prisma: PrismaClient;
  before(async () => {
    prisma = createPrismaClient(testInfra().databaseUrl);
    await ensureAuditPartitions(prisma);
  });
  after(async () => {
    await removeChains(prisma, firstChainId, nextChainId);
    await prisma.$disconnect();
  });

  async function chainOf(count: number, ring = keyRing): Promise<{ chainId: number; records: AuditRecord[] }> {
    const chainId = nextChainId++;
    await ensureChainHead(prisma, chainId);
    // A second between batches, so each batch has its own recorded_at.
    let tick = Date.now() - 60_000;
    const writer = createChainWriter(prisma, ring, {
      chainId,
      now: () => {
        tick += 1000;
        return new Date(tick);
      },
    });
    const records: AuditRecord[] = [];
    const events = sampleAuditEvents(count);
    for (let i = 0; i < count; i += 4) records.push(...(await writer.write(events.slice(i, i + 4))).stored);
    return { chainId, records };
  }
  const verify = (chainId: number, options: VerifyOptions = {}) => verifyAuditLog(prisma, keyRing, { ...options, chainIds: [chainId] });
  const exec = (sql: string, ...params: unknown[]) => prisma.$executeRawUnsafe(sql, ...params);

  it('when a chain is left alone, then every signature and link verifies', async () => {
    const { chainId } = await chainOf(10);
    const report = await verify(chainId);
    assert.equal(report.ok, true, JSON.stringify(report.first_break));
    assert.equal(report.records_checked, 10);
    assert.deepEqual([report.chains[0]?.first_sequence, report.chains[0]?.last_sequence, report.chains[0]?.head_sequence], [1, 10, 10]);
  });

  it('when any single stored field of a record is changed, then that record is reported as modified', async () => {
    const { chainId } = await chainOf(10);
    const changes: Record<string, string> = {
      event_id: `'${randomUUID()}'`,
      event_type: `'file_delete'`,
      event_category: `'security'`,
      timestamp: `"timestamp" + interval '1 millisecond'`,
      user_id: `'someone-else'`,
      service_account_id: 'NULL',
      ip_address: `'198.51.100.1'`,
      user_agent: `user_agent || ' '`,
      resource_type: `'folder'`,
      resource_id: `'file-other'`,
      action: `'delete'`,
      status: `'failure'`,
      details: `details || '{"size": 1}'::jsonb`,
      source: `'query'`,
      request_id: 'NULL',
      prev_signature: `repeat('0', 64)`,
      key_id: `'unknown'`,
      signature: `repeat('a', 64)`,
      recorded_at: `recorded_at + interval '1 millisecond'`,
    };
    for (const [column, value] of Object.entries(changes)) {
      const [original] = await prisma.$queryRawUnsafe<{ row: string }[]>(
        `SELECT to_jsonb(a)::text AS row FROM audit_logs a WHERE chain_id = $1 AND sequence = 5`,
        chainId,
      );
      await exec(`UPDATE audit_logs SET "${column}" = ${value} WHERE chain_id = $1 AND sequence = 5`, chainId);
      const report = await verify(chainId);
      assert.equal(report.ok, false, `${column} changed unnoticed`);
      assert.deepEqual([report.first_break?.kind, report.first_break?.sequence], ['modified', 5], `${column}: ${JSON.stringify(report.first_break)}`);
      await exec(`DELETE FROM audit_logs WHERE chain_id = $1 AND sequence = 5`, chainId);
      await exec(`INSERT INTO audit_logs SELECT * FROM jsonb_populate_record(NULL::audit_logs, $1::jsonb)`, original!.row);
      assert.equal((await verify(chainId)).ok, true, `${column} restored`);
    }
  });

  it('when a record is deleted, then verification reports the missing sequence as deleted', async () => {
    const { chainId } = await chainOf(10);
    await exec('DELETE FROM audit_logs WHERE chain_id = $1 AND sequence = 4', chainId);
    const report = await verify(chainId);
    assert.deepEqual([report.ok, report.first_break?.kind, report.first_break?.sequence], [false, 'deleted', 4]);
  });

  it('when a forged record is inserted (beside a real one, or after the head), then it is reported as inserted', async () => {
    const { chainId, records } = await chainOf(8);
    const forged = (sequence: number) => ({
      ...records[2]!,
      event_id: randomUUID(),
      action: 'forged',
      sequence,
      signature: 'b'.repeat(64),
      recorded_at: new Date().toISOString(),
    });
    await exec('INSERT INTO audit_logs SELECT * FROM json_populate_record(NULL::audit_logs, $1::json)', JSON.stringify(forged(3)));
    const beside = await verify(chainId);
    assert.deepEqual([beside.first_break?.kind, beside.first_break?.sequence], ['inserted', 3]);

    const other = await chainOf(8);
    await exec(
      'INSERT INTO audit_logs SELECT * FROM json_populate_record(NULL::audit_logs, $1::json)',
      JSON.stringify({ ...forged(9), chain_id: other.chainId }),
    );
    const after = await verify(other.chainId);
    assert.deepEqual([after.first_break?.kind, after.first_break?.sequence], ['inserted', 9]);
  });

  it('when two records swap places, then verification reports them as reordered', async () => {
    const { chainId } = await chainOf(10);
    await prisma.$transaction([
      prisma.$executeRawUnsafe('UPDATE audit_logs SET sequence = -6 WHERE chain_id = $1 AND sequence = 6', chainId),
      prisma.$executeRawUnsafe('UPDATE audit_logs SET sequence = 6 WHERE chain_id = $1 AND sequence = 7', chainId),
      prisma.$executeRawUnsafe('UPDATE audit_logs SET sequence = 7 WHERE chain_id = $1 AND sequence = -6', chainId),
    ]);
    const report = await verify(chainId);
    assert.deepEqual([report.first_break?.kind, report.first_break?.sequence], ['reordered', 6]);
  });

  it('when the newest records are cut off and the head rolled back, then a checkpoint kept outside the database shows the truncation', async () => {
    const { chainId, records } = await chainOf(12);
    const outside: ChainCheckpoint[] = (await writeCheckpoints(prisma, silent)).filter((c) => c.chain_id === chainId);
    assert.equal(outside[0]?.sequence, 12);
    // A careful intruder removes the tail, the checkpoints in the table, and moves the head back.
    await exec('DELETE FROM audit_logs WHERE chain_id = $1 AND sequence > 9', chainId);
    await exec('DELETE FROM audit_checkpoints WHERE chain_id = $1', chainId);
    await exec('UPDATE audit_chain_heads SET sequence = 9, signature = $2 WHERE chain_id = $1', chainId, records[8]!.signature);
    assert.equal((await verify(chainId)).ok, true, 'without an outside checkpoint nothing shows');
    const report = await verify(chainId, { checkpoints: outside });
    assert.deepEqual([report.ok, report.first_break?.kind, report.first_break?.sequence], [false, 'truncated', 10]);
  });

  it('when the newest records are cut off but the head is left, then the head shows the truncation', async () => {
    const { chainId } = await chainOf(6);
    await exec('DELETE FROM audit_logs WHERE chain_id = $1 AND sequence > 4', chainId);
    const report = await verify(chainId);
    assert.deepEqual([report.first_break?.kind, report.first_break?.sequence], ['truncated', 5]);
  });

  it('when the signing key is rotated, then older records still verify by their key id, and not without that key', async () => {
    const old = createAuditKeyRing(parseAuditKeyRing(new Secret(`old:${'o'.repeat(40)}`)));
    const { chainId } = await chainOf(3, old);
    const rotated = createAuditKeyRing([...testKeys, ...parseAuditKeyRing(new Secret(`old:${'o'.repeat(40)}`))]);
    await createChainWriter(prisma, rotated, { chainId }).write(sampleAuditEvents(2));
    const both = await verifyAuditLog(prisma, rotated, { chainIds: [chainId] });
    assert.deepEqual([both.ok, both.records_checked], [true, 5]);
    const withoutOld = await verify(chainId);
    assert.deepEqual([withoutOld.first_break?.kind, withoutOld.first_break?.sequence], ['modified', 1]);
    assert.match(withoutOld.first_break!.message, /key "old"/);
  });

  it('when a time range is verified, then only its records are read, and a record deleted just before it still shows', async () => {
    const { chainId, records } = await chainOf(8);
    const recordedAt = records[0]!.recorded_at;
    const whole = await verify(chainId, { from: new Date(recordedAt), to: new Date(Date.parse(recordedAt) + 1) });
    assert.equal(whole.ok, true);
    assert.equal(whole.records_checked, 4, 'the first batch of four shares one recorded_at');
    await exec('DELETE FROM audit_logs WHERE chain_id = $1 AND sequence = 4', chainId);
    const later = await verify(chainId, { from: new Date(records[4]!.recorded_at) });
    assert.deepEqual([later.first_break?.kind, later.first_break?.sequence], ['deleted', 4]);
  });

  it('when a chain spans many pages, then progress is reported page by page and a break at a page edge is still found', async () => {
    const { chainId } = await chainOf(11);
    const progress: VerifyProgress[] = [];
    const intact = await verify(chainId, { pageSize: 3, onProgress: (p) => progress.push(p) });
    assert.deepEqual([intact.ok, intact.records_checked], [true, 11]);
    assert.ok(progress.length >= 4, `${progress.length} progress reports`);
    assert.deepEqual(progress.at(-1), { chain_id: chainId, checked: 11, sequence: 11, last_sequence: 11 });
    await exec('DELETE FROM audit_logs WHERE chain_id = $1 AND sequence = 4', chainId);
    const broken = await verify(chainId, { pageSize: 3 });
    assert.deepEqual([broken.first_break?.kind, broken.first_break?.sequence, broken.breaks], ['deleted', 4, 1]);
  });

  describe('tamper trials an outside auditor ran', () => {
    const renumber = async (chainId: number, from: number, by: number) => {
      // Through negative sequences, so no two rows ever claim one position mid-way.
      await exec('UPDATE audit_logs SET sequence = -sequence WHERE chain_id = $1 AND sequence >= $2::bigint', chainId, from);
      await exec('UPDATE audit_logs SET sequence = -sequence + $3::bigint WHERE chain_id = $1 AND sequence <= -($2::bigint)', chainId, from, by);
    };
    const kinds = (report: Awaited<ReturnType<typeof verify>>) => report.chains.flatMap((c) => (c.first_break ? [c.first_break.kind] : []));

    it('when a record is deleted and the rest renumbered to close the gap (head moved back too), then it is one deleted break', async () => {
      const { chainId, records } = await chainOf(30);
      await exec('DELETE FROM audit_logs WHERE chain_id = $1 AND sequence = 12', chainId);
      await renumber(chainId, 13, -1);
      const unchangedHead = await verify(chainId);
      assert.deepEqual([unchangedHead.breaks, unchangedHead.first_break?.kind, unchangedHead.first_break?.sequence], [1, 'deleted', 12]);
      await exec('UPDATE audit_chain_heads SET sequence = 29 WHERE chain_id = $1', chainId);
      const movedHead = await verify(chainId);
      assert.deepEqual([movedHead.breaks, movedHead.first_break?.kind], [1, 'deleted']);
      assert.equal(records.length, 30);
    });

    it('when a forged record is inserted and the rest renumbered to make room, then it is one inserted break', async () => {
      const { chainId, records } = await chainOf(30);
      await renumber(chainId, 9, 1);
      await exec(
        'INSERT INTO audit_logs SELECT * FROM json_populate_record(NULL::audit_logs, $1::json)',
        JSON.stringify({ ...records[7]!, event_id: randomUUID(), action: 'forged', sequence: 9, signature: 'c'.repeat(64) }),
      );
      const report = await verify(chainId);
      assert.deepEqual([report.breaks, report.first_break?.kind, report.first_break?.sequence], [1, 'inserted', 9]);
    });

    it('when the chain head row is deleted, then the chain is still read and the missing head is a break', async () => {
      const { chainId } = await chainOf(6);
      await exec('DELETE FROM audit_chain_heads WHERE chain_id = $1', chainId);
      const report = await verify(chainId);
      assert.equal(report.ok, false);
      assert.equal(report.records_checked, 6);
      assert.deepEqual(kinds(report), ['head_missing']);
    });

    it('when the head row and the newest records are deleted but a checkpoint remains, then both the missing head and the truncation show', async () => {
      const { chainId } = await chainOf(12);
      await writeCheckpoints(prisma, silent);
      await exec('DELETE FROM audit_logs WHERE chain_id = $1 AND sequence > 7', chainId);
      await exec('DELETE FROM audit_chain_heads WHERE chain_id = $1', chainId);
      const report = await verify(chainId);
      assert.equal(report.chains[0]?.first_break?.kind, 'head_missing');
      assert.ok(report.breaks >= 2, `${report.breaks} breaks`);
    });

    it('when a record is forged in a chain that has no head, then it is found', async () => {
      const { records } = await chainOf(3);
      const headless = nextChainId++;
      await exec(
        'INSERT INTO audit_logs SELECT * FROM json_populate_record(NULL::audit_logs, $1::json)',
        JSON.stringify({ ...records[0]!, event_id: randomUUID(), chain_id: headless, sequence: 1, signature: 'd'.repeat(64) }),
      );
      const report = await verifyAuditLog(prisma, keyRing, { chainIds: [headless] });
      assert.equal(report.ok, false);
      assert.equal(report.records_checked, 1);
      assert.equal(report.chains[0]?.first_break?.kind, 'head_missing');
    });

    it('when a record is forged at sequence 0 or at or below the retention anchor, then it is an inserted break', async () => {
      const { chainId, records } = await chainOf(10);
      await exec(
        'INSERT INTO audit_logs SELECT * FROM json_populate_record(NULL::audit_logs, $1::json)',
        JSON.stringify({ ...records[0]!, event_id: randomUUID(), sequence: 0 }),
      );
      const zero = await verify(chainId);
      assert.deepEqual([zero.first_break?.kind, zero.first_break?.sequence], ['inserted', 0]);

      const anchored = await chainOf(10);
      await exec('DELETE FROM audit_logs WHERE chain_id = $1 AND sequence <= 4', anchored.chainId);
      const anchor = anchored.records[3]!;
      await exec(
        'UPDATE audit_chain_heads SET anchor_sequence = 4, anchor_signature = $2, anchor_recorded_at = $3 WHERE chain_id = $1',
        anchored.chainId,
        anchor.signature,
        new Date(anchor.recorded_at),
      );
      const handWritten = await verify(anchored.chainId);
      assert.deepEqual([handWritten.breaks, handWritten.first_break?.kind], [1, 'modified'], 'an anchor no retention run signed is itself a break');
      assert.match(handWritten.first_break!.message, /no signed anchor digest/);
      await exec(
        'INSERT INTO audit_logs SELECT * FROM json_populate_record(NULL::audit_logs, $1::json)',
        JSON.stringify({ ...anchored.records[2]!, action: 'forged' }),
      );
      const below = await verify(anchored.chainId);
      assert.deepEqual([below.first_break?.kind, below.first_break?.sequence], ['inserted', 3]);
    });

    it('when old records are deleted under a faked old anchor, then a checkpoint taken after them shows the anchor was rewritten', async () => {
      const { chainId, records } = await chainOf(12);
      const outside: ChainCheckpoint[] = (await writeCheckpoints(prisma, silent)).filter((c) => c.chain_id === chainId);
      await exec('DELETE FROM audit_checkpoints WHERE chain_id = $1', chainId);
      await exec('DELETE FROM audit_logs WHERE chain_id = $1 AND sequence <= 12', chainId);
      // Pretend retention ran long ago: the anchor is the last record, dated 2000.
      const last = records[11]!;
      await exec(
        'UPDATE audit_chain_heads SET anchor_sequence = 12, anchor_signature = $2, anchor_recorded_at = $3 WHERE chain_id = $1',
        chainId,
        last.signature,
        new Date('2000-01-01T00:00:00Z'),
      );
      const report = await verify(chainId, { checkpoints: outside, retentionDays: 365 });
      assert.equal(report.ok, false);
      assert.equal(report.first_break?.kind, 'modified');
      assert.match(report.first_break!.message, /anchor/);
    });
  });
});
