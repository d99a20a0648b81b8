import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { Agent, fetch as undiciFetch } from 'undici';
import type { Env } from '../../services/platform/config/index.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { x509 } from '../../services/platform/tls/x509.ts';
import { createCertificateAuthority, type CertificateAuthority } from '../../services/pki/certificate-authority.ts';
import { foreignAuthority, issuedIdentity, publicCertificateFiles, signedIdentity, type ClientIdentity } from '../support/client-certificates.ts';
import { TEST_SECRETS, testConfig } from '../support/infra.ts';
import { MODULES, metricValue, stopAll, type ModuleName } from '../support/modules.ts';
import { bundleClient, startTlsModules, tlsTestEnv } from '../support/tls-modules.ts';

type Outcome = { cut: string } | { status: number; code?: string };

interface Caller {
  identity?: ClientIdentity;
  headers?: Record<string, string>;
  /** The name asked for by SNI (a public certificate's name picks that certificate). @defaultValue localhost */
  servername?: string;
  /** Trusted besides the deployment's bundle (a self-signed public certificate). */
  extraCa?: string;
}

/**
 * What a caller presenting `identity` (or nothing) sees of `url`: the connection cut during or right
 * after the handshake, or an HTTP answer with its error code.
 */
async function attempt(bundleFile: string, url: string, caller: Caller = {}): Promise<Outcome> {
  const ca = `${await readFile(bundleFile, 'utf8')}${caller.extraCa ?? ''}`;
  const agent = new Agent({ connect: { ca, servername: caller.servername ?? 'localhost', ...caller.identity } });
  try {
    const response = await undiciFetch(url, { headers: caller.headers, dispatcher: agent });
    const body = (await response.json().catch(() => ({}))) as { error?: { code?: string } };
    return { status: response.status, code: body.error?.code };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return { cut: cause?.code ?? cause?.message ?? String(err) };
  } finally {
    await agent.close().catch(() => undefined);
  }
}

/** Every handshake failure a listener counted, whatever the reason. */
const handshakeFailureTotal = (exposition: string) =>
  exposition
    .split('\n')
    .filter((line) => line.startsWith('tls_handshake_failures_total{'))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);

const isCut = (outcome: Outcome): outcome is { cut: string } => 'cut' in outcome;

