import assert from 'node:assert/strict';
import { createFrontier } from './frontier.ts';
import { emptyRoot, leafHash } from './hashing.ts';
import { assemble, assembleRoot, planConsistencyProof, planInclusionProof, planRoot } from './tree.ts';
import { verifyConsistency, verifyInclusion } from './verify.ts';

const MAX_SIZE = 70;
const leaves = Array.from({ length: MAX_SIZE }, (_, i) => leafHash(Buffer.from([i])));
const stored = new Map<string, Buffer>();
for (const node of createFrontier().appendAll(leaves)) stored.set(`${node.level}:${node.index}`, node.hash);
const get = (level: number, index: number) => stored.get(`${level}:${index}`);
const roots = Array.from({ length: MAX_SIZE + 1 }, (_, n) => assembleRoot(planRoot(n), get));
const rootOf = (n: number) => roots[n]!;
const inclusionProof = (m: number, n: number) => assemble(planInclusionProof(m, n), get);
const consistencyProof = (m: number, n: number) => assemble(planConsistencyProof(m, n), get);

// `at` varies with the proof so that, across all proofs, every byte position gets changed.
function withByteChanged(hash: Buffer, at: number): Buffer {
  const copy = Buffer.from(hash);
  copy.writeUInt8(copy.readUInt8(at % copy.length) ^ 0x01, at % copy.length);
  return copy;
}
const replaced = (proof: Buffer[], i: number, hash: Buffer) => proof.map((element, j) => (j === i ? hash : element));

// The wrong values a one-off, bit-flip or off-by-a-level mistake produces, rather than all of them, to keep the suite fast.
function wrongValuesNear(x: number, lo: number, hi: number): number[] {
  const candidates = [lo, hi, x - 2, x - 1, x + 1, x + 2, x ^ 1, x ^ 2, x ^ 4, x ^ 8, x * 2, Math.floor(x / 2)];
  return [...new Set(candidates)].filter((value) => value !== x && value >= lo && value <= hi);
}

describe('RFC 9162 §2.1.3.2 inclusion proof verification', () => {
  it('when given PATH(m, D[n]) for every m < n ≤ 70, then it verifies', () => {
    for (let n = 1; n <= MAX_SIZE; n++) {
      for (let m = 0; m < n; m++) assert.ok(verifyInclusion(leaves[m]!, m, n, inclusionProof(m, n), rootOf(n)), `leaf ${m} of ${n}`);
    }
  });

  it('when one byte of a proof hash, the leaf hash or the root is changed, then it does not verify', () => {
    for (let n = 1; n <= MAX_SIZE; n++) {
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(m, n);
        proof.forEach((element, i) => {
          assert.ok(!verifyInclusion(leaves[m]!, m, n, replaced(proof, i, withByteChanged(element, m + n + i)), rootOf(n)), `leaf ${m} of ${n}, hash ${i}`);
        });
        assert.ok(!verifyInclusion(withByteChanged(leaves[m]!, m + n), m, n, proof, rootOf(n)));
        assert.ok(!verifyInclusion(leaves[m]!, m, n, proof, withByteChanged(rootOf(n), m * n)));
      }
    }
  });

  it('when the index is wrong or another leaf is put in its place, then it does not verify', () => {
    for (let n = 1; n <= MAX_SIZE; n++) {
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(m, n);
        for (const other of wrongValuesNear(m, 0, n - 1)) {
          assert.ok(!verifyInclusion(leaves[m]!, other, n, proof, rootOf(n)), `leaf ${m} of ${n} claimed at ${other}`);
          assert.ok(!verifyInclusion(leaves[other]!, m, n, proof, rootOf(n)), `leaf ${other} swapped in for ${m} of ${n}`);
        }
      }
    }
  });

  // The size is checked with the root signed for it: a proof's hashes fold the same way for sizes whose
  // trees share a shape around the leaf, which is why a signed tree head binds the size to its root.
  it('when checked as a proof for a tree of another size, or at double the size against the same root, then it does not verify', () => {
    for (let n = 1; n <= MAX_SIZE; n++) {
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(m, n);
        for (const other of wrongValuesNear(n, m + 1, MAX_SIZE)) {
          assert.ok(!verifyInclusion(leaves[m]!, m, other, proof, rootOf(other)), `leaf ${m} of ${n} claimed in ${other}`);
        }
        assert.ok(!verifyInclusion(leaves[m]!, m, n * 2, proof, rootOf(n)), `leaf ${m} of ${n} at double the size`);
      }
    }
  });

  it('when a hash is dropped from or added to either end of the proof, then it does not verify', () => {
    for (let n = 1; n <= MAX_SIZE; n++) {
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(m, n);
        if (proof.length > 0) assert.ok(!verifyInclusion(leaves[m]!, m, n, proof.slice(0, -1), rootOf(n)));
        if (proof.length > 0) assert.ok(!verifyInclusion(leaves[m]!, m, n, proof.slice(1), rootOf(n)));
        assert.ok(!verifyInclusion(leaves[m]!, m, n, [...proof, rootOf(n)], rootOf(n)));
        assert.ok(!verifyInclusion(leaves[m]!, m, n, [leaves[m]!, ...proof], rootOf(n)));
      }
    }
  });

  it('when the input is malformed, then it answers false without throwing', () => {
    const proof = inclusionProof(3, 7);
    assert.ok(!verifyInclusion(leaves[3]!, 7, 7, proof, rootOf(7)));
    assert.ok(!verifyInclusion(leaves[3]!, -1, 7, proof, rootOf(7)));
    assert.ok(!verifyInclusion(leaves[3]!, 3.5, 7, proof, rootOf(7)));
    assert.ok(!verifyInclusion(leaves[0]!, 0, 0, [], emptyRoot()));
    assert.ok(!verifyInclusion(leaves[3]!.subarray(1), 3, 7, proof, rootOf(7)));
    assert.ok(!verifyInclusion(leaves[3]!, 3, 7, [...proof.slice(0, -1), Buffer.alloc(31)], rootOf(7)));
    assert.ok(!verifyInclusion(leaves[3]!, 3, 7, proof, Buffer.concat([rootOf(7), Buffer.alloc(1)])));
  });
});

