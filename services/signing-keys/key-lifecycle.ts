import type { KeyObject } from 'node:crypto';
import type { JwtAlgorithm, Schedule } from '../platform/config/index.ts';
import type { PrismaClient } from '../platform/db/client.ts';
import { AppError } from '../platform/errors.ts';
import { generateKeyMaterial, type NewKeyMaterial } from './key-crypto.ts';
import { createKeyStore, type KeyRecord, type LockedKeyStore } from './key-store.ts';
import { nextTick } from './schedule-ticks.ts';

/**
 * Key life: next (in the JWKS, not signing yet) → active (signs) → grace (verifies until
 * grace_until) → retired (out of the JWKS) → deleted after the retention. Revoked keys leave the
 * JWKS at once. There is always one active and one next key; the next key's activates_at is the
 * planned rotation, the next tick of the rotation schedule.
 */
export interface KeyPolicy {
  algorithm: JwtAlgorithm;
  rotationSchedule: Schedule;
  gracePeriodSeconds: number;
}

export interface SigningKeyContext {
  prisma: PrismaClient;
  /** Encrypts new private keys (AES-256-GCM). */
  kek: KeyObject;
  policy: KeyPolicy;
}

export interface RotationResult {
  rotated: boolean;
  activeKid: string;
  nextKid: string;
  retiredKids: string[];
  /** Why nothing changed: the next key's rotation time is still ahead. */
  skippedReason?: 'not_due';
}

export interface RevocationResult {
  revokedKid: string;
  activeKid: string;
  nextKid: string;
}

const secondsLater = (time: Date, seconds: number) => new Date(time.getTime() + seconds * 1000);

/** When a key planned to activate at `activatesAt` stops verifying, if the schedule holds. */
function plannedExpiry(policy: KeyPolicy, activatesAt: Date): Date {
  return secondsLater(nextTick(policy.rotationSchedule, activatesAt), policy.gracePeriodSeconds);
}

function currentPair(live: KeyRecord[]): { active?: KeyRecord; next?: KeyRecord } {
  return { active: live.find((k) => k.state === 'active'), next: live.find((k) => k.state === 'next') };
}

function requirePair(live: KeyRecord[]): { active: KeyRecord; next: KeyRecord } {
  const { active, next } = currentPair(live);
  if (!active || !next) throw new Error('jwt_keys has no active and next key; ensureSigningKeys first');
  return { active, next };
}

const isDue = (next: KeyRecord, dueBy: Date) => next.activatesAt === null || next.activatesAt.getTime() <= dueBy.getTime();

function insertNext(keys: LockedKeyStore, policy: KeyPolicy, material: NewKeyMaterial, activatesAt: Date) {
  return keys.insert({ material, state: 'next', activatesAt, expiresAt: plannedExpiry(policy, activatesAt), rotationCount: 0 });
}

/** `plannedRotation`: when the promoted key will itself be replaced, if the schedule holds. */
async function promoteToActive(keys: LockedKeyStore, policy: KeyPolicy, next: KeyRecord, now: Date, plannedRotation: Date): Promise<KeyRecord> {
  return keys.update(next.kid, {
    state: 'active',
    activatedAt: now,
    rotationCount: (await keys.maxRotationCount()) + 1,
    expiresAt: secondsLater(plannedRotation, policy.gracePeriodSeconds),
  });
}

/** Creates the active and next key when missing; safe when several processes start at once. */
export async function ensureSigningKeys(ctx: SigningKeyContext, now = new Date()): Promise<{ createdKids: string[] }> {
  const store = createKeyStore(ctx.prisma);
  const before = currentPair(await store.live());
  if (before.active && before.next) return { createdKids: [] };
  const [forActive, forNext] = await Promise.all([generateKeyMaterial(ctx.policy.algorithm, ctx.kek), generateKeyMaterial(ctx.policy.algorithm, ctx.kek)]);
  return store.locked(async (keys) => {
    const createdKids: string[] = [];
    let { active, next } = currentPair(await keys.live());
    if (!active && next) {
      active = await promoteToActive(keys, ctx.policy, next, now, nextTick(ctx.policy.rotationSchedule, now));
      next = undefined;
    }
    if (!active) {
      const rotationCount = await keys.maxRotationCount();
      active = await keys.insert({
        material: forActive,
        state: 'active',
        activatesAt: now,
        activatedAt: now,
        expiresAt: plannedExpiry(ctx.policy, now),
        rotationCount,
      });
      createdKids.push(active.kid);
    }
    if (!next) {
      next = await insertNext(keys, ctx.policy, forNext, nextTick(ctx.policy.rotationSchedule, now));
      createdKids.push(next.kid);
    }
    return { createdKids };
  });
}

/**
 * Rotates when the next key's planned time has come (or always with `force`): active → grace,
 * next → active, a new next key, ended grace keys → retired. One serialised transaction that
 * checks the state first, so a duplicate or redelivered job for the same tick changes nothing.
 * `scheduledAt` is the tick a scheduler job was created for: a replica whose clock runs a little
 * behind still sees that tick as due.
 */
