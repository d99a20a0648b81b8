import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const generateSecretsScript = join(repoRoot, 'scripts', 'generate_secrets.sh');
const envExamplePath = join(repoRoot, '.env.example');

/** The least length of each generated secret, as docs/SECRETS_MANAGEMENT.md gives it. */
const minimumSecretLength: Record<string, number> = {
  POSTGRES_PASSWORD: 32,
  REDIS_PASSWORD: 32,
  GF_SECURITY_ADMIN_PASSWORD: 24,
  AUDIT_LOG_SECRET_KEY: 32,
  ADMIN_BOOTSTRAP_CLIENT_SECRET: 48,
  STORAGE_CLIENT_SECRET: 48,
  METRICS_TOKEN: 48,
  JWT_KEY_ENCRYPTION_KEY: 64,
  AUDIT_DIGEST_KEY_ENCRYPTION_KEY: 64,
  PKI_KEY_ENCRYPTION_KEY: 64,
};
const secretNames = Object.keys(minimumSecretLength);
const safeAlphabet = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

function runGenerateSecrets(args: string[]): SpawnSyncReturns<string> {
  return spawnSync(generateSecretsScript, args, {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** KEY=VALUE lines of a dotenv file; comments and blank lines skipped. */
function parseEnvAssignments(text: string): Map<string, string> {
  const assignments = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) assignments.set(match[1], match[2]);
  }
  return assignments;
}

/** Sources the file in a clean bash with set -a and reads each name back as the shell sees it. */
function sourceInBash(file: string, names: string[]): { values: Map<string, string>; stderr: string; status: number | null } {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a bash script, where ${!name} is indirect expansion
  const script = 'set -euo pipefail; set -a; source "$1"; shift; for name in "$@"; do printf "%s=%s\\0" "$name" "${!name}"; done';
  // stdin ignored: on a socket (Node's default pipe) Debian's bash would source ~/.bashrc.
  const result = spawnSync('bash', ['--norc', '--noprofile', '-c', script, 'bash', file, ...names], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const values = new Map<string, string>();
  for (const entry of result.stdout.split('\0').filter(Boolean)) {
    const separator = entry.indexOf('=');
    values.set(entry.slice(0, separator), entry.slice(separator + 1));
  }
  return { values, stderr: result.stderr, status: result.status };
}

function secretPart(name: string, value: string): string {
  // The audit key is a key ring "id:key"; the random part is the key.
  return name === 'AUDIT_LOG_SECRET_KEY' ? value.replace(/^k1:/, '') : value;
}

function envValue(env: Map<string, string>, name: string): string {
  const value = env.get(name);
  assert.ok(value !== undefined, `${name} missing from generated .env`);
  return value;
}

describe('scripts/generate_secrets.sh', function () {
  this.timeout(20_000);
  let workDir: string;
  let firstEnvPath: string;
  let firstRun: SpawnSyncReturns<string>;
  let firstEnv: Map<string, string>;

  before(() => {
    workDir = mkdtempSync(join(tmpdir(), 'artstore-generate-secrets-'));
    firstEnvPath = join(workDir, '.env');
    firstRun = runGenerateSecrets(['--output', firstEnvPath]);
    assert.equal(firstRun.status, 0, firstRun.stderr);
    firstEnv = parseEnvAssignments(readFileSync(firstEnvPath, 'utf8'));
  });

  after(() => {
    rmSync(workDir, { recursive: true, force: true });
  });

  it('when run, then the script is executable and passes bash -n', () => {
    assert.ok((statSync(generateSecretsScript).mode & 0o111) !== 0, 'script is not executable');
    const syntax = spawnSync('bash', ['-n', generateSecretsScript], { encoding: 'utf8' });
    assert.equal(syntax.status, 0, syntax.stderr);
  });

  it('when the .env is written, then it is mode 0600 and no temp file is left beside it', () => {
    assert.equal(statSync(firstEnvPath).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(workDir), ['.env']);
  });

  it('when the .env is sourced in bash, then it succeeds silently and every variable reads back as written', () => {
    const names = [...firstEnv.keys()];
    const sourced = sourceInBash(firstEnvPath, names);
    assert.equal(sourced.status, 0, sourced.stderr);
    assert.equal(sourced.stderr, '');
    assert.deepEqual(sourced.values, firstEnv);
  });

  it('when the .env is generated, then it holds every secret and the settings needed to use them', () => {
    for (const name of secretNames) envValue(firstEnv, name);
    assert.equal(envValue(firstEnv, 'ENVIRONMENT'), 'production');
    assert.equal(envValue(firstEnv, 'POSTGRES_USER'), 'artstore');
    assert.equal(envValue(firstEnv, 'POSTGRES_DB'), 'artstore');
    assert.equal(envValue(firstEnv, 'POSTGRES_HOST'), 'localhost');
    assert.equal(envValue(firstEnv, 'POSTGRES_PORT'), '5432');
    assert.equal(envValue(firstEnv, 'REDIS_HOST'), 'localhost');
    assert.equal(envValue(firstEnv, 'REDIS_PORT'), '6379');
    assert.equal(envValue(firstEnv, 'GF_SECURITY_ADMIN_USER'), 'admin');
    assert.equal(envValue(firstEnv, 'ADMIN_BOOTSTRAP_CLIENT_ID'), 'admin-service');
  });

  it('when secrets are generated, then each is at least its documented length', () => {
    for (const name of secretNames) {
      const minimum = minimumSecretLength[name] ?? Infinity;
      const length = secretPart(name, envValue(firstEnv, name)).length;
      assert.ok(length >= minimum, `${name} has ${length} chars, needs at least ${minimum}`);
    }
    assert.equal(secretPart('AUDIT_LOG_SECRET_KEY', envValue(firstEnv, 'AUDIT_LOG_SECRET_KEY')).length, 48);
  });

  it('when secrets are generated, then each uses only the shell-, URL- and YAML-safe alphabet', () => {
    for (const name of secretNames) {
      assert.match(secretPart(name, envValue(firstEnv, name)), safeAlphabet, name);
    }
    assert.match(envValue(firstEnv, 'AUDIT_LOG_SECRET_KEY'), /^k1:[A-Za-z0-9]{48}$/);
    assert.match(envValue(firstEnv, 'JWT_KEY_ENCRYPTION_KEY'), /^[0-9a-f]{64}$/);
    assert.match(envValue(firstEnv, 'AUDIT_DIGEST_KEY_ENCRYPTION_KEY'), /^[0-9a-f]{64}$/);
    assert.notEqual(envValue(firstEnv, 'AUDIT_DIGEST_KEY_ENCRYPTION_KEY'), envValue(firstEnv, 'JWT_KEY_ENCRYPTION_KEY'));
    assert.match(envValue(firstEnv, 'PKI_KEY_ENCRYPTION_KEY'), /^[0-9a-f]{64}$/);
  });

  it('when each secret is put in URL userinfo, then it round-trips unchanged', () => {
    for (const name of secretNames) {
      const value = envValue(firstEnv, name);
      const url = new URL(`postgresql://user:${value}@localhost:5432/db`);
      assert.equal(decodeURIComponent(url.password), value, name);
      assert.equal(url.hostname, 'localhost', name);
    }
  });

  it('when DATABASE_URL is parsed, then its password is POSTGRES_PASSWORD and it points at the same database', () => {
    const url = new URL(envValue(firstEnv, 'DATABASE_URL'));
    assert.equal(url.protocol, 'postgresql:');
    assert.equal(url.username, 'artstore');
    assert.equal(decodeURIComponent(url.password), envValue(firstEnv, 'POSTGRES_PASSWORD'));
    assert.equal(url.password, envValue(firstEnv, 'POSTGRES_PASSWORD'), 'password needed percent-encoding');
    assert.equal(url.hostname, 'localhost');
    assert.equal(url.port, '5432');
    assert.equal(url.pathname, '/artstore');
  });

  it('when REDIS_URL is parsed, then its password is REDIS_PASSWORD and it points at the same Redis', () => {
    const url = new URL(envValue(firstEnv, 'REDIS_URL'));
    assert.equal(url.protocol, 'redis:');
    assert.equal(url.username, '');
    assert.equal(decodeURIComponent(url.password), envValue(firstEnv, 'REDIS_PASSWORD'));
    assert.equal(url.password, envValue(firstEnv, 'REDIS_PASSWORD'), 'password needed percent-encoding');
    assert.equal(url.hostname, 'localhost');
    assert.equal(url.port, '6379');
    assert.equal(url.pathname, '/0');
  });

  it('when the script runs twice, then every secret differs between the runs', () => {
    const secondRun = runGenerateSecrets(['--stdout']);
    assert.equal(secondRun.status, 0, secondRun.stderr);
    const secondEnv = parseEnvAssignments(secondRun.stdout);
    for (const name of secretNames) {
      assert.notEqual(envValue(secondEnv, name), envValue(firstEnv, name), name);
    }
  });

  it('when the summary is printed, then it names the file and variables but no secret value', () => {
    assert.ok(firstRun.stderr.includes(firstEnvPath), firstRun.stderr);
    for (const name of firstEnv.keys()) assert.ok(firstRun.stderr.includes(name), `summary lacks ${name}`);
    for (const name of secretNames) {
      assert.ok(!firstRun.stderr.includes(secretPart(name, envValue(firstEnv, name))), `summary leaks ${name}`);
    }
    assert.equal(firstRun.stdout, '');
  });

  it('when --stdout is given, then the .env goes to stdout, the summary to stderr and no secret to stderr', () => {
    const printed = runGenerateSecrets(['--stdout']);
    assert.equal(printed.status, 0, printed.stderr);
    const printedEnv = parseEnvAssignments(printed.stdout);
    assert.deepEqual([...printedEnv.keys()], [...firstEnv.keys()]);
    for (const name of secretNames) {
      assert.ok(!printed.stderr.includes(secretPart(name, envValue(printedEnv, name))), `stderr leaks ${name}`);
    }
  });

  describe('when the output file already exists', () => {
    let existingPath: string;
    const existingContent = 'POSTGRES_PASSWORD=keep-me\n';

    beforeEach(() => {
      existingPath = join(workDir, 'existing.env');
      writeFileSync(existingPath, existingContent);
      chmodSync(existingPath, 0o644);
    });

    afterEach(() => {
      rmSync(existingPath, { force: true });
    });

    it('when --force is absent, then the file is unchanged and the script exits non-zero naming --force', () => {
      const refused = runGenerateSecrets(['--output', existingPath]);
      assert.notEqual(refused.status, 0);
      assert.match(refused.stderr, /already exists/);
      assert.match(refused.stderr, /--force/);
      assert.equal(readFileSync(existingPath, 'utf8'), existingContent);
      assert.equal(statSync(existingPath).mode & 0o777, 0o644);
      assert.deepEqual(readdirSync(workDir).sort(), ['.env', 'existing.env']);
    });

    it('when --force is given, then the file is replaced by a fresh 0600 .env', () => {
      const replaced = runGenerateSecrets(['--output', existingPath, '--force']);
      assert.equal(replaced.status, 0, replaced.stderr);
      const replacedEnv = parseEnvAssignments(readFileSync(existingPath, 'utf8'));
      assert.notEqual(envValue(replacedEnv, 'POSTGRES_PASSWORD'), 'keep-me');
      assert.deepEqual([...replacedEnv.keys()], [...firstEnv.keys()]);
      assert.equal(statSync(existingPath).mode & 0o777, 0o600);
    });
  });

  it('when --help is given, then usage naming every option is printed', () => {
    const help = runGenerateSecrets(['--help']);
    assert.equal(help.status, 0);
    for (const option of ['--output', '--force', '--stdout']) assert.ok(help.stdout.includes(option), option);
  });

  it('when an unknown option is given, then the script exits non-zero and says so', () => {
    const unknown = runGenerateSecrets(['--bogus']);
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /unknown option: --bogus/);
  });

  describe('.env.example', () => {
    const example = readFileSync(envExamplePath, 'utf8');
    const exampleEnv = parseEnvAssignments(example);

    it('when compared with the generated .env, then it names every variable the script writes', () => {
      const missing = [...firstEnv.keys()].filter((name) => !exampleEnv.has(name));
      assert.deepEqual(missing, []);
    });

    it('when sourced in bash, then it succeeds silently', () => {
      const sourced = sourceInBash(envExamplePath, [...exampleEnv.keys()]);
      assert.equal(sourced.status, 0, sourced.stderr);
      assert.equal(sourced.stderr, '');
      assert.deepEqual(sourced.values, exampleEnv);
    });

    it('when read, then every secret is an obvious placeholder that production refuses', () => {
      for (const name of [...secretNames, 'DATABASE_URL', 'REDIS_URL']) {
        assert.match(envValue(exampleEnv, name), /REPLACE_WITH|CHANGE_THIS/, name);
      }
    });

    it('when read, then each secret documents its NAME_FILE alternative', () => {
      const readByArtStore = secretNames.filter((secret) => !secret.startsWith('GF_'));
      for (const name of [...readByArtStore, 'DATABASE_URL', 'REDIS_URL']) {
        assert.ok(example.includes(`${name}_FILE=/run/secrets/`), `${name}_FILE not documented`);
      }
    });
  });
});
