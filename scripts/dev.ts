/**
 * `npm start [-- --logs]`: the whole system on this machine. PostgreSQL and Redis come from
 * DATABASE_URL / REDIS_URL (or their _FILE forms) when set, else embedded servers with data in
 * `.data/`; development secrets are generated once into `.data/secrets/`; migrations run; then the
 * four modules (the storage element twice: `hot` and `archive`) and two workers start as child
 * processes. The processes' output goes to `.data/logs/<process>.log` (shown live instead with
 * `--logs` or ARTSTORE_LOGS=console); once all are healthy the settings the command lines need are
 * written to `.data/dev-settings.json` and a summary is printed last. Ctrl-C stops everything and
 * exits 0.
 *
 * Launcher-only settings: ARTSTORE_DATA_DIR (default <repo>/.data), ARTSTORE_PORT_BASE (the port
 * that replaces 8000; the others keep their offsets), ARTSTORE_LOGS (`files` or `console`) and
 * ARTSTORE_TLS (`1`: every process with TLS_MODE=on, admin first; scripts/dev/tls-launch.ts).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_PORTS, readSecret, SECRET_NAMES } from '../services/platform/config/index.ts';
import { applyMigrations } from './db/migrations.ts';
import { startEmbeddedPostgres } from './embedded/postgres.ts';
import { startEmbeddedRedis } from './embedded/redis.ts';
import { dataDirOf, writeDevelopmentSettings } from './dev/development-settings.ts';
import { LOG_DESTINATIONS, openProcessLogs, type LogDestination, type ProcessLogs } from './dev/process-logs.ts';
import { ensureDevelopmentSecrets, writeSecretFile } from './dev/secrets.ts';
import { DEV_PROCESSES, labelOf, logNameOf, portOf, spawnDevProcess, stopDevProcesses, waitForHealth, type DevProcess } from './dev/processes.ts';
import { formatStartSummary } from './dev/start-summary.ts';
import { bundleFetch, bundleFileOf, parseLauncherTls, removeOldBundle, tlsEnvironment } from './dev/tls-launch.ts';

const HEALTH_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 8_000;

const repoRoot = path.resolve(import.meta.dirname, '..');
const settings = (() => {
  try {
    return readLauncherSettings(process.env, process.argv.slice(2));
  } catch (err) {
    const badFlag = String((err as { code?: string }).code).startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`[dev] ${(err as Error).message}${badFlag ? ' (npm start takes one flag: npm start -- --logs)' : ''}\n`);
    process.exit(2);
  }
})();
const say = (line: string) => process.stdout.write(`[dev] ${line}\n`);
/** Opened first thing at start-up; closed last, after every process that writes to it has stopped. */
let logs: ProcessLogs | undefined;

/** What was started, in start order; stopped in reverse after the child processes. */
const embedded: { name: string; stop(): Promise<void> }[] = [];
const children: DevProcess[] = [];
const starting = new AbortController();
let stopping = false;

function readLauncherSettings(env: NodeJS.ProcessEnv, args: string[]) {
  const { values } = parseArgs({ args, options: { logs: { type: 'boolean' } }, strict: true });
  const base = env.ARTSTORE_PORT_BASE;
  // The workers sit furthest above the admin port (9101 against 8000); every port must stay valid.
  const highestBase = 65_535 - (Math.max(...Object.values(DEFAULT_PORTS)) - DEFAULT_PORTS.admin);
  if (base !== undefined && base !== '' && !(/^\d+$/.test(base) && Number(base) >= 1 && Number(base) <= highestBase)) {
    throw new Error(`ARTSTORE_PORT_BASE must be a port from 1 to ${highestBase}, got "${base}"`);
  }
  const logsTo = env.ARTSTORE_LOGS || 'files';
  if (!(LOG_DESTINATIONS as readonly string[]).includes(logsTo)) {
    throw new Error(`ARTSTORE_LOGS must be ${LOG_DESTINATIONS.join(' or ')}, got "${logsTo}"`);
  }
  return {
    dataDir: dataDirOf(env),
    customDataDir: Boolean(env.ARTSTORE_DATA_DIR),
    portBase: base ? Number(base) : undefined,
    host: env.HOST || '127.0.0.1',
    logsTo: values.logs ? 'console' : (logsTo as LogDestination),
    tls: parseLauncherTls(env.ARTSTORE_TLS),
  };
}

