import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { start as startQuery } from '../../services/query/app.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { start as startAdmin } from '../../services/admin/app.ts';
import { publicCertificateFiles } from '../support/client-certificates.ts';
import { testConfig } from '../support/infra.ts';
import { tlsTestEnv } from '../support/tls-modules.ts';
import { dockerDir } from './deploy-files.ts';

/** Runs a file with node as the container would, with only the given environment. */
function run(args: string[], env: Record<string, string>): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('exit', (status) => resolve({ status, output }));
  });
}

describe('container entry files', () => {
  let query: RunningService;
  before(async () => {
    query = await startQuery(testConfig('query'));
  });
  after(() => query?.stop());

  it('when the process answers /health, then the container healthcheck passes', async () => {
    const result = await run([path.join(dockerDir, 'healthcheck.mjs')], { PORT: String(query.port) });
    assert.equal(result.status, 0, result.output);
  });

  it('when nothing listens on the port or PORT is unset, then the container healthcheck fails', async () => {
    const stopped = await startQuery(testConfig('query'));
    await stopped.stop();
    const closed = await run([path.join(dockerDir, 'healthcheck.mjs')], { PORT: String(stopped.port) });
    assert.equal(closed.status, 1);
    const unset = await run([path.join(dockerDir, 'healthcheck.mjs')], {});
    assert.equal(unset.status, 1);
    assert.match(unset.output, /PORT is not set/);
  });

  it('when a module serves TLS 1.3, then the healthcheck passes over https trusting the bundle and fails trusting another one', async function () {
    this.timeout(60_000);
    const env = await tlsTestEnv();
    const admin = await startAdmin(testConfig('admin', env));
    try {
      const trusted = await run([path.join(dockerDir, 'healthcheck.mjs')], { PORT: String(admin.port), TLS_MODE: 'on', TLS_CA_FILE: env.TLS_CA_FILE! });
      assert.equal(trusted.status, 0, trusted.output);
      const other = await run([path.join(dockerDir, 'healthcheck.mjs')], {
        PORT: String(admin.port),
        TLS_MODE: 'on',
        TLS_CA_FILE: (await publicCertificateFiles('localhost')).certFile,
      });
      assert.equal(other.status, 1);
      assert.match(other.output, /certificate/);
    } finally {
      await admin.stop();
    }
  });

  it('when the migrate container has no usable database settings, then it exits 1 naming the variable and runs nothing', async () => {
    const migrate = ['--import', 'tsx', path.join(dockerDir, 'migrate-deploy.ts')];
    const none = await run(migrate, {});
    assert.equal(none.status, 1);
    assert.match(none.output, /DATABASE_URL: not set/);
    assert.doesNotMatch(none.output, /prisma migrate deploy on/);

    const dir = mkdtempSync(path.join(tmpdir(), 'artstore-migrate-'));
    try {
      const missing = await run(migrate, { POSTGRES_HOST: 'postgres', POSTGRES_PASSWORD_FILE: path.join(dir, 'postgres_password') });
      assert.equal(missing.status, 1);
      assert.match(missing.output, /POSTGRES_PASSWORD_FILE: cannot read secret file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
