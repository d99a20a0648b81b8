/**
 * Fault suite, TLS (when SUITE_TLS includes on): every process holds a short-lived certificate and
 * renews it at two thirds of its life from admin, while admin is SIGKILLed as renewals fall due,
 * Redis restarts, and PostgreSQL restarts as renewals fall due, under authenticated load and
 * downloads over mutual TLS. No process may ever present an expired certificate, every one must
 * renew after each fault, the load must be answered throughout, and downloads must work whenever
 * PostgreSQL and Redis are up. Runs on its own embedded PostgreSQL and Redis, never the machine's
 * shared servers.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from 'node:tls';
import { startEmbeddedPostgres } from '../../scripts/embedded/postgres.ts';
import { isAlive, pickPort } from '../../scripts/embedded/process-control.ts';
import { startEmbeddedRedis } from '../../scripts/embedded/redis.ts';
import { startChildService, type ChildService } from '../support/child-service.ts';
import { testEnv } from '../support/infra.ts';
import { metricValue } from '../support/modules.ts';
import { suiteTlsModes } from '../support/suite-tls.ts';
import { keepAliveGet } from '../support/keep-alive-get.ts';
import { createTestDatabase } from '../support/test-databases.ts';
import { bundleClient, tlsTestEnv } from '../support/tls-modules.ts';
import { accountWithToken, adminToken } from '../support/tokens.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * Renewed at two thirds (70 s): what a fault keeps from admin must come back within the last third
 * (35 s), and a restart of admin on a loaded machine can take most of that.
 */
const LEAF_TTL_SECONDS = 105;
/** How long each fault keeps its server down, at least, once a renewal is due. */
const DOWN_SECONDS = 5;
/** Each fault starts this long before the next renewal falls due, so that renewal meets it. */
const AHEAD_OF_RENEWAL_SECONDS = 2;
/** The full run goes through the three faults twice. */
const ROUNDS = process.env.FAULT_SUITE === 'fast' ? 1 : 2;
const LOAD_PER_SECOND = 100;
const DOWNLOAD_EVERY_MS = 500;
const SAMPLE_EVERY_MS = 1000;

interface ServedCertificate {
  serial: string;
  validTo: number;
}

/** The certificate a process presents right now, verified against the bundle, or why the handshake failed. */
function servedCertificate(port: number, ca: string): Promise<ServedCertificate | { error: string }> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', ca, servername: 'localhost' }, () => {
      const peer = socket.getPeerCertificate();
      socket.destroy();
      resolve({ serial: peer.serialNumber, validTo: Date.parse(peer.valid_to) });
    });
    socket.setTimeout(5000, () => {
      socket.destroy();
      resolve({ error: 'timeout' });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }));
  });
}

const leafRenewals = (exposition: string) => metricValue(exposition, 'tls_certificate_rotations_total', { kind: 'leaf', status: 'success' }) ?? 0;

