import { Writable } from 'node:stream';

/**
 * A destination that keeps a copy of what it is given (whoever wrote may reuse its buffer once the
 * write called back), taking `delayMs` per chunk so writers have to wait on it.
 */
export function collector(delayMs = 0) {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _encoding, done) {
      chunks.push(Buffer.from(chunk));
      delayMs ? setTimeout(done, delayMs) : done();
    },
  });
  return { stream, received: () => Buffer.concat(chunks) };
}
