/**
 * TLS figures, all from the whole system as production runs it (the compiled modules, the audit
 * writer and the maintenance worker, production's log level, fail-closed audit delivery): an
 * authenticated request's rate with TLS 1.3 on next to the same deployment's with TLS off
 * (keep-alive, the load generator of the other benches); a 1 GiB download through query over TLS
 * (storage element → query over mutual TLS, query → curl over TLS) next to a plain stream copy of
 * the file; and full TLS handshakes per second (a new connection per request, nothing resumed) next
 * to new plain TCP connections. Last, with leaves that renew every few seconds in every process, 500
 * uploads and downloads a second reaching the storage element over mutual TLS while the intermediate
 * rotates and the root is replaced: requests answered, requests failed, renewals seen, beside the
 * same load on the same processes with TLS off.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ENVIRONMENT_DEFAULTS } from '../services/platform/config/environment.ts';
import { fastLeafPki, ROTATED_ONCE, rotateIntermediateAndRoot } from '../test/support/ca-rotation.ts';
import { startChildService, type ChildService } from '../test/support/child-service.ts';
import { fileTraffic } from '../test/support/file-traffic.ts';
import { testEnv, testInfra } from '../test/support/infra.ts';
import { metricValue } from '../test/support/modules.ts';
import { runPacedLoad } from '../test/support/request-load.ts';
import { bundleClient, followingBundleClient, plainClient, tlsTestEnv } from '../test/support/tls-modules.ts';
import { accountWithToken, adminToken, type UrlFetch } from '../test/support/tokens.ts';
import type { Benchmark, Figure } from './report.ts';
import { generateFile, median, MiB, plainCopy, removeFile, sha256Of, timed, uploadFile } from './support/file-transfer.ts';
import { describeStatuses, runLoad, type LoadOptions, type LoadResult } from './support/http-load.ts';
import { cpuProfiled, cpuSecondsOfAll, machineBusySeconds } from './support/process-cpu.ts';

const FILE_BYTES = 2 ** 30;
const WARM_UP_BYTES = 64 * MiB;
const DOWNLOAD_ROUNDS = 3;
const CONCURRENCY = 32;
const ROUND_SECONDS = 3;
const ROUNDS = 3;
/** Connections opened at once for the handshake figure: enough to keep the module's one thread busy. */
const HANDSHAKE_CONCURRENCY = 16;
/** The rotation-under-load figure: the issue's 500 requests a second, half uploads and half downloads. */
const ROTATION_RATE = 500;
const ROTATION_LOAD_MS = 20_000;
const ROTATION_WARM_UP_MS = 1000;
/** Open loop: 500/s answered in 100 ms each keeps 50 outstanding; past this cap the schedule slips. */
const ROTATION_MAX_IN_FLIGHT = 64;
/** Leaves renew at two thirds of 9 s: every 6 s in every process. */
const ROTATION_LEAF_TTL_SECONDS = 9;
const ROTATION_PUBLISH_AHEAD_SECONDS = 2;
/** Files uploaded before the load, so the first downloads have something to ask for. */
const ROTATION_SEED_FILES = 20;

interface Deployment {
  admin: ChildService;
  query: ChildService;
  fetch: UrlFetch;
  /** The bundle a client trusts (TLS on). */
  ca?: string;
  close(): Promise<void>;
}

const run = promisify(execFile);

function okCount(result: LoadResult, what: string): number {
  const ok = result.statuses[200] ?? 0;
  if (ok !== result.requests) throw new Error(`${what}: not every answer was 200 (${describeStatuses(result.statuses)})`);
  return ok;
}

/** Full handshakes only: a resumed session would skip the certificate and signature work being measured. */
function fullHandshakes(result: LoadResult): number {
  if (result.resumedSessions > 0) throw new Error(`${result.resumedSessions} connections resumed a TLS session`);
  return okCount(result, 'full handshakes');
}

/**
 * A download as a client makes it over TLS: curl (OpenSSL, as most clients of an archive would be)
 * trusting the bundle, into a file that is then fsynced like the plain copy's. Node's own https
 * client piped into a file moved the same download at about half curl's rate here: on two cores
 * shared with the three modules, the figure would have measured the client.
 */
