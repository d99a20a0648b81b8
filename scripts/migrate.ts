/**
 * `npm run db:migrate`: applies prisma/migrations to the configured database without Prisma's
 * schema engine (see scripts/db/migrations.ts). The URL comes from DATABASE_URL(_FILE)
 * or POSTGRES_HOST & co., exactly as the services read it; in development, after `npm start`, from
 * what it left in dev-settings.json when the environment sets none.
 */
import { ConfigError, loadDatabaseUrl } from '../services/platform/config/index.ts';
import { redactUrl } from '../services/platform/secret.ts';
import { cliEnvironment, explainConfigError, type CliEnvironment } from './cli/cli-environment.ts';
import { CommandLineError } from './cli/command-line-error.ts';
import { assertDatabaseAnswers } from './cli/connection-check.ts';
import { MigrationError, applyMigrations } from './db/migrations.ts';

let cli: CliEnvironment | undefined;
try {
  cli = cliEnvironment('db:migrate');
  const databaseUrl = loadDatabaseUrl(cli.env).reveal();
  await assertDatabaseAnswers(cli, databaseUrl);
  console.log(`Applying migrations to ${redactUrl(databaseUrl)}`);
  await applyMigrations(databaseUrl, { log: (line) => console.log(line) });
} catch (error) {
  if (error instanceof ConfigError && cli) {
    console.error(`db:migrate: ${explainConfigError(cli, error)}`);
  } else if (error instanceof ConfigError || error instanceof MigrationError || error instanceof CommandLineError) {
    console.error(`db:migrate: ${error.message}`);
  } else {
    console.error('db:migrate: failed', error);
  }
  process.exitCode = 1;
}
