import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Env } from '../../services/platform/config/index.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { pickPort } from '../../scripts/embedded/process-control.ts';
import { foreignAuthority } from '../support/client-certificates.ts';
import { testConfig, testInfra } from '../support/infra.ts';
import { MODULES, stopAll } from '../support/modules.ts';
import { startRedisProxy, type RedisProxy } from '../support/redis-proxy.ts';
import { bundleClient, tlsTestEnv } from '../support/tls-modules.ts';

/** Whether a start-up is still going after `ms`: it has neither listened nor failed. */
async function stillStarting(starting: Promise<unknown>, ms: number): Promise<boolean> {
  const PENDING = Symbol('pending');
  const settled = starting.then(
    () => 'started',
    () => 'failed',
  );
  return (await Promise.race([settled, sleep(ms, PENDING)])) === PENDING;
}

/** The serial of the certificate a listener presents, verified against the bundle. */
async function servedSerial(url: string, bundleFile: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const ca = await readFile(bundleFile, 'utf8');
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: hostname, port: Number(port), ca, servername: 'localhost', minVersion: 'TLSv1.3' }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

describe('a process’s first certificate', function () {
  this.timeout(90_000);
  let env: Env;
  let proxy: RedisProxy;
  let admin: RunningService | undefined;
  const started: RunningService[] = [];
  /** Admin's Redis goes through the proxy, and an issuance it cannot record is refused (fail-closed). */
  const startAdmin = async (port = '0', overrides: Env = {}) => {
    admin = await MODULES.admin(testConfig('admin', { ...env, REDIS_URL: proxy.url, AUDIT_DELIVERY: 'fail-closed', PORT: port, ...overrides }));
    return admin;
  };
  const startQuery = (overrides: Env = {}) =>
    MODULES.query(testConfig('query', { ...env, ADMIN_URL: admin!.url, ...overrides })).then((query) => {
      started.push(query);
      return query;
    });

  before(async () => {
    env = await tlsTestEnv();
    proxy = await startRedisProxy(testInfra().redisUrl);
    await startAdmin();
  });
  afterEach(() => proxy.restore());
  after(async () => {
    await stopAll([...started, admin]);
    await proxy?.close();
  });

  it('when admin cannot record the issuance (its Redis is away), then a starting module waits for it and starts once it can', async () => {
    proxy.cut();
    const client = await bundleClient(env.PKI_BUNDLE_FILE!);
    const { clientId, clientSecret } = testConfig('query', env).storage.client;
    try {
      const refused = await client.fetch(`${admin!.url}/api/v1/auth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: clientId, client_secret: clientSecret!.reveal() }),
      });
      assert.equal(refused.status, 503, 'admin refuses a token it cannot record');
    } finally {
      await client.close();
    }
    const starting = startQuery();
    assert.ok(await stillStarting(starting, 3000), 'the module is still waiting for its certificate, not failed');
    proxy.restore();
    const query = await starting;
    assert.match(await servedSerial(query.url, env.PKI_BUNDLE_FILE!), /^[0-9A-F]+$/);
  });

  it('when admin is away at start, then a starting module waits for it and starts once it is back', async () => {
    const port = String(admin!.port);
    await admin!.stop();
    const starting = startQuery();
    assert.ok(await stillStarting(starting, 3000), 'the module is still waiting for admin, not failed');
    await startAdmin(port);
    const query = await starting;
    assert.match(await servedSerial(query.url, env.PKI_BUNDLE_FILE!), /^[0-9A-F]+$/);
  });

  it('when admin stays away past TLS_STARTUP_WAIT_SECONDS, then start-up gives up after retrying, with the reason', async () => {
    const closedPort = await pickPort(0);
    const started = performance.now();
    await assert.rejects(startQuery({ ADMIN_URL: `https://127.0.0.1:${closedPort}`, TLS_STARTUP_WAIT_SECONDS: '2' }), (err: Error) => {
      assert.equal((err.cause as NodeJS.ErrnoException | undefined)?.code, 'ECONNREFUSED', String(err));
      return true;
    });
    assert.ok(performance.now() - started >= 2000, 'it waited for admin until the deadline');
  });

  it('when TLS_CA_FILE does not verify admin, then start-up fails at once rather than waiting', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'artstore-foreign-ca-'));
    const foreignBundle = path.join(dir, 'ca.pem');
    await writeFile(foreignBundle, (await foreignAuthority()).rootPem);
    await assert.rejects(startQuery({ TLS_CA_FILE: foreignBundle, TLS_STARTUP_WAIT_SECONDS: '600' }), (err: Error) => {
      assert.match(String((err.cause as Error | undefined)?.message), /certificate/, String(err));
      return true;
    });
  }).timeout(30_000);

  it('when its module-to-module secret is wrong, then start-up fails at once with admin’s 401 rather than waiting', async () => {
    const starting = startQuery({ STORAGE_CLIENT_SECRET: 'not-the-secret-not-the-secret-not-the-secret', TLS_STARTUP_WAIT_SECONDS: '600' });
    await assert.rejects(starting, /token request: HTTP 401/);
  }).timeout(30_000);

  describe('while failed attempts from its address have locked its client', () => {
    const LOCK_SECONDS = 3;
    /** Admin, restarted with a short lock after two failures, and the module client locked from this address. */
    const lockModuleClient = async () => {
      const port = String(admin!.port);
      await admin!.stop();
      await startAdmin(port, { AUTH_LOCK_AFTER_FAILURES: '2', AUTH_LOCK_SECONDS: String(LOCK_SECONDS) });
      const client = await bundleClient(env.PKI_BUNDLE_FILE!);
      const { clientId } = testConfig('query', env).storage.client;
      const guess = () =>
        client.fetch(`${admin!.url}/api/v1/auth/token`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ client_id: clientId, client_secret: 'a-wrong-guess-a-wrong-guess-a-wrong-guess' }),
        });
      // Earlier tests' failures from this address may already count: guess until locked.
      try {
        const answers: number[] = [];
        while (answers.at(-1) !== 429 && answers.length < 3) answers.push((await guess()).status);
        assert.equal(answers.at(-1), 429, `guesses lock the client at this address (${answers.join(', ')})`);
      } finally {
        await client.close();
      }
    };

    it('when the lock ends before TLS_STARTUP_WAIT_SECONDS, then a starting module waits it out and starts', async () => {
      await lockModuleClient();
      const query = await startQuery();
      assert.match(await servedSerial(query.url, env.PKI_BUNDLE_FILE!), /^[0-9A-F]+$/);
    });

    it('when the lock outlasts TLS_STARTUP_WAIT_SECONDS, then start-up fails at once with admin’s 429 and what it may mean', async () => {
      await lockModuleClient();
      await assert.rejects(startQuery({ TLS_STARTUP_WAIT_SECONDS: '1' }), /token request: HTTP 429 .*STORAGE_CLIENT_SECRET/);
    });
  });
});