async function downloadOverTls(url: string, token: string, id: string, to: string, caFile: string): Promise<void> {
  const authorization = `Authorization: Bearer ${token}`;
  await run('curl', ['--silent', '--show-error', '--fail', '--cacert', caFile, '-H', authorization, '-o', to, `${url}/api/v1/files/${id}/download`]);
  const written = await open(to, 'r+');
  try {
    await written.sync();
  } finally {
    await written.close();
  }
}

type Start = (entry: string, env: NodeJS.ProcessEnv, options?: { nodeArgs?: string[] }) => Promise<ChildService>;

/** One deployment of the six processes for the file load, with TLS off or with leaves of 9 s. */
interface FileDeployment {
  env: NodeJS.ProcessEnv;
  processes: Record<'admin' | 'storage-element' | 'ingester' | 'query' | 'audit-writer' | 'maintenance', ChildService>;
  client: { fetch: UrlFetch; close(): Promise<void> };
  metricsToken: string;
  stop(): Promise<void>;
}

/**
 * Every process compiled, a /metrics token, fail-closed audit delivery, production's log level;
 * with TLS on, leaves of 9 s (each process renews every 6 s) and a client that re-reads the bundle
 * as admin rewrites it, as a client that follows the deployment's trust would.
 */
async function startFileDeployment(dir: string, start: Start, tls: boolean): Promise<FileDeployment> {
  const mode = tls ? 'rotation' : 'plain-files';
  const metricsToken = randomBytes(32).toString('base64url');
  const env = testEnv({
    ...(tls ? await tlsTestEnv(fastLeafPki({ leafTtlSeconds: ROTATION_LEAF_TTL_SECONDS, publishAheadSeconds: ROTATION_PUBLISH_AHEAD_SECONDS })) : {}),
    BULLMQ_PREFIX: `${testInfra().bullmqPrefix}-${mode}`,
    LOG_LEVEL: ENVIRONMENT_DEFAULTS.LOG_LEVEL,
    AUDIT_DELIVERY: 'fail-closed',
    METRICS_TOKEN: metricsToken,
    STORAGE_ELEMENT_ID: `bench-${mode}`,
    UPLOAD_STORAGE_ELEMENT: `bench-${mode}`,
  });
  const own = (name: string) => ({ AUDIT_SPOOL_DIR: path.join(dir, 'spool', mode, name) });
  const startOwn = (name: string, entry: string, withAdmin: NodeJS.ProcessEnv) =>
    start(entry, { ...withAdmin, ...own(name) }, cpuProfiled(tls ? name : `${name}-tls-off`));
  const admin = await startOwn('admin', 'services/admin/main.ts', env);
  const withAdmin = { ...env, ADMIN_URL: admin.url };
  const [writer, maintenance, storage] = await Promise.all([
    startOwn('audit-writer', 'workers/audit-writer/main.ts', withAdmin),
    startOwn('maintenance', 'workers/maintenance/main.ts', withAdmin),
    startOwn('storage-element', 'services/storage-element/main.ts', { ...withAdmin, STORAGE_ROOT: path.join(dir, `${mode}-storage`) }),
  ]);
  const [ingester, query] = await Promise.all([
    startOwn('ingester', 'services/ingester/main.ts', withAdmin),
    startOwn('query', 'services/query/main.ts', withAdmin),
  ]);
  const processes = { admin, 'storage-element': storage, ingester, query, 'audit-writer': writer, maintenance };
  const client = tls
    ? await followingBundleClient(env.PKI_BUNDLE_FILE!, { connections: ROTATION_MAX_IN_FLIGHT })
    : plainClient({ connections: ROTATION_MAX_IN_FLIGHT });
  const stop = async () => {
    await client.close();
    await Promise.all(Object.values(processes).map((p) => p.stop()));
  };
  return { env, processes, client, metricsToken, stop };
}

/**
 * The open-loop file load on a deployment: seed files, a warm-up, then 20 s of schedule at 500
 * requests a second (at most 64 in flight), one in two an upload through the ingester and the other a
 * download through query, both reaching the storage element. `whileLoaded` starts with the timed load
 * and is awaited after it. Answered and offered rates, failures, CPU per request of each process.
 */
