/**
 * `npm run test:hostile`: HOSTILE_REQUESTS (default 10,000) generated hostile requests across every
 * endpoint of the real modules, run as their own processes. Every answer must be a JSON 4xx with a
 * clear message (or the brute-force limits' 429 where client credentials are checked), no process
 * may crash, nothing may be persisted, every refusal must be in the audit log once, and no audit
 * event may be refused by the writer for what it holds. It runs with TLS off and on (SUITE_TLS);
 * with TLS on, the storage element is called with an ingester's certificate (its blobs take only
 * modules), and the TLS ports themselves get broken handshakes, foreign certificates,
 * renegotiation and KeyUpdate floods.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { JWK } from 'jose';
import { createKeyService } from '../../services/signing-keys/key-service.ts';
import type { Env } from '../../services/platform/config/index.ts';
import { createPrismaClient, type PrismaClient } from '../../services/platform/db/client.ts';
import { createLogger } from '../../services/platform/logger.ts';
import { QueueName } from '../../services/platform/queues.ts';
import { startChildService, type ChildService } from '../support/child-service.ts';
import { forgedTokens } from '../support/forged-tokens.ts';
import { testConfig, testEnv, testInfra } from '../support/infra.ts';
import { metricValue, type ModuleName } from '../support/modules.ts';
import { suiteTlsModes } from '../support/suite-tls.ts';
import { bundleClient, tlsTestEnv } from '../support/tls-modules.ts';
import { accountWithToken, adminToken, claimsOf, type UrlFetch } from '../support/tokens.ts';
import { identityFromAdmin } from '../support/workload-identity.ts';
import { attacksFor, seededRandom, type AttackTokens, type HostileRequest } from './attacks.ts';
import { auditTrail, pausedQueues, queueCounts, REFUSAL_EVENTS, type TrailRow } from './audit-trail.ts';
import { ENDPOINTS, endpointsServed } from './catalog.ts';
import { answerProblem, hostileSender, type HostileAnswer, type HostileSender } from './send.ts';
import { describeTlsPortAttacks } from './tls-port-attacks.ts';

const REQUESTS = Number(process.env.HOSTILE_REQUESTS ?? 10_000);
const SEED = Number(process.env.HOSTILE_SEED ?? 20261128);
const CONCURRENCY = 16;

/**
 * Generous brute-force limits, so the suite's thousands of bad credentials from one address reach
 * the request parsers instead of stopping at 429: the address limit never trips, and a client id
 * is locked after the most failures in a row AUTH_LOCK_AFTER_FAILURES allows.
 */
const LOCK_AFTER_FAILURES = 1000;
const THROTTLE_WINDOW_SECONDS = 60;
/** The flood check comes from another loopback address, so the main run's failures do not count toward it. */
const FLOOD_ADDRESS = '127.0.0.2';
const FLOOD_BEYOND_LOCK = 30;

const ENTRIES: Record<ModuleName, string> = {
  admin: 'services/admin/main.ts',
  'storage-element': 'services/storage-element/main.ts',
  ingester: 'services/ingester/main.ts',
  query: 'services/query/main.ts',
};

/** Everything a rejected request could have changed. */
async function persistedState(prisma: PrismaClient) {
  const [accounts, keys, files, revocations] = await Promise.all([
    prisma.serviceAccount.findMany({ select: { id: true, status: true, secretHash: true }, orderBy: { id: 'asc' } }),
    prisma.jwtKey.findMany({ select: { version: true, state: true }, orderBy: { version: 'asc' } }),
    prisma.file.count(),
    prisma.tokenRevocation.findMany({ select: { serviceAccountId: true, notBefore: true }, orderBy: { serviceAccountId: 'asc' } }),
  ]);
  return { accounts, keys, files, revocations };
}

interface Answered {
  req: HostileRequest;
  answer: HostileAnswer;
  /** `error.code` of a JSON error answer. */
  code?: string;
}

