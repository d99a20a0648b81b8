import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { start as startAdmin } from '../services/admin/app.ts';
import { changeChannel, ChangeTopic, openChangeNotices, type ChangeNotice } from '../services/platform/change-notices.ts';
import { testConfig, testInfra } from './support/infra.ts';
import { waitFor } from './support/wait-for.ts';

/** Channels carry the BullMQ prefix, so under a prefix of its own a test sees only its own processes. */
const ownPrefix = (name: string) => `${testInfra().bullmqPrefix}-${name}-${randomBytes(3).toString('hex')}`;

describe('change notices', () => {
  let redis: Redis;
  before(() => {
    redis = new Redis(testInfra().redisUrl);
  });
  after(() => redis.disconnect());

  const subscriptionsPerChannel = async (prefix: string): Promise<Record<string, number>> => {
    const channels = Object.values(ChangeTopic).map((topic) => changeChannel(prefix, topic));
    const reply = (await redis.pubsub('NUMSUB', ...channels)) as (string | number)[];
    return Object.fromEntries(channels.map((channel, i) => [channel, Number(reply[2 * i + 1])]));
  };

  it('when an admin process runs, then it holds exactly one subscription to each change channel', async () => {
    const prefix = ownPrefix('notices');
    const admin = await startAdmin(testConfig('admin', { BULLMQ_PREFIX: prefix }));
    let running: Record<string, number>;
    try {
      running = await subscriptionsPerChannel(prefix);
    } finally {
      await admin.stop();
    }
    const channels = Object.values(ChangeTopic).map((topic) => changeChannel(prefix, topic));
    assert.deepEqual(running, Object.fromEntries(channels.map((channel) => [channel, 1])));
    assert.deepEqual(await subscriptionsPerChannel(prefix), Object.fromEntries(channels.map((channel) => [channel, 0])), 'stop ends the subscription');
  });

  it('when a notice arrives, then every listener of its topic hears it, and after a reconnect every listener hears undefined', async () => {
    const prefix = ownPrefix('fanout');
    const connectionName = `notices-test-${randomBytes(3).toString('hex')}`;
    const notices = await openChangeNotices(testInfra().redisUrl, prefix, { connectionName });
    const first: (ChangeNotice<'jwt-keys-changed'> | undefined)[] = [];
    const second: (ChangeNotice<'jwt-keys-changed'> | undefined)[] = [];
    const accounts: (ChangeNotice<'service-accounts-changed'> | undefined)[] = [];
    notices.on(ChangeTopic.KeysChanged, (notice) => first.push(notice));
    notices.on(ChangeTopic.KeysChanged, (notice) => second.push(notice));
    notices.on(ChangeTopic.AccountsChanged, (notice) => accounts.push(notice));
    try {
      await redis.publish(changeChannel(prefix, ChangeTopic.KeysChanged), JSON.stringify({ reason: 'rotated', at: new Date().toISOString() }));
      await waitFor(() => first.length > 0 && second.length > 0, { message: 'both key listeners to hear the notice' });
      assert.equal(first[0]?.reason, 'rotated');
      assert.equal(second[0]?.reason, 'rotated');
      assert.deepEqual(accounts, [], 'a notice reaches only the listeners of its topic');

      const clients = (await redis.client('LIST')) as string;
      const id = /^id=(\d+) /.exec(clients.split('\n').find((line) => line.includes(` name=${connectionName} `)) ?? '')?.[1];
      assert.ok(id, 'the subscriber connection is listed under its name');
      await redis.client('KILL', 'ID', id);
      await waitFor(() => first.length > 1 && second.length > 1 && accounts.length > 0, { message: 'every listener to hear the reconnect' });
      assert.deepEqual([first[1], second[1], accounts[0]], [undefined, undefined, undefined]);
    } finally {
      await notices.close();
    }
  });
});
