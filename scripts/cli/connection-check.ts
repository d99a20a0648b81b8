/**
 * A command line asks PostgreSQL and Redis whether they answer before it does anything, so a server
 * that is not running ends the command at once with a sentence that says which one and what to do,
 * rather than a driver's stack trace or a wait.
 */
import pg from 'pg';
import type { RedisConfig } from '../../services/platform/config/index.ts';
import { waitForRedis, type RedisClient } from '../../services/platform/redis.ts';
import { cameFromSettings, type CliEnvironment } from './cli-environment.ts';
import { CommandLineError } from './command-line-error.ts';

const CONNECT_TIMEOUT_MS = 5000;

function hostOf(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || (parsed.protocol.startsWith('redis') ? '6379' : '5432')}`;
  } catch {
    return 'its configured address';
  }
}

function advice(cli: CliEnvironment, variable: string): string {
  return cameFromSettings(cli, variable)
    ? `Its address came from the development settings ${cli.settingsFile}: is \`npm start\` running? Start it and run this again.`
    : `Check ${variable} and that the server is running.`;
}

export async function assertDatabaseAnswers(cli: CliEnvironment, databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  try {
    await client.connect();
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new CommandLineError(`cannot connect to PostgreSQL at ${hostOf(databaseUrl)} (${reason}). ${advice(cli, 'DATABASE_URL')}`);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Waits for `redis`. A Redis the development settings named must answer (it is the one `npm start`
 * runs); one the environment names may be away, and `onAway` decides (a warning, and the audit spool).
 */
export async function awaitRedis(cli: CliEnvironment, redis: RedisClient, target: RedisConfig, onAway: (err: Error) => void): Promise<void> {
  try {
    await waitForRedis(redis, CONNECT_TIMEOUT_MS);
  } catch (err) {
    if (cameFromSettings(cli, 'REDIS_URL')) {
      const where = target.mode === 'cluster' ? target.nodes.map(({ host, port }) => `${host}:${port}`).join(', ') : hostOf(target.url.reveal());
      throw new CommandLineError(`cannot connect to Redis at ${where}. ${advice(cli, 'REDIS_URL')}`);
    }
    onAway(err as Error);
  }
}
