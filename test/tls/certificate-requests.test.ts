import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import type { Env } from '../../services/platform/config/index.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { CERTIFICATES_PATH } from '../../services/platform/tls/certificate-source.ts';
import { createLeafRequest } from '../../services/platform/tls/certificate-request.ts';
import { generateKeyPair, KEY_ALGORITHM, x509, type CryptoKeyPair } from '../../services/platform/tls/x509.ts';
import { auditJobs } from '../support/audit-jobs.ts';
import { TEST_SECRETS, testConfig } from '../support/infra.ts';
import { MODULES } from '../support/modules.ts';
import { bundleClient, tlsTestEnv } from '../support/tls-modules.ts';

type Answer = { status: number; body: Record<string, unknown> & { error?: { code: string; message: string } } };

/** A CSR for `service` with exactly the extensions given (none by default), signed by `signer` (the key it names by default). */
async function csrWith(service: string, options: { extensions?: x509.Extension[]; keys?: CryptoKeyPair; signer?: CryptoKeyPair } = {}) {
  const keys = options.keys ?? (await generateKeyPair());
  const signing = options.signer ?? keys;
  const request = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${service}, O=ArtStore`,
    keys: { publicKey: keys.publicKey, privateKey: signing.privateKey },
    signingAlgorithm: (signing.privateKey.algorithm as { name: string }).name === 'ECDSA' ? KEY_ALGORITHM : { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    extensions: options.extensions ?? [],
  });
  return request.toString('pem');
}

const sans = (...names: { type: 'dns' | 'ip' | 'url' | 'email'; value: string }[]) => new x509.SubjectAlternativeNameExtension(names);
const pemOf = (label: string, body: string) => `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;

describe('the CA certificate endpoint as an attacker sees it', function () {
  this.timeout(60_000);
  let env: Env;
  let admin: RunningService;
  let client: Awaited<ReturnType<typeof bundleClient>>;
  const tokens: Partial<Record<'admin' | 'storage' | 'reader' | 'ingester', string>> = {};

  const post = async (path: string, token: string | undefined, body: unknown): Promise<Answer> => {
    const response = await client.fetch(`${admin.url}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Answer['body'] };
  };
  const ask = (role: keyof typeof tokens, service: string, csr: string) => post(CERTIFICATES_PATH, tokens[role], { csr, service });
  const tokenOf = async (clientId: string, clientSecret: string) =>
    (await post('/api/v1/auth/token', undefined, { client_id: clientId, client_secret: clientSecret })).body.access_token as string;

  before(async () => {
    env = await tlsTestEnv();
    admin = await MODULES.admin(testConfig('admin', env));
    client = await bundleClient(env.PKI_BUNDLE_FILE!);
    tokens.admin = await tokenOf(TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID, TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET);
    tokens.storage = await tokenOf(TEST_SECRETS.STORAGE_CLIENT_ID, TEST_SECRETS.STORAGE_CLIENT_SECRET);
    for (const role of ['reader', 'ingester'] as const) {
      const created = await post('/api/v1/service-accounts', tokens.admin, { name: `${role} asking for certificates`, role });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const account = created.body as { service_account: { client_id: string }; client_secret: string };
      tokens[role] = await tokenOf(account.service_account.client_id, account.client_secret);
    }
  });
  after(async () => {
    await client?.close();
    await admin?.stop();
  });

  it('when the storage account asks for a module certificate, then it gets one naming only that module, and the issue is an audit event', async () => {
    const keys = await generateKeyPair();
    const answer = await ask('storage', 'ingester', await createLeafRequest('ingester', keys, ['localhost', '127.0.0.1']));
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    assert.equal(answer.body.spiffe_id, 'spiffe://artstore/ingester');
    const leaf = new x509.X509Certificate(answer.body.certificate as string);
    assert.equal(
      leaf
        .getExtension(x509.SubjectAlternativeNameExtension)
        ?.names.toJSON()
        .map(({ type, value }) => `${type}:${value}`)
        .join(' '),
      'url:spiffe://artstore/ingester dns:localhost ip:127.0.0.1',
    );
    assert.equal(Buffer.from(leaf.publicKey.rawData).equals(Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey))), true);
    const jobs = auditJobs(env.BULLMQ_PREFIX!);
    try {
      const event = await jobs.waitFor((e) => e.event_type === 'certificate_issued' && e.resource_id === answer.body.serial_number);
      assert.equal(event.status, 'success');
      assert.equal(event.details?.spiffe_id, 'spiffe://artstore/ingester');
      assert.equal(event.details?.not_after, answer.body.not_after);
      const whoami = await client.fetch(`${admin.url}/api/v1/auth/whoami`, { headers: { Authorization: `Bearer ${tokens.storage}` } });
      const { principal } = (await whoami.json()) as { principal: { serviceAccountId: string } };
      assert.equal(event.service_account_id, principal.serviceAccountId, 'the event names the account that asked');
    } finally {
      await jobs.close();
    }
  });

  it('when an admin asks for the admin identity, then it is issued (and audited like any other)', async () => {
    const answer = await ask('admin', 'admin', await createLeafRequest('admin', await generateKeyPair(), []));
    assert.equal(answer.status, 201, JSON.stringify(answer.body));
    assert.equal(answer.body.spiffe_id, 'spiffe://artstore/admin');
    const jobs = auditJobs(env.BULLMQ_PREFIX!);
    try {
      await jobs.waitFor((e) => e.event_type === 'certificate_issued' && e.resource_id === answer.body.serial_number);
    } finally {
      await jobs.close();
    }
  });

  it('when a caller without a token, with a reader token or with an ingester token asks, then it is refused 401 / 403', async () => {
    const csr = await createLeafRequest('query', await generateKeyPair(), []);
    const anonymous = await post(CERTIFICATES_PATH, undefined, { csr, service: 'query' });
    assert.equal(anonymous.status, 401);
    for (const role of ['reader', 'ingester'] as const) {
      const answer = await ask(role, 'query', csr);
      assert.equal(answer.status, 403, `${role}: ${JSON.stringify(answer.body)}`);
      assert.equal(answer.body.error?.code, 'forbidden', role);
    }
  });

  it('when the storage account asks for the admin identity, then it is refused 403 identity_not_allowed', async () => {
    const answer = await ask('storage', 'admin', await createLeafRequest('admin', await generateKeyPair(), []));
    assert.equal(answer.status, 403, JSON.stringify(answer.body));
    assert.equal(answer.body.error?.code, 'identity_not_allowed');
  });

  describe('when the CSR itself is bad, then it is refused 400 invalid_csr, never 500, and nothing is issued', () => {
    const ecdsa = async () => generateKeyPair();
    const goodPem = () => csrWith('ingester', { extensions: [sans({ type: 'dns', value: 'localhost' })] });
    const cases: Record<string, () => Promise<string>> = {
      'a CSR signed by another key than the one it names': async () => csrWith('ingester', { keys: await ecdsa(), signer: await ecdsa() }),
      'an RSA key': async () => {
        const rsa = (await webcrypto.subtle.generateKey(
          { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
          true,
          ['sign', 'verify'],
        )) as CryptoKeyPair;
        return csrWith('ingester', { keys: rsa });
      },
      'a SPIFFE ID of another trust domain': () => csrWith('ingester', { extensions: [sans({ type: 'url', value: 'spiffe://elsewhere/ingester' })] }),
      'the SPIFFE ID of another module of this system': () => csrWith('ingester', { extensions: [sans({ type: 'url', value: 'spiffe://artstore/admin' })] }),
      'an e-mail SAN': () => csrWith('ingester', { extensions: [sans({ type: 'email', value: 'ops@artstore.example' })] }),
      'a URI SAN that is no SPIFFE ID': () => csrWith('ingester', { extensions: [sans({ type: 'url', value: 'https://evil.example/ingester' })] }),
      'a second SAN extension hiding another identity': () =>
        csrWith('ingester', {
          extensions: [sans({ type: 'dns', value: 'localhost' }), sans({ type: 'url', value: 'spiffe://artstore/admin' })],
        }),
      'a SAN extension that is not DER of a name list': () =>
        csrWith('ingester', { extensions: [new x509.Extension('2.5.29.17', false, new Uint8Array([1, 2, 3, 4]))] }),
      'a DNS name with a NUL byte': () => csrWith('ingester', { extensions: [sans({ type: 'dns', value: 'localhost\u0000.evil.example' })] }),
      'NUL bytes in the PEM': async () => (await goodPem()).replace('\n', '\n\u0000\u0000'),
      'a PEM of 200 KB': async () => pemOf('CERTIFICATE REQUEST', 'A'.repeat(200_000)),
      'a truncated PEM': async () => (await goodPem()).slice(0, 200),
      'a PEM whose base64 is not DER': async () => pemOf('CERTIFICATE REQUEST', Buffer.from('not a certificate request').toString('base64')),
      'a certificate instead of a CSR': async () => {
        const answer = await ask('storage', 'query', await createLeafRequest('query', await generateKeyPair(), []));
        return answer.body.certificate as string;
      },
      'plain text': async () => 'please sign me as ingester',
    };
    for (const [what, make] of Object.entries(cases)) {
      it(`${what}`, async () => {
        const jobs = auditJobs(env.BULLMQ_PREFIX!);
        try {
          const csr = await make();
          const issuedBefore = (await jobs.matching((e) => e.event_type === 'certificate_issued')).length;
          const answer = await ask('storage', 'ingester', csr);
          assert.equal(answer.status, 400, JSON.stringify(answer.body));
          assert.equal(answer.body.error?.code, 'invalid_csr', JSON.stringify(answer.body));
          assert.ok(!(answer.body.error?.message ?? '').includes('\u0000'), 'the message carries no raw NUL');
          assert.equal((await jobs.matching((e) => e.event_type === 'certificate_issued')).length, issuedBefore);
        } finally {
          await jobs.close();
        }
      });
    }
  });
});
