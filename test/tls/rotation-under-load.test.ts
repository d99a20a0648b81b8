import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { Env } from '../../services/platform/config/index.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { start as startMaintenance } from '../../workers/maintenance/worker.ts';
import { fastLeafPki, ROTATED_ONCE, rotateIntermediateAndRoot } from '../support/ca-rotation.ts';
import { fileTraffic } from '../support/file-traffic.ts';
import { testConfig, testInfra } from '../support/infra.ts';
import { metricValue, stopAll, type ModuleName } from '../support/modules.ts';
import { measureCapacity, runPacedLoad } from '../support/request-load.ts';
import { adminTokenOver, followingBundleClient, startTlsModules, tlsTestEnv } from '../support/tls-modules.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * The load: 500 requests a second, or a third of what this machine sustains without rotations when that
 * is less (a shared 2-core machine manages far less: each request crosses three modules in this one
 * process), so the run measures the rotations, not an overloaded event loop. ROTATION_LOAD_RATE sets it.
 */
const TARGET_RATE = Number(process.env.ROTATION_LOAD_RATE ?? 500);
const LOAD_MS = 24_000;
/**
 * Leaves renew every 6 s, four times in every process during the load. The last third of a leaf's
 * life (3 s) is what a renewal may take: on a busy machine, right after the root changes and every
 * process reconnects, it has taken 2.5 s.
 */
const LEAF_TTL_SECONDS = 9;
const PUBLISH_AHEAD_SECONDS = 2;

const metricsOf = (service: RunningService) => service.deps.metrics.registry.metrics();
const leafRotations = async (service: RunningService) =>
  metricValue(await metricsOf(service), 'tls_certificate_rotations_total', { kind: 'leaf', status: 'success' }) ?? 0;
const fingerprintsIn = (bundle: string) => [...bundle.matchAll(/^# (\w+) \w+ sha256:(\w+)$/gm)].map((m) => `${m[1]}:${m[2]}`).sort();
/** The intermediate a process presents with its leaf (the chain is leaf then intermediate). */
const presentedIssuer = (service: RunningService) =>
  /-----END CERTIFICATE-----\s*(-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----)/.exec(service.deps.tls()!.material().cert)?.[1];

describe('certificate rotation under load', function () {
  this.timeout(180_000);
  let env: Env;
  let modules: Record<ModuleName, RunningService>;
  let maintenance: RunningService;

  before(async () => {
    env = await tlsTestEnv(fastLeafPki({ leafTtlSeconds: LEAF_TTL_SECONDS, publishAheadSeconds: PUBLISH_AHEAD_SECONDS }));
    modules = await startTlsModules(env);
    maintenance = await startMaintenance(testConfig('maintenance', { ...env, ADMIN_URL: modules.admin.url }));
  });
  after(() => stopAll([maintenance, ...Object.values(modules ?? {})]));

  it('when uploads and downloads reach the storage element over mutual TLS while leaves renew every few seconds, the intermediate rotates and the root is replaced, then not one request fails', async () => {
    const bundleFile = env.PKI_BUNDLE_FILE!;
    const client = await followingBundleClient(bundleFile);
    const processes: Record<string, RunningService> = { ...modules, maintenance };
    try {
      const token = await adminTokenOver(client, modules.admin.url);
      const { upload, mix } = fileTraffic(client, { ingester: modules.ingester.url, query: modules.query.url }, token);
      // One upload in five: each is a new file, and a download may ask for any file uploaded so far.
      const mixed = mix(5);
      for (let i = 0; i < 20; i++) await upload();

      const capacity = await measureCapacity(mixed, { concurrency: 4, durationMs: 4000 });
      const rate = Math.max(10, Math.min(TARGET_RATE, Math.floor(capacity.perSecond / 3)));
      const bundleBefore = await readFile(bundleFile, 'utf8');
      const leavesBefore = Object.fromEntries(await Promise.all(Object.entries(processes).map(async ([name, p]) => [name, await leafRotations(p)] as const)));

      const rotations = rotateIntermediateAndRoot(testInfra().redisUrl, env.BULLMQ_PREFIX!, { pauseMs: 3000, publishAheadSeconds: PUBLISH_AHEAD_SECONDS });
      const load = await runPacedLoad(mixed, { rate, durationMs: LOAD_MS, maxInFlight: 8 });
      const steps = await rotations;
      const renewals = Object.fromEntries(
        await Promise.all(Object.entries(processes).map(async ([name, p]) => [name, (await leafRotations(p)) - leavesBefore[name]!] as const)),
      );
      process.stdout.write(
        `      capacity without rotations ${capacity.perSecond.toFixed(0)}/s (4 in flight); load ${rate}/s asked, ${load.perSecond.toFixed(0)}/s answered, ` +
          `${load.sent} requests, slowest ${load.maxLatencyMs} ms; ${steps.join(', ')}; leaf renewals ${JSON.stringify(renewals)}; ` +
          `bundle changes seen by the client ${client.changes()}\n`,
      );

      assert.deepEqual([...capacity.failures, ...load.failures], [], `${capacity.failures.length + load.failed} requests failed`);
      assert.equal(load.succeeded, Math.round((rate * LOAD_MS) / 1000));
      assert.ok(load.perSecond >= rate * 0.9, `${load.perSecond.toFixed(0)} answers a second for ${rate} asked`);
      assert.deepEqual(steps, ROTATED_ONCE);
      for (const [name, renewed] of Object.entries(renewals)) assert.ok(renewed >= 3, `${name} renewed its certificate ${renewed} times`);

      const bundleAfter = await readFile(bundleFile, 'utf8');
      const added = fingerprintsIn(bundleAfter).filter((f) => !fingerprintsIn(bundleBefore).includes(f));
      assert.deepEqual(
        added.map((f) => f.split(':')[0]),
        ['intermediate', 'intermediate', 'root'],
        'the bundle took the new root and both new intermediates',
      );
      // Every process ends up presenting a leaf of the new root's intermediate.
      const active = await modules.admin.deps.prisma.pkiAuthority.findFirstOrThrow({ where: { kind: 'intermediate', state: 'active' } });
      for (const [name, p] of Object.entries(processes)) {
        await waitFor(() => presentedIssuer(p)?.trim() === active.certificate.trim(), {
          timeoutMs: LEAF_TTL_SECONDS * 2000,
          message: `${name} to present a certificate of the new intermediate`,
        });
      }
    } finally {
      await client.close();
    }
  });
});
