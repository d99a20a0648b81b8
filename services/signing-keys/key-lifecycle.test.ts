import assert from 'node:assert/strict';
import { createPrismaClient } from '../platform/db/client.ts';
import { emptyKeyTable, keyTestContext, restoreDefaultKeys } from '../../test/support/signing-keys.ts';
import { testInfra } from '../../test/support/infra.ts';
import { cleanupKeys, ensureSigningKeys, replanNextRotation, revokeKey, rotateSigningKeys, type SigningKeyContext } from './key-lifecycle.ts';
import { createKeyStore, type KeyRecord, type KeyStore } from './key-store.ts';
import { listKeys, publishedJwks } from './published-keys.ts';

const DAILY = { pattern: '0 2 * * *', tz: 'UTC' };
const at = (iso: string) => new Date(iso);
const HOUR = 3_600_000;

describe('signing key lifecycle', () => {
  let ctx: ReturnType<typeof keyTestContext>;
  let store: KeyStore;
  const byState = async () => {
    const keys = await store.all();
    const one = (state: KeyRecord['state']) => keys.filter((k) => k.state === state);
    return { active: one('active'), next: one('next'), grace: one('grace'), retired: one('retired'), revoked: one('revoked'), all: keys };
  };
  const jwksKids = async (now: Date) => (await publishedJwks(ctx.prisma, now)).keys.map((k) => k.kid).sort();

  before(() => {
    ctx = keyTestContext({ rotationSchedule: DAILY, gracePeriodSeconds: 3600 });
    store = createKeyStore(ctx.prisma);
  });
  beforeEach(async () => {
    await emptyKeyTable(ctx.prisma);
    await ensureSigningKeys(ctx, at('2030-01-01T00:00:00Z'));
  });
  after(async () => {
    await ctx.close();
    await restoreDefaultKeys();
  });

  it('when keys are ensured on an empty table from several connections at once, then exactly one active and one next key exist', async () => {
    await emptyKeyTable(ctx.prisma);
    const clients = [1, 2, 3].map(() => createPrismaClient(testInfra().databaseUrl));
    try {
      await Promise.all(clients.map((prisma) => ensureSigningKeys({ ...ctx, prisma }, at('2030-01-01T00:00:00Z'))));
    } finally {
      await Promise.all(clients.map((c) => c.$disconnect()));
    }
    const { active, next, all } = await byState();
    assert.equal(all.length, 2);
    assert.equal(active.length, 1);
    assert.equal(next.length, 1);
    assert.deepEqual(next[0]!.activatesAt, at('2030-01-01T02:00:00Z'), 'the next key activates at the next scheduled tick');
  });

  it('when a rotation is due, then next becomes active, active enters grace, and a new next key is planned for the following tick', async () => {
    const before = await byState();
    const now = at('2030-01-01T02:00:00.120Z');
    const result = await rotateSigningKeys(ctx, { force: false, now });
    assert.equal(result.rotated, true);
    assert.equal(result.activeKid, before.next[0]!.kid);
    assert.notEqual(result.activeKid, before.active[0]!.kid);

    const after = await byState();
    assert.equal(after.active[0]!.kid, before.next[0]!.kid);
    assert.equal(after.active[0]!.rotationCount, before.active[0]!.rotationCount + 1);
    assert.deepEqual(after.active[0]!.activatedAt, now);
    assert.equal(after.grace[0]!.kid, before.active[0]!.kid);
    assert.deepEqual(after.grace[0]!.graceUntil, new Date(now.getTime() + HOUR));
    assert.equal(after.next[0]!.kid, result.nextKid);
    assert.deepEqual(after.next[0]!.activatesAt, at('2030-01-02T02:00:00Z'));
    assert.deepEqual(await jwksKids(now), [before.active[0]!.kid, before.next[0]!.kid, result.nextKid].sort(), 'grace, active and next keys all verify');
  });

  it('when the rotation for one tick runs twice, then it rotates once', async () => {
    const first = await rotateSigningKeys(ctx, { force: false, now: at('2030-01-01T02:00:01Z') });
    const second = await rotateSigningKeys(ctx, { force: false, now: at('2030-01-01T02:00:05Z') });
    assert.equal(first.rotated, true);
    assert.deepEqual(second, { rotated: false, activeKid: first.activeKid, nextKid: first.nextKid, retiredKids: [], skippedReason: 'not_due' });
    assert.equal((await byState()).all.length, 3);
  });

  it('when several connections rotate the same tick at once, then exactly one rotation happens', async () => {
    const before = await byState();
    const clients = [1, 2, 3, 4].map(() => createPrismaClient(testInfra().databaseUrl));
    let results: Awaited<ReturnType<typeof rotateSigningKeys>>[];
    try {
      results = await Promise.all(clients.map((prisma) => rotateSigningKeys({ ...ctx, prisma }, { force: false, now: at('2030-01-01T02:00:00Z') })));
    } finally {
      await Promise.all(clients.map((c) => c.$disconnect()));
    }
    assert.equal(results.filter((r) => r.rotated).length, 1);
    const after = await byState();
    assert.equal(after.active[0]!.rotationCount, before.active[0]!.rotationCount + 1);
    assert.equal(after.next.length, 1);
    assert.equal(after.all.length, 3);
  });

  it('when a job for a tick runs on a replica whose clock is a little behind, then the tick still rotates', async () => {
    const result = await rotateSigningKeys(ctx, { force: false, now: at('2030-01-01T01:59:59.900Z'), scheduledAt: at('2030-01-01T02:00:00Z') });
    assert.equal(result.rotated, true);
  });

  it('when a rotation is forced before its time, then it rotates every time with a new kid', async () => {
    const now = at('2030-01-01T00:10:00Z');
    const first = await rotateSigningKeys(ctx, { force: true, now });
    const second = await rotateSigningKeys(ctx, { force: true, now });
    assert.equal(first.rotated && second.rotated, true);
    assert.notEqual(first.activeKid, second.activeKid);
    assert.equal(second.activeKid, first.nextKid);
    const { next } = await byState();
    assert.deepEqual(next[0]!.activatesAt, at('2030-01-01T02:00:00Z'), 'a forced rotation keeps the schedule');
  });

  it('when a grace key reaches grace_until, then it leaves the JWKS at once and a later rotation marks it retired', async () => {
    const {
      active: [oldActive],
    } = await byState();
    const rotatedAt = at('2030-01-01T02:00:00Z');
    await rotateSigningKeys(ctx, { force: false, now: rotatedAt });
    const graceEnd = new Date(rotatedAt.getTime() + HOUR);
    assert.ok((await jwksKids(new Date(graceEnd.getTime() - 1))).includes(oldActive!.kid));
    assert.ok(!(await jwksKids(graceEnd)).includes(oldActive!.kid));
    assert.equal((await store.findByKid(oldActive!.kid))?.state, 'grace', 'no job has run yet');
    const view = (await listKeys(ctx.prisma, graceEnd)).find((k) => k.kid === oldActive!.kid);
    assert.equal(view?.in_jwks, false);

    const next = await rotateSigningKeys(ctx, { force: false, now: at('2030-01-02T02:00:00Z') });
    assert.deepEqual(next.retiredKids, [oldActive!.kid]);
    const retired = await store.findByKid(oldActive!.kid);
    assert.equal(retired?.published, false);
    assert.deepEqual(retired?.retiredAt, graceEnd);
  });

  it('when the active key is revoked, then the next key signs at once, a new next key keeps the plan, and the revoked key leaves the JWKS', async () => {
    const before = await byState();
    const now = at('2030-01-01T00:30:00Z');
    const result = await revokeKey(ctx, before.active[0]!.kid, now);
    assert.equal(result.activeKid, before.next[0]!.kid);
    const after = await byState();
    assert.equal(after.revoked[0]!.kid, before.active[0]!.kid);
    assert.deepEqual(after.revoked[0]!.revokedAt, now);
    assert.equal(after.active[0]!.kid, before.next[0]!.kid);
    assert.equal(after.next[0]!.kid, result.nextKid);
    assert.deepEqual(after.next[0]!.activatesAt, at('2030-01-01T02:00:00Z'));
    assert.deepEqual(await jwksKids(now), [result.activeKid, result.nextKid].sort());
  });

  it('when a grace key is revoked, then it leaves the JWKS and the active and next keys stay', async () => {
    const {
      active: [oldActive],
    } = await byState();
    const rotated = await rotateSigningKeys(ctx, { force: true, now: at('2030-01-01T00:20:00Z') });
    const result = await revokeKey(ctx, oldActive!.kid, at('2030-01-01T00:21:00Z'));
    assert.deepEqual(result, { revokedKid: oldActive!.kid, activeKid: rotated.activeKid, nextKid: rotated.nextKid });
    assert.deepEqual(await jwksKids(at('2030-01-01T00:21:00Z')), [rotated.activeKid, rotated.nextKid].sort());
  });

  it('when an unknown kid is revoked, then 404; when a revoked key is revoked again, then 409', async () => {
    await assert.rejects(revokeKey(ctx, '00000000-0000-4000-8000-000000000000'), { status: 404, code: 'key_not_found' });
    const {
      next: [next],
    } = await byState();
    await revokeKey(ctx, next!.kid);
    await assert.rejects(revokeKey(ctx, next!.kid), { status: 409, code: 'key_not_live' });
  });

  it('when cleanup runs, then it retires ended grace keys and deletes only keys retired or revoked more than 30 days ago', async () => {
    const {
      active: [a],
    } = await byState();
    const r1 = await rotateSigningKeys(ctx, { force: false, now: at('2030-01-01T02:00:00Z') });
    await cleanupKeys(ctx.prisma, at('2030-01-01T05:00:00Z'), 30); // a retired on Jan 1 03:00
    const r2 = await rotateSigningKeys(ctx, { force: false, now: at('2030-02-01T02:00:00Z') });
    await revokeKey(ctx, r1.activeKid, at('2030-02-01T02:30:00Z')); // revoked while in grace
    const r3 = await rotateSigningKeys(ctx, { force: true, now: at('2030-02-03T02:00:00Z') }); // r2's key in grace until 03:00

    const result = await cleanupKeys(ctx.prisma, at('2030-02-05T00:00:00Z'), 30);
    assert.deepEqual(result, { retiredKids: [r2.activeKid], deletedCount: 1 });
    const left = new Map((await store.all()).map((k) => [k.kid, k.state]));
    assert.equal(left.has(a!.kid), false, 'retired 35 days ago: deleted');
    assert.equal(left.get(r1.activeKid), 'revoked', 'revoked 4 days ago: kept');
    assert.equal(left.get(r2.activeKid), 'retired', 'retired 2 days ago: kept');
    assert.equal(left.get(r3.activeKid), 'active');
    assert.equal(left.get(r3.nextKid), 'next');
  });

  it('when the schedule becomes more frequent, then the planned rotation moves onto it', async () => {
    const quarterly: SigningKeyContext = { ...ctx, policy: { ...ctx.policy, rotationSchedule: { pattern: '*/15 * * * *', tz: 'UTC' } } };
    const now = at('2030-01-01T00:10:00Z');
    assert.equal(await replanNextRotation(ctx, now), undefined, 'the daily plan is on the daily schedule');
    // 02:00 lies beyond the second tick (00:30) of the new schedule, so the plan moves to the first (00:15).
    assert.deepEqual(await replanNextRotation(quarterly, now), at('2030-01-01T00:15:00Z'));
    assert.deepEqual((await byState()).next[0]!.activatesAt, at('2030-01-01T00:15:00Z'));
  });
});
