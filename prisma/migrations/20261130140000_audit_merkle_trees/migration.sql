-- A Merkle tree per audit chain (RFC 9162 hashing, docs/AUDIT_LOGGING.md "Merkle trees"): leaf i is
-- the record at sequence i + 1. Every complete aligned subtree is stored once, so any root or proof
-- is a handful of index lookups; the chain head keeps the right edge, so each batch extends the
-- tree under the same row lock that orders the chain. Rows are never updated or deleted: retention
-- drops records, never the nodes above them.
CREATE TABLE "audit_tree_nodes" (
    "chain_id" INTEGER NOT NULL,
    "level" SMALLINT NOT NULL,
    "idx" BIGINT NOT NULL,
    "hash" BYTEA NOT NULL,

    CONSTRAINT "audit_tree_nodes_pkey" PRIMARY KEY ("chain_id", "level", "idx")
);

-- "<tree size>:<base64url of the right edge's subtree roots>"; "0:" is the empty tree.
ALTER TABLE "audit_chain_heads" ADD COLUMN "tree_frontier" TEXT NOT NULL DEFAULT '0:';
