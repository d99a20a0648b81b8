import type { Prisma, PrismaClient } from '../db/client.ts';

/** Why an account's earlier tokens stopped working, as stored and as audited. */
export type RevocationReason = 'suspended' | 'deleted' | 'revoke_tokens' | 'secret_rotated' | 'token_revoked';

export interface Revocation {
  serviceAccountId: string;
  notBefore: Date;
}

type Db = PrismaClient | Prisma.TransactionClient;

/** Data access for token_revocations: the only code that reads or writes it. */
export const revocationStore = {
  /**
   * Raises the account's not-before to `at`, never lowers it, in the caller's transaction when one
   * is given (so a suspension and its revocation commit together). Returns the stored not-before.
   */
  async revoke(db: Db, serviceAccountId: string, at: Date, reason: RevocationReason): Promise<Revocation> {
    const rows = await db.$queryRaw<{ not_before: Date }[]>`
      INSERT INTO token_revocations (service_account_id, not_before, reason, updated_at)
      VALUES (${serviceAccountId}::uuid, ${at}, ${reason}, now())
      ON CONFLICT (service_account_id) DO UPDATE
        SET not_before = GREATEST(token_revocations.not_before, EXCLUDED.not_before), reason = EXCLUDED.reason, updated_at = now()
      RETURNING not_before`;
    return { serviceAccountId, notBefore: rows[0]!.not_before };
  },

  /** Not-befores later than `after`: older ones can only refuse tokens that have expired anyway. */
  async since(db: Db, after: Date): Promise<Revocation[]> {
    const rows = await db.$queryRaw<{ service_account_id: string; not_before: Date }[]>`
      SELECT service_account_id::text, not_before FROM token_revocations WHERE not_before > ${after}`;
    return rows.map((row) => ({ serviceAccountId: row.service_account_id, notBefore: row.not_before }));
  },

  /**
   * The account's not-before as stored, whenever it was set: what outlives a token (an admin console
   * session, hours long) is checked against this, not against the in-memory list, which forgets a
   * not-before once no token can be older than it.
   */
  async notBeforeOf(db: Db, serviceAccountId: string): Promise<Date | undefined> {
    const rows = await db.$queryRaw<{ not_before: Date }[]>`
      SELECT not_before FROM token_revocations WHERE service_account_id = ${serviceAccountId}::uuid`;
    return rows[0]?.not_before;
  },

  /** Rows no live token can be older than; returns how many went. */
  async deleteOlderThan(db: Db, before: Date): Promise<number> {
    return db.$executeRaw`DELETE FROM token_revocations WHERE not_before < ${before}`;
  },
};
