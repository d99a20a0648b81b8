import assert from 'node:assert/strict';
import { removeChains, sampleAuditEvents } from '../../test/support/audit-events.ts';
import { TEST_SECRETS, testInfra } from '../../test/support/infra.ts';
import { parseAuditKeyRing } from '../platform/config/index.ts';
import { createPrismaClient, type PrismaClient } from '../platform/db/client.ts';
import { Secret } from '../platform/secret.ts';
import { ensureAuditPartitions } from './audit-partitions.ts';
import { AUDIT_RECORD_COLUMNS, rowToAuditRecord, type AuditRecordRow } from './audit-records.ts';
import { createAuditKeyRing, signingInput, type AuditRecord } from './audit-signature.ts';
import { canonicalJson } from './canonical-json.ts';
import { createChainWriter, ensureChainHead } from './chain-writer.ts';
import { createFrontier } from './merkle/frontier.ts';
import { verifyConsistency, verifyInclusion } from './merkle/verify.ts';
import { createAuditProofs, ProofUnavailableError } from './proofs.ts';
import { leafDataFromSigningInput, recordLeafHash } from './record-leaf.ts';

const keyRing = createAuditKeyRing(parseAuditKeyRing(new Secret(TEST_SECRETS.AUDIT_LOG_SECRET_KEY)));
// A range no other test's chains use (verify-chain: 1,000 + …, digests: 1,100,000 + …).
const firstChainId = 200_000 + Math.floor(Math.random() * 1000) * 100;
let nextChainId = firstChainId;