describe('mutual TLS as an attacker sees it: client certificates the modules refuse', function () {
  this.timeout(120_000);
  let env: Env;
  let modules: Record<ModuleName, RunningService>;
  let ca: CertificateAuthority;
  let blobUrl: string;
  let storageToken: string;
  const withToken = () => ({ Authorization: `Bearer ${storageToken}` });

  const handshakeFailures = async () => {
    const client = await bundleClient(env.PKI_BUNDLE_FILE!);
    try {
      return await (await client.fetch(`${modules['storage-element'].url}/metrics`)).text();
    } finally {
      await client.close();
    }
  };

  before(async () => {
    env = await tlsTestEnv();
    modules = await startTlsModules(env);
    ca = createCertificateAuthority(modules.admin.deps.prisma, modules.admin.deps.config.pki);
    blobUrl = `${modules['storage-element'].url}/api/v1/blobs/${'0'.repeat(64)}`;
    const client = await bundleClient(env.PKI_BUNDLE_FILE!);
    try {
      const answer = await client.fetch(`${modules.admin.url}/api/v1/auth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: TEST_SECRETS.STORAGE_CLIENT_ID, client_secret: TEST_SECRETS.STORAGE_CLIENT_SECRET }),
      });
      storageToken = ((await answer.json()) as { access_token: string }).access_token;
    } finally {
      await client.close();
    }
  });
  after(() => stopAll(Object.values(modules ?? {})));

  it('when the ingester calls the blobs with its own certificate and the storage token, then it gets through (the control for every refusal below)', async () => {
    const ingester = await issuedIdentity(ca, 'ingester');
    const outcome = await attempt(env.PKI_BUNDLE_FILE!, blobUrl, { identity: ingester, headers: withToken() });
    assert.deepEqual(outcome, { status: 404, code: 'blob_not_found' });
  });

  it('when a certificate from another CA with the same names calls the blobs, then the handshake is cut and counted, and no route answers', async () => {
    const foreign = await foreignAuthority();
    const before = await handshakeFailures();
    const outcome = await attempt(env.PKI_BUNDLE_FILE!, blobUrl, { identity: await foreign.identity('ingester'), headers: withToken() });
    assert.ok(isCut(outcome), `expected the connection to be cut, got ${JSON.stringify(outcome)}`);
    // Even a route open to anyone does not answer a connection that presented an untrusted certificate.
    const health = await attempt(env.PKI_BUNDLE_FILE!, `${modules['storage-element'].url}/health`, { identity: await foreign.identity('ingester') });
    assert.ok(isCut(health), `expected /health to be cut too, got ${JSON.stringify(health)}`);
    const after = await handshakeFailures();
    const reasons = ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_SIGNATURE_FAILURE', 'SELF_SIGNED_CERT_IN_CHAIN'];
    const grown = reasons.reduce(
      (sum, reason) =>
        sum + (metricValue(after, 'tls_handshake_failures_total', { reason }) ?? 0) - (metricValue(before, 'tls_handshake_failures_total', { reason }) ?? 0),
      0,
    );
    assert.equal(
      grown,
      2,
      after
        .split('\n')
        .filter((line) => line.startsWith('tls_handshake_failures_total'))
        .join('\n'),
    );
  });

  it('when an expired certificate of this very CA calls the blobs, then the handshake is cut and counted as CERT_HAS_EXPIRED', async () => {
    const expired = await issuedIdentity(ca, 'ingester', { now: new Date(Date.now() - 3_600_000), ttlSeconds: 600 });
    assert.ok(expired.leaf.notAfter.getTime() < Date.now());
    const before = metricValue(await handshakeFailures(), 'tls_handshake_failures_total', { reason: 'CERT_HAS_EXPIRED' }) ?? 0;
    const outcome = await attempt(env.PKI_BUNDLE_FILE!, blobUrl, { identity: expired, headers: withToken() });
    assert.ok(isCut(outcome), `expected the connection to be cut, got ${JSON.stringify(outcome)}`);
    assert.equal(metricValue(await handshakeFailures(), 'tls_handshake_failures_total', { reason: 'CERT_HAS_EXPIRED' }), before + 1);
  });

  it('when a holder of a genuine audit-writer certificate signs itself an ingester certificate with it, then the handshake is cut', async () => {
    const auditWriter = await issuedIdentity(ca, 'audit-writer');
    const leaf = new x509.X509Certificate(auditWriter.leaf.certificate);
    const intermediate = new x509.X509Certificate(auditWriter.leaf.chain.slice(auditWriter.leaf.certificate.trim().length));
    const forged = await signedIdentity({ certificate: leaf, signingKey: auditWriter.keys.privateKey }, 'ingester', [leaf, intermediate]);
    const before = handshakeFailureTotal(await handshakeFailures());
    const outcome = await attempt(env.PKI_BUNDLE_FILE!, blobUrl, { identity: forged, headers: withToken() });
    assert.ok(isCut(outcome), `expected the connection to be cut, got ${JSON.stringify(outcome)}`);
    assert.equal(handshakeFailureTotal(await handshakeFailures()), before + 1);
  });

  for (const service of ['audit-writer', 'admin', 'maintenance', 'storage-element'] as const) {
    it(`when a valid ${service} certificate calls the blobs with the storage token, then it is answered 403 peer_not_allowed`, async () => {
      const outcome = await attempt(env.PKI_BUNDLE_FILE!, blobUrl, { identity: await issuedIdentity(ca, service), headers: withToken() });
      assert.deepEqual(outcome, { status: 403, code: 'peer_not_allowed' });
    });
  }

  it('when a module token calls the blobs without any client certificate, then it is answered 401 client_certificate_required', async () => {
    for (const method of ['GET', 'HEAD', 'DELETE'] as const) {
      const client = await bundleClient(env.PKI_BUNDLE_FILE!);
      try {
        const answer = await client.fetch(blobUrl, { method, headers: { Authorization: `Bearer ${storageToken}` } });
        assert.equal(answer.status, 401, method);
        if (method !== 'HEAD') assert.equal(((await answer.json()) as { error: { code: string } }).error.code, 'client_certificate_required', method);
      } finally {
        await client.close();
      }
    }
    const upload = await bundleClient(env.PKI_BUNDLE_FILE!);
    try {
      const answer = await upload.fetch(`${modules['storage-element'].url}/api/v1/blobs`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${storageToken}`, 'Content-Type': 'application/octet-stream' },
        body: Buffer.from('not without a certificate'),
      });
      assert.equal(answer.status, 401);
      assert.equal(((await answer.json()) as { error: { code: string } }).error.code, 'client_certificate_required');
    } finally {
      await upload.close();
    }
  });

  it('when a module reaches a storage element by the name of its public certificate, then its client certificate is still checked against this CA: the ingester passes, another CA is cut', async () => {
    const publicName = 'files.artstore.test';
    const files = await publicCertificateFiles(publicName);
    const element = await MODULES['storage-element'](
      testConfig('storage-element', {
        ...env,
        ADMIN_URL: modules.admin.url,
        TLS_CERT_FILE: files.certFile,
        TLS_KEY_FILE: files.keyFile,
        STORAGE_ELEMENT_ID: 'se-public',
      }),
    );
    try {
      const url = `${element.url}/api/v1/blobs/${'0'.repeat(64)}`;
      const viaPublicName = { servername: publicName, extraCa: files.certPem, headers: withToken() };
      assert.deepEqual(await attempt(env.PKI_BUNDLE_FILE!, url, { ...viaPublicName, identity: await issuedIdentity(ca, 'ingester') }), {
        status: 404,
        code: 'blob_not_found',
      });
      const foreign = await attempt(env.PKI_BUNDLE_FILE!, url, { ...viaPublicName, identity: await (await foreignAuthority()).identity('ingester') });
      assert.ok(isCut(foreign), `expected the connection to be cut, got ${JSON.stringify(foreign)}`);
      assert.deepEqual(await attempt(env.PKI_BUNDLE_FILE!, url, viaPublicName), { status: 401, code: 'client_certificate_required' });
    } finally {
      await element.stop();
    }
  });
});
