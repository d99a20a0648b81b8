import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { applyMigrations } from '../../scripts/db/migrations.ts';
import { loadDatabaseUrl, type Env } from '../../services/platform/config/index.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { certificatesInPem } from '../../services/platform/tls/x509.ts';
import { isolatedPrefix, testConfig, testInfra, TEST_SECRETS } from '../support/infra.ts';
import { MODULES } from '../support/modules.ts';
import { runPkiIssue, shownRun } from '../support/pki-issue.ts';
import { startPostgresAwaitingCertificate } from '../support/tls-postgres-server.ts';
import { waitFor } from '../support/wait-for.ts';

const run = promisify(execFile);

/**
 * PostgreSQL over TLS as the production compose file sets it up: the server starts before its
 * certificate exists, `npm run pki:issue` (over the Unix socket, holding the CA key) issues it and
 * turns ssl on with a reload, and clients connect with sslmode=verify-full against the bundle.
 */
describe('PostgreSQL over TLS with a certificate from the internal CA', function () {
  this.timeout(120_000);
  let dir: string;
  let certDir: string;
  let server: Awaited<ReturnType<typeof startPostgresAwaitingCertificate>> | undefined;
  let admin: RunningService | undefined;
  const pkiKey = randomBytes(32).toString('hex');

  /** The database URL as a module builds it from POSTGRES_* (here with no password: the cluster trusts local users). */
  const databaseUrl = (overrides: Env) =>
    loadDatabaseUrl({ POSTGRES_PORT: String(server!.port), POSTGRES_USER: 'postgres', POSTGRES_DB: 'postgres', ...overrides }).reveal();
  const sessionTls = async (url: string) => {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
    client.on('error', () => {});
    await client.connect();
    try {
      return (await client.query<{ ssl: boolean; version: string | null }>('SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0];
    } finally {
      await client.end();
    }
  };
  const issue = (extra: string[]) =>
    runPkiIssue(['--service', 'postgres', '--dns', 'localhost', '--out', certDir, '--owner', server!.owner, ...extra], {
      ENVIRONMENT: 'test',
      LOG_LEVEL: 'warn',
      POSTGRES_HOST: server!.socketDir,
      POSTGRES_PORT: String(server!.port),
      POSTGRES_USER: 'postgres',
      POSTGRES_DB: 'postgres',
      REDIS_URL: testInfra().redisUrl,
      BULLMQ_PREFIX: isolatedPrefix('pg-tls'),
      AUDIT_SPOOL_DIR: path.join(dir, 'spool'),
      PKI_KEY_ENCRYPTION_KEY: pkiKey,
      ...TEST_SECRETS,
    });
  const servedSerial = async () => {
    const client = run('openssl', ['s_client', '-starttls', 'postgres', '-connect', `127.0.0.1:${server!.port}`], { timeout: 10_000 });
    client.child.stdin?.end();
    return certificatesInPem((await client).stdout)[0]?.serialNumber;
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'artstore-pg-tls-'));
    await chmod(dir, 0o755); // the server runs as the postgres user
    certDir = path.join(dir, 'pki');
    server = await startPostgresAwaitingCertificate(path.join(dir, 'cluster'), certDir);
    await applyMigrations(databaseUrl({ POSTGRES_HOST: server.socketDir }));
  });
  after(async () => {
    await admin?.stop();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('when pki:issue --reload runs over the socket of a server without TLS, then the server serves TLS 1.3 with its new certificate', async () => {
    assert.equal((await sessionTls(databaseUrl({ POSTGRES_HOST: 'localhost' })))?.ssl, false, 'no TLS before the certificate');
    const issued = await issue(['--reload']);
    assert.equal(issued.code, 0, shownRun(issued));
    assert.equal(issued.answer?.spiffe_id, 'spiffe://artstore/postgres');
    assert.equal(issued.answer?.reload, 'ssl_turned_on');
    const verified = databaseUrl({ POSTGRES_HOST: 'localhost', POSTGRES_SSLMODE: 'verify-full', TLS_CA_FILE: path.join(certDir, 'ca.pem') });
    assert.match(verified, /sslmode=verify-full&sslrootcert=/);
    const session = await waitFor(() => sessionTls(verified).catch(() => undefined), { timeoutMs: 10_000, message: 'a verify-full session' });
    assert.deepEqual(session, { ssl: true, version: 'TLSv1.3' });
    assert.equal(await servedSerial(), issued.answer?.serial_number);
  });

  it('when a client asks for verify-full by a name the certificate lacks, or trusts another CA, then the connection is refused', async () => {
    const caFile = path.join(certDir, 'ca.pem');
    await assert.rejects(
      sessionTls(databaseUrl({ POSTGRES_HOST: '127.0.0.1', POSTGRES_SSLMODE: 'verify-full', TLS_CA_FILE: caFile })),
      /does not match certificate's altnames/,
    );
    await assert.rejects(
      sessionTls(databaseUrl({ POSTGRES_HOST: 'localhost', POSTGRES_SSLMODE: 'verify-full' })),
      /unable to get local issuer certificate|self[- ]signed certificate in certificate chain/,
    );
  });

  it('when a module runs with POSTGRES_SSLMODE=verify-full, then it is ready over TLS; a renewal with --reload is served to new sessions at once', async () => {
    const env: Env = {
      DATABASE_URL: databaseUrl({ POSTGRES_HOST: 'localhost', POSTGRES_SSLMODE: 'verify-full', TLS_CA_FILE: path.join(certDir, 'ca.pem') }),
      BULLMQ_PREFIX: isolatedPrefix('pg-tls'),
    };
    admin = await MODULES.admin(testConfig('admin', env));
    const ready = await fetch(`${admin.url}/ready`);
    assert.equal(ready.status, 200, await ready.text());

    const renewed = await issue(['--reload']);
    assert.equal(renewed.code, 0, shownRun(renewed));
    assert.equal(renewed.answer?.reload, 'reloaded');
    await waitFor(async () => (await servedSerial()) === renewed.answer?.serial_number, { timeoutMs: 10_000, message: 'the renewed certificate served' });
    assert.equal((await fetch(`${admin.url}/ready`)).status, 200);
  });
});
