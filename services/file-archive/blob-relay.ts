import net from 'node:net';
import type { Writable } from 'node:stream';

/**
 * Reads land in a few reused buffers: one read syscall takes up to this many bytes, and a relay
 * holds at most READ_BUFFERS + 1 of them (about 2 MiB) whatever the file size and however slow the
 * destination.
 */
const READ_BUFFER_BYTES = 256 * 1024;
const READ_BUFFERS = 8;
const HEAD_LIMIT_BYTES = 64 * 1024;
/**
 * An element that sends nothing for this long is given up, as is an answer whose body nobody took
 * (neither relayed nor discarded) by then.
 */
const IDLE_TIMEOUT_MS = 60_000;

/** A storage element's answer whose head has been read and whose body waits to be relayed. */
export interface RelayedAnswer {
  status: number;
  /** Content-Length of the body; 0 for answers other than 200 and 206, whose body is never relayed. */
  length: number;
  /**
   * Writes the body into `destination` and ends it; resolves once it finished. When the element or
   * the destination fails first, both are destroyed (a cut-short answer never looks complete).
   */
  relayTo(destination: Writable): Promise<void>;
  /** Drops the connection without reading the body. */
  discard(): void;
}

export class RelayError extends Error {}

function requestHead(url: URL, headers: Record<string, string>): string {
  const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`, 'Connection: close'];
  for (const [name, value] of Object.entries(headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new RelayError(`header ${name} holds a line break`);
    lines.push(`${name}: ${value}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function parseHead(head: string): { status: number; length: number } {
  const [statusLine = '', ...fields] = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine)?.[1];
  if (!status) throw new RelayError('storage element sent no HTTP/1.1 status line');
  const headers = new Map<string, string>();
  for (const field of fields) {
    const colon = field.indexOf(':');
    if (colon <= 0) continue;
    const name = field.slice(0, colon).trim().toLowerCase();
    const value = field.slice(colon + 1).trim();
    if (name === 'content-length' && headers.has(name) && headers.get(name) !== value)
      throw new RelayError('storage element sent two different Content-Lengths');
    headers.set(name, value);
  }
  const length = headers.get('content-length');
  const ok = status === '200' || status === '206';
  if (ok && headers.has('transfer-encoding')) throw new RelayError('storage element sent a body without Content-Length');
  if (ok && (length === undefined || !/^\d{1,15}$/.test(length))) throw new RelayError('storage element sent no valid Content-Length');
  return { status: Number(status), length: Number(length ?? 0) };
}

/**
 * GET an `http:` URL over a plain socket and relay the body without Node's HTTP parser, which
 * copies every chunk into a fresh buffer: here each read lands in one of a few reused buffers,
 * handed to the destination and taken back once written, so a 1 GiB download allocates nothing
 * per chunk and leaves the garbage collector idle (about a quarter of the CPU of `http.request` +
 * `pipeline`). One connection per answer (Connection: close). Not for `https:`: TLS hands each
 * decrypted record (16 KiB at most) to its own read buffer and keeps delivering after a pause, so
 * the pool would neither fill its buffers nor stay bounded; callers use `http.request` there.
 */
