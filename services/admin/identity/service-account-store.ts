import { revocationStore, type Revocation, type RevocationReason } from '../../platform/auth/revocation-store.ts';
import type { Role } from '../../platform/auth/roles.ts';
import { Prisma, type PrismaClient, type ServiceAccount } from '../../platform/db/client.ts';

export type { ServiceAccount };

/** Data access for service_accounts: the only code that touches prisma.serviceAccount. */
export function createServiceAccountStore(prisma: PrismaClient) {
  return {
    ...accountQueries(prisma),
    /**
     * Runs `work` in one transaction, so a change to an account and the revocation of its tokens
     * commit together: a crash between them can never leave a suspended account's tokens alive.
     */
    transaction<T>(work: (tx: AccountQueries) => Promise<T>): Promise<T> {
      return prisma.$transaction((tx) => work(accountQueries(tx)));
    },
  };
}

type AccountQueries = ReturnType<typeof accountQueries>;

function accountQueries(prisma: PrismaClient | Prisma.TransactionClient) {
  return {
    /** Raises the account's token not-before (see platform/auth/revocation-store.ts). */
    revokeTokens(id: string, at: Date, reason: RevocationReason): Promise<Revocation> {
      return revocationStore.revoke(prisma, id, at, reason);
    },
    create(data: { clientId: string; name: string; role: Role; secretHash: string }): Promise<ServiceAccount> {
      return prisma.serviceAccount.create({ data });
    },
    findById(id: string): Promise<ServiceAccount | null> {
      return prisma.serviceAccount.findUnique({ where: { id } });
    },
    findByClientId(clientId: string): Promise<ServiceAccount | null> {
      return prisma.serviceAccount.findUnique({ where: { clientId } });
    },
    /** Keyset pagination in creation order. */
    list(limit: number, after?: { createdAt: Date; id: string }): Promise<ServiceAccount[]> {
      return prisma.serviceAccount.findMany({
        where: after ? { OR: [{ createdAt: { gt: after.createdAt } }, { createdAt: after.createdAt, id: { gt: after.id } }] } : {},
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        take: limit,
      });
    },
    countActiveAdmins(): Promise<number> {
      return prisma.serviceAccount.count({ where: { role: 'admin', status: 'active' } });
    },
    setStatus(id: string, status: 'active' | 'suspended'): Promise<ServiceAccount> {
      return prisma.serviceAccount.update({ where: { id }, data: { status } });
    },
    /** A new secret hash; `previous` keeps the old one valid until it expires, null ends it now. */
    replaceSecret(id: string, secretHash: string, previous: { hash: string; expiresAt: Date } | null): Promise<ServiceAccount> {
      return prisma.serviceAccount.update({
        where: { id },
        data: { secretHash, previousSecretHash: previous?.hash ?? null, previousSecretExpiresAt: previous?.expiresAt ?? null },
      });
    },
    async delete(id: string): Promise<boolean> {
      const { count } = await prisma.serviceAccount.deleteMany({ where: { id } });
      return count === 1;
    },
    async touchLastUsed(id: string, at: Date): Promise<void> {
      await prisma.serviceAccount.updateMany({ where: { id }, data: { lastUsedAt: at } });
    },
  };
}

export type ServiceAccountStore = ReturnType<typeof createServiceAccountStore>;

export function isUniqueViolation(err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002';
}
