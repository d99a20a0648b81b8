import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { descendantsOf, freePortBase, launcherEnv, stillRunning } from './support/dev-launcher.ts';
import { docBlock } from './support/doc-blocks.ts';
import { waitFor } from './support/wait-for.ts';

/**
 * `ARTSTORE_TLS=1 npm start`, as an operator trying TLS: every process on https, the summary's curl
 * with --cacert, the README's TLS requests, the command lines with nothing exported, and Ctrl-C.
 */
const repoRoot = path.resolve(import.meta.dirname, '..');
const SUMMARY_END = /Ctrl-C stops everything\.\n─+\n$/;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: repoRoot, env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

const shown = (result: Run) => `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;

describe('npm start with ARTSTORE_TLS=1: the whole system over TLS 1.3', function () {
  this.timeout(120_000);

  let dataDir: string;
  let workDir: string;
  let portBase: number;
  let launcher: ChildProcess;
  let terminal = '';
  const startedPids = new Set<number>();
  const emptyEnv = () => ({ PATH: process.env.PATH, HOME: process.env.HOME ?? os.homedir(), ARTSTORE_DATA_DIR: dataDir });
  const bundle = () => path.join(dataDir, 'pki', 'ca.pem');

  before(async function () {
    this.timeout(120_000);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'artstore-tls-start-'));
    workDir = await mkdtemp(path.join(os.tmpdir(), 'artstore-tls-start-work-'));
    portBase = await freePortBase();
    const env = launcherEnv({ ARTSTORE_DATA_DIR: dataDir, ARTSTORE_PORT_BASE: String(portBase), ARTSTORE_TLS: '1', LOG_LEVEL: 'info' });
    for (const name of ['TLS_MODE', 'TLS_CA_FILE', 'PKI_BUNDLE_FILE', 'PKI_KEY_ENCRYPTION_KEY', 'PKI_KEY_ENCRYPTION_KEY_FILE']) delete env[name];
    launcher = spawn(process.execPath, ['--import', 'tsx', 'scripts/dev.ts'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    launcher.stdout!.on('data', (chunk: Buffer) => (terminal += chunk.toString('utf8')));
    launcher.stderr!.on('data', (chunk: Buffer) => (terminal += chunk.toString('utf8')));
    await waitFor(
      () => {
        assert.equal(launcher.exitCode, null, `npm start exited before its summary:\n${terminal}`);
        return SUMMARY_END.test(terminal);
      },
      { timeoutMs: 100_000, intervalMs: 250, message: () => `the summary of npm start; the terminal so far:\n${terminal}` },
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
    for (const pid of await stillRunning([...startedPids])) process.kill(pid, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
    await rm(workDir, { recursive: true, force: true });
  });

  it('when the summary is printed, then every process is on https, admin started first, and its token request with --cacert works as printed', async () => {
    const summary = terminal.slice(terminal.lastIndexOf('ArtStore is running'));
    assert.match(summary, /ArtStore is running \(development, TLS on\)/);
    assert.doesNotMatch(summary, /http:\/\/127/, `no plain http URL:\n${summary}`);
    assert.ok(summary.includes(bundle()), `the summary names the bundle:\n${summary}`);
    const adminAt = terminal.indexOf('[dev] started admin');
    assert.ok(adminAt >= 0 && adminAt < terminal.indexOf('[dev] started ingester'), 'admin starts before the others');

    const curl = /^ {4}(curl [^\n]*\\\n[^\n]*)$/m.exec(summary)?.[1];
    assert.ok(curl?.includes(`--cacert ${bundle()}`), `a token request with --cacert in the summary:\n${summary}`);
    const token = await run('bash', ['-c', curl!], emptyEnv());
    assert.equal(token.code, 0, shown(token));
    assert.match((JSON.parse(token.stdout) as { access_token: string }).access_token, /^eyJ/);
  });

  it('when the README’s TLS requests run, then a token, an upload and a download go over https with --cacert', async () => {
    const env = { ...emptyEnv(), ARTSTORE_PORT_BASE: String(portBase), TMPDIR: workDir };
    const result = await run('bash', ['-c', `set -euo pipefail\n${docBlock('README.md', 'first-requests-tls')}`], env, 90_000);
    assert.equal(result.code, 0, shown(result));
    assert.match(result.stdout, /^downloaded over TLS: the same bytes$/m);
  });

  it('when an admin logs in at the console over https, then the session cookie is a __Host- cookie marked Secure, HttpOnly and SameSite=Strict, and it opens the board', async () => {
    const summary = terminal.slice(terminal.lastIndexOf('ArtStore is running'));
    const clientId = /client_id\\":\\"([^\\]+)\\"/.exec(summary)?.[1];
    const secretFile = /\$\(cat ([^)]+)\)/.exec(summary)?.[1];
    assert.ok(clientId && secretFile, `the admin client in the summary:\n${summary}`);
    const secret = (await readFile(path.resolve(repoRoot, secretFile), 'utf8')).trim();
    const origin = `https://127.0.0.1:${portBase}`;
    const login = await run(
      'curl',
      [
        '-sS',
        '--cacert',
        bundle(),
        '-o',
        '/dev/null',
        '-D',
        '-',
        '-H',
        `Origin: ${origin}`,
        '--data-urlencode',
        `client_id=${clientId}`,
        '--data-urlencode',
        `client_secret=${secret}`,
        `${origin}/admin/login`,
      ],
      emptyEnv(),
    );
    assert.equal(login.code, 0, shown(login));
    assert.match(login.stdout, /^HTTP\/[\d.]+ 303/);
    const setCookie = /^set-cookie: ([^\r\n]+)/im.exec(login.stdout)?.[1];
    assert.ok(setCookie, `a session cookie:\n${login.stdout}`);
    const attributes = setCookie.split(';').map((part) => part.trim().toLowerCase());
    assert.match(setCookie, /^__Host-[\w-]+=[^;]+;/, 'a __Host- cookie: only ever sent back to this host, over https, for every path');
    for (const attribute of ['secure', 'httponly', 'samesite=strict', 'path=/']) assert.ok(attributes.includes(attribute), `${attribute} in ${setCookie}`);
    assert.ok(!attributes.some((part) => part.startsWith('domain=')), 'no Domain attribute');

    const cookie = setCookie.slice(0, setCookie.indexOf(';'));
    const board = await run(
      'curl',
      ['-sS', '--cacert', bundle(), '-H', `Cookie: ${cookie}`, '-w', '\n%{http_code}', `${origin}/admin/queues/api/queues`],
      emptyEnv(),
    );
    assert.equal(board.code, 0, shown(board));
    assert.match(board.stdout, /\n200$/, shown(board));
    assert.match(board.stdout, /"audit-events"/);
  });

  it('when a client does not trust the bundle or speaks plain HTTP, then it gets no answer', async () => {
    const untrusted = await run('curl', ['-sS', `https://127.0.0.1:${portBase}/health`], emptyEnv());
    assert.equal(untrusted.code, 60, `curl without --cacert fails certificate verification:\n${shown(untrusted)}`);
    const plain = await run('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${portBase}/health`], emptyEnv());
    assert.notEqual(plain.code, 0, shown(plain));
  });

  it('when keys:rotate and pki:issue run with only ARTSTORE_DATA_DIR set, then the development settings give them the CA key and the bundle', async () => {
    const settings = JSON.parse(await readFile(path.join(dataDir, 'dev-settings.json'), 'utf8')) as { variables: Record<string, string> };
    assert.equal(settings.variables.TLS_CA_FILE, bundle());
    assert.equal(settings.variables.PKI_BUNDLE_FILE, bundle());
    assert.equal(settings.variables.PKI_KEY_ENCRYPTION_KEY_FILE, path.join(dataDir, 'secrets', 'pki_key_encryption_key'));
    assert.equal(settings.variables.ADMIN_URL, `https://127.0.0.1:${portBase}`);

    const rotated = await run('npm', ['run', '-s', 'keys:rotate', '--', '--json'], emptyEnv());
    assert.equal(rotated.code, 0, shown(rotated));
    const out = path.join(workDir, 'redis-tls');
    const issued = await run('npm', ['run', '-s', 'pki:issue', '--', '--service', 'redis', '--dns', 'localhost', '--out', out, '--json'], emptyEnv());
    assert.equal(issued.code, 0, shown(issued));
    assert.equal((JSON.parse(issued.stdout) as { spiffe_id: string }).spiffe_id, 'spiffe://artstore/redis');
    assert.equal(await readFile(path.join(out, 'ca.pem'), 'utf8'), await readFile(bundle(), 'utf8'));
  });

  it('when npm start receives SIGINT, then it exits 0 and leaves no process behind', async () => {
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      launcher.once('exit', (code, signal) => resolve({ code, signal })),
    );
    launcher.kill('SIGINT');
    const result = await Promise.race([exited, sleep(15_000).then(() => undefined)]);
    assert.deepEqual(result, { code: 0, signal: null }, `npm start's terminal:\n${terminal}`);
    assert.deepEqual(await stillRunning([...startedPids]), [], 'processes left running after npm start exited');
  });
});
