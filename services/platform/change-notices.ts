import type { Redis } from 'ioredis';
import type { RevocationNotice } from './auth/revocation-list.ts';
import { ClusterSubscriber } from './cluster-subscriber.ts';
import { standaloneRedis, type RedisConfig } from './config/index.ts';
import { createLogger, type Logger } from './logger.ts';
import { clusterNodeOptions, createRedis, type RedisClient } from './redis.ts';

/**
 * Change notices between replicas over Redis pub/sub, on `${bullmqPrefix}:${topic}`: a process that
 * changed something publishes after the change commits, and every replica drops what it cached.
 * Best effort by design — a notice can be lost, so caches still expire on their own TTL — and after
 * a reconnect every listener hears `undefined`, meaning "anything may have changed meanwhile".
 * On a Redis Cluster a PUBLISH reaches every node, so one subscription on any node hears them all
 * (cluster-subscriber.ts).
 */
export const changeChannel = (bullmqPrefix: string, topic: ChangeTopic) => `${bullmqPrefix}:${topic}`;

/** Every pub/sub topic; nothing else spells a channel name. */
export const ChangeTopic = {
  KeysChanged: 'jwt-keys-changed',
  AccountsChanged: 'service-accounts-changed',
  TokensRevoked: 'tokens-revoked',
  AuthThrottle: 'auth-throttle',
  PkiChanged: 'pki-changed',
} as const;
export type ChangeTopic = (typeof ChangeTopic)[keyof typeof ChangeTopic];

/** Signing keys changed: signers drop cached keys, verifiers refetch the JWKS. */
export interface KeysChangedNotice {
  reason: 'created' | 'rotated' | 'revoked' | 'retired';
  activeKid?: string;
  /** ISO time of the change. */
  at: string;
}

/** A service account changed (created, suspended, deleted, secret rotated): admin replicas drop it from their account cache. */
export interface AccountsChangedNotice {
  clientId: string;
  /** ISO time of the change. */
  at: string;
}

/** An account's tokens issued before `not_before` are refused: every verifier raises its not-before at once. */
export interface TokensRevokedNotice extends RevocationNotice {
  /** ISO time of the change. */
  at: string;
}

/**
 * The admin replicas' shared view of the brute-force limits: a key blocked until a time, a
 * (client id, address) pair with failures to clear on its next success, or that pair cleared.
 */
export interface ThrottleNotice {
  kind: 'blocked' | 'failed' | 'cleared';
  /** `address:<addr>` or `client:<pair>` when blocked; the pair otherwise. */
  key: string;
  /** ISO time the block or the memory of failures ends. */
  until: string;
  /** ISO time of the change. */
  at: string;
}

/** The internal CA rotated a root or an intermediate: every process re-reads the trust bundle, admin drops its cached issuer. */
export interface PkiChangedNotice {
  kind: 'root' | 'intermediate';
  step: 'activated' | 'published' | 'promoted' | 'retired';
  fingerprint: string;
  /** ISO time of the change. */
  at: string;
}

/** The notice each topic carries; `at` is stamped by the publisher. */
export interface ChangeNotices {
  [ChangeTopic.KeysChanged]: KeysChangedNotice;
  [ChangeTopic.AccountsChanged]: AccountsChangedNotice;
  [ChangeTopic.TokensRevoked]: TokensRevokedNotice;
  [ChangeTopic.AuthThrottle]: ThrottleNotice;
  [ChangeTopic.PkiChanged]: PkiChangedNotice;
}
export type ChangeNotice<T extends ChangeTopic> = ChangeNotices[T];

/** `undefined`: the subscriber reconnected, and notices sent meanwhile are lost. */
export type ChangeListener<T extends ChangeTopic> = (notice: ChangeNotice<T> | undefined) => void;

/** The listeners of one process, all fed by its one subscriber connection. */
export interface ChangeListeners {
  /** Calls `listener` for every notice on `topic`; returns the function that removes it. */
  on<T extends ChangeTopic>(topic: T, listener: ChangeListener<T>): () => void;
}

const SUBSCRIBE_WAIT_MS = 2000;

export async function publishChangeNotice<T extends ChangeTopic>(
  redis: RedisClient,
  bullmqPrefix: string,
  topic: T,
  notice: Omit<ChangeNotice<T>, 'at'>,
  logger?: Logger,
): Promise<void> {
  try {
    await redis.publish(changeChannel(bullmqPrefix, topic), JSON.stringify({ ...notice, at: new Date().toISOString() }));
  } catch (err) {
    logger?.warn({ err: (err as Error).message, topic }, 'could not publish a change notice');
  }
}

/**
 * A process's one subscriber connection: every topic's channel subscribed once, each notice fanned
 * out to the listeners registered with `on`. Subscribing every topic up front lets a listener added
 * later (in a module's prepare) hear from the start without waiting for a subscription of its own.
 * Resolves once subscribed (or after a short wait if Redis is away: ioredis subscribes when it connects).
 * `redis` is the process's configuration, or a single server's URL.
 */
export async function openChangeNotices(
  redis: RedisConfig | string,
  bullmqPrefix: string,
  options: { logger?: Logger; connectionName?: string; caFile?: string } = {},
): Promise<ChangeListeners & { close(): Promise<void> }> {
  const { logger } = options;
  const target = typeof redis === 'string' ? standaloneRedis(redis) : redis;
  const name = options.connectionName ?? 'change-notices';
  let subscriber: ClusterSubscriber | Redis;
  if (target.mode === 'cluster') {
    subscriber = new ClusterSubscriber(target.nodes, clusterNodeOptions(target, name, options.caFile));
    subscriber.on('error', (err: Error) => logger?.debug({ err: err.message }, 'change notice subscriber error'));
  } else {
    subscriber = createRedis(target, 'worker', logger ?? createLogger({ service: 'change-notices', level: 'silent' }), name, {
      caFile: options.caFile,
      errorLevel: 'debug',
    });
  }
  const topics = Object.values(ChangeTopic);
  const topicOf = new Map(topics.map((topic) => [changeChannel(bullmqPrefix, topic), topic]));
  const listeners = new Map<ChangeTopic, Set<(notice: unknown) => void>>(topics.map((topic) => [topic, new Set()]));

  const notify = (topic: ChangeTopic, notice: unknown) => {
    for (const listener of listeners.get(topic) ?? []) {
      try {
        listener(notice);
      } catch (err) {
        logger?.warn({ err: (err as Error).message, topic }, 'change notice listener failed');
      }
    }
  };
  let connectedBefore = false;
  const missedSome = () => {
    for (const topic of topics) notify(topic, undefined);
  };
  subscriber.on('ready', () => {
    if (connectedBefore) missedSome();
    connectedBefore = true;
  });
  subscriber.on('message', (channel: string, text: string) => {
    const topic = topicOf.get(channel);
    if (!topic) return;
    let notice: unknown;
    try {
      notice = JSON.parse(text);
    } catch {
      notice = undefined;
    }
    notify(topic, notice);
  });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    subscriber.subscribe(...topicOf.keys()).catch((err: Error) => logger?.warn({ err: err.message }, 'change notice subscription failed')),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, SUBSCRIBE_WAIT_MS))),
  ]);
  clearTimeout(timer);
  return {
    on(topic, listener) {
      const registered = listener as (notice: unknown) => void;
      listeners.get(topic)!.add(registered);
      return () => void listeners.get(topic)!.delete(registered);
    },
    async close() {
      await subscriber.quit().catch(() => subscriber.disconnect());
    },
  };
}
