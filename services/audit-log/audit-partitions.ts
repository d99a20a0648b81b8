/**
 * Monthly partitions of `audit_logs` (by recorded_at, UTC). The writer creates the coming months
 * at start and the weekly cleanup keeps them ahead; rows that found no partition wait in
 * `audit_logs_default` and move into their month's partition when it is created.
 */
import type { PrismaClient } from '../platform/db/client.ts';

/** How many months past the current one get a partition before they begin. */
export const PARTITION_MONTHS_AHEAD = 3;
/** Serializes partition DDL between writer replicas and the cleanup job. */
const PARTITION_DDL_LOCK = 0x4155_4454; // "AUDT"
const NAME = /^audit_logs_y(\d{4})m(\d{2})$/;

export interface AuditPartition {
  name: string;
  /** First instant inside the partition (a month start, UTC). */
  from: Date;
  /** First instant after it. */
  to: Date;
}

export function monthStart(date: Date): Date {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1));
}

export function addMonths(date: Date, months: number): Date {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + months, 1));
}

export function partitionFor(date: Date): AuditPartition {
  const from = monthStart(date);
  const month = String(from.getUTCMonth() + 1).padStart(2, '0');
  return { name: `audit_logs_y${from.getUTCFullYear()}m${month}`, from, to: addMonths(from, 1) };
}

const sqlTime = (date: Date) => `'${date.toISOString()}'`;

/** The monthly partitions that exist, oldest first (the default partition is not listed). */
export async function listAuditPartitions(prisma: PrismaClient): Promise<AuditPartition[]> {
  const rows = await prisma.$queryRaw<{ name: string }[]>`
    SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'audit_logs'::regclass`;
  return rows
    .map((row) => NAME.exec(row.name))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => partitionFor(new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, 1))))
    .sort((a, b) => a.from.getTime() - b.from.getTime());
}

/**
 * Creates the partitions of `first`'s month through `monthsAhead` months later that do not exist
 * yet, moving any rows of those months out of the default partition. Returns the names created.
 */
export async function ensureAuditPartitions(prisma: PrismaClient, options: { first?: Date; monthsAhead?: number } = {}): Promise<string[]> {
  const first = monthStart(options.first ?? new Date());
  const wanted = Array.from({ length: (options.monthsAhead ?? PARTITION_MONTHS_AHEAD) + 1 }, (_, i) => partitionFor(addMonths(first, i)));
  const existing = new Set((await listAuditPartitions(prisma)).map((p) => p.name));
  const created: string[] = [];
  for (const partition of wanted.filter((p) => !existing.has(p.name))) {
    const made = await prisma.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT 1 AS locked FROM pg_advisory_xact_lock(${PARTITION_DDL_LOCK})`;
        const [exists] = await tx.$queryRaw<{ found: boolean }[]>`SELECT to_regclass(${partition.name}) IS NOT NULL AS found`;
        if (exists?.found) return false;
        const bounds = `FOR VALUES FROM (${sqlTime(partition.from)}) TO (${sqlTime(partition.to)})`;
        const range = `recorded_at >= ${sqlTime(partition.from)} AND recorded_at < ${sqlTime(partition.to)}`;
        // Keeps writers from adding rows of this month to the default partition while they move.
        await tx.$executeRawUnsafe('LOCK TABLE audit_logs_default IN EXCLUSIVE MODE');
        const [waiting] = await tx.$queryRawUnsafe<{ found: boolean }[]>(`SELECT EXISTS (SELECT 1 FROM audit_logs_default WHERE ${range}) AS found`);
        if (!waiting?.found) {
          await tx.$executeRawUnsafe(`CREATE TABLE "${partition.name}" PARTITION OF audit_logs ${bounds}`);
          return true;
        }
        // A partition cannot be created over rows the default partition holds for its range: build
        // it beside the table, move those rows, then attach it.
        await tx.$executeRawUnsafe(`CREATE TABLE "${partition.name}" (LIKE audit_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`);
        await tx.$executeRawUnsafe(`INSERT INTO "${partition.name}" SELECT * FROM audit_logs_default WHERE ${range}`);
        await tx.$executeRawUnsafe(`DELETE FROM audit_logs_default WHERE ${range}`);
        await tx.$executeRawUnsafe(`ALTER TABLE audit_logs ATTACH PARTITION "${partition.name}" ${bounds}`);
        return true;
      },
      { timeout: 60_000 },
    );
    if (made) created.push(partition.name);
  }
  return created;
}