async function pacedFileLoad<T>(deployment: FileDeployment, whileLoaded: () => Promise<T>) {
  const { processes, client } = deployment;
  const traffic = fileTraffic(client, { ingester: processes.ingester.url, query: processes.query.url }, await adminToken(processes.admin.url, client.fetch));
  for (let i = 0; i < ROTATION_SEED_FILES; i++) await traffic.upload();
  const halfUploads = traffic.mix(2);
  const paced = (durationMs: number) => runPacedLoad(halfUploads, { rate: ROTATION_RATE, durationMs, maxInFlight: ROTATION_MAX_IN_FLIGHT });
  // With TLS on, leaves already renew during the warm-up: its requests count among the failed ones too.
  const warmUp = await paced(ROTATION_WARM_UP_MS);

  const pids = Object.fromEntries(Object.entries(processes).map(([name, p]) => [name, p.pid]));
  const cpuBefore = await cpuSecondsOfAll(pids);
  const loadCpuBefore = process.cpuUsage();
  const machineBefore = await machineBusySeconds();
  const loadStarted = performance.now();
  const during = whileLoaded();
  during.catch(() => undefined); // awaited below, once the load is over
  const load = await paced(ROTATION_LOAD_MS);
  const loadCpu = process.cpuUsage(loadCpuBefore);
  const machineBusy = ((await machineBusySeconds()) - machineBefore) / ((performance.now() - loadStarted) / 1000);
  const cpuAfter = await cpuSecondsOfAll(pids);
  const meanwhile = await during;
  const msPerRequest = (cpuSeconds: number) => (cpuSeconds * 1000) / load.sent;
  const perProcess = Object.keys(pids).map((name) => [name, msPerRequest(cpuAfter[name]! - cpuBefore[name]!)] as const);
  return {
    warmUp,
    load,
    meanwhile,
    failed: warmUp.failed + load.failed,
    failures: [...warmUp.failures, ...load.failures],
    slowestMs: Math.max(load.maxLatencyMs, warmUp.maxLatencyMs),
    perProcess,
    cpuMs: perProcess.reduce((sum, [, ms]) => sum + ms, 0),
    loadGeneratorMs: msPerRequest((loadCpu.user + loadCpu.system) / 1e6),
    machineBusy,
  };
}

/**
 * The issue's rotation under load, as production runs it: the file load on a deployment with TLS on
 * and leaves that renew every 6 s in every process, while the maintenance worker's jobs rotate the
 * intermediate and replace the root; beside the same load on the same processes with TLS off, so
 * the figure says what the certificates cost and what two cores give the file path at all.
 */
