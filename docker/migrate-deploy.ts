/**
 * The `migrate` container's entry: `prisma migrate deploy` against the database the services use.
 * Prisma reads only DATABASE_URL (prisma.config.ts), while the containers get their credentials as
 * Docker secrets; this builds the URL exactly as the services do (DATABASE_URL_FILE, or
 * POSTGRES_HOST & co. with POSTGRES_PASSWORD_FILE, password URL-encoded) and hands it to Prisma
 * in its environment only. Exits with Prisma's exit code; 1 on a configuration error.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadDatabaseUrl } from '../services/platform/config/index.ts';
import { redactUrl } from '../services/platform/secret.ts';

const prismaBin = fileURLToPath(new URL('../node_modules/.bin/prisma', import.meta.url));

let databaseUrl: string;
try {
  databaseUrl = loadDatabaseUrl(process.env).reveal();
} catch (error) {
  console.error(`migrate: ${error instanceof ConfigError ? error.message : String(error)}`);
  process.exit(1);
}

console.log(`migrate: prisma migrate deploy on ${redactUrl(databaseUrl)}`);
const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: databaseUrl, CHECKPOINT_DISABLE: '1', PRISMA_HIDE_UPDATE_MESSAGE: '1' };
delete env.DATABASE_URL_FILE;
const child = spawn(prismaBin, ['migrate', 'deploy'], { env, stdio: 'inherit' });
child.on('error', (error) => {
  console.error(`migrate: cannot run ${prismaBin}: ${error.message}`);
  process.exit(1);
});
child.on('exit', (code, signal) => {
  if (signal) console.error(`migrate: prisma migrate deploy was killed by ${signal}`);
  process.exit(code ?? 1);
});
