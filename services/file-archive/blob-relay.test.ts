import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { collector } from '../../test/support/collector.ts';
import { RelayError, requestForRelay } from './blob-relay.ts';

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('blob relay (downloads without per-chunk copies)', () => {
  let server: http.Server;
  let base: URL;
  let handler: (req: http.IncomingMessage, res: http.ServerResponse) => void;

  before(async () => {
    server = http.createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  it('when an element sends 24 MiB to a slow destination, then every byte arrives in order with the request headers passed on', async () => {
    const content = randomBytes(24 * 2 ** 20);
    let authorization: string | undefined;
    handler = (req, res) => {
      authorization = req.headers.authorization;
      res.writeHead(200, { 'Content-Length': content.length });
      res.end(content);
    };
    const answer = await requestForRelay(new URL('/api/v1/blobs/x', base), { Authorization: 'Bearer t0ken' });
    assert.equal(answer.status, 200);
    assert.equal(answer.length, content.length);
    const sink = collector(1);
    await answer.relayTo(sink.stream);
    assert.equal(authorization, 'Bearer t0ken');
    assert.ok(sink.stream.writableFinished, 'the destination is ended');
    assert.equal(sha(sink.received()), sha(content));
  });

  it('when the element answers 206 or 404, then the status and length are those of its answer', async () => {
    handler = (req, res) => {
      if (req.headers.range === 'bytes=2-5') {
        res.writeHead(206, { 'Content-Length': 4, 'Content-Range': 'bytes 2-5/10' });
        res.end('cdef');
      } else {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end('{"error":{"code":"not_found"}}');
      }
    };
    const partial = await requestForRelay(new URL('/b', base), { Range: 'bytes=2-5' });
    assert.equal(partial.status, 206);
    const sink = collector();
    await partial.relayTo(sink.stream);
    assert.equal(sink.received().toString(), 'cdef');

    const missing = await requestForRelay(new URL('/b', base), {});
    assert.equal(missing.status, 404);
    missing.discard();
  });

  it('when the element drops the connection mid-body, then the relay fails and the destination is destroyed, never ended', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Length': 4 * 2 ** 20 });
      res.write(randomBytes(2 ** 20), () => res.destroy());
    };
    const answer = await requestForRelay(new URL('/b', base), {});
    const sink = collector();
    await assert.rejects(answer.relayTo(sink.stream), /closed the connection before the whole answer/);
    assert.ok(sink.stream.destroyed);
    assert.equal(sink.stream.writableFinished, false);
    assert.ok(sink.received().length < 4 * 2 ** 20);
  });

  it('when the destination goes away mid-body, then the relay fails and the connection to the element is closed', async () => {
    let elementSawClose: Promise<boolean> = Promise.resolve(false);
    handler = (_req, res) => {
      elementSawClose = new Promise((resolve) => res.on('close', () => resolve(!res.writableFinished)));
      res.writeHead(200, { 'Content-Length': 64 * 2 ** 20 });
      const more = () => {
        while (!res.destroyed && res.write(randomBytes(2 ** 20)));
        if (!res.destroyed) res.once('drain', more);
      };
      more();
    };
    const answer = await requestForRelay(new URL('/b', base), {});
    const sink = collector(1);
    const relaying = answer.relayTo(sink.stream);
    setTimeout(() => sink.stream.destroy(), 20);
    await assert.rejects(relaying);
    assert.equal(await elementSawClose, true, 'the element saw its answer cut off');
  });

  it('when an answer has no Content-Length or sends more than it, then it is refused', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'Transfer-Encoding': 'chunked' });
      res.end('abc');
    };
    await assert.rejects(requestForRelay(new URL('/b', base), {}), RelayError);

    handler = (req, res) => {
      // A raw answer that lies about its length.
      req.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabcdef');
      res.destroy();
    };
    await assert.rejects(requestForRelay(new URL('/b', base), {}), /more than its Content-Length/);
  });

  it('when a header value holds a line break, then nothing is sent', async () => {
    let requests = 0;
    handler = (_req, res) => {
      requests++;
      res.end();
    };
    await assert.rejects(requestForRelay(new URL('/b', base), { Authorization: 'Bearer x\r\nX-Injected: 1' }), RelayError);
    assert.equal(requests, 0);
  });

  it('when nothing listens, then the open fails', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await assert.rejects(requestForRelay(new URL(`http://127.0.0.1:${port}/b`), {}), /ECONNREFUSED/);
  });

  it('when the destination is slow, then the relay holds a few buffers, not the file', async () => {
    const content = randomBytes(64 * 2 ** 20);
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Length': content.length });
      res.end(content);
    };
    const answer = await requestForRelay(new URL('/b', base), {});
    const baseline = process.memoryUsage().arrayBuffers;
    let peak = 0;
    const hash = createHash('sha256');
    // Hashes instead of keeping chunks, so what stays allocated is the relay's own.
    const slow = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        peak = Math.max(peak, process.memoryUsage().arrayBuffers - baseline);
        setTimeout(done, 1);
      },
    });
    await answer.relayTo(slow);
    assert.equal(hash.digest('hex'), sha(content));
    assert.ok(peak < 6 * 2 ** 20, `the relay held ${(peak / 2 ** 20).toFixed(1)} MiB while relaying 64 MiB`);
  });

  it('when the element sends an interim 103 before its answer, then the answer is relayed', async () => {
    handler = (_req, res) => {
      res.writeEarlyHints({ link: '</x>; rel=preload' });
      res.writeHead(200, { 'Content-Length': 5 });
      res.end('hello');
    };
    const answer = await requestForRelay(new URL('/b', base), {});
    assert.equal(answer.status, 200);
    const sink = collector();
    await answer.relayTo(sink.stream);
    assert.equal(sink.received().toString(), 'hello');
  });

  it('when the element failed before the body was taken, then relayTo fails at once and destroys the destination', async () => {
    let cut!: () => void;
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Length': 1000 });
      res.write('partial');
      cut = () => res.destroy();
    };
    const answer = await requestForRelay(new URL('/b', base), {});
    cut();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const sink = collector();
    await assert.rejects(answer.relayTo(sink.stream), /closed the connection before the whole answer/);
    assert.ok(sink.stream.destroyed);
  });

  it('when the URL is https, then it is refused (TLS answers go through https.request)', async () => {
    await assert.rejects(requestForRelay(new URL('https://127.0.0.1:1/b'), {}), /only http: URLs/);
  });
});
