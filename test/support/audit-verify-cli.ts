import { spawn } from 'node:child_process';
import path from 'node:path';
import { testEnv } from './infra.ts';

const repoRoot = path.resolve(import.meta.dirname, '../..');

/** `npm run audit:verify -- <args>` as an operator runs it, with this run's environment (plus `envOverrides`). */
export function runAuditVerify(args: string[], envOverrides: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'scripts/audit_verify.ts'), ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...testEnv(), ...envOverrides },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
