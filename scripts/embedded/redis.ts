import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { childExited, clearStalePidFile, forEachLine, pickPort, stopChild } from './process-control.ts';

export interface EmbeddedRedisOptions {
  /** Holds the append-only file and the pid file; kept across runs. */
  dataDir: string;
  /** @defaultValue 63799, or a free port when that one is taken */
  port?: number;
  /** Receives the server's log lines. @defaultValue no logging */
  log?: (line: string) => void;
}

export interface EmbeddedRedis {
  /** `redis://127.0.0.1:<port>/0` */
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 30_000;

export const REDIS_MISSING_MESSAGE =
  'redis-server was not found on PATH, and the development launcher needs Redis for the BullMQ queues. ' +
  'Install it with `apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS), ' +
  'or run one in a container with `docker run -p 6379:6379 redis:7`, or set REDIS_URL to an existing ' +
  'Redis server (for example REDIS_URL=redis://127.0.0.1:6379/0) and start again.';

/**
 * Runs `redis-server` from PATH on 127.0.0.1 with append-only persistence in `dataDir` and no RDB
 * snapshots. Loopback only and no password: a development default.
 */
export async function startEmbeddedRedis(options: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  const log = options.log ?? (() => {});
  const executable = await findOnPath('redis-server');
  if (!executable) throw new Error(REDIS_MISSING_MESSAGE);
  const dataDir = path.resolve(options.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const pidFile = path.join(dataDir, 'redis.pid');
  await clearStalePidFile({
    pidFile,
    belongsToUs: (commandLine) => commandLine.includes('redis-server'),
    signal: 'SIGTERM',
    log,
  });

  const port = options.port ?? (await pickPort(63799));
  const server = spawn(
    executable,
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--dir',
      dataDir,
      '--appendonly',
      'yes',
      '--save',
      '',
      '--pidfile',
      pidFile,
      '--daemonize',
      'no',
      '--protected-mode',
      'yes',
      '--loglevel',
      'warning',
    ],
    // Own process group: the launcher stops Redis after the processes that use it.
    { cwd: dataDir, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  const recent: string[] = [];
  const onLine = (line: string) => {
    recent.push(line);
    if (recent.length > 20) recent.shift();
    log(line);
  };
  forEachLine(server.stdout, onLine);
  forEachLine(server.stderr, onLine);
  await new Promise<void>((resolve, reject) => server.once('spawn', resolve).once('error', reject));

  const stopOnExit = () => server.kill('SIGTERM');
  process.once('exit', stopOnExit);
  const stop = async () => {
    process.off('exit', stopOnExit);
    // SIGTERM makes Redis fsync the append-only file and exit; SIGKILL only if that hangs.
    await stopChild(server, 'SIGTERM', 'SIGKILL', 10_000);
  };

  try {
    await waitForPong(port, childExited(server), () => recent.join('\n'));
  } catch (err) {
    await stop();
    throw err;
  }
  return { url: `redis://127.0.0.1:${port}/0`, port, pid: server.pid!, stop };
}

async function findOnPath(command: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, command);
    const found = await access(candidate, constants.X_OK).then(
      () => true,
      () => false,
    );
    if (found) return candidate;
  }
  return undefined;
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

async function waitForPong(port: number, exited: Promise<void>, recentOutput: () => string): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (gone) throw new Error(`redis-server exited while starting. Its last output:\n${recentOutput()}`);
    if (await ping(port)) return;
    if (Date.now() > deadline) {
      throw new Error(`redis-server did not answer PING within ${READY_TIMEOUT_MS / 1000} s. Its last output:\n${recentOutput()}`);
    }
    await sleep(100);
  }
}
