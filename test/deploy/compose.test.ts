import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEV_PROCESSES } from '../../scripts/dev/processes.ts';
import { DEFAULT_PORTS, loadConfig, loadDatabaseUrl, SECRET_NAMES, type Config, type Env } from '../../services/platform/config/index.ts';
import {
  APP_SERVICES,
  dockerDir,
  dockerfileStages,
  interpolate,
  loadCompose,
  mountedSecrets,
  parseDotenv,
  repoRoot,
  type ComposeFile,
  type ComposeService,
} from './deploy-files.ts';

/** The compose files run one Redis server, never a cluster. */
const standaloneUrlOf = (config: Config) => (config.redis.mode === 'standalone' ? config.redis.url.reveal() : assert.fail('compose runs a Redis Cluster'));

const production = loadCompose('compose.yml');
const development = loadCompose('compose.dev.yml');
const monitoring = loadCompose('compose.monitoring.yml');
const COMPOSE_FILES: [string, ComposeFile][] = [
  ['compose.yml', production],
  ['compose.dev.yml', development],
  ['compose.monitoring.yml', monitoring],
];
const SYSTEM_SERVICES = ['postgres', 'redis', 'migrate', ...APP_SERVICES];
/** One-shots of the production file: PostgreSQL's and Redis's server certificates from the internal CA. */
const CERTIFICATE_JOBS = ['postgres-certificate', 'redis-certificate'];
const ONE_SHOTS = ['migrate', ...CERTIFICATE_JOBS];

/** Environment variables whose value is itself a credential; only their *_FILE form may appear. */
const CREDENTIAL_VARIABLES = /(PASSWORD|SECRET|TOKEN|CREDENTIAL|ENCRYPTION_KEY|PRIVATE_KEY|^DATABASE_URL$|^REDIS_URL$)/;

