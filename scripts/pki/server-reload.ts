/**
 * Makes Redis or PostgreSQL serve the certificate `npm run pki:issue` just wrote, without a restart.
 * Redis re-reads its TLS files whenever one of its tls-* settings is set, so the files it already
 * names are set again; PostgreSQL re-reads them on a configuration reload. A server that does not
 * answer is left alone: it reads the new files when it starts.
 */
import { Cluster, type Redis } from 'ioredis';
import type { PrismaClient } from '../../services/platform/db/client.ts';
import type { InfrastructureIdentity } from '../../services/pki/identities.ts';
import { waitForRedis, type RedisClient } from '../../services/platform/redis.ts';

export type ReloadOutcome = 'reloaded' | 'ssl_turned_on' | 'not_reachable';

const TLS_FILES = ['tls-cert-file', 'tls-key-file', 'tls-ca-cert-file'] as const;

/** Each node of a cluster holds its own settings: every one, masters and replicas, is reloaded. */
export async function reloadRedisTls(redis: RedisClient): Promise<ReloadOutcome> {
  try {
    await waitForRedis(redis, 3000);
  } catch {
    return 'not_reachable';
  }
  for (const node of redis instanceof Cluster ? redis.nodes('all') : [redis]) await reloadNodeTls(node);
  return 'reloaded';
}

async function reloadNodeTls(redis: Redis): Promise<void> {
  const settings: string[] = [];
  for (const name of TLS_FILES) {
    const [, value] = (await redis.config('GET', name)) as string[];
    if (value) settings.push(name, value);
  }
  if (!settings.includes('tls-cert-file')) throw new Error('Redis has no tls-cert-file: start it with --tls-port and the files pki:issue writes');
  await redis.call('CONFIG', 'SET', ...settings);
}

/**
 * `pg_reload_conf()`; the first time also `ALTER SYSTEM SET ssl = on`, so a server that started
 * before its certificate existed (the first start of a deployment) turns TLS on now. Needs a
 * superuser connection (in compose, over the Unix socket).
 */
export async function reloadPostgresTls(prisma: PrismaClient): Promise<ReloadOutcome> {
  const ssl = (await prisma.$queryRawUnsafe<{ ssl: string }[]>('SHOW ssl'))[0]?.ssl;
  if (ssl !== 'on') await prisma.$executeRawUnsafe('ALTER SYSTEM SET ssl = on');
  await prisma.$queryRawUnsafe('SELECT pg_reload_conf()');
  return ssl === 'on' ? 'reloaded' : 'ssl_turned_on';
}

export async function reloadServer(identity: InfrastructureIdentity, clients: { redis: RedisClient; prisma: PrismaClient }): Promise<ReloadOutcome> {
  return identity === 'redis' ? reloadRedisTls(clients.redis) : reloadPostgresTls(clients.prisma);
}
