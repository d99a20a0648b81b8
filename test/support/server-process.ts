import { spawn } from 'node:child_process';
import { childExited, forEachLine, stopChild } from '../../scripts/embedded/process-control.ts';
import { waitFor } from './wait-for.ts';

export interface ServerProcess {
  /** Everything it printed so far, for a failing test's message. */
  output(): string;
  stop(signal: NodeJS.Signals, graceMs: number): Promise<void>;
}

/**
 * Starts a server the tests need (a TLS-only redis-server, a PostgreSQL cluster) and resolves once
 * it prints `ready`; rejects with its output when it exits first or takes longer than `timeoutMs`.
 */
export async function startServerProcess(
  name: string,
  program: string,
  args: readonly string[],
  ready: RegExp,
  options: { timeoutMs: number; intervalMs?: number },
): Promise<ServerProcess> {
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  forEachLine(child.stdout, (line) => output.push(line));
  forEachLine(child.stderr, (line) => output.push(line));
  let exited = false;
  void childExited(child).then(() => (exited = true));
  await waitFor(
    () => {
      if (exited) throw new Error(`${name} exited:\n${output.join('\n')}`);
      return output.some((line) => ready.test(line));
    },
    { timeoutMs: options.timeoutMs, intervalMs: options.intervalMs ?? 100, message: () => `${name} to start:\n${output.join('\n')}` },
  );
  return { output: () => output.join('\n'), stop: (signal, graceMs) => stopChild(child, signal, 'SIGKILL', graceMs) };
}