/** Every place in a parsed compose file where a secret value sits in clear text. */
function plaintextSecrets(node: unknown, where = ''): string[] {
  if (Array.isArray(node)) return node.flatMap((item, i) => plaintextSecrets(item, `${where}[${i}]`));
  if (node && typeof node === 'object') {
    return Object.entries(node).flatMap(([key, value]) => {
      const here = where ? `${where}.${key}` : key;
      const found = plaintextSecrets(value, here);
      const text = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
      const isReference = text !== undefined && (text === '' || /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(text));
      if (text !== undefined && CREDENTIAL_VARIABLES.test(key) && !/_FILE$/.test(key) && !isReference) {
        found.push(`${here}: credential variable with a literal value`);
      }
      return found;
    });
  }
  if (typeof node !== 'string') return [];
  const problems: string[] = [];
  if (/[a-z][a-z0-9+.-]*:\/\/[^\s/@:]*:[^\s/@$]+@/i.test(node)) problems.push(`${where}: URL with a password`);
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(node)) problems.push(`${where}: private key`);
  if (/\b[0-9a-fA-F]{32,}\b/.test(node)) problems.push(`${where}: long hexadecimal string`);
  // A `name=value` setting is two words, not one token (ssl_min_protocol_version=TLSv1.3).
  for (const token of node.replace(/\b([a-z_]+)=/g, '$1 ').match(/[A-Za-z0-9+/=_-]{24,}/g) ?? []) {
    if (/[0-9]/.test(token) && /[a-z]/.test(token) && /[A-Z]/.test(token)) problems.push(`${where}: random-looking token`);
  }
  if (/requirepass\s+["']?(?!["']?\$)/.test(node)) problems.push(`${where}: literal redis password`);
  return problems;
}

function service(file: ComposeFile, name: string): ComposeService {
  const found = file.services[name];
  assert.ok(found, `service ${name} is missing`);
  return found;
}

/** The secret file each `*_FILE=/run/secrets/<name>` variable of a service points at (a secret's *_FILE; TLS_CA_FILE is no secret). */
function secretFileVariables(svc: ComposeService): [string, string][] {
  return Object.entries(svc.environment ?? {})
    .filter(([key]) => /_FILE$/.test(key) && (SECRET_NAMES as readonly string[]).includes(key.replace(/_FILE$/, '')))
    .map(([key, value]) => {
      const match = /^\/run\/secrets\/([a-z0-9_]+)$/.exec(String(value));
      assert.ok(match, `${key}=${value} does not point into /run/secrets`);
      return [key, match[1]!];
    });
}

describe('docker compose files', () => {
  let secretsDir: string;
  let envFile: string;
  let dotenv: Record<string, string>;

  before(() => {
    const dir = mkdtempSync(path.join(tmpdir(), 'artstore-compose-'));
    envFile = path.join(dir, '.env');
    secretsDir = path.join(dir, 'secrets');
    const generated = spawnSync(path.join(repoRoot, 'scripts/generate_secrets.sh'), ['--output', envFile], { encoding: 'utf8' });
    assert.equal(generated.status, 0, generated.stderr);
    const created = spawnSync(path.join(repoRoot, 'scripts/create_docker_secrets.sh'), ['--env-file', envFile, '--files', secretsDir], { encoding: 'utf8' });
    assert.equal(created.status, 0, created.stderr);
    dotenv = parseDotenv(readFileSync(envFile, 'utf8'));
  });
  after(() => rmSync(path.dirname(envFile), { recursive: true, force: true }));

  /** A service's environment as its container sees it, with /run/secrets mapped to the files just created. */
  function containerEnv(svc: ComposeService, extra: Env = {}): Env {
    const env: Record<string, string | undefined> = { ...extra };
    for (const [key, value] of Object.entries(svc.environment ?? {})) {
      env[key] = interpolate(String(value ?? '')).replace(/^\/run\/secrets\//, `${secretsDir}/`);
    }
    return env;
  }

  it('when the production file is read, then it runs postgres, redis, migrate, the four modules and both workers', () => {
    assert.deepEqual(Object.keys(production.services).sort(), [...SYSTEM_SERVICES, ...CERTIFICATE_JOBS].sort());
    assert.deepEqual(Object.keys(development.services).sort(), [...SYSTEM_SERVICES].sort());
  });

  for (const [file, compose] of COMPOSE_FILES) {
    it(`when ${file} is scanned, then no password, key or credential URL appears in it`, () => {
      assert.deepEqual(plaintextSecrets(compose), []);
      assert.deepEqual(plaintextSecrets({ raw: readFileSync(path.join(dockerDir, file), 'utf8') }), []);
    });
  }

  it('when a compose value holds a credential, then the scan reports it', () => {
    const leaky = {
      services: {
        a: { environment: { POSTGRES_PASSWORD: 'hunter2hunter2', REDIS_URL: 'redis://:s3cret@redis:6379/0' } },
        b: { command: ['sh', '-c', 'redis-server --requirepass Zx81Qp0LmN5vB7cX2zA9sD4f'], environment: { X: 'ab12cd34ef56ab12cd34ef56ab12cd34' } },
      },
    };
    assert.deepEqual(plaintextSecrets(leaky).sort(), [
      'services.a.environment.POSTGRES_PASSWORD: credential variable with a literal value',
      'services.a.environment.REDIS_URL: URL with a password',
      'services.a.environment.REDIS_URL: credential variable with a literal value',
      'services.b.command[2]: literal redis password',
      'services.b.command[2]: random-looking token',
      'services.b.environment.X: long hexadecimal string',
    ]);
  });

  it('when a production service needs a credential, then it reads it from a mounted Docker secret file', () => {
    const declared = Object.keys(production.secrets ?? {});
    for (const [name, svc] of Object.entries(production.services)) {
      for (const [variable, secret] of secretFileVariables(svc)) {
        assert.ok(mountedSecrets(svc).includes(secret), `${name}: ${variable} needs secret ${secret} in its secrets: list`);
        assert.ok(declared.includes(secret), `${name}: secret ${secret} is not declared at the top level`);
      }
    }
    for (const secret of declared) {
      const file = interpolate(production.secrets![secret]!.file ?? '');
      assert.equal(file, `./secrets/${secret}`, `secret ${secret} should come from docker/secrets/ (create_docker_secrets.sh --files)`);
    }
  });

  it('when create_docker_secrets.sh runs, then it creates exactly the secrets the compose files mount', () => {
    const used = new Set([production, monitoring].flatMap((f) => Object.values(f.services).flatMap(mountedSecrets)));
    const declared = new Set([production, monitoring].flatMap((f) => Object.keys(f.secrets ?? {})));
    const created = new Set(spawnSync('ls', [secretsDir], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean));
    assert.deepEqual([...used].sort(), [...declared].sort());
    assert.deepEqual([...created].sort(), [...declared].sort());
  });

  for (const name of APP_SERVICES) {
    it(`when ${name} starts with its production environment and secrets, then its real configuration loads`, () => {
      const svc = service(production, name);
      const config = loadConfig(name, containerEnv(svc));
      assert.equal(config.environment, 'production');
      assert.equal(config.http.port, DEFAULT_PORTS[name]);
      const database = new URL(config.databaseUrl.reveal());
      assert.equal(database.hostname, 'postgres');
      assert.equal(decodeURIComponent(database.password), dotenv.POSTGRES_PASSWORD);
      const redis = new URL(standaloneUrlOf(config));
      assert.equal(redis.hostname, 'redis');
      assert.equal(decodeURIComponent(redis.password), dotenv.REDIS_PASSWORD);
      assert.equal(config.jwt.adminUrl, 'https://admin:8000');
      assert.equal(config.http.metricsToken?.reveal(), dotenv.METRICS_TOKEN, 'the /metrics token is the metrics_token secret');
    });

    it(`when ${name} starts in development mode from .env, then it finds postgres and redis inside the network`, () => {
      const svc = service(development, name);
      const config = loadConfig(name, containerEnv(svc, dotenv));
      assert.equal(config.environment, 'development');
      assert.equal(new URL(config.databaseUrl.reveal()).hostname, 'postgres');
      assert.equal(new URL(standaloneUrlOf(config)).hostname, 'redis');
      assert.equal(config.http.metricsToken?.reveal(), dotenv.METRICS_TOKEN, 'the /metrics token comes from .env');
    });
  }

  it('when a production module or worker starts, then it reads its /metrics token from the metrics_token secret', () => {
    for (const name of APP_SERVICES) {
      const svc = service(production, name);
      assert.equal(svc.environment?.METRICS_TOKEN_FILE, '/run/secrets/metrics_token', `${name}: METRICS_TOKEN_FILE`);
      assert.ok(mountedSecrets(svc).includes('metrics_token'), `${name} does not mount metrics_token`);
    }
  });

  it('when keys are mounted, then the digest key-encryption key reaches only the digest signers and the JWT one never reaches the audit writer', () => {
    const holders = (secret: string) =>
      Object.entries(production.services)
        .filter(([, svc]) => mountedSecrets(svc).includes(secret))
        .map(([name]) => name)
        .sort();
    assert.deepEqual(holders('audit_digest_key_encryption_key'), ['audit-writer', 'maintenance']);
    assert.deepEqual(holders('jwt_key_encryption_key'), ['admin', 'maintenance']);
    for (const name of ['audit-writer', 'maintenance'] as const) {
      const config = loadConfig(name, containerEnv(service(production, name)));
      assert.equal(config.auditDigestKeyEncryptionKey?.export().toString('hex'), dotenv.AUDIT_DIGEST_KEY_ENCRYPTION_KEY, name);
    }
  });

  for (const [file, compose] of [
    ['compose.yml', production],
    ['compose.dev.yml', development],
  ] as const) {
    it(`when ${file} runs several audit writers, then they all append to one named digest volume at AUDIT_DIGEST_DIR`, () => {
      const writer = service(compose, 'audit-writer');
      const dir = writer.environment?.AUDIT_DIGEST_DIR;
      assert.equal(dir, '/var/lib/artstore/audit-digests');
      const volume = (writer.volumes ?? []).find((v) => v.endsWith(`:${dir}`));
      assert.ok(volume && Object.keys(compose.volumes ?? {}).includes(volume.split(':')[0]!), `${file}: the digest directory is not a named volume`);
      const config = loadConfig('audit-writer', containerEnv(writer, file === 'compose.dev.yml' ? dotenv : {}));
      assert.equal(config.auditDigests.dir, dir);
    });
  }

  it('when postgres, redis and migrate start, then they share the credentials and database the services use', () => {
    const postgres = service(production, 'postgres');
    const admin = service(production, 'admin');
    assert.equal(postgres.environment?.POSTGRES_PASSWORD_FILE, '/run/secrets/postgres_password');
    assert.equal(postgres.environment?.POSTGRES_USER, admin.environment?.POSTGRES_USER);
    assert.equal(postgres.environment?.POSTGRES_DB, admin.environment?.POSTGRES_DB);
    assert.equal(service(production, 'redis').environment?.REDIS_PASSWORD_FILE, '/run/secrets/redis_password');
    const migrateUrl = new URL(loadDatabaseUrl(containerEnv(service(production, 'migrate'))).reveal());
    assert.equal(migrateUrl.searchParams.get('host'), '/var/run/postgresql', 'migrate uses the Unix socket: PostgreSQL may have no certificate yet');
    assert.ok(service(production, 'migrate').volumes?.includes('postgres_socket:/var/run/postgresql'));
    assert.ok(service(production, 'postgres').volumes?.includes('postgres_socket:/var/run/postgresql'));
    assert.equal(decodeURIComponent(migrateUrl.password), dotenv.POSTGRES_PASSWORD);
  });

  const BUNDLE = '/var/lib/artstore/pki/ca.pem';

  for (const name of APP_SERVICES) {
    it(`when ${name} runs from compose.yml, then it serves TLS, trusts the bundle admin writes, and reaches PostgreSQL by verify-full and Redis by rediss://`, () => {
      const svc = service(production, name);
      const config = loadConfig(name, containerEnv(svc));
      assert.equal(config.tls.mode, 'on');
      assert.equal(config.tls.caFile, BUNDLE);
      assert.ok(config.tls.sans.includes(name), `${name}: its certificate names ${name}, the host the others call`);
      assert.ok(config.tls.sans.includes('127.0.0.1'), `${name}: the healthcheck calls 127.0.0.1`);
      const database = new URL(config.databaseUrl.reveal());
      assert.deepEqual(
        [database.hostname, database.searchParams.get('sslmode'), database.searchParams.get('sslrootcert')],
        ['postgres', 'verify-full', BUNDLE],
      );
      assert.equal(new URL(standaloneUrlOf(config)).protocol, 'rediss:');
      const bundleVolume = (svc.volumes ?? []).find((volume) => volume.startsWith('pki_bundle:'));
      assert.equal(
        bundleVolume,
        name === 'admin' ? 'pki_bundle:/var/lib/artstore/pki' : 'pki_bundle:/var/lib/artstore/pki:ro',
        `${name}: only admin writes the bundle`,
      );
      if (name === 'admin') assert.equal(config.pki.bundleFile, BUNDLE);
      if (name !== 'admin' && name !== 'maintenance') {
        assert.ok(config.storage.client.clientSecret, `${name} asks admin for its certificate with the module-to-module account`);
        assert.equal(svc.depends_on?.admin?.condition, 'service_healthy', `${name} starts after admin wrote the bundle`);
      }
    });
  }

  it('when compose.yml mounts the CA key, then only admin, maintenance and the certificate jobs get it', () => {
    const holders = Object.entries(production.services)
      .filter(([, svc]) => mountedSecrets(svc).includes('pki_key_encryption_key'))
      .map(([name]) => name)
      .sort();
    assert.deepEqual(holders, ['admin', 'maintenance', ...CERTIFICATE_JOBS].sort());
    for (const name of CERTIFICATE_JOBS) {
      assert.equal(mountedSecrets(service(production, name)).includes('jwt_key_encryption_key'), false, `${name} holds no JWT key`);
    }
  });

  it('when compose.yml starts, then the certificate jobs issue PostgreSQL’s and Redis’s certificates over the socket after migrate and before Redis, and both servers use them', () => {
    const args = (name: string) => service(production, name).command ?? [];
    const flag = (command: string[], name: string) => command.flatMap((word, i) => (word === name ? [command[i + 1]] : []));
    const jobs = { postgres: service(production, 'postgres-certificate'), redis: service(production, 'redis-certificate') };
    for (const [server, job] of Object.entries(jobs)) {
      const command = job.command ?? [];
      assert.deepEqual(command.slice(0, 4), ['node', '--import', 'tsx', 'scripts/pki_issue.ts']);
      assert.deepEqual(flag(command, '--service'), [server]);
      assert.ok(flag(command, '--dns').includes(server), `the ${server} certificate names the host ${server}`);
      assert.deepEqual(flag(command, '--out'), [`/var/lib/artstore/tls/${server}`]);
      assert.ok(command.includes('--if-due') && command.includes('--reload'), 'each run renews only when due and reloads the server');
      assert.ok(job.volumes?.includes(`${server}_tls:/var/lib/artstore/tls/${server}`));
      assert.ok(job.volumes?.includes('postgres_socket:/var/run/postgresql'));
      const config = loadConfig('storage-element', containerEnv(job));
      assert.equal(new URL(config.databaseUrl.reveal()).searchParams.get('host'), '/var/run/postgresql');
      assert.ok(config.pki.keyEncryptionKey);
      assert.equal(config.pki.bundleFile, BUNDLE);
      assert.equal(job.restart, 'no');
    }
    assert.equal(jobs.postgres.depends_on?.migrate?.condition, 'service_completed_successfully');
    assert.equal(jobs.redis.depends_on?.['postgres-certificate']?.condition, 'service_completed_successfully');
    assert.equal(service(production, 'redis').depends_on?.['redis-certificate']?.condition, 'service_completed_successfully');
    for (const name of APP_SERVICES) {
      assert.equal(service(production, name).depends_on?.['postgres-certificate']?.condition, 'service_completed_successfully', name);
    }
    const postgres = args('postgres').join(' ');
    assert.match(postgres, /ssl_cert_file=\/var\/lib\/artstore\/tls\/postgres\/tls\.crt/);
    assert.match(postgres, /ssl_key_file=\/var\/lib\/artstore\/tls\/postgres\/tls\.key/);
    assert.ok(service(production, 'postgres').volumes?.includes('postgres_tls:/var/lib/artstore/tls/postgres:ro'));
    const redis = args('redis').join(' ');
    assert.match(redis, /--port 0 --tls-port 6379/);
    assert.match(redis, /--tls-cert-file "\$\$REDIS_TLS_DIR\/tls\.crt"/);
    assert.equal(service(production, 'redis').environment?.REDIS_TLS_DIR, '/var/lib/artstore/tls/redis');
    assert.ok(service(production, 'redis').volumes?.includes('redis_tls:/var/lib/artstore/tls/redis:ro'));
  });

  for (const [file, compose] of [
    ['compose.yml', production],
    ['compose.dev.yml', development],
  ] as const) {
    it(`when ${file} starts, then migrate runs once after postgres is healthy and every module and worker waits for it`, () => {
      const migrate = service(compose, 'migrate');
      assert.equal(migrate.restart, 'no');
      assert.equal(migrate.healthcheck, undefined);
      assert.deepEqual(migrate.depends_on, { postgres: { condition: 'service_healthy' } });
      for (const name of APP_SERVICES) {
        const deps = service(compose, name).depends_on ?? {};
        assert.equal(deps.migrate?.condition, 'service_completed_successfully', `${name} must wait for migrate`);
        assert.equal(deps.postgres?.condition, 'service_healthy', `${name} must wait for postgres`);
        assert.equal(deps.redis?.condition, 'service_healthy', `${name} must wait for redis`);
        for (const [dependency, { condition }] of Object.entries(deps)) {
          if (condition === 'service_healthy')
            assert.ok(service(compose, dependency).healthcheck?.test, `${name} waits for ${dependency}, which has no healthcheck`);
        }
      }
    });

    it(`when ${file} runs, then every long-running service has a healthcheck and the audit writer at least two replicas`, () => {
      for (const [name, svc] of Object.entries(compose.services)) {
        if (ONE_SHOTS.includes(name)) continue;
        assert.ok(svc.healthcheck?.test?.length, `${name} has no healthcheck`);
      }
      assert.ok((service(compose, 'audit-writer').deploy?.replicas ?? 1) >= 2);
      assert.ok((service(compose, 'maintenance').deploy?.replicas ?? 1) >= 1);
      for (const worker of ['audit-writer', 'maintenance']) {
        assert.equal(service(compose, worker).ports, undefined, `${worker} replicas cannot share a published port`);
      }
    });

    it(`when ${file} stores data, then postgres, redis and stored files live on named volumes`, () => {
      const named = Object.keys(compose.volumes ?? {});
      const mounts: Record<string, string> = { postgres: '/var/lib/postgresql/data', redis: '/data', 'storage-element': '/var/lib/artstore/storage' };
      for (const [name, target] of Object.entries(mounts)) {
        const volume = (service(compose, name).volumes ?? []).find((v) => v.endsWith(`:${target}`));
        assert.ok(volume && named.includes(volume.split(':')[0]!), `${name}: ${target} is not on a named volume`);
      }
      for (const [name, svc] of Object.entries(compose.services)) {
        for (const volume of svc.volumes ?? []) {
          const source = volume.split(':')[0]!;
          if (volume.includes(':') && !source.startsWith('.') && !source.startsWith('/'))
            assert.ok(named.includes(source), `${name}: volume ${source} is not declared`);
        }
      }
    });

    it(`when ${file} configures redis, then AOF is on, nothing is evicted and the password comes from outside the file`, () => {
      const command = (service(compose, 'redis').command ?? []).join(' ');
      assert.match(command, /--appendonly yes/);
      assert.match(command, /--maxmemory-policy noeviction/);
      assert.match(command, /requirepass "\$\$\((cat "\$\$REDIS_PASSWORD_FILE")\)"|requirepass "\$\$REDIS_PASSWORD"/);
    });
  }

  it('when an image is built, then every service command names an entry that exists in the image', () => {
    const stages = dockerfileStages();
    const ignore = readFileSync(path.join(dockerDir, 'Dockerfile.dockerignore'), 'utf8').split('\n');
    const inContext = (file: string) => ignore.includes(`!${file}`) || ignore.includes(`!${file.split('/')[0]}/`);
    for (const [file, compose] of [
      ['compose.yml', production],
      ['compose.dev.yml', development],
    ] as const) {
      for (const [name, svc] of Object.entries(compose.services)) {
        if (!svc.build) continue;
        assert.equal(path.resolve(dockerDir, svc.build.context), repoRoot, `${file} ${name}: build context`);
        assert.ok(existsSync(path.resolve(dockerDir, svc.build.context, svc.build.dockerfile)), `${file} ${name}: no ${svc.build.dockerfile}`);
        const stage = stages.get(svc.build.target ?? '');
        assert.ok(stage, `${file} ${name}: the Dockerfile has no stage "${svc.build.target}"`);
        assert.ok(svc.image, `${file} ${name}: an image name lets the services share one build`);
        const command = svc.command ?? [];
        // Modules and workers run the JavaScript `npm run build` makes in the build stage; the
        // migrate job runs its TypeScript through tsx.
        const compiled = command.length === 2 && /^dist\/.+\.js$/.test(command[1] ?? '');
        const entry = compiled ? command[1]!.replace(/^dist\//, '').replace(/\.js$/, '.ts') : command[3];
        if (compiled) {
          assert.equal(command[0], 'node', `${file} ${name}: runs with plain node`);
          assert.match(stages.get('build')!.join('\n'), /RUN npm run build/, `${file} ${name}: the build stage must compile dist/`);
          assert.ok(inContext('tsconfig.build.json'), 'npm run build reads tsconfig.build.json: it must be in the build context');
        } else {
          assert.deepEqual(command.slice(0, 3), ['node', '--import', 'tsx'], `${file} ${name}: runs dist/ JavaScript or TypeScript through tsx`);
        }
        assert.ok(entry && existsSync(path.join(repoRoot, entry)), `${file} ${name}: entry ${entry} does not exist`);
        assert.ok(inContext(entry), `${file} ${name}: ${entry} is excluded from the build context`);
        const copiedDir = compiled ? 'dist' : entry.split('/')[0];
        const copied = [...(stages.get('runtime') ?? []), ...stage].some((line) => /^COPY\b/.test(line) && line.includes(`/app/${copiedDir}`));
        assert.ok(copied, `${file} ${name}: ${copiedDir}/ is not copied into the ${svc.build.target} image`);
        const dev = DEV_PROCESSES.find((p) => p.name === name);
        if (dev) assert.equal(entry, dev.entry, `${name} runs the same entry as npm start`);
      }
    }
    const apps = APP_SERVICES.map((name) => service(production, name));
    assert.equal(new Set(apps.map((s) => s.image)).size, 1, 'the modules and workers share one image');
    assert.ok(inContext('docker/healthcheck.mjs') && existsSync(path.join(dockerDir, 'healthcheck.mjs')));
  });

  it('when the runtime image starts, then it runs as the unprivileged node user in production mode', () => {
    for (const target of ['runtime', 'migrate']) {
      const stage = dockerfileStages().get(target)!;
      const users = stage.filter((line) => /^USER\s/.test(line));
      assert.equal(users.at(-1), 'USER node', `${target} must end as USER node`);
    }
    const runtime = dockerfileStages().get('runtime')!.join('\n');
    assert.match(runtime, /NODE_ENV=production/);
    assert.doesNotMatch(runtime, /npm (ci|install)/, 'no package installation in the runtime stage');
    assert.match(dockerfileStages().get('build')!.join('\n'), /npm prune --omit=dev/);
  });

  it('when the monitoring file starts, then Grafana takes its admin password from a secret', () => {
    const grafana = service(monitoring, 'grafana');
    assert.equal(grafana.environment?.GF_SECURITY_ADMIN_PASSWORD__FILE, '/run/secrets/gf_security_admin_password');
    assert.equal(grafana.environment?.GF_SECURITY_ADMIN_PASSWORD, undefined);
    assert.deepEqual(mountedSecrets(grafana), ['gf_security_admin_password']);
    for (const svc of Object.values(monitoring.services)) assert.ok(svc.healthcheck?.test?.length);
  });
});
