import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Env } from '../../services/platform/config/index.ts';
import { loadConfig } from '../../services/platform/config/index.ts';
import { createLogger } from '../../services/platform/logger.ts';
import { createRedis, scanKeys, waitForRedis } from '../../services/platform/redis.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { testEnv } from '../support/infra.ts';
import { waitFor } from '../support/wait-for.ts';
import { stopAll, type ModuleName } from '../support/modules.ts';
import { runPkiIssue, shownRun } from '../support/pki-issue.ts';
import { startRedisCluster, type RedisClusterUnderTest } from '../support/redis-cluster.ts';
import { servedSerial } from '../support/openssl-client.ts';
import { bundleClient, startTlsModules, tlsTestEnv, adminTokenOver, uploadOver } from '../support/tls-modules.ts';

/**
 * A Redis Cluster whose nodes speak only TLS (to clients, to their replicas, on the cluster bus)
 * with the certificate `npm run pki:issue` makes from the internal CA: the modules reach it with
 * REDIS_CLUSTER_NODES and REDIS_TLS, trusting the bundle of TLS_CA_FILE, and pki:issue --reload
 * makes every node serve a renewed certificate.
 */
describe('a Redis Cluster over TLS with a certificate from the internal CA', function () {
  this.timeout(180_000);
  let env: Env;
  let dir: string;
  let cliEnv: NodeJS.ProcessEnv;
  let cluster: RedisClusterUnderTest | undefined;
  let modules: Record<ModuleName, RunningService> | undefined;

  before(async function () {
    this.timeout(180_000);
    env = await tlsTestEnv();
    dir = await mkdtemp(path.join(tmpdir(), 'artstore-redis-cluster-tls-'));
    cliEnv = { ...testEnv(env), AUDIT_SPOOL_DIR: path.join(dir, 'spool') };
    const issued = await runPkiIssue(['--service', 'redis', '--dns', 'localhost', '--ip', '127.0.0.1', '--out', path.join(dir, 'redis')], cliEnv);
    assert.equal(issued.code, 0, shownRun(issued));
    cluster = await startRedisCluster({ tlsDir: path.join(dir, 'redis') });
    env = { ...env, REDIS_URL: undefined, REDIS_CLUSTER_NODES: cluster.nodesSetting, REDIS_TLS: 'true' };
  });
  after(async () => {
    await stopAll(Object.values(modules ?? {}));
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('when the modules run on the cluster with REDIS_TLS and TLS_CA_FILE, then they are ready, a file goes up and its audit events are queued on the cluster, and a client trusting only the system CAs is refused', async () => {
    modules = await startTlsModules(env);
    const client = await bundleClient(env.PKI_BUNDLE_FILE!);
    const config = loadConfig('admin', testEnv(env));
    const logger = createLogger({ service: 'cluster-tls-test', level: 'silent' });
    const trusting = createRedis(config.redis, 'producer', logger, 'cluster-tls-test', { caFile: env.TLS_CA_FILE });
    const untrusting = createRedis(config.redis, 'producer', logger, 'cluster-tls-test-untrusting');
    try {
      for (const [name, service] of Object.entries(modules)) {
        const ready = await client.fetch(`${service.url}/ready`);
        assert.equal(ready.status, 200, `${name}: ${await ready.text()}`);
      }
      const token = { access_token: await adminTokenOver(client, modules.admin.url) };
      const uploaded = await uploadOver(client, modules.ingester.url, token.access_token, 'queued on a cluster over TLS', 'cluster.txt');
      assert.equal(uploaded.status, 201, await uploaded.clone().text());

      await waitForRedis(trusting, 30_000);
      const queued: string[] = [];
      for await (const keys of scanKeys(trusting, `${config.bullmqPrefix}:audit-events:*`)) queued.push(...keys);
      assert.ok(queued.length > 0, `the audit events went to the cluster over TLS, under ${config.bullmqPrefix}`);
      await assert.rejects(waitForRedis(untrusting, 3000), 'a client that does not trust the bundle never gets a ready cluster');
    } finally {
      trusting.disconnect();
      untrusting.disconnect();
      await client.close();
    }
  });

  it('when pki:issue renews the certificate with --reload, then every node of the cluster, masters and replicas, serves the new one without a restart', async () => {
    const renewed = await runPkiIssue(['--service', 'redis', '--dns', 'localhost', '--ip', '127.0.0.1', '--out', path.join(dir, 'redis'), '--reload'], {
      ...cliEnv,
      REDIS_URL: undefined,
      REDIS_CLUSTER_NODES: cluster!.nodesSetting,
      REDIS_TLS: 'true',
    });
    assert.equal(renewed.code, 0, shownRun(renewed));
    assert.equal(renewed.answer?.reload, 'reloaded');
    // A node applies CONFIG SET to the handshakes after it; on a loaded machine one may answer a first probe a moment late.
    const everyNodeRenewed = async () => {
      const served = await Promise.all(cluster!.nodes.map((node) => servedSerial(node.port, env.PKI_BUNDLE_FILE!)));
      return served.every((serial) => serial === renewed.answer?.serial_number) ? served : undefined;
    };
    const served = await waitFor(everyNodeRenewed, { timeoutMs: 10_000, message: 'every node to serve the renewed certificate' });
    assert.deepEqual(new Set(served), new Set([renewed.answer?.serial_number]));
  });
});
