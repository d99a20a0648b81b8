import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { testInfra } from '../../../test/support/infra.ts';
import { createPrismaClient, type PrismaClient } from '../db/client.ts';
import { AppError } from '../errors.ts';
import { createRevocationList, type RevocationList } from './revocation-list.ts';
import { revocationStore } from './revocation-store.ts';
import type { Principal } from './roles.ts';

const principal = (serviceAccountId: string, issuedAt: number): Principal => ({
  serviceAccountId,
  role: 'reader',
  tokenId: randomUUID(),
  keyId: 'k',
  issuedAt,
});

const codeOf = (list: RevocationList, p: Principal) => {
  try {
    list.check(p);
    return 'accepted';
  } catch (err) {
    assert.ok(err instanceof AppError);
    return `${err.status} ${err.code}`;
  }
};

describe('token revocation list', () => {
  let prisma: PrismaClient;
  const lists: RevocationList[] = [];
  const listOver = (db: PrismaClient, options: { windowMs?: number; resyncMs?: number; clock?: () => number } = {}) => {
    const list = createRevocationList({
      load: (after) => revocationStore.since(db, after),
      windowMs: options.windowMs ?? 1_830_000,
      resyncMs: options.resyncMs ?? 10_000,
      clock: options.clock,
    });
    lists.push(list);
    return list;
  };

  before(() => {
    prisma = createPrismaClient(testInfra().databaseUrl);
  });
  after(async () => {
    for (const list of lists) list.close();
    await prisma.$disconnect();
  });

  it('when an account is revoked in PostgreSQL, then after a reload its earlier tokens are refused and later ones accepted', async () => {
    const account = randomUUID();
    const revokedAt = new Date(Date.now() - 10_000);
    await revocationStore.revoke(prisma, account, revokedAt, 'suspended');
    const list = listOver(prisma);
    assert.equal(await list.sync(), true);
    const before = Math.floor(revokedAt.getTime() / 1000) - 5;
    const sameSecond = Math.floor(revokedAt.getTime() / 1000);
    const after = Math.ceil(revokedAt.getTime() / 1000) + 1;
    assert.equal(codeOf(list, principal(account, before)), '401 token_revoked');
    assert.equal(codeOf(list, principal(account, sameSecond)), '401 token_revoked', 'a token from the second of the revocation may predate it');
    assert.equal(codeOf(list, principal(account, after)), 'accepted');
    assert.equal(codeOf(list, principal(randomUUID(), before)), 'accepted', 'other accounts are untouched');
  });

  it('when a notice arrives, then it takes effect without reading PostgreSQL, and a garbled notice makes the list reload', async () => {
    const list = listOver(prisma);
    await list.sync();
    const account = randomUUID();
    const now = Date.now();
    list.apply({ service_account_id: account, not_before: new Date(now).toISOString() });
    assert.equal(codeOf(list, principal(account, Math.floor(now / 1000) - 1)), '401 token_revoked');

    const hidden = randomUUID();
    await revocationStore.revoke(prisma, hidden, new Date(now), 'deleted');
    list.apply({ service_account_id: 42, not_before: 'yesterday' } as never);
    await list.sync();
    assert.equal(codeOf(list, principal(hidden, Math.floor(now / 1000) - 1)), '401 token_revoked');
  });

  it('when a later revocation is followed by an earlier one, then the not-before never moves back', async () => {
    const account = randomUUID();
    const later = new Date(Date.now() - 1000);
    await revocationStore.revoke(prisma, account, later, 'revoke_tokens');
    const stored = await revocationStore.revoke(prisma, account, new Date(later.getTime() - 600_000), 'token_revoked');
    assert.equal(stored.notBefore.getTime(), later.getTime());
    const list = listOver(prisma);
    list.apply({ service_account_id: account, not_before: new Date(later.getTime() - 600_000).toISOString() });
    await list.sync();
    assert.equal(list.notBefore(account), later.getTime());
  });

  it('when not-befores are older than the longest token lifetime, then the list forgets them', async () => {
    const account = randomUUID();
    let now = Date.now();
    const list = listOver(prisma, { windowMs: 60_000, clock: () => now });
    await list.sync();
    list.apply({ service_account_id: account, not_before: new Date(now).toISOString() });
    assert.ok(list.notBefore(account));
    now += 61_000;
    await list.sync();
    assert.equal(list.notBefore(account), undefined);
  });

  it('when PostgreSQL cannot be read for three reload intervals, then every token is refused with 503 until a reload succeeds', async () => {
    const unreachable = createPrismaClient('postgresql://postgres@127.0.0.1:1/none');
    let now = Date.now();
    let db = prisma;
    const list = createRevocationList({ load: (after) => revocationStore.since(db, after), windowMs: 1_830_000, resyncMs: 1000, clock: () => now });
    lists.push(list);
    const account = randomUUID();
    assert.equal(codeOf(list, principal(account, Math.floor(now / 1000))), '503 auth_unavailable', 'never loaded');
    assert.equal(await list.sync(), true);
    assert.equal(codeOf(list, principal(account, Math.floor(now / 1000))), 'accepted');
    db = unreachable;
    now += 3500;
    assert.equal(await list.sync(), false);
    assert.equal(codeOf(list, principal(account, Math.floor(now / 1000))), '503 auth_unavailable');
    db = prisma;
    await list.sync(); // the reload the refusal started, still against the unreachable server
    assert.equal(await list.sync(), true);
    assert.equal(codeOf(list, principal(account, Math.floor(now / 1000))), 'accepted');
    await unreachable.$disconnect();
  });
});
