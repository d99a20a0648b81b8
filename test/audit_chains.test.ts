import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { chainOfEvent } from '../services/audit-log/chain-assignment.ts';
import type { AuditEvent } from '../services/audit-log/events.ts';
import type { VerifyReport } from '../services/audit-log/verify-chain.ts';
import { createPrismaClient, type PrismaClient } from '../services/platform/db/client.ts';
import { AuditJob, DEFAULT_JOB_OPTIONS, QueueName } from '../services/platform/queues.ts';
import type { RunningService } from '../services/platform/runtime.ts';
import { start as startAuditWriter, type AuditWriterOptions } from '../workers/audit-writer/worker.ts';
import { sampleAuditEvents } from './support/audit-events.ts';
import { runAuditVerify } from './support/audit-verify-cli.ts';
import { isolatedPrefix, testConfig, testInfra } from './support/infra.ts';
import { MODULES } from './support/modules.ts';
import { adminToken } from './support/tokens.ts';
import { waitFor } from './support/wait-for.ts';

interface ChainLine {
  chain_id: number;
  breaks: number;
  first_break: { kind: string; chain_id: number; sequence: number } | null;
}

/**
 * The audit log spread over several chains (AUDIT_CHAINS), end to end: the real writers, the admin
 * module's read and verify API, and `npm run audit:verify` with and without --public. The chains
 * are 0 to 2, the ones every writer of the run appends to; a record changed here is put back.
 */