function errorCode(answer: HostileAnswer): string | undefined {
  try {
    const code = (JSON.parse(answer.body) as { error?: { code?: unknown } }).error?.code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/** Sends every request, CONCURRENCY at a time, each through the sender for its module. */
async function sendAll(urls: Record<ModuleName, string>, requests: HostileRequest[], senderFor: (module: ModuleName) => HostileSender): Promise<Answered[]> {
  const answered: Answered[] = [];
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const req = requests[next++]!;
      const answer = await senderFor(req.endpoint.module).send(urls[req.endpoint.module], req);
      answered.push({ req, answer, code: errorCode(answer) });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return answered;
}

/** Throttle windows (AUTH_THROTTLE_WINDOW_SECONDS) that [from, to] touches: at most one auth_throttled event per key in each. */
const windowsSpanned = (from: number, to: number) => Math.floor(to / 1000 / THROTTLE_WINDOW_SECONDS) - Math.floor(from / 1000 / THROTTLE_WINDOW_SECONDS) + 1;

/** How many auth_throttled rows each throttle key (limit, client id, address) left. */
function throttledRowsPerKey(rows: TrailRow[]): Map<string, number> {
  const perKey = new Map<string, number>();
  for (const row of rows) {
    const key = `${row.details?.limit}|${row.details?.client_id}|${row.ip_address}`;
    perKey.set(key, (perKey.get(key) ?? 0) + 1);
  }
  return perKey;
}

for (const tlsMode of suiteTlsModes()) {
  describe(`hostile input against every endpoint (TLS ${tlsMode})`, function () {
    this.timeout(900_000);
    const processes = {} as Record<ModuleName | 'auditWriter', ChildService>;
    const metricsToken = randomBytes(24).toString('base64url');
    // Request ids and the BullMQ prefix are the mode's own: both modes share the run's database.
    const ids = `hostile-${tlsMode}-`;
    const floodIds = `flood-${tlsMode}-`;
    let bullmqPrefix: string;
    let dir: string | undefined;
    let env: Env;
    let prisma: PrismaClient;
    let tokens: AttackTokens;
    let requests: HostileRequest[];
    /** fetch for the test's own calls: the global one, or with TLS on one trusting the deployment's bundle. */
    let client: { fetch: UrlFetch; close(): Promise<void> } = { fetch, close: async () => undefined };
    let external: HostileSender;
    /** What reaches the storage element: with TLS on it presents an ingester certificate. */
    let peer: HostileSender;
    let peerIdentity: { cert: string; key: string };
    const senderFor = (module: ModuleName) => (module === 'storage-element' ? peer : external);

    const metricsOf = async (proc: ChildService) =>
      (await client.fetch(`${proc.url}/metrics`, { headers: { Authorization: `Bearer ${metricsToken}` } })).text();
    const auditQueues = () => ({ redisUrl: testInfra().redisUrl, prefix: bullmqPrefix });

    before(async () => {
      bullmqPrefix = `${testInfra().bullmqPrefix}-hostile-${tlsMode}`;
      const root = await mkdtemp(path.join(os.tmpdir(), 'artstore-hostile-'));
      dir = root;
      env = testEnv({
        ...(tlsMode === 'on' ? await tlsTestEnv() : {}),
        BULLMQ_PREFIX: bullmqPrefix,
        STORAGE_ROOT: path.join(root, 'storage'),
        METRICS_TOKEN: metricsToken,
        AUTH_MAX_FAILURES_PER_ADDRESS: '1000000',
        AUTH_LOCK_AFTER_FAILURES: String(LOCK_AFTER_FAILURES),
        AUTH_THROTTLE_WINDOW_SECONDS: String(THROTTLE_WINDOW_SECONDS),
      });
      // Each process's own audit spool, where no other run's process holds the lock or leaves events.
      const ownSpool = (name: string) => ({ AUDIT_SPOOL_DIR: path.join(root, 'spool', name) });
      processes.admin = await startChildService(ENTRIES.admin, { ...env, ...ownSpool('admin') });
      await Promise.all(
        (['storage-element', 'ingester', 'query'] as const).map(async (name) => {
          processes[name] = await startChildService(ENTRIES[name], { ...env, ...ownSpool(name), ADMIN_URL: processes.admin.url });
        }),
      );
      processes.auditWriter = await startChildService('workers/audit-writer/main.ts', {
        ...env,
        ...ownSpool('audit-writer'),
        ADMIN_URL: processes.admin.url,
      });
      prisma = createPrismaClient(testInfra().databaseUrl);
      if (tlsMode === 'on') client = await bundleClient(env.TLS_CA_FILE!);
      const admin = await adminToken(processes.admin.url, client.fetch);
      const reader = await accountWithToken(processes.admin.url, admin, 'reader', client.fetch);
      if (tlsMode === 'on') {
        const ca = await readFile(env.TLS_CA_FILE!, 'utf8');
        external = hostileSender({ ca });
        peerIdentity = await identityFromAdmin(client.fetch, processes.admin.url, admin, 'ingester');
        peer = hostileSender({ ca, identity: peerIdentity });
      } else {
        external = peer = hostileSender();
      }
      const config = testConfig('admin');
      const keys = createKeyService({ config, prisma, redis: undefined as never, logger: createLogger({ service: 'admin', level: 'silent' }) });
      const signingKey = await keys.signingKeys().current();
      const jwks = (await (await client.fetch(`${processes.admin.url}/.well-known/jwks.json`)).json()) as { keys: JWK[] };
      const publicJwk = jwks.keys.find((k) => k.kid === signingKey.kid)!;
      const forgeries = forgedTokens(() => ({ genuine: admin, signingKey, publicJwk }));
      tokens = {
        admin,
        adminAccountId: claimsOf(admin).sub!,
        reader: reader.token,
        forged: await Promise.all(Object.values(forgeries).map((make) => make())),
        client: { clientId: reader.service_account.client_id, clientSecret: reader.client_secret },
      };

      const random = seededRandom(SEED);
      const makers = endpointsServed(tlsMode === 'on').flatMap((endpoint) => Object.values(attacksFor(endpoint, tokens)));
      requests = Array.from({ length: REQUESTS }, (_, i) => ({ ...makers[i % makers.length]!(random), requestId: `${ids}${i}` }));
    });

    after(async () => {
      external?.close();
      peer?.close();
      await client.close();
      await Promise.all(Object.values(processes).map((p) => p.stop()));
      await prisma?.$disconnect();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('when hostile requests hit every endpoint, then every answer is a JSON 4xx, nothing crashes, nothing is persisted and every refusal is audited once', async () => {
      const before = await persistedState(prisma);
      const startedAt = Date.now();
      const answered = await sendAll(
        Object.fromEntries(Object.entries(processes).map(([name, p]) => [name, p.url])) as Record<ModuleName, string>,
        requests,
        senderFor,
      );
      const finishedAt = Date.now();
      const byKind = new Map<string, number>();
      for (const { req } of answered) byKind.set(req.kind, (byKind.get(req.kind) ?? 0) + 1);
      const serverErrors = answered.filter(({ answer }) => answer.status >= 500).length;
      const problems = answered.flatMap(({ req, answer }) => {
        const problem = answerProblem(req, answer);
        return problem ? [`${req.kind}: ${req.method} ${req.endpoint.module} ${req.path.slice(0, 120)} → ${problem} ${answer.body.slice(0, 200)}`] : [];
      });

      const crashed: string[] = [];
      for (const [name, proc] of Object.entries(processes)) {
        const health = await client.fetch(`${proc.url}/health`).then(
          (r) => r.status,
          () => 0,
        );
        if (health !== 200) crashed.push(name);
      }
      const after = await persistedState(prisma);
      const persisted = JSON.stringify(after) === JSON.stringify(before) ? 0 : 1;

      // The audit trail, request by request.
      const refused = answered.filter(({ answer }) => answer.status === 401 || answer.status === 403);
      const throttled = answered.filter(({ answer }) => answer.status === 429);
      const trail = await auditTrail(
        prisma,
        auditQueues(),
        ids,
        refused.map(({ req }) => req.requestId!),
      );
      const rowsOf = (req: HostileRequest, types: (type: string) => boolean) => (trail.get(req.requestId!) ?? []).filter((row) => types(row.event_type));
      // A handler that records its own refusal (an account refusing to change itself) marks the answer
      // audited, so the middleware adds no second row: its event is the one refusal row.
      const unaudited = refused.flatMap(({ req, answer }) => {
        const rows = rowsOf(req, (type) => REFUSAL_EVENTS.has(type) || type === req.endpoint.audited?.event).length;
        return rows === 1 ? [] : [`${req.requestId} ${req.kind} ${req.method} ${req.path.slice(0, 80)} → ${answer.status}: ${rows} refusal rows`];
      });
      const handlerAudited = answered.filter(({ req }) => req.endpoint.audited);
      const handlerMismatches = handlerAudited.flatMap(({ req, code }) => {
        const { event, refusals } = req.endpoint.audited!;
        const expected = code !== undefined && refusals.includes(code) ? 1 : 0;
        const rows = rowsOf(req, (type) => type === event).length;
        return rows === expected
          ? []
          : [`${req.requestId} ${req.kind} ${req.method} ${req.path.slice(0, 80)} → ${code}: ${rows} ${event} rows, expected ${expected}`];
      });
      const handlerEvents = handlerAudited.filter(({ req, code }) => code !== undefined && req.endpoint.audited!.refusals.includes(code)).length;
      const allRows = [...trail.values()].flat();
      const throttledRows = allRows.filter((row) => row.event_type === 'auth_throttled');
      const windows = windowsSpanned(startedAt, finishedAt);
      const overThrottled = [...throttledRowsPerKey(throttledRows)].filter(([, count]) => count > windows);
      const queueChanges = allRows.filter((row) => row.event_type === 'queue_changed').length;
      const rowsByType = new Map<string, number>();
      for (const row of allRows) rowsByType.set(row.event_type, (rowsByType.get(row.event_type) ?? 0) + 1);

      // The writer refused nothing and dead-lettered nothing; no queue was paused through the board.
      const writerRejected = metricValue(await metricsOf(processes.auditWriter), 'audit_log_rejected_total');
      const adminMetrics = await metricsOf(processes.admin);
      const throttledCounted = ['address', 'client'].reduce((sum, reason) => sum + (metricValue(adminMetrics, 'auth_throttled_total', { reason }) ?? 0), 0);
      const { redisUrl, prefix } = auditQueues();
      const deadLetters = Object.values(await queueCounts(redisUrl, prefix, QueueName.AuditDeadLetter)).reduce((a, b) => a + b, 0);
      const failedAuditJobs = (await queueCounts(redisUrl, prefix, QueueName.AuditEvents)).failed;
      const paused = await pausedQueues(redisUrl, prefix);

      process.stdout.write(
        `\n    hostile input: ${answered.length} requests tried, ${byKind.size} attack kinds over ${endpointsServed(tlsMode === 'on').length} endpoints, ` +
          `${serverErrors} 5xx seen, ${problems.length} wrong answers, ${crashed.length} processes crashed, ` +
          `${persisted ? 'state CHANGED' : 'nothing persisted'}\n` +
          `    audit: ${refused.length} 401/403 answers, ${refused.length - unaudited.length} with exactly one auth_failure/authorization_denied row; ` +
          `${handlerEvents} refusals by audited handlers, ${handlerAudited.length - handlerMismatches.length}/${handlerAudited.length} of their requests with the rows expected; ` +
          `${throttled.length} 429 answers (auth_throttled_total ${throttledCounted}), ${throttledRows.length} auth_throttled rows; ` +
          `${queueChanges} queue_changed rows; audit_log_rejected_total ${writerRejected}, ${deadLetters} dead-lettered, ${failedAuditJobs} failed audit jobs; ` +
          `${paused.length} queues paused\n` +
          `    audit rows by type: ${[...rowsByType].map(([type, count]) => `${type} ${count}`).join(', ')}\n` +
          [...byKind].map(([kind, count]) => `      ${kind}: ${count}`).join('\n') +
          '\n',
      );
      assert.equal(answered.length, requests.length);
      assert.deepEqual(problems.slice(0, 20), [], `${problems.length} wrong answers`);
      assert.equal(serverErrors, 0);
      assert.deepEqual(crashed, []);
      assert.deepEqual(after, before, 'a rejected request changed persisted state');
      assert.deepEqual(unaudited.slice(0, 20), [], `${unaudited.length} refusals without exactly one audit row`);
      assert.deepEqual(handlerMismatches.slice(0, 20), [], `${handlerMismatches.length} requests to audited handlers with other rows than expected`);
      assert.equal(throttledCounted, throttled.length, 'auth_throttled_total counts every 429');
      assert.ok(throttledRows.length <= throttled.length, 'more auth_throttled rows than 429 answers');
      if (throttled.length > 0) assert.ok(throttledRows.length > 0, 'throttled attempts left no auth_throttled row');
      assert.deepEqual(overThrottled, [], `more than one auth_throttled row per key and window (${windows} windows)`);
      assert.equal(queueChanges, 0, 'a refused Bull Board call reached the board');
      assert.equal(writerRejected, 0, 'audit_log_rejected_total');
      assert.equal(deadLetters, 0, 'audit events dead-lettered');
      assert.equal(failedAuditJobs, 0, 'failed audit jobs');
      assert.deepEqual(paused, []);
    });

    it('when /metrics is scraped without the scrape token, then every process answers 401 and with it 200', async () => {
      const answers: string[] = [];
      for (const [name, proc] of Object.entries(processes)) {
        const bare = await client.fetch(`${proc.url}/metrics`);
        const wrong = await client.fetch(`${proc.url}/metrics`, { headers: { Authorization: `Bearer ${metricsToken}x` } });
        const right = await client.fetch(`${proc.url}/metrics`, { headers: { Authorization: `Bearer ${metricsToken}` } });
        const bareBody = (await bare.json()) as { error?: { code?: string } };
        const wrongBody = (await wrong.json()) as { error?: { code?: string } };
        await right.text();
        answers.push(`${name} ${bare.status} ${bareBody.error?.code} ${wrong.status} ${wrongBody.error?.code} ${right.status}`);
      }
      process.stdout.write(`\n    /metrics without, with a wrong and with the scrape token: ${answers.join('; ')}\n`);
      for (const line of answers) assert.match(line, / 401 missing_token 401 invalid_token 200$/, line);
    });

    it(`when one address floods the token endpoint with a wrong secret, then after ${LOCK_AFTER_FAILURES} failures it is answered 429 with Retry-After, even for the right secret, and audited once per window`, async () => {
      const flood = (secret: string, i: number, localAddress = FLOOD_ADDRESS): HostileRequest => ({
        kind: 'flood',
        endpoint: ENDPOINTS.find((e) => e.path === '/api/v1/auth/token')!,
        method: 'POST',
        path: '/api/v1/auth/token',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: tokens.client.clientId, client_secret: secret }),
        expected: [401],
        requestId: `${floodIds}${i}`,
        localAddress,
      });
      const urls = { admin: processes.admin.url } as Record<ModuleName, string>;
      const throttledBefore = metricValue(await metricsOf(processes.admin), 'auth_throttled_total', { reason: 'client' }) ?? 0;
      const startedAt = Date.now();
      const answered = await sendAll(
        urls,
        Array.from({ length: LOCK_AFTER_FAILURES + FLOOD_BEYOND_LOCK }, (_, i) => flood('not-the-secret', i)),
        senderFor,
      );
      const rightSecretThere = flood(tokens.client.clientSecret, answered.length);
      const locked = await external.send(processes.admin.url, rightSecretThere);
      const elsewhere = await external.send(processes.admin.url, flood(tokens.client.clientSecret, answered.length + 1, '127.0.0.1'));
      const finishedAt = Date.now();
      const statuses = new Map<number, number>();
      for (const { answer } of answered) statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      const problems = [...answered, { req: rightSecretThere, answer: locked }].flatMap(({ req, answer }) =>
        answer.status === 429 ? [answerProblem(req, answer)].filter(Boolean) : [],
      );
      const failures = answered.filter(({ answer }) => answer.status === 401);
      const trail = await auditTrail(
        prisma,
        auditQueues(),
        floodIds,
        failures.map(({ req }) => req.requestId!),
      );
      const rows = [...trail.values()].flat();
      const throttledRows = rows.filter((row) => row.event_type === 'auth_throttled');
      const failureRows = rows.filter((row) => row.event_type === 'auth_failure').length;
      const throttledCounted = (metricValue(await metricsOf(processes.admin), 'auth_throttled_total', { reason: 'client' }) ?? 0) - throttledBefore;
      const windows = windowsSpanned(startedAt, finishedAt);

      process.stdout.write(
        `\n    flood from ${FLOOD_ADDRESS}: ${answered.length} wrong secrets answered ${[...statuses].map(([s, n]) => `${s}×${n}`).join(', ')}; ` +
          `right secret there ${locked.status} (Retry-After ${locked.retryAfter}), from 127.0.0.1 ${elsewhere.status}; ` +
          `${failureRows} auth_failure rows, ${throttledRows.length} auth_throttled rows (${windows} window(s)), auth_throttled_total +${throttledCounted}\n`,
      );
      assert.equal(statuses.get(401), LOCK_AFTER_FAILURES, 'failures answered 401 before the lock');
      assert.equal(statuses.get(429), FLOOD_BEYOND_LOCK, 'failures answered 429 once locked');
      assert.deepEqual(problems, []);
      assert.equal(locked.status, 429, 'the right secret from the locked address');
      assert.equal(elsewhere.status, 200, 'the right secret from another address');
      assert.equal(failureRows, LOCK_AFTER_FAILURES);
      assert.ok(
        throttledRows.length >= 1 && throttledRows.length <= windows,
        `${throttledRows.length} auth_throttled rows for one key over ${windows} window(s)`,
      );
      assert.ok(
        throttledRows.every((row) => row.ip_address === FLOOD_ADDRESS && row.details?.limit === 'client'),
        'auth_throttled rows name the address and limit',
      );
      assert.equal(throttledCounted, FLOOD_BEYOND_LOCK + 1);
    });

    if (tlsMode === 'on') describeTlsPortAttacks(() => ({ processes, caFile: env.TLS_CA_FILE!, client, peer: peerIdentity, metricsOf }));
  });
}
