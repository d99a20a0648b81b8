import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '../../../test/support/wait-for.ts';
import { whenAnswered } from './answered.ts';

describe('whenAnswered: once per response, whether or not the client stayed', () => {
  let server: Server;
  let handle: (req: IncomingMessage, res: ServerResponse) => void;
  let port: number;

  before(async () => {
    server = createServer((req, res) => handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

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
