import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/**
 * An offline stand-in for `prisma migrate deploy` (whose schema engine cannot be downloaded
 * everywhere). It keeps Prisma's bookkeeping byte for byte — same `_prisma_migrations` table,
 * same checksums, same advisory lock — so a real `prisma migrate deploy` later sees these
 * migrations as applied and the two can be mixed freely.
 *
 * Unlike Prisma, each migration runs in one transaction with its bookkeeping row: a failing
 * migration leaves neither schema changes nor a "failed" row behind (Prisma would record a failed
 * row and demand `prisma migrate resolve`). Migrations must therefore be transaction-safe: no
 * `CREATE INDEX CONCURRENTLY`, no `VACUUM`.
 */

export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));

/** The advisory lock id Prisma Migrate takes, so this applier and Prisma exclude each other. */
const PRISMA_MIGRATE_LOCK_ID = 72707369;

/** Copied from Prisma's schema engine (postgres flavour, create_migrations_table). */
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);
`;

const RESOLVE_HELP = 'Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve';

export type MigrationErrorCode =
  /** The database has tables but no `_prisma_migrations` (Prisma P3005). */
  | 'P3005'
  /** A migration is recorded as started but neither finished nor rolled back (Prisma P3009). */
  | 'P3009'
  /** A migration's SQL failed; it was rolled back (Prisma P3018, minus the failed row). */
  | 'P3018'
  /** migration_lock.toml names another provider (Prisma P3019). */
  | 'P3019'
  /** An applied migration's migration.sql no longer matches the recorded checksum. */
  | 'MIGRATION_MODIFIED'
  /** A migration directory has no readable migration.sql. */
  | 'MIGRATION_FILE_MISSING'
  /** Another applier held the migrate lock for longer than the timeout. */
  | 'MIGRATION_LOCK_TIMEOUT';

export class MigrationError extends Error {
  readonly code: MigrationErrorCode;
  /** The migration concerned, when there is one. */
  readonly migrationName: string | undefined;

  constructor(code: MigrationErrorCode, message: string, options: { migrationName?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'MigrationError';
    this.code = code;
    this.migrationName = options.migrationName;
  }
}

export interface MigrationFile {
  /** Directory name, e.g. `20261128043256_init`; migrations apply in this order. */
  name: string;
  script: string;
  /** Hex SHA-256 of the migration.sql bytes, as Prisma records it. */
  checksum: string;
}

export interface ApplyMigrationsOptions {
  /** @defaultValue DEFAULT_MIGRATIONS_DIR (prisma/migrations of this repository) */
  migrationsDir?: string;
  /** Receives one human-readable line per event. @defaultValue no logging */
  log?: (line: string) => void;
  /** How long to wait for another applier's lock, as Prisma does. @defaultValue 10000 */
  lockTimeoutMs?: number;
}

export interface ApplyMigrationsResult {
  applied: string[];
  alreadyApplied: string[];
}

interface MigrationRow {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  started_at: Date;
  logs: string | null;
}

/** The migrations in `dir`, in the order Prisma applies them (directory name order). */
export async function listMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      let bytes: Buffer;
      try {
        bytes = await readFile(path.join(dir, name, 'migration.sql'));
      } catch (cause) {
        throw new MigrationError('MIGRATION_FILE_MISSING', `Migration \`${name}\` has no readable migration.sql in ${dir}`, {
          migrationName: name,
          cause,
        });
      }
      return { name, script: bytes.toString('utf8'), checksum: sha256Hex(bytes) };
    }),
  );
}

/**
 * Applies every migration in `migrationsDir` not yet recorded in `_prisma_migrations`, the way
 * `prisma migrate deploy` does. Refuses to touch a database with a failed migration (P3009) or an
 * applied migration whose file was edited since.
 */
export async function applyMigrations(databaseUrl: string, options: ApplyMigrationsOptions = {}): Promise<ApplyMigrationsResult> {
  const migrationsDir = options.migrationsDir ?? DEFAULT_MIGRATIONS_DIR;
  const log = options.log ?? (() => {});
  await checkLockfileProvider(migrationsDir);
  const migrations = await listMigrations(migrationsDir);

  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await acquireMigrateLock(client, options.lockTimeoutMs ?? 10_000);
    await ensureMigrationsTable(client);
    const rows = await readMigrationRows(client);
    refuseFailedMigrations(rows);

    const applied: string[] = [];
    const alreadyApplied: string[] = [];
    const pending: MigrationFile[] = [];
    for (const migration of migrations) {
      const records = rows.filter((row) => row.migration_name === migration.name && row.rolled_back_at === null);
      if (records.length === 0) {
        pending.push(migration);
        continue;
      }
      if (!records.every((row) => scriptMatchesChecksum(migration.script, row.checksum))) {
        throw new MigrationError(
          'MIGRATION_MODIFIED',
          `Migration \`${migration.name}\` was modified after it was applied: its migration.sql no longer matches the ` +
            `checksum recorded in _prisma_migrations. Restore the original file and put the change in a new migration.`,
          { migrationName: migration.name },
        );
      }
      alreadyApplied.push(migration.name);
    }

    for (const migration of pending) {
      log(`Applying migration \`${migration.name}\``);
      await applyOne(client, migration);
      applied.push(migration.name);
    }
    log(applied.length === 0 ? 'No pending migrations to apply.' : `Applied ${applied.length} migration(s).`);
    return { applied, alreadyApplied };
  } finally {
    // Ending the session releases the advisory lock too.
    await client.end();
  }
}

