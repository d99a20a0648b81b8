import { execFile, type ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

/** `preferred` when nothing listens on 127.0.0.1:preferred, else a free port the kernel picks. */
export async function pickPort(preferred: number): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(undefined));
      server.listen(port, '127.0.0.1', () => {
        const address = server.address();
        const chosen = typeof address === 'object' && address ? address.port : undefined;
        server.close(() => resolve(chosen));
      });
    });
  const port = (await tryListen(preferred)) ?? (await tryListen(0));
  if (port === undefined) throw new Error(`no free TCP port on 127.0.0.1 (tried ${preferred} and an ephemeral one)`);
  return port;
}

/** Calls `onLine` for every complete line the stream emits (and the unterminated rest at its end). */
export function forEachLine(stream: Readable | null, onLine: (line: string) => void): void {
  if (!stream) return;
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (pending + chunk).split(/\r?\n/);
    pending = lines.pop() ?? '';
    for (const line of lines) if (line !== '') onLine(line);
  });
  stream.on('end', () => {
    if (pending !== '') onLine(pending);
    pending = '';
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The command line of a running process, or undefined when it is gone (ps works on Linux and macOS). */
export function commandLineOf(pid: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('ps', ['-o', 'args=', '-p', String(pid)], (err, stdout) => resolve(err ? undefined : stdout.trim() || undefined));
  });
}

/** Resolves once the child has exited (at once if it already has). */
export function childExited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Signals the child, then escalates to `forceSignal` if it is still running after `graceMs`.
 * Resolves when it has exited.
 */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals, forceSignal: NodeJS.Signals, graceMs: number): Promise<void> {
  const exited = childExited(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill(forceSignal), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * A previous run that was killed (SIGKILL, closed terminal) can leave its server running or its pid
 * file behind. When the pid file names a live process whose command line `belongsToUs` accepts, it
 * is stopped with `signal` and waited for; the pid file is removed in every case.
 */
export async function clearStalePidFile(options: {
  pidFile: string;
  belongsToUs: (commandLine: string) => boolean;
  signal: NodeJS.Signals;
  log: (line: string) => void;
  timeoutMs?: number;
}): Promise<void> {
  let text: string;
  try {
    text = await readFile(options.pidFile, 'utf8');
  } catch {
    return;
  }
  const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
  const commandLine = Number.isInteger(pid) && pid > 0 ? await commandLineOf(pid) : undefined;
  if (commandLine !== undefined && options.belongsToUs(commandLine)) {
    options.log(`stopping pid ${pid} left running by a previous run (${options.pidFile})`);
    process.kill(pid, options.signal);
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    while (isAlive(pid)) {
      if (Date.now() > deadline) {
        throw new Error(`pid ${pid} from ${options.pidFile} did not stop within ${options.timeoutMs ?? 30_000} ms; stop it by hand`);
      }
      await sleep(100);
    }
  } else {
    options.log(`removing stale pid file ${options.pidFile}`);
  }
  await rm(options.pidFile, { force: true });
}