async function startAll(): Promise<string> {
  const { dataDir } = settings;
  await mkdir(dataDir, { recursive: true });
  logs = await openProcessLogs(settings.logsTo, path.join(dataDir, 'logs'));
  if (logs.destination === 'files') say(`process output goes to ${logs.dir}${path.sep} (npm start -- --logs shows it here)`);
  const secretsDir = path.join(dataDir, 'secrets');
  const secretFiles = await ensureDevelopmentSecrets(secretsDir, process.env, { tls: settings.tls });
  if (settings.tls) await removeOldBundle(dataDir);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...(settings.tls ? tlsEnvironment(dataDir) : {}),
    ENVIRONMENT: 'development',
    HOST: settings.host,
    ADMIN_BOOTSTRAP_CLIENT_ID: process.env.ADMIN_BOOTSTRAP_CLIENT_ID || 'admin-service',
    // The module-to-module account: admin creates it at its first start, ingester and query use it.
    STORAGE_CLIENT_ID: process.env.STORAGE_CLIENT_ID || 'storage-service',
    ...secretFiles,
  };
  delete env.PORT;
  const scheme = settings.tls ? 'https' : 'http';
  // The digest sink mirrors this data directory's database, so it lives beside it.
  env.AUDIT_DIGEST_DIR ||= path.join(dataDir, 'audit-digests');
  // The other processes verify tokens against, and the storage client asks, the admin module where it really listens.
  env.ADMIN_URL ||= `${scheme}://${healthHost(settings.host)}:${portOf('admin', settings.portBase)}`;

  const summary: [string, string][] = [];
  const givenDatabaseUrl = readSecret(process.env, 'DATABASE_URL');
  const givenRedisUrl = readSecret(process.env, 'REDIS_URL');
  const serverLog = (name: string) => {
    const sink = logs!.sink(name, `[dev] ${name}: `);
    return (line: string) => sink(line, 'stdout');
  };
  const [postgres, redis] = await Promise.allSettled([
    givenDatabaseUrl
      ? undefined
      : startEmbeddedPostgres({ dataDir: path.join(dataDir, 'postgres'), log: serverLog('postgres') }).then((pg) => {
          embedded.push({ name: 'PostgreSQL', stop: pg.stop });
          say(`started PostgreSQL (pid ${pg.pid})`);
          return pg;
        }),
    givenRedisUrl
      ? undefined
      : startEmbeddedRedis({ dataDir: path.join(dataDir, 'redis'), log: serverLog('redis') }).then((r) => {
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
    summary.push(['PostgreSQL', `127.0.0.1:${postgres.value.port}/artstore (embedded; URL in ${env.DATABASE_URL_FILE})`]);
  } else {
    databaseUrl = givenDatabaseUrl!.reveal();
    summary.push(['PostgreSQL', 'from DATABASE_URL']);
  }
  if (redis.value) {
    env.REDIS_URL = redis.value.url;
    summary.push(['Redis', `${redis.value.url} (embedded)`]);
  } else {
    summary.push(['Redis', 'from REDIS_URL']);
  }

  const migrationLog = serverLog('migrate');
  await applyMigrations(databaseUrl, {
    log: (line) => {
      migrationLog(line);
      // The count is worth a line on the terminal when the output goes to files; the details are in migrate.log.
      if (logs!.destination === 'files' && /^(Applied \d+ migration|No pending migrations)/.test(line)) say(`migrate: ${line}`);
    },
  });
  starting.signal.throwIfAborted();

  const urlOf = (proc: DevProcess) => `${scheme}://${healthHost(settings.host)}:${proc.port}`;
  const health = settings.tls ? bundleFetch(bundleFileOf(dataDir)) : undefined;
  const healthy = (proc: DevProcess) => waitForHealth(proc, urlOf(proc), HEALTH_TIMEOUT_MS, starting.signal, health?.fetch);
  for (const spec of DEV_PROCESSES) {
    // With TLS the others start from the bundle admin writes and ask admin for their certificates: admin comes first.
    if (settings.tls && spec.name !== 'admin' && children.length === 1) await healthy(children[0]!);
    const proc = spawnDevProcess(spec, {
      repoRoot,
      env: { ...env, ...processEnv(spec) },
      port: portOf(spec.name, settings.portBase) + (spec.portShift ?? 0),
      output: logs!.sink(logNameOf(spec), `[${labelOf(spec)}] `),
    });
    children.push(proc);
    say(`started ${labelOf(spec)} (pid ${proc.child.pid}) on port ${proc.port}`);
    void proc.exited.then((how) => {
      if (stopping) return;
      const file = logs?.fileOf(logNameOf(spec));
      process.stderr.write(
        `[dev] ${labelOf(spec)} exited unexpectedly (${how}). Its last output${file ? ` (all of it in ${file})` : ''}:\n${proc.recentOutput()}\n`,
      );
      void shutdown(1);
    });
  }
  await Promise.all(children.map(healthy)).finally(() => health?.close());

  const settingsFile = await writeDevelopmentSettings(dataDir, commandLineSettings(env, secretFiles));
  const services = children.map((proc): [string, string] => [labelOf(proc.spec), proc.spec.kind === 'module' ? urlOf(proc) : `${urlOf(proc)}/metrics`]);
  const secretFile = env.ADMIN_BOOTSTRAP_CLIENT_SECRET_FILE;
  return formatStartSummary({
    rows: [...services, ...summary, ['admin client', `${env.ADMIN_BOOTSTRAP_CLIENT_ID}${secretFile ? ` (secret in ${secretFile})` : ''}`]],
    adminUrl: env.ADMIN_URL,
    adminClientId: env.ADMIN_BOOTSTRAP_CLIENT_ID!,
    adminSecretFile: secretFile,
    logDir: logs!.destination === 'files' ? logs!.dir : undefined,
    caFile: settings.tls ? bundleFileOf(dataDir) : undefined,
    settingsFile,
    customDataDir: settings.customDataDir ? dataDir : undefined,
  });
}

/**
 * Every process keeps its audit spool under the data directory; each storage element also its
 * content, in a directory of its own.
 */
function processEnv(spec: (typeof DEV_PROCESSES)[number]): NodeJS.ProcessEnv {
  const spool = { AUDIT_SPOOL_DIR: path.join(settings.dataDir, 'audit-spool', logNameOf(spec)) };
  if (!spec.storageElementId) return spool;
  return { ...spool, STORAGE_ELEMENT_ID: spec.storageElementId, STORAGE_ROOT: path.join(settings.dataDir, 'storage', spec.storageElementId) };
}

/**
 * What a command line (`npm run keys:rotate`, …) needs to reach what this start runs, for
 * dev-settings.json: paths and URLs only. A secret is recorded as its file; one given to `npm start`
 * as a value is not recorded at all, and is named so a command can say it needs it too.
 */
function commandLineSettings(env: NodeJS.ProcessEnv, secretFiles: Record<string, string>) {
  const variables: Record<string, string> = { ...secretFiles };
  const pick = (name: string) => {
    if (env[name]) variables[name] = env[name];
  };
  for (const name of SECRET_NAMES) pick(`${name}_FILE`);
  // The embedded Redis has no password; a Redis URL given to npm start may, so it is recorded only as a file.
  if (!readSecret(process.env, 'REDIS_URL')) pick('REDIS_URL');
  for (const name of ['ADMIN_URL', 'AUDIT_DIGEST_DIR', 'ADMIN_BOOTSTRAP_CLIENT_ID', 'STORAGE_CLIENT_ID', 'BULLMQ_PREFIX', 'JWT_ALGORITHM']) pick(name);
  // With TLS: the bundle to trust (TLS_CA_FILE) and to refresh (PKI_BUNDLE_FILE, npm run pki:issue); the CA key is a secret file above.
  for (const name of ['TLS_CA_FILE', 'PKI_BUNDLE_FILE']) pick(name);
  // The command lines' own spool: an event they could not queue is replayed by the next command, never by a module.
  variables.AUDIT_SPOOL_DIR = path.join(settings.dataDir, 'audit-spool', 'cli');
  const notRecorded = SECRET_NAMES.filter((name) => process.env[name]);
  return { variables, not_recorded: notRecorded };
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
  await logs?.close();
  say(code === 0 ? 'stopped' : `stopped after a failure${logs?.destination === 'files' ? `; the processes' logs are in ${logs.dir}${path.sep}` : ''}`);
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
  (summary) => {
    if (stopping) return;
    process.stdout.write(summary);
  },
  (err: unknown) => {
    // Once stopping, the reason (a signal, a process that died) has already been reported.
    if (stopping) return;
    process.stderr.write(`[dev] start-up failed: ${(err as Error).message}\n`);
    void shutdown(1);
  },
);
