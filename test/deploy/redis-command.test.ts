import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pickPort } from '../../scripts/embedded/process-control.ts';
import { waitFor } from '../support/wait-for.ts';
import { interpolate, loadCompose } from './deploy-files.ts';

function which(program: string): string {
  const found = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).stdout.trim();
  assert.ok(found, `${program} is needed on PATH for this test`);
  return found;
}

/**
 * Runs the redis service's real command and healthcheck from each compose file on this machine:
 * the image's docker-entrypoint.sh and redis-cli are stood in for by wrappers that only add a free
 * port and a scratch directory, so the password and TLS handling under test are the file's own.
 * The production file's Redis speaks only TLS, with a certificate made here by openssl in place of
 * the one its certificate job writes.
 */
describe('the compose redis command', () => {
  const password = 'Q3xVb7NmLp2RtY8sKd4WfGh6Jz1Ca5Ue';
  let dir: string;
  let port: number;
  let redis: ChildProcess | undefined;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'artstore-redis-'));
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    mkdirSync(path.join(dir, 'data'));
    // The test's port replaces the file's (--tls-port when it serves TLS), added before the trailing "-" (configuration on stdin).
    writeFileSync(
      path.join(bin, 'docker-entrypoint.sh'),
      `#!/bin/bash
cmd="$1"; shift
last="\${*: -1}"; set -- "\${@:1:$#-1}"
case " $* " in *" --tls-port "*) port=(--tls-port "$TEST_REDIS_PORT");; *) port=(--port "$TEST_REDIS_PORT");; esac
exec "$cmd" "$@" "\${port[@]}" --bind 127.0.0.1 --dir "$TEST_REDIS_DIR" "$last"
`,
    );
    writeFileSync(path.join(bin, 'redis-cli'), `#!/bin/sh\nexec ${which('redis-cli')} -p "$TEST_REDIS_PORT" "$@"\n`);
    chmodSync(path.join(bin, 'docker-entrypoint.sh'), 0o755);
    chmodSync(path.join(bin, 'redis-cli'), 0o755);
    writeFileSync(path.join(dir, 'redis_password'), password);
    writeFileSync(path.join(dir, 'wrong_password'), 'not-the-password');
    which('redis-server');
    mkdirSync(path.join(dir, 'tls'));
    const made = spawnSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost',
        '-keyout',
        path.join(dir, 'tls', 'tls.key'),
        '-out',
        path.join(dir, 'tls', 'tls.crt'),
      ],
      { encoding: 'utf8' },
    );
    assert.equal(made.status, 0, made.stderr);
    copyFileSync(path.join(dir, 'tls', 'tls.crt'), path.join(dir, 'tls', 'ca.pem'));
  });
  afterEach(async () => {
    if (redis && redis.exitCode === null) {
      redis.kill('SIGTERM');
      await new Promise((resolve) => redis!.once('exit', resolve));
    }
    redis = undefined;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const env = (extra: Record<string, string>) => ({
    PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`,
    TEST_REDIS_PORT: String(port),
    TEST_REDIS_DIR: path.join(dir, 'data'),
    ...extra,
  });

  /** How each file hands redis its password: a secret file, or REDIS_PASSWORD from .env. */
  const cases: { file: string; secret: (right: boolean) => Record<string, string>; tls: boolean }[] = [
    {
      file: 'compose.yml',
      secret: (right) => ({ REDIS_PASSWORD_FILE: path.join(dir, right ? 'redis_password' : 'wrong_password'), REDIS_TLS_DIR: path.join(dir, 'tls') }),
      tls: true,
    },
    { file: 'compose.dev.yml', secret: (right) => ({ REDIS_PASSWORD: right ? password : 'not-the-password' }), tls: false },
  ];
  for (const { file, secret, tls } of cases) {
    it(`when redis starts with the ${file} command, then it demands the password, keeps an AOF and never evicts`, async () => {
      port = await pickPort(0);
      const service = loadCompose(file).services.redis!;
      const command = service.command!.map(interpolate);
      const healthcheck = service.healthcheck!.test.map(interpolate);
      const withPassword = secret(true);
      const withWrongPassword = secret(false);

      redis = spawn(command[0]!, command.slice(1), { env: env(withPassword), stdio: 'ignore' });
      const tlsArgs = tls ? ['--tls', '--cacert', path.join(dir, 'tls', 'ca.pem'), '-h', 'localhost'] : [];
      const cli = (args: string[], auth?: string) =>
        spawnSync(which('redis-cli'), ['-p', String(port), ...tlsArgs, ...args], {
          env: { ...process.env, REDISCLI_AUTH: auth ?? '' },
          encoding: 'utf8',
        }).stdout.trim();
      await waitFor(() => cli(['ping'], password) === 'PONG', { timeoutMs: 5000, intervalMs: 100, message: 'redis-server to answer PING' });
      assert.equal(cli(['ping'], password), 'PONG');
      assert.equal(cli(['config', 'get', 'appendonly'], password), 'appendonly\nyes');
      assert.equal(cli(['config', 'get', 'maxmemory-policy'], password), 'maxmemory-policy\nnoeviction');
      assert.match(cli(['ping']), /NOAUTH/);
      if (tls) {
        const plain = spawnSync(which('redis-cli'), ['-p', String(port), 'ping'], { env: { ...process.env, REDISCLI_AUTH: password }, encoding: 'utf8' });
        assert.notEqual(`${plain.stdout}`.trim(), 'PONG', 'no plain-text Redis on the TLS port');
      }

      assert.equal(healthcheck[0], 'CMD-SHELL');
      const healthy = spawnSync('sh', ['-c', healthcheck[1]!], { env: env(withPassword), encoding: 'utf8' });
      assert.equal(healthy.status, 0, healthy.stderr);
      const unhealthy = spawnSync('sh', ['-c', healthcheck[1]!], { env: env(withWrongPassword), encoding: 'utf8' });
      assert.notEqual(unhealthy.status, 0, 'the healthcheck must fail with a wrong password');
      const cmdline = spawnSync('ps', ['-o', 'args=', '-p', String(redis.pid)], { encoding: 'utf8' }).stdout;
      assert.doesNotMatch(cmdline, new RegExp(password), 'the password must not be on the command line');
    });
  }
});
