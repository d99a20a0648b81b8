import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_PORTS, type ServiceName } from '../../services/platform/config/index.ts';
import { childExited, forEachLine } from '../embedded/process-control.ts';
import type { LineSink } from './process-logs.ts';

export interface ProcessSpec {
  name: ServiceName;
  entry: string;
  /** Modules serve an API; workers serve only /health and /metrics. */
  kind: 'module' | 'worker';
  /** The id of one of several storage elements; each has its own root, spool and port. */
  storageElementId?: string;
  /** Added to the service's port, so a second instance gets the next one. @defaultValue 0 */
  portShift?: number;
}

/** How a process is named in the launcher's output. */
export const labelOf = (spec: ProcessSpec) => (spec.storageElementId ? `${spec.name} ${spec.storageElementId}` : spec.name);

/** Its log file's name without `.log`: `admin`, `storage-element-hot`. */
export const logNameOf = (spec: ProcessSpec) => labelOf(spec).replaceAll(' ', '-');

export const DEV_PROCESSES: readonly ProcessSpec[] = [
  { name: 'admin', entry: 'services/admin/main.ts', kind: 'module' },
  { name: 'storage-element', entry: 'services/storage-element/main.ts', kind: 'module', storageElementId: 'hot' },
  { name: 'storage-element', entry: 'services/storage-element/main.ts', kind: 'module', storageElementId: 'archive', portShift: 1 },
  { name: 'ingester', entry: 'services/ingester/main.ts', kind: 'module' },
  { name: 'query', entry: 'services/query/main.ts', kind: 'module' },
  { name: 'audit-writer', entry: 'workers/audit-writer/main.ts', kind: 'worker' },
  { name: 'maintenance', entry: 'workers/maintenance/main.ts', kind: 'worker' },
];

/** The default ports (8000…9101), shifted so that `base` takes the place of 8000. */
export function portOf(name: ServiceName, base: number | undefined): number {
  return base === undefined ? DEFAULT_PORTS[name] : base + DEFAULT_PORTS[name] - DEFAULT_PORTS.admin;
}

export interface DevProcess {
  spec: ProcessSpec;
  port: number;
  child: ChildProcess;
  /** Resolves when the process has exited, with how. */
  exited: Promise<string>;
  /** Its last lines of output, for error messages. */
  recentOutput(): string;
}

/**
 * Starts one process as `node --import tsx <entry>` in its own process group, so a Ctrl-C in the
 * terminal reaches only the launcher, which then stops the processes in order. Every line it writes
 * goes to `output` (its log file, or the console) and the last ones are kept for error messages.
 */
export function spawnDevProcess(spec: ProcessSpec, options: { repoRoot: string; env: NodeJS.ProcessEnv; port: number; output: LineSink }): DevProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(options.repoRoot, spec.entry)], {
    cwd: options.repoRoot,
    env: { ...options.env, PORT: String(options.port) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const recent: string[] = [];
  const remember = (line: string) => {
    recent.push(line);
    if (recent.length > 30) recent.shift();
  };
  forEachLine(child.stdout, (line) => {
    remember(line);
    options.output(line, 'stdout');
  });
  forEachLine(child.stderr, (line) => {
    remember(line);
    options.output(line, 'stderr');
  });
  child.on('error', (err) => remember(`failed to start: ${err.message}`));
  const exited = childExited(child).then(() => (child.signalCode ? `killed by ${child.signalCode}` : `exit code ${child.exitCode ?? 'unknown'}`));
  return { spec, port: options.port, child, exited, recentOutput: () => recent.join('\n') };
}

/**
 * Polls GET /health until it answers 200; rejects if the process exits, on timeout or on abort.
 * `fetchWith` is the launcher's fetch: with TLS on, one that trusts the deployment's bundle.
 */
export async function waitForHealth(proc: DevProcess, url: string, timeoutMs: number, signal: AbortSignal, fetchWith: typeof fetch = fetch): Promise<void> {
  let exitedHow: string | undefined;
  void proc.exited.then((how) => (exitedHow = how));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    signal.throwIfAborted();
    if (exitedHow) throw new Error(`${labelOf(proc.spec)} exited before it was healthy (${exitedHow})`);
    try {
      const response = await fetchWith(`${url}/health`, { signal: AbortSignal.any([signal, AbortSignal.timeout(1000)]) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`${labelOf(proc.spec)} did not answer ${url}/health within ${timeoutMs / 1000} s. Its last output:\n${proc.recentOutput()}`);
    }
    await sleep(250);
  }
}

/**
 * SIGTERM to every process group, then SIGKILL to the groups still alive after `graceMs`.
 * Resolves when every process has exited.
 */
export async function stopDevProcesses(procs: readonly DevProcess[], graceMs: number, say: (line: string) => void): Promise<void> {
  const signalGroup = (proc: DevProcess, signal: NodeJS.Signals) => {
    if (proc.child.pid === undefined) return;
    try {
      process.kill(-proc.child.pid, signal);
    } catch {
      // the group is already gone
    }
  };
  const running = procs.filter((proc) => proc.child.exitCode === null && proc.child.signalCode === null);
  for (const proc of running) signalGroup(proc, 'SIGTERM');
  await Promise.all(
    running.map(async (proc) => {
      const timer = setTimeout(() => {
        say(`${labelOf(proc.spec)} (pid ${proc.child.pid}) did not stop within ${graceMs / 1000} s; killing it`);
        signalGroup(proc, 'SIGKILL');
      }, graceMs);
      await proc.exited;
      clearTimeout(timer);
    }),
  );
}
