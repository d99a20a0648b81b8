import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { FILE_STREAM_BUFFER_BYTES } from './stream-buffer.ts';

/** Reads ahead of the destination by at most this many buffers (4 MiB). */
const BUFFERS = 4;

export class DestinationClosedError extends Error {
  readonly code = 'ERR_STREAM_PREMATURE_CLOSE';
  constructor() {
    super('the destination closed before the content was written');
  }
}

/**
 * Writes `length` bytes of an open file, from `start`, into `destination` (which it does not end)
 * through a few reused buffers, each read into again only once the destination has written it:
 * `createReadStream` allocates a new buffer for every read, and on a 1 GiB file the garbage
 * collection of those cost more CPU than the reads. Rejects if the file is shorter than asked
 * or the destination fails or closes first.
 */
export async function writeFileRange(file: FileHandle, destination: Writable, start: number, length: number): Promise<void> {
  let failure: Error | undefined;
  let onClose!: () => void;
  const closed = new Promise<void>((resolve) => {
    onClose = () => {
      if (!destination.writableFinished) failure ??= new DestinationClosedError();
      resolve();
    };
    destination.once('close', onClose);
  });
  const buffers = Array.from({ length: BUFFERS }, () => Buffer.allocUnsafeSlow(FILE_STREAM_BUFFER_BYTES));
  // A write whose destination closed may never call back: waiting ends with the close too.
  const written: Promise<void>[] = buffers.map(() => Promise.resolve());
  try {
    const end = start + length;
    for (let position = start, turn = 0; position < end; turn = (turn + 1) % BUFFERS) {
      await Promise.race([written[turn], closed]);
      if (failure) throw failure;
      const buffer = buffers[turn]!;
      const { bytesRead } = await file.read(buffer, 0, Math.min(buffer.length, end - position), position);
      if (bytesRead === 0) throw new Error(`the file ended ${end - position} bytes short`);
      position += bytesRead;
      written[turn] = new Promise<void>((resolve) => {
        destination.write(buffer.subarray(0, bytesRead), (err) => {
          if (err) failure ??= err;
          resolve();
        });
      });
    }
    await Promise.race([Promise.all(written), closed]);
    if (failure) throw failure;
  } finally {
    destination.off('close', onClose);
  }
}
