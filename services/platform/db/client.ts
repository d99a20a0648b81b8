import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/client.ts';

// The one door to the generated client: data-access code imports from here, never from ./generated
// (which is produced by `npm run db:generate` and not committed).
export { AuditDigestKeyState, JwtKeyState, Prisma, PrismaClient, ServiceAccountRole, ServiceAccountStatus } from './generated/client.ts';
export type { JwtKey, PkiAuthority, ServiceAccount } from './generated/client.ts';
export type { File as FileRecord, StorageElement } from './generated/client.ts';

/**
 * A client over its own node-postgres pool; call `$disconnect()` when done. `maxConnections` for a
 * caller that holds more transactions at once than node-postgres's default pool of 10.
 */
export function createPrismaClient(databaseUrl: string, options: { maxConnections?: number } = {}): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl, max: options.maxConnections }) });
}
