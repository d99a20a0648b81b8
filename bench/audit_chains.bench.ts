/**
 * What a second audit chain adds (AUDIT_CHAINS): the chain writer alone, without BullMQ in front of
 * it, kept saturated — two writer threads (as two writer replicas have), each with two batches of
 * 500 in flight, as the batcher keeps them — appending 40,000 events to one chain, then spread over
 * two. With one chain every batch waits for the head lock, so its figure is the ceiling of one
 * chain; with two, each chain's part waits only for its own. Medians of alternating rounds.
 */
import { createAuditKeyRing } from '../services/audit-log/audit-signature.ts';
import { chainIdsUpTo } from '../services/audit-log/chain-assignment.ts';
import { ensureChainHeads } from '../services/audit-log/chain-writer.ts';
import type { AuditEvent } from '../services/audit-log/events.ts';
import { verifyAuditLog } from '../services/audit-log/verify-chain.ts';
import { createPrismaClient, type PrismaClient } from '../services/platform/db/client.ts';
import { sampleAuditEvents } from '../test/support/audit-events.ts';
import { testConfig, testInfra } from '../test/support/infra.ts';
import { DEFAULT_BATCHER_OPTIONS } from '../workers/audit-writer/batcher.ts';
import { startThreadedChainWriter } from '../workers/audit-writer/threaded-chain-writer.ts';
import type { Benchmark, Figure } from './report.ts';

const EVENTS = 40_000;
const ROUNDS = 3;
const REPLICAS = 2;
const { maxSize: BATCH, maxInFlight: IN_FLIGHT } = DEFAULT_BATCHER_OPTIONS;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function chainWriterEventsPerSecond(prisma: PrismaClient, chains: number, count: number): Promise<number> {
  const config = testConfig('audit-writer', { AUDIT_CHAINS: String(chains) });
  await ensureChainHeads(prisma, chainIdsUpTo(chains));
  const writers = Array.from({ length: REPLICAS }, () => startThreadedChainWriter(config));
  const events = sampleAuditEvents(count);
  const batches: AuditEvent[][] = [];
  for (let i = 0; i < events.length; i += BATCH) batches.push(events.slice(i, i + BATCH));
  try {
    // Each thread's first transaction opens its pool; that is not what is measured.
    await Promise.all(writers.map((writer) => writer.write(sampleAuditEvents(10))));
    const started = performance.now();
    let next = 0;
    await Promise.all(
      writers.flatMap((writer) =>
        Array.from({ length: IN_FLIGHT }, async () => {
          while (next < batches.length) {
            const { outcomes } = await writer.write(batches[next++]!);
            if (outcomes.some((outcome) => outcome !== 'stored')) throw new Error('a fresh event was answered duplicate');
          }
        }),
      ),
    );
    return count / ((performance.now() - started) / 1000);
  } finally {
    await Promise.all(writers.map((writer) => writer.close()));
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
      const load = `${REPLICAS} writer threads × ${IN_FLIGHT} batches of ${BATCH} in flight, ${EVENTS} events, median of ${ROUNDS}`;
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
