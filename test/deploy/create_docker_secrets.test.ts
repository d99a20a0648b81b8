import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseDotenv, repoRoot } from './deploy-files.ts';

const script = path.join(repoRoot, 'scripts/create_docker_secrets.sh');
const SECRET_VARIABLES: Record<string, string> = {
  postgres_password: 'POSTGRES_PASSWORD',
  redis_password: 'REDIS_PASSWORD',
  audit_log_secret_key: 'AUDIT_LOG_SECRET_KEY',
  jwt_key_encryption_key: 'JWT_KEY_ENCRYPTION_KEY',
  audit_digest_key_encryption_key: 'AUDIT_DIGEST_KEY_ENCRYPTION_KEY',
  pki_key_encryption_key: 'PKI_KEY_ENCRYPTION_KEY',
  admin_bootstrap_client_secret: 'ADMIN_BOOTSTRAP_CLIENT_SECRET',
  storage_client_secret: 'STORAGE_CLIENT_SECRET',
  metrics_token: 'METRICS_TOKEN',
  gf_security_admin_password: 'GF_SECURITY_ADMIN_PASSWORD',
};
const SECRET_COUNT = Object.keys(SECRET_VARIABLES).length;

/** A `docker` stand-in: answers `info` with DOCKER_STUB_SWARM and keeps created secrets as files. */
const DOCKER_STUB = `#!/bin/sh
state="$DOCKER_STUB_DIR"
echo "$*" >> "$state/calls"
case "$1 $2" in
  "info "*) echo "$DOCKER_STUB_SWARM"; exit 0 ;;
  "secret inspect") test -f "$state/secrets/$3"; exit $? ;;
  "secret create")
    shift 2
    while [ "$1" != "\${1#--}" ]; do shift 2; done
    cat > "$state/secrets/$1"; exit 0 ;;
esac
exit 2
`;

