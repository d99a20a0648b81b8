/**
 * Digest signing keys: next (published, not signing yet) → active (signs every digest) → grace
 * (rotated out; still holds its private half for one more period) → retired (private half dropped).
 * Every key ever made stays published: a digest must verify for as long as it is kept (seven
 * years), long after its key stopped signing. There is always one active and one next key; the
 * next key's activates_at is the planned rotation, the next tick of the rotation schedule.
 */
import type { KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import type { Schedule } from '../../platform/config/index.ts';
import type { Prisma, PrismaClient } from '../../platform/db/client.ts';
import { generateKeyMaterial, privateKeyFrom } from '../../signing-keys/key-crypto.ts';
import { nextTick } from '../../signing-keys/schedule-ticks.ts';
import type { DigestSigner } from './digest-format.ts';
import { activeEncryptedDigestKey, createDigestKeyStore, type DigestKeyRecord, type DigestKeyState } from './digest-key-store.ts';

export interface DigestKeyContext {
  prisma: PrismaClient;
  /** AUDIT_DIGEST_KEY_ENCRYPTION_KEY: encrypts the private halves (AES-256-GCM, kid as associated data). */
  kek: KeyObject;
  rotationSchedule: Schedule;
}

export interface DigestKeyRotation {
  rotated: boolean;
  activeKid: string;
  nextKid: string;
  /** Keys whose private half was dropped by this rotation. */
  retiredKids: string[];
  skippedReason?: 'not_due';
}

/** A published digest key: its public JWK, with its state and dates as extra members. */
export interface DigestJwk extends JWK {
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
  state: DigestKeyState;
  created_at: string;
  activated_at: string | null;
  deactivated_at: string | null;
  retired_at: string | null;
}

const KEK_NAME = 'AUDIT_DIGEST_KEY_ENCRYPTION_KEY';
const newMaterial = (kek: KeyObject) => generateKeyMaterial('EdDSA', kek);
const isDue = (next: DigestKeyRecord, dueBy: Date) => next.activatesAt === null || next.activatesAt <= dueBy;

/** Creates the active and next key when missing; safe when several processes start at once. */
export async function ensureDigestKeys(ctx: DigestKeyContext, at?: Date): Promise<{ createdKids: string[] }> {
  const store = createDigestKeyStore(ctx.prisma);
  const before = await store.live();
  if (before.active && before.next) return { createdKids: [] };
  const [forActive, forNext] = await Promise.all([newMaterial(ctx.kek), newMaterial(ctx.kek)]);
  return store.locked(async (keys) => {
    // Read under the lock, so a key is never recorded as activated before its row was created.
    const now = at ?? new Date();
    const createdKids: string[] = [];
    let { active, next } = await keys.live();
    if (!active && next) {
      await keys.update(next.kid, { state: 'active', activatedAt: now, rotationCount: (await keys.maxRotationCount()) + 1 });
      active = next;
      next = undefined;
    }
    if (!active) {
      active = await keys.insert(forActive, {
        state: 'active',
        activatesAt: now,
        activatedAt: now,
        createdAt: now,
        rotationCount: await keys.maxRotationCount(),
      });
      createdKids.push(active.kid);
    }
    if (!next) {
      next = await keys.insert(forNext, { state: 'next', activatesAt: nextTick(ctx.rotationSchedule, now), rotationCount: 0 });
      createdKids.push(next.kid);
    }
    return { createdKids };
  });
}

/**
 * Rotates when the next key's planned time has come (or always with `force`): grace keys retire,
 * active → grace, next → active, a new next key. One serialised transaction that checks the state
 * first, so a duplicate or redelivered job for the same tick changes nothing. `scheduledAt` is the
 * scheduler tick the job was made for, so a replica whose clock runs a little behind still rotates.
 */
export async function rotateDigestKeys(ctx: DigestKeyContext, options: { force: boolean; now?: Date; scheduledAt?: Date }): Promise<DigestKeyRotation> {
  const now = options.now ?? new Date();
  const dueBy = options.scheduledAt && options.scheduledAt > now ? options.scheduledAt : now;
  const store = createDigestKeyStore(ctx.prisma);
  const pair = (live: { active?: DigestKeyRecord; next?: DigestKeyRecord }) => {
    if (!live.active || !live.next) throw new Error('audit_digest_keys has no active and next key; ensureDigestKeys first');
    return { active: live.active, next: live.next };
  };
  const notDue = ({ active, next }: ReturnType<typeof pair>): DigestKeyRotation => ({
    rotated: false,
    activeKid: active.kid,
    nextKid: next.kid,
    retiredKids: [],
    skippedReason: 'not_due',
  });

  const before = pair(await store.live());
  if (!options.force && !isDue(before.next, dueBy)) return notDue(before);
  const material = await newMaterial(ctx.kek);
  return store.locked(async (keys) => {
    const current = pair(await keys.live());
    if (!options.force && !isDue(current.next, dueBy)) return notDue(current);
    const retiredKids = await keys.retireGraceKeys(now);
    // Demote first: the partial unique index allows one active row at any moment.
    await keys.update(current.active.kid, { state: 'grace', deactivatedAt: now });
    await keys.update(current.next.kid, { state: 'active', activatedAt: now, rotationCount: (await keys.maxRotationCount()) + 1 });
    const newNext = await keys.insert(material, { state: 'next', activatesAt: nextTick(ctx.rotationSchedule, dueBy), rotationCount: 0 });
    return { rotated: true, activeKid: current.next.kid, nextKid: newNext.kid, retiredKids };
  });
}

/**
 * Moves the planned rotation onto the current schedule when it lies beyond the schedule's second
 * upcoming tick (the schedule was made more frequent); smaller differences are clock skew and stay.
 */
export async function replanDigestKeyRotation(ctx: DigestKeyContext, now = new Date()): Promise<Date | undefined> {
  const upcoming = nextTick(ctx.rotationSchedule, now);
  const limit = nextTick(ctx.rotationSchedule, upcoming);
  const isStale = (next?: DigestKeyRecord) => next?.activatesAt != null && next.activatesAt > limit;
  const store = createDigestKeyStore(ctx.prisma);
  if (!isStale((await store.live()).next)) return undefined;
  return store.locked(async (keys) => {
    const { next } = await keys.live();
    if (!next || !isStale(next)) return undefined;
    await keys.update(next.kid, { activatesAt: upcoming });
    return upcoming;
  });
}

/** The active key, decrypted, read in the caller's transaction so the digest it signs is stored with that key's view. */
export async function activeDigestSigner(db: Prisma.TransactionClient | PrismaClient, kek: KeyObject): Promise<DigestSigner> {
  const stored = await activeEncryptedDigestKey(db);
  if (!stored) throw new Error('no active audit digest key; the audit writer or maintenance worker creates one at start');
  return { kid: stored.kid, privateKey: privateKeyFrom(stored.encryptedPrivateKey, stored.kid, kek, KEK_NAME) };
}

const iso = (date: Date | null) => date?.toISOString() ?? null;

/** Every digest key ever made, oldest first, as `/.well-known/audit-keys.json` publishes them. */
export async function publishedDigestKeys(prisma: PrismaClient): Promise<{ keys: DigestJwk[] }> {
  const keys = await createDigestKeyStore(prisma).all();
  return {
    keys: keys.map((key) => {
      const { kty, crv, x } = JSON.parse(key.publicKey) as JWK;
      // Rebuilt member by member: whatever else the stored text holds is never published.
      return {
        kty,
        crv,
        x,
        kid: key.kid,
        alg: 'EdDSA',
        use: 'sig',
        state: key.state,
        created_at: key.createdAt.toISOString(),
        activated_at: iso(key.activatedAt),
        deactivated_at: iso(key.deactivatedAt),
        retired_at: iso(key.retiredAt),
      };
    }),
  };
}
