/**
 * `npm run db:migrate`: applies prisma/migrations to the configured database without Prisma's
 * schema engine (see scripts/db/migrations.ts). The URL comes from DATABASE_URL(_FILE)
 * or POSTGRES_HOST & co., exactly as the services read it.
 */
import { ConfigError, loadDatabaseUrl } from '../services/platform/config/index.ts';
import { MigrationError, applyMigrations } from './db/migrations.ts';
import { redactUrl } from '../services/platform/secret.ts';

try {
  const databaseUrl = loadDatabaseUrl(process.env).reveal();
  console.log(`Applying migrations to ${redactUrl(databaseUrl)}`);
  await applyMigrations(databaseUrl, { log: (line) => console.log(line) });
} catch (error) {
  if (error instanceof ConfigError || error instanceof MigrationError) {
    console.error(`db:migrate: ${error.message}`);
  } else {
    console.error('db:migrate: failed', error);
  }
  process.exitCode = 1;
}
