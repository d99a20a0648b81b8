import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { descendantsOf, freePortBase, launcherEnv, stillRunning } from './support/dev-launcher.ts';
import { waitFor } from './support/wait-for.ts';

const repoRoot = path.resolve(import.meta.dirname, '..');
const MODULE_PORT_OFFSETS = { admin: 0, 'storage-element': 10, ingester: 20, query: 30 };

async function healthStatus(port: number): Promise<number | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(1000) });
    return response.status;
  } catch {
    return undefined;
  }
}

describe('development launcher (npm start)', function () {
  this.timeout(100_000);

  let dataDir: string;
  let portBase: number;
  let launcher: ChildProcess;
  let output = '';
  const startedPids = new Set<number>();

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'artstore-dev-launcher-'));
    portBase = await freePortBase();
    // `--logs`: the processes' output live on this terminal (the first-hour test covers the default, files).
    const env = launcherEnv({ ARTSTORE_DATA_DIR: dataDir, ARTSTORE_PORT_BASE: String(portBase), LOG_LEVEL: 'info' });
    launcher = spawn(process.execPath, ['--import', 'tsx', 'scripts/dev.ts', '--logs'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    launcher.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    launcher.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  });

  after(async function () {
    this.timeout(30_000);
    if (launcher.exitCode === null && launcher.signalCode === null) {
      launcher.kill('SIGINT');
      await Promise.race([new Promise((resolve) => launcher.once('exit', resolve)), sleep(15_000)]);
    }
    // Only if a test failed: never leave this run's servers behind.
    for (const pid of await stillRunning([...startedPids])) process.kill(pid, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it('when started with an empty data directory, then all four modules answer /health within 60 s', async () => {
    const healthStatuses = () => {
      assert.equal(launcher.exitCode, null, `the launcher exited early:\n${output}`);
      return Promise.all(Object.values(MODULE_PORT_OFFSETS).map((offset) => healthStatus(portBase + offset)));
    };
    const statuses = await waitFor(healthStatuses, {
      until: (all) => all.every((status) => status === 200),
      timeoutMs: 60_000,
      intervalMs: 500,
      message: (all) => `all four modules healthy (${all.join(', ')}); launcher output:\n${output}`,
    });
    assert.deepEqual(statuses, [200, 200, 200, 200], `modules not healthy after 60 s; launcher output:\n${output}`);

    for (const pid of await descendantsOf(launcher.pid!)) startedPids.add(pid);
    for (const match of output.matchAll(/^\[dev\] started .*\(pid (\d+)\)/gm)) startedPids.add(Number(match[1]));
    // Six processes, PostgreSQL and Redis at least (PostgreSQL adds its own helpers).
    assert.ok(startedPids.size >= 8, `expected at least 8 processes, found ${startedPids.size}`);
    // The audit writer and maintenance worker got their own digest key-encryption key, not the JWT one.
    const kek = (name: string) => readFile(path.join(dataDir, 'secrets', name), 'utf8').then((text) => text.trim());
    assert.match(await kek('audit_digest_key_encryption_key'), /^[0-9a-f]{64}$/);
    assert.notEqual(await kek('audit_digest_key_encryption_key'), await kek('jwt_key_encryption_key'));
  });

  it('when started with --logs, then every process logs its JSON lines live on the terminal, the summary says so, and no log file is written', async () => {
    await waitFor(() => /Ctrl-C stops everything\.\n─+\n/.test(output), {
      timeoutMs: 60_000,
      intervalMs: 250,
      message: () => `the summary; output so far:\n${output}`,
    });
    const services = new Set(
      output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => (JSON.parse(line) as { service?: string }).service),
    );
    for (const service of ['admin', 'storage-element', 'ingester', 'query', 'audit-writer', 'maintenance']) {
      assert.ok(services.has(service), `JSON lines of ${service} on the terminal (seen: ${[...services].join(', ')})`);
    }
    assert.match(output, /logs +shown above, live \(--logs\)/);
    assert.equal(await readdir(path.join(dataDir, 'logs')).catch(() => 'none'), 'none', 'no log directory');
  });

  it('when the launcher receives SIGINT, then it exits 0 within 10 s and no process it started is left running', async () => {
    assert.ok(startedPids.size > 0, 'the start-up test did not run');
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      launcher.once('exit', (code, signal) => resolve({ code, signal })),
    );
    launcher.kill('SIGINT');
    const result = await Promise.race([exited, sleep(10_000).then(() => undefined)]);

    assert.ok(result, `the launcher did not exit within 10 s; output:\n${output}`);
    assert.deepEqual(result, { code: 0, signal: null }, `launcher output:\n${output}`);
    assert.deepEqual(await stillRunning([...startedPids]), [], 'processes left running after the launcher exited');
  });
});
