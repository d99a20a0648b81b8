/**
 * `npm start`: the whole system on this machine. PostgreSQL and Redis come from DATABASE_URL /
 * REDIS_URL (or their _FILE forms) when set, else embedded servers with data in `.data/`;
 * development secrets are generated once into `.data/secrets/`; migrations run; then the four
 * modules (the storage element twice: `hot` and `archive`) and two workers start as child
 * processes. Ctrl-C stops everything and exits 0.
 *
 * Launcher-only settings: ARTSTORE_DATA_DIR (default <repo>/.data) and ARTSTORE_PORT_BASE (the
 * port that replaces 8000; the others keep their offsets).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { readSecret } from '../services/platform/config/index.ts';
import { applyMigrations } from './db/migrations.ts';
import { startEmbeddedPostgres } from './embedded/postgres.ts';
import { startEmbeddedRedis } from './embedded/redis.ts';
import { ensureDevelopmentSecrets, writeSecretFile } from './dev/secrets.ts';
import { DEV_PROCESSES, labelOf, portOf, spawnDevProcess, stopDevProcesses, waitForHealth, type DevProcess, type ProcessSpec } from './dev/processes.ts';

const HEALTH_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 8_000;

const repoRoot = path.resolve(import.meta.dirname, '..');
const settings = readLauncherSettings(process.env);
const say = (line: string) => process.stdout.write(`[dev] ${line}\n`);

/** What was started, in start order; stopped in reverse after the child processes. */
const embedded: { name: string; stop(): Promise<void> }[] = [];
const children: DevProcess[] = [];
const starting = new AbortController();
let stopping = false;

function readLauncherSettings(env: NodeJS.ProcessEnv) {
  const base = env.ARTSTORE_PORT_BASE;
  if (base !== undefined && base !== '' && !(/^\d+$/.test(base) && Number(base) >= 1 && Number(base) + 101 <= 65_535)) {
    throw new Error(`ARTSTORE_PORT_BASE must be a port from 1 to 65434, got "${base}"`);
  }
  return {
    dataDir: path.resolve(env.ARTSTORE_DATA_DIR || path.join(repoRoot, '.data')),
    portBase: base ? Number(base) : undefined,
    host: env.HOST || '127.0.0.1',
  };
}

async function startAll(): Promise<string[]> {
  const { dataDir } = settings;
  await mkdir(dataDir, { recursive: true });
  const secretsDir = path.join(dataDir, 'secrets');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ENVIRONMENT: 'development',
    HOST: settings.host,
    ADMIN_BOOTSTRAP_CLIENT_ID: process.env.ADMIN_BOOTSTRAP_CLIENT_ID || 'admin-service',
    // The module-to-module account: admin creates it at its first start, ingester and query use it.
    STORAGE_CLIENT_ID: process.env.STORAGE_CLIENT_ID || 'storage-service',
    ...(await ensureDevelopmentSecrets(secretsDir, process.env)),
  };
  delete env.PORT;
  // The digest sink mirrors this data directory's database, so it lives beside it.
  env.AUDIT_DIGEST_DIR ||= path.join(dataDir, 'audit-digests');
  // The other processes verify tokens against, and the storage client asks, the admin module where it really listens.
  env.ADMIN_URL ||= `http://${healthHost(settings.host)}:${portOf('admin', settings.portBase)}`;

  const summary: string[] = [];
  const givenDatabaseUrl = readSecret(process.env, 'DATABASE_URL');
  const givenRedisUrl = readSecret(process.env, 'REDIS_URL');
  const [postgres, redis] = await Promise.allSettled([
    givenDatabaseUrl
      ? undefined
      : startEmbeddedPostgres({ dataDir: path.join(dataDir, 'postgres'), log: (line) => say(`postgres: ${line}`) }).then((pg) => {
          embedded.push({ name: 'PostgreSQL', stop: pg.stop });
          say(`started PostgreSQL (pid ${pg.pid})`);
          return pg;
        }),
    givenRedisUrl
      ? undefined
      : startEmbeddedRedis({ dataDir: path.join(dataDir, 'redis'), log: (line) => say(`redis: ${line}`) }).then((r) => {
          embedded.push({ name: 'Redis', stop: r.stop });
          say(`started Redis (pid ${r.pid})`);
          return r;
        }),
  ]);
  if (postgres.status === 'rejected') throw postgres.reason;
  if (redis.status === 'rejected') throw redis.reason;
  starting.signal.throwIfAborted();

  let databaseUrl: string;
  if (postgres.value) {
    databaseUrl = postgres.value.url;
    env.DATABASE_URL_FILE = path.join(secretsDir, 'database_url');
    await writeSecretFile(env.DATABASE_URL_FILE, databaseUrl);
    summary.push(row('PostgreSQL', `127.0.0.1:${postgres.value.port}/artstore (embedded; URL in ${env.DATABASE_URL_FILE})`));
  } else {
    databaseUrl = givenDatabaseUrl!.reveal();
    summary.push(row('PostgreSQL', 'from DATABASE_URL'));
  }
  if (redis.value) {
    env.REDIS_URL = redis.value.url;
    summary.push(row('Redis', `${redis.value.url} (embedded)`));
  } else {
    summary.push(row('Redis', 'from REDIS_URL'));
  }

  await applyMigrations(databaseUrl, { log: (line) => say(`migrate: ${line}`) });
  starting.signal.throwIfAborted();

  for (const spec of DEV_PROCESSES) {
    const proc = spawnDevProcess(spec, {
      repoRoot,
      env: { ...env, ...storageElementEnv(spec) },
      port: portOf(spec.name, settings.portBase) + (spec.portShift ?? 0),
    });
    children.push(proc);
    say(`started ${labelOf(spec)} (pid ${proc.child.pid}) on port ${proc.port}`);
    void proc.exited.then((how) => {
      if (stopping) return;
      process.stderr.write(`[dev] ${labelOf(spec)} exited unexpectedly (${how}). Its last output:\n${proc.recentOutput()}\n`);
      void shutdown(1);
    });
  }
  const urlOf = (proc: DevProcess) => `http://${healthHost(settings.host)}:${proc.port}`;
  await Promise.all(children.map((proc) => waitForHealth(proc, urlOf(proc), HEALTH_TIMEOUT_MS, starting.signal)));

  const services = children.map((proc) => row(labelOf(proc.spec), proc.spec.kind === 'module' ? urlOf(proc) : `${urlOf(proc)}/metrics`));
  const secrets = env.ADMIN_BOOTSTRAP_CLIENT_SECRET_FILE ? ` (secret in ${env.ADMIN_BOOTSTRAP_CLIENT_SECRET_FILE})` : '';
  return [...services, ...summary, row('admin client', `${env.ADMIN_BOOTSTRAP_CLIENT_ID}${secrets}`)];
}