async function rotationUnderLoad(dir: string, start: Start): Promise<Figure[]> {
  const plain = await startFileDeployment(dir, start, false);
  const baseline = await pacedFileLoad(plain, async () => undefined).finally(() => plain.stop());
  if (baseline.failed > 0) throw new Error(`the same load with TLS off failed ${baseline.failed} requests: ${baseline.failures.join('\n')}`);

  const deployment = await startFileDeployment(dir, start, true);
  const { env, processes, client, metricsToken } = deployment;
  try {
    const leafRenewals = async () => {
      const counts = await Promise.all(
        Object.entries(processes).map(async ([name, p]) => {
          const answer = await client.fetch(`${p.url}/metrics`, { headers: { Authorization: `Bearer ${metricsToken}` } });
          if (answer.status !== 200) throw new Error(`${name} /metrics answered ${answer.status}`);
          return [name, metricValue(await answer.text(), 'tls_certificate_rotations_total', { kind: 'leaf', status: 'success' }) ?? 0] as const;
        }),
      );
      return Object.fromEntries(counts);
    };
    let leavesBefore: Record<string, number> = {};
    const measured = await pacedFileLoad(deployment, async () => {
      leavesBefore = await leafRenewals();
      return rotateIntermediateAndRoot(testInfra().redisUrl, env.BULLMQ_PREFIX!, { pauseMs: 4000, publishAheadSeconds: ROTATION_PUBLISH_AHEAD_SECONDS });
    });
    const steps = measured.meanwhile;
    const leavesAfter = await leafRenewals();

    if (steps.join() !== ROTATED_ONCE.join()) throw new Error(`the CA did not rotate as the run needs: ${steps.join(', ')}`);
    const renewals = Object.entries(leavesAfter).map(([name, count]) => [name, count - leavesBefore[name]!] as const);
    const minimum = Math.floor(ROTATION_LOAD_MS / 1000 / ((ROTATION_LEAF_TTL_SECONDS * 2) / 3)) - 1;
    const lagging = renewals.filter(([, renewed]) => renewed < minimum);
    if (lagging.length > 0)
      throw new Error(`leaves did not renew every few seconds: ${lagging.map(([name, n]) => `${name} ${n}`).join(', ')} (at least ${minimum} each)`);
    if (measured.failed > 0) process.stdout.write(`rotation under load, failed requests (the first ones):\n${measured.failures.join('\n')}\n`);

    const ms = (value: number) => value.toFixed(1);
    const cpu = (run: Pick<typeof measured, 'perProcess' | 'loadGeneratorMs' | 'machineBusy'>) =>
      `${run.perProcess.map(([name, value]) => `${name} ${ms(value)}`).join(', ')}; load generator ${ms(run.loadGeneratorMs)}; ` +
      `machine busy ${run.machineBusy.toFixed(2)} of ${os.cpus().length} cores`;
    return [
      {
        name:
          `rotation under load (TLS on, ${ROTATION_LEAF_TTL_SECONDS} s leaves): uploads through the ingester and downloads through query, half each, ~100 B files, ` +
          `both reaching the storage element over mutual TLS, open loop for ${ROTATION_LOAD_MS / 1000} s of schedule, ${ROTATION_RATE}/s offered ` +
          `(at most ${ROTATION_MAX_IN_FLIGHT} in flight); meanwhile ${steps.join(', ')}; ` +
          `leaf renewals ${renewals.map(([name, n]) => `${name} ${n}`).join(', ')}; ${measured.load.sent + measured.warmUp.sent} requests (warm-up included), ` +
          `${measured.failed} failed, slowest ${measured.slowestMs} ms`,
        value: measured.load.perSecond,
        unit: 'req/s answered',
        baseline: { name: 'the same load on the same six processes with TLS off', value: baseline.load.perSecond, unit: 'req/s answered' },
        target: `≥ ${ROTATION_RATE} requests/s answered, 0 failed`,
        met: measured.load.perSecond >= ROTATION_RATE && measured.failed === 0,
      },
      {
        name:
          `CPU per request of that load, ms from /proc (PostgreSQL and Redis not counted): TLS on ${cpu(measured)}. ` +
          `TLS off (baseline): ${cpu(baseline)}. At ${ROTATION_RATE} req/s our processes alone would need ` +
          `${((measured.cpuMs * ROTATION_RATE) / 1000).toFixed(1)} cores with TLS on, ${((baseline.cpuMs * ROTATION_RATE) / 1000).toFixed(1)} with it off`,
        value: measured.cpuMs,
        unit: 'ms',
        baseline: { name: 'TLS off', value: baseline.cpuMs, unit: 'ms' },
        target: 'none (where the time goes)',
        met: true,
      },
    ];
  } finally {
    await deployment.stop();
  }
}

