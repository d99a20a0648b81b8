/**
 * Identity figures. Tokens issued per second by the system as production runs it — the compiled
 * admin module, audit writer and maintenance worker as separate processes, access log at the
 * production level, every token's `auth_success` event signed and stored — next to panva's
 * oidc-provider issuing RS256 JWT access tokens for the same client-credentials request in one
 * process, in alternating rounds of the same closed-loop load. Beside it: the CPU each process
 * spent per token, whether the audit writer kept pace, and what authentication costs a module's
 * endpoint.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { decodeProtectedHeader } from 'jose';
import pg from 'pg';
import { ENVIRONMENT_DEFAULTS } from '../services/platform/config/environment.ts';
import { testEnv, testInfra, TEST_SECRETS } from '../test/support/infra.ts';
import { accountWithToken, adminToken } from '../test/support/tokens.ts';
import { startChildService, type ChildService } from '../test/support/child-service.ts';
import { waitFor } from '../test/support/wait-for.ts';
import { describeStatuses, runLoad, type LoadRequest, type LoadResult } from './support/http-load.ts';
import { cpuProfiled, cpuSecondsOfAll, mainThreadCpuSecondsOf } from './support/process-cpu.ts';
import type { Benchmark, Figure } from './report.ts';

/** The load the side-by-side used: 16 keep-alive connections, 10 s rounds, 3 rounds each, alternating. */
const TOKEN_CONNECTIONS = 16;
const TOKEN_ROUND_SECONDS = 10;
const TOKEN_ROUNDS = 3;
const AUTH_CONNECTIONS = 32;
const AUTH_ROUND_SECONDS = 3;
const AUTH_ROUNDS = 3;
const TARGET_RATIO = 0.8;

const peerVersion = async () =>
  (JSON.parse(await readFile(path.join(import.meta.dirname, '..', 'node_modules', 'oidc-provider', 'package.json'), 'utf8')) as { version: string }).version;

function okCount(result: LoadResult, what: string): number {
  const ok = result.statuses[200] ?? 0;
  if (ok !== result.requests) throw new Error(`${what}: not every answer was 200 (${describeStatuses(result.statuses)})`);
  return ok;
}

/** The client-credentials request both issuers answer: RFC 6749 form body, client_secret_post. */
function tokenRequest(pathName: string, clientId: string, clientSecret: string): () => LoadRequest {
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }).toString();
  const headers = { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) };
  return () => ({ method: 'POST', path: pathName, headers, body });
}

/** Both sides answer the bench's request with an RS256-signed JWT access token, or the comparison is off. */
async function assertRs256Jwt(baseUrl: string, request: LoadRequest, who: string): Promise<void> {
  const res = await fetch(`${baseUrl}${request.path}`, {
    method: request.method,
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: request.body,
  });
  const body = (await res.json()) as { access_token?: string };
  if (res.status !== 200 || !body.access_token) throw new Error(`${who}: no access token (${res.status} ${JSON.stringify(body)})`);
  const { alg } = decodeProtectedHeader(body.access_token);
  if (alg !== 'RS256') throw new Error(`${who}: the access token is signed with ${alg}, not RS256`);
}

/** `auth_success` events of issued tokens the audit writer has stored so far. */
async function storedTokenEvents(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    "SELECT count(*) AS n FROM audit_logs WHERE event_type = 'auth_success' AND action = 'issue_token' AND source = 'admin'",
  );
  return Number(rows[0]!.n);
}

/** Requests/s of one endpoint of the real module runtime with and without bearer-token authentication, alternating. */
async function authenticationCost(adminUrl: string, targetUrl: string): Promise<{ plainRate: number; authenticatedRate: number }> {
  const { token } = await accountWithToken(adminUrl, await adminToken(adminUrl), 'reader');
  const plain = () => ({ path: '/bench/plain' });
  const authenticated = () => ({ path: '/bench/authenticated', headers: { Authorization: `Bearer ${token}` } });
  const load = { concurrency: AUTH_CONNECTIONS, durationMs: AUTH_ROUND_SECONDS * 1000 };
  await runLoad(targetUrl, plain, { ...load, durationMs: 1000 });
  await runLoad(targetUrl, authenticated, { ...load, durationMs: 1000 });
  let plainRequests = 0;
  let authenticatedRequests = 0;
  for (let round = 0; round < AUTH_ROUNDS; round++) {
    plainRequests += okCount(await runLoad(targetUrl, plain, load), 'plain');
    authenticatedRequests += okCount(await runLoad(targetUrl, authenticated, load), 'authenticated');
  }
  const seconds = AUTH_ROUNDS * AUTH_ROUND_SECONDS;
  return { plainRate: plainRequests / seconds, authenticatedRate: authenticatedRequests / seconds };
}

