import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { descendantsOf, freePortBase, launcherEnv, stillRunning } from './support/dev-launcher.ts';
import { docBlock } from './support/doc-blocks.ts';
import { waitFor } from './support/wait-for.ts';

/**
 * A new operator's first hour, as one `npm start` with nothing configured: the command lines in
 * another terminal with nothing exported, the README's first requests, a terminal that still shows
 * the summary at the end, the processes' logs in files, and a Ctrl-C that leaves nothing behind.
 */
const repoRoot = path.resolve(import.meta.dirname, '..');
const SUMMARY_END = /Ctrl-C stops everything\.\n─+\n$/;
const PROCESS_LOGS = ['admin', 'storage-element-hot', 'storage-element-archive', 'ingester', 'query', 'audit-writer', 'maintenance'];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command` to its end with exactly `env` (nothing inherited), in the repository. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: repoRoot, env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

const shown = (result: Run) => `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;

/** A key anywhere in `value` that is not snake_case. */
function camelCaseKey(value: unknown): string | undefined {
  if (Array.isArray(value)) return value.map(camelCaseKey).find(Boolean);
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, inner] of Object.entries(value)) {
    if (/[A-Z]/.test(key)) return key;
    const found = camelCaseKey(inner);
    if (found) return found;
  }
  return undefined;
}