if (suiteTlsModes().includes('on')) {
  describe('fault suite: TLS certificates through restarts of admin, Redis and PostgreSQL', function () {
    this.timeout(1_800_000);

    it(`when admin is SIGKILLed, Redis and PostgreSQL restart while every process holds a ${LEAF_TTL_SECONDS} s certificate, then none is ever presented expired, renewals go on, the load is answered and downloads work whenever PostgreSQL and Redis are up`, async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'artstore-tls-faults-'));
      const [pgPort, redisPort, adminPort] = [await pickPort(0), await pickPort(0), await pickPort(0)];
      const pgOptions = { dataDir: path.join(dir, 'postgres'), port: pgPort };
      const redisOptions = { dataDir: path.join(dir, 'redis'), port: redisPort };
      let postgres = await startEmbeddedPostgres(pgOptions);
      let redis = await startEmbeddedRedis(redisOptions);
      const database = await createTestDatabase(postgres.url);
      const env = testEnv({
        ...(await tlsTestEnv()),
        DATABASE_URL: database.url,
        REDIS_URL: redis.url,
        BULLMQ_PREFIX: 'tls-faults',
        PKI_LEAF_TTL_SECONDS: String(LEAF_TTL_SECONDS),
        STORAGE_ROOT: path.join(dir, 'storage'),
      });
      const metricsToken = 'tls-faults-metrics';
      const withAdmin = { ...env, METRICS_TOKEN: metricsToken, ADMIN_URL: `https://127.0.0.1:${adminPort}` };
      // Each process's own audit spool, where no other run's process holds the lock or leaves events.
      const ownSpool = (name: string) => ({ AUDIT_SPOOL_DIR: path.join(dir, 'spool', name) });
      const startAdmin = () =>
        startChildService('services/admin/main.ts', { ...withAdmin, ...ownSpool('admin') }, { port: adminPort, timeoutMs: (LEAF_TTL_SECONDS / 3) * 1000 });
      let admin: ChildService | undefined;
      const processes: Record<string, ChildService> = {};
      let client: Awaited<ReturnType<typeof bundleClient>> | undefined;
      let agent: https.Agent | undefined;
      const faults: string[] = [];
      /**
       * Spans when PostgreSQL or Redis was down: downloads may fail only inside them (and a moment
       * after): a download reads PostgreSQL and is audited, and auditing fails closed.
       */
      const downWindows: [number, number][] = [];
      let running = true;
      try {
        admin = await startAdmin();
        for (const [name, entry] of [
          ['storage-element', 'services/storage-element/main.ts'],
          ['ingester', 'services/ingester/main.ts'],
          ['query', 'services/query/main.ts'],
          ['audit-writer', 'workers/audit-writer/main.ts'],
        ] as const) {
          processes[name] = await startChildService(entry, { ...withAdmin, ...ownSpool(name) });
        }
        const trusted = await bundleClient(env.TLS_CA_FILE!);
        client = trusted;
        const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 32, ca: await readFile(env.TLS_CA_FILE!, 'utf8') });
        agent = keepAlive;
        const token = await adminToken(admin.url, trusted.fetch);
        const reader = await accountWithToken(admin.url, token, 'reader', trusted.fetch);
        const form = new FormData();
        form.append('file', new Blob([Buffer.from('through every fault')]), 'faults.txt');
        const uploaded = await trusted.fetch(`${processes.ingester!.url}/api/v1/files/upload`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${token}` },
          body: form,
        });
        assert.equal(uploaded.status, 201, await uploaded.clone().text());
        const { id } = (await uploaded.json()) as { id: string };
        const metricsOf = async (proc: ChildService) =>
          (await trusted.fetch(`${proc.url}/metrics`, { headers: { Authorization: `Bearer ${metricsToken}` } })).text();
        const renewalsBefore = Object.fromEntries(
          await Promise.all(Object.entries(processes).map(async ([name, p]) => [name, leafRenewals(await metricsOf(p))])),
        );

        const startedAt = Date.now();
        const elapsed = () => `${Math.round((Date.now() - startedAt) / 1000)} s`;

        // Every second, the certificate each process presents; none may have expired.
        const ca = () => readFile(env.TLS_CA_FILE!, 'utf8');
        const served = new Map<string, ServedCertificate[]>();
        const expired: string[] = [];
        const unreachable: string[] = [];
        const sampling = (async () => {
          while (running) {
            const bundle = await ca();
            for (const [name, proc] of Object.entries(processes)) {
              const seen = await servedCertificate(Number(new URL(proc.url).port), bundle);
              const at = Date.now();
              if ('error' in seen) unreachable.push(`${name} at ${Math.round((at - startedAt) / 1000)} s: ${seen.error}`);
              else {
                if (seen.validTo <= at) expired.push(`${name} ${seen.serial}`);
                served.set(name, [...(served.get(name) ?? []), seen]);
              }
            }
            await sleep(SAMPLE_EVERY_MS);
          }
        })();

        // Open-loop authenticated load on the modules that verify tokens locally.
        const targets = ['storage-element', 'ingester', 'query'].map((name) => `${processes[name]!.url}/api/v1/auth/whoami`);
        const statuses = new Map<number | string, number>();
        const inFlight: Promise<void>[] = [];
        let sent = 0;
        const loading = (async () => {
          while (running) {
            const due = Math.floor(((Date.now() - startedAt) / 1000) * LOAD_PER_SECOND) - sent;
            for (let i = 0; i < due; i++) {
              const url = targets[sent++ % targets.length]!;
              inFlight.push(keepAliveGet(keepAlive, url, reader.token).then((status) => void statuses.set(status, (statuses.get(status) ?? 0) + 1)));
            }
            await sleep(10);
          }
        })();

        // Downloads through query: storage element → query over mutual TLS.
        const downloads: { at: number; ok: boolean; detail: string }[] = [];
        const downloading = (async () => {
          while (running) {
            const at = Date.now();
            const outcome = await client
              .fetch(`${processes.query!.url}/api/v1/files/${id}/download`, {
                headers: { Authorization: `Bearer ${reader.token}` },
                signal: AbortSignal.timeout(10_000),
              })
              .then(
                async (r) => ({ ok: r.status === 200 && (await r.text()) === 'through every fault', detail: String(r.status) }),
                (err: Error) => ({ ok: false, detail: (err.cause as Error | undefined)?.message ?? err.message }),
              );
            downloads.push({ at, ...outcome });
            await sleep(DOWNLOAD_EVERY_MS);
          }
        })();

        // Each fault meets a renewal: it starts just before the first process's next one falls due.
        const untilNextRenewal = async () => {
          const expiries = await Promise.all(Object.values(processes).map(async (p) => metricValue(await metricsOf(p), 'tls_certificate_expiry_seconds') ?? 0));
          await sleep(Math.max(0, (Math.min(...expiries) - LEAF_TTL_SECONDS / 3 - AHEAD_OF_RENEWAL_SECONDS) * 1000));
        };
        // Every process renews after `since`: its certificate is then one issued after that moment.
        const everyRenewedSince = (since: number, what: string) =>
          waitFor(
            async () =>
              (
                await Promise.all(
                  Object.values(processes).map(async (p) => {
                    const expiresAt = Date.now() + (metricValue(await metricsOf(p), 'tls_certificate_expiry_seconds') ?? 0) * 1000;
                    return expiresAt >= since + (LEAF_TTL_SECONDS - 2) * 1000;
                  }),
                )
              ).every(Boolean),
            { timeoutMs: (LEAF_TTL_SECONDS + 30) * 1000, intervalMs: 1000, message: `a renewal of every process after ${what}` },
          );
        for (let round = 0; round < ROUNDS; round++) {
          // Admin, the CA's front, is gone when the first renewal falls due.
          await untilNextRenewal();
          process.kill(admin.pid, 'SIGKILL');
          await admin.stop();
          const killedAt = elapsed();
          await sleep(DOWN_SECONDS * 1000);
          admin = await startAdmin();
          faults.push(`admin SIGKILLed at ${killedAt}, back at ${elapsed()}`);
          await everyRenewedSince(Date.now(), 'admin came back');
          // Redis between renewals: issuing a certificate is audited, so renewals wait for it to return.
          const redisDown = Date.now();
          await redis.stop();
          await sleep(DOWN_SECONDS * 1000);
          redis = await startEmbeddedRedis(redisOptions);
          downWindows.push([redisDown, Date.now()]);
          faults.push(`Redis down from ${Math.round((redisDown - startedAt) / 1000)} s to ${elapsed()}`);
          // PostgreSQL, where the CA keeps its keys, is gone when the next renewal falls due.
          await untilNextRenewal();
          const postgresDown = Date.now();
          await postgres.stop();
          await sleep(DOWN_SECONDS * 1000);
          postgres = await startEmbeddedPostgres(pgOptions);
          downWindows.push([postgresDown, Date.now()]);
          faults.push(`PostgreSQL down from ${Math.round((postgresDown - startedAt) / 1000)} s to ${elapsed()}`);
          await everyRenewedSince(Date.now(), 'PostgreSQL came back');
        }
        running = false;
        await Promise.all([sampling, loading, downloading]);
        await Promise.all(inFlight);

        const renewals = await Promise.all(
          Object.entries(processes).map(async ([name, p]) => {
            const exposition = await metricsOf(p);
            return {
              name,
              renewed: leafRenewals(exposition) - renewalsBefore[name]!,
              expiresIn: metricValue(exposition, 'tls_certificate_expiry_seconds') ?? 0,
              certificates: new Set((served.get(name) ?? []).map((c) => c.serial)).size,
            };
          }),
        );
        // A download may fail while PostgreSQL or Redis is down and while clients reconnect just after.
        const RECONNECT_MS = 5000;
        const failedDownloads = downloads.filter((d) => !d.ok && !downWindows.some(([from, to]) => d.at >= from && d.at <= to + RECONNECT_MS));
        const crashed = Object.entries(processes)
          .filter(([, p]) => !isAlive(p.pid))
          .map(([name]) => name);
        const answers = [...statuses].map(([s, n]) => `${s}×${n}`).join(', ');
        process.stdout.write(
          `\n    TLS faults: ${faults.join('; ')}\n` +
            `    certificates: ${renewals.map((r) => `${r.name} renewed ${r.renewed}× (${r.certificates} seen, expires in ${r.expiresIn} s)`).join(', ')}; ` +
            `${expired.length} expired presented, ${unreachable.length} handshakes failed\n` +
            `    load: ${sent} whoami over ${elapsed()}, answers ${answers}; downloads: ${downloads.length}, ${downloads.filter((d) => !d.ok).length} failed ` +
            `(${failedDownloads.length} outside the PostgreSQL and Redis restarts); crashed: ${crashed.length}\n`,
        );
        assert.deepEqual(expired, [], 'expired certificates presented');
        assert.deepEqual(unreachable.slice(0, 10), [], 'handshakes failed');
        // Each round, every process renewed after admin came back and again after PostgreSQL did.
        const minimum = 2 * ROUNDS;
        for (const r of renewals) {
          assert.ok(r.renewed >= minimum, `${r.name} renewed ${r.renewed} times, expected at least ${minimum}`);
          assert.ok(r.expiresIn > 0, `${r.name}: its certificate has expired`);
        }
        assert.equal(statuses.get(200) ?? 0, sent, `every whoami answered 200 (${answers})`);
        assert.deepEqual(
          failedDownloads.map((d) => `${Math.round((d.at - startedAt) / 1000)} s: ${d.detail}`),
          [],
          'downloads failed while PostgreSQL and Redis were up',
        );
        assert.deepEqual(crashed, []);
      } finally {
        running = false;
        agent?.destroy();
        await client?.close();
        await Promise.all([admin, ...Object.values(processes)].map((p) => p?.stop()));
        await redis.stop();
        await postgres.stop();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}