const benchmark: Benchmark = {
  title: 'TLS: what TLS 1.3 and mutual TLS cost',
  async run(): Promise<Figure[]> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'artstore-tls-bench-'));
    const started: ChildService[] = [];
    const deployments: Deployment[] = [];
    const start: Start = async (entry, env, options = {}) => {
      const child = await startChildService(entry, env, { compiled: true, ...options });
      started.push(child);
      return child;
    };
    try {
      const source = path.join(dir, 'source.bin');
      const copy = path.join(dir, 'copy.bin');
      const received = path.join(dir, 'received.bin');
      const warmUp = path.join(dir, 'warm-up.bin');
      const sha256 = await generateFile(source, FILE_BYTES);
      await generateFile(warmUp, WARM_UP_BYTES);
      const own = (mode: string, service: string) => ({ AUDIT_SPOOL_DIR: path.join(dir, 'spool', mode, service) });

      // Two deployments side by side on the same database, each with its own BullMQ prefix and its
      // workers; as production runs: its log level (access log on; the children's stdout is
      // discarded), fail-closed audit delivery, each process with its own spool.
      const production = { LOG_LEVEL: ENVIRONMENT_DEFAULTS.LOG_LEVEL, AUDIT_DELIVERY: 'fail-closed' };
      const workers = (mode: string, env: NodeJS.ProcessEnv) =>
        Promise.all([
          start('workers/audit-writer/main.ts', { ...env, ...own(mode, 'audit-writer') }),
          start('workers/maintenance/main.ts', { ...env, ...own(mode, 'maintenance') }),
        ]);
      const plainEnv = testEnv({ ...production, BULLMQ_PREFIX: `${testInfra().bullmqPrefix}-plain` });
      const plainAdmin = await start('services/admin/main.ts', { ...plainEnv, ...own('plain', 'admin') });
      const plainWithAdmin = { ...plainEnv, ADMIN_URL: plainAdmin.url };
      await workers('plain', plainWithAdmin);
      const plain: Deployment = {
        admin: plainAdmin,
        query: await start('services/query/main.ts', { ...plainWithAdmin, ...own('plain', 'query') }),
        fetch,
        close: async () => undefined,
      };
      deployments.push(plain);

      const tlsEnv = testEnv({
        ...(await tlsTestEnv()),
        ...production,
        UPLOAD_MAX_BYTES: String(2 * FILE_BYTES),
        STORAGE_ELEMENT_ID: 'bench-tls',
        UPLOAD_STORAGE_ELEMENT: 'bench-tls',
      });
      const tlsAdmin = await start('services/admin/main.ts', { ...tlsEnv, ...own('tls', 'admin') });
      const withAdmin = { ...tlsEnv, ADMIN_URL: tlsAdmin.url };
      await workers('tls', withAdmin);
      await start('services/storage-element/main.ts', { ...withAdmin, ...own('tls', 'storage'), STORAGE_ROOT: path.join(dir, 'storage') });
      const [ingester, tlsQuery] = await Promise.all([
        start('services/ingester/main.ts', { ...withAdmin, ...own('tls', 'ingester') }),
        start('services/query/main.ts', { ...withAdmin, ...own('tls', 'query') }),
      ]);
      const client = await bundleClient(tlsEnv.TLS_CA_FILE!);
      const ca = await readFile(tlsEnv.TLS_CA_FILE!, 'utf8');
      const secure: Deployment = { admin: tlsAdmin, query: tlsQuery, fetch: client.fetch, ca, close: () => client.close() };
      deployments.push(secure);

      // 1. Authenticated requests, keep-alive: whoami verifies the bearer token and answers.
      const readers = await Promise.all(
        [plain, secure].map(async (d) => (await accountWithToken(d.admin.url, await adminToken(d.admin.url, d.fetch), 'reader', d.fetch)).token),
      );
      const whoami = (token: string) => () => ({ path: '/api/v1/auth/whoami', headers: { Authorization: `Bearer ${token}` } });
      const load = (d: Deployment): LoadOptions => ({ concurrency: CONCURRENCY, durationMs: ROUND_SECONDS * 1000, ca: d.ca });
      await runLoad(plain.query.url, whoami(readers[0]!), { ...load(plain), durationMs: 1000 });
      await runLoad(secure.query.url, whoami(readers[1]!), { ...load(secure), durationMs: 1000 });
      // Alternating rounds so drift on a shared machine hits both sides alike.
      let plainRequests = 0;
      let tlsRequests = 0;
      for (let round = 0; round < ROUNDS; round++) {
        plainRequests += okCount(await runLoad(plain.query.url, whoami(readers[0]!), load(plain)), 'whoami, TLS off');
        tlsRequests += okCount(await runLoad(secure.query.url, whoami(readers[1]!), load(secure)), 'whoami, TLS on');
      }
      const plainRate = plainRequests / (ROUNDS * ROUND_SECONDS);
      const tlsRate = tlsRequests / (ROUNDS * ROUND_SECONDS);

      // 2. Connection set-up: one request per new connection, a full handshake each time over TLS.
      const handshakeLoad = (d: Deployment): LoadOptions => ({
        concurrency: HANDSHAKE_CONCURRENCY,
        durationMs: ROUND_SECONDS * 1000,
        ca: d.ca,
        newConnectionEach: true,
      });
      const health = () => ({ path: '/health' });
      await runLoad(secure.query.url, health, { ...handshakeLoad(secure), durationMs: 1000 });
      let plainConnections = 0;
      let handshakes = 0;
      for (let round = 0; round < ROUNDS; round++) {
        plainConnections += okCount(await runLoad(plain.query.url, health, handshakeLoad(plain)), 'new connections, TLS off');
        handshakes += fullHandshakes(await runLoad(secure.query.url, health, handshakeLoad(secure)));
      }
      const handshakeRate = handshakes / (ROUNDS * ROUND_SECONDS);
      const plainConnectionRate = plainConnections / (ROUNDS * ROUND_SECONDS);

      // 3. 1 GiB through query over TLS, next to a plain copy of the same file.
      const token = await adminToken(secure.admin.url, secure.fetch);
      const warm = await uploadFile(ingester.url, token, warmUp, WARM_UP_BYTES, ca);
      await downloadOverTls(tlsQuery.url, token, warm.id, received, tlsEnv.TLS_CA_FILE!);
      await removeFile(secure.fetch, ingester.url, token, warm.id);
      let file: { id: string; sha256: string } | undefined;
      const uploadSeconds = await timed(async () => (file = await uploadFile(ingester.url, token, source, FILE_BYTES, ca)));
      if (file!.sha256 !== sha256) throw new Error('the archive stored other content than was sent');
      const seconds = { copy: [] as number[], download: [] as number[] };
      for (let round = 0; round < DOWNLOAD_ROUNDS; round++) {
        seconds.copy.push(await timed(() => plainCopy(source, copy)));
        await rm(copy, { force: true });
        seconds.download.push(await timed(() => downloadOverTls(tlsQuery.url, token, file!.id, received, tlsEnv.TLS_CA_FILE!)));
        if ((await stat(received)).size !== FILE_BYTES || (round === 0 && (await sha256Of(received)) !== sha256))
          throw new Error('the download differs from the upload');
        await rm(received, { force: true });
      }
      await removeFile(secure.fetch, ingester.url, token, file!.id);
      const rate = (values: number[]) => FILE_BYTES / MiB / median(values);
      const copyBaseline = { name: 'plain stream copy + fsync, same file', value: rate(seconds.copy), unit: 'MiB/s' };

      // 4. Rotation under load, alone on the machine: its own deployment, the two above stopped.
      await Promise.all(deployments.splice(0).map((d) => d.close()));
      await Promise.all(started.splice(0).map((service) => service.stop()));
      const rotation = await rotationUnderLoad(dir, start);

      return [
        {
          name: `authenticated requests with TLS on (GET /api/v1/auth/whoami on query, ${CONCURRENCY} keep-alive connections)`,
          value: tlsRate,
          unit: 'req/s',
          baseline: { name: 'the same with TLS off', value: plainRate, unit: 'req/s' },
          target: '≥ 0.8 of baseline',
          met: tlsRate / plainRate >= 0.8,
        },
        {
          name: 'download 1 GiB with TLS on (storage element → query over mutual TLS → curl over TLS, file + fsync; median of 3)',
          value: rate(seconds.download),
          unit: 'MiB/s',
          baseline: copyBaseline,
          target: '≥ 0.5 of baseline',
          met: rate(seconds.download) / copyBaseline.value >= 0.5,
        },
        {
          name: `full TLS 1.3 handshakes against query (a new connection per GET /health, no resumption, ${HANDSHAKE_CONCURRENCY} at a time; client in the bench process)`,
          value: handshakeRate,
          unit: 'handshakes/s',
          baseline: { name: 'new plain TCP connections, same requests', value: plainConnectionRate, unit: 'connections/s' },
          target: 'none (reported for planning)',
          met: true,
        },
        {
          name: 'upload 1 GiB with TLS on (client → ingester over TLS → storage element over mutual TLS; one run)',
          value: FILE_BYTES / MiB / uploadSeconds,
          unit: 'MiB/s',
          baseline: copyBaseline,
          target: 'reference only',
          met: true,
        },
        ...rotation,
      ];
    } finally {
      await Promise.all(deployments.map((d) => d.close()));
      await Promise.all(started.map((service) => service.stop()));
      await rm(dir, { recursive: true, force: true });
    }
  },
};
export default benchmark;
