import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Env } from '../../services/platform/config/index.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { certificatesInPem, x509 } from '../../services/platform/tls/x509.ts';
import { testEnv } from '../support/infra.ts';
import { stopAll, type ModuleName } from '../support/modules.ts';
import { runPkiIssue, shownRun } from '../support/pki-issue.ts';
import { overTls, startTlsRedis } from '../support/tls-redis-server.ts';
import { servedSerial } from '../support/openssl-client.ts';
import { bundleClient, startTlsModules, tlsTestEnv, adminTokenOver, uploadOver } from '../support/tls-modules.ts';

const run = promisify(execFile);

/**
 * Redis over TLS with a certificate `npm run pki:issue` makes from the internal CA, as in the
 * production compose file: the modules connect with rediss:// and trust the bundle of TLS_CA_FILE.
 */
describe('Redis over TLS with a certificate from the internal CA', function () {
  this.timeout(120_000);
  let env: Env;
  let dir: string;
  let cliEnv: NodeJS.ProcessEnv;
  let redis: Awaited<ReturnType<typeof startTlsRedis>> | undefined;
  let modules: Record<ModuleName, RunningService> | undefined;
  let firstSerial: string | undefined;

  before(async () => {
    env = await tlsTestEnv();
    dir = await mkdtemp(path.join(tmpdir(), 'artstore-redis-tls-'));
    cliEnv = { ...testEnv(env), AUDIT_SPOOL_DIR: path.join(dir, 'spool') };
  });
  after(async () => {
    await stopAll(Object.values(modules ?? {}));
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('when pki:issue runs for redis, then it writes a 0600 key and a server-only certificate for spiffe://artstore/redis that chains to the bundle', async () => {
    const out = path.join(dir, 'redis');
    const issued = await runPkiIssue(['--service', 'redis', '--dns', 'localhost', '--ip', '127.0.0.1', '--out', out], cliEnv);
    assert.equal(issued.code, 0, shownRun(issued));
    assert.equal(issued.answer?.issued, true);
    assert.equal(issued.answer?.spiffe_id, 'spiffe://artstore/redis');
    firstSerial = issued.answer?.serial_number;
    assert.equal((await stat(path.join(out, 'tls.key'))).mode & 0o777, 0o600);

    const [leaf, intermediate] = certificatesInPem(await readFile(path.join(out, 'tls.crt'), 'utf8'));
    assert.ok(leaf && intermediate, 'tls.crt holds the certificate and its intermediate');
    const names = leaf.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON();
    assert.deepEqual(names.map((name) => `${name.type}:${name.value}`).sort(), ['dns:localhost', 'ip:127.0.0.1', 'url:spiffe://artstore/redis']);
    assert.deepEqual([...leaf.getExtension(x509.ExtendedKeyUsageExtension)!.usages], [x509.ExtendedKeyUsage.serverAuth], 'no client use');
    const verified = await run('openssl', ['verify', '-CAfile', path.join(out, 'ca.pem'), '-untrusted', path.join(out, 'tls.crt'), path.join(out, 'tls.crt')]);
    assert.match(verified.stdout, /OK/);
    assert.equal(await readFile(path.join(out, 'ca.pem'), 'utf8'), await readFile(env.PKI_BUNDLE_FILE!, 'utf8'), 'the bundle goes to PKI_BUNDLE_FILE too');
  });

  it('when pki:issue is asked for a module identity, then it refuses and names the ones it issues', async () => {
    const refused = await runPkiIssue(['--service', 'ingester', '--dns', 'localhost', '--out', path.join(dir, 'ingester')], cliEnv);
    assert.equal(refused.code, 1, shownRun(refused));
    assert.match(refused.stderr, /--service must be redis or postgres\. ingester is a module/);
  });

  it('when Redis serves that certificate, then a client trusting the bundle connects and one trusting only the system CAs is refused', async () => {
    redis = await startTlsRedis(path.join(dir, 'redis'));
    assert.equal(await overTls(redis.url, await readFile(env.PKI_BUNDLE_FILE!, 'utf8'), (client) => client.ping()), 'PONG');
    await assert.rejects(
      overTls(redis.url, undefined, (client) => client.ping()),
      /self[- ]signed certificate in certificate chain|unable to get local issuer/i,
    );
  });

  it('when the modules run with REDIS_URL=rediss:// and TLS_CA_FILE, then they are ready and a file goes up and down with its audit events queued over TLS', async () => {
    modules = await startTlsModules({ ...env, REDIS_URL: redis!.url });
    const client = await bundleClient(env.PKI_BUNDLE_FILE!);
    try {
      for (const [name, service] of Object.entries(modules)) {
        const ready = await client.fetch(`${service.url}/ready`);
        assert.equal(ready.status, 200, `${name}: ${await ready.text()}`);
      }
      const token = { access_token: await adminTokenOver(client, modules.admin.url) };
      const uploaded = await uploadOver(client, modules.ingester.url, token.access_token, 'queued over rediss', 'rediss.txt');
      assert.equal(uploaded.status, 201, await uploaded.clone().text());
      const { id } = (await uploaded.json()) as { id: string };
      const downloaded = await client.fetch(`${modules.query.url}/api/v1/files/${id}/download`, { headers: { Authorization: `Bearer ${token.access_token}` } });
      assert.equal(await downloaded.text(), 'queued over rediss');
      const queued = await overTls(redis!.url, await readFile(env.PKI_BUNDLE_FILE!, 'utf8'), (client) => client.keys(`${env.BULLMQ_PREFIX}:audit-events:*`));
      assert.ok(queued.length > 0, 'the audit events went to the Redis served over TLS');

      const asRedis = await client.fetch(`${modules.admin.url}/api/v1/pki/certificates`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token.access_token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ csr: 'x', service: 'redis' }),
      });
      assert.equal(asRedis.status, 400, 'the HTTP endpoint never issues an infrastructure identity, even to an admin');
    } finally {
      await client.close();
    }
  });

  it('when pki:issue runs again with --if-due it leaves the certificate, and with --reload Redis serves the new one without a restart', async () => {
    const out = path.join(dir, 'redis');
    const cli = { ...cliEnv, REDIS_URL: redis!.url };
    const notDue = await runPkiIssue(['--service', 'redis', '--dns', 'localhost', '--ip', '127.0.0.1', '--out', out, '--if-due', '--reload'], cli);
    assert.equal(notDue.code, 0, shownRun(notDue));
    assert.deepEqual([notDue.answer?.issued, notDue.answer?.reason], [false, 'not due']);
    assert.equal(await servedSerial(redis!.port, env.PKI_BUNDLE_FILE!), firstSerial);

    const renewed = await runPkiIssue(['--service', 'redis', '--dns', 'localhost', '--ip', '127.0.0.1', '--out', out, '--reload'], cli);
    assert.equal(renewed.code, 0, shownRun(renewed));
    assert.equal(renewed.answer?.reload, 'reloaded');
    assert.notEqual(renewed.answer?.serial_number, firstSerial);
    assert.equal(await servedSerial(redis!.port, env.PKI_BUNDLE_FILE!), renewed.answer?.serial_number);

    const renamed = await runPkiIssue(['--service', 'redis', '--dns', 'redis', '--out', out, '--if-due'], cli);
    assert.deepEqual([renamed.answer?.issued, renamed.answer?.reason], [true, 'its names differ from the ones asked for'], shownRun(renamed));
  });
});
