import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { eventsOfJobs } from '../../test/support/audit-jobs.ts';
import { isolatedPrefix, testInfra } from '../../test/support/infra.ts';
import { startRedisProxy, type RedisProxy } from '../../test/support/redis-proxy.ts';
import { waitFor } from '../../test/support/wait-for.ts';
import { ConfigError, loadConfig, standaloneRedis, type AuditDelivery } from '../platform/config/index.ts';
import { AppError } from '../platform/errors.ts';
import { createLogger } from '../platform/logger.ts';
import { AuditJob, QueueName } from '../platform/queues.ts';
import { createRedis, waitForRedis } from '../platform/redis.ts';
import type { AuditEvent } from './events.ts';
import { createAuditPublisher, groupJobId, type AuditEventInput, type AuditPublisher } from './publisher.ts';

const logger = createLogger({ service: 'audit-publisher-test', level: 'silent' });
const input = (n: number): AuditEventInput => ({ event_type: 'auth_failure', action: 'POST', status: 'failure', details: { n } });

describe('audit publisher', () => {
  let proxy: RedisProxy;
  let spoolDir: string;
  let prefix: string;
  let inspect: Queue;
  let direct: Redis;
  const open: { publisher: AuditPublisher; redis: Redis }[] = [];

  async function publisher(delivery: AuditDelivery) {
    const redis = createRedis(standaloneRedis(proxy.url), 'producer', logger, 'audit-publisher-test');
    await waitForRedis(redis, 5000).catch(() => undefined);
    const created = await createAuditPublisher({ redis, bullmqPrefix: prefix, source: 'admin', delivery, spoolDir, logger });
    open.push({ publisher: created, redis });
    return created;
  }
  async function stopAll() {
    for (const { publisher: p, redis } of open.splice(0)) {
      await p.close();
      redis.disconnect();
    }
  }
  const jobs = () => inspect.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed']);
  /** Waiting jobs in the order a worker takes them. */
  const queuedIds = async () => eventsOfJobs(await inspect.getWaiting(0, -1)).map((event) => event.event_id);
  const spoolLines = async () => (await readFile(path.join(spoolDir, 'admin.ndjson'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  /** Two events a publisher spooled while Redis was out of reach, left behind when its process stopped. */
  async function spoolTwoThenStop(): Promise<AuditEvent[]> {
    const first = await publisher('spool');
    proxy.cut();
    await sleep(50);
    const spooled = [await first.publish(input(1)), await first.publish(input(2))];
    await stopAll();
    return spooled;
  }

  beforeEach(async () => {
    proxy = await startRedisProxy(testInfra().redisUrl);
    spoolDir = await mkdtemp(path.join(tmpdir(), 'audit-spool-'));
    prefix = isolatedPrefix('pub');
    direct = new Redis(testInfra().redisUrl);
    inspect = new Queue(QueueName.AuditEvents, { connection: direct, prefix });
  });
  afterEach(async () => {
    await stopAll();
    await inspect.obliterate({ force: true }).catch(() => undefined);
    await inspect.close();
    direct.disconnect();
    await proxy.close();
    await rm(spoolDir, { recursive: true, force: true });
  });

  it('when an event is published, then exactly one record-audit-event job exists with jobId = event_id and the full event', async () => {
    const audit = await publisher('fail-closed');
    const event = await audit.publish({ ...input(1), resource_type: 'api', resource_id: '/x', request_id: 'r-1' });
    const all = await jobs();
    assert.equal(all.length, 1);
    assert.equal(all[0]!.id, event.event_id);
    assert.equal(all[0]!.name, AuditJob.Record);
    assert.deepEqual(all[0]!.data, event);
    assert.equal(event.event_category, 'authentication');
    assert.equal(event.source, 'admin');
    assert.equal(event.user_id, null);
  });

  it('when many events are published at once, then they leave in fewer jobs than events, each event exactly once and in publish order', async () => {
    const audit = await publisher('fail-closed');
    const published = await Promise.all(Array.from({ length: 200 }, (_, i) => audit.publish(input(i))));
    const all = await jobs();
    assert.ok(all.length < published.length, `${all.length} jobs for ${published.length} events: publishes made during an add leave together`);
    const groups = all.filter((job) => job.name === AuditJob.RecordGroup);
    assert.ok(groups.length > 0);
    for (const group of groups) assert.equal(group.id, groupJobId((group.data as { events: AuditEvent[] }).events));
    const queued = eventsOfJobs(all.sort((a, b) => a.timestamp - b.timestamp || Number(a.id! > b.id!)));
    assert.deepEqual(queued.map((event) => event.event_id).sort(), published.map((event) => event.event_id).sort());
    assert.deepEqual(
      queued.map((event) => (event.details as { n: number }).n),
      published.map((event) => (event.details as { n: number }).n),
      'the events of one publisher stay in the order they were published',
    );
  });

  it('when Redis goes away while a group is being added, then under fail-closed every publish of that group is refused, none is lost silently', async () => {
    const audit = await publisher('fail-closed');
    await audit.publish(input(0));
    proxy.cut();
    await sleep(50);
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => audit.publish(input(i + 1))));
    assert.ok(outcomes.every((o) => o.status === 'rejected' && o.reason instanceof AppError && o.reason.code === 'audit_unavailable'));
    assert.equal(eventsOfJobs(await jobs()).length, 1, 'only the event acknowledged before the cut is queued');
  });

  it('when the queue cannot be set up on its connection, again and again within a turn, then the process still runs its timers and ends once the publisher is closed', async function () {
    this.timeout(30_000);
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/publisher-on-closed-connection.ts'], {
      env: { ...process.env, REDIS_URL: testInfra().redisUrl },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    // A spinning event loop answers nothing: the child is ended from here if it does not end itself.
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      assert.equal(await exited, 0, `the child ended by itself (${output.trim() || 'no output'})`);
      assert.equal(output, 'timers ran\n');
    } finally {
      clearTimeout(watchdog);
    }
  });

  it('when an event breaks the contract, then publish throws and nothing is queued', async () => {
    const audit = await publisher('fail-closed');
    await assert.rejects(audit.publish({ ...input(1), action: '' }), (err: Error) => !(err instanceof AppError));
    await assert.rejects(audit.publish({ ...input(1), resource_type: 'x'.repeat(51) }));
    assert.equal((await jobs()).length, 0);
  });

  it('when Redis is down under fail-closed, then publish rejects with a 503 AppError and nothing is spooled', async () => {
    const audit = await publisher('fail-closed');
    proxy.cut();
    await sleep(50);
    const started = Date.now();
    await assert.rejects(audit.publish(input(1)), (err: unknown) => err instanceof AppError && err.status === 503 && err.code === 'audit_unavailable');
    assert.ok(Date.now() - started < 500, 'a refused publish answers at once');
    assert.throws(
      () => audit.assertAvailable(),
      (err: unknown) => err instanceof AppError && err.status === 503,
    );
    assert.deepEqual(await spoolLines(), []);
  });

  it('when Redis is down under fail-closed and the event is committed, then it is spooled and queued once Redis is back', async () => {
    const audit = await publisher('fail-closed');
    proxy.cut();
    await sleep(50);
    const event = await audit.publish(input(1), { committed: true });
    assert.equal(JSON.parse((await spoolLines())[0]!).event_id, event.event_id);
    proxy.restore();
    await waitFor(async () => (await jobs()).length === 1 && (await spoolLines()).length === 0, { message: 'the spooled event to be queued' });
    assert.equal((await jobs())[0]!.id, event.event_id);
  });

  it('when Redis is down under spool, then every publish succeeds from the fsynced spool and is replayed in order, none lost or doubled', async () => {
    const audit = await publisher('spool');
    const before = await audit.publish(input(0));
    proxy.cut();
    await sleep(50);
    const during: AuditEvent[] = [];
    for (let n = 1; n <= 50; n++) during.push(await audit.publish(input(n)));
    // Concurrent publishes share fsyncs and keep their order of arrival.
    during.push(...(await Promise.all([51, 52, 53].map((n) => audit.publish(input(n))))));
    assert.deepEqual(
      (await spoolLines()).map((line) => JSON.parse(line).event_id),
      during.map((e) => e.event_id),
    );
    assert.equal((await jobs()).length, 1, 'nothing reached the queue during the outage');

    proxy.restore();
    await waitFor(async () => (await spoolLines()).length === 0, { message: 'the spool to empty' });
    const after = await audit.publish(input(99));
    // The replay may still be finishing when the spool file empties; an event published then goes
    // through the spool behind it, so it is queued a moment later, never before the backlog.
    const expected = [before, ...during, after].map((e) => e.event_id);
    await waitFor(async () => (await queuedIds()).length >= expected.length, { message: `${expected.length} queued jobs` });
    assert.deepEqual(await queuedIds(), expected);
  });

  it('when the process restarts with a non-empty spool, then the new process replays it at start', async () => {
    const spooled = await spoolTwoThenStop();
    assert.equal((await spoolLines()).length, 2);

    proxy.restore();
    await publisher('spool');
    await waitFor(async () => eventsOfJobs(await jobs()).length === 2, { message: 'both spooled events to be queued' });
    assert.deepEqual(
      await queuedIds(),
      spooled.map((e) => e.event_id),
    );
    await waitFor(async () => (await spoolLines()).length === 0, { message: 'the spool to empty' });
  });

  it('when a replay was cut short after queueing, then queueing the same lines again adds no duplicate job', async () => {
    const spooled = await spoolTwoThenStop();
    // As if the last run queued the lines (one group job) and died before moving the offset past them.
    await inspect.add(AuditJob.RecordGroup, { events: spooled }, { jobId: groupJobId(spooled) });
    // And as if it died in the middle of writing a third line.
    await writeFile(path.join(spoolDir, 'admin.ndjson'), '{"event_id":"torn', { flag: 'a' });

    proxy.restore();
    await publisher('spool');
    await waitFor(async () => (await spoolLines()).length === 0, { message: 'the spool to empty' });
    assert.deepEqual(
      await queuedIds(),
      spooled.map((e) => e.event_id),
    );
  });

  it('when Redis answers, then a publish goes straight to the queue and the spool is never written', async () => {
    const audit = await publisher('spool');
    const published = [];
    for (let n = 0; n < 200; n++) published.push(await audit.publish(input(n)));
    assert.deepEqual(await spoolLines(), []);
    assert.deepEqual(
      await queuedIds(),
      published.map((event) => event.event_id),
    );
  });
});

