import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../../../test/support/wait-for.ts';
import { whenAnswered, whenDone } from './answered.ts';

describe('responses whose client may be gone', () => {
  /** One raw HTTP server for every test here; each test sets how it handles requests. */
  let server: Server;
  let handle: (req: IncomingMessage, res: ServerResponse) => void;
  let port: number;
  before(async () => {
    server = createServer((req, res) => handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  describe('whenAnswered: once per response, whether or not the client stayed', () => {
    /** Sends a request on a raw connection and closes it at once, before any answer. */
    const hangUp = () =>
      new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () =>
          socket.write('PUT /x HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n', () => {
            socket.destroy();
            resolve();
          }),
        );
        socket.on('error', reject);
      });

    it('when the client waits for the answer, then it is called once, after the answer is sent', async () => {
      const calls: number[] = [];
      handle = (_req, res) => {
        whenAnswered(res, () => calls.push(res.statusCode));
        setTimeout(() => res.writeHead(201).end('made'), 20);
      };
      const answer = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(await answer.text(), 'made');
      await sleep(50);
      assert.deepEqual(calls, [201]);
    });

    it('when the client hangs up while the handler works, then it is called once the handler ends the response, with its status', async () => {
      const calls: string[] = [];
      handle = (_req, res) => {
        whenAnswered(res, () => calls.push(`answered ${res.statusCode}`));
        res.once('close', () => calls.push('client gone'));
        setTimeout(() => {
          res.statusCode = 409;
          res.end('too late');
        }, 100);
      };
      await hangUp();
      await waitFor(() => calls.length === 2, { message: 'the answer after the hang-up' });
      await sleep(50);
      assert.deepEqual(calls, ['client gone', 'answered 409']);
    });

    it('when the request was queued behind another on a pipelined connection that closed, then it is still called when its handler ends', async () => {
      const calls: string[] = [];
      handle = (req, res) => {
        whenAnswered(res, () => calls.push(`${req.url} ${res.statusCode}`));
        setTimeout(() => {
          res.statusCode = req.url === '/second' ? 202 : 200;
          res.end();
        }, 100);
      };
      await new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () =>
          socket.write('GET /first HTTP/1.1\r\nHost: test\r\n\r\nPUT /second HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n', () => {
            // Both requests reach the server before the close.
            setTimeout(() => {
              socket.destroy();
              resolve();
            }, 30);
          }),
        );
        socket.on('error', reject);
      });
      await waitFor(() => calls.length === 2, { message: 'both answers' });
      await sleep(50);
      assert.deepEqual(calls.sort(), ['/first 200', '/second 202']);
    });

    it('when the client was gone before it was registered (an earlier middleware awaited), then it is still called when the handler ends', async () => {
      const calls: number[] = [];
      handle = (_req, res) => {
        void (async () => {
          await waitFor(() => res.destroyed, { message: 'the connection to close' });
          whenAnswered(res, () => calls.push(res.statusCode));
          res.statusCode = 403;
          res.end();
        })();
      };
      await hangUp();
      await waitFor(() => calls.length === 1, { message: 'the late answer' });
      await sleep(50);
      assert.deepEqual(calls, [403]);
    });
  });

  describe('whenDone: how a request ended, once, for the access log', () => {
    /** Writes `bytes` on a new connection and closes it `afterMs` later, reading nothing. */
    const sendAndLeave = (bytes: string, afterMs = 0) =>
      new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () =>
          socket.write(bytes, () =>
            setTimeout(() => {
              socket.destroy();
              resolve();
            }, afterMs),
          ),
        );
        socket.on('error', reject);
      });
    const request = (path: string) => `GET ${path} HTTP/1.1\r\nHost: test\r\n\r\n`;

    it('when the answer is larger than the socket holds and the client reads late, then it ends once the client has it all', async () => {
      const events: string[] = [];
      handle = (req, res) => {
        whenDone(req, res, (ending) => events.push(ending));
        res.end(Buffer.alloc(32 * 1024 * 1024));
        events.push('handler ended');
      };
      await new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.write(request('/big')));
        socket.pause();
        let received = 0;
        setTimeout(() => {
          events.push('client reads');
          socket.on('data', (chunk: Buffer) => {
            received += chunk.length;
            if (received >= 32 * 1024 * 1024) {
              socket.destroy();
              resolve();
            }
          });
          socket.resume();
        }, 300);
        socket.on('error', reject);
      });
      await waitFor(() => events.length === 3, { message: 'the end of the request' });
      assert.deepEqual(events, ['handler ended', 'client reads', 'delivered']);
    });

    it('when the client hangs up and the handler answers after, then it ends undelivered, with the handler’s status', async () => {
      const calls: string[] = [];
      handle = (req, res) => {
        whenDone(req, res, (ending) => calls.push(`${ending} ${res.statusCode}`));
        setTimeout(() => {
          res.statusCode = 401;
          res.end();
        }, 100);
      };
      await sendAndLeave(request('/late'));
      await waitFor(() => calls.length === 1, { message: 'the late answer' });
      await sleep(50);
      assert.deepEqual(calls, ['undelivered 401']);
    });

    it('when a request was queued behind another on a pipelined connection that closed, then each ends once', async () => {
      const calls: string[] = [];
      handle = (req, res) => {
        whenDone(req, res, (ending) => calls.push(`${req.url} ${ending}`));
        setTimeout(() => res.end(), req.url === '/first' ? 10 : 100);
      };
      await sendAndLeave(request('/first') + request('/second'), 50);
      await waitFor(() => calls.length === 2, { message: 'both requests ended' });
      await sleep(50);
      assert.deepEqual(calls, ['/first delivered', '/second undelivered']);
    });

    it('when the client leaves and the handler never answers, then it ends abandoned once the handler has had its time, dated from the leaving', async () => {
      const calls: { ending: string; late: number }[] = [];
      handle = (req, res) => whenDone(req, res, (ending, at) => calls.push({ ending, late: Number(process.hrtime.bigint() - at) / 1e6 }), 200);
      await sendAndLeave(request('/never'));
      await sleep(100);
      assert.equal(calls.length, 0, 'not before the handler has had its time');
      await waitFor(() => calls.length === 1, { message: 'the abandoned request' });
      assert.equal(calls[0]!.ending, 'abandoned');
      assert.ok(calls[0]!.late >= 190, `dated from the client's leaving, not from the wait's end (${calls[0]!.late} ms before the call)`);
    });

    it('when the client neither reads nor closes, then the request still ends, undelivered, once it has had its time', async () => {
      const calls: string[] = [];
      handle = (req, res) => {
        whenDone(req, res, (ending) => calls.push(ending), 300);
        res.end(Buffer.alloc(32 * 1024 * 1024));
      };
      const socket = connect(port, '127.0.0.1', () => socket.write(request('/stalled')));
      socket.pause();
      try {
        await waitFor(() => calls.length === 1, { message: 'the stalled request' });
        assert.deepEqual(calls, ['undelivered']);
      } finally {
        socket.destroy();
      }
      await sleep(100);
      assert.deepEqual(calls, ['undelivered'], 'the close after it changes nothing');
    });

    it('when the client resets the connection with most of the answer unsent, then it ends undelivered, not delivered', async () => {
      const calls: string[] = [];
      handle = (req, res) => {
        whenDone(req, res, (ending) => calls.push(ending));
        res.end(Buffer.alloc(64 * 1024 * 1024));
      };
      const socket = connect(port, '127.0.0.1', () => socket.write(request('/reset')));
      socket.pause();
      await sleep(200);
      socket.resetAndDestroy();
      // Well before the 10 s the helper gives a client to take an answer's end.
      await waitFor(() => calls.length === 1, { message: 'the reset request', timeoutMs: 3000 });
      assert.deepEqual(calls, ['undelivered']);
    });

    it('when the server cuts its answer off after the headers went, then it ends failed at once, not abandoned later', async () => {
      const calls: string[] = [];
      handle = (req, res) => {
        whenDone(req, res, (ending) => calls.push(`${ending} ${res.statusCode}`));
        res.writeHead(200, { 'Content-Length': '1000' });
        res.write('part of it', () => res.destroy());
      };
      await new Promise<void>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => socket.write(request('/cut')));
        socket.on('close', () => resolve());
        socket.on('error', () => undefined);
        socket.resume();
      });
      await waitFor(() => calls.length === 1, { message: 'the cut answer', timeoutMs: 3000 });
      assert.deepEqual(calls, ['failed 200']);
    });

    it('when 50 requests are pipelined on one connection, then each ends once and no listener leak is reported', async () => {
      const warnings: string[] = [];
      const onWarning = (warning: Error) => warnings.push(warning.name);
      process.on('warning', onWarning);
      try {
        const calls: string[] = [];
        handle = (req, res) => {
          whenDone(req, res, (ending) => calls.push(ending));
          setTimeout(() => res.end(), 20);
        };
        await sendAndLeave(Array.from({ length: 50 }, (_, i) => request(`/p${i}`)).join(''), 10);
        await waitFor(() => calls.length === 50, { message: 'every pipelined request ended' });
        await sleep(50);
        assert.equal(calls.length, 50);
        assert.deepEqual(warnings, []);
      } finally {
        process.off('warning', onWarning);
      }
    });
  });
});
