import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { pickPort } from '../scripts/embedded/process-control.ts';
import { start } from '../services/query/app.ts';
import type { RunningService } from '../services/platform/runtime.ts';
import { testConfig } from './support/infra.ts';
import { waitFor } from './support/wait-for.ts';

/** A private redis-server, so the test can stop it without touching anyone else's. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const ready = () => {
    if (child.exitCode !== null) throw new Error(`redis-server exited before it was ready: ${out}`);
    return out.includes('Ready to accept connections');
  };
  await waitFor(ready, { message: () => `redis-server to accept connections: ${out}` });
  return child;
}

const waitForStatus = (url: string, status: number) =>
  waitFor(async () => (await fetch(url)).status, {
    until: (last) => last === status,
    timeoutMs: 15_000,
    intervalMs: 100,
    message: (last) => `${url} to answer ${status} (last ${last})`,
  });

describe('readiness', () => {
  let redis: ChildProcess | undefined;
  let service: RunningService | undefined;
  afterEach(async () => {
    await service?.stop();
    redis?.kill('SIGKILL');
  });

  it('when Redis stops, then /ready turns 503 naming it, and 200 again when Redis is back', async function () {
    this.timeout(60_000);
    const port = await pickPort(0);
    redis = await startRedis(port);
    service = await start(testConfig('query', { REDIS_URL: `redis://127.0.0.1:${port}/0` }));
    const ready = `${service.url}/ready`;
    assert.equal(await waitForStatus(ready, 200), 200);

    redis.kill('SIGTERM');
    await once(redis, 'exit');
    assert.equal(await waitForStatus(ready, 503), 503);
    const body = (await (await fetch(ready)).json()) as { error: { code: string; message: string }; checks: Record<string, string> };
    assert.equal(body.error.code, 'not_ready');
    assert.match(body.checks.redis ?? '', /unreachable/);
    assert.equal(body.checks.database, 'ok');

    redis = await startRedis(port);
    assert.equal(await waitForStatus(ready, 200), 200);
  });

  it('when PostgreSQL is unreachable, then /ready answers 503 naming the database', async function () {
    this.timeout(30_000);
    const port = await pickPort(0);
    service = await start(testConfig('query', { DATABASE_URL: `postgresql://postgres@127.0.0.1:${port}/none` }));
    const res = await fetch(`${service.url}/ready`);
    assert.equal(res.status, 503);
    const body = (await res.json()) as { checks: Record<string, string> };
    assert.match(body.checks.database ?? '', /unreachable/);
    assert.equal(body.checks.redis, 'ok');
  });
});