describe('audit delivery configuration', () => {
  const env = { DATABASE_URL: 'postgresql://u@db/x', REDIS_URL: 'redis://r:6379/0' };

  it('when AUDIT_DELIVERY is unset, then production, staging and test fail closed and development spools', () => {
    for (const environment of ['production', 'staging', 'test'] as const) {
      const strong = 'Xq3vN8kP2mR7tY4wZ9aB6cD1eF5gH0jK';
      const config = loadConfig('ingester', {
        ...env,
        ENVIRONMENT: environment,
        REDIS_URL: `redis://:${strong}@r:6379/0`,
        DATABASE_URL: `postgresql://u:${strong}@db/x`,
        METRICS_TOKEN: strong,
      });
      assert.equal(config.audit.delivery, 'fail-closed', environment);
    }
    assert.equal(loadConfig('ingester', { ...env, ENVIRONMENT: 'development' }).audit.delivery, 'spool');
  });

  it('when AUDIT_DELIVERY is not a known mode, then a ConfigError names it', () => {
    assert.throws(
      () => loadConfig('ingester', { ...env, AUDIT_DELIVERY: 'best-effort' }),
      (err: unknown) => err instanceof ConfigError && err.variable === 'AUDIT_DELIVERY',
    );
  });

  it('when AUDIT_SPOOL_DIR is unset, then each service spools under .data/audit-spool/<service>', () => {
    assert.equal(loadConfig('query', env).audit.spoolDir, path.resolve('.data/audit-spool/query'));
    assert.equal(loadConfig('query', { ...env, AUDIT_SPOOL_DIR: '/var/spool/x' }).audit.spoolDir, '/var/spool/x');
  });
});
