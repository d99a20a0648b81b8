import { createHash, randomBytes } from 'node:crypto';
import type { AdminSessionConfig } from '../../platform/config/index.ts';
import type { RedisClient } from '../../platform/redis.ts';

/** What a browser session holds: who logged in and when. Never a secret or a token. */
export interface AdminSession {
  serviceAccountId: string;
  clientId: string;
  /** When the session began (epoch ms): it ends at createdAt + maxSeconds, and a revocation after it ends it too. */
  createdAt: number;
}

export interface AdminSessions {
  /**
   * Starts a session and returns the id the cookie carries (256 random bits, base64url). `startedAt`
   * (epoch ms, default now) is when the credentials were checked: a revocation after it ends the session.
   */
  create(account: { id: string; clientId: string }, startedAt?: number): Promise<string>;
  /** The live session an id names, its idle timer renewed; undefined when there is none. */
  resume(id: string): Promise<AdminSession | undefined>;
  /** Ends a session at once (logout, or an account that may no longer use it). */
  end(id: string): Promise<void>;
}

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * Admin console sessions held in Redis, so a logout or a suspension ends them on every replica at
 * once. Redis keeps only a SHA-256 of each id: whoever reads Redis cannot ride a session. Each use
 * renews the idle timer, never past the session's longest life.
 */
export function createAdminSessions(redis: RedisClient, prefix: string, config: AdminSessionConfig, now: () => number = Date.now): AdminSessions {
  const keyOf = (id: string) => `${prefix}:admin-session:${createHash('sha256').update(id).digest('base64url')}`;
  const ttlMs = (createdAt: number) => Math.min(config.idleSeconds * 1000, createdAt + config.maxSeconds * 1000 - now());

  return {
    async create(account, startedAt = now()) {
      const id = randomBytes(32).toString('base64url');
      const session: AdminSession = { serviceAccountId: account.id, clientId: account.clientId, createdAt: startedAt };
      await redis.set(keyOf(id), JSON.stringify(session), 'PX', ttlMs(session.createdAt));
      return id;
    },
    async resume(id) {
      if (!SESSION_ID.test(id)) return undefined;
      const key = keyOf(id);
      const stored = await redis.get(key);
      if (stored === null) return undefined;
      const session = JSON.parse(stored) as AdminSession;
      const left = ttlMs(session.createdAt);
      if (left <= 0) {
        await redis.del(key);
        return undefined;
      }
      await redis.pexpire(key, left);
      return session;
    },
    async end(id) {
      if (SESSION_ID.test(id)) await redis.del(keyOf(id));
    },
  };
}
