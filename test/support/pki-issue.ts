import { execFile } from 'node:child_process';
import path from 'node:path';

const repoRoot = path.resolve(import.meta.dirname, '../..');

export interface PkiIssueRun {
  code: number;
  stdout: string;
  stderr: string;
  /** The --json answer, when there is one. */
  answer?: {
    issued: boolean;
    spiffe_id: string;
    reason: string;
    serial_number?: string;
    not_after?: string;
    files: string[];
    reload?: string;
  };
}

/** `npm run pki:issue -- <args> --json` as an operator runs it: its own process, with exactly `env`. */
export function runPkiIssue(args: string[], env: NodeJS.ProcessEnv): Promise<PkiIssueRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/pki_issue.ts', ...args, '--json'],
      { cwd: repoRoot, env: { PATH: process.env.PATH, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? Number((err as { code?: number }).code ?? 1) : 0;
        let answer: PkiIssueRun['answer'];
        try {
          answer = code === 0 ? JSON.parse(stdout) : undefined;
        } catch {
          answer = undefined;
        }
        resolve({ code, stdout, stderr, answer });
      },
    );
  });
}

/** What a run printed, for assertion messages. */
export const shownRun = (run: PkiIssueRun) => `exit ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`;