describe('audit Merkle trees kept by the writer', () => {
  let prisma: PrismaClient;
  before(async () => {
    prisma = createPrismaClient(testInfra().databaseUrl);
    await ensureAuditPartitions(prisma);
  });
  after(async () => {
    await removeChains(prisma, firstChainId, nextChainId);
    await prisma.$disconnect();
  });

  /** A chain written in batches of uneven sizes, read back from PostgreSQL as stored. */
  async function chainOf(count: number): Promise<{ chainId: number; records: AuditRecord[] }> {
    const chainId = nextChainId++;
    await ensureChainHead(prisma, chainId);
    const writer = createChainWriter(prisma, keyRing, { chainId });
    const events = sampleAuditEvents(count);
    for (let i = 0, batch = 1; i < count; i += batch, batch = (batch % 9) + 1) await writer.write(events.slice(i, i + batch));
    return { chainId, records: await storedRecords(chainId) };
  }
  async function storedRecords(chainId: number): Promise<AuditRecord[]> {
    const rows = await prisma.$queryRawUnsafe<AuditRecordRow[]>(
      `SELECT ${AUDIT_RECORD_COLUMNS} FROM audit_logs WHERE chain_id = $1::int ORDER BY audit_logs.sequence`,
      chainId,
    );
    return rows.map(rowToAuditRecord);
  }
  const treeRoot = (records: AuditRecord[]) => {
    const frontier = createFrontier();
    frontier.appendAll(records.map(recordLeafHash));
    return frontier.root().toString('hex');
  };

  it('when a record is hashed into the tree, then its leaf data is the canonical JSON of the stored record, signature included', async () => {
    const { records } = await chainOf(12);
    for (const record of records) assert.equal(leafDataFromSigningInput(signingInput(record), record.signature), canonicalJson(record));
  });

  it('when batches are written, then the stored tree head is the root of every stored record, and every record has a proof that verifies', async () => {
    const { chainId, records } = await chainOf(137);
    const proofs = createAuditProofs(prisma);
    const head = await proofs.treeHead(chainId);
    assert.equal(head.tree_size, 137);
    assert.equal(head.root_hash, treeRoot(records));
    for (const record of records) {
      const proof = await proofs.inclusion(record.event_id);
      assert.equal(proof.leaf_index, record.sequence - 1);
      const path = proof.audit_path.map((h) => Buffer.from(h, 'hex'));
      assert.ok(
        verifyInclusion(recordLeafHash(record), proof.leaf_index, proof.tree_size, path, Buffer.from(head.root_hash, 'hex')),
        `record ${record.sequence}`,
      );
    }
    const older = await proofs.inclusion(records[40]!.event_id, 50);
    assert.equal(older.root_hash, treeRoot(records.slice(0, 50)), "a proof against an earlier tree size uses that size's root");
  });

  it('when two tree sizes are compared, then the consistency proof verifies, and fails against another root', async () => {
    const { chainId, records } = await chainOf(70);
    const proofs = createAuditProofs(prisma);
    for (const [first, second] of [
      [1, 70],
      [13, 64],
      [32, 33],
      [64, 70],
      [0, 5],
      [70, 70],
    ] as const) {
      const proof = await proofs.consistency(chainId, first, second);
      assert.equal(proof.first_root_hash, treeRoot(records.slice(0, first)));
      const path = proof.consistency_path.map((h) => Buffer.from(h, 'hex'));
      const roots = [Buffer.from(proof.first_root_hash, 'hex'), Buffer.from(proof.second_root_hash, 'hex')] as const;
      assert.ok(verifyConsistency(first, second, ...roots, path), `${first} → ${second}`);
      if (first > 0 && first < second) assert.ok(!verifyConsistency(first, second, Buffer.alloc(32, 7), roots[1], path));
    }
  });

  it('when a stored record is changed afterwards, then its recomputed leaf no longer proves against the tree head', async () => {
    const { chainId, records } = await chainOf(20);
    const proofs = createAuditProofs(prisma);
    const head = await proofs.treeHead(chainId);
    const target = records[6]!;
    const proof = await proofs.inclusion(target.event_id);
    await prisma.$executeRaw`UPDATE audit_logs SET action = 'forged' WHERE chain_id = ${chainId} AND sequence = ${target.sequence}`;
    const changed = (await storedRecords(chainId))[6]!;
    assert.equal(changed.action, 'forged');
    const path = proof.audit_path.map((h) => Buffer.from(h, 'hex'));
    assert.ok(!verifyInclusion(recordLeafHash(changed), proof.leaf_index, proof.tree_size, path, Buffer.from(head.root_hash, 'hex')));
  });

  it('when a chain has no tree yet (written before trees existed), then the writer start builds the same tree', async () => {
    const { chainId, records } = await chainOf(45);
    const before = await createAuditProofs(prisma).treeHead(chainId);
    await prisma.$executeRaw`DELETE FROM audit_tree_nodes WHERE chain_id = ${chainId}`;
    await prisma.$executeRaw`UPDATE audit_chain_heads SET tree_frontier = '0:' WHERE chain_id = ${chainId}`;
    await ensureChainHead(prisma, chainId);
    const after = await createAuditProofs(prisma).treeHead(chainId);
    assert.deepEqual(after, before);
    assert.equal(after.root_hash, treeRoot(records));
    const writer = createChainWriter(prisma, keyRing, { chainId });
    await writer.write(sampleAuditEvents(3));
    assert.equal((await createAuditProofs(prisma).treeHead(chainId)).root_hash, treeRoot(await storedRecords(chainId)));
  });

  it('when a proof is asked past the tree or for an unknown event, then it is refused with its reason', async () => {
    const { chainId, records } = await chainOf(5);
    const proofs = createAuditProofs(prisma);
    await assert.rejects(proofs.inclusion(records[4]!.event_id, 4), (err) => err instanceof ProofUnavailableError && err.reason === 'tree_size_out_of_range');
    await assert.rejects(proofs.consistency(chainId, 2, 6), (err) => err instanceof ProofUnavailableError && err.reason === 'tree_size_out_of_range');
    await assert.rejects(
      proofs.inclusion('00000000-0000-4000-8000-000000000000'),
      (err) => err instanceof ProofUnavailableError && err.reason === 'no_such_event',
    );
  });
});
