import assert from 'node:assert/strict';
import { ConfigError } from './config-error.ts';
import { loadRedis, parseBullmqPrefix } from './connections.ts';

const variableOf = (read: () => unknown) => {
  try {
    read();
  } catch (err) {
    if (err instanceof ConfigError) return err.variable;
    throw err;
  }
  assert.fail('no ConfigError');
};

describe('Redis connection settings', () => {
  it('when REDIS_CLUSTER_NODES names nodes, then the process talks to a cluster with the password and TLS of every node', () => {
    const redis = loadRedis({ REDIS_CLUSTER_NODES: ' redis-1:6379, 10.0.0.2:7000,[::1]:7001 ', REDIS_PASSWORD: 'pw', REDIS_TLS: 'true' });
    assert.equal(redis.mode, 'cluster');
    assert.ok(redis.mode === 'cluster');
    assert.deepEqual(redis.nodes, [
      { host: 'redis-1', port: 6379 },
      { host: '10.0.0.2', port: 7000 },
      { host: '::1', port: 7001 },
    ]);
    assert.equal(redis.password?.reveal(), 'pw');
    assert.equal(redis.tls, true);
  });

  it('when REDIS_CLUSTER_NODES is malformed, given with REDIS_URL, or with a database other than 0, then the variable to fix is named', () => {
    for (const bad of ['redis-1', 'redis-1:0', 'redis-1:70000', ',', 'a b:1']) {
      assert.equal(
        variableOf(() => loadRedis({ REDIS_CLUSTER_NODES: bad })),
        'REDIS_CLUSTER_NODES',
        bad,
      );
    }
    assert.equal(
      variableOf(() => loadRedis({ REDIS_CLUSTER_NODES: 'r:1', REDIS_URL: 'redis://r:1/0' })),
      'REDIS_URL',
    );
    assert.equal(
      variableOf(() => loadRedis({ REDIS_CLUSTER_NODES: 'r:1', REDIS_DB: '2' })),
      'REDIS_DB',
    );
  });

  it('when the keys go to a cluster, then the BullMQ prefix is a hash tag, and a prefix that holds one is kept', () => {
    const cluster = { REDIS_CLUSTER_NODES: 'r:1' };
    assert.equal(parseBullmqPrefix(cluster), '{artstore}');
    assert.equal(parseBullmqPrefix({ ...cluster, BULLMQ_PREFIX: 'eu-1' }), '{eu-1}');
    assert.equal(parseBullmqPrefix({ ...cluster, BULLMQ_PREFIX: '{eu-1}' }), '{eu-1}');
    assert.equal(parseBullmqPrefix({ ...cluster, BULLMQ_PREFIX: 'artstore-{eu}' }), 'artstore-{eu}');
    assert.equal(parseBullmqPrefix({ BULLMQ_PREFIX: 'artstore' }), 'artstore', 'one server: the prefix as given');
    for (const bad of ['{}', '{a}{b}', 'a{b', 'a}b', '{a b}', '', 'x'.repeat(65)]) {
      assert.equal(
        variableOf(() => parseBullmqPrefix({ ...cluster, BULLMQ_PREFIX: bad })),
        'BULLMQ_PREFIX',
        bad,
      );
    }
  });
});
