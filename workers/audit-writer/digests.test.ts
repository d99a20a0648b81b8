import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, QueueEvents } from 'bullmq';
import { start as startAdmin } from '../../services/admin/app.ts';
import { AUDIT_RECORD_COLUMNS, rowToAuditRecord, type AuditRecordRow } from '../../services/audit-log/audit-records.ts';
import { canonicalJson } from '../../services/audit-log/canonical-json.ts';
import type { AuditDigest } from '../../services/audit-log/digests/digest-format.ts';
import type { DigestJwk } from '../../services/audit-log/digests/digest-keys.ts';
import { chainDirectory, digestFiles } from '../../services/audit-log/digests/digest-sink.ts';
import { verifyDigestChain } from '../../services/audit-log/digests/digest-verification.ts';
import type { AuditEvent } from '../../services/audit-log/events.ts';
import { verifyInclusion } from '../../services/audit-log/merkle/verify.ts';
import type { InclusionProof, TreeHead } from '../../services/audit-log/proofs.ts';
import { recordLeafHash } from '../../services/audit-log/record-leaf.ts';
import { createPrismaClient, type PrismaClient } from '../../services/platform/db/client.ts';
import { AuditJob, DEFAULT_JOB_OPTIONS, QueueName } from '../../services/platform/queues.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { sampleAuditEvents } from '../../test/support/audit-events.ts';
import { isolatedPrefix, testConfig, testInfra } from '../../test/support/infra.ts';
import { accountWithToken, adminToken } from '../../test/support/tokens.ts';
import { waitFor } from '../../test/support/wait-for.ts';
import { start } from './worker.ts';

const EVERY_MS = 500;
const MAX_SILENCE_MS = 2000;

