import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { RunningService } from '../services/platform/runtime.ts';
import { metricValue, MODULES, startModules, stopAll, type ModuleName } from './support/modules.ts';
import { parseRaw, sendRaw } from './support/raw-http.ts';
import { waitFor } from './support/wait-for.ts';

describe('every module over HTTP', () => {
  let modules: Record<ModuleName, RunningService>;
  before(async () => {
    modules = await startModules({
      CORS_ALLOWED_ORIGINS: '["http://localhost:4200","http://localhost:3000"]',
      CORS_ALLOWED_ORIGINS_REGEX: 'https://[a-z0-9-]+\\.artstore\\.example\\.com',
      BODY_LIMIT: '2kb',
    });
  });
  after(() => stopAll(Object.values(modules ?? {})));

  for (const name of Object.keys(MODULES) as ModuleName[]) {
    describe(name, () => {
      const url = (path: string) => `${modules[name].url}${path}`;

      it('when /health is asked, then it answers 200 with the service name', async () => {
        const res = await fetch(url('/health'));
        assert.equal(res.status, 200);
        assert.deepEqual(await res.json(), { status: 'ok', service: name });
      });

      it('when Redis and PostgreSQL are reachable, then /ready answers 200', async () => {
        const res = await fetch(url('/ready'));
        assert.equal(res.status, 200);
        // Admin is ready only once it knows which clients other replicas have locked out.
        const own = name === 'admin' ? { 'login-throttle': 'ok' } : {};
        assert.deepEqual(((await res.json()) as { checks: unknown }).checks, { redis: 'ok', database: 'ok', ...own });
      });

      it('when an allowed origin sends a preflight, then its origin is echoed with Vary: Origin', async () => {
        const res = await fetch(url('/api/v1/auth/token'), {
          method: 'OPTIONS',
          headers: { Origin: 'http://localhost:4200', 'Access-Control-Request-Method': 'POST' },
        });
        assert.equal(res.status, 204);
        assert.equal(res.headers.get('access-control-allow-origin'), 'http://localhost:4200');
        assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
        assert.match(res.headers.get('vary') ?? '', /Origin/);
        assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST/);
        assert.equal(res.headers.get('access-control-max-age'), '600');
      });

      it('when an origin matches the regex, then it is allowed; a look-alike suffix is not', async () => {
        const ok = await fetch(url('/health'), { headers: { Origin: 'https://eu-1.artstore.example.com' } });
        assert.equal(ok.headers.get('access-control-allow-origin'), 'https://eu-1.artstore.example.com');
        const evil = await fetch(url('/health'), { headers: { Origin: 'https://eu-1.artstore.example.com.evil.io' } });
        assert.equal(evil.headers.get('access-control-allow-origin'), null);
      });

      it('when a disallowed origin sends a preflight, then no ACAO header is sent and it is counted', async () => {
        const before = metricValue(await (await fetch(url('/metrics'))).text(), 'cors_rejections_total', { service: name }) ?? 0;
        const res = await fetch(url('/api/v1/auth/token'), {
          method: 'OPTIONS',
          headers: { Origin: 'http://malicious-site.com', 'Access-Control-Request-Method': 'POST' },
        });
        assert.equal(res.status, 403);
        assert.equal(res.headers.get('access-control-allow-origin'), null);
        assert.match(res.headers.get('vary') ?? '', /Origin/);
        assert.deepEqual(await res.json(), { error: { code: 'cors_origin_denied', message: 'Origin is not allowed by the CORS policy' } });
        const after = metricValue(await (await fetch(url('/metrics'))).text(), 'cors_rejections_total', { service: name });
        assert.equal(after, before + 1);
      });

      it('when a route does not exist, then a JSON 404 answers', async () => {
        const res = await fetch(url('/no/such/route'));
        assert.equal(res.status, 404);
        assert.match(res.headers.get('content-type') ?? '', /application\/json/);
        const body = (await res.json()) as { error: { code: string } };
        assert.equal(body.error.code, 'not_found');
      });

      it('when the JSON body is malformed, then a JSON 400 answers without a stack trace', async () => {
        const res = await fetch(url('/anything'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"a":' });
        assert.equal(res.status, 400);
        const text = await res.text();
        assert.deepEqual(JSON.parse(text), { error: { code: 'invalid_json', message: 'Request body is not valid JSON' } });
        assert.ok(!/at .*\.ts:\d+/.test(text));
      });

      it('when the body is over the limit, then a JSON 413 answers', async () => {
        const res = await fetch(url('/anything'), {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ blob: 'x'.repeat(4096) }),
        });
        assert.equal(res.status, 413);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'payload_too_large');
      });

      it('when the headers are too large or the request is not HTTP, then a JSON 431 or 400 answers', async () => {
        const huge = parseRaw(await sendRaw(modules[name].port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`));
        assert.equal(huge.status, 431);
        assert.equal(huge.json.error.code, 'headers_too_large');
        const garbage = parseRaw(await sendRaw(modules[name].port, 'NOT HTTP AT ALL\r\n\r\n'));
        assert.equal(garbage.status, 400);
        assert.equal(garbage.json.error.code, 'malformed_request');
      });

      it('when a request id is sent, then it is returned; a malformed one is replaced', async () => {
        const kept = await fetch(url('/health'), { headers: { 'X-Request-Id': 'req-123.abc' } });
        assert.equal(kept.headers.get('x-request-id'), 'req-123.abc');
        const replaced = await fetch(url('/health'), { headers: { 'X-Request-Id': 'bad id\twith spaces' } });
        assert.match(replaced.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
      });

      it('when /metrics is scraped, then requests are counted by method, route and status', async () => {
        await fetch(url('/health'));
        const text = await (await fetch(url('/metrics'))).text();
        assert.ok((metricValue(text, 'http_requests_total', { method: 'GET', route: '/health', status: '200' }) ?? 0) >= 1);
        assert.ok(metricValue(text, 'http_request_duration_seconds_count', { route: '/health' }) !== undefined);
        assert.ok(metricValue(text, 'process_cpu_user_seconds_total') !== undefined, 'default metrics are exported');
        assert.ok((metricValue(text, 'http_requests_total', { route: 'unmatched', status: '404' }) ?? 0) >= 1, 'unknown paths share one label');
      });
    });
  }

  describe('a client that hangs up', () => {
    const count = async (labels: Record<string, string>, module: ModuleName = 'query') =>
      metricValue(await (await fetch(`${modules[module].url}/metrics`)).text(), 'http_requests_total', labels) ?? 0;
    const counts = async () => ({
      bodyNeverSent: await count({ method: 'POST', route: 'unmatched', status: '400' }),
      health: await count({ method: 'GET', route: '/health', status: '200' }),
      unmatched: await count({ method: 'GET', route: 'unmatched', status: '404' }),
    });
    /** Writes `bytes` on a new connection and closes it as soon as they are sent, reading nothing. */
    const writeAndHangUp = (bytes: string, module: ModuleName = 'query') =>
      new Promise<void>((resolve, reject) => {
        const socket = connect(modules[module].port, '127.0.0.1', () => socket.write(bytes, () => resolve(void socket.destroy())));
        socket.on('error', reject);
      });

    it('when it leaves before its body is sent, or before the answers it asked for are, then each request is still logged and counted with the answer it got', async () => {
      const head = (method: string, path: string, extra = '') => `${method} ${path} HTTP/1.1\r\nHost: x\r\n${extra}`;
      const before = await counts();
      // A body promised and never sent: the server answers the cut-off request 400.
      await writeAndHangUp(`${head('POST', '/anything', 'Content-Type: application/json\r\nContent-Length: 100\r\n')}\r\n{"a":`);
      // A read with another pipelined behind it: the second answer is queued when the connection goes.
      await writeAndHangUp(`${head('GET', '/health')}\r\n${head('GET', '/no/such/route')}\r\n`);
      const after = await waitFor(counts, {
        until: (now) => now.bodyNeverSent > before.bodyNeverSent && now.unmatched > before.unmatched,
        message: 'both hung-up requests counted',
      });
      assert.deepEqual(after, { bodyNeverSent: before.bodyNeverSent + 1, health: before.health + 1, unmatched: before.unmatched + 1 });
    });

    it('when a client sends wrong credentials and hangs up before the answer, then the request is counted with its 401, not as aborted', async () => {
      const labels = (status: string) => ({ method: 'POST', route: '/api/v1/auth/token', status });
      const before = { refused: await count(labels('401'), 'admin'), aborted: await count(labels('aborted'), 'admin') };
      const body = JSON.stringify({ client_id: 'hang-up-prober', client_secret: 'not-the-secret' });
      await writeAndHangUp(
        `POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        'admin',
      );
      const after = await waitFor(async () => ({ refused: await count(labels('401'), 'admin'), aborted: await count(labels('aborted'), 'admin') }), {
        until: (now) => now.refused > before.refused || now.aborted > before.aborted,
        message: 'the probe counted',
      });
      assert.deepEqual(after, { refused: before.refused + 1, aborted: before.aborted });
    });
  });
});
