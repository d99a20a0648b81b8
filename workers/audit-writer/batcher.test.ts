import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createBatcher } from './batcher.ts';

describe('micro-batcher', () => {
  it('when items arrive, then full batches go at once, the rest after the wait, and each caller gets its own result', async () => {
    const batches: number[][] = [];
    const batcher = createBatcher(
      async (items: number[]) => {
        batches.push(items);
        return items.map((n) => n * 10);
      },
      { maxSize: 3, maxWaitMs: 20, maxInFlight: 4 },
    );
    const results = Promise.all([1, 2, 3, 4].map((n) => batcher.add(n)));
    await sleep(5);
    assert.deepEqual(batches, [[1, 2, 3]], 'the full batch does not wait');
    assert.deepEqual(await results, [10, 20, 30, 40]);
    assert.deepEqual(batches, [[1, 2, 3], [4]]);
  });

  it('when a flush fails, then every item of that batch rejects with its error and later batches still run', async () => {
    let calls = 0;
    const batcher = createBatcher(
      async (items: string[]) => {
        if (calls++ === 0) throw new Error('database down');
        return items;
      },
      // Filled by size: with a wait of 1 ms, a clock tick between the two adds sent 'a' alone.
      { maxSize: 2, maxWaitMs: 50, maxInFlight: 1 },
    );
    const first = [batcher.add('a'), batcher.add('b')].map((p) =>
      p.then(
        () => 'ok',
        (e: Error) => e.message,
      ),
    );
    assert.deepEqual(await Promise.all(first), ['database down', 'database down']);
    assert.equal(await batcher.add('c'), 'c');
  });

  it('when flushes are all in flight, then items gather and leave together as soon as one finishes', async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const batcher = createBatcher(
      async (items: number[]) => {
        batches.push(items);
        if (batches.length === 1) await gate;
        return items;
      },
      { maxSize: 100, maxWaitMs: 1, maxInFlight: 1 },
    );
    const all = [batcher.add(1)];
    await sleep(10);
    for (let n = 2; n <= 6; n++) all.push(batcher.add(n));
    await sleep(10);
    assert.equal(batcher.size(), 6);
    release();
    await Promise.all(all);
    await batcher.drain();
    assert.deepEqual(batches, [[1], [2, 3, 4, 5, 6]]);
    assert.equal(batcher.size(), 0);
  });
});
