import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { ChildService } from '../support/child-service.ts';
import { foreignAuthority } from '../support/client-certificates.ts';
import { parseRaw, sendRawTls } from '../support/raw-http.ts';
import type { UrlFetch } from '../support/tokens.ts';
import { seededRandom } from './attacks.ts';
import {
  brokenHandshakes,
  captureClientHello,
  halfOpenHandshakes,
  keyUpdateFlood,
  looksLikeHttp,
  renegotiateThenRequest,
  requestOverTls,
  sendBytes,
} from './tls-attacks.ts';

/** What the TLS port attacks need of the hostile suite's deployment. */
export interface TlsPortTarget {
  processes: Record<string, ChildService>;
  /** The trust bundle file the processes started from. */
  caFile: string;
  /** fetch trusting that bundle. */
  client: { fetch: UrlFetch };
  /** An ingester certificate from admin: what the storage element's blobs let through. */
  peer: { cert: string; key: string };
  metricsOf(proc: ChildService): Promise<string>;
}

const SEED = Number(process.env.HOSTILE_SEED ?? 20261128);
/** Half-open handshakes held against each process while it must still answer others. */
const HALF_OPEN = 200;
const HALF_OPEN_ANSWER_MS = 3000;
const FOREIGN_HANDSHAKES = 20;
const KEY_UPDATES = 300;
const BLOB_PATH = `/api/v1/blobs/${'0'.repeat(64)}`;

const portOf = (proc: ChildService) => Number(new URL(proc.url).port);

/** Every handshake failure a listener counted, by reason. */
function handshakeFailures(exposition: string): Map<string, number> {
  const byReason = new Map<string, number>();
  for (const line of exposition.split('\n')) {
    if (!line.startsWith('tls_handshake_failures_total{')) continue;
    const reason = /reason="([^"]*)"/.exec(line)?.[1] ?? '';
    byReason.set(reason, Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return byReason;
}
const total = (counts: Map<string, number>) => [...counts.values()].reduce((a, b) => a + b, 0);

/**
 * The TLS ports themselves under attack, on the hostile suite's processes with TLS on: bytes that
 * are no handshake, handshakes held half-open, certificates of another CA, renegotiation, TLS 1.2
 * and KeyUpdate floods. Each process must drop what it must drop, never answer HTTP before a
 * handshake, keep its pid and go on serving.
 */