describe('audit writer: signed digests', () => {
  let prisma: PrismaClient;
  let prefix: string;
  let dir: string;
  let queue: Queue;
  let admin: RunningService;
  let bearer: string;
  const writers: RunningService[] = [];

  before(async function () {
    this.timeout(30_000);
    prisma = createPrismaClient(testInfra().databaseUrl);
    prefix = isolatedPrefix('digests');
    dir = await mkdtemp(path.join(os.tmpdir(), 'artstore-writer-digests-'));
    queue = new Queue(QueueName.AuditEvents, { connection: { url: testInfra().redisUrl }, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
    admin = await startAdmin(testConfig('admin', { BULLMQ_PREFIX: prefix }));
    bearer = await adminToken(admin.url);
  });
  afterEach(async () => {
    await Promise.all(writers.splice(0).map((w) => w.stop()));
  });
  after(async () => {
    await admin.stop();
    await queue.close();
    await prisma.$disconnect();
    await rm(dir, { recursive: true, force: true });
  });

  const startWriter = async (env: Record<string, string>) => {
    const writer = await start(testConfig('audit-writer', { BULLMQ_PREFIX: prefix, AUDIT_DIGEST_DIR: dir, ...env }));
    writers.push(writer);
    return writer;
  };
  const publish = (events: AuditEvent[]) => queue.addBulk(events.map((data) => ({ name: AuditJob.Record, data, opts: { jobId: data.event_id } })));
  const headSize = async () => Number((await prisma.$queryRaw<{ sequence: bigint }[]>`SELECT sequence FROM audit_chain_heads WHERE chain_id = 0`)[0]!.sequence);
  const stored = (events: AuditEvent[]) => async () =>
    Number(
      (await prisma.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM audit_logs WHERE event_id = ANY(${events.map((e) => e.event_id)}::uuid[])`)[0]!.n,
    ) === events.length;
  const tableDigests = async () =>
    (await prisma.$queryRaw<{ seq: bigint; body: string }[]>`SELECT seq, body FROM audit_digests WHERE chain_id = 0 ORDER BY seq`).map((r) => ({
      seq: Number(r.seq),
      body: r.body,
      digest: JSON.parse(r.body) as AuditDigest,
    }));
  const sinkLines = async () => {
    const chainDir = chainDirectory(dir, 0);
    const texts = await Promise.all((await digestFiles(chainDir)).map((name) => readFile(path.join(chainDir, name), 'utf8')));
    return texts.join('').split('\n').filter(Boolean);
  };
  const api = async <T>(url: string, token = bearer) => {
    const res = await fetch(`${admin.url}${url}`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, `${url}: ${res.status}`);
    return (await res.json()) as T;
  };

  it('when events arrive, then a digest follows each interval; when nothing happens, one comes at least every longest silence; each verifies with the published key', async function () {
    this.timeout(60_000);
    await startWriter({ AUDIT_DIGEST_EVERY_MS: String(EVERY_MS), AUDIT_DIGEST_MAX_SILENCE_MS: String(MAX_SILENCE_MS) });
    const before = (await tableDigests()).at(-1)?.seq ?? 0;
    const bursts: AuditEvent[][] = [];
    for (let i = 0; i < 3; i++) {
      const events = sampleAuditEvents(10);
      bursts.push(events);
      await publish(events);
      await waitFor(stored(events), { timeoutMs: 15_000, message: `burst ${i} to be stored` });
      await sleep(EVERY_MS * 2);
    }
    const lastEventAt = Date.now();
    const finalSize = await headSize();
    await sleep(MAX_SILENCE_MS * 2 + EVERY_MS * 3);
    await Promise.all(writers.splice(0).map((w) => w.stop()));

    const all = await tableDigests();
    const recent = all.filter((d) => d.seq > before).map((d) => d.digest);
    const sizes = [...new Set(recent.map((d) => d.tree_size))];
    assert.ok(sizes.length >= 3, `a digest after each burst (sizes ${sizes.join(', ')})`);
    assert.equal(recent.at(-1)!.tree_size, finalSize, 'the last digest holds the whole chain');
    const idle = recent.filter((d) => Date.parse(d.issued_at) > lastEventAt + EVERY_MS * 2);
    assert.ok(idle.length >= 2, `digests kept coming while nothing happened (${idle.length})`);
    const gaps = idle.slice(1).map((d, i) => Date.parse(d.issued_at) - Date.parse(idle[i]!.issued_at));
    for (const gap of gaps) {
      assert.ok(gap <= MAX_SILENCE_MS + EVERY_MS, `an idle chain still gets a digest within the longest silence (gap ${gap} ms)`);
      assert.ok(gap >= MAX_SILENCE_MS - 2 * EVERY_MS, `but not every interval (gap ${gap} ms)`);
    }

    // What an auditor does with the published keys alone.
    const jwks = (await (await fetch(`${admin.url}/.well-known/audit-keys.json`)).json()) as { keys: DigestJwk[] };
    for (const key of jwks.keys) {
      assert.deepEqual([key.kty, key.crv, key.alg, key.use, 'd' in key], ['OKP', 'Ed25519', 'EdDSA', 'sig', false]);
      assert.ok(['next', 'active', 'grace', 'retired'].includes(key.state));
    }
    const last = recent.at(-1)!;
    const jwk = jwks.keys.find((k) => k.kid === last.key_id)!;
    const { signature, ...signed } = last;
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x! }, format: 'jwk' });
    assert.ok(verify(null, Buffer.from(canonicalJson(signed), 'utf8'), publicKey, Buffer.from(signature, 'base64url')));
    assert.deepEqual(
      verifyDigestChain(
        all.map((d) => d.digest),
        jwks.keys,
        { fromFirst: true },
      ).problems,
      [],
    );
    for (const size of sizes) {
      const head = await api<TreeHead>(`/api/v1/audit/tree-head?chain_id=0&tree_size=${size}`);
      assert.ok(
        recent.filter((d) => d.tree_size === size).every((d) => d.root_hash === head.root_hash),
        `root at size ${size}`,
      );
    }

    // The sink outside PostgreSQL holds exactly the table's digests, in order, one per line.
    assert.deepEqual(
      await sinkLines(),
      all.map((d) => d.body),
    );

    // An inclusion proof answers against the latest signed digest and verifies with it.
    const target = bursts[2]![4]!;
    const proof = await api<InclusionProof>(`/api/v1/audit/proofs/inclusion?event_id=${target.event_id}`);
    assert.deepEqual(proof.signed_tree_head, last);
    assert.deepEqual([proof.tree_size, proof.root_hash], [last.tree_size, last.root_hash]);
    const [leaf] = await prisma.$queryRaw<{ sequence: bigint }[]>`SELECT sequence FROM audit_logs WHERE event_id = ${target.event_id}::uuid`;
    assert.equal(proof.leaf_index, Number(leaf!.sequence) - 1);
    assert.equal(
      verifyInclusion(
        await leafHashOf(prisma, target.event_id),
        proof.leaf_index,
        proof.tree_size,
        proof.audit_path.map((h) => Buffer.from(h, 'hex')),
        Buffer.from(last.root_hash, 'hex'),
      ),
      true,
    );
  });

  it('when an admin pages through the digests, then each page follows the last and only admins may read them', async () => {
    const all = (await tableDigests()).map((d) => d.digest);
    const read: AuditDigest[] = [];
    let after = 0;
    for (;;) {
      const page = await api<{ digests: AuditDigest[]; next_after: number | null }>(`/api/v1/audit/digests?chain_id=0&after=${after}&limit=3`);
      read.push(...page.digests);
      if (page.next_after === null) break;
      after = page.next_after;
    }
    assert.deepEqual(read, all);
    const reader = await accountWithToken(admin.url, bearer, 'reader');
    assert.equal((await fetch(`${admin.url}/api/v1/audit/digests`, { headers: { Authorization: `Bearer ${reader.token}` } })).status, 403);
    assert.equal((await fetch(`${admin.url}/api/v1/audit/digests`)).status, 401);
    assert.equal((await fetch(`${admin.url}/api/v1/audit/digests?limit=0`, { headers: { Authorization: `Bearer ${bearer}` } })).status, 400);
    assert.equal((await fetch(`${admin.url}/.well-known/audit-keys.json`)).status, 200, 'the keys are public');
  });

  it('when the digest job runs twice in a row, then the second adds nothing to the table or the sink', async function () {
    this.timeout(30_000);
    // A prefix of its own: the admin module's events of the tests above stay unwritten, so no record
    // of this test is newer than what later tests write.
    const own = isolatedPrefix('digests-twice');
    const ownQueue = new Queue(QueueName.AuditEvents, { connection: { url: testInfra().redisUrl }, prefix: own });
    writers.push(await start(testConfig('audit-writer', { BULLMQ_PREFIX: own, AUDIT_DIGEST_DIR: dir })));
    const events = new QueueEvents(QueueName.AuditEvents, { connection: { url: testInfra().redisUrl }, prefix: own });
    try {
      await events.waitUntilReady();
      const run = async (id: string) => (await ownQueue.add(AuditJob.Digest, {}, { jobId: id })).waitUntilFinished(events, 15_000);
      await run('digest-once');
      const [rows, lines] = [await tableDigests(), await sinkLines()];
      assert.deepEqual(await run('digest-twice'), { issued: 0, refused: 0, appended: 0 });
      assert.deepEqual([await tableDigests(), await sinkLines()], [rows, lines]);
    } finally {
      await events.close();
      await ownQueue.close();
    }
  });
});

/** The Merkle leaf of a stored record, recomputed from the row as an auditor would. */
async function leafHashOf(prisma: PrismaClient, eventId: string): Promise<Buffer> {
  const [row] = await prisma.$queryRawUnsafe<AuditRecordRow[]>(`SELECT ${AUDIT_RECORD_COLUMNS} FROM audit_logs WHERE event_id = $1::uuid`, eventId);
  return recordLeafHash(rowToAuditRecord(row!));
}
