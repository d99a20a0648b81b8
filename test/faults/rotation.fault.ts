/**
 * Fault suite, signing keys: rotations under load must never refuse a genuine token, and any number
 * of maintenance replicas must rotate exactly once per tick. Time is accelerated: the rotation
 * period, JWKS cache age and cooldown keep production's order (period ≫ cache age > cooldown).
 * With TLS on (SUITE_TLS), the modules fetch the JWKS over mutual TLS and the load comes over TLS.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Env } from '../../services/platform/config/index.ts';
import { createPrismaClient, type PrismaClient } from '../../services/platform/db/client.ts';
import { startChildService, type ChildService } from '../support/child-service.ts';
import { testEnv, testInfra } from '../support/infra.ts';
import { keepAliveGet } from '../support/keep-alive-get.ts';
import { untilMidSlot } from '../support/scheduler-slot.ts';
import { suiteTlsModes } from '../support/suite-tls.ts';
import { bundleClient, tlsTestEnv } from '../support/tls-modules.ts';
import { accountWithToken, adminToken, tokenFor, type UrlFetch } from '../support/tokens.ts';

const FULL = process.env.FAULT_SUITE !== 'fast';
const LOAD_SECONDS = FULL ? 60 : 12;
const RATE_PER_SECOND = 500;
const ROTATION_PERIODS = FULL ? 30 : 8;

async function activeRotationCount(prisma: PrismaClient): Promise<number> {
  const active = await prisma.jwtKey.findFirst({ where: { state: 'active' } });
  return active?.rotationCount ?? 0;
}

for (const tlsMode of suiteTlsModes()) {
  describe(`fault suite: signing keys (TLS ${tlsMode})`, function () {
    this.timeout(600_000);
    let prisma: PrismaClient;
    const started: ChildService[] = [];
    const closing: (() => Promise<void>)[] = [];
    const startChild = async (entry: string, env: NodeJS.ProcessEnv) => {
      const child = await startChildService(entry, env);
      started.push(child);
      return child;
    };
    /**
     * The mode's variables: with TLS on, one CA for both tests (its key, and the bundle file admin
     * writes; admin starts first, so the others find it).
     */
    let tlsEnv: Promise<Env> | undefined;
    const modeEnv = (): Promise<Env> => {
      if (tlsMode === 'off') return Promise.resolve({});
      tlsEnv ??= tlsTestEnv();
      return tlsEnv;
    };
    /** fetch trusting the deployment's bundle when TLS is on. */
    const clientFor = async (env: Env): Promise<UrlFetch> => {
      if (tlsMode === 'off') return fetch;
      const client = await bundleClient(env.TLS_CA_FILE!);
      closing.push(() => client.close());
      return client.fetch;
    };

    before(() => {
      prisma = createPrismaClient(testInfra().databaseUrl);
    });
    afterEach(async () => {
      await Promise.all(closing.splice(0).map((close) => close()));
      await Promise.all(started.splice(0).map((c) => c.stop()));
    });
    after(() => prisma.$disconnect());

    it(`when three maintenance replicas run ${ROTATION_PERIODS} accelerated rotation periods, then exactly ${ROTATION_PERIODS} rotations happen, one per period`, async () => {
      // 2 s: short enough for 30 periods in a minute, long enough that a loaded machine never starts a
      // tick's job after the next tick (that would plan past it, as a day-late job would in production).
      const every = 2000;
      const env = testEnv({
        ...(await modeEnv()),
        BULLMQ_PREFIX: `${testInfra().bullmqPrefix}-replicas-${tlsMode}`,
        JWT_KEY_ROTATION_EVERY_MS: String(every),
        JWT_ALGORITHM: 'ES256',
      });
      if (tlsMode === 'on') await startChild('services/admin/main.ts', env);
      await Promise.all([1, 2, 3].map(() => startChild('workers/maintenance/main.ts', env)));
      await untilMidSlot(every);
      const from = { slot: Math.floor(Date.now() / every), rotations: await activeRotationCount(prisma), at: new Date() };
      // Whole periods from the middle of a slot end in the middle of a slot: exactly ROTATION_PERIODS ticks.
      await sleep(ROTATION_PERIODS * every);
      const to = { slot: Math.floor(Date.now() / every), rotations: await activeRotationCount(prisma) };
      const periods = to.slot - from.slot;
      const rotations = to.rotations - from.rotations;
      const activations = await prisma.jwtKey.findMany({ where: { activatedAt: { gt: from.at } }, select: { activatedAt: true } });
      const slots = activations.map((k) => Math.floor(k.activatedAt!.getTime() / every));
      process.stdout.write(`\n    maintenance replicas: 3, periods ${periods}, rotations ${rotations}, distinct rotation slots ${new Set(slots).size}\n`);
      assert.equal(periods, ROTATION_PERIODS, 'periods elapsed');
      assert.equal(rotations, periods, 'one rotation per period');
      assert.equal(new Set(slots).size, slots.length, 'never two rotations in one period');
    });

    it(`when keys rotate while ${RATE_PER_SECOND} requests/s hit authenticated endpoints on every module, then no genuine token is refused`, async () => {
      const env = testEnv({
        ...(await modeEnv()),
        BULLMQ_PREFIX: `${testInfra().bullmqPrefix}-load-${tlsMode}`,
        JWKS_CACHE_MAX_AGE_SECONDS: '2',
        JWKS_COOLDOWN_SECONDS: '1',
      });
      const admin = await startChild('services/admin/main.ts', env);
      const using = await clientFor(env);
      const modules = [
        admin,
        ...(await Promise.all(
          ['services/storage-element/main.ts', 'services/ingester/main.ts', 'services/query/main.ts'].map((entry) =>
            startChild(entry, { ...env, ADMIN_URL: admin.url }),
          ),
        )),
      ];
      await startChild('workers/maintenance/main.ts', { ...env, ADMIN_URL: admin.url, JWT_KEY_ROTATION_EVERY_MS: '5000' });
      const { service_account, client_secret } = await accountWithToken(admin.url, await adminToken(admin.url, using), 'reader', using);
      const rotationsBefore = await activeRotationCount(prisma);

      // Clients renew their token every second, so each rotation's new key is used at once.
      let token = await tokenFor(admin.url, service_account.client_id, client_secret, using);
      const renew = setInterval(() => {
        tokenFor(admin.url, service_account.client_id, client_secret, using).then(
          (t) => (token = t),
          () => {},
        );
      }, 1000);
      const agent =
        tlsMode === 'on'
          ? new https.Agent({ keepAlive: true, maxSockets: 64, ca: await readFile(env.TLS_CA_FILE!, 'utf8') })
          : new http.Agent({ keepAlive: true, maxSockets: 64 });
      const statuses = new Map<number | string, number>();
      const inFlight: Promise<void>[] = [];
      const startedAt = Date.now();
      let sent = 0;
      // Open loop: requests go out on the clock, whether or not earlier ones were answered.
      while (Date.now() - startedAt < LOAD_SECONDS * 1000) {
        const due = Math.floor(((Date.now() - startedAt) / 1000) * RATE_PER_SECOND) - sent;
        for (let i = 0; i < due; i++) {
          const target = modules[sent++ % modules.length]!;
          inFlight.push(
            keepAliveGet(agent, `${target.url}/api/v1/auth/whoami`, token).then((status) => void statuses.set(status, (statuses.get(status) ?? 0) + 1)),
          );
        }
        await sleep(5);
      }
      await Promise.all(inFlight);
      clearInterval(renew);
      agent.destroy();
      const rotations = (await activeRotationCount(prisma)) - rotationsBefore;
      const summary = [...statuses].map(([s, n]) => `${s}×${n}`).join(', ');
      process.stdout.write(
        `\n    rotation under load: ${sent} requests over ${LOAD_SECONDS} s across ${modules.length} modules, ${rotations} rotations, answers ${summary}\n`,
      );
      assert.ok(rotations >= Math.floor(LOAD_SECONDS / 5) - 1, `only ${rotations} rotations happened`);
      assert.equal(statuses.get(401) ?? 0, 0, 'wrongful 401s');
      assert.equal(statuses.get(200), sent, `every request answered 200 (${summary})`);
    });
  });
}
