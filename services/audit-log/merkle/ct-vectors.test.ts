import assert from 'node:assert/strict';
import { createFrontier } from './frontier.ts';
import { emptyRoot, leafHash, nodeHash } from './hashing.ts';
import { assemble, assembleRoot, planConsistencyProof, planInclusionProof, planRoot } from './tree.ts';
import { verifyConsistency, verifyInclusion } from './verify.ts';

// Test vectors of transparency-dev/merkle (testonly/constants.go, proof/verify_test.go), used as published.
const hex = (text: string) => Buffer.from(text, 'hex');
const LEAF_INPUTS = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(hex);
const NODE_HASHES = [
  [
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
    '0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7',
    '07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7',
    'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    '4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658',
    'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
    '46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1',
  ],
  [
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
    '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
    'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
  ],
  ['d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'],
  ['5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328'],
];
const ROOT_HASHES = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
// The Go vectors number leaves from 1; these indexes are 0-based.
const INCLUSION_PROOFS: [index: number, size: number, proof: string[]][] = [
  [
    0,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    5,
    8,
    [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [
    1,
    5,
    [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
];
const CONSISTENCY_PROOFS: [size1: number, size2: number, proof: string[]][] = [
  [1, 1, []],
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [2, 5, ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
  [
    6,
    7,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
];

function buildVectorTree() {
  const frontier = createFrontier();
  const stored = new Map<string, Buffer>();
  const roots = [frontier.root()];
  for (const input of LEAF_INPUTS) {
    for (const node of frontier.append(leafHash(input))) stored.set(`${node.level}:${node.index}`, node.hash);
    roots.push(frontier.root());
  }
  return { stored, roots, get: (level: number, index: number) => stored.get(`${level}:${index}`) };
}

describe('Merkle tree against the transparency-dev RFC 6962 vectors', () => {
  const tree = buildVectorTree();

  it('when hashing the vector leaves and the empty tree, then the hashes are the published ones', () => {
    assert.deepEqual(
      LEAF_INPUTS.map((input) => leafHash(input).toString('hex')),
      NODE_HASHES[0],
    );
    assert.equal(leafHash('').toString('hex'), NODE_HASHES[0]![0]);
    assert.equal(emptyRoot().toString('hex'), ROOT_HASHES[0]);
    assert.equal(nodeHash(hex(NODE_HASHES[0]![0]!), hex(NODE_HASHES[0]![1]!)).toString('hex'), NODE_HASHES[1]![0]);
  });

  it('when the eight leaves are appended, then the stored nodes are exactly the published complete subtrees', () => {
    const expected = NODE_HASHES.flatMap((level, l) => level.map((hash, i) => [`${l}:${i}`, hash]));
    const actual = [...tree.stored].map(([key, hash]) => [key, hash.toString('hex')]);
    assert.deepEqual(actual.sort(), expected.sort());
  });

  it('when the tree has 0 to 8 leaves, then the frontier and the root plan give the published roots', () => {
    assert.deepEqual(
      tree.roots.map((root) => root.toString('hex')),
      ROOT_HASHES,
    );
    for (let size = 0; size <= 8; size++) assert.equal(assembleRoot(planRoot(size), tree.get).toString('hex'), ROOT_HASHES[size]);
  });

  for (const [index, size, proof] of INCLUSION_PROOFS) {
    it(`when proving leaf ${index} in a tree of ${size}, then the proof is the published one and verifies`, () => {
      const assembled = assemble(planInclusionProof(index, size), tree.get);
      assert.deepEqual(
        assembled.map((hash) => hash.toString('hex')),
        proof,
      );
      assert.ok(verifyInclusion(leafHash(LEAF_INPUTS[index]!), index, size, proof.map(hex), hex(ROOT_HASHES[size]!)));
    });
  }

  for (const [size1, size2, proof] of CONSISTENCY_PROOFS) {
    it(`when proving size ${size1} consistent with size ${size2}, then the proof is the published one and verifies`, () => {
      const assembled = assemble(planConsistencyProof(size1, size2), tree.get);
      assert.deepEqual(
        assembled.map((hash) => hash.toString('hex')),
        proof,
      );
      assert.ok(verifyConsistency(size1, size2, hex(ROOT_HASHES[size1]!), hex(ROOT_HASHES[size2]!), proof.map(hex)));
    });
  }
});