describe('audit log over several chains (AUDIT_CHAINS)', () => {
  let admin: RunningService;
  let prisma: PrismaClient;
  let bearer: string;
  let digestDir: string;
  const writers: RunningService[] = [];
  const queues: Queue[] = [];

  before(async function () {
    this.timeout(30_000);
    prisma = createPrismaClient(testInfra().databaseUrl);
    admin = await MODULES.admin(testConfig('admin', { BULLMQ_PREFIX: isolatedPrefix('chains-admin') }));
    bearer = await adminToken(admin.url);
    digestDir = await mkdtemp(path.join(tmpdir(), 'artstore-chains-digests-'));
  });
  afterEach(async () => {
    await Promise.all(writers.splice(0).map((w) => w.stop()));
    await Promise.all(queues.splice(0).map((q) => q.close()));
  });
  after(async () => {
    await admin?.stop();
    await prisma?.$disconnect();
    await rm(digestDir, { recursive: true, force: true });
  });

  /** A queue of its own and `count` writers on it, each with AUDIT_CHAINS=chains. */
  const writersOn = async (chains: number, count: number, options: AuditWriterOptions = {}, env: Record<string, string> = {}) => {
    const prefix = isolatedPrefix('chains');
    const queue = new Queue(QueueName.AuditEvents, { connection: { url: testInfra().redisUrl }, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
    queues.push(queue);
    for (let i = 0; i < count; i++) {
      writers.push(await startAuditWriter(testConfig('audit-writer', { BULLMQ_PREFIX: prefix, AUDIT_CHAINS: String(chains), ...env }), options));
    }
    return (events: AuditEvent[], jobIdSuffix = '') =>
      queue.addBulk(events.map((data) => ({ name: AuditJob.Record, data, opts: { jobId: `${data.event_id}${jobIdSuffix}` } })));
  };
  const storedChains = async (events: AuditEvent[]) =>
    prisma.$queryRaw<{ event_id: string; chain_id: number; sequence: bigint }[]>`
      SELECT event_id::text AS event_id, chain_id, sequence FROM audit_logs WHERE event_id = ANY(${events.map((e) => e.event_id)}::uuid[])`;
  const api = async <T>(url: string) => {
    const res = await fetch(`${admin.url}${url}`, { headers: { Authorization: `Bearer ${bearer}` } });
    assert.equal(res.status, 200, `${url}: ${await res.clone().text()}`);
    return (await res.json()) as T;
  };
  const heads = async () =>
    new Map(
      (await prisma.$queryRaw<{ chain_id: number; sequence: bigint }[]>`SELECT chain_id, sequence FROM audit_chain_heads WHERE chain_id < 3`).map((h) => [
        h.chain_id,
        Number(h.sequence),
      ]),
    );
  const latestDigestSizes = async () =>
    new Map(
      (
        await prisma.$queryRaw<{ chain_id: number; tree_size: bigint }[]>`
          SELECT DISTINCT ON (chain_id) chain_id, (body::json->>'tree_size')::bigint AS tree_size FROM audit_digests WHERE chain_id < 3 ORDER BY chain_id, seq DESC`
      ).map((d) => [d.chain_id, Number(d.tree_size)]),
    );

  it('when AUDIT_CHAINS=3, then events spread over three chains by event id, each chain verifies and gets signed digests, and the read API filters by chain', async function () {
    this.timeout(60_000);
    const publish = await writersOn(3, 1, {}, { AUDIT_DIGEST_EVERY_MS: '300', AUDIT_DIGEST_DIR: digestDir });
    const marker = `chains-${Date.now()}`;
    const events = sampleAuditEvents(300, { request_id: marker });
    await publish(events);
    const rows = await waitFor(() => storedChains(events), { until: (r) => r.length === events.length, timeoutMs: 30_000, message: 'all events to be stored' });
    for (const row of rows) assert.equal(row.chain_id, chainOfEvent(row.event_id, 3), `event ${row.event_id}`);
    const perChain = [0, 1, 2].map((chainId) => rows.filter((r) => r.chain_id === chainId).length);
    for (const count of perChain) assert.ok(count > 50, `each chain holds a share of 300 events (${perChain.join(', ')})`);

    const report = await api<VerifyReport>('/api/v1/audit/verify');
    assert.equal(report.ok, true, JSON.stringify(report.first_break));
    for (const chainId of [0, 1, 2]) {
      const one = await api<VerifyReport>(`/api/v1/audit/verify?chain_id=${chainId}`);
      assert.deepEqual([one.ok, one.chains.map((c) => c.chain_id)], [true, [chainId]]);
    }
    const page = await api<{ items: { chain_id: number; request_id: string; integrity: string }[] }>(
      `/api/v1/audit/logs?request_id=${marker}&chain_id=1&limit=1000`,
    );
    assert.equal(page.items.length, perChain[1]);
    assert.ok(page.items.every((item) => item.chain_id === 1 && item.integrity === 'verified'));

    // The periodic digest job signs every chain, so each one's tree reaches its head in a digest.
    await waitFor(
      async () => {
        const [sizes, now] = [await latestDigestSizes(), await heads()];
        return [0, 1, 2].every((chainId) => sizes.get(chainId) === now.get(chainId));
      },
      { timeoutMs: 15_000, message: 'a signed digest of each chain at its head' },
    );
  });

  it('when a record in one of three chains is changed, then the API, audit:verify and audit:verify --public name that chain and find the other two intact', async function () {
    this.timeout(90_000);
    const publish = await writersOn(3, 1, {}, { AUDIT_DIGEST_EVERY_MS: '300', AUDIT_DIGEST_DIR: digestDir });
    const events = sampleAuditEvents(60);
    await publish(events);
    const rows = await waitFor(() => storedChains(events), { until: (r) => r.length === events.length, timeoutMs: 30_000, message: 'all events to be stored' });
    const victim = rows.find((r) => r.chain_id === 1)!;
    // Its digest is signed before the change, so --public has a tree root the change contradicts.
    await waitFor(async () => ((await latestDigestSizes()).get(1) ?? 0) >= Number(victim.sequence), {
      timeoutMs: 15_000,
      message: 'a digest covering the record',
    });
    const [original] = await prisma.$queryRaw<{ action: string }[]>`SELECT action FROM audit_logs WHERE event_id = ${victim.event_id}::uuid`;
    await prisma.$executeRaw`UPDATE audit_logs SET action = 'tampered' WHERE event_id = ${victim.event_id}::uuid`;
    try {
      const report = await api<VerifyReport>('/api/v1/audit/verify');
      assert.equal(report.ok, false);
      assert.deepEqual([report.first_break?.kind, report.first_break?.chain_id, report.first_break?.sequence], ['modified', 1, Number(victim.sequence)]);
      const lines = report.chains.filter((c) => c.chain_id < 3);
      assert.deepEqual(
        lines.map((c) => [c.chain_id, c.breaks]),
        [
          [0, 0],
          [1, 1],
          [2, 0],
        ],
      );

      const broken = await runAuditVerify(['--chain', '1', '--json']);
      assert.equal(broken.code, 1, broken.stderr);
      assert.match(broken.stderr, new RegExp(`first: modified at chain 1 sequence ${victim.sequence}:`));
      const others = await runAuditVerify(['--chain', '0', '--chain', '2', '--json']);
      assert.equal(others.code, 0, others.stderr);
      assert.deepEqual(
        (JSON.parse(others.stdout) as { chains: ChainLine[] }).chains.map((c) => c.chain_id),
        [0, 2],
      );

      const outsider = await runAuditVerify(
        ['--public', '--digests', digestDir, '--keys', `${admin.url}/.well-known/audit-keys.json`, '--chain', '0', '--chain', '1', '--chain', '2', '--json'],
        { AUDIT_LOG_SECRET_KEY: '', AUDIT_DIGEST_KEY_ENCRYPTION_KEY: '' },
      );
      assert.equal(outsider.code, 1, outsider.stderr);
      const publicReport = JSON.parse(outsider.stdout) as { first_break: ChainLine['first_break']; chains: ChainLine[] };
      assert.deepEqual([publicReport.first_break?.kind, publicReport.first_break?.chain_id], ['modified', 1]);
      assert.deepEqual(
        publicReport.chains.map((c) => [c.chain_id, c.breaks]),
        [
          [0, 0],
          [1, 1],
          [2, 0],
        ],
      );
    } finally {
      await prisma.$executeRaw`UPDATE audit_logs SET action = ${original!.action} WHERE event_id = ${victim.event_id}::uuid`;
    }
    assert.equal((await api<VerifyReport>('/api/v1/audit/verify?chain_id=1')).ok, true, 'the record put back verifies again');
  });

  it('when two writers with AUDIT_CHAINS=2 take one queue and events are delivered again, then every event is stored exactly once and both chains verify', async function () {
    this.timeout(90_000);
    const publish = await writersOn(2, 2, { batch: { maxSize: 50 } });
    const events = sampleAuditEvents(3000);
    await publish(events);
    // Redeliveries while the first copies are still being written: the same events under other job ids.
    await publish(events.slice(0, 300), '-again');
    await publish(events.slice(2700), '-again');
    await waitFor(() => storedChains(events), { until: (r) => r.length >= events.length, timeoutMs: 60_000, message: 'all events to be stored' });
    // The queue also holds the writers' checkpoint and digest schedulers, always delayed: only event jobs count.
    const eventJobs = async () => (await queues[0]!.getJobs(['active', 'wait', 'delayed'])).filter((job) => job.name === AuditJob.Record).length;
    await waitFor(async () => (await eventJobs()) === 0, { timeoutMs: 30_000, message: 'every event job to be done' });
    assert.equal(await queues[0]!.getFailedCount(), 0, 'no batch failed');
    const rows = await storedChains(events);
    assert.equal(rows.length, events.length, 'each event stored exactly once');
    assert.equal(new Set(rows.map((r) => r.event_id)).size, events.length);
    for (const row of rows) assert.equal(row.chain_id, chainOfEvent(row.event_id, 2));
    const report = await api<VerifyReport>('/api/v1/audit/verify');
    assert.equal(report.ok, true, JSON.stringify(report.first_break));
  });
});
