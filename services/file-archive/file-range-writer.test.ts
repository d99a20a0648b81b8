import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { collector } from '../../test/support/collector.ts';
import { DestinationClosedError, writeFileRange } from './file-range-writer.ts';

describe('writing a file range from reused buffers', () => {
  let dir: string;
  let file: string;
  const content = randomBytes(9 * 2 ** 20 + 123);
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'file-range-'));
    file = path.join(dir, 'content.bin');
    await writeFile(file, content);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('when a range spans many buffers and the destination is slow, then exactly those bytes arrive in order', async () => {
    const handle = await open(file, 'r');
    try {
      const sink = collector(2);
      await writeFileRange(handle, sink.stream, 777, content.length - 1000);
      assert.ok(sink.received().equals(content.subarray(777, content.length - 223)));
      assert.equal(sink.stream.writableEnded, false, 'the caller ends the destination');
    } finally {
      await handle.close();
    }
  });

  it('when the file is shorter than the range, then it fails instead of sending less', async () => {
    const handle = await open(file, 'r');
    try {
      await assert.rejects(writeFileRange(handle, collector().stream, content.length - 10, 20), /10 bytes short/);
    } finally {
      await handle.close();
    }
  });

  it('when the destination closes midway, then it stops with DestinationClosedError instead of waiting forever', async () => {
    const handle = await open(file, 'r');
    try {
      const sink = collector(5);
      setTimeout(() => sink.stream.destroy(), 20);
      await assert.rejects(writeFileRange(handle, sink.stream, 0, content.length), DestinationClosedError);
      assert.ok(sink.received().length < content.length);
    } finally {
      await handle.close();
    }
  });
});
