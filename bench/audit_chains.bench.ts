/**
 * What a second audit chain adds (AUDIT_CHAINS): the chain writer alone, without BullMQ in front of
 * it, kept saturated — two writers (as two writer replicas, each with its own database pool), each
 * with two batches of 500 in flight per chain, as the writer's per-chain batchers keep them under
 * load — appending 40,000 events to one chain, then spread over two. With one chain every batch
 * waits for the head lock, so its figure is the ceiling of one chain; with two, a batch waits only
 * for batches of its own chain. The writers run in this process (a deployable's writer thread is its
 * own), which adds about 9 ms of signing per batch to this thread. Medians of alternating rounds.
 */
import { createAuditKeyRing } from '../services/audit-log/audit-signature.ts';
import { chainIdsUpTo, chainOfEvent } from '../services/audit-log/chain-assignment.ts';
import { createChainWriter, ensureChainHeads } from '../services/audit-log/chain-writer.ts';
import type { AuditEvent } from '../services/audit-log/events.ts';
import { verifyAuditLog } from '../services/audit-log/verify-chain.ts';
import { createPrismaClient, type PrismaClient } from '../services/platform/db/client.ts';
import { sampleAuditEvents } from '../test/support/audit-events.ts';
import { testConfig, testInfra } from '../test/support/infra.ts';
import type { Benchmark, Figure } from './report.ts';

const EVENTS = 40_000;
const ROUNDS = 3;
const REPLICAS = 2;
/** The audit writer's batcher defaults (workers/audit-writer/batcher.ts). */
const BATCH = 500;
const IN_FLIGHT = 2;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function chainWriterEventsPerSecond(prisma: PrismaClient, chains: number, count: number): Promise<number> {
  await ensureChainHeads(prisma, chainIdsUpTo(chains));
  const keyRing = createAuditKeyRing(testConfig('audit-writer').auditKeys);
  const pools = Array.from({ length: REPLICAS }, () => createPrismaClient(testInfra().databaseUrl, { maxConnections: IN_FLIGHT * chains + 2 }));
  const writers = pools.map((pool) => createChainWriter(pool, keyRing, { chains }));
  // Full batches of one chain each, as the writer's batcher of that chain gathers them.
  const byChain = chainIdsUpTo(chains).map(() => [] as AuditEvent[]);
  for (const event of sampleAuditEvents(count)) byChain[chainOfEvent(event.event_id, chains)]!.push(event);
  const batches = byChain.map((events) => Array.from({ length: Math.ceil(events.length / BATCH) }, (_, i) => events.slice(i * BATCH, (i + 1) * BATCH)));
  try {
    // Each writer's first transaction opens its pool; that is not what is measured.
    await Promise.all(writers.map((writer) => writer.write(sampleAuditEvents(10))));
    const started = performance.now();
    await Promise.all(
      writers.flatMap((writer) =>
        batches.flatMap((chainBatches) =>
          Array.from({ length: IN_FLIGHT }, async () => {
            for (let batch = chainBatches.shift(); batch; batch = chainBatches.shift()) {
              const { outcomes } = await writer.write(batch);
              if (outcomes.some((outcome) => outcome !== 'stored')) throw new Error('a fresh event was answered duplicate');
            }
          }),
        ),
      ),
    );
    return count / ((performance.now() - started) / 1000);
  } finally {
    await Promise.all(pools.map((pool) => pool.$disconnect()));
  }
}

const benchmark: Benchmark = {
  title: 'Audit chains: what a second chain adds to the chain writer',
  async run(): Promise<Figure[]> {
    const prisma = createPrismaClient(testInfra().databaseUrl);
    try {
      await chainWriterEventsPerSecond(prisma, 2, 4000);
      const rounds = { one: [] as number[], two: [] as number[] };
      for (let round = 0; round < ROUNDS; round++) {
        rounds.one.push(await chainWriterEventsPerSecond(prisma, 1, EVENTS));
        rounds.two.push(await chainWriterEventsPerSecond(prisma, 2, EVENTS));
      }
      const report = await verifyAuditLog(prisma, createAuditKeyRing(testConfig('audit-writer').auditKeys), { chainIds: [0, 1] });
      if (!report.ok) throw new Error(`the chains do not verify: ${JSON.stringify(report.first_break)}`);
      const one = median(rounds.one);
      const two = median(rounds.two);
      const load = `${REPLICAS} writers × ${IN_FLIGHT} batches of ${BATCH} in flight per chain, ${EVENTS} events, median of ${ROUNDS}`;
      return [
        {
          name: `chain writer over 2 chains (${load})`,
          value: two,
          unit: 'events/s',
          baseline: { name: 'the same over 1 chain', value: one, unit: 'events/s' },
          target: '≥ 1.5 of baseline',
          met: two / one >= 1.5,
        },
        {
          name: 'one chain with its head lock always contended: the ceiling of a chain',
          value: one,
          unit: 'events/s',
          target: 'none (reported for planning)',
          met: true,
        },
      ];
    } finally {
      await prisma.$disconnect();
    }
  },
};
export default benchmark;