async function applyOne(client: pg.Client, migration: MigrationFile): Promise<void> {
  await client.query('BEGIN');
  try {
    const id = randomUUID();
    await client.query('INSERT INTO _prisma_migrations (id, checksum, started_at, migration_name) VALUES ($1, $2, clock_timestamp(), $3)', [
      id,
      migration.checksum,
      migration.name,
    ]);
    // No parameters: pg sends the script as one simple query, so it may hold many statements.
    await client.query(migration.script);
    await client.query('UPDATE _prisma_migrations SET applied_steps_count = applied_steps_count + 1, finished_at = clock_timestamp() WHERE id = $1', [id]);
    await client.query('COMMIT');
  } catch (cause) {
    await client.query('ROLLBACK').catch(() => {});
    const dbError = cause as { code?: string; message?: string };
    throw new MigrationError(
      'P3018',
      `Migration \`${migration.name}\` failed to apply and was rolled back; nothing was recorded.\n\n` +
        `Database error code: ${dbError.code ?? 'unknown'}\n\nDatabase error:\n${dbError.message ?? String(cause)}`,
      { migrationName: migration.name, cause },
    );
  }
}

async function acquireMigrateLock(client: pg.Client, timeoutMs: number): Promise<void> {
  // lock_timeout bounds the advisory-lock wait; reset it so it never applies to migration DDL.
  await client.query(`SET lock_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK_ID]);
  } catch (cause) {
    if ((cause as { code?: string }).code === '55P03') {
      throw new MigrationError(
        'MIGRATION_LOCK_TIMEOUT',
        `Timed out after ${timeoutMs} ms waiting for the migrate advisory lock (${PRISMA_MIGRATE_LOCK_ID}); another migration is running.`,
        { cause },
      );
    }
    throw cause;
  } finally {
    await client.query('RESET lock_timeout');
  }
}

/** Prisma's `initialize`: create the table on an empty schema, refuse a non-empty one without it. */
async function ensureMigrationsTable(client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ table_name: string }>(
    `SELECT tbl.relname AS table_name
       FROM pg_class AS tbl
       JOIN pg_namespace AS namespace ON namespace.oid = tbl.relnamespace
      WHERE tbl.relkind = 'r' AND namespace.nspname = current_schema()`,
  );
  if (rows.some((row) => row.table_name === '_prisma_migrations')) return;
  if (rows.length > 0) {
    throw new MigrationError(
      'P3005',
      'The database schema is not empty and has no _prisma_migrations table. Baseline it first: https://pris.ly/d/migrate-baseline',
    );
  }
  await client.query(CREATE_MIGRATIONS_TABLE);
}

async function readMigrationRows(client: pg.Client): Promise<MigrationRow[]> {
  const { rows } = await client.query<MigrationRow>(
    'SELECT migration_name, checksum, finished_at, rolled_back_at, started_at, logs FROM _prisma_migrations ORDER BY started_at ASC',
  );
  return rows;
}

function refuseFailedMigrations(rows: MigrationRow[]): void {
  const failed = rows.filter((row) => row.finished_at === null && row.rolled_back_at === null);
  if (failed.length === 0) return;
  const details = failed
    .map((row) => {
      const logs = row.logs?.trim() ? ` with the following logs:\n${row.logs.trim()}` : '';
      return `The \`${row.migration_name}\` migration started at ${row.started_at.toISOString()} failed${logs}`;
    })
    .join('\n');
  throw new MigrationError('P3009', `migrate found failed migrations in the target database, new migrations will not be applied. ${RESOLVE_HELP}\n${details}`, {
    migrationName: failed[0]?.migration_name,
  });
}

/** Prisma accepts a migration.sql whose line endings changed (git autocrlf) and unpadded legacy checksums. */
function scriptMatchesChecksum(script: string, checksum: string): boolean {
  const variants = [script, script.replaceAll('\r\n', '\n'), script.replaceAll('\n', '\r\n')];
  return variants.some((variant) => {
    const digest = createHash('sha256').update(variant, 'utf8').digest();
    const rendered = checksum.length !== 64 && checksum.length > 0 ? [...digest].map((byte) => byte.toString(16)).join('') : digest.toString('hex');
    return rendered === checksum;
  });
}

function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function checkLockfileProvider(migrationsDir: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(path.join(migrationsDir, 'migration_lock.toml'), 'utf8');
  } catch {
    return;
  }
  const provider = /^\s*provider\s*=\s*"([^"]*)"/m.exec(text)?.[1];
  if (provider !== undefined && provider !== 'postgresql') {
    throw new MigrationError(
      'P3019',
      `The datasource provider \`postgresql\` does not match \`${provider}\` in ${path.join(migrationsDir, 'migration_lock.toml')}.`,
    );
  }
}