describe('scripts/create_docker_secrets.sh', () => {
  let dir: string;
  let envFile: string;
  let values: Record<string, string>;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'artstore-secrets-'));
    envFile = path.join(dir, '.env');
    const generated = spawnSync(path.join(repoRoot, 'scripts/generate_secrets.sh'), ['--output', envFile], { encoding: 'utf8' });
    assert.equal(generated.status, 0, generated.stderr);
    values = parseDotenv(readFileSync(envFile, 'utf8'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function run(args: string[], env: Record<string, string> = {}) {
    const result = spawnSync(script, args, { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env } });
    const output = `${result.stdout}${result.stderr}`;
    for (const variable of Object.values(SECRET_VARIABLES)) {
      assert.ok(!output.includes(values[variable]!), `the output shows the value of ${variable}`);
    }
    return { status: result.status, output };
  }

  function withSwarmStub(state: string) {
    const stubDir = path.join(dir, 'stub');
    mkdirSync(path.join(stubDir, 'secrets'), { recursive: true });
    writeFileSync(path.join(stubDir, 'docker'), DOCKER_STUB);
    chmodSync(path.join(stubDir, 'docker'), 0o755);
    return {
      env: { PATH: `${stubDir}:${process.env.PATH}`, DOCKER_STUB_DIR: stubDir, DOCKER_STUB_SWARM: state },
      created: () => Object.fromEntries(readdirSync(path.join(stubDir, 'secrets')).map((n) => [n, readFileSync(path.join(stubDir, 'secrets', n), 'utf8')])),
      calls: () => (existsSync(path.join(stubDir, 'calls')) ? readFileSync(path.join(stubDir, 'calls'), 'utf8') : ''),
    };
  }

  it('when run with --files, then each secret is a file holding exactly its .env value, readable in containers only through the 0700 directory', () => {
    const target = path.join(dir, 'secrets');
    const result = run(['--env-file', envFile, '--files', target]);
    assert.equal(result.status, 0, result.output);
    assert.equal(statSync(target).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(target).sort(), Object.keys(SECRET_VARIABLES).sort());
    for (const [name, variable] of Object.entries(SECRET_VARIABLES)) {
      assert.equal(readFileSync(path.join(target, name), 'utf8'), values[variable], `${name} holds ${variable}, without a newline`);
      assert.equal(statSync(path.join(target, name)).mode & 0o777, 0o444);
    }
  });

  it('when run again with the same .env, then nothing changes', () => {
    const target = path.join(dir, 'secrets');
    assert.equal(run(['--env-file', envFile, '--files', target]).status, 0);
    const before = readdirSync(target).map((n) => statSync(path.join(target, n)).mtimeMs);
    const again = run(['--env-file', envFile, '--files', target]);
    assert.equal(again.status, 0, again.output);
    assert.match(again.output, new RegExp(`0 created, 0 replaced, ${SECRET_COUNT} unchanged`));
    assert.deepEqual(
      readdirSync(target).map((n) => statSync(path.join(target, n)).mtimeMs),
      before,
    );
  });

  it('when a value changed in .env, then the file is kept unless --force replaces it', () => {
    const target = path.join(dir, 'secrets');
    assert.equal(run(['--env-file', envFile, '--files', target]).status, 0);
    const rotated = 'Rotated0Password0Of0Thirty0Two0C';
    writeFileSync(envFile, readFileSync(envFile, 'utf8').replace(`REDIS_PASSWORD=${values.REDIS_PASSWORD}`, `REDIS_PASSWORD=${rotated}`));
    const refused = run(['--env-file', envFile, '--files', target]);
    assert.equal(refused.status, 1);
    assert.match(refused.output, /redis_password holds another value.*--force/);
    assert.equal(readFileSync(path.join(target, 'redis_password'), 'utf8'), values.REDIS_PASSWORD);
    const forced = run(['--env-file', envFile, '--files', target, '--force']);
    assert.equal(forced.status, 0, forced.output);
    assert.equal(readFileSync(path.join(target, 'redis_password'), 'utf8'), rotated);
  });

  it('when .env still holds placeholders, then it names the variable and creates nothing', () => {
    const target = path.join(dir, 'secrets');
    const result = run(['--env-file', path.join(repoRoot, '.env.example'), '--files', target]);
    assert.equal(result.status, 1);
    assert.match(result.output, /POSTGRES_PASSWORD: still holds a placeholder/);
    assert.equal(existsSync(target), false);
  });

  it('when .env names a key file with VARIABLE_FILE, then the secret holds the file content', () => {
    const kek = 'ab'.repeat(32);
    mkdirSync(path.join(dir, 'keys'));
    writeFileSync(path.join(dir, 'keys/kek'), `${kek}\n`);
    const text = readFileSync(envFile, 'utf8');
    writeFileSync(envFile, text.replace(/^JWT_KEY_ENCRYPTION_KEY=.*$/m, 'JWT_KEY_ENCRYPTION_KEY_FILE=keys/kek'));
    const target = path.join(dir, 'secrets');
    const result = run(['--env-file', envFile, '--files', target]);
    assert.equal(result.status, 0, result.output);
    assert.equal(readFileSync(path.join(target, 'jwt_key_encryption_key'), 'utf8'), kek);

    writeFileSync(envFile, `${readFileSync(envFile, 'utf8')}\nJWT_KEY_ENCRYPTION_KEY=${kek}\n`);
    const both = run(['--env-file', envFile, '--files', path.join(dir, 'other')]);
    assert.equal(both.status, 1);
    assert.match(both.output, /both JWT_KEY_ENCRYPTION_KEY and JWT_KEY_ENCRYPTION_KEY_FILE/);
  });

  it('when Docker is not in swarm mode, then it says Docker secrets need swarm mode and creates nothing', () => {
    const docker = withSwarmStub('inactive false');
    const result = run(['--env-file', envFile], docker.env);
    assert.equal(result.status, 1);
    assert.match(result.output, /Docker secrets need swarm mode/);
    assert.match(result.output, /docker swarm init/);
    assert.match(result.output, /--files/);
    assert.doesNotMatch(docker.calls(), /secret create/);
  });

  it('when Docker is a swarm manager, then every secret is created once from .env and a second run keeps them', () => {
    const docker = withSwarmStub('active true');
    const first = run(['--env-file', envFile], docker.env);
    assert.equal(first.status, 0, first.output);
    assert.deepEqual(docker.created(), Object.fromEntries(Object.entries(SECRET_VARIABLES).map(([name, variable]) => [name, values[variable]!])));
    const second = run(['--env-file', envFile], docker.env);
    assert.equal(second.status, 0, second.output);
    assert.match(second.output, new RegExp(`0 created, ${SECRET_COUNT} kept`));
    assert.equal(docker.calls().match(/secret create/g)?.length, SECRET_COUNT);
  });
});