export function requestForRelay(url: URL, headers: Record<string, string>): Promise<RelayedAnswer> {
  const pool: Buffer[] = [];
  let allocated = 0;
  // Node asks for the next read's buffer right after each read, paused or not: it always gets one
  // (a missing buffer would make it read into the last, still being written), and pausing before
  // the pool runs dry (below) keeps the total at READ_BUFFERS + 1.
  const takeBuffer = () => {
    const reused = pool.pop();
    if (reused) return reused;
    allocated++;
    return Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
  };

  return new Promise((resolveHead, rejectHead) => {
    if (url.protocol !== 'http:') throw new RelayError(`only http: URLs are relayed, not ${url.protocol}`);
    const request = requestHead(url, headers);
    let head: Buffer = Buffer.alloc(0);
    let answer: { status: number; length: number } | undefined;
    let early: Buffer | undefined;
    let destination: Writable | undefined;
    let remaining = 0;
    let waitingForBuffers = false;
    let settled = false;
    let finishRelay: ((err?: Error) => void) | undefined;
    let failure: Error | undefined;

    const fail = (err: Error) => {
      failure ??= err;
      socket.destroy();
      if (!answer) rejectHead(err);
      if (destination && !destination.destroyed) destination.destroy(err);
      finishRelay?.(err);
    };

    const writeBody = (chunk: Buffer, reused?: Buffer) => {
      remaining -= chunk.length;
      destination!.write(chunk, (err) => {
        if (reused) pool.push(reused);
        if (err) return fail(err);
        if (waitingForBuffers && pool.length > 0) {
          waitingForBuffers = false;
          socket.resume();
        }
      });
      if (remaining === 0) {
        socket.destroy();
        destination!.end();
      }
    };

    const onRead = (bytes: number, buffer: Buffer): boolean => {
      if (settled) return false;
      if (!answer) {
        head = Buffer.concat([head, buffer.subarray(0, bytes)]);
        pool.push(buffer);
        let parsed: { status: number; length: number };
        // Interim answers (100 Continue, 103 Early Hints) are skipped: the real one follows.
        do {
          const end = head.indexOf('\r\n\r\n');
          if (end < 0) {
            if (head.length > HEAD_LIMIT_BYTES) fail(new RelayError('storage element sent an oversized head'));
            return true;
          }
          try {
            parsed = parseHead(head.subarray(0, end).toString('latin1'));
          } catch (err) {
            fail(err as Error);
            return false;
          }
          head = head.subarray(end + 4);
        } while (parsed.status >= 100 && parsed.status < 200);
        answer = parsed;
        // What came with the head: `head` is Buffer.concat's own copy, never a pooled buffer.
        early = head;
        head = Buffer.alloc(0);
        if (answer.status !== 200 && answer.status !== 206) {
          // An error answer's body is never relayed, only discarded.
          early = undefined;
          answer.length = 0;
        } else if (early.length > answer.length) {
          answer = undefined;
          fail(new RelayError('storage element sent more than its Content-Length'));
          return false;
        }
        remaining = answer.length;
        // Nothing more is read until someone takes the body.
        socket.pause();
        resolveHead(relayed(answer));
        return false;
      }
      if (bytes > remaining) {
        fail(new RelayError('storage element sent more than its Content-Length'));
        return false;
      }
      writeBody(buffer.subarray(0, bytes), buffer);
      // The next read's buffer is taken as soon as this returns: pause while that would be the last.
      if (remaining > 0 && pool.length <= 1 && allocated >= READ_BUFFERS) {
        waitingForBuffers = true;
        socket.pause();
        return false;
      }
      return true;
    };

    const relayed = (status: { status: number; length: number }): RelayedAnswer => ({
      ...status,
      discard: () => {
        settled = true;
        socket.destroy();
      },
      relayTo: (target) =>
        new Promise<void>((resolve, reject) => {
          if (failure || settled) {
            // The element failed (or the answer was discarded) before anyone took the body.
            const err = failure ?? new RelayError('the answer was discarded');
            target.destroy(err);
            reject(err);
            return;
          }
          destination = target;
          finishRelay = (err) => {
            if (settled) return;
            settled = true;
            err ? reject(err) : resolve();
          };
          target.once('finish', () => finishRelay?.());
          target.once('close', () => {
            if (!target.writableFinished) fail(new RelayError('the destination closed before the content was relayed'));
          });
          target.on('error', (err) => fail(err));
          if (status.length === 0) {
            socket.destroy();
            target.end();
            return;
          }
          if (early && early.length > 0) writeBody(early);
          early = undefined;
          if (remaining > 0) socket.resume();
        }),
    });

    const socket = net.connect({ host: url.hostname, port: Number(url.port || 80), onread: { buffer: takeBuffer, callback: onRead } });
    socket.setNoDelay(true);
    socket.setTimeout(IDLE_TIMEOUT_MS, () => {
      // Waiting on a slow destination is not the element's silence.
      if (!waitingForBuffers) fail(new RelayError(`storage element sent nothing for ${IDLE_TIMEOUT_MS / 1000} s`));
    });
    socket.write(request);
    socket.on('error', (err) => fail(err));
    socket.on('close', () => {
      if (!answer || remaining > 0) fail(new RelayError('storage element closed the connection before the whole answer'));
    });
  });
}
