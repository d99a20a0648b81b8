import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { sampleAuditEvent, sampleAuditEvents } from '../../test/support/audit-events.ts';
import { testConfig, testInfra } from '../../test/support/infra.ts';
import { createAuditKeyRing } from './audit-signature.ts';
import { chainIdsUpTo, chainOfEvent } from './chain-assignment.ts';
import { createChainWriter, ensureChainHeads } from './chain-writer.ts';
import { createPrismaClient, type PrismaClient } from '../platform/db/client.ts';
import { verifyAuditLog } from './verify-chain.ts';

/**
 * The writer over several chains (AUDIT_CHAINS). These write chains 0 to 2 of the run's database,
 * the chains the audit writer appends to, and leave them intact.
 */
describe('audit chain writer over several chains', () => {
  let prisma: PrismaClient;
  let keyRing: ReturnType<typeof createAuditKeyRing>;

  before(async () => {
    prisma = createPrismaClient(testInfra().databaseUrl);
    keyRing = createAuditKeyRing(testConfig('audit-writer').auditKeys);
    await ensureChainHeads(prisma, chainIdsUpTo(3));
  });
  after(() => prisma.$disconnect());

  const heads = async () =>
    new Map(
      (await prisma.$queryRaw<{ chain_id: number; sequence: bigint }[]>`SELECT chain_id, sequence FROM audit_chain_heads WHERE chain_id < 3`).map((h) => [
        h.chain_id,
        Number(h.sequence),
      ]),
    );
  const chainsOf = async (eventIds: string[]) =>
    new Map(
      (
        await prisma.$queryRaw<{ event_id: string; chain_id: number }[]>`
        SELECT event_id::text AS event_id, chain_id FROM audit_logs WHERE event_id = ANY(${eventIds}::uuid[])`
      ).map((r) => [r.event_id, r.chain_id]),
    );

  it('when a batch spans three chains, then each event is appended once to the chain its id picks, each chain advances by its part, and every chain verifies', async () => {
    const events = sampleAuditEvents(60);
    const before = await heads();
    const result = await createChainWriter(prisma, keyRing, { chains: 3 }).write(events);
    assert.deepEqual(result.outcomes, Array(60).fill('stored'));
    const stored = await chainsOf(events.map((e) => e.event_id));
    assert.equal(stored.size, 60);
    for (const event of events) assert.equal(stored.get(event.event_id), chainOfEvent(event.event_id, 3));
    const after = await heads();
    for (const chainId of [0, 1, 2]) {
      const part = events.filter((e) => chainOfEvent(e.event_id, 3) === chainId).length;
      assert.ok(part > 0, `chain ${chainId} got none of 60 events`);
      assert.equal(after.get(chainId)! - before.get(chainId)!, part, `chain ${chainId} advanced by its part`);
    }
    const report = await verifyAuditLog(prisma, keyRing, { chainIds: [0, 1, 2] });
    assert.equal(report.ok, true, JSON.stringify(report.first_break));
    assert.deepEqual(
      report.chains.map((c) => c.chain_id),
      [0, 1, 2],
    );
  });

  it('when a batch is delivered again, also twice within one batch, then every event is a duplicate and no chain advances', async () => {
    const writer = createChainWriter(prisma, keyRing, { chains: 3 });
    const events = sampleAuditEvents(30);
    await writer.write(events);
    const before = await heads();
    const again = await writer.write([...events, ...events.slice(0, 5)]);
    assert.deepEqual(again.outcomes, Array(35).fill('duplicate'));
    assert.deepEqual(await heads(), before);
  });

  it('when another writer appended since this one last did, then its next batch follows the other one’s records and every chain verifies', async () => {
    const first = createChainWriter(prisma, keyRing, { chains: 3 });
    const second = createChainWriter(prisma, keyRing, { chains: 3 });
    await first.write(sampleAuditEvents(30));
    await second.write(sampleAuditEvents(30));
    const before = await heads();
    const events = sampleAuditEvents(30);
    assert.deepEqual((await first.write(events)).outcomes, Array(30).fill('stored'));
    const after = await heads();
    for (const chainId of [0, 1, 2]) {
      assert.equal(after.get(chainId)! - before.get(chainId)!, events.filter((e) => chainOfEvent(e.event_id, 3) === chainId).length);
    }
    const report = await verifyAuditLog(prisma, keyRing, { chainIds: [0, 1, 2] });
    assert.equal(report.ok, true, JSON.stringify(report.first_break));
  });

  it('when one writer is given many batches at once, then each is appended after the one before and every chain verifies', async () => {
    const writer = createChainWriter(prisma, keyRing, { chains: 3 });
    const batches = Array.from({ length: 12 }, () => sampleAuditEvents(20));
    const before = await heads();
    const results = await Promise.all(batches.map((batch) => writer.write(batch)));
    assert.deepEqual(
      results.flatMap((r) => r.outcomes),
      Array(240).fill('stored'),
    );
    const after = await heads();
    assert.equal(
      [0, 1, 2].reduce((sum, chainId) => sum + after.get(chainId)! - before.get(chainId)!, 0),
      240,
    );
    const report = await verifyAuditLog(prisma, keyRing, { chainIds: [0, 1, 2] });
    assert.equal(report.ok, true, JSON.stringify(report.first_break));
  });

  it('when batches are queued on a head another writer has since moved, and a later one repeats events of an earlier one, then every event is stored once and every chain verifies', async () => {
    const writer = createChainWriter(prisma, keyRing, { chains: 3 });
    await writer.write(sampleAuditEvents(30));
    // The other writer moves every head: the batches below, numbered ahead after the heads this writer left, are stale.
    await createChainWriter(prisma, keyRing, { chains: 3 }).write(sampleAuditEvents(30));
    const batches = Array.from({ length: 8 }, () => sampleAuditEvents(20));
    const redelivered = [...batches[1]!.slice(0, 5), ...batches[4]!.slice(10)];
    const before = await heads();
    const results = await Promise.all([...batches, redelivered].map((batch) => writer.write(batch)));
    assert.deepEqual(
      results.flatMap((r) => r.outcomes),
      [...Array(160).fill('stored'), ...Array(redelivered.length).fill('duplicate')],
    );
    const after = await heads();
    assert.equal(
      [0, 1, 2].reduce((sum, chainId) => sum + after.get(chainId)! - before.get(chainId)!, 0),
      160,
    );
    const ids = batches.flat().map((e) => e.event_id);
    const [copies] = await prisma.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM audit_logs WHERE event_id = ANY(${ids}::uuid[])`;
    assert.equal(copies!.n, 160n);
    const report = await verifyAuditLog(prisma, keyRing, { chainIds: [0, 1, 2] });
    assert.equal(report.ok, true, JSON.stringify(report.first_break));
  });

  it('when AUDIT_CHAINS changed between two deliveries of an event, then the second is a duplicate although it goes to another chain', async () => {
    // An event that three chains put elsewhere than two do, so the second delivery locks another chain.
    let event = sampleAuditEvent();
    while (chainOfEvent(event.event_id, 3) === chainOfEvent(event.event_id, 2)) event = { ...event, event_id: randomUUID() };
    await createChainWriter(prisma, keyRing, { chains: 3 }).write([event]);
    const again = await createChainWriter(prisma, keyRing, { chains: 2 }).write([event]);
    assert.deepEqual(again.outcomes, ['duplicate']);
    const [copies] = await prisma.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM audit_logs WHERE event_id = ${event.event_id}::uuid`;
    assert.equal(copies!.n, 1n);
    assert.equal((await chainsOf([event.event_id])).get(event.event_id), chainOfEvent(event.event_id, 3));
  });
});