describe('RFC 9162 §2.1.4.2 consistency proof verification', () => {
  it('when given PROOF(m, D[n]) for every m ≤ n ≤ 70, then it verifies', () => {
    for (let n = 0; n <= MAX_SIZE; n++) {
      for (let m = 0; m <= n; m++) assert.ok(verifyConsistency(m, n, rootOf(m), rootOf(n), consistencyProof(m, n)), `${m} → ${n}`);
    }
  });

  it('when one byte of a proof hash or of either root is changed, or the roots are swapped, then it does not verify', () => {
    for (let n = 1; n <= MAX_SIZE; n++) {
      for (let m = 1; m < n; m++) {
        const proof = consistencyProof(m, n);
        proof.forEach((element, i) => {
          assert.ok(!verifyConsistency(m, n, rootOf(m), rootOf(n), replaced(proof, i, withByteChanged(element, m + n + i))), `${m} → ${n}, hash ${i}`);
        });
        assert.ok(!verifyConsistency(m, n, withByteChanged(rootOf(m), m + n), rootOf(n), proof), `${m} → ${n}, root1`);
        assert.ok(!verifyConsistency(m, n, rootOf(m), withByteChanged(rootOf(n), m * n), proof), `${m} → ${n}, root2`);
        assert.ok(!verifyConsistency(m, n, rootOf(n), rootOf(m), proof), `${m} → ${n}, swapped roots`);
      }
    }
  });

  it('when checked as a proof between other sizes (with their roots), or at double the new size, then it does not verify', () => {
    for (let n = 1; n <= MAX_SIZE; n++) {
      for (let m = 1; m < n; m++) {
        const proof = consistencyProof(m, n);
        for (const other of wrongValuesNear(m, 0, n)) {
          assert.ok(!verifyConsistency(other, n, rootOf(other), rootOf(n), proof), `${m} → ${n} claimed from ${other}`);
        }
        for (const other of wrongValuesNear(n, m, MAX_SIZE)) {
          assert.ok(!verifyConsistency(m, other, rootOf(m), rootOf(other), proof), `${m} → ${n} claimed to ${other}`);
        }
        assert.ok(!verifyConsistency(m, n * 2, rootOf(m), rootOf(n), proof), `${m} → ${n} at double the size`);
      }
    }
  });

  it('when a hash is dropped from or added to the proof, then it does not verify', () => {
    for (let n = 1; n <= MAX_SIZE; n++) {
      for (let m = 1; m < n; m++) {
        const proof = consistencyProof(m, n);
        assert.ok(!verifyConsistency(m, n, rootOf(m), rootOf(n), proof.slice(0, -1)), `${m} → ${n} truncated`);
        assert.ok(!verifyConsistency(m, n, rootOf(m), rootOf(n), proof.slice(1)), `${m} → ${n} without its first hash`);
        assert.ok(!verifyConsistency(m, n, rootOf(m), rootOf(n), [...proof, rootOf(n)]), `${m} → ${n} with a trailing root`);
        assert.ok(!verifyConsistency(m, n, rootOf(m), rootOf(n), [rootOf(m), ...proof]), `${m} → ${n} with a leading root`);
      }
    }
  });

  it('when the sizes are equal, zero or reversed, then only an empty proof between the right roots verifies', () => {
    assert.ok(verifyConsistency(0, 0, emptyRoot(), emptyRoot(), []));
    assert.ok(verifyConsistency(5, 5, rootOf(5), rootOf(5), []));
    assert.ok(!verifyConsistency(5, 5, rootOf(5), rootOf(6), []));
    assert.ok(!verifyConsistency(5, 5, rootOf(5), rootOf(5), [rootOf(5)]));
    assert.ok(!verifyConsistency(0, 5, rootOf(1), rootOf(5), []));
    assert.ok(!verifyConsistency(0, 5, emptyRoot(), rootOf(5), [rootOf(5)]));
    assert.ok(!verifyConsistency(0, 0, emptyRoot(), rootOf(1), []));
    assert.ok(!verifyConsistency(6, 5, rootOf(6), rootOf(5), consistencyProof(5, 6)));
    assert.ok(!verifyConsistency(3, 5, rootOf(3), rootOf(5), []));
    assert.ok(!verifyConsistency(3, 5, rootOf(3).subarray(1), rootOf(5), consistencyProof(3, 5)));
    assert.ok(!verifyConsistency(3, 2 ** 53, rootOf(3), rootOf(5), consistencyProof(3, 5)));
  });
});
