import { spawn } from 'node:child_process';
import path from 'node:path';
import { childExited, forEachLine, pickPort, stopChild } from '../../scripts/embedded/process-control.ts';
import { waitFor } from './wait-for.ts';

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
  const healthy = async () => {
    if (exited) throw new Error(`${entry} exited before it was healthy:\n${errors.slice(-20).join('\n')}`);
    return fetch(`${url}/health`).then(
      (r) => r.ok,
      () => false,
    );
  };
  try {
    await waitFor(healthy, {
      timeoutMs: options.timeoutMs ?? 30_000,
      intervalMs: 100,
      message: () => `${entry} to be healthy:\n${errors.slice(-20).join('\n')}`,
    });
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return { url, pid: child.pid!, stop: () => stopChild(child, 'SIGTERM', 'SIGKILL', 8000) };
}
