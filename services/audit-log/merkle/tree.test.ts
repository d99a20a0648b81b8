import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { assemble, assembleRoot, MerkleTreeError, type NodePlan, planConsistencyProof, planInclusionProof, planRoot } from './tree.ts';

// A naive reference written from the text of RFC 9162 §2.1, independent of the code under test.
const sha256 = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
const largestPowerOfTwoBelow = (n: number) => 2 ** Math.ceil(Math.log2(n) - 1);

function mth(d: Buffer[]): Buffer {
  if (d.length === 0) return sha256();
  if (d.length === 1) return sha256(Buffer.from([0x00]), d[0]!);
  const k = largestPowerOfTwoBelow(d.length);
  return sha256(Buffer.from([0x01]), mth(d.slice(0, k)), mth(d.slice(k)));
}

function path(m: number, d: Buffer[]): Buffer[] {
  if (d.length <= 1) return [];
  const k = largestPowerOfTwoBelow(d.length);
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
}

function subproof(m: number, d: Buffer[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const k = largestPowerOfTwoBelow(d.length);
  return m <= k ? [...subproof(m, d.slice(0, k), b), mth(d.slice(k))] : [...subproof(m - k, d.slice(k), false), mth(d.slice(0, k))];
}

const MAX_SIZE = 70;
const data = Array.from({ length: MAX_SIZE }, (_, i) => Buffer.from([i]));

// Storage once all 70 leaves are in; nodes never change, so it serves every smaller size too.
const stored = new Map<string, Buffer>();
for (let level = 0; 2 ** level <= MAX_SIZE; level++) {
  for (let index = 0; (index + 1) * 2 ** level <= MAX_SIZE; index++) {
    stored.set(`${level}:${index}`, mth(data.slice(index * 2 ** level, (index + 1) * 2 ** level)));
  }
}
const get = (level: number, index: number) => stored.get(`${level}:${index}`);

function assertOnlyCompleteNodes(plan: NodePlan, treeSize: number): void {
  const keys = plan.nodes.map(({ level, index }) => `${level}:${index}`);
  assert.equal(new Set(keys).size, keys.length, 'a plan names each node once');
  for (const { level, index } of plan.nodes) {
    assert.ok(Number.isSafeInteger(index) && index >= 0 && level >= 0, `node ${level}:${index} is a node`);
    assert.ok((index + 1) * 2 ** level <= treeSize, `node ${level}:${index} is complete in a tree of ${treeSize}`);
  }
  const spanned = new Set(plan.spans.flat().map(({ level, index }) => `${level}:${index}`));
  assert.deepEqual([...spanned].sort(), [...keys].sort(), 'the plan fetches exactly the nodes its spans use');
}

const maxNodes = (treeSize: number) => 2 * Math.log2(Math.max(treeSize, 1)) + 2;

describe('Merkle tree plans, against a reference written from RFC 9162 §2.1', () => {
  it('when the tree has 0 to 70 leaves, then the root assembled from its plan is MTH(D[0:n])', () => {
    for (let n = 0; n <= MAX_SIZE; n++) {
      const plan = planRoot(n);
      assertOnlyCompleteNodes(plan, n);
      assert.deepEqual(assembleRoot(plan, get), mth(data.slice(0, n)), `size ${n}`);
    }
  });

  it('when proving every leaf m of every tree of n ≤ 70 leaves, then the proof is PATH(m, D[n])', () => {
    for (let n = 1; n <= MAX_SIZE; n++) {
      for (let m = 0; m < n; m++) {
        const plan = planInclusionProof(m, n);
        assertOnlyCompleteNodes(plan, n);
        assert.ok(plan.nodes.length <= maxNodes(n), `PATH(${m}, D[${n}]) fetches ${plan.nodes.length} nodes`);
        assert.deepEqual(assemble(plan, get), path(m, data.slice(0, n)), `PATH(${m}, D[${n}])`);
      }
    }
  });

  it('when proving every size m ≤ n ≤ 70 consistent, then the proof is PROOF(m, D[n]) and empty for m = 0 or m = n', () => {
    for (let n = 0; n <= MAX_SIZE; n++) {
      for (let m = 0; m <= n; m++) {
        const plan = planConsistencyProof(m, n);
        assertOnlyCompleteNodes(plan, n);
        assert.ok(plan.nodes.length <= maxNodes(n), `PROOF(${m}, D[${n}]) fetches ${plan.nodes.length} nodes`);
        const expected = m === 0 || m === n ? [] : subproof(m, data.slice(0, n), true);
        assert.deepEqual(assemble(plan, get), expected, `PROOF(${m}, D[${n}])`);
      }
    }
  });

  it('when the tree is far past 2^32 leaves, then plans still name whole, complete nodes and stay O(log n)', () => {
    for (const n of [2 ** 32 + 1, 2 ** 40 - 1, 3 * 2 ** 45 + 12345, Number.MAX_SAFE_INTEGER]) {
      for (const plan of [
        planRoot(n),
        planInclusionProof(n - 1, n),
        planInclusionProof(2 ** 31 + 7, n),
        planConsistencyProof(2 ** 31 + 3, n),
        planConsistencyProof(n - 1, n),
      ]) {
        assertOnlyCompleteNodes(plan, n);
        assert.ok(plan.nodes.length <= maxNodes(n));
      }
    }
  });

  it('when a leaf or size is out of range, then planning refuses with ERR_MERKLE_OUT_OF_RANGE', () => {
    const outOfRange = { name: 'MerkleTreeError', code: 'ERR_MERKLE_OUT_OF_RANGE' };
    assert.throws(() => planInclusionProof(5, 5), outOfRange);
    assert.throws(() => planInclusionProof(0, 0), outOfRange);
    assert.throws(() => planInclusionProof(-1, 3), outOfRange);
    assert.throws(() => planConsistencyProof(6, 5), outOfRange);
    assert.throws(() => planRoot(1.5), outOfRange);
    assert.throws(() => planRoot(2 ** 53), outOfRange);
  });

  it('when storage lacks a planned node, then assembling names it with ERR_MERKLE_NODE_MISSING', () => {
    assert.throws(
      () => assembleRoot(planRoot(3), (level, index) => (level === 0 && index === 2 ? undefined : get(level, index))),
      (error: unknown) => error instanceof MerkleTreeError && error.code === 'ERR_MERKLE_NODE_MISSING' && error.message.includes('level 0, index 2'),
    );
  });
});
