import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { DEFAULT_PORTS } from '../../services/platform/config/index.ts';

/**
 * Variables that would make `npm start` use outside servers, secrets or settings instead of its own;
 * a test of the launcher removes them, so it starts as it does for a new user.
 */
const OUTSIDE_SETTINGS = [
  'DATABASE_URL',
  'REDIS_URL',
  'POSTGRES_HOST',
  'REDIS_HOST',
  'AUDIT_LOG_SECRET_KEY',
  'JWT_KEY_ENCRYPTION_KEY',
  'AUDIT_DIGEST_KEY_ENCRYPTION_KEY',
  'ADMIN_BOOTSTRAP_CLIENT_SECRET',
  'ADMIN_BOOTSTRAP_CLIENT_ID',
  'STORAGE_CLIENT_SECRET',
  'STORAGE_CLIENT_ID',
  'METRICS_TOKEN',
  'ADMIN_URL',
  'AUDIT_DIGEST_DIR',
  'AUDIT_SPOOL_DIR',
  'BULLMQ_PREFIX',
  'PORT',
  'HOST',
  'ENVIRONMENT',
  'ARTSTORE_LOGS',
];

/** This process's environment without OUTSIDE_SETTINGS (nor their _FILE forms), with `settings` on top. */
export function launcherEnv(settings: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of OUTSIDE_SETTINGS) {
    delete env[name];
    delete env[`${name}_FILE`];
  }
  return { ...env, ...settings };
}

/** Every port `npm start` takes, above ARTSTORE_PORT_BASE: each process's offset, and the second storage element's. */
const PORT_OFFSETS = [...new Set(Object.values(DEFAULT_PORTS).flatMap((port) => [port - DEFAULT_PORTS.admin, port - DEFAULT_PORTS.admin + 1]))];

/** The first port of the kernel's ephemeral range (Linux's default when it cannot be read). */
function ephemeralPortsFrom(): number {
  const first = Number(/^\s*(\d+)/.exec(readFileSafely('/proc/sys/net/ipv4/ip_local_port_range'))?.[1]);
  return Number.isInteger(first) && first > 21_000 ? first : 32_768;
}

function readFileSafely(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** An ARTSTORE_PORT_BASE between 20000 and 40000 under which every port the launcher takes is free. */
export async function freePortBase(): Promise<number> {
  // Below the kernel's ephemeral range: a port free now could otherwise be taken by any outgoing
  // connection (another test's, Redis's, PostgreSQL's) before the launcher listens on it.
  const blocks = Math.floor((ephemeralPortsFrom() - Math.max(...PORT_OFFSETS) - 1 - 20_000) / 200);
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20_000 + 200 * Math.floor(Math.random() * blocks);
    const free = await Promise.all(PORT_OFFSETS.map((offset) => portIsFree(base + offset)));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no free block of ports for the launcher');
}

function processTable(): Promise<{ pid: number; ppid: number; zombie: boolean }[]> {
  return new Promise((resolve, reject) =>
    execFile('ps', ['-eo', 'pid=,ppid=,stat='], (err, stdout) => {
      if (err) return reject(err);
      resolve(
        stdout
          .trim()
          .split('\n')
          .map((line) => line.trim().split(/\s+/))
          .map(([pid, ppid, stat]) => ({ pid: Number(pid), ppid: Number(ppid), zombie: (stat ?? '').startsWith('Z') })),
      );
    }),
  );
}

/** Every live process below `root`, however deep. */
export async function descendantsOf(root: number): Promise<number[]> {
  const table = await processTable();
  const found: number[] = [];
  const queue = [root];
  while (queue.length) {
    const parent = queue.shift()!;
    for (const entry of table) {
      if (entry.ppid === parent && !entry.zombie) {
        found.push(entry.pid);
        queue.push(entry.pid);
      }
    }
  }
  return found;
}

/** The pids among `pids` that are still running (zombies excluded). */
export async function stillRunning(pids: number[]): Promise<number[]> {
  const running = new Set((await processTable()).filter((entry) => !entry.zombie).map((entry) => entry.pid));
  return pids.filter((pid) => running.has(pid));
}
