import assert from 'node:assert/strict';
import { docBlock } from '../../../test/support/doc-blocks.ts';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { auditDigestSchema, digestLine, digestSignatureValid, digestSigningInput, signDigest, type AuditDigest } from './digest-format.ts';
import type { DigestJwk } from './digest-keys.ts';
import { verifyDigestChain } from './digest-verification.ts';

const auditDoc = (name: string) => docBlock('AUDIT_LOGGING.md', name);

describe('audit digest format', () => {
  const example = JSON.parse(auditDoc('audit-digest-example')) as AuditDigest;
  const jwk = JSON.parse(auditDoc('audit-digest-example-key')) as DigestJwk;
  const publicKey = createPublicKey({ key: { kty: jwk.kty!, crv: jwk.crv!, x: jwk.x! }, format: 'jwk' });

  it("when the docs' worked example is checked, then the code builds the documented signing input and the published key verifies it", () => {
    assert.equal(digestSigningInput(example).toString('utf8'), auditDoc('audit-digest-example-signing-input'));
    assert.ok(auditDigestSchema.safeParse(example).success);
    assert.equal(digestSignatureValid(example, publicKey), true);
    assert.deepEqual(verifyDigestChain([example], [jwk]).problems, []);
  });

  it('when any member of the example changes, then its signature no longer verifies', () => {
    const changes: Partial<Record<keyof AuditDigest, unknown>> = {
      version: 2,
      chain_id: 1,
      tree_size: 43,
      root_hash: '0'.repeat(64),
      first_sequence: 40,
      last_sequence: 41,
      last_signature: 'f'.repeat(64),
      issued_at: '2026-11-30T18:38:12.505Z',
      previous_signature: null,
      key_id: 'another-key',
    };
    for (const [member, value] of Object.entries(changes)) {
      assert.equal(digestSignatureValid({ ...example, [member]: value } as AuditDigest, publicKey), false, member);
    }
    assert.equal(digestSignatureValid({ ...example, signature: `${example.signature.slice(0, -2)}AA` }, publicKey), false);
  });

  it('when a digest is signed, then its line is its canonical JSON, which parses back to the same digest', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const { signature: _s, key_id: _k, ...content } = example;
    const digest = signDigest(
      { ...content, kind: 'anchor', anchor_sequence: 7, anchor_signature: 'a'.repeat(64), anchor_recorded_at: example.issued_at },
      {
        kid: 'k',
        privateKey,
      },
    );
    assert.deepEqual(auditDigestSchema.parse(JSON.parse(digestLine(digest))), digest);
    assert.ok(digestLine(digest).startsWith('{"anchor_recorded_at":'), 'members in RFC 8785 order');
    assert.equal(auditDigestSchema.safeParse({ ...digest, kind: 'tree' }).success, false, 'a tree digest has no anchor members');
  });
});
