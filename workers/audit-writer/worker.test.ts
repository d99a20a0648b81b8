import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { Queue } from 'bullmq';
import { pino } from 'pino';
import { verifyAuditLog } from '../../services/audit-log/verify-chain.ts';
import { createAuditKeyRing } from '../../services/audit-log/audit-signature.ts';
import type { AuditEvent } from '../../services/audit-log/events.ts';
import { createPrismaClient, type PrismaClient } from '../../services/platform/db/client.ts';
import { AuditJob, DEFAULT_JOB_OPTIONS, QueueName } from '../../services/platform/queues.ts';
import { sampleAuditEvent, sampleAuditEvents } from '../../test/support/audit-events.ts';
import { startChildService } from '../../test/support/child-service.ts';
import { startRedisProxy } from '../../test/support/redis-proxy.ts';
import { isolatedPrefix, testConfig, testEnv, testInfra } from '../../test/support/infra.ts';
import { metricValue } from '../../test/support/modules.ts';
import { waitFor } from '../../test/support/wait-for.ts';
import { start, type AuditWriterOptions } from './worker.ts';

type Writer = Awaited<ReturnType<typeof start>>;

describe('audit writer', () => {
  let prisma: PrismaClient;
  let prefix: string;
  let queue: Queue;
  const writers: Writer[] = [];
  const keyRing = () => createAuditKeyRing(testConfig('audit-writer').auditKeys);

  before(() => {
    prisma = createPrismaClient(testInfra().databaseUrl);
  });
  beforeEach(() => {
    prefix = isolatedPrefix('writer');
    queue = new Queue(QueueName.AuditEvents, { connection: { url: testInfra().redisUrl }, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
  });
  afterEach(async () => {
    await Promise.all(writers.splice(0).map((w) => w.stop()));
    await queue.close();
  });
  after(() => prisma.$disconnect());

  const startWriter = async (options: AuditWriterOptions = {}, env: Record<string, string> = {}) => {
    const writer = await start(testConfig('audit-writer', { BULLMQ_PREFIX: prefix, ...env }), options);
    writers.push(writer);
    return writer;
  };
  const publish = (events: AuditEvent[]) => queue.addBulk(events.map((data) => ({ name: AuditJob.Record, data, opts: { jobId: data.event_id } })));
  const storedCount = async (events: AuditEvent[]) => {
    const [row] = await prisma.$queryRaw<{ rows: bigint; distinct_ids: bigint }[]>`
      SELECT count(*) AS rows, count(DISTINCT event_id) AS distinct_ids FROM audit_logs WHERE event_id = ANY(${events.map((e) => e.event_id)}::uuid[])`;
    return { rows: Number(row!.rows), distinct: Number(row!.distinct_ids) };
  };
  const allStored = (events: AuditEvent[]) => async () => (await storedCount(events)).rows >= events.length;
  const verifyMainChain = () => verifyAuditLog(prisma, keyRing(), { chainIds: [0] });

  it('when events are queued, then each is stored once, signed and chained, and counted in audit_log_total', async () => {
    const writer = await startWriter();
    const events = sampleAuditEvents(25);
    await publish(events);
    await waitFor(allStored(events), { timeoutMs: 15_000, message: 'all events to be stored' });
    assert.deepEqual(await storedCount(events), { rows: 25, distinct: 25 });
    // The check an operator runs by hand in psql, as written.
    const [row] = await prisma.$queryRawUnsafe<{ event_type: string; status: string; details: unknown }[]>(
      'SELECT event_type, status, details FROM audit_logs ORDER BY timestamp DESC LIMIT 1;',
    );
    assert.deepEqual(row, { event_type: 'file_upload', status: 'success', details: events.at(-1)!.details });
    const report = await verifyMainChain();
    assert.equal(report.ok, true, JSON.stringify(report.first_break));
    const metrics = await (await fetch(`${writer.url}/metrics`)).text();
    assert.equal(metricValue(metrics, 'audit_log_total', { event_category: 'data_operation', event_type: 'file_upload', status: 'success' }), 25);
    assert.match(metrics, /audit_log_persist_latency_seconds_count\{service="audit-writer"\} 25/);
  });

  it('when a group job carries events, one of them invalid, then the valid ones are stored once each, the invalid one is dead-lettered alone, and a redelivered group adds nothing', async () => {
    await startWriter();
    const events = sampleAuditEvents(6);
    const invalid = { ...events[2]!, event_type: 'not_an_event_type' };
    const group = [events[0]!, events[1]!, invalid, events[3]!, events[4]!, events[5]!];
    const valid = group.filter((event) => event !== invalid) as AuditEvent[];
    await queue.add(AuditJob.RecordGroup, { events: group as AuditEvent[] }, { jobId: `group-${events[0]!.event_id}` });
    await waitFor(allStored(valid), { timeoutMs: 15_000, message: 'the group to be stored' });
    const deadLetters = new Queue(QueueName.AuditDeadLetter, { connection: { url: testInfra().redisUrl }, prefix });
    try {
      const dead = await waitFor(async () => (await deadLetters.getJobs(['waiting'])).find((job) => job.id === `dead-group-${events[0]!.event_id}-2`), {
        timeoutMs: 5000,
        message: 'the invalid event on the dead-letter queue',
      });
      assert.deepEqual(dead.data.payload, invalid);
      assert.match(dead.data.reason, /event_type/);
    } finally {
      await deadLetters.close();
    }
    // A redelivery of the whole group (the producer's add retried, or the job came back after a crash).
    await queue.add(AuditJob.RecordGroup, { events: valid }, { jobId: `group-again-${events[0]!.event_id}` });
    const redelivered = await queue.getJob(`group-again-${events[0]!.event_id}`);
    await waitFor(async () => (await redelivered!.getState()) === 'completed', { timeoutMs: 15_000, message: 'the redelivered group to complete' });
    assert.deepEqual(await storedCount(valid), { rows: 5, distinct: 5 });
    const report = await verifyMainChain();
    assert.equal(report.ok, true, JSON.stringify(report.first_break));
  });

  it('when the same event is delivered twice, then it is stored once and the chain does not advance', async () => {
    const writer = await startWriter();
    const event = sampleAuditEvent();
    await publish([event]);
    await waitFor(allStored([event]), { timeoutMs: 15_000, message: 'the event to be stored' });
    const [before] = await prisma.$queryRaw<{ sequence: bigint }[]>`SELECT sequence FROM audit_chain_heads WHERE chain_id = 0`;
    // A redelivery: the first job is gone (trimmed), the same event comes again, also twice in one batch.
    await (await queue.getJob(event.event_id))!.remove();
    await queue.addBulk([
      { name: AuditJob.Record, data: event, opts: { jobId: event.event_id } },
      { name: AuditJob.Record, data: event, opts: { jobId: `${event.event_id}-again` } },
    ]);
    const done = async (id: string) => (await queue.getJobState(id)) === 'completed';
    await waitFor(async () => (await done(event.event_id)) && (await done(`${event.event_id}-again`)), { timeoutMs: 15_000, message: 'both jobs to be done' });
    assert.deepEqual(await storedCount([event]), { rows: 1, distinct: 1 });
    const [after] = await prisma.$queryRaw<{ sequence: bigint }[]>`SELECT sequence FROM audit_chain_heads WHERE chain_id = 0`;
    assert.equal(after!.sequence, before!.sequence);
    const results = await Promise.all([event.event_id, `${event.event_id}-again`].map(async (id) => (await queue.getJob(id))!.returnvalue));
    assert.deepEqual(results, ['duplicate', 'duplicate']);
    assert.equal(metricValue(await (await fetch(`${writer.url}/metrics`)).text(), 'audit_log_duplicates_total'), 2);
  });

  it('when a payload is invalid, then its job fails at once without retries, is counted, and nothing is stored', async () => {
    const writer = await startWriter();
    const good = sampleAuditEvent();
    const bad = { ...sampleAuditEvent(), event_category: 'security', ip_address: 'x'.repeat(46) };
    await queue.add(AuditJob.Record, bad, { jobId: bad.event_id, attempts: 5 });
    await publish([good]);
    await waitFor(async () => (await queue.getFailedCount()) === 1, { timeoutMs: 15_000, message: 'the bad job to fail' });
    await waitFor(allStored([good]), { timeoutMs: 15_000, message: 'the good event to be stored' });
    const failed = (await queue.getJob(bad.event_id))!;
    assert.equal(failed.attemptsMade, 1);
    assert.match(failed.failedReason, /invalid audit event: .*event_category/);
    assert.deepEqual(await storedCount([bad as AuditEvent]), { rows: 0, distinct: 0 });
    assert.equal(metricValue(await (await fetch(`${writer.url}/metrics`)).text(), 'audit_log_rejected_total'), 1);
  });

  it('when two writers run at once, then together they build one valid chain with every event once', async function () {
    this.timeout(60_000);
    await startWriter({ batch: { maxSize: 50 } });
    await startWriter({ batch: { maxSize: 50 } });
    const events = sampleAuditEvents(3000);
    await publish(events);
    await waitFor(allStored(events), { timeoutMs: 45_000, message: 'all events to be stored' });
    assert.deepEqual(await storedCount(events), { rows: 3000, distinct: 3000 });
    const report = await verifyMainChain();
    assert.equal(report.ok, true, JSON.stringify(report.first_break));
  });

  it('when the writer process is killed with SIGKILL mid-batch, then a new writer stores every event exactly once', async function () {
    this.timeout(90_000);
    const events = sampleAuditEvents(20_000);
    await publish(events);
    const child = await startChildService('test/support/audit-writer-child.ts', testEnv({ BULLMQ_PREFIX: prefix }));
    let killed = false;
    try {
      await waitFor(async () => (await storedCount(events)).rows > 0, { timeoutMs: 30_000, message: 'the child to store some events' });
      process.kill(child.pid, 'SIGKILL');
      killed = true;
    } finally {
      if (!killed) await child.stop();
    }
    const atKill = await storedCount(events);
    assert.ok(atKill.rows < events.length, `the child finished all ${events.length} before it was killed`);
    assert.ok((await queue.getActiveCount()) > 0, 'jobs were in flight when it died');

    await startWriter({ workerOptions: { stalledInterval: 500, lockDuration: 1000 } });
    await waitFor(allStored(events), { timeoutMs: 60_000, message: 'all events to be stored' });
    const pending = async () => (await queue.getJobs(['active', 'wait', 'delayed'])).filter((j) => j.name === AuditJob.Record).length;
    await waitFor(async () => (await pending()) === 0, { timeoutMs: 15_000, message: 'no event job to be left' });
    assert.deepEqual(await storedCount(events), { rows: events.length, distinct: events.length });
    assert.equal(await queue.getFailedCount(), 0);
    const report = await verifyMainChain();
    assert.equal(report.ok, true, JSON.stringify(report.first_break));
  });

  it('when the checkpoint schedule ticks, then the chain head is written to audit_checkpoints and as one log line', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, done) => done(void lines.push(String(chunk))) }));
    await startWriter({ logger }, { AUDIT_CHECKPOINT_EVERY_MS: '200' });
    const events = sampleAuditEvents(3);
    await publish(events);
    await waitFor(allStored(events), { timeoutMs: 15_000, message: 'all events to be stored' });
    const [head] = await prisma.$queryRaw<{ sequence: bigint; signature: string }[]>`SELECT sequence, signature FROM audit_chain_heads WHERE chain_id = 0`;
    await waitFor(
      async () => {
        const rows = await prisma.$queryRaw<
          { n: bigint }[]
        >`SELECT count(*) AS n FROM audit_checkpoints WHERE chain_id = 0 AND sequence = ${head!.sequence} AND signature = ${head!.signature}`;
        return rows[0]!.n > 0n;
      },
      { timeoutMs: 15_000, message: 'a checkpoint of the head' },
    );
    const logged = () =>
      lines
        .filter((l) => l.includes('"audit_checkpoint"'))
        .map((l) => (JSON.parse(l) as { audit_checkpoint: { sequence: number; signature: string } }).audit_checkpoint)
        .find((c) => c.sequence === Number(head!.sequence));
    await waitFor(async () => logged() !== undefined, { timeoutMs: 5000, message: 'the checkpoint to be logged' });
    assert.equal(logged()!.signature, head!.signature);
  });

  it('when the database is unreachable, then events wait in delayed without spending attempts and are all stored once it is back', async function () {
    this.timeout(60_000);
    // A plain TCP proxy in front of PostgreSQL that the test can cut (the helper is Redis-named, the proxying is not).
    const proxy = await startRedisProxy(testInfra().databaseUrl);
    const proxied = new URL(testInfra().databaseUrl);
    proxied.port = new URL(proxy.url).port;
    try {
      await startWriter({}, { DATABASE_URL: proxied.toString() });
      const events = sampleAuditEvents(40);
      proxy.cut();
      await publish(events);
      const waiting = async () => (await queue.getJobs(['delayed'])).filter((j) => j.name === AuditJob.Record).length;
      await waitFor(async () => (await waiting()) === events.length, { timeoutMs: 20_000, message: 'the events to wait in delayed' });
      assert.equal(await queue.getFailedCount(), 0);
      const attempts = (await queue.getJobs(['delayed'])).filter((j) => j.name === AuditJob.Record).map((j) => j.attemptsMade);
      assert.deepEqual([...new Set(attempts)], [0], 'no attempt was spent');
      proxy.restore();
      await waitFor(allStored(events), { timeoutMs: 40_000, message: 'all events to be stored' });
      assert.deepEqual(await storedCount(events), { rows: 40, distinct: 40 });
      assert.equal(await queue.getFailedCount(), 0);
    } finally {
      await Promise.all(writers.splice(0).map((w) => w.stop()));
      await proxy.close();
    }
  });
});
