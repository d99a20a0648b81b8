import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/client.ts';

// The one door to the generated client: data-access code imports from here, never from ./generated
// (which is produced by `npm run db:generate` and not committed).
export { AuditDigestKeyState, JwtKeyState, Prisma, PrismaClient, ServiceAccountRole, ServiceAccountStatus } from './generated/client.ts';
export type { JwtKey, PkiAuthority, ServiceAccount } from './generated/client.ts';
export type { File as FileRecord, StorageElement } from './generated/client.ts';

/** A client over its own node-postgres pool; call `$disconnect()` when done. */
export function createPrismaClient(databaseUrl: string): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg({ connectionString: databaseUrl }) });
}
