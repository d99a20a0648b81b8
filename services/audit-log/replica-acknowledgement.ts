import { Cluster } from 'ioredis';
import type { RedisClient } from '../platform/redis.ts';

/** How long a publish waits for the replica to acknowledge its job before the publish counts as failed. */
const ACK_TIMEOUT_MS = 500;
/** How long a master's count of online replicas is trusted before it is asked again. */
const REPLICAS_MAX_AGE_MS = 1000;

/** ROLE of a master: `['master', offset, [[ip, port, offset], …]]`, listing only the replicas online. */
const onlineReplicasIn = (role: unknown) => (Array.isArray(role) && role[0] === 'master' && Array.isArray(role[2]) ? role[2].length : 0);

/**
 * A master of a Redis Cluster acknowledges a write before its replica has it (replication is
 * asynchronous): if the master dies then, the replica elected in its place never had the job, and
 * an audit event whose publish resolved is lost with it (the fault suite saw it happen). The
 * function returned waits, after each add, for the replica's acknowledgement (WAIT, sent with a key
 * of the queue's slot so it reaches that master on the connection that carried the add), so a
 * publish resolves only once its job would survive a failover; it throws when no replica
 * acknowledges in time, and the publish is refused or spooled as when Redis is away.
 *
 * A master without a replica online (alone since a failover, or its replica still syncing) is not
 * waited for: its writes are as durable as a single server's. One server: nothing to wait for.
 */
export function replicaAcknowledgement(redis: RedisClient, keyOfSlot: string): () => Promise<void> {
  if (!(redis instanceof Cluster)) return async () => {};
  let known: { replicas: number; at: number } | undefined;
  const onlineReplicas = async () => {
    if (known && Date.now() - known.at < REPLICAS_MAX_AGE_MS) return known.replicas;
    const [, [err, role] = []] = (await redis.pipeline().exists(keyOfSlot).role().exec()) ?? [];
    if (err) throw err;
    known = { replicas: onlineReplicasIn(role), at: Date.now() };
    return known.replicas;
  };
  return async () => {
    if ((await onlineReplicas()) === 0) return;
    const [, [err, acknowledged] = []] = (await redis.pipeline().exists(keyOfSlot).wait(1, ACK_TIMEOUT_MS).exec()) ?? [];
    if (err) throw err;
    if (Number(acknowledged) < 1) {
      // The replica may be gone: ask the master again next time rather than wait on it for a second.
      known = undefined;
      throw new Error(`no replica acknowledged the audit job within ${ACK_TIMEOUT_MS} ms`);
    }
  };
}
