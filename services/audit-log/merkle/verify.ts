/**
 * RFC 9162 §2.1.3.2 and §2.1.4.2 proof verification, step for step. Sizes are walked with arithmetic
 * rather than bitwise operators, which would truncate trees past 2^31 leaves. Malformed input is a
 * proof that does not verify: these functions answer false and never throw.
 */
import { emptyRoot, HASH_LENGTH, nodeHash } from './hashing.ts';

const isHash = (value: unknown): value is Buffer => Buffer.isBuffer(value) && value.length === HASH_LENGTH;
const isHashList = (value: unknown): value is readonly Buffer[] => Array.isArray(value) && value.every(isHash);
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isOdd = (n: number) => n % 2 === 1;
const half = (n: number) => Math.floor(n / 2);

function isPowerOfTwo(n: number): boolean {
  let power = 1;
  while (power < n) power *= 2;
  return power === n;
}

/** True when `path` proves that `leafHash` is leaf number `index` of the tree of `treeSize` leaves whose MTH is `root`. */
export function verifyInclusion(leafHash: Buffer, index: number, treeSize: number, path: readonly Buffer[], root: Buffer): boolean {
  if (!isHash(leafHash) || !isHash(root) || !isHashList(path) || !isCount(index) || !isCount(treeSize)) return false;
  if (index >= treeSize) return false;
  let fn = index;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of path) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && r.equals(root);
}

/**
 * True when `proof` shows that the tree of `size2` leaves with MTH `root2` extends the tree of `size1`
 * leaves with MTH `root1`. Beyond the RFC (which covers 0 < size1 < size2): equal sizes need an empty
 * proof and equal roots, and size1 = 0 needs an empty proof and the empty tree's MTH as `root1`.
 */
export function verifyConsistency(size1: number, size2: number, root1: Buffer, root2: Buffer, proof: readonly Buffer[]): boolean {
  if (!isHash(root1) || !isHash(root2) || !isHashList(proof) || !isCount(size1) || !isCount(size2) || size1 > size2) return false;
  if (size1 === 0) return proof.length === 0 && root1.equals(emptyRoot()) && (size2 > 0 || root2.equals(root1));
  if (size1 === size2) return proof.length === 0 && root1.equals(root2);
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && fr.equals(root1) && sr.equals(root2);
}
