/**
 * The right edge of a growing tree: the roots of its complete subtrees, one per set bit of its size
 * (at most 53 for any safe integer size). It is all a writer needs to append leaves, report every node
 * that completes, and compute the current root, so successive writers continue from its saved string.
 */
import { emptyRoot, HASH_LENGTH, nodeHash } from './hashing.ts';
import { MerkleTreeError, type TreeNode } from './tree.ts';

/** An append-only Merkle tree reduced to what appending needs; see {@link createFrontier}. */
export interface MerkleFrontier {
  /** Number of leaves appended so far. */
  readonly size: number;
  /** Adds one leaf hash; returns the nodes that became complete (the leaf at level 0 first, then each parent). */
  append(leafHash: Buffer): TreeNode[];
  /** Adds leaf hashes in order; returns every node that became complete, as successive {@link append} calls would. */
  appendAll(leafHashes: Iterable<Buffer>): TreeNode[];
  /** MTH of the current tree. */
  root(): Buffer;
  /** Compact text form (`size:base64url(hashes)`) for a database column; {@link createFrontier} reads it back. */
  serialize(): string;
}

function setBits(n: number): number {
  let count = 0;
  for (let rest = n; rest > 0; rest = Math.floor(rest / 2)) count += rest % 2;
  return count;
}

function badFrontier(message: string): MerkleTreeError {
  return new MerkleTreeError('ERR_MERKLE_BAD_FRONTIER', `saved frontier ${message}`);
}

function parse(saved: string): { size: number; edge: Buffer[] } {
  const match = /^(0|[1-9][0-9]*):([A-Za-z0-9_-]*)$/.exec(saved);
  if (!match) throw badFrontier('is not "size:base64url"');
  const size = Number(match[1]);
  if (!Number.isSafeInteger(size)) throw badFrontier(`size ${match[1]} is too large`);
  const bytes = Buffer.from(match[2]!, 'base64url');
  if (bytes.toString('base64url') !== match[2] || bytes.length !== setBits(size) * HASH_LENGTH) {
    throw badFrontier(`does not hold one ${HASH_LENGTH}-byte hash per complete subtree of a ${size}-leaf tree`);
  }
  const edge: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += HASH_LENGTH) edge.push(Buffer.from(bytes.subarray(at, at + HASH_LENGTH)));
  return { size, edge };
}

class Frontier implements MerkleFrontier {
  #size: number;
  // Leftmost (largest) subtree first, so the last entry is the one a new leaf may complete.
  readonly #edge: Buffer[];

  constructor(size: number, edge: Buffer[]) {
    this.#size = size;
    this.#edge = edge;
  }

  get size(): number {
    return this.#size;
  }

  append(leafHash: Buffer): TreeNode[] {
    if (!Buffer.isBuffer(leafHash) || leafHash.length !== HASH_LENGTH) {
      throw new MerkleTreeError('ERR_MERKLE_BAD_HASH', `a leaf hash is ${HASH_LENGTH} bytes`);
    }
    if (this.#size === Number.MAX_SAFE_INTEGER) throw new MerkleTreeError('ERR_MERKLE_OUT_OF_RANGE', 'the tree is full');
    let hash: Buffer = Buffer.from(leafHash);
    let level = 0;
    let index = this.#size;
    const completed: TreeNode[] = [{ level, index, hash }];
    // Each trailing set bit of the old size is a left sibling of equal width waiting for this leaf.
    for (let carry = this.#size; carry % 2 === 1; carry = Math.floor(carry / 2)) {
      hash = nodeHash(this.#edge.pop()!, hash);
      level++;
      index = Math.floor(index / 2);
      completed.push({ level, index, hash });
    }
    this.#edge.push(hash);
    this.#size++;
    return completed;
  }

  appendAll(leafHashes: Iterable<Buffer>): TreeNode[] {
    const completed: TreeNode[] = [];
    for (const leaf of leafHashes) completed.push(...this.append(leaf));
    return completed;
  }

  root(): Buffer {
    let root: Buffer | undefined;
    for (let i = this.#edge.length - 1; i >= 0; i--) root = root ? nodeHash(this.#edge[i]!, root) : this.#edge[i]!;
    return root ? Buffer.from(root) : emptyRoot();
  }

  serialize(): string {
    return `${this.#size}:${Buffer.concat(this.#edge).toString('base64url')}`;
  }
}

/** Starts an empty tree, or continues the one `saved` (from {@link MerkleFrontier.serialize}) describes. */
export function createFrontier(saved?: string): MerkleFrontier {
  if (saved === undefined) return new Frontier(0, []);
  const { size, edge } = parse(saved);
  return new Frontier(size, edge);
}
