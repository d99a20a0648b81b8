import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createFrontier, type MerkleFrontier } from './frontier.ts';
import { leafHash } from './hashing.ts';
import type { TreeNode } from './tree.ts';

// MTH straight from RFC 9162 §2.1.1, independent of the code under test.
const sha256 = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
function mth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha256();
  if (d.length === 1) return sha256(Buffer.from([0x00]), d[0]!);
  const k = 2 ** Math.ceil(Math.log2(d.length) - 1);
  return sha256(Buffer.from([0x01]), mth(d.slice(0, k)), mth(d.slice(k)));
}

const MAX_SIZE = 70;
const data = Array.from({ length: MAX_SIZE }, (_, i) => Buffer.from([i]));
const leaves = data.map((d) => leafHash(d));
const show = (nodes: TreeNode[]) => nodes.map(({ level, index, hash }) => `${level}:${index}:${hash.toString('hex')}`);

function appendOneByOne(frontier: MerkleFrontier, from: number, to: number) {
  const nodes: TreeNode[] = [];
  const roots: Buffer[] = [];
  for (let i = from; i < to; i++) {
    nodes.push(...frontier.append(leaves[i]!));
    roots.push(frontier.root());
  }
  return { nodes, roots };
}

describe('Merkle frontier', () => {
  const whole = appendOneByOne(createFrontier(), 0, MAX_SIZE);

  it('when leaves are appended one by one, then each root is MTH of the leaves so far', () => {
    assert.deepEqual(createFrontier().root(), mth([]));
    whole.roots.forEach((root, i) => {
      assert.deepEqual(root, mth(data.slice(0, i + 1)), `size ${i + 1}`);
    });
  });

  it('when a leaf is appended, then it returns exactly the nodes that this leaf completes, each with its MTH', () => {
    const frontier = createFrontier();
    for (let i = 0; i < MAX_SIZE; i++) {
      const completed = frontier.append(leaves[i]!);
      const size = i + 1;
      const expected: TreeNode[] = [];
      for (let level = 0; size % 2 ** level === 0; level++) {
        const index = size / 2 ** level - 1;
        expected.push({ level, index, hash: mth(data.slice(index * 2 ** level, size)) });
      }
      assert.deepEqual(show(completed), show(expected), `leaf ${i}`);
    }
  });

  it('when all 70 leaves are in, then the returned nodes are every complete aligned subtree, once each', () => {
    const expected: string[] = [];
    for (let level = 0; 2 ** level <= MAX_SIZE; level++) {
      for (let index = 0; (index + 1) * 2 ** level <= MAX_SIZE; index++) expected.push(`${level}:${index}`);
    }
    assert.deepEqual(whole.nodes.map(({ level, index }) => `${level}:${index}`).sort(), expected.sort());
  });

  it('when leaves are appended in batches of varying size, then the nodes and roots are those of one-by-one appends', () => {
    for (const batchSize of [1, 2, 3, 5, 8, 13, 64, MAX_SIZE]) {
      const frontier = createFrontier();
      const nodes: TreeNode[] = [];
      for (let from = 0; from < MAX_SIZE; from += batchSize) {
        nodes.push(...frontier.appendAll(leaves.slice(from, from + batchSize)));
        assert.equal(frontier.size, Math.min(from + batchSize, MAX_SIZE));
        assert.deepEqual(frontier.root(), whole.roots[frontier.size - 1], `batches of ${batchSize}, size ${frontier.size}`);
      }
      assert.deepEqual(show(nodes), show(whole.nodes), `batches of ${batchSize}`);
    }
  });

  it('when saved at any size and restored, then the restored frontier continues with the same nodes and roots', () => {
    for (let split = 0; split <= MAX_SIZE; split++) {
      const first = createFrontier();
      const before = appendOneByOne(first, 0, split);
      const saved = first.serialize();
      const restored = createFrontier(saved);
      assert.equal(restored.size, split);
      assert.equal(restored.serialize(), saved);
      assert.deepEqual(restored.root(), first.root());
      const after = appendOneByOne(restored, split, MAX_SIZE);
      assert.deepEqual(show([...before.nodes, ...after.nodes]), show(whole.nodes), `split at ${split}`);
      assert.deepEqual([...before.roots, ...after.roots], whole.roots, `split at ${split}`);
    }
  });

  it('when saved, then the text holds only the size and one hash per complete subtree', () => {
    assert.equal(createFrontier().serialize(), '0:');
    const frontier = createFrontier();
    frontier.appendAll(leaves.slice(0, 7));
    const [size, hashes] = frontier.serialize().split(':');
    assert.equal(size, '7');
    assert.equal(Buffer.from(hashes!, 'base64url').length, 3 * 32);
  });

  it('when restoring a tree at the largest safe size, then its 53 hashes load and appending refuses', () => {
    const size = Number.MAX_SAFE_INTEGER;
    const frontier = createFrontier(`${size}:${Buffer.concat(leaves.slice(0, 53)).toString('base64url')}`);
    assert.equal(frontier.size, size);
    assert.equal(frontier.root().length, 32);
    assert.throws(() => frontier.append(leaves[0]!), { code: 'ERR_MERKLE_OUT_OF_RANGE' });
  });

  it('when the saved text is malformed, then restoring refuses with ERR_MERKLE_BAD_FRONTIER', () => {
    const oneHash = leaves[0]!.toString('base64url');
    for (const saved of [
      '',
      'x',
      '1',
      ':',
      '-1:',
      `01:${oneHash}`,
      '1:',
      `2:${oneHash}${oneHash}`,
      `1:${oneHash}=`,
      `1:${oneHash.slice(0, -1)}`,
      `${2 ** 53}:`,
    ]) {
      assert.throws(() => createFrontier(saved), { name: 'MerkleTreeError', code: 'ERR_MERKLE_BAD_FRONTIER' }, JSON.stringify(saved));
    }
  });

  it('when appending something other than a 32-byte hash, then it refuses with ERR_MERKLE_BAD_HASH and keeps its size', () => {
    const frontier = createFrontier();
    assert.throws(() => frontier.append(Buffer.alloc(31)), { code: 'ERR_MERKLE_BAD_HASH' });
    assert.throws(() => frontier.append('abc' as unknown as Buffer), { code: 'ERR_MERKLE_BAD_HASH' });
    assert.equal(frontier.size, 0);
  });
});
