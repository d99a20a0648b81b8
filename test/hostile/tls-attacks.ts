import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect as connectTcp, createServer, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import type { seededRandom } from './attacks.ts';

type Random = ReturnType<typeof seededRandom>;

/** What a TLS port did with bytes that are no proper handshake. */
export interface ByteAnswer {
  /** Everything it sent back (an alert at most, never an HTTP answer). */
  received: Buffer;
  /** Whether it closed the connection within the wait. */
  closed: boolean;
}

/** A real TLS 1.3 ClientHello, as Node's client writes it: captured on a plain TCP listener. */
export function captureClientHello(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const listener = createServer((socket) =>
      socket.once('data', (hello: Buffer) => {
        socket.destroy();
        listener.close();
        resolve(hello);
      }),
    );
    listener.on('error', reject);
    listener.listen(0, '127.0.0.1', () => {
      const port = (listener.address() as { port: number }).port;
      connectTls({ port, host: '127.0.0.1', servername: 'localhost', minVersion: 'TLSv1.3' }).on('error', () => undefined);
    });
  });
}

/** One record of the TLS record layer: content type, legacy version, length, then `body`. */
const record = (type: number, body: Buffer, length = body.length) => Buffer.concat([Buffer.from([type, 0x03, 0x01, length >> 8, length & 0xff]), body]);

/**
 * Byte sequences that are no TLS handshake a server may go along with: garbage, plaintext HTTP,
 * ClientHellos cut short, mangled or lying about their length, SSLv2 framing, records of the wrong
 * type. Each names what it is; `random` varies the cuts and the mangling.
 */
export function brokenHandshakes(hello: Buffer, random: Random): Record<string, Buffer> {
  const cut = (from: number, to: number) => hello.subarray(0, from + Math.floor(random.next() * (to - from)));
  const mangled = Buffer.from(hello);
  const at = 45 + Math.floor(random.next() * (hello.length - 60));
  randomBytes(12).copy(mangled, at);
  const body = hello.subarray(5);
  return {
    'random bytes': randomBytes(256 + Math.floor(random.next() * 4096)),
    'plaintext HTTP request': Buffer.from('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'),
    'plaintext HTTP request with a body': Buffer.from('POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}'),
    'one byte of a handshake record': Buffer.from([0x16]),
    'record header only': hello.subarray(0, 5),
    'ClientHello cut inside its header': cut(6, 40),
    'ClientHello cut inside its extensions': cut(60, hello.length - 1),
    'ClientHello with mangled bytes': mangled,
    'record length beyond the limit (2^14 + 2048)': record(0x16, body, 0xffff),
    'handshake length longer than the record': Buffer.concat([hello.subarray(0, 6), Buffer.from([0xff, 0xff, 0xff]), hello.subarray(9)]),
    'ClientHello twice': Buffer.concat([hello, hello]),
    'SSLv2 ClientHello framing': Buffer.concat([Buffer.from([0x80, 0x2e, 0x01, 0x00, 0x02, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10]), randomBytes(37)]),
    'application data before any handshake': record(0x17, randomBytes(512)),
    'alert flood before a ClientHello': Buffer.concat([...Array.from({ length: 500 }, () => record(0x15, Buffer.from([0x01, 0x00]))), hello]),
    'empty records before a ClientHello': Buffer.concat([...Array.from({ length: 500 }, () => record(0x16, Buffer.alloc(0))), hello]),
    'change cipher spec flood': Buffer.concat(Array.from({ length: 500 }, () => record(0x14, Buffer.from([0x01])))),
  };
}

/** Writes `bytes` to a TLS port over plain TCP, ends its side, and reports what came back within `waitMs`. */
export function sendBytes(port: number, bytes: Buffer, waitMs = 5000): Promise<ByteAnswer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connectTcp(port, '127.0.0.1', () => socket.end(bytes));
    const done = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ received: Buffer.concat(chunks), closed });
    };
    const timer = setTimeout(() => done(false), waitMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => done(true));
  });
}

/** Whether `bytes` hold anything of an HTTP answer: a TLS port must never speak HTTP before a handshake. */
export const looksLikeHttp = (bytes: Buffer) => /HTTP\/1\.[01] \d{3}/.test(bytes.toString('latin1'));

