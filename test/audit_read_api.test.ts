import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createAuditKeyRing } from '../services/audit-log/audit-signature.ts';
import { createChainWriter, ensureChainHead } from '../services/audit-log/chain-writer.ts';
import { createPrismaClient } from '../services/platform/db/client.ts';
import { removeChains, sampleAuditEvents } from './support/audit-events.ts';
import type { RunningService } from '../services/platform/runtime.ts';
import { start as startAuditWriter } from '../workers/audit-writer/worker.ts';
import { auditJobs } from './support/audit-jobs.ts';
import { isolatedPrefix, testConfig, testInfra } from './support/infra.ts';
import { MODULES } from './support/modules.ts';
import { accountWithToken, adminToken, claimsOf } from './support/tokens.ts';
import { waitFor } from './support/wait-for.ts';

/** A record as a client of the read API sees it (the layout keeps tests out of admin's internals). */
interface AuditRecord {
  event_id: string;
  event_type: string;
  timestamp: string;
  service_account_id: string | null;
  request_id: string | null;
  ip_address: string | null;
  user_agent: string | null;
  status: string;
  sequence: string;
  signature: string;
  key_id: string;
  integrity: 'verified' | 'signature_invalid' | 'outside_chain';
}

describe('audit log read API (end to end through the audit writer)', () => {
  let admin: RunningService;
  let writer: RunningService;
  let adminBearer: string;
  let adminId: string;
  let reader: Awaited<ReturnType<typeof accountWithToken>>;
  let jobs: ReturnType<typeof auditJobs>;
  const denied = 5;

  const get = (path: string, token = adminBearer) => fetch(`${admin.url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  const logs = async (query: string) => {
    const res = await get(`/api/v1/audit/logs?${query}`);
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as { items: AuditRecord[]; next_cursor: string | null };
  };

  before(async function () {
    this.timeout(60_000);
    const prefix = isolatedPrefix('read');
    admin = await MODULES.admin(testConfig('admin', { BULLMQ_PREFIX: prefix }));
    writer = await startAuditWriter(testConfig('audit-writer', { BULLMQ_PREFIX: prefix }));
    jobs = auditJobs(prefix);
    adminBearer = await adminToken(admin.url);
    adminId = claimsOf(adminBearer).sub!;
    reader = await accountWithToken(admin.url, adminBearer, 'reader');
    for (let n = 0; n < denied; n++) {
      const res = await fetch(`${admin.url}/api/v1/keys`, {
        headers: { Authorization: `Bearer ${reader.token}`, 'X-Request-Id': `read-403-${n}`, 'User-Agent': 'read-api-test' },
      });
      assert.equal(res.status, 403);
    }
  });
  after(async () => {
    await Promise.all([admin?.stop(), writer?.stop()]);
    await jobs?.close();
  });

  it('when 403s happen, then the writer stores them in audit_logs, signed, with IP and user agent, and the API finds them by service account', async function () {
    this.timeout(30_000);
    const page = await waitFor(() => logs(`service_account_id=${reader.service_account.id}&event_type=authorization_denied&limit=100`), {
      until: (p) => p.items.length === denied,
      timeoutMs: 15_000,
      intervalMs: 100,
      message: (p) => `${denied} authorization_denied records (${p.items.length} so far)`,
    });
    for (const record of page.items) {
      assert.equal(record.status, 'denied');
      assert.equal(record.ip_address, '127.0.0.1');
      assert.equal(record.user_agent, 'read-api-test');
      assert.match(record.signature, /^[0-9a-f]{64}$/);
      assert.match(record.sequence, /^\d+$/);
    }
    const times = page.items.map((r) => r.timestamp);
    assert.deepEqual(times, [...times].sort().reverse(), 'newest first by default');
  });

  it('when pages are followed by cursor, then every record comes exactly once, in order', async () => {
    const seen: AuditRecord[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await logs(`service_account_id=${reader.service_account.id}&order=asc&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.items);
      cursor = page.next_cursor;
      pages++;
    } while (cursor && pages < 10);
    const denials = seen.filter((r) => r.event_type === 'authorization_denied');
    assert.deepEqual(
      denials.map((r) => r.request_id),
      Array.from({ length: denied }, (_, n) => `read-403-${n}`),
    );
    assert.equal(new Set(seen.map((r) => r.event_id)).size, seen.length);
  });

  it('when filters are combined, then only matching records come back', async () => {
    const none = await logs(`service_account_id=${reader.service_account.id}&status=success&event_type=authorization_denied`);
    assert.deepEqual(none.items, []);
    const future = new Date(Date.now() + 3600_000).toISOString();
    assert.deepEqual((await logs(`from=${encodeURIComponent(future)}`)).items, []);
    const one = await logs(`request_id=read-403-3`);
    assert.deepEqual(
      one.items.map((r) => r.request_id),
      ['read-403-3'],
    );
  });

  it('when a filter or cursor is invalid, then the answer is a JSON 400 naming it', async () => {
    for (const [query, code, mention] of [
      ['event_type=nonsense', 'invalid_request', 'event_type'],
      ['limit=0', 'invalid_request', 'limit'],
      ['from=yesterday', 'invalid_request', 'from'],
      ['unknown=1', 'invalid_request', ''],
      ['cursor=bm9wZQ', 'invalid_cursor', 'cursor'],
      ['from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'invalid_request', 'from'],
    ] as const) {
      const res = await get(`/api/v1/audit/logs?${query}`);
      assert.equal(res.status, 400, query);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, code, query);
      assert.ok(body.error.message.includes(mention), `${query}: ${body.error.message}`);
    }
  });

  it('when a non-admin asks, then 403 and no records', async () => {
    // Another reader: these 403s are audited too and must not join the first reader's records.
    const other = await accountWithToken(admin.url, adminBearer, 'reader');
    const res = await get('/api/v1/audit/logs', other.token);
    assert.equal(res.status, 403);
    assert.equal((await get('/api/v1/audit/export', other.token)).status, 403);
  });

  it('when the log is exported, then NDJSON streams every matching record oldest first', async () => {
    const res = await get(`/api/v1/audit/export?service_account_id=${reader.service_account.id}&event_type=authorization_denied`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/x-ndjson/);
    const text = await res.text();
    assert.ok(text.endsWith('\n'));
    const records = text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditRecord);
    assert.deepEqual(
      records.map((r) => r.request_id),
      Array.from({ length: denied }, (_, n) => `read-403-${n}`),
    );
  });

  it('when the log is read or exported, then each read is itself an audit_log_read event naming the admin and the filters', async function () {
    this.timeout(30_000);
    const marker = `marker-${Date.now()}`;
    await logs(`resource_id=${marker}`);
    await (await get(`/api/v1/audit/export?resource_id=${marker}`)).text();
    const reads = await waitFor(() => logs(`event_type=audit_log_read&service_account_id=${adminId}&limit=1000`), {
      until: (p) => p.items.filter((r) => JSON.stringify(r).includes(marker)).length === 2,
      timeoutMs: 15_000,
      intervalMs: 100,
      message: 'the query and the export recorded as audit_log_read',
    });
    const mine = reads.items.filter((r) => JSON.stringify(r).includes(marker)) as (AuditRecord & {
      action: string;
      details: { filters: Record<string, string> };
    })[];
    assert.deepEqual(mine.map((r) => r.action).sort(), ['export', 'query']);
    for (const r of mine) assert.equal(r.details.filters.resource_id, marker);
  });

  it('when a row is forged in the database or its chain has lost its head, then the read API and the export mark it instead of presenting it as genuine', async () => {
    const prisma = createPrismaClient(testInfra().databaseUrl);
    const chainId = 950_000 + Math.floor(Math.random() * 10_000);
    try {
      const honest = (await logs('request_id=read-403-0')).items[0]!;
      assert.equal(honest.integrity, 'verified');
      // An insider with database write access forges a row: it has no valid signature.
      const [row] = await prisma.$queryRaw<{ json: string }[]>`SELECT row_to_json(a)::text AS json FROM audit_logs a WHERE event_id = ${honest.event_id}::uuid`;
      const original = JSON.parse(row!.json) as Record<string, unknown>;
      await prisma.$executeRawUnsafe(
        'INSERT INTO audit_logs SELECT * FROM json_populate_record(NULL::audit_logs, $1::json)',
        JSON.stringify({ ...original, event_id: randomUUID(), request_id: 'read-forged', recorded_at: new Date().toISOString(), signature: 'e'.repeat(64) }),
      );
      assert.equal((await logs('request_id=read-forged')).items[0]?.integrity, 'signature_invalid');
      const exported = (await (await get('/api/v1/audit/export?request_id=read-forged')).text())
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as AuditRecord);
      assert.deepEqual(
        exported.map((item) => item.integrity),
        ['signature_invalid'],
      );

      // Genuine records of a chain whose head row was deleted lie at no position a head vouches for.
      await ensureChainHead(prisma, chainId);
      await createChainWriter(prisma, createAuditKeyRing(testConfig('audit-writer').auditKeys), { chainId }).write(
        sampleAuditEvents(2, { request_id: 'read-headless' }),
      );
      assert.deepEqual(
        (await logs('request_id=read-headless')).items.map((item) => item.integrity),
        ['verified', 'verified'],
      );
      await prisma.$executeRaw`DELETE FROM audit_chain_heads WHERE chain_id = ${chainId}`;
      assert.deepEqual(
        (await logs('request_id=read-headless')).items.map((item) => item.integrity),
        ['outside_chain', 'outside_chain'],
      );
    } finally {
      await prisma.$executeRaw`DELETE FROM audit_logs WHERE request_id = 'read-forged'`;
      await removeChains(prisma, chainId, chainId + 1);
      await prisma.$disconnect();
    }
  });
});
