/**
 * `npm run db:generate` (also run by `postinstall`): `prisma generate` without network access.
 *
 * Prisma 7's CLI wants its native schema engine present even for `generate`, which never runs it,
 * and tries to download it when missing (`@prisma/engines`' install script is denied in
 * package.json). Pointing PRISMA_SCHEMA_ENGINE_BINARY at any existing file skips that download;
 * the node binary running this script exists on every machine. A caller that has a real engine
 * (e.g. to run `prisma migrate`) sets the variable itself and it is kept.
 * Extra arguments pass through: `npm run db:generate -- --watch`.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const prismaBin = fileURLToPath(new URL('../node_modules/.bin/prisma', import.meta.url));

const env: NodeJS.ProcessEnv = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || process.execPath,
  // No update check, no telemetry: both would reach for the network.
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
  CHECKPOINT_DISABLE: '1',
};

const child = spawn(prismaBin, ['generate', ...process.argv.slice(2)], {
  cwd: repoRoot,
  env,
  stdio: 'inherit',
  shell: process.platform === 'win32',
});

child.on('error', (error) => {
  console.error(`db:generate: cannot run ${prismaBin}: ${error.message}`);
  process.exit(1);
});

child.on('exit', (code, signal) => {
  if (signal) console.error(`db:generate: prisma generate was killed by ${signal}`);
  process.exit(code ?? 1);
});