/**
 * Connects with TLS (trusting `ca`, presenting what `options` holds), sends a GET of `path` and
 * returns the answer's status line, or the error that ended the connection first.
 */
export function requestOverTls(port: number, ca: string, path: string, options: ConnectionOptions = {}): Promise<{ statusLine?: string; error?: string }> {
  return new Promise((resolve) => {
    let text = '';
    const socket = connectTls({ port, host: '127.0.0.1', ca, servername: 'localhost', ...options }, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    });
    const timer = setTimeout(() => finish('no answer within 10 s'), 10_000);
    const finish = (error?: string) => {
      clearTimeout(timer);
      socket.destroy();
      const statusLine = /^HTTP\/1\.1 \d{3}[^\r]*/.exec(text)?.[0];
      resolve(statusLine ? { statusLine } : { error: error ?? 'closed without an answer' });
    };
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message));
    socket.on('end', () => finish());
  });
}

/**
 * TLS 1.3 has no renegotiation: a client asking for it on an established connection is refused by
 * its own TLS stack, and the connection must still carry a request afterwards.
 */
export function renegotiateThenRequest(port: number, ca: string): Promise<{ renegotiation: string; statusLine?: string }> {
  return new Promise((resolve) => {
    const socket = connectTls({ port, host: '127.0.0.1', ca, servername: 'localhost' }, () => {
      socket.renegotiate({ rejectUnauthorized: true }, (err) => {
        const renegotiation = err ? `refused (${(err as NodeJS.ErrnoException).code ?? err.message})` : 'accepted';
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (text += chunk));
        socket.on('end', () => resolve({ renegotiation, statusLine: /^HTTP\/1\.1 \d{3}[^\r]*/.exec(text)?.[0] }));
        socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
      });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve({ renegotiation: `connection failed (${err.code ?? err.message})` }));
  });
}

/**
 * TLS 1.3's in-connection rekeying as a flood: `count` KeyUpdate messages that ask the server to
 * update its keys too (openssl s_client's `K` command, one per line), then a request on the same
 * connection. Resolves with the answer's status line, if one came.
 */
export async function keyUpdateFlood(port: number, caFile: string, count: number): Promise<{ statusLine?: string; keyUpdates: number }> {
  const client = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3', '-CAfile', caFile, '-servername', 'localhost'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  client.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('latin1')));
  client.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('latin1')));
  const exited = new Promise<void>((resolve) => client.on('close', () => resolve()));
  await waitForOutput(() => output, /Verify return code/);
  // s_client reads one command per read of its input: each line goes alone, once the one before is done.
  const done = () => output.match(/KEYUPDATE/g)?.length ?? 0;
  for (let i = 0; i < count; i++) {
    client.stdin.write('K\n');
    await waitForOutput(done, (n) => n > i);
  }
  client.stdin.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  await waitForOutput(() => output, /HTTP\/1\.1 \d{3}/, 10_000).catch(() => undefined);
  client.stdin.end();
  await Promise.race([exited, sleep(5000).then(() => client.kill('SIGKILL'))]);
  return { statusLine: /HTTP\/1\.1 \d{3}[^\r\n]*/.exec(output)?.[0], keyUpdates: output.match(/KEYUPDATE/g)?.length ?? 0 };
}

async function waitForOutput<T>(read: () => T, until: RegExp | ((value: T) => boolean), timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const reached = () => (typeof until === 'function' ? until(read()) : until.test(String(read())));
  while (!reached()) {
    if (Date.now() > deadline) throw new Error(`openssl s_client did not get to ${until} within ${timeoutMs} ms`);
    await sleep(1);
  }
}

/** `count` connections that each send half a ClientHello and then nothing: they hold server sockets open mid-handshake. */
export async function halfOpenHandshakes(port: number, hello: Buffer, count: number): Promise<{ sockets: Socket[]; close(): void }> {
  const sockets = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Socket>((resolve) => {
          const socket = connectTcp(port, '127.0.0.1', () => {
            socket.write(hello.subarray(0, Math.floor(hello.length / 2)));
            resolve(socket);
          });
          socket.on('error', () => resolve(socket));
        }),
    ),
  );
  return {
    sockets,
    close: () => {
      for (const socket of sockets) socket.destroy();
    },
  };
}
