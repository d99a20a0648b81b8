/**
 * Identity figures: tokens issued per second by the real admin process (RS256, client credentials
 * checked against PostgreSQL), next to raw RS256 signatures per second in this process; and an
 * authenticated endpoint's requests/s divided by the same endpoint's without authentication.
 */
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { testEnv, TEST_SECRETS } from '../test/support/infra.ts';
import { accountWithToken, adminToken } from '../test/support/tokens.ts';
import { startChildService, type ChildService } from '../test/support/child-service.ts';
import { describeStatuses, runLoad, type LoadResult } from './support/http-load.ts';
import type { Benchmark, Figure } from './report.ts';

const CONCURRENCY = 32;
const TOKEN_SECONDS = 8;
const ROUND_SECONDS = 3;
const ROUNDS = 3;

async function rawSignaturesPerSecond(durationMs: number): Promise<number> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const deadline = performance.now() + durationMs;
  let signed = 0;
  const started = performance.now();
  const loop = async () => {
    while (performance.now() < deadline) {
      await new SignJWT({ role: 'reader' }).setProtectedHeader({ alg: 'RS256', kid: 'bench' }).setIssuedAt().setExpirationTime('30m').sign(privateKey);
      signed++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  return signed / ((performance.now() - started) / 1000);
}

function okCount(result: LoadResult, what: string): number {
  const ok = result.statuses[200] ?? 0;
  if (ok !== result.requests) throw new Error(`${what}: not every answer was 200 (${describeStatuses(result.statuses)})`);
  return ok;
}

const benchmark: Benchmark = {
  title: 'Identity: tokens issued and the cost of authentication',
  async run(): Promise<Figure[]> {
    // Access logs on, as in production; the child's stdout is discarded.
    const env = { ...testEnv({ LOG_LEVEL: 'info', JWT_ALGORITHM: 'RS256' }) };
    const started: ChildService[] = [];
    try {
      const admin = await startChildService('services/admin/main.ts', env, { compiled: true });
      started.push(admin);
      const target = await startChildService('bench/support/auth-target.ts', { ...env, ADMIN_URL: admin.url });
      started.push(target);

      const rawSigns = await rawSignaturesPerSecond(3000);
      const credentials = JSON.stringify({
        client_id: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID,
        client_secret: TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET,
      });
      const tokenRequest = () => ({
        method: 'POST',
        path: '/api/v1/auth/token',
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(credentials) },
        body: credentials,
      });
      await runLoad(admin.url, tokenRequest, { concurrency: CONCURRENCY, durationMs: 1000 });
      const tokens = await runLoad(admin.url, tokenRequest, { concurrency: CONCURRENCY, durationMs: TOKEN_SECONDS * 1000 });
      okCount(tokens, 'token endpoint');

      const { token } = await accountWithToken(admin.url, await adminToken(admin.url), 'reader');
      const plain = () => ({ path: '/bench/plain' });
      const authenticated = () => ({ path: '/bench/authenticated', headers: { Authorization: `Bearer ${token}` } });
      await runLoad(target.url, plain, { concurrency: CONCURRENCY, durationMs: 1000 });
      await runLoad(target.url, authenticated, { concurrency: CONCURRENCY, durationMs: 1000 });
      // Alternating rounds so drift on a shared machine hits both sides alike.
      let plainRequests = 0;
      let authenticatedRequests = 0;
      for (let round = 0; round < ROUNDS; round++) {
        plainRequests += okCount(await runLoad(target.url, plain, { concurrency: CONCURRENCY, durationMs: ROUND_SECONDS * 1000 }), 'plain');
        authenticatedRequests += okCount(
          await runLoad(target.url, authenticated, { concurrency: CONCURRENCY, durationMs: ROUND_SECONDS * 1000 }),
          'authenticated',
        );
      }
      const seconds = ROUNDS * ROUND_SECONDS;
      const plainRate = plainRequests / seconds;
      const authenticatedRate = authenticatedRequests / seconds;
      return [
        {
          name: 'tokens issued (RS256, POST /api/v1/auth/token)',
          value: tokens.perSecond,
          unit: 'tokens/s',
          baseline: { name: 'raw RS256 signatures in-process', value: rawSigns, unit: 'signatures/s' },
          target: '≥ 2000 tokens/s',
          met: tokens.perSecond >= 2000,
        },
        {
          name: 'authenticated endpoint',
          value: authenticatedRate,
          unit: 'req/s',
          baseline: { name: 'same endpoint without authentication', value: plainRate, unit: 'req/s' },
          target: '≥ 0.8 of baseline',
          met: authenticatedRate / plainRate >= 0.8,
        },
      ];
    } finally {
      await Promise.all(started.map((service) => service.stop()));
    }
  },
};
export default benchmark;
