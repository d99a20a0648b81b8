import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { applyMigrations } from '../../scripts/db/migrations.ts';

export interface TestDatabase {
  /** Connection URL of the new database (the admin URL with its database name replaced). */
  url: string;
  name: string;
  /** Drops the database, disconnecting anyone still on it. Safe to call twice. */
  drop(): Promise<void>;
}

const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** A fresh, empty database on the server behind `adminUrl` (no migrations applied). */
export async function createEmptyDatabase(adminUrl: string, name: string = uniqueDatabaseName()): Promise<TestDatabase> {
  if (!DATABASE_NAME.test(name)) {
    throw new Error(`Test database name must match ${DATABASE_NAME}: ${JSON.stringify(name)}`);
  }
  await onAdminConnection(adminUrl, (admin) => admin.query(`CREATE DATABASE "${name}"`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => onAdminConnection(adminUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)),
  };
}

/** A fresh database with every migration applied; each test run gets its own. */
export async function createTestDatabase(adminUrl: string, name?: string): Promise<TestDatabase> {
  const database = await createEmptyDatabase(adminUrl, name);
  try {
    await applyMigrations(database.url);
  } catch (error) {
    await database.drop().catch(() => {});
    throw error;
  }
  return database;
}

function uniqueDatabaseName(): string {
  return `artstore_test_${process.pid}_${randomBytes(4).toString('hex')}`;
}

async function onAdminConnection(adminUrl: string, work: (admin: pg.Client) => Promise<unknown>): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await work(admin);
  } finally {
    await admin.end();
  }
}
