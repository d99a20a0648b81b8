import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Agent, fetch as undiciFetch } from 'undici';
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
 * /health of a child with TLS_MODE=on, trusting the bundle in its TLS_CA_FILE. The file is read on
 * every try: admin writes it only once its CA is set up, and it is not there before.
 */
async function healthOverTls(url: string, bundleFile: string): Promise<boolean> {
  const ca = await readFile(bundleFile, 'utf8').catch(() => '');
  if (!ca.includes('BEGIN CERTIFICATE')) return false;
  const agent = new Agent({ connect: { ca } });
  try {
    return (await undiciFetch(`${url}/health`, { dispatcher: agent })).ok;
  } catch {
    return false;
  } finally {
    await agent.close();
  }
}

/**
 * Runs an entry file as its own process, so a benchmark's load generator never shares the
 * service's event loop: `node --import tsx <entry>`, or with `compiled` the JavaScript of
 * `npm run build`, as production runs it. Resolves once /health answers. With TLS_MODE=on in `env`
 * the URL is https and /health is asked trusting TLS_CA_FILE. `port` restarts a process where its
 * peers already look for it (their ADMIN_URL, a storage element's registered URL).
 */
export async function startChildService(
  entry: string,
  env: NodeJS.ProcessEnv,
  options: { timeoutMs?: number; nodeArgs?: string[]; compiled?: boolean; port?: number } = {},
): Promise<ChildService> {
  const port = options.port ?? (await pickPort(0));
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
  const tls = env.TLS_MODE === 'on';
  if (tls && !env.TLS_CA_FILE) throw new Error(`${entry}: TLS_MODE=on without TLS_CA_FILE`);
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const healthy = async () => {
    if (exited) throw new Error(`${entry} exited before it was healthy:\n${errors.slice(-20).join('\n')}`);
    if (tls) return healthOverTls(url, env.TLS_CA_FILE!);
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
