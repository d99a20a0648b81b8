import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunningService } from '../services/platform/runtime.ts';
import { answerOf } from './support/answers.ts';
import { auditJobs } from './support/audit-jobs.ts';
import { isolatedPrefix, testConfig } from './support/infra.ts';
import { metricValue, MODULES } from './support/modules.ts';
import { accountWithToken, adminToken } from './support/tokens.ts';

/** Small limits so a test sees every one of them in seconds. */
const LIMITS = {
  lockAfterFailures: 3,
  lockSeconds: 1,
  maxLockSeconds: 8,
  maxFailuresPerAddress: 40,
  windowSeconds: 60,
};
const FLOOD_GUESSES = 10_000;
const FLOOD_CONCURRENCY = 32;

/** One token request written to an open socket at once (no client library between), answered as "<status> <error>" or "<status>". */
function rawTokenRequest(socket: net.Socket, host: string, address: string, clientId: string, clientSecret: string): Promise<string> {
  const body = JSON.stringify({ client_id: clientId, client_secret: clientSecret });
  const answered = new Promise<string>((resolve) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => {
      const status = /^HTTP\/1\.1 (\d{3})/.exec(text)?.[1];
      const error = /"error":"([a-z_]+)"/.exec(text)?.[1];
      resolve(error ? `${status} ${error}` : String(status));
    });
  });
  // Connection: close: the server ends the socket after its answer.
  socket.write(
    `POST /api/v1/auth/token HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nX-Forwarded-For: ${address}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  return answered;
}

describe('brute force against client credentials', function () {
  this.timeout(20_000);
  let admin: RunningService;
  let jobs: ReturnType<typeof auditJobs>;
  let reader: { clientId: string; secret: string };
  const metricsToken = randomBytes(16).toString('hex');

  /** One token request as if from `address` (TRUST_PROXY lets X-Forwarded-For name the client address). */
  const attempt = (address: string, clientId: string, clientSecret: string) =>
    fetch(`${admin.url}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': address },
      body: JSON.stringify({ client_id: clientId, client_secret: clientSecret }),
    });
  const wrong = (address: string) => attempt(address, reader.clientId, `wrong-${randomBytes(4).toString('hex')}`);
  const right = (address: string) => attempt(address, reader.clientId, reader.secret);
  /** Guesses until the pair is locked: `lockAfterFailures` plain refusals, then the 429 whose Retry-After is returned. */
  const guessUntilLocked = async (address: string): Promise<number> => {
    for (let n = 1; n <= LIMITS.lockAfterFailures; n++) assert.equal(await answerOf(await wrong(address)), '401 invalid_client', `failure ${n} of ${address}`);
    const locked = await wrong(address);
    assert.equal(await answerOf(locked), '429 temporarily_unavailable');
    return Number(locked.headers.get('retry-after'));
  };
  const throttledTotal = async () => {
    const text = await (await fetch(`${admin.url}/metrics`, { headers: { Authorization: `Bearer ${metricsToken}` } })).text();
    return (metricValue(text, 'auth_throttled_total', { reason: 'address' }) ?? 0) + (metricValue(text, 'auth_throttled_total', { reason: 'client' }) ?? 0);
  };

  before(async function () {
    this.timeout(60_000);
    const prefix = isolatedPrefix('brute-force');
    admin = await MODULES.admin(
      testConfig('admin', {
        BULLMQ_PREFIX: prefix,
        TRUST_PROXY: 'true',
        METRICS_TOKEN: metricsToken,
        AUTH_LOCK_AFTER_FAILURES: String(LIMITS.lockAfterFailures),
        AUTH_LOCK_SECONDS: String(LIMITS.lockSeconds),
        AUTH_LOCK_MAX_SECONDS: String(LIMITS.maxLockSeconds),
        AUTH_MAX_FAILURES_PER_ADDRESS: String(LIMITS.maxFailuresPerAddress),
        AUTH_THROTTLE_WINDOW_SECONDS: String(LIMITS.windowSeconds),
      }),
    );
    jobs = auditJobs(prefix);
    const account = await accountWithToken(admin.url, await adminToken(admin.url), 'reader');
    reader = { clientId: account.service_account.client_id, secret: account.client_secret };
  });
  after(async () => {
    await jobs?.close();
    await admin?.stop();
  });

  it('when one client id is guessed from one address, then the guess after the allowed failures is 429 with Retry-After, the right secret is refused there too, and another address still gets tokens', async () => {
    const attacker = '198.51.100.10';
    assert.equal(await guessUntilLocked(attacker), LIMITS.lockSeconds);
    const locked = await right(attacker);
    assert.equal(await answerOf(locked), '429 temporarily_unavailable', 'a lock answers the same whatever the secret, so it cannot be used to test guesses');
    assert.equal(locked.headers.get('retry-after'), String(LIMITS.lockSeconds));
    assert.equal(await answerOf(await right('198.51.100.11')), '200', 'the client itself, elsewhere, is not locked out');
  });

  it('when the guessing goes on after a lock, then the next lock is twice as long', async () => {
    const attacker = '198.51.100.20';
    const first = await guessUntilLocked(attacker);
    await sleep(first * 1000 + 100);
    assert.equal(await guessUntilLocked(attacker), 2 * first);
  });

  it('when each guess comes from a new IPv6 address of one /64, then they count as one address: the pair locks, and the next /64 still gets tokens', async () => {
    // One host's /64: 2001:db8:66:1::/64, every address different in its last 64 bits.
    const hostAddress = (n: number) => `2001:db8:66:1:${n.toString(16)}:0:0:${n.toString(16)}`;
    for (let n = 1; n <= LIMITS.lockAfterFailures; n++) assert.equal(await answerOf(await wrong(hostAddress(n))), '401 invalid_client', `failure ${n}`);
    assert.equal(await answerOf(await wrong(hostAddress(999))), '429 temporarily_unavailable', 'the failure after the allowed ones locks the pair');
    assert.equal(await answerOf(await right(hostAddress(1000))), '429 temporarily_unavailable', 'a new address of the same /64 is the same host');
    assert.equal(await answerOf(await right('2001:db8:66:2::1')), '200', 'the next /64 is another host');
  });

  it('when the right secret arrives after a lock has run out, then counting starts again from the first lock, whether or not a failure came between', async () => {
    // Two histories that differ only in one failure just before the success.
    const relock = async (address: string, failureFirst: boolean) => {
      const first = await guessUntilLocked(address);
      await sleep(first * 1000 + 100);
      if (failureFirst) assert.equal(await answerOf(await wrong(address)), '401 invalid_client');
      assert.equal(await answerOf(await right(address)), '200');
      return guessUntilLocked(address);
    };
    const [straight, afterAFailure] = await Promise.all([relock('198.51.100.40', false), relock('198.51.100.41', true)]);
    assert.deepEqual({ straight, afterAFailure }, { straight: LIMITS.lockSeconds, afterAFailure: LIMITS.lockSeconds });
  });

  it('when a burst of guesses for one client arrives at once from a new address, the right secret last, then only the allowed failures are tested (401) and every other guess, the right one too, is 429', async () => {
    const attacker = '198.51.100.50';
    const guesses = [...Array.from({ length: 19 }, () => `wrong-${randomBytes(4).toString('hex')}`), reader.secret];
    // The connections are opened first, then every guess is written in one go: all arrive before any is answered.
    const target = new URL(admin.url);
    const sockets = await Promise.all(
      guesses.map(
        () =>
          new Promise<net.Socket>((resolve, reject) => {
            const socket = net.connect(Number(target.port), target.hostname, () => resolve(socket));
            socket.once('error', reject);
          }),
      ),
    );
    const answers = await Promise.all(guesses.map((secret, i) => rawTokenRequest(sockets[i]!, target.host, attacker, reader.clientId, secret)));
    assert.deepEqual(answers, [
      ...Array(LIMITS.lockAfterFailures).fill('401 invalid_client'),
      ...Array(guesses.length - LIMITS.lockAfterFailures).fill('429 temporarily_unavailable'),
    ]);
  });

  it(`when ${FLOOD_GUESSES} guesses flood in from one address, then all but the first few are 429, the audit log grows no faster than the limits allow, and auth_throttled_total counts each refusal`, async function () {
    this.timeout(90_000);
    const flooder = '203.0.113.66';
    const throttledBefore = await throttledTotal();
    const statuses = new Map<number, number>();
    let retryAfterMissing = 0;
    // node:http with keep-alive rather than fetch: the guesses share this process with the server.
    const agent = new http.Agent({ keepAlive: true, maxSockets: FLOOD_CONCURRENCY });
    const target = new URL(`${admin.url}/api/v1/auth/token`);
    const guess = (clientId: string, clientSecret: string) =>
      new Promise<void>((resolve, reject) => {
        const body = JSON.stringify({ client_id: clientId, client_secret: clientSecret });
        const headers = { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), 'X-Forwarded-For': flooder };
        const req = http.request({ agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers }, (res) => {
          statuses.set(res.statusCode!, (statuses.get(res.statusCode!) ?? 0) + 1);
          if (res.statusCode === 429 && !res.headers['retry-after']) retryAfterMissing++;
          res.resume().on('end', resolve).on('error', reject);
        });
        req.on('error', reject).end(body);
      });
    const startedAt = Date.now();
    let next = 0;
    try {
      await Promise.all(
        Array.from({ length: FLOOD_CONCURRENCY }, async () => {
          while (next < FLOOD_GUESSES) {
            const n = next++;
            // Sprayed over made-up client ids (each fails once, so no pair lock hides the address limit), now and then the real one.
            await guess(n % 10 === 0 ? reader.clientId : `guess-${n % 997}`, `secret-${n}`);
          }
        }),
      );
    } finally {
      agent.destroy();
    }
    const endedAt = Date.now();
    assert.ok(endedAt - startedAt < LIMITS.windowSeconds * 1000, 'the flood fits in one window of the per-address count (else the bound below is wrong)');

    // The documented bound: at most maxFailuresPerAddress failures (auth_failure) in the one window
    // of the per-address count, and one auth_throttled per limit, key and (clock-aligned) window: the
    // address, plus each (client id, address) pair that failures locked.
    const eventWindows = Math.floor(endedAt / 1000 / LIMITS.windowSeconds) - Math.floor(startedAt / 1000 / LIMITS.windowSeconds) + 1;
    const maxFailures = LIMITS.maxFailuresPerAddress;
    const maxThrottledEvents = eventWindows * (1 + Math.ceil(maxFailures / (LIMITS.lockAfterFailures + 1)));

    // Stored by a writer or still queued: no writer runs on this prefix, but either counts.
    const fromFlooder = (await jobs.events()).filter((e) => e.ip_address === flooder);
    const storedRows = await admin.deps.prisma.$queryRaw<{ event_type: string; n: number }[]>`
      SELECT event_type, count(*)::int AS n FROM audit_logs WHERE ip_address = ${flooder} GROUP BY event_type`;
    const count = (type: string) => fromFlooder.filter((e) => e.event_type === type).length + (storedRows.find((r) => r.event_type === type)?.n ?? 0);
    const [failures, throttledEvents] = [count('auth_failure'), count('auth_throttled')];
    assert.deepEqual([...new Set([...fromFlooder.map((e) => e.event_type), ...storedRows.map((r) => r.event_type)])].sort(), [
      'auth_failure',
      'auth_throttled',
    ]);
    assert.ok(failures <= maxFailures, `${failures} auth_failure events; the bound is ${maxFailures}`);
    assert.ok(throttledEvents >= 1 && throttledEvents <= maxThrottledEvents, `${throttledEvents} auth_throttled events; the bound is ${maxThrottledEvents}`);
    const [firstAddressEvent, ...later] = fromFlooder
      .filter((e) => e.event_type === 'auth_throttled' && e.details?.limit === 'address')
      .sort((a, b) => a.timestamp.localeCompare(b.timestamp));
    assert.equal(firstAddressEvent?.details?.throttled_in_previous_window, 0, 'the first window of a flood had nothing throttled before it');
    assert.ok(later.length < eventWindows, `${later.length + 1} address events in ${eventWindows} window(s)`);

    assert.equal(statuses.get(200) ?? 0, 0, 'no guess was right');
    assert.equal(statuses.get(401), failures, 'each refused guess left one auth_failure event');
    assert.ok((statuses.get(429) ?? 0) >= FLOOD_GUESSES - maxFailures, JSON.stringify(Object.fromEntries(statuses)));
    assert.deepEqual([...statuses.keys()].sort(), [401, 429]);
    assert.equal(retryAfterMissing, 0, 'every 429 says when to come back');
    assert.equal((await throttledTotal()) - throttledBefore, statuses.get(429));

    assert.equal(await answerOf(await right(flooder)), '429 temporarily_unavailable', 'the flooding address gets nothing, even with the right secret');
    assert.equal(await answerOf(await right('198.51.100.30')), '200', 'the client elsewhere still gets tokens');
  });
});

