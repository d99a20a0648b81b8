import assert from 'node:assert/strict';
import type { Env } from '../../services/platform/config/index.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { bundleClient, startTlsModules, tlsTestEnv, adminTokenOver, uploadOver } from '../support/tls-modules.ts';
import { metricValue, stopAll, type ModuleName } from '../support/modules.ts';
import { testConfig } from '../support/infra.ts';
import { sClient } from '../support/openssl-client.ts';
import { start as startAuditWriter } from '../../workers/audit-writer/worker.ts';
import { start as startMaintenance } from '../../workers/maintenance/worker.ts';

describe('TLS 1.3 on every module, mutual TLS between them', function () {
  this.timeout(120_000);
  let env: Env;
  let modules: Record<ModuleName, RunningService>;
  const workers: Partial<Record<'audit-writer' | 'maintenance', RunningService>> = {};

  before(async () => {
    env = await tlsTestEnv();
    modules = await startTlsModules(env);
    // The workers' /health and /metrics listeners are TLS too: the audit writer asks admin for its certificate, maintenance holds the CA.
    workers['audit-writer'] = await startAuditWriter(testConfig('audit-writer', { ...env, ADMIN_URL: modules.admin.url }));
    workers.maintenance = await startMaintenance(testConfig('maintenance', { ...env, ADMIN_URL: modules.admin.url }));
  });
  after(async () => {
    await stopAll(Object.values(workers));
    await stopAll(Object.values(modules ?? {}));
  });

  it('when a TLS 1.2 client connects to any module or worker it is refused and counted, and TLS 1.3 is accepted with a certificate naming it', async () => {
    const listeners = Object.entries({ ...modules, ...workers });
    assert.deepEqual(listeners.map(([name]) => name).sort(), ['admin', 'audit-writer', 'ingester', 'maintenance', 'query', 'storage-element']);
    for (const [name, service] of listeners) {
      assert.match(service.url, /^https:/, name);
      const old = await sClient(service.url, '-tls1_2', env.PKI_BUNDLE_FILE!);
      assert.ok(old.failed && !/New, TLSv1.2/.test(old.output), `${name}: TLS 1.2 must fail\n${old.output}`);
      const modern = await sClient(service.url, '-tls1_3', env.PKI_BUNDLE_FILE!);
      assert.match(modern.output, /Protocol\s*: TLSv1.3|New, TLSv1.3/, `${name}\n${modern.output}`);
      assert.match(modern.output, /Verify return code: 0 \(ok\)/, name);
      assert.match(modern.sans, new RegExp(`URI:spiffe://artstore/${name}\\b`), `${name}: ${modern.sans}`);
      assert.match(modern.sans, /IP Address:127.0.0.1/, name);
    }
    const client = await bundleClient(env.PKI_BUNDLE_FILE!);
    try {
      for (const [name, service] of listeners) {
        assert.equal((await client.fetch(`${service.url}/health`)).status, 200, `${name} /health over TLS 1.3`);
        const metrics = await (await client.fetch(`${service.url}/metrics`)).text();
        const refused = metricValue(metrics, 'tls_handshake_failures_total', { reason: 'ERR_SSL_UNSUPPORTED_PROTOCOL' }) ?? 0;
        assert.ok(refused >= 1, `${name} counts the TLS 1.2 handshake it refused`);
      }
    } finally {
      await client.close();
    }
  });

  it('when a file is uploaded through the ingester and downloaded through the query module, then both reach the storage element over mutual TLS', async () => {
    const client = await bundleClient(env.PKI_BUNDLE_FILE!);
    try {
      const token = { access_token: await adminTokenOver(client, modules.admin.url) };
      const uploaded = await uploadOver(client, modules.ingester.url, token.access_token, 'over mutual TLS', 'tls.txt');
      assert.equal(uploaded.status, 201, await uploaded.clone().text());
      const { id } = (await uploaded.json()) as { id: string };
      const downloaded = await client.fetch(`${modules.query.url}/api/v1/files/${id}/download`, { headers: { Authorization: `Bearer ${token.access_token}` } });
      assert.equal(downloaded.status, 200);
      assert.equal(await downloaded.text(), 'over mutual TLS');

      const direct = await client.fetch(`${modules['storage-element'].url}/api/v1/blobs/${'0'.repeat(64)}`, {
        headers: { Authorization: `Bearer ${token.access_token}` },
      });
      assert.equal(direct.status, 401, 'an admin token without a module certificate does not reach the blobs');
      assert.equal(((await direct.json()) as { error: { code: string } }).error.code, 'client_certificate_required');
    } finally {
      await client.close();
    }
  });
});