export function describeTlsPortAttacks(target: () => TlsPortTarget): void {
  const healthOf = async (proc: ChildService) => {
    const started = performance.now();
    const status = await target()
      .client.fetch(`${proc.url}/health`, { signal: AbortSignal.timeout(10_000) })
      .then(
        (r) => r.status,
        () => 0,
      );
    return { status, ms: performance.now() - started };
  };
  const stillServing = async () => {
    const { processes } = target();
    const down: string[] = [];
    for (const [name, proc] of Object.entries(processes)) {
      const alive = (() => {
        try {
          process.kill(proc.pid, 0);
          return true;
        } catch {
          return false;
        }
      })();
      const { status } = await healthOf(proc);
      if (!alive || status !== 200) down.push(`${name} (pid ${proc.pid} ${alive ? 'alive' : 'gone'}, /health ${status})`);
    }
    return down;
  };

  it('when broken handshakes, plaintext HTTP and half-open handshakes reach every TLS port, then none gets an HTTP answer, each is counted, and every process keeps serving', async () => {
    const { processes, caFile, metricsOf } = target();
    const hello = await captureClientHello();
    const random = seededRandom(SEED);
    const before = new Map(await Promise.all(Object.entries(processes).map(async ([name, proc]) => [name, handshakeFailures(await metricsOf(proc))] as const)));
    const problems: string[] = [];
    let sent = 0;
    let kinds = 0;
    for (const [name, proc] of Object.entries(processes)) {
      const attacks = Object.entries(brokenHandshakes(hello, random));
      kinds = attacks.length;
      await Promise.all(
        attacks.map(async ([kind, bytes]) => {
          const answer = await sendBytes(portOf(proc), bytes);
          sent++;
          if (looksLikeHttp(answer.received)) problems.push(`${name}, ${kind}: answered HTTP`);
          if (!answer.closed) problems.push(`${name}, ${kind}: connection still open after 5 s`);
        }),
      );
    }
    // Half-open handshakes hold sockets; everyone else must still be answered promptly.
    const slow: string[] = [];
    for (const [name, proc] of Object.entries(processes)) {
      const held = await halfOpenHandshakes(portOf(proc), hello, HALF_OPEN);
      try {
        const { status, ms } = await healthOf(proc);
        if (status !== 200 || ms > HALF_OPEN_ANSWER_MS) slow.push(`${name}: /health ${status} in ${ms.toFixed(0)} ms`);
      } finally {
        held.close();
      }
    }
    // Malformed HTTP inside an established TLS connection gets the same JSON 400 as over plain HTTP.
    const ca = await readFile(caFile, 'utf8');
    const rawAnswers: string[] = [];
    for (const [name, proc] of Object.entries(processes)) {
      const answer = parseRaw(await sendRawTls(portOf(proc), ca, 'NOT HTTP AT ALL\r\n\r\n'));
      rawAnswers.push(`${name} ${answer.status} ${answer.json.error.code}`);
    }
    const counted = await Promise.all(
      Object.entries(processes).map(async ([name, proc]) => {
        const after = handshakeFailures(await metricsOf(proc));
        const reasons = [...after].flatMap(([reason, n]) =>
          n > (before.get(name)!.get(reason) ?? 0) ? [`${reason} +${n - (before.get(name)!.get(reason) ?? 0)}`] : [],
        );
        return { name, delta: total(after) - total(before.get(name)!), reasons };
      }),
    );
    const down = await stillServing();
    process.stdout.write(
      `\n    TLS ports: ${sent} broken handshakes sent (${kinds} kinds × ${Object.keys(processes).length} processes), ` +
        `${problems.length} answered wrongly; ${HALF_OPEN} half-open handshakes held against each process, ${slow.length} slow to answer others; ` +
        `malformed HTTP over TLS: ${rawAnswers.join(', ')}; ${down.length} processes down\n` +
        counted.map(({ name, delta, reasons }) => `      ${name}: tls_handshake_failures_total +${delta} (${reasons.join(', ')})`).join('\n') +
        '\n',
    );
    assert.deepEqual(problems, []);
    assert.deepEqual(slow, []);
    for (const line of rawAnswers) assert.match(line, / 400 \w+$/, line);
    for (const { name, delta } of counted) assert.ok(delta > 0, `${name} counted no handshake failure`);
    assert.deepEqual(down, []);
  });

  it('when clients present certificates of another CA with this CA names, then each handshake is cut before any HTTP answer, and a module certificate still gets through', async () => {
    const { processes, caFile, peer } = target();
    const ca = await readFile(caFile, 'utf8');
    const foreign = await foreignAuthority();
    const posing = await Promise.all(['ingester', 'query', 'admin'].map((service) => foreign.identity(service)));
    const answered: string[] = [];
    let cut = 0;
    for (const [name, proc] of Object.entries(processes)) {
      const outcomes = await Promise.all(
        Array.from({ length: FOREIGN_HANDSHAKES }, (_, i) => requestOverTls(portOf(proc), ca, BLOB_PATH, posing[i % posing.length])),
      );
      for (const outcome of outcomes) {
        if (outcome.statusLine) answered.push(`${name}: ${outcome.statusLine}`);
        else cut++;
      }
    }
    const genuine = await requestOverTls(portOf(processes['storage-element']!), ca, BLOB_PATH, peer);
    const down = await stillServing();
    process.stdout.write(
      `\n    foreign CA: ${cut} handshakes cut, ${answered.length} answered; the ingester's own certificate then: ${genuine.statusLine ?? genuine.error}; ${down.length} processes down\n`,
    );
    assert.deepEqual(answered, []);
    // Past the certificate check, the blob route wants its bearer token.
    assert.equal(genuine.statusLine, 'HTTP/1.1 401 Unauthorized');
    assert.deepEqual(down, []);
  });

  it(`when clients ask to renegotiate, offer only TLS 1.2, or send ${KEY_UPDATES} KeyUpdates on one connection, then renegotiation is refused, TLS 1.2 never connects, and the flooded connection is still answered`, async () => {
    const { processes, caFile } = target();
    const ca = await readFile(caFile, 'utf8');
    const lines: string[] = [];
    for (const [name, proc] of Object.entries(processes)) {
      const renegotiated = await renegotiateThenRequest(portOf(proc), ca);
      const old = await requestOverTls(portOf(proc), ca, '/health', { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
      const flood = await keyUpdateFlood(portOf(proc), caFile, KEY_UPDATES);
      lines.push(
        `${name}: renegotiation ${renegotiated.renegotiation} then ${renegotiated.statusLine}; TLS 1.2 ${old.statusLine ?? old.error}; ` +
          `${flood.keyUpdates} KeyUpdates then ${flood.statusLine}`,
      );
      assert.match(renegotiated.renegotiation, /^refused/, name);
      assert.equal(renegotiated.statusLine, 'HTTP/1.1 200 OK', `${name}: the connection after the renegotiation attempt`);
      assert.equal(old.statusLine, undefined, `${name}: TLS 1.2 answered`);
      assert.equal(flood.keyUpdates, KEY_UPDATES, `${name}: KeyUpdates sent`);
      assert.equal(flood.statusLine, 'HTTP/1.1 200 OK', `${name}: the connection after the KeyUpdate flood`);
    }
    const down = await stillServing();
    process.stdout.write(`\n    renegotiation, TLS 1.2, KeyUpdate flood:\n${lines.map((line) => `      ${line}`).join('\n')}\n`);
    assert.deepEqual(down, []);
  });
}
