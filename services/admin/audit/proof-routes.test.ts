import assert from 'node:assert/strict';
import { removeChains, sampleAuditEvents } from '../../../test/support/audit-events.ts';
import { isolatedPrefix, testConfig, testInfra } from '../../../test/support/infra.ts';
import { MODULES } from '../../../test/support/modules.ts';
import { accountWithToken, adminToken } from '../../../test/support/tokens.ts';
import { createAuditKeyRing } from '../../audit-log/audit-signature.ts';
import { createChainWriter, ensureChainHead } from '../../audit-log/chain-writer.ts';
import { verifyConsistency, verifyInclusion } from '../../audit-log/merkle/verify.ts';
import type { ConsistencyProof, InclusionProof, TreeHead } from '../../audit-log/proofs.ts';
import { recordLeafHash } from '../../audit-log/record-leaf.ts';
import { createPrismaClient, type PrismaClient } from '../../platform/db/client.ts';
import type { RunningService } from '../../platform/runtime.ts';

describe('GET /api/v1/audit/proofs/… and /api/v1/audit/tree-head', () => {
  let admin: RunningService;
  let prisma: PrismaClient;
  let bearer: string;
  const chainId = 900_000 + Math.floor(Math.random() * 10_000);
  const records: Awaited<ReturnType<ReturnType<typeof createChainWriter>['write']>>['stored'] = [];

  before(async function () {
    this.timeout(30_000);
    admin = await MODULES.admin(testConfig('admin', { BULLMQ_PREFIX: isolatedPrefix('proofs') }));
    prisma = createPrismaClient(testInfra().databaseUrl);
    bearer = await adminToken(admin.url);
    await ensureChainHead(prisma, chainId);
    const writer = createChainWriter(prisma, createAuditKeyRing(testConfig('audit-writer').auditKeys), { chainId });
    for (let i = 0; i < 3; i++) records.push(...(await writer.write(sampleAuditEvents(7))).stored);
  });
  after(async () => {
    await removeChains(prisma, chainId, chainId + 1);
    await prisma.$disconnect();
    await admin.stop();
  });

  const get = (path: string, token = bearer) => fetch(`${admin.url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  const hashes = (hex: string[]) => hex.map((h) => Buffer.from(h, 'hex'));

  it("when an admin asks for a record's inclusion proof, then it verifies against the tree head an auditor reads", async () => {
    const head = (await (await get(`/api/v1/audit/tree-head?chain_id=${chainId}`)).json()) as TreeHead;
    assert.equal(head.tree_size, 21);
    const target = records[9]!;
    const res = await get(`/api/v1/audit/proofs/inclusion?event_id=${target.event_id}`);
    assert.equal(res.status, 200);
    const proof = (await res.json()) as InclusionProof;
    assert.deepEqual([proof.chain_id, proof.leaf_index, proof.tree_size, proof.root_hash], [chainId, 9, 21, head.root_hash]);
    assert.ok(verifyInclusion(recordLeafHash(target), proof.leaf_index, proof.tree_size, hashes(proof.audit_path), Buffer.from(head.root_hash, 'hex')));
  });

  it('when an auditor kept an earlier tree head, then the consistency proof shows the tree only grew', async () => {
    const early = (await (await get(`/api/v1/audit/tree-head?chain_id=${chainId}&tree_size=7`)).json()) as TreeHead;
    const res = await get(`/api/v1/audit/proofs/consistency?chain_id=${chainId}&first=7&second=21`);
    const proof = (await res.json()) as ConsistencyProof;
    assert.equal(proof.first_root_hash, early.root_hash);
    assert.ok(verifyConsistency(7, 21, Buffer.from(early.root_hash, 'hex'), Buffer.from(proof.second_root_hash, 'hex'), hashes(proof.consistency_path)));
  });

  it("when the request is wrong or not an admin's, then it is a JSON 400, 404, 401 or 403", async () => {
    const reader = await accountWithToken(admin.url, bearer, 'reader');
    assert.equal((await get(`/api/v1/audit/tree-head?chain_id=${chainId}`, reader.token)).status, 403);
    assert.equal((await fetch(`${admin.url}/api/v1/audit/proofs/inclusion?event_id=${records[0]!.event_id}`)).status, 401);
    assert.equal((await get('/api/v1/audit/proofs/inclusion?event_id=not-a-uuid')).status, 400);
    assert.equal((await get('/api/v1/audit/proofs/inclusion?event_id=00000000-0000-4000-8000-000000000000')).status, 404);
    assert.equal((await get(`/api/v1/audit/proofs/consistency?chain_id=${chainId}&first=5&second=99`)).status, 400);
    assert.equal((await get(`/api/v1/audit/proofs/inclusion?event_id=${records[15]!.event_id}&tree_size=10`)).status, 400);
    const body = (await (await get('/api/v1/audit/tree-head?chain_id=%00')).json()) as { error: { code: string } };
    assert.equal(body.error.code, 'invalid_request');
  });
});
