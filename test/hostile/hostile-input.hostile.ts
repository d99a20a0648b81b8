/**
 * `npm run test:hostile`: HOSTILE_REQUESTS (default 10,000) generated hostile requests across every
 * endpoint of the real modules, run as their own processes. Every answer must be a JSON 4xx with a
 * clear message, no process may crash, and nothing may be persisted.
 */
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { JWK } from 'jose';
import { createKeyService } from '../../services/signing-keys/key-service.ts';
import { createPrismaClient, type PrismaClient } from '../../services/platform/db/client.ts';
import { createLogger } from '../../services/platform/logger.ts';
import { startChildService, type ChildService } from '../support/child-service.ts';
import { forgedTokens } from '../support/forged-tokens.ts';
import { testConfig, testEnv, testInfra } from '../support/infra.ts';
import type { ModuleName } from '../support/modules.ts';
import { accountWithToken, adminToken } from '../support/tokens.ts';
import { waitFor } from '../support/wait-for.ts';
import { attacksFor, seededRandom, type HostileRequest } from './attacks.ts';
import { ENDPOINTS } from './catalog.ts';
import { answerProblem, closeConnections, send } from './send.ts';

const REQUESTS = Number(process.env.HOSTILE_REQUESTS ?? 10_000);
const SEED = Number(process.env.HOSTILE_SEED ?? 20261128);
const CONCURRENCY = 16;

const ENTRIES: Record<ModuleName, string> = {
  admin: 'services/admin/main.ts',
  'storage-element': 'services/storage-element/main.ts',
  ingester: 'services/ingester/main.ts',
  query: 'services/query/main.ts',
};

/** Everything a rejected request could have changed. */
async function persistedState(prisma: PrismaClient) {
  const [accounts, keys, files] = await Promise.all([
    prisma.serviceAccount.findMany({ select: { id: true, status: true, secretHash: true }, orderBy: { id: 'asc' } }),
    prisma.jwtKey.findMany({ select: { version: true, state: true }, orderBy: { version: 'asc' } }),
    prisma.file.count(),
  ]);
  return { accounts, keys, files };
}

/** Rows the audit writer stored for 401s and 403s since `since`, once it has caught up (or after 60 s). */
async function auditedRefusals(prisma: PrismaClient, since: Date, expected: number): Promise<number> {
  const count = async () =>
    Number(
      (
        (await prisma.$queryRaw`SELECT count(*) AS n FROM audit_logs WHERE event_type IN ('auth_failure', 'authorization_denied') AND recorded_at >= ${since}`) as {
          n: bigint;
        }[]
      )[0]!.n,
    );
  // Short of `expected` after 60 s, the count as it stands: the test reports it before asserting.
  return waitFor(count, { until: (seen) => seen >= expected, timeoutMs: 60_000, intervalMs: 250 }).catch(count);
}

describe('hostile input against every endpoint', function () {
  this.timeout(900_000);
  const processes = {} as Record<ModuleName | 'auditWriter', ChildService>;
  let prisma: PrismaClient;
  let requests: HostileRequest[];

  before(async () => {
    const env = testEnv({ STORAGE_ROOT: await mkdtemp(path.join(os.tmpdir(), 'artstore-hostile-')) });
    processes.admin = await startChildService(ENTRIES.admin, env);
    await Promise.all(
      (['storage-element', 'ingester', 'query'] as const).map(async (name) => {
        processes[name] = await startChildService(ENTRIES[name], { ...env, ADMIN_URL: processes.admin.url });
      }),
    );
    processes.auditWriter = await startChildService('workers/audit-writer/main.ts', env);
    prisma = createPrismaClient(testInfra().databaseUrl);
    const admin = await adminToken(processes.admin.url);
    const { token: reader } = await accountWithToken(processes.admin.url, admin, 'reader');
    const config = testConfig('admin');
    const keys = createKeyService({ config, prisma, redis: undefined as never, logger: createLogger({ service: 'admin', level: 'silent' }) });
    const signingKey = await keys.signingKeys().current();
    const jwks = (await (await fetch(`${processes.admin.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
    const publicJwk = jwks.keys.find((k) => k.kid === signingKey.kid)!;
    const forgeries = forgedTokens(() => ({ genuine: admin, signingKey, publicJwk }));
    const forged = await Promise.all(Object.values(forgeries).map((make) => make()));

    const random = seededRandom(SEED);
    const makers = ENDPOINTS.flatMap((endpoint) => Object.values(attacksFor(endpoint, { admin, reader, forged })));
    requests = Array.from({ length: REQUESTS }, (_, i) => makers[i % makers.length]!(random));
  });

  after(async () => {
    closeConnections();
    await Promise.all(Object.values(processes).map((p) => p.stop()));
    await prisma?.$disconnect();
  });

  it('when hostile requests hit every endpoint, then every answer is a JSON 4xx, nothing crashes and nothing is persisted', async () => {
    const before = await persistedState(prisma);
    const startedAt = new Date();
    let refusals = 0;
    const byKind = new Map<string, number>();
    const problems: string[] = [];
    let serverErrors = 0;
    let sent = 0;
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const req = requests[next++]!;
        byKind.set(req.kind, (byKind.get(req.kind) ?? 0) + 1);
        const answer = await send(processes[req.endpoint.module].url, req);
        sent++;
        if (answer.status >= 500) serverErrors++;
        if (answer.status === 401 || answer.status === 403) refusals++;
        const problem = answerProblem(req, answer);
        if (problem && problems.length < 1000)
          problems.push(`${req.kind}: ${req.method} ${req.endpoint.module} ${req.path.slice(0, 120)} → ${problem} ${answer.body.slice(0, 200)}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    const crashed: string[] = [];
    for (const [name, proc] of Object.entries(processes)) {
      const health = await fetch(`${proc.url}/health`).then(
        (r) => r.status,
        () => 0,
      );
      if (health !== 200) crashed.push(name);
    }
    const after = await persistedState(prisma);
    const audited = await auditedRefusals(prisma, startedAt, refusals);
    const persisted = JSON.stringify(after) === JSON.stringify(before) ? 0 : 1;

    process.stdout.write(
      `\n    hostile input: ${sent} requests tried, ${byKind.size} attack kinds over ${ENDPOINTS.length} endpoints, ` +
        `${serverErrors} 5xx seen, ${problems.length} wrong answers, ${crashed.length} processes crashed, ` +
        `${persisted ? 'state CHANGED' : 'nothing persisted'}, ${refusals} 401/403 answers, ${audited} auth_failure/authorization_denied audit rows\n` +
        [...byKind].map(([kind, count]) => `      ${kind}: ${count}`).join('\n') +
        '\n',
    );
    assert.equal(sent, requests.length);
    assert.deepEqual(problems.slice(0, 20), [], `${problems.length} wrong answers`);
    assert.equal(serverErrors, 0);
    assert.deepEqual(crashed, []);
    assert.deepEqual(after, before, 'a rejected request changed persisted state');
    assert.ok(audited >= refusals, `only ${audited} audit rows for ${refusals} refusals`);
  });
});
