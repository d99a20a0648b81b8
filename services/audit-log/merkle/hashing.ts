/**
 * RFC 9162 §2.1.1 hashing for the audit log's Merkle trees. The 0x00/0x01 prefixes keep a leaf from ever
 * hashing like an interior node, so no one can present two records' hashes as a single record.
 */
import { hash } from 'node:crypto';

/** Length in bytes of every leaf, node and root hash (SHA-256). */
export const HASH_LENGTH = 32;

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);
const EMPTY_ROOT = sha256(Buffer.alloc(0));

// A digest Buffer owns its own ArrayBuffer, which makes a million of them slow to allocate and collect;
// the same bytes as a 'binary' (latin1) string, copied into Buffer's shared pool, cost a third of that.
function sha256(data: Buffer): Buffer {
  return Buffer.from(hash('sha256', data, 'binary'), 'binary');
}

/** Leaf hash of one record: SHA-256(0x00 ‖ data); a string is hashed as its UTF-8 bytes. */
export function leafHash(data: Buffer | string): Buffer {
  // A string hashes as its UTF-8 bytes, and U+0000 is the one byte 0x00: the prefix needs no copy.
  if (typeof data === 'string') return Buffer.from(hash('sha256', `\u0000${data}`, 'binary'), 'binary');
  return sha256(Buffer.concat([LEAF_PREFIX, data]));
}

/** Interior node hash: SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Buffer, right: Buffer): Buffer {
  return sha256(Buffer.concat([NODE_PREFIX, left, right]));
}

/** MTH of the empty tree: SHA-256 of no bytes. */
export function emptyRoot(): Buffer {
  return Buffer.from(EMPTY_ROOT);
}