describe('the first hour: npm start, the command lines and the README with nothing configured', function () {
  this.timeout(120_000);

  let dataDir: string;
  let workDir: string;
  let portBase: number;
  let launcher: ChildProcess;
  let terminal = '';
  const startedPids = new Set<number>();
  /** What a new user's second terminal has: no DATABASE_URL, no secret, nothing but where npm start keeps its data. */
  const emptyEnv = () => ({ PATH: process.env.PATH, HOME: process.env.HOME ?? os.homedir(), ARTSTORE_DATA_DIR: dataDir });
  const npmRun = (script: string, args: string[], env: NodeJS.ProcessEnv = emptyEnv()) => run('npm', ['run', '-s', script, '--', ...args], env);

  before(async function () {
    this.timeout(120_000);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'artstore-first-hour-'));
    workDir = await mkdtemp(path.join(os.tmpdir(), 'artstore-first-hour-work-'));
    portBase = await freePortBase();
    const env = launcherEnv({ ARTSTORE_DATA_DIR: dataDir, ARTSTORE_PORT_BASE: String(portBase), LOG_LEVEL: 'info' });
    launcher = spawn(process.execPath, ['--import', 'tsx', 'scripts/dev.ts'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    launcher.stdout!.on('data', (chunk: Buffer) => (terminal += chunk.toString('utf8')));
    launcher.stderr!.on('data', (chunk: Buffer) => (terminal += chunk.toString('utf8')));
    await waitFor(
      () => {
        assert.equal(launcher.exitCode, null, `npm start exited before its summary:\n${terminal}`);
        return SUMMARY_END.test(terminal);
      },
      { timeoutMs: 90_000, intervalMs: 250, message: () => `the summary of npm start; the terminal so far:\n${terminal}` },
    );
    for (const pid of await descendantsOf(launcher.pid!)) startedPids.add(pid);
    for (const match of terminal.matchAll(/^\[dev\] started .*\(pid (\d+)\)/gm)) startedPids.add(Number(match[1]));
  });

  after(async function () {
    this.timeout(30_000);
    if (launcher && launcher.exitCode === null && launcher.signalCode === null) {
      launcher.kill('SIGINT');
      await Promise.race([new Promise((resolve) => launcher.once('exit', resolve)), sleep(15_000)]);
    }
    // Only if a test failed: never leave this run's servers behind.
    for (const pid of await stillRunning([...startedPids])) process.kill(pid, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
    await rm(workDir, { recursive: true, force: true });
  });

  it('when keys:rotate runs with only ARTSTORE_DATA_DIR set, then it rotates the running system’s keys and prints the API’s snake_case JSON', async () => {
    const result = await npmRun('keys:rotate', ['--json']);
    assert.equal(result.code, 0, shown(result));
    assert.equal(result.stdout.trim().split('\n').length, 1, `--json prints one line:\n${result.stdout}`);
    const answer = JSON.parse(result.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(answer), ['rotated', 'active_kid', 'next_kid', 'retired_kids']);
    assert.equal(answer.rotated, true);
    assert.match(result.stderr, new RegExp(`settings \`npm start\` left in ${path.join(dataDir, 'dev-settings.json')}`));
    const jwks = (await (await fetch(`http://127.0.0.1:${portBase}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    assert.ok(
      jwks.keys.some((key) => key.kid === answer.active_kid),
      'the running admin module publishes the key the command made active',
    );
  });

  it('when audit:digest-keys:rotate and audit:verify run with only ARTSTORE_DATA_DIR set, then both succeed with snake_case JSON', async () => {
    const digests = await npmRun('audit:digest-keys:rotate', ['--json']);
    assert.equal(digests.code, 0, shown(digests));
    const rotated = JSON.parse(digests.stdout) as Record<string, unknown>;
    assert.equal(rotated.rotated, true);
    assert.equal(typeof rotated.active_kid, 'string');
    assert.equal(camelCaseKey(rotated), undefined);

    const verify = await npmRun('audit:verify', ['--json']);
    assert.equal(verify.code, 0, shown(verify));
    const report = JSON.parse(verify.stdout) as { ok: boolean; records_checked: number };
    assert.equal(report.ok, true);
    assert.ok(report.records_checked > 0, 'the rotations above are audit records');
    assert.equal(camelCaseKey(report), undefined);
    assert.match(verify.stderr, /audit:verify: intact/);
  });

  it('when db:migrate runs with only ARTSTORE_DATA_DIR set, then it reaches npm start’s database and finds every migration applied', async () => {
    const result = await npmRun('db:migrate', []);
    assert.equal(result.code, 0, shown(result));
    assert.match(result.stdout, /^Applying migrations to postgresql:\/\/[^\n]*127\.0\.0\.1:\d+\//m);
    assert.match(result.stdout, /^No pending migrations to apply\.$/m);
    assert.match(result.stderr, new RegExp(`settings \`npm start\` left in ${path.join(dataDir, 'dev-settings.json')}`));
  });

  it('when ENVIRONMENT=production, then a command line ignores the development settings and lists every variable it misses', async () => {
    for (const environment of ['production', 'staging']) {
      const result = await npmRun('keys:rotate', ['--json'], { ...emptyEnv(), ENVIRONMENT: environment });
      assert.equal(result.code, 1, shown(result));
      assert.equal(result.stdout, '');
      assert.doesNotMatch(result.stderr, /using the settings/);
      for (const variable of ['DATABASE_URL', 'REDIS_URL', 'JWT_KEY_ENCRYPTION_KEY', 'AUDIT_LOG_SECRET_KEY', 'AUDIT_DIGEST_KEY_ENCRYPTION_KEY']) {
        assert.match(result.stderr, new RegExp(`^  ${variable}: `, 'm'), `${environment}: ${variable} listed`);
      }
      assert.match(result.stderr, new RegExp(`With ENVIRONMENT=${environment} the development settings of \`npm start\` are never used`));
    }
  });

  it('when the README’s first requests run, then they get a token, upload a file, find it, download the same bytes and verify the audit log', async () => {
    const env = { ...emptyEnv(), ARTSTORE_PORT_BASE: String(portBase), TMPDIR: workDir };
    const result = await run('bash', ['-c', `set -euo pipefail\n${docBlock('README.md', 'first-requests')}`], env, 90_000);
    assert.equal(result.code, 0, shown(result));

    assert.match(result.stdout, /^token: eyJ/m);
    const fileId = /^uploaded: ([0-9a-f-]{36})$/m.exec(result.stdout)?.[1];
    assert.ok(fileId, `an uploaded file id:\n${result.stdout}`);
    const found = result.stdout
      .split('\n')
      .filter((line) => line.startsWith('{"id"'))
      .map((line) => JSON.parse(line) as { id: string; original_name: string });
    assert.ok(
      found.some((file) => file.id === fileId && file.original_name === 'hello.txt'),
      `the search finds the upload:\n${result.stdout}`,
    );
    assert.match(result.stdout, /^downloaded: the same bytes$/m);
    // Only the block's mktemp -d directory: on Node 22 and later npm also keeps its compile cache
    // (node-compile-cache) in TMPDIR.
    const work = (await readdir(workDir)).find((name) => name.startsWith('tmp.'));
    assert.deepEqual(await readFile(path.join(workDir, work!, 'downloaded.txt')), await readFile(path.join(workDir, work!, 'hello.txt')));
    assert.match(result.stderr, /audit:verify: intact/);
    assert.match(result.stdout, new RegExp(`^Bull Board: http://127\\.0\\.0\\.1:${portBase}/admin/login$`, 'm'));
  });

  it('when the token request of docs/KEY_ROTATION.md runs, then it answers an access token', async () => {
    const result = await run('bash', ['-c', `set -euo pipefail\n${docBlock('KEY_ROTATION.md', 'token-request')}`], {
      ...emptyEnv(),
      ARTSTORE_PORT_BASE: String(portBase),
    });
    assert.equal(result.code, 0, shown(result));
    assert.match((JSON.parse(result.stdout) as { access_token: string }).access_token, /^eyJ/);
  });

  it('when all that has run, then the summary is still the last thing on the terminal, its commands work, and each process logs JSON lines to its own file', async () => {
    const summaryAt = terminal.lastIndexOf('ArtStore is running (development)');
    assert.ok(summaryAt > 0 && SUMMARY_END.test(terminal), `the terminal ends with the summary:\n${terminal}`);
    assert.doesNotMatch(terminal, /^\{/m, 'no JSON log line on the terminal');
    assert.doesNotMatch(terminal, /Memory overcommit/, 'no Redis warning on the terminal');
    const summary = terminal.slice(summaryAt);
    const logDir = path.join(dataDir, 'logs');
    assert.ok(summary.includes(`${logDir}${path.sep}`), `the summary names ${logDir}:\n${summary}`);
    assert.ok(summary.includes(`http://127.0.0.1:${portBase}/admin/login`), 'the summary gives the Bull Board login');

    // The token request the summary prints, run as printed.
    const curl = /^ {4}(curl [^\n]*\\\n[^\n]*)$/m.exec(summary)?.[1];
    assert.ok(curl, `a token request in the summary:\n${summary}`);
    const token = await run('bash', ['-c', curl], emptyEnv());
    assert.equal(token.code, 0, shown(token));
    assert.match((JSON.parse(token.stdout) as { access_token: string }).access_token, /^eyJ/);

    for (const name of PROCESS_LOGS) {
      const lines = (await readFile(path.join(logDir, `${name}.log`), 'utf8')).split('\n').filter(Boolean);
      const json = lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { service?: string });
      assert.ok(json.length > 0 && json.every((entry) => typeof entry.service === 'string'), `${name}.log holds the process's JSON lines`);
    }
    assert.match(await readFile(path.join(logDir, 'redis.log'), 'utf8'), /Redis/);
    assert.match(await readFile(path.join(logDir, 'postgres.log'), 'utf8'), /ready to accept connections/);
    assert.match(await readFile(path.join(logDir, 'migrate.log'), 'utf8'), /migration/);
  });

  it('when npm start receives SIGINT, then it exits 0, leaves no process behind, and a command line then says npm start is not running', async () => {
    assert.ok(startedPids.size >= 8, `npm start's processes were found (${startedPids.size})`);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      launcher.once('exit', (code, signal) => resolve({ code, signal })),
    );
    launcher.kill('SIGINT');
    const result = await Promise.race([exited, sleep(15_000).then(() => undefined)]);
    assert.deepEqual(result, { code: 0, signal: null }, `npm start's terminal:\n${terminal}`);
    assert.deepEqual(await stillRunning([...startedPids]), [], 'processes left running after npm start exited');

    const started = Date.now();
    const rotate = await npmRun('keys:rotate', []);
    assert.equal(rotate.code, 1, shown(rotate));
    assert.match(rotate.stderr, /cannot connect to PostgreSQL at 127\.0\.0\.1:\d+ \(ECONNREFUSED\).*is `npm start` running\?/);
    assert.ok(Date.now() - started < 20_000, 'it fails at once rather than waiting');
  });
});
