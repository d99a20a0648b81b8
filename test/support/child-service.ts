import { spawn } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { childExited, forEachLine, pickPort, stopChild } from '../../scripts/embedded/process-control.ts';

export interface ChildService {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

const repoRoot = path.resolve(import.meta.dirname, '../..');

/** Where `npm run build` puts an entry's JavaScript: `services/query/main.ts` → `dist/services/query/main.js`. */
const compiledEntry = (entry: string) => path.join(repoRoot, 'dist', entry.replace(/\.ts$/, '.js'));

/**
 * Runs an entry file as its own process, so a benchmark's load generator never shares the
 * service's event loop: `node --import tsx <entry>`, or with `compiled` the JavaScript of
 * `npm run build`, as production runs it. Resolves once /health answers.
 */
export async function startChildService(
  entry: string,
  env: NodeJS.ProcessEnv,
  options: { timeoutMs?: number; nodeArgs?: string[]; compiled?: boolean } = {},
): Promise<ChildService> {
  const port = await pickPort(0);
  const program = options.compiled ? [compiledEntry(entry)] : ['--import', 'tsx', path.join(repoRoot, entry)];
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...program], {
    cwd: repoRoot,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const errors: string[] = [];
  forEachLine(child.stderr, (line) => errors.push(line));
  let exited = false;
  void childExited(child).then(() => (exited = true));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  for (;;) {
    if (exited) throw new Error(`${entry} exited before it was healthy:\n${errors.slice(-20).join('\n')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${entry} was not healthy in time:\n${errors.slice(-20).join('\n')}`);
    }
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    await sleep(100);
  }
  return { url, pid: child.pid!, stop: () => stopChild(child, 'SIGTERM', 'SIGKILL', 8000) };
}