export async function rotateSigningKeys(ctx: SigningKeyContext, options: { force: boolean; now?: Date; scheduledAt?: Date }): Promise<RotationResult> {
  const now = options.now ?? new Date();
  const dueBy = options.scheduledAt && options.scheduledAt > now ? options.scheduledAt : now;
  const store = createKeyStore(ctx.prisma);
  const notDue = (active: KeyRecord, next: KeyRecord): RotationResult => ({
    rotated: false,
    activeKid: active.kid,
    nextKid: next.kid,
    retiredKids: [],
    skippedReason: 'not_due',
  });

  const before = requirePair(await store.live());
  if (!options.force && !isDue(before.next, dueBy)) return notDue(before.active, before.next);

  const material = await generateKeyMaterial(ctx.policy.algorithm, ctx.kek);
  return store.locked(async (keys) => {
    const { active, next } = requirePair(await keys.live());
    if (!options.force && !isDue(next, dueBy)) return notDue(active, next);
    const graceUntil = secondsLater(now, ctx.policy.gracePeriodSeconds);
    // Demote first: the partial unique index allows one active row at any moment.
    await keys.update(active.kid, { state: 'grace', graceUntil, expiresAt: graceUntil });
    const plannedRotation = nextTick(ctx.policy.rotationSchedule, dueBy);
    const promoted = await promoteToActive(keys, ctx.policy, next, now, plannedRotation);
    const newNext = await insertNext(keys, ctx.policy, material, plannedRotation);
    const retiredKids = await keys.retireGraceEndedBy(now);
    return { rotated: true, activeKid: promoted.kid, nextKid: newNext.kid, retiredKids };
  });
}

/**
 * Moves the planned rotation onto the current schedule when it lies beyond the schedule's second
 * upcoming tick, i.e. after the schedule was made more frequent; smaller differences are clock skew
 * between replicas and stay. Returns the new planned time, if it moved.
 */
export async function replanNextRotation(ctx: SigningKeyContext, now = new Date()): Promise<Date | undefined> {
  const store = createKeyStore(ctx.prisma);
  const upcoming = nextTick(ctx.policy.rotationSchedule, now);
  const limit = nextTick(ctx.policy.rotationSchedule, upcoming);
  const isStale = (next: KeyRecord) => next.activatesAt !== null && next.activatesAt.getTime() > limit.getTime();
  if (!isStale(requirePair(await store.live()).next)) return undefined;
  return store.locked(async (keys) => {
    const { next } = requirePair(await keys.live());
    if (!isStale(next)) return undefined;
    await keys.update(next.kid, { activatesAt: upcoming, expiresAt: plannedExpiry(ctx.policy, upcoming) });
    return upcoming;
  });
}

/**
 * Revokes a key (compromise): it leaves the JWKS at once. A revoked active key is replaced by the
 * next key at once; a revoked active or next key gets a new next key, keeping the planned rotation.
 */
export async function revokeKey(ctx: SigningKeyContext, kid: string, now = new Date()): Promise<RevocationResult> {
  const store = createKeyStore(ctx.prisma);
  const assertRevocable = (key: KeyRecord | undefined): KeyRecord => {
    if (!key) throw new AppError(404, 'key_not_found', `No signing key with kid ${kid}`);
    if (key.state === 'retired' || key.state === 'revoked') throw new AppError(409, 'key_not_live', `Key ${kid} is already ${key.state}`);
    return key;
  };
  assertRevocable(await store.findByKid(kid));
  // Generated even when the key turns out to be a grace key: revocation is rare, holding the lock through a key generation is not.
  const material = await generateKeyMaterial(ctx.policy.algorithm, ctx.kek);
  return store.locked(async (keys) => {
    const target = assertRevocable(await keys.findByKid(kid));
    const { active, next } = requirePair(await keys.live());
    await keys.update(kid, { state: 'revoked', published: false, revokedAt: now, expiresAt: now });
    if (target.state === 'grace') return { revokedKid: kid, activeKid: active.kid, nextKid: next.kid };
    const plannedRotation = next.activatesAt ?? nextTick(ctx.policy.rotationSchedule, now);
    const newActive = target.state === 'active' ? await promoteToActive(keys, ctx.policy, next, now, plannedRotation) : active;
    const newNext = await insertNext(keys, ctx.policy, material, plannedRotation);
    return { revokedKid: kid, activeKid: newActive.kid, nextKid: newNext.kid };
  });
}

export interface CleanupResult {
  retiredKids: string[];
  deletedCount: number;
}

/** Grace keys past grace_until become retired; retired and revoked keys older than the retention are deleted. */
export async function cleanupKeys(prisma: PrismaClient, now: Date, retentionDays: number): Promise<CleanupResult> {
  const store = createKeyStore(prisma);
  const retiredKids = await store.locked((keys) => keys.retireGraceEndedBy(now));
  const deletedCount = await store.deleteRemovedBefore(secondsLater(now, -retentionDays * 86_400));
  return { retiredKids, deletedCount };
}
