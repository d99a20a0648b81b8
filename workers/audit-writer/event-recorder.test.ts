import assert from 'node:assert/strict';
import type { Job } from 'bullmq';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { chainOfEvent } from '../../services/audit-log/chain-assignment.ts';
import type { WriteOutcome } from '../../services/audit-log/chain-writer.ts';
import type { AuditEvent } from '../../services/audit-log/events.ts';
import { createPrismaClient, type PrismaClient } from '../../services/platform/db/client.ts';
import { sampleAuditEvents } from '../../test/support/audit-events.ts';
import { testInfra } from '../../test/support/infra.ts';
import { createEventRecorder } from './event-recorder.ts';
import { createWriterMetrics } from './writer-metrics.ts';

describe('audit event recorder over several chains', () => {
  let prisma: PrismaClient;
  before(() => {
    prisma = createPrismaClient(testInfra().databaseUrl);
  });
  after(() => prisma.$disconnect());

  it('when events of three chains arrive together, then every batch handed to the chain writer holds one chain only, so it is one transaction', async () => {
    const batches: AuditEvent[][] = [];
    const recorder = createEventRecorder({
      prisma,
      logger: pino({ level: 'silent' }),
      metrics: createWriterMetrics(new Registry()),
      // The chain writer's side is not under test here: it answers every event stored.
      writer: {
        write: async (events) => {
          batches.push(events);
          return { outcomes: events.map((): WriteOutcome => 'stored') };
        },
      },
      batch: { maxSize: 20, maxWaitMs: 5 },
      chains: 3,
      deadLetter: async () => undefined,
    });
    const events = sampleAuditEvents(90);
    const outcomes = await Promise.all(events.map((data, i) => recorder.record({ id: String(i), data } as Job)));
    await recorder.drain();
    assert.deepEqual(outcomes, Array(90).fill('stored'));
    assert.equal(batches.flat().length, 90);
    for (const batch of batches) assert.equal(new Set(batch.map((e) => chainOfEvent(e.event_id, 3))).size, 1, 'a batch mixes chains');
    assert.deepEqual(new Set(batches.map((batch) => chainOfEvent(batch[0]!.event_id, 3))), new Set([0, 1, 2]));
  });
});
