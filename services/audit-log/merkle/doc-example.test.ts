import assert from 'node:assert/strict';
import { docBlock } from '../../../test/support/doc-blocks.ts';
import { signingInput, type UnsignedAuditRecord } from '../audit-signature.ts';
import { leafDataFromSigningInput } from '../record-leaf.ts';
import { createFrontier } from './frontier.ts';
import { leafHash } from './hashing.ts';
import { assemble, planInclusionProof } from './tree.ts';
import { verifyInclusion } from './verify.ts';

const auditDoc = (name: string) => docBlock('AUDIT_LOGGING.md', name);

describe("the Merkle tree's worked example in docs/AUDIT_LOGGING.md", () => {
  it('when the documented record is hashed and proven, then the code computes the documented leaf, path and root', () => {
    const record = JSON.parse(auditDoc('audit-example-record')) as UnsignedAuditRecord;
    const data = leafDataFromSigningInput(signingInput(record), auditDoc('audit-example-signature').trim());
    assert.equal(data, auditDoc('merkle-example-leaf-data'));
    const leaf = leafHash(data);
    assert.equal(leaf.toString('hex'), auditDoc('merkle-example-leaf-hash').trim());

    const leaves = [leafHash('a'), leafHash('b'), leaf, leafHash('d'), leafHash('e')];
    const nodes = new Map(
      createFrontier()
        .appendAll(leaves)
        .map((n) => [`${n.level}:${n.index}`, n.hash]),
    );
    const path = assemble(planInclusionProof(2, 5), (level, index) => nodes.get(`${level}:${index}`));
    assert.deepEqual(
      path.map((h) => h.toString('hex')),
      auditDoc('merkle-example-audit-path').trim().split('\n'),
    );
    const root = Buffer.from(auditDoc('merkle-example-root').trim(), 'hex');
    const frontier = createFrontier();
    frontier.appendAll(leaves);
    assert.deepEqual(frontier.root(), root);
    assert.ok(verifyInclusion(leaf, 2, 5, path, root));
  });
});