const µsPerToken = (cpuSeconds: number, tokens: number) => Math.round((cpuSeconds / tokens) * 1e6);

const benchmark: Benchmark = {
  title: 'Identity: tokens issued beside oidc-provider, and the cost of authentication',
  async run(): Promise<Figure[]> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'artstore-identity-bench-'));
    const started: ChildService[] = [];
    const db = new pg.Client({ connectionString: testInfra().databaseUrl });
    await db.connect();
    try {
      // As production runs: its log level (access log on; the children's stdout is discarded),
      // fail-closed audit delivery, each process with its own spool.
      const env = testEnv({ LOG_LEVEL: ENVIRONMENT_DEFAULTS.LOG_LEVEL, JWT_ALGORITHM: 'RS256', AUDIT_DELIVERY: 'fail-closed' });
      const own = (service: string) => ({ AUDIT_SPOOL_DIR: path.join(dir, 'spool', service) });
      const admin = await startChildService('services/admin/main.ts', { ...env, ...own('admin') }, { compiled: true, ...cpuProfiled('admin') });
      started.push(admin);
      const withAdmin = { ...env, ADMIN_URL: admin.url };
      const [writer, maintenance] = await Promise.all([
        startChildService('workers/audit-writer/main.ts', { ...withAdmin, ...own('audit-writer') }, { compiled: true, ...cpuProfiled('audit-writer') }),
        startChildService('workers/maintenance/main.ts', { ...withAdmin, ...own('maintenance') }, { compiled: true }),
      ]);
      started.push(writer, maintenance);
      const peerSecret = randomBytes(32).toString('base64url');
      const peer = await startChildService(
        'bench/support/oidc-peer.ts',
        { PEER_CLIENT_ID: 'bench-peer', PEER_CLIENT_SECRET: peerSecret },
        cpuProfiled('oidc-provider'),
      );
      started.push(peer);

      const ours = tokenRequest('/api/v1/auth/token', TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID, TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET);
      const theirs = tokenRequest('/token', 'bench-peer', peerSecret);
      await assertRs256Jwt(admin.url, ours(), 'our token endpoint');
      await assertRs256Jwt(peer.url, theirs(), 'oidc-provider');
      const load = { concurrency: TOKEN_CONNECTIONS, durationMs: TOKEN_ROUND_SECONDS * 1000 };
      // Every token we issue counts, the check's above included: the writer must store each event.
      let oursIssued = 1 + okCount(await runLoad(admin.url, ours, { ...load, durationMs: 2000 }), 'our token endpoint (warm-up)');
      okCount(await runLoad(peer.url, theirs, { ...load, durationMs: 2000 }), 'oidc-provider (warm-up)');

      const pids = { admin: admin.pid, writer: writer.pid, maintenance: maintenance.pid, peer: peer.pid };
      const cpu = { admin: 0, adminMain: 0, writer: 0, maintenance: 0, peer: 0, peerMain: 0, oursLoad: 0, peerLoad: 0 };
      const rates = { ours: [] as number[], peer: [] as number[] };
      let oursTokens = 0;
      let peerTokens = 0;
      let worstBacklogSeconds = 0;
      // Alternating rounds so drift on a shared machine hits both sides alike.
      for (let round = 0; round < TOKEN_ROUNDS; round++) {
        // Each of our rounds starts with every earlier event stored, so its backlog is its own.
        await waitFor(async () => (await storedTokenEvents(db)) >= oursIssued, {
          timeoutMs: 60_000,
          intervalMs: 200,
          message: () => 'audit writer to catch up',
        });
        let before = await cpuSecondsOfAll(pids);
        let mainBefore = await mainThreadCpuSecondsOf(admin.pid);
        let loadBefore = process.cpuUsage();
        const ourRound = await runLoad(admin.url, ours, load);
        const stored = await storedTokenEvents(db);
        let after = await cpuSecondsOfAll(pids);
        cpu.adminMain += (await mainThreadCpuSecondsOf(admin.pid)) - mainBefore;
        let loadUsed = process.cpuUsage(loadBefore);
        cpu.oursLoad += (loadUsed.user + loadUsed.system) / 1e6;
        cpu.admin += after.admin - before.admin;
        cpu.writer += after.writer - before.writer;
        cpu.maintenance += after.maintenance - before.maintenance;
        const issued = okCount(ourRound, 'our token endpoint');
        oursIssued += issued;
        oursTokens += issued;
        rates.ours.push(ourRound.perSecond);
        worstBacklogSeconds = Math.max(worstBacklogSeconds, (oursIssued - stored) / ourRound.perSecond);

        before = await cpuSecondsOfAll(pids);
        mainBefore = await mainThreadCpuSecondsOf(peer.pid);
        loadBefore = process.cpuUsage();
        const peerRound = await runLoad(peer.url, theirs, load);
        after = await cpuSecondsOfAll(pids);
        cpu.peerMain += (await mainThreadCpuSecondsOf(peer.pid)) - mainBefore;
        loadUsed = process.cpuUsage(loadBefore);
        cpu.peerLoad += (loadUsed.user + loadUsed.system) / 1e6;
        cpu.peer += after.peer - before.peer;
        peerTokens += okCount(peerRound, 'oidc-provider');
        rates.peer.push(peerRound.perSecond);
      }
      await waitFor(async () => (await storedTokenEvents(db)) >= oursIssued, {
        timeoutMs: 60_000,
        intervalMs: 200,
        message: () => 'every auth_success event to be stored',
      });
      const oursRate = rates.ours.reduce((a, b) => a + b) / TOKEN_ROUNDS;
      const peerRate = rates.peer.reduce((a, b) => a + b) / TOKEN_ROUNDS;
      const range = (values: number[]) => `${Math.round(Math.min(...values))}–${Math.round(Math.max(...values))}`;

      const target = await startChildService('bench/support/auth-target.ts', { ...env, ...own('query'), ADMIN_URL: admin.url });
      started.push(target);
      const { plainRate, authenticatedRate } = await authenticationCost(admin.url, target.url);

      return [
        {
          name: `tokens issued (RS256 JWT, client_credentials; admin + audit-writer + maintenance compiled, access log on, every event stored; ${TOKEN_CONNECTIONS} connections, ${TOKEN_ROUNDS} × ${TOKEN_ROUND_SECONDS} s alternating, rounds ${range(rates.ours)})`,
          value: oursRate,
          unit: 'tokens/s',
          baseline: { name: `oidc-provider ${await peerVersion()}, one process (rounds ${range(rates.peer)})`, value: peerRate, unit: 'tokens/s' },
          target: `≥ ${TARGET_RATIO} of baseline`,
          met: oursRate / peerRate >= TARGET_RATIO,
        },
        {
          name: `CPU per token, ours: admin ${µsPerToken(cpu.admin, oursTokens)} µs (its event loop ${µsPerToken(cpu.adminMain, oursTokens)} µs), audit-writer ${µsPerToken(cpu.writer, oursTokens)} µs, maintenance ${µsPerToken(cpu.maintenance, oursTokens)} µs, load generator ${µsPerToken(cpu.oursLoad, oursTokens)} µs (PostgreSQL and Redis not counted)`,
          value: µsPerToken(cpu.admin + cpu.writer + cpu.maintenance, oursTokens),
          unit: 'µs',
          baseline: {
            name: `oidc-provider (its event loop ${µsPerToken(cpu.peerMain, peerTokens)} µs; load generator ${µsPerToken(cpu.peerLoad, peerTokens)} µs)`,
            value: µsPerToken(cpu.peer, peerTokens),
            unit: 'µs',
          },
          target: 'none (where the time goes)',
          met: true,
        },
        {
          name: 'audit backlog when one of our rounds ended (auth_success events not yet stored, in seconds of issuance; the worst round)',
          value: worstBacklogSeconds,
          unit: 's',
          target: '≤ 1 s (the writer keeps pace)',
          met: worstBacklogSeconds <= 1,
        },
        {
          name: 'authenticated endpoint',
          value: authenticatedRate,
          unit: 'req/s',
          baseline: { name: 'same endpoint without authentication', value: plainRate, unit: 'req/s' },
          target: '≥ 0.8 of baseline',
          met: authenticatedRate / plainRate >= 0.8,
        },
      ];
    } finally {
      await db.end();
      await Promise.all(started.map((service) => service.stop()));
      await rm(dir, { recursive: true, force: true });
    }
  },
};
export default benchmark;
