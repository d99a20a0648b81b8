import assert from 'node:assert/strict';
import { createFrontier } from './frontier.ts';
import { leafHash, nodeHash } from './hashing.ts';
import { assemble, assembleRoot, type NodeLookup, type NodePlan, planConsistencyProof, planInclusionProof, planRoot } from './tree.ts';
import { verifyConsistency, verifyInclusion } from './verify.ts';

// mulberry32, seeded so that a failing draw can be replayed.
function randomSource(seed: number) {
  let state = seed;
  return (below: number) => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * below);
  };
}

// Fails the test if assembling reads a node the plan's one query would not have fetched.
function fromPlanOnly(plan: NodePlan, get: NodeLookup): NodeLookup {
  const planned = new Set(plan.nodes.map(({ level, index }) => `${level}:${index}`));
  return (level, index) => {
    assert.ok(planned.has(`${level}:${index}`), `node ${level}:${index} was not in the plan`);
    return get(level, index);
  };
}

const maxNodes = (treeSize: number) => 2 * Math.log2(treeSize) + 2;

describe('Merkle tree at scale', () => {
  it('when a million leaves are stored, then 1,000 random inclusion and consistency proofs from one-query plans verify', function () {
    this.timeout(60_000);
    const LEAVES = 1_000_000;
    const random = randomSource(9162);
    const checkpoints = new Set(Array.from({ length: 1_000 }, () => 1 + random(LEAVES)));
    checkpoints.add(LEAVES);
    const rootAt = new Map<number, Buffer>();
    const stored = new Map<number, Buffer>();
    // A number key keeps two million map entries fast; index · 64 + level is unique since level < 64.
    const get: NodeLookup = (level, index) => stored.get(index * 64 + level);

    const started = performance.now();
    const frontier = createFrontier();
    const record = Buffer.alloc(8);
    for (let i = 0; i < LEAVES; i++) {
      record.writeDoubleBE(i);
      for (const node of frontier.append(leafHash(record))) stored.set(node.index * 64 + node.level, node.hash);
      if (checkpoints.has(frontier.size)) rootAt.set(frontier.size, frontier.root());
    }
    const built = performance.now();
    assert.equal(stored.size, 2 * LEAVES - 7, 'every complete subtree is stored once (n minus the set bits of n, plus n leaves)');

    const sizes = [...rootAt.keys()];
    for (const n of sizes) {
      const plan = planRoot(n);
      assert.deepEqual(assembleRoot(plan, fromPlanOnly(plan, get)), rootAt.get(n), `root of ${n}`);
    }
    for (let i = 0; i < 1_000; i++) {
      const n = sizes[random(sizes.length)]!;
      const m = random(n);
      const plan = planInclusionProof(m, n);
      assert.ok(plan.nodes.length <= maxNodes(n), `inclusion of ${m} in ${n} fetches ${plan.nodes.length} nodes`);
      const leaf = get(0, m)!;
      assert.ok(verifyInclusion(leaf, m, n, assemble(plan, fromPlanOnly(plan, get)), rootAt.get(n)!), `inclusion of ${m} in ${n}`);
    }
    for (let i = 0; i < 1_000; i++) {
      const [m, n] = [sizes[random(sizes.length)]!, sizes[random(sizes.length)]!].sort((a, b) => a - b) as [number, number];
      const plan = planConsistencyProof(m, n);
      assert.ok(plan.nodes.length <= maxNodes(n), `consistency ${m} → ${n} fetches ${plan.nodes.length} nodes`);
      assert.ok(verifyConsistency(m, n, rootAt.get(m)!, rootAt.get(n)!, assemble(plan, fromPlanOnly(plan, get))), `consistency ${m} → ${n}`);
    }
    console.log(
      `      built ${LEAVES} leaves in ${Math.round(built - started)} ms, 3,000 plans assembled and checked in ${Math.round(performance.now() - built)} ms`,
    );
  });

  // Trees this large cannot be built here, but a tree whose leaves are all one record has one hash per
  // level, so every stored node is known; it checks the size arithmetic past 2^32 (where bitwise operators
  // would wrap) though not which of the identical leaves a proof is for.
  it('when the tree holds up to 2^53 − 1 identical leaves, then plans, proofs and verification still agree', () => {
    const levelHashes = [leafHash('the same record')];
    while (levelHashes.length < 54) levelHashes.push(nodeHash(levelHashes.at(-1)!, levelHashes.at(-1)!));
    const random = randomSource(6962);
    for (const n of [2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40 + 2 ** 33 + 5, 3 * 2 ** 50 + 77, Number.MAX_SAFE_INTEGER]) {
      const lookupIn =
        (size: number): NodeLookup =>
        (level, index) =>
          (index + 1) * 2 ** level <= size ? levelHashes[level] : undefined;
      const get = lookupIn(n);
      const root = assembleRoot(planRoot(n), get);
      for (const m of [0, n - 1, 2 ** 31, 2 ** 32 + 1, random(n)].filter((m) => m < n)) {
        const proof = assemble(planInclusionProof(m, n), get);
        assert.ok(verifyInclusion(levelHashes[0]!, m, n, proof, root), `inclusion of ${m} in ${n}`);
        const wrongSize = n === Number.MAX_SAFE_INTEGER ? n - 1 : n + 1;
        if (m < wrongSize) {
          assert.ok(!verifyInclusion(levelHashes[0]!, m, wrongSize, proof, assembleRoot(planRoot(wrongSize), lookupIn(wrongSize))), `${m} in ${wrongSize}`);
        }
      }
      for (const m of [1, 2 ** 31 + 3, 2 ** 32, n - 1, 1 + random(n - 1)].filter((m) => m < n)) {
        const proof = assemble(planConsistencyProof(m, n), get);
        assert.ok(verifyConsistency(m, n, assembleRoot(planRoot(m), get), root, proof), `consistency ${m} → ${n}`);
      }
    }
  });
});
