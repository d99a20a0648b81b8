/**
 * Storage-independent RFC 9162 §2.1 tree math. A tree is stored as its complete subtrees only: node
 * (level L, index i) is MTH(D[i·2^L : (i+1)·2^L]), written once all its leaves exist and never changed.
 * Every subtree the RFC's recursive definitions name is either such a node or a right-edge subtree
 * D[a:n], whose MTH is the right fold of the complete nodes it splits into; a plan lists those nodes
 * so a storage layer can fetch all of them in one query and assemble the answer from the rows.
 */
import { emptyRoot, nodeHash } from './hashing.ts';

/** Coordinates of a stored node: the root of leaves [index·2^level, (index+1)·2^level). */
export interface NodeId {
  readonly level: number;
  readonly index: number;
}

/** A complete subtree's root, as the frontier hands it over for storage. */
export interface TreeNode extends NodeId {
  readonly hash: Buffer;
}

/**
 * The stored nodes a root or proof is made of. `nodes` names each node once (one query fetches them);
 * each entry of `spans` becomes one output hash: the right fold, with {@link nodeHash}, of its nodes'
 * hashes. An empty span stands for the empty tree.
 */
export interface NodePlan {
  readonly nodes: readonly NodeId[];
  readonly spans: readonly (readonly NodeId[])[];
}

/** Returns the stored hash of node (level, index), or undefined when storage lacks it. */
export type NodeLookup = (level: number, index: number) => Buffer | undefined;

export type MerkleTreeErrorCode = 'ERR_MERKLE_OUT_OF_RANGE' | 'ERR_MERKLE_NODE_MISSING' | 'ERR_MERKLE_BAD_HASH' | 'ERR_MERKLE_BAD_FRONTIER';

/** What the tree functions throw; `code` names the broken contract. */
export class MerkleTreeError extends Error {
  readonly code: MerkleTreeErrorCode;
  constructor(code: MerkleTreeErrorCode, message: string) {
    super(message);
    this.name = 'MerkleTreeError';
    this.code = code;
  }
}

function requireCount(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) throw new MerkleTreeError('ERR_MERKLE_OUT_OF_RANGE', `${name} must be an integer ≥ ${min}, got ${value}`);
}

// RFC 9162's k: the largest power of two strictly smaller than n (n ≥ 2).
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// Largest first. Only ranges the RFC recursion produces come here: an aligned power of two, or a right
// edge whose start is a multiple of a power of two at least its length, so every greedy piece is aligned.
function span(start: number, end: number): NodeId[] {
  const nodes: NodeId[] = [];
  let at = start;
  while (at < end) {
    let level = 0;
    let width = 1;
    while (width * 2 <= end - at) {
      width *= 2;
      level++;
    }
    nodes.push({ level, index: at / width });
    at += width;
  }
  return nodes;
}

function toPlan(spans: NodeId[][]): NodePlan {
  const seen = new Set<string>();
  const nodes: NodeId[] = [];
  for (const node of spans.flat()) {
    const key = `${node.level}:${node.index}`;
    if (seen.has(key)) continue;
    seen.add(key);
    nodes.push(node);
  }
  return { nodes, spans };
}

/** Nodes whose fold is MTH(D[0:treeSize]): the roots of the complete subtrees, one per set bit of the size. */
export function planRoot(treeSize: number): NodePlan {
  requireCount('treeSize', treeSize, 0);
  return toPlan([span(0, treeSize)]);
}

/** Nodes making up PATH(index, D[0:treeSize]) of RFC 9162 §2.1.3.1, one span per proof hash, leaf's sibling first. */
export function planInclusionProof(index: number, treeSize: number): NodePlan {
  requireCount('treeSize', treeSize, 1);
  requireCount('index', index, 0);
  if (index >= treeSize) throw new MerkleTreeError('ERR_MERKLE_OUT_OF_RANGE', `leaf ${index} is not in a tree of ${treeSize} leaves`);
  const topDown: NodeId[][] = [];
  let start = 0;
  let end = treeSize;
  while (end - start > 1) {
    const k = splitPoint(end - start);
    if (index < start + k) {
      topDown.push(span(start + k, end));
      end = start + k;
    } else {
      topDown.push(span(start, start + k));
      start += k;
    }
  }
  return toPlan(topDown.reverse());
}

/**
 * Nodes making up PROOF(size1, D[0:size2]) of RFC 9162 §2.1.4.1. The RFC defines it for 0 < size1 < size2;
 * for size1 = 0 or size1 = size2 the proof is empty, which {@link verifyConsistency} expects.
 */
export function planConsistencyProof(size1: number, size2: number): NodePlan {
  requireCount('size1', size1, 0);
  requireCount('size2', size2, size1);
  if (size1 === 0 || size1 === size2) return toPlan([]);
  const topDown: NodeId[][] = [];
  let start = 0;
  let end = size2;
  let isWholeOldTree = true;
  while (size1 !== end) {
    const k = splitPoint(end - start);
    if (size1 <= start + k) {
      topDown.push(span(start + k, end));
      end = start + k;
    } else {
      topDown.push(span(start, start + k));
      start += k;
      isWholeOldTree = false;
    }
  }
  // SUBPROOF's b flag: when the old tree is one subtree the verifier already holds its root.
  if (!isWholeOldTree) topDown.push(span(start, end));
  return toPlan(topDown.reverse());
}

/** Turns a plan into its hashes, in order, reading each node through `get`; a missing node throws. */
export function assemble(plan: NodePlan, get: NodeLookup): Buffer[] {
  return plan.spans.map((nodes) => {
    let hash: Buffer | undefined;
    for (let i = nodes.length - 1; i >= 0; i--) {
      const { level, index } = nodes[i]!;
      const stored = get(level, index);
      if (!stored) throw new MerkleTreeError('ERR_MERKLE_NODE_MISSING', `node (level ${level}, index ${index}) is not stored`);
      hash = hash ? nodeHash(stored, hash) : stored;
    }
    return hash ?? emptyRoot();
  });
}

/** MTH of the tree a {@link planRoot} plan describes. */
export function assembleRoot(plan: NodePlan, get: NodeLookup): Buffer {
  const [root] = assemble(plan, get);
  if (!root || plan.spans.length !== 1) throw new MerkleTreeError('ERR_MERKLE_OUT_OF_RANGE', 'a root plan has exactly one span');
  return root;
}
