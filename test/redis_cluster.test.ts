/**
 * The whole system on a Redis Cluster of three masters with a replica each (REDIS_CLUSTER_NODES):
 * the audit pipeline, the rotation schedulers, change notices, the login throttle and the admin
 * console's sessions and queue board, each as a user of the system would notice it.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster } from 'ioredis';
import pg from 'pg';
import { start as startAdmin } from '../services/admin/app.ts';
import { createAuditKeyRing } from '../services/audit-log/audit-signature.ts';
import { createAuditPublisher } from '../services/audit-log/publisher.ts';
import { verifyAuditLog } from '../services/audit-log/verify-chain.ts';
import { changeChannel, ChangeTopic, openChangeNotices, type ChangeNotice } from '../services/platform/change-notices.ts';
import type { Env } from '../services/platform/config/index.ts';
import { createPrismaClient } from '../services/platform/db/client.ts';
import { AppError } from '../services/platform/errors.ts';
import { createLogger } from '../services/platform/logger.ts';
import { QueueName } from '../services/platform/queues.ts';
import { createRedis, scanKeys, waitForRedis } from '../services/platform/redis.ts';
import type { RunningService } from '../services/platform/runtime.ts';
import { createKeyStore } from '../services/signing-keys/key-store.ts';
import { start as startMaintenance } from '../workers/maintenance/worker.ts';
import { answerOf } from './support/answers.ts';
import { multipartBody, startFileArchive, type FileArchive } from './support/file-archive.ts';
import { isolatedPrefix, TEST_SECRETS, testConfig, testInfra } from './support/infra.ts';
import { startRedisCluster, type RedisClusterUnderTest } from './support/redis-cluster.ts';
import { untilMidSlot } from './support/scheduler-slot.ts';
import { emptyKeyTable, keyTestContext, restoreDefaultKeys } from './support/signing-keys.ts';
import { accountWithToken, adminToken, bearer } from './support/tokens.ts';
import { waitFor } from './support/wait-for.ts';

/** A revocation notice crosses pub/sub in milliseconds; the periodic reload (10 s by default) is far beyond this. */
const NOTICE_WITHIN_MS = 1000;

