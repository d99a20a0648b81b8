import type { Config } from '../platform/config/index.ts';
import type { PrismaClient } from '../platform/db/client.ts';
import type { Logger } from '../platform/logger.ts';
import type { ServiceMetrics } from '../platform/metrics.ts';
import { publishKeysChanged, type KeysChangedEvent } from './key-events.ts';
import {
  cleanupKeys,
  ensureSigningKeys,
  replanNextRotation,
  revokeKey,
  rotateSigningKeys,
  type CleanupResult,
  type RevocationResult,
  type RotationResult,
  type SigningKeyContext,
} from './key-lifecycle.ts';
import { registerKeyMetrics, type KeyMetrics } from './key-metrics.ts';
import { createLocalVerificationKeys, listKeys, publishedJwks, type Jwks, type KeyView, type LocalVerificationKeys } from './published-keys.ts';
import { createSigningKeyProvider, type SigningKeyProvider } from './signing-key-provider.ts';
import type { RedisClient } from '../platform/redis.ts';

export interface KeyServiceDeps {
  config: Config;
  prisma: PrismaClient;
  /** Producer connection used to publish jwt-keys-changed. */
  redis: RedisClient;
  logger: Logger;
  /** When given, the key metrics are registered on its registry (at most once per registry). */
  metrics?: ServiceMetrics;
}

/** The signing-key use cases bound to one process's config and connections, with metrics and change notifications. */
export interface KeyService {
  /** Creates the active and next key if missing; returns the kids created. */
  ensure(): Promise<string[]>;
  /** `force: false` rotates only when the planned time has come; `scheduledAt` is the scheduler tick of the job. */
  rotate(options: { force: boolean; scheduledAt?: Date }): Promise<RotationResult>;
  /** Moves the planned rotation onto the configured schedule after the schedule changed. */
  replan(): Promise<Date | undefined>;
  revoke(kid: string): Promise<RevocationResult>;
  cleanup(): Promise<CleanupResult>;
  jwks(): Promise<Jwks>;
  list(): Promise<KeyView[]>;
  /** This process's cache of the decrypted active key (created on first use). */
  signingKeys(): SigningKeyProvider;
  /** Published keys read from the database, for the admin module's own token checks (created on first use). */
  verificationKeys(): LocalVerificationKeys;
  /** Drops both caches; call it when another process reports a key change. */
  dropCachedKeys(): void;
}

export function createKeyService(deps: KeyServiceDeps): KeyService {
  const { config, prisma, logger } = deps;
  if (!config.jwtKeyEncryptionKey) throw new Error(`JWT_KEY_ENCRYPTION_KEY is required by ${config.service} to manage signing keys`);
  const ctx: SigningKeyContext = {
    prisma,
    kek: config.jwtKeyEncryptionKey,
    policy: { algorithm: config.jwt.algorithm, rotationSchedule: config.jwt.rotationSchedule, gracePeriodSeconds: config.jwt.gracePeriodSeconds },
  };
  const metrics: KeyMetrics | undefined = deps.metrics ? registerKeyMetrics(deps.metrics.registry, prisma) : undefined;
  let provider: SigningKeyProvider | undefined;
  let verification: LocalVerificationKeys | undefined;
  const dropCachedKeys = () => {
    provider?.invalidate();
    verification?.invalidate();
  };

  const changed = async (event: Omit<KeysChangedEvent, 'at'>) => {
    dropCachedKeys();
    await publishKeysChanged(deps.redis, config.bullmqPrefix, event, logger);
  };

  return {
    async ensure() {
      const { createdKids } = await ensureSigningKeys(ctx);
      if (createdKids.length > 0) {
        logger.info({ createdKids }, 'signing keys created');
        await changed({ reason: 'created' });
      }
      return createdKids;
    },
    async rotate(options) {
      const stopTimer = metrics?.rotationDuration.startTimer();
      let result: RotationResult;
      try {
        result = await rotateSigningKeys(ctx, options);
      } catch (err) {
        metrics?.rotations.inc({ status: 'failure' });
        throw err;
      }
      if (result.rotated) {
        stopTimer?.();
        await changed({ reason: 'rotated', activeKid: result.activeKid });
      }
      metrics?.rotations.inc({ status: result.rotated ? 'success' : 'skipped' });
      return result;
    },
    replan: () => replanNextRotation(ctx),
    async revoke(kid) {
      const result = await revokeKey(ctx, kid);
      await changed({ reason: 'revoked', activeKid: result.activeKid });
      return result;
    },
    async cleanup() {
      const result = await cleanupKeys(prisma, new Date(), config.jwt.keyRetentionDays);
      if (result.retiredKids.length > 0) await changed({ reason: 'retired' });
      return result;
    },
    jwks: () => publishedJwks(prisma, new Date()),
    list: () => listKeys(prisma),
    signingKeys: () => (provider ??= createSigningKeyProvider(prisma, ctx.kek)),
    verificationKeys: () => (verification ??= createLocalVerificationKeys(prisma)),
    dropCachedKeys,
  };
}
