import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import type { Env } from '../../services/platform/config/index.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { testConfig } from '../support/infra.ts';
import { MODULES, stopAll, type ModuleName } from '../support/modules.ts';
import { bundleClient, startTlsModules, tlsTestEnv, adminTokenOver, uploadOver } from '../support/tls-modules.ts';
import { waitFor } from '../support/wait-for.ts';

const LEAF_TTL_SECONDS = 3;

/** The certificate a listener presents, checked against the bundle: its serial and end, or why it is refused. */
async function servedCertificate(url: string, bundleFile: string): Promise<{ serial: string; notAfter: Date } | { refused: string }> {
  const { hostname, port } = new URL(url);
  const ca = await readFile(bundleFile, 'utf8');
  return new Promise((resolve) => {
    const socket = tls.connect({ host: hostname, port: Number(port), ca, servername: 'localhost', minVersion: 'TLSv1.3' }, () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      resolve({ serial: cert.serialNumber, notAfter: new Date(cert.valid_to) });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve({ refused: err.code ?? err.message }));
  });
}

const isServed = (answer: Awaited<ReturnType<typeof servedCertificate>>): answer is { serial: string; notAfter: Date } => 'serial' in answer;

describe('workload certificates after downtime', function () {
  this.timeout(120_000);
  let env: Env;
  let modules: Record<ModuleName, RunningService>;
  let client: Awaited<ReturnType<typeof bundleClient>>;
  let file: { id: string; content: string };

  const download = async (query: RunningService) => {
    const token = { access_token: await adminTokenOver(client, modules.admin.url) };
    const answer = await client.fetch(`${query.url}/api/v1/files/${file.id}/download`, { headers: { Authorization: `Bearer ${token.access_token}` } });
    return { status: answer.status, body: await answer.text() };
  };

  before(async () => {
    env = await tlsTestEnv({
      PKI_LEAF_TTL_SECONDS: String(LEAF_TTL_SECONDS),
      PKI_INTERMEDIATE_TTL_SECONDS: '3600',
      PKI_INTERMEDIATE_ROTATE_SECONDS: '1800',
    });
    modules = await startTlsModules(env);
    client = await bundleClient(env.PKI_BUNDLE_FILE!);
    const token = { access_token: await adminTokenOver(client, modules.admin.url) };
    const uploaded = await uploadOver(client, modules.ingester.url, token.access_token, 'still here after the downtime', 'downtime.txt');
    assert.equal(uploaded.status, 201, await uploaded.clone().text());
    file = { id: ((await uploaded.json()) as { id: string }).id, content: 'still here after the downtime' };
  });
  after(async () => {
    await client?.close();
    await stopAll(Object.values(modules ?? {}));
  });

  it('when a module was stopped until its certificate expired, then it starts with a fresh one and serves at once', async () => {
    const bundleFile = env.PKI_BUNDLE_FILE!;
    const before = await servedCertificate(modules.query.url, bundleFile);
    assert.ok(isServed(before), JSON.stringify(before));
    await modules.query.stop();
    await sleep(Math.max(0, before.notAfter.getTime() - Date.now()) + 1000);
    assert.ok(before.notAfter < new Date(), 'the certificate it had is expired');

    modules.query = await MODULES.query(testConfig('query', { ...env, ADMIN_URL: modules.admin.url }));
    const after = await servedCertificate(modules.query.url, bundleFile);
    assert.ok(isServed(after), JSON.stringify(after));
    assert.notEqual(after.serial, before.serial);
    assert.ok(after.notAfter > new Date(), 'a certificate that is valid now');
    assert.deepEqual(await download(modules.query), { status: 200, body: file.content }, 'it reaches the storage element over mutual TLS');
  });

  it('when admin was away until the modules’ certificates expired, then they renew once it is back, without a restart', async () => {
    const bundleFile = env.PKI_BUNDLE_FILE!;
    const { port } = modules.admin;
    await modules.admin.stop();
    const lapsed = await waitFor(() => servedCertificate(modules.query.url, bundleFile), {
      until: (answer) => !isServed(answer),
      timeoutMs: (LEAF_TTL_SECONDS + 5) * 1000,
      message: 'the query module’s certificate to expire while admin is away',
    });
    assert.deepEqual(lapsed, { refused: 'CERT_HAS_EXPIRED' });

    modules.admin = await MODULES.admin(testConfig('admin', { ...env, PORT: String(port) }));
    for (const name of ['storage-element', 'ingester', 'query'] as const) {
      await waitFor(async () => isServed(await servedCertificate(modules[name].url, bundleFile)), {
        timeoutMs: 45_000,
        intervalMs: 200,
        message: `${name} to serve a valid certificate again`,
      });
    }
    assert.deepEqual(await download(modules.query), { status: 200, body: file.content }, 'query reaches the storage element over mutual TLS again');
  });
});