describe('on a Redis Cluster of three masters with a replica each', function () {
  this.timeout(120_000);
  let cluster: RedisClusterUnderTest;
  let client: Cluster;
  const running: { stop(): Promise<void> }[] = [];
  const started = <T extends { stop(): Promise<void> }>(service: T) => {
    running.push(service);
    return service;
  };
  /** A process's environment on the cluster, under a prefix of its own unless `BULLMQ_PREFIX` is given. */
  const onCluster = (env: Env = {}): Env => ({
    REDIS_URL: undefined,
    REDIS_CLUSTER_NODES: cluster.nodesSetting,
    BULLMQ_PREFIX: isolatedPrefix('cluster'),
    ...env,
  });
  /**
   * Admin replicas, each once /ready: a process starts whether or not Redis is ready, and a cluster
   * can take longer to be than the 5 s a start waits for it on a loaded machine.
   */
  const admins = (count: number, env: Env) =>
    Promise.all(
      Array.from({ length: count }, async () => {
        const admin = started(await startAdmin(testConfig('admin', env)));
        await waitFor(() => fetch(`${admin.url}/ready`).then((res) => res.ok), { timeoutMs: 30_000, message: 'admin to be ready' });
        return admin;
      }),
    );

  before(async function () {
    this.timeout(180_000);
    cluster = await startRedisCluster();
    client = new Cluster(cluster.nodes.map(({ port }) => ({ host: '127.0.0.1', port })));
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((service) => service.stop()));
  });
  after(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  describe('the audit pipeline', () => {
    let archive: FileArchive;
    before(async function () {
      this.timeout(120_000);
      archive = await startFileArchive(onCluster());
    });
    after(() => archive?.stop());

    it("when modules publish audit events through the cluster, then the writer stores each once, the chain verifies and every queue key shares the prefix's slot", async () => {
      const run = randomBytes(3).toString('hex');
      const upload = multipartBody('cluster.txt', Buffer.from(`on a cluster ${run}`));
      const uploaded = await fetch(`${archive.ingester.url}/api/v1/files/upload`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${archive.tokens.ingester}`, 'Content-Type': upload.contentType, 'X-Request-Id': `cluster-upload-${run}` },
        body: upload.body,
      });
      assert.equal(uploaded.status, 201);
      const { id } = (await uploaded.json()) as { id: string };
      const downloaded = await fetch(`${archive.query.url}/api/v1/files/${id}/download`, {
        headers: { Authorization: `Bearer ${archive.tokens.reader}`, 'X-Request-Id': `cluster-download-${run}` },
      });
      assert.equal(downloaded.status, 200);
      await downloaded.arrayBuffer();
      // Token requests from several clients at once: the admin's publisher groups them into shared jobs.
      const tokens = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          fetch(`${archive.admin.url}/api/v1/auth/token`, {
            method: 'POST',
            headers: { 'Content-Type': 'application/json', 'X-Request-Id': `cluster-token-${run}-${i}` },
            body: JSON.stringify({ client_id: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID, client_secret: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET }),
          }).then((res) => res.status),
        ),
      );
      assert.deepEqual(new Set(tokens), new Set([200]));

      const requestIds = [`cluster-upload-${run}`, `cluster-download-${run}`, ...tokens.map((_, i) => `cluster-token-${run}-${i}`)];
      const db = new pg.Client({ connectionString: testInfra().databaseUrl });
      await db.connect();
      try {
        const stored = await waitFor(
          async () =>
            (
              await db.query<{ request_id: string; source: string; rows: number; events: number }>(
                'SELECT request_id, min(source) AS source, count(*)::int AS rows, count(DISTINCT event_id)::int AS events FROM audit_logs WHERE request_id = ANY($1) GROUP BY request_id',
                [requestIds],
              )
            ).rows,
          {
            until: (rows) => rows.length === requestIds.length,
            timeoutMs: 30_000,
            message: (rows) => `events of ${requestIds.length} requests (${rows.length} so far)`,
          },
        );
        assert.deepEqual(
          stored.filter((row) => row.rows !== row.events),
          [],
          'no event stored twice',
        );
        assert.deepEqual(new Set(stored.map((row) => row.source)), new Set(['admin', 'ingester', 'query']));
      } finally {
        await db.end();
      }
      const prisma = createPrismaClient(testInfra().databaseUrl);
      try {
        const report = await verifyAuditLog(prisma, createAuditKeyRing(testConfig('audit-writer').auditKeys));
        assert.ok(report.ok, `chain broken: ${JSON.stringify(report.first_break)}`);
      } finally {
        await prisma.$disconnect();
      }

      const keys: string[] = [];
      for await (const batch of scanKeys(client, `${archive.admin.deps.config.bullmqPrefix}:*`)) keys.push(...batch);
      assert.ok(
        keys.some((key) => key.includes(`:${QueueName.AuditEvents}:`)),
        `audit-events keys under ${archive.admin.deps.config.bullmqPrefix}`,
      );
      const slots = new Set(await Promise.all(keys.map(async (key) => Number(await client.cluster('KEYSLOT', key)))));
      assert.equal(slots.size, 1, `the prefix's keys share one slot (${keys.length} keys)`);
    });
  });

  describe('a publish and the replica', () => {
    it("when the replica of the queue's master stops answering, then a fail-closed publish is refused rather than resolved on the master alone, and resolves again once the replica answers", async () => {
      const config = testConfig('admin', onCluster());
      const logger = createLogger({ service: 'cluster-test', level: 'silent' });
      const redis = createRedis(config.redis, 'producer', logger, 'cluster-test:publisher');
      const spoolDir = await mkdtemp(path.join(os.tmpdir(), 'artstore-cluster-spool-'));
      const audit = await createAuditPublisher({ redis, bullmqPrefix: config.bullmqPrefix, source: 'admin', delivery: 'fail-closed', spoolDir, logger });
      const event = { event_type: 'file_upload', action: 'upload', status: 'success' } as const;
      const replica = await cluster.replicaOf(await cluster.masterOf(`${config.bullmqPrefix}:${QueueName.AuditEvents}:id`));
      try {
        await waitForRedis(redis, 30_000);
        await audit.publish(event);
        cluster.pause(replica);
        try {
          await assert.rejects(audit.publish(event), (err: unknown) => err instanceof AppError && err.status === 503 && err.code === 'audit_unavailable');
        } finally {
          cluster.resume(replica);
        }
        await audit.publish(event);
      } finally {
        await audit.close();
        redis.disconnect();
        await rm(spoolDir, { recursive: true, force: true });
      }
    });
  });

  describe('the rotation schedulers', () => {
    let ctx: ReturnType<typeof keyTestContext>;
    before(() => {
      ctx = keyTestContext();
    });
    after(async () => {
      await ctx.close();
      await restoreDefaultKeys();
    });

    it('when three maintenance workers share one scheduler ticking every 2 s, then each tick rotates the JWT keys exactly once', async () => {
      const every = 2000;
      await emptyKeyTable(ctx.prisma);
      const env = onCluster({ JWT_KEY_ROTATION_EVERY_MS: String(every), JWT_ALGORITHM: 'ES256' });
      await Promise.all([1, 2, 3].map(async () => started(await startMaintenance(testConfig('maintenance', env)))));
      const activeRotation = async () => (await createKeyStore(ctx.prisma).live()).find((key) => key.state === 'active')!.rotationCount;

      await untilMidSlot(every);
      const from = { slot: Math.floor(Date.now() / every), rotation: await activeRotation(), at: new Date() };
      await sleep(5 * every);
      await untilMidSlot(every);
      const to = { slot: Math.floor(Date.now() / every), rotation: await activeRotation() };
      const ticks = to.slot - from.slot;
      assert.ok(ticks >= 5, `at least five ticks elapsed (${ticks})`);
      assert.equal(to.rotation - from.rotation, ticks, 'one rotation per tick');
      const activationSlots = (await createKeyStore(ctx.prisma).all())
        .filter((key) => key.activatedAt && key.activatedAt > from.at)
        .map((key) => Math.floor(key.activatedAt!.getTime() / every));
      assert.equal(new Set(activationSlots).size, activationSlots.length, 'never two rotations in one tick');
    });
  });

  describe('between admin replicas', () => {
    it('when an admin process runs, then it holds exactly one subscription to each change channel across the nodes', async () => {
      const env = onCluster();
      const [admin] = await admins(1, env);
      const prefix = admin!.deps.config.bullmqPrefix;
      const channels = Object.values(ChangeTopic).map((topic) => changeChannel(prefix, topic));
      const perNode = await Promise.all(
        cluster.nodes.map(async (node) => {
          const redis = cluster.admin(node);
          try {
            return (await redis.pubsub('NUMSUB', ...channels)) as (string | number)[];
          } finally {
            redis.disconnect();
          }
        }),
      );
      const total = Object.fromEntries(channels.map((channel, i) => [channel, perNode.reduce((sum, reply) => sum + Number(reply[2 * i + 1]), 0)]));
      assert.deepEqual(total, Object.fromEntries(channels.map((channel) => [channel, 1])));
    });

    it('when an account is suspended on one admin replica, then the other refuses its token within 1 s', async () => {
      const [first, second] = await admins(2, onCluster());
      const reader = await accountWithToken(first!.url, await adminToken(first!.url), 'reader');
      const whoami = () => fetch(`${second!.url}/api/v1/auth/whoami`, bearer(reader.token)).then(answerOf);
      assert.equal(await whoami(), '200');
      const suspended = await fetch(`${first!.url}/api/v1/service-accounts/${reader.service_account.id}/suspend`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${await adminToken(first!.url)}` },
      });
      assert.equal(suspended.status, 200);
      await waitFor(whoami, {
        until: (answer) => answer === '401 token_revoked',
        timeoutMs: NOTICE_WITHIN_MS,
        intervalMs: 25,
        message: 'the other replica to refuse the token',
      });
    });

    it('when guesses alternate between two admin replicas, then they are counted together, the lock holds on both, and a replica started later knows it', async () => {
      const env = onCluster({ TRUST_PROXY: 'true', AUTH_LOCK_AFTER_FAILURES: '3', AUTH_LOCK_SECONDS: '30', AUTH_LOCK_MAX_SECONDS: '60' });
      const [first, second] = await admins(2, env);
      const reader = await accountWithToken(first!.url, await adminToken(first!.url), 'reader');
      const attempt = (service: RunningService, secret: string) =>
        fetch(`${service.url}/api/v1/auth/token`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': '198.51.100.77' },
          body: JSON.stringify({ client_id: reader.service_account.client_id, client_secret: secret }),
        }).then(answerOf);
      const wrong = 'wrong-secret-wrong-secret-wrong-secret';
      assert.deepEqual([await attempt(first!, wrong), await attempt(second!, wrong), await attempt(first!, wrong)], Array(3).fill('401 invalid_client'));
      assert.equal(await attempt(second!, wrong), '429 temporarily_unavailable', 'the fourth failure crosses the limit whichever replica saw the others');
      await waitFor(() => attempt(first!, reader.client_secret), {
        until: (answer) => answer === '429 temporarily_unavailable',
        timeoutMs: NOTICE_WITHIN_MS,
        message: 'the other replica to refuse even the right secret',
      });
      // A replica started now loads the lock from the cluster (its keys sit on one master of three).
      const [third] = await admins(1, env);
      assert.equal(await attempt(third!, reader.client_secret), '429 temporarily_unavailable');
    });

    it('when an admin logs in to the console on one replica, then the other opens the queue board with that session, and a logout there ends it on both', async () => {
      const [first, second] = await admins(2, onCluster());
      const login = await fetch(`${first!.url}/admin/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Origin: first!.url },
        body: new URLSearchParams({ client_id: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID, client_secret: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET }),
      });
      assert.equal(login.status, 303);
      const cookie = /^(artstore_admin=[^;]+)/.exec(login.headers.get('set-cookie') ?? '')?.[1];
      assert.ok(cookie, 'logged in');
      const board = (service: RunningService) => fetch(`${service.url}/admin/queues/api/queues`, { headers: { Cookie: cookie } });
      const onSecond = await board(second!);
      assert.equal(onSecond.status, 200);
      const { queues } = (await onSecond.json()) as { queues: { name: string }[] };
      assert.deepEqual(queues.map((queue) => queue.name).sort(), Object.values(QueueName).sort(), 'the board reads every queue through the cluster');
      const logout = await fetch(`${second!.url}/admin/logout`, { method: 'POST', redirect: 'manual', headers: { Cookie: cookie, Origin: second!.url } });
      assert.equal(logout.status, 200);
      assert.deepEqual([(await board(first!)).status, (await board(second!)).status], [401, 401]);
    });
  });
  // Last: it kills a node, and the cluster stays without it.
  describe('when a node goes', () => {
    it('when the node holding the change-notice subscription is killed, then listeners hear that notices may have been missed, and later notices reach them', async () => {
      const config = testConfig('admin', onCluster());
      const connectionName = `notices-${randomBytes(3).toString('hex')}`;
      const notices = await openChangeNotices(config.redis, config.bullmqPrefix, { connectionName });
      const heard: (ChangeNotice<'jwt-keys-changed'> | undefined)[] = [];
      notices.on(ChangeTopic.KeysChanged, (notice) => heard.push(notice));
      const publish = () =>
        client.publish(changeChannel(config.bullmqPrefix, ChangeTopic.KeysChanged), JSON.stringify({ reason: 'rotated', at: new Date().toISOString() }));
      try {
        await publish();
        await waitFor(() => heard.length > 0, { message: 'the first notice' });
        const holding = await waitFor(
          async () => {
            for (const node of cluster.nodes) {
              const redis = cluster.admin(node);
              try {
                if (String(await redis.client('LIST')).includes(connectionName)) return node;
              } catch {
                // a node already gone
              } finally {
                redis.disconnect();
              }
            }
            return undefined;
          },
          { message: 'the node holding the subscription' },
        );
        heard.length = 0;
        await cluster.kill(holding);
        await waitFor(() => heard.includes(undefined), { timeoutMs: 30_000, message: 'listeners to hear that notices may have been missed' });
        // Published until heard: the subscription moves to another node, and the cluster may still be failing over.
        await waitFor(
          async () => {
            await publish().catch(() => undefined);
            return heard.some((notice) => notice?.reason === 'rotated');
          },
          { timeoutMs: 30_000, intervalMs: 500, message: 'a notice after the node went' },
        );
      } finally {
        await notices.close();
      }
    });
  });
});
