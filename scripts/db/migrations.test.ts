import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createPrismaClient, Prisma, type PrismaClient } from '../../services/platform/db/client.ts';
import { DEFAULT_MIGRATIONS_DIR, applyMigrations, listMigrations, type MigrationError } from './migrations.ts';
import { createEmptyDatabase, createTestDatabase, type TestDatabase } from '../../test/support/test-databases.ts';

const adminUrl = process.env.TEST_ADMIN_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

function isMigrationError(code: string, text: string) {
  return (error: unknown) => {
    const migrationError = error as MigrationError;
    assert.equal(migrationError.name, 'MigrationError');
    assert.equal(migrationError.code, code);
    assert.match(migrationError.message, new RegExp(text));
    return true;
  };
}

/** A scratch copy of prisma/migrations that a test may edit. */
async function copyOfMigrations(): Promise<{ dir: string; remove(): Promise<void> }> {
  const root = await mkdtemp(path.join(tmpdir(), 'artstore-migrations-'));
  const dir = path.join(root, 'migrations');
  await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
  return { dir, remove: () => rm(root, { recursive: true, force: true }) };
}

describe('applyMigrations', () => {
  const databases: TestDatabase[] = [];
  const scratchDirs: Array<{ remove(): Promise<void> }> = [];

  async function emptyDatabase(): Promise<TestDatabase> {
    const database = await createEmptyDatabase(adminUrl);
    databases.push(database);
    return database;
  }
  /** A database migrated from a scratch copy of the migrations, with the first one's file there to edit. */
  async function appliedScratchCopy() {
    const database = await emptyDatabase();
    const migrations = await copyOfMigrations();
    scratchDirs.push(migrations);
    await applyMigrations(database.url, { migrationsDir: migrations.dir });
    const [first] = await listMigrations(migrations.dir);
    return { database, migrations, first: first!, file: path.join(migrations.dir, first!.name, 'migration.sql') };
  }

  after(async () => {
    await Promise.all(databases.map((database) => database.drop()));
    await Promise.all(scratchDirs.map((dir) => dir.remove()));
  });

  it('when run on an empty database, then it creates the tables and records each migration as Prisma does', async () => {
    const database = await emptyDatabase();
    const migrations = await listMigrations();
    assert.ok(migrations.length > 0);

    const result = await applyMigrations(database.url);

    assert.deepEqual(result, { applied: migrations.map((m) => m.name), alreadyApplied: [] });
    const tables = await query<{ table_name: string }>(
      database.url,
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
    );
    const tableNames = tables.map((t) => t.table_name);
    for (const expected of ['_prisma_migrations', 'jwt_keys', 'service_accounts']) assert.ok(tableNames.includes(expected), expected);
    const rows = await query<{
      id: string;
      checksum: string;
      migration_name: string;
      finished_at: Date | null;
      started_at: Date;
      rolled_back_at: Date | null;
      logs: string | null;
      applied_steps_count: number;
    }>(database.url, 'SELECT * FROM _prisma_migrations ORDER BY migration_name');
    assert.equal(rows.length, migrations.length);
    for (const [index, row] of rows.entries()) {
      const name = migrations[index]!.name;
      const fileBytes = await readFile(path.join(DEFAULT_MIGRATIONS_DIR, name, 'migration.sql'));
      assert.equal(row.migration_name, name);
      assert.equal(row.checksum, createHash('sha256').update(fileBytes).digest('hex'));
      assert.match(row.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.ok(row.finished_at instanceof Date && row.finished_at >= row.started_at);
      assert.equal(row.rolled_back_at, null);
      assert.equal(row.logs, null);
      assert.equal(row.applied_steps_count, 1);
    }
  });

  it("when run, then _prisma_migrations has exactly Prisma's columns", async () => {
    const database = await emptyDatabase();
    await applyMigrations(database.url);

    const columns = await query<{ column_name: string; data_type: string; is_nullable: string; column_default: string | null }>(
      database.url,
      `SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns
        WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
    );
    assert.deepEqual(columns, [
      { column_name: 'id', data_type: 'character varying', is_nullable: 'NO', column_default: null },
      { column_name: 'checksum', data_type: 'character varying', is_nullable: 'NO', column_default: null },
      { column_name: 'finished_at', data_type: 'timestamp with time zone', is_nullable: 'YES', column_default: null },
      { column_name: 'migration_name', data_type: 'character varying', is_nullable: 'NO', column_default: null },
      { column_name: 'logs', data_type: 'text', is_nullable: 'YES', column_default: null },
      { column_name: 'rolled_back_at', data_type: 'timestamp with time zone', is_nullable: 'YES', column_default: null },
      { column_name: 'started_at', data_type: 'timestamp with time zone', is_nullable: 'NO', column_default: 'now()' },
      { column_name: 'applied_steps_count', data_type: 'integer', is_nullable: 'NO', column_default: '0' },
    ]);
  });

  it('when run a second time, then it applies nothing and reports every migration as already applied', async () => {
    const database = await emptyDatabase();
    const first = await applyMigrations(database.url);

    const second = await applyMigrations(database.url);

    assert.deepEqual(second, { applied: [], alreadyApplied: first.applied });
    const [{ count }] = (await query<{ count: string }>(database.url, 'SELECT count(*) FROM _prisma_migrations')) as [{ count: string }];
    assert.equal(Number(count), first.applied.length);
  });

  it('when two appliers race on one database, then each migration is applied exactly once', async () => {
    const database = await emptyDatabase();

    const [one, two] = await Promise.all([applyMigrations(database.url), applyMigrations(database.url)]);

    const names = (await listMigrations()).map((m) => m.name);
    assert.deepEqual([...one.applied, ...two.applied], names);
    const rows = await query(database.url, 'SELECT 1 FROM _prisma_migrations');
    assert.equal(rows.length, names.length);
  });

  it('when an applied migration was edited afterwards, then it refuses with an error naming that migration', async () => {
    const { database, migrations, first, file } = await appliedScratchCopy();
    await writeFile(file, `${await readFile(file, 'utf8')}\nALTER TABLE "jwt_keys" ADD COLUMN "sneaky" TEXT;\n`);

    await assert.rejects(
      applyMigrations(database.url, { migrationsDir: migrations.dir }),
      isMigrationError('MIGRATION_MODIFIED', `Migration \`${first.name}\` was modified after it was applied`),
    );
    const sneaky = await query(database.url, `SELECT 1 FROM information_schema.columns WHERE column_name = 'sneaky'`);
    assert.equal(sneaky.length, 0);
  });

  it('when only the line endings of an applied migration changed, then it is still accepted like Prisma does', async () => {
    const { database, migrations, file } = await appliedScratchCopy();
    await writeFile(file, (await readFile(file, 'utf8')).replaceAll('\n', '\r\n'));

    const result = await applyMigrations(database.url, { migrationsDir: migrations.dir });

    assert.deepEqual(result.applied, []);
  });

  it('when a migration fails, then it is rolled back, nothing is recorded and the error names it', async () => {
    const database = await emptyDatabase();
    const migrations = await copyOfMigrations();
    scratchDirs.push(migrations);
    const broken = '29990101000000_broken';
    await mkdir(path.join(migrations.dir, broken));
    await writeFile(path.join(migrations.dir, broken, 'migration.sql'), 'CREATE TABLE "half_done" ("id" INTEGER);\nSELECT 1 / 0;\n');

    await assert.rejects(
      applyMigrations(database.url, { migrationsDir: migrations.dir }),
      isMigrationError('P3018', `Migration \`${broken}\` failed to apply and was rolled back[^]*22012[^]*division by zero`),
    );
    assert.equal((await query(database.url, `SELECT to_regclass('half_done') AS t`))[0]?.t, null);
    const recorded = await query<{ migration_name: string }>(database.url, 'SELECT migration_name FROM _prisma_migrations');
    assert.deepEqual(
      recorded.map((r) => r.migration_name),
      (await listMigrations()).map((m) => m.name),
      'the migrations before the broken one stay applied; the broken one leaves no row',
    );
  });

  it('when a failed migration is recorded (finished_at and rolled_back_at null), then it refuses like Prisma P3009', async () => {
    const database = await emptyDatabase();
    await applyMigrations(database.url);
    await query(
      database.url,
      `INSERT INTO _prisma_migrations (id, checksum, migration_name, logs)
       VALUES ('00000000-0000-4000-8000-000000000000', 'x', '29990101000000_crashed', 'connection lost')`,
    );

    await assert.rejects(
      applyMigrations(database.url),
      isMigrationError(
        'P3009',
        'migrate found failed migrations in the target database[^]*`29990101000000_crashed` migration started at .* failed with the following logs:\nconnection lost',
      ),
    );
  });

  it('when the database already has tables but no _prisma_migrations, then it refuses like Prisma P3005', async () => {
    const database = await emptyDatabase();
    await query(database.url, 'CREATE TABLE "legacy" ("id" INTEGER)');

    await assert.rejects(applyMigrations(database.url), isMigrationError('P3005', 'not empty'));
    assert.equal((await query(database.url, `SELECT to_regclass('service_accounts') AS t`))[0]?.t, null);
  });
});