describe('brute force against a dual-stack listener', function () {
  this.timeout(20_000);
  let admin: RunningService;
  let reader: { clientId: string; secret: string };

  /** A token request from the loopback address `from`, straight to the listener: it sees `::ffff:<from>`. */
  const attemptFrom = (from: string, clientSecret: string) =>
    new Promise<string>((resolve, reject) => {
      const body = JSON.stringify({ client_id: reader.clientId, client_secret: clientSecret });
      const req = http.request(
        {
          host: '127.0.0.1',
          port: admin.port,
          path: '/api/v1/auth/token',
          method: 'POST',
          localAddress: from,
          headers: { 'Content-Type': 'application/json' },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
          res.on('end', () => {
            const error = /"error":"([a-z_]+)"/.exec(text)?.[1];
            resolve(error ? `${res.statusCode} ${error}` : String(res.statusCode));
          });
        },
      );
      req.on('error', reject).end(body);
    });

  before(async function () {
    this.timeout(60_000);
    // Listening on '::' takes IPv4 too, and names an IPv4 client IPv4-mapped (::ffff:127.0.0.2).
    admin = await MODULES.admin(
      testConfig('admin', {
        HOST: '::',
        BULLMQ_PREFIX: isolatedPrefix('brute-force-dual-stack'),
        AUTH_LOCK_AFTER_FAILURES: String(LIMITS.lockAfterFailures),
        AUTH_LOCK_SECONDS: '30',
      }),
    );
    const account = await accountWithToken(admin.url, await adminToken(admin.url), 'reader');
    reader = { clientId: account.service_account.client_id, secret: account.client_secret };
  });
  after(() => admin?.stop());

  it('when an IPv4 client reaches it (IPv4-mapped) and guesses until locked, then it alone is locked, not every IPv4 client', async () => {
    for (let n = 1; n <= LIMITS.lockAfterFailures; n++) assert.equal(await attemptFrom('127.0.0.2', `wrong-${n}`), '401 invalid_client', `failure ${n}`);
    assert.equal(await attemptFrom('127.0.0.2', 'wrong-again'), '429 temporarily_unavailable', 'the guesser is locked');
    assert.equal(await attemptFrom('127.0.0.3', reader.secret), '200', 'its IPv4 neighbour is another client');
  });
});