/** Each storage element keeps its content, and its audit spool, in its own directory under the data directory. */
function storageElementEnv(spec: ProcessSpec): NodeJS.ProcessEnv {
  if (!spec.storageElementId) return {};
  return {
    STORAGE_ELEMENT_ID: spec.storageElementId,
    STORAGE_ROOT: path.join(settings.dataDir, 'storage', spec.storageElementId),
    AUDIT_SPOOL_DIR: path.join(settings.dataDir, 'audit-spool', `storage-element-${spec.storageElementId}`),
  };
}

function row(name: string, value: string): string {
  return `  ${name.padEnd(24)} ${value}`;
}

function healthHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

/** Stops the children first, then the embedded servers they use, and exits with `code`. */
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  starting.abort();
  // Whatever startup is still doing finishes or fails fast, so everything it started is listed.
  await startup.catch(() => {});
  const running = children.filter((proc) => proc.child.exitCode === null && proc.child.signalCode === null);
  if (running.length) say(`stopping ${running.map((proc) => labelOf(proc.spec)).join(', ')}`);
  await stopDevProcesses(children, STOP_GRACE_MS, say);
  for (const server of embedded.reverse()) {
    say(`stopping ${server.name}`);
    await server.stop().catch((err: unknown) => say(`${server.name} did not stop cleanly: ${(err as Error).message}`));
  }
  say(code === 0 ? 'stopped' : 'stopped after a failure');
  process.exit(code);
}

let firstSignalAt = 0;
const onSignal = (signal: NodeJS.Signals) => {
  if (stopping) {
    // A Ctrl-C under `npm start` arrives twice: from the terminal and relayed by the tsx CLI.
    if (Date.now() - firstSignalAt > 1000) say(`${signal} received again; still stopping`);
    return;
  }
  firstSignalAt = Date.now();
  say(`${signal} received`);
  void shutdown(0);
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('uncaughtException', (err) => {
  process.stderr.write(`[dev] unexpected error: ${err.stack ?? err.message}\n`);
  void shutdown(1);
});

const startup = startAll();
startup.then(
  (table) => {
    if (stopping) return;
    say(`ArtStore is running (development):\n${table.join('\n')}\n[dev] Ctrl-C stops everything.`);
  },
  (err: unknown) => {
    // Once stopping, the reason (a signal, a process that died) has already been reported.
    if (stopping) return;
    process.stderr.write(`[dev] start-up failed: ${(err as Error).message}\n`);
    void shutdown(1);
  },
);