describe('the migrated schema, through the generated Prisma client', () => {
  let database: TestDatabase;
  let prisma: PrismaClient;

  before(async () => {
    database = await createTestDatabase(adminUrl);
    prisma = createPrismaClient(database.url);
  });

  after(async () => {
    await prisma?.$disconnect();
    await database?.drop();
  });

  const at = (iso: string) => new Date(iso);

  it('when a service account with every field set is written, then it reads back equal, updates and deletes', async () => {
    const data = {
      id: '3f1c2b9e-8d7a-4e6f-9a1b-2c3d4e5f6a7b',
      clientId: 'sa_ingester_01',
      name: 'Ingester one',
      role: 'ingester',
      status: 'suspended',
      secretHash: 'a'.repeat(64),
      previousSecretHash: 'b'.repeat(64),
      previousSecretExpiresAt: at('2026-01-02T03:04:05.678Z'),
      createdAt: at('2025-12-01T00:00:00.123Z'),
      updatedAt: at('2025-12-01T00:00:00.123Z'),
      lastUsedAt: at('2025-12-31T23:59:59.999Z'),
    } as const;

    const created = await prisma.serviceAccount.create({ data });
    const read = await prisma.serviceAccount.findUniqueOrThrow({ where: { clientId: data.clientId } });

    assert.deepEqual(read, { ...created, updatedAt: read.updatedAt });
    assert.deepEqual({ ...read, updatedAt: data.updatedAt }, data);
    const updated = await prisma.serviceAccount.update({
      where: { id: data.id },
      data: { status: 'active', role: 'admin', previousSecretHash: null, previousSecretExpiresAt: null },
    });
    assert.equal(updated.status, 'active');
    assert.equal(updated.role, 'admin');
    assert.equal(updated.previousSecretHash, null);
    assert.ok(updated.updatedAt > data.updatedAt, '@updatedAt moves on update');
    await prisma.serviceAccount.delete({ where: { id: data.id } });
    assert.equal(await prisma.serviceAccount.findUnique({ where: { id: data.id } }), null);
  });

  it('when a service account is created with only the required fields, then the database fills in the defaults', async () => {
    const before = new Date();
    const created = await prisma.serviceAccount.create({
      data: { clientId: 'sa_reader_01', name: 'Reader', role: 'reader', secretHash: 'c'.repeat(64) },
    });

    assert.match(created.id, /^[0-9a-f-]{36}$/);
    assert.equal(created.status, 'active');
    assert.ok(created.createdAt.getTime() >= before.getTime() - 1000);
    assert.equal(created.lastUsedAt, null);
    await assert.rejects(
      prisma.serviceAccount.create({ data: { clientId: 'sa_reader_01', name: 'Twin', role: 'reader', secretHash: 'd'.repeat(64) } }),
      (error: unknown) => error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002',
    );
  });

  it('when a jwt key with every field set is written, then it reads back equal, updates and deletes', async () => {
    const data = {
      id: 4242,
      version: '0b8e6a52-7a1d-4c1e-9d9c-0f4e1f7b2a10',
      privateKey: 'v1.aes-256-gcm.iv.ciphertext.tag',
      publicKey: '{"kty":"RSA","n":"abc","e":"AQAB","kid":"0b8e6a52-7a1d-4c1e-9d9c-0f4e1f7b2a10"}',
      algorithm: 'RS512',
      createdAt: at('2025-11-16T02:00:00.000Z'),
      expiresAt: at('2025-11-17T03:00:00.000Z'),
      isActive: false,
      rotationCount: 7,
      state: 'retired',
      activatesAt: at('2025-11-16T02:00:00.001Z'),
      activatedAt: at('2025-11-16T02:00:00.002Z'),
      graceUntil: at('2025-11-17T03:00:00.000Z'),
      retiredAt: at('2025-11-17T03:00:00.500Z'),
      revokedAt: at('2025-11-18T00:00:00.000Z'),
    } as const;

    await prisma.jwtKey.create({ data });
    const read = await prisma.jwtKey.findUniqueOrThrow({ where: { version: data.version } });

    assert.deepEqual(read, data);
    const updated = await prisma.jwtKey.update({
      where: { id: data.id },
      data: { state: 'revoked', rotationCount: { increment: 1 }, revokedAt: null },
    });
    assert.deepEqual([updated.state, updated.rotationCount, updated.revokedAt], ['revoked', 8, null]);
    await prisma.jwtKey.delete({ where: { id: data.id } });
    assert.equal(await prisma.jwtKey.count({ where: { id: data.id } }), 0);
  });

  it('when a jwt key is created with only the required fields, then it gets a serial id and the column defaults', async () => {
    const created = await prisma.jwtKey.create({
      data: { version: 'kid-defaults', privateKey: 'enc', publicKey: '{}', expiresAt: at('2030-01-01T00:00:00Z'), state: 'next' },
    });

    assert.ok(Number.isInteger(created.id) && created.id > 0);
    assert.equal(created.algorithm, 'RS256');
    assert.equal(created.isActive, true);
    assert.equal(created.rotationCount, 0);
    await prisma.jwtKey.delete({ where: { id: created.id } });
  });

  it('when a second jwt key is made active, then the partial unique index refuses it; other states may repeat', async () => {
    const key = (version: string, state: 'next' | 'active' | 'grace' | 'retired') => ({
      version,
      privateKey: 'enc',
      publicKey: '{}',
      expiresAt: at('2030-01-01T00:00:00Z'),
      state,
    });
    await prisma.jwtKey.createMany({
      data: [key('kid-active-1', 'active'), key('kid-retired-1', 'retired'), key('kid-retired-2', 'retired'), key('kid-next', 'next')],
    });

    await assert.rejects(
      prisma.jwtKey.create({ data: key('kid-active-2', 'active') }),
      (error: unknown) => error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002',
    );
    await assert.rejects(
      prisma.jwtKey.update({ where: { version: 'kid-next' }, data: { state: 'active' } }),
      (error: unknown) => error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002',
    );
    await prisma.$transaction([
      prisma.jwtKey.update({ where: { version: 'kid-active-1' }, data: { state: 'grace' } }),
      prisma.jwtKey.update({ where: { version: 'kid-next' }, data: { state: 'active' } }),
    ]);
    assert.deepEqual(
      (await prisma.jwtKey.findMany({ where: { state: 'active' }, select: { version: true } })).map((k) => k.version),
      ['kid-next'],
    );
  });

  it('when migrated, then the indexes carry the names Prisma Migrate gives them, plus the partial one', async () => {
    const indexes = await query<{ indexname: string; indexdef: string }>(
      database.url,
      `SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('service_accounts', 'jwt_keys') ORDER BY indexname`,
    );

    assert.deepEqual(
      indexes.map((i) => i.indexname),
      [
        'idx_jwt_keys_active_version',
        'jwt_keys_one_active_key',
        'jwt_keys_pkey',
        'jwt_keys_state_idx',
        'jwt_keys_version_key',
        'service_accounts_client_id_key',
        'service_accounts_pkey',
      ],
    );
    assert.match(indexes.find((i) => i.indexname === 'jwt_keys_one_active_key')!.indexdef, /UNIQUE .* WHERE \(state = 'active'::jwt_key_state\)/);
  });
});
