import assert from 'node:assert/strict';
import { docBlock } from '../../test/support/doc-blocks.ts';
import { parseAuditKeyRing } from '../platform/config/index.ts';
import { Secret } from '../platform/secret.ts';
import { createAuditKeyRing, SIGNED_FIELDS, signingInput, signingInputTemplate, type AuditRecord, type UnsignedAuditRecord } from './audit-signature.ts';

const auditDoc = (name: string) => docBlock('AUDIT_LOGGING.md', name);

describe('audit record signature', () => {
  const example = JSON.parse(auditDoc('audit-example-record')) as UnsignedAuditRecord;
  const keyRing = createAuditKeyRing(parseAuditKeyRing(new Secret(auditDoc('audit-example-key').trim())));

  it("when the docs' worked example is signed with its key, then the code computes the documented input and signature", () => {
    assert.equal(signingInput(example), auditDoc('audit-example-signing-input'));
    assert.equal(keyRing.sign(example), auditDoc('audit-example-signature').trim());
  });

  it('when the writer fills the chain members into a prepared template, then the input is the same as signing the whole record', () => {
    const { chain_id, sequence, prev_signature, key_id, recorded_at, ...event } = example;
    const template = signingInputTemplate(event);
    assert.equal(template({ chain_id, sequence, prev_signature, key_id, recorded_at }), signingInput(example));
    const first = { chain_id: 3, sequence: 1, prev_signature: null, key_id: 'k2026', recorded_at: '2027-01-01T00:00:00.000Z' };
    assert.equal(template(first), signingInput({ ...example, ...first }));
  });

  it('when a record is signed, then all 20 fields but the signature are covered, and nothing else', () => {
    assert.deepEqual(Object.keys(JSON.parse(signingInput(example))).sort(), [...SIGNED_FIELDS].sort());
    assert.equal(SIGNED_FIELDS.length, 20);
    const withExtra = { ...example, signature: 'f'.repeat(64), surplus: 1 } as unknown as UnsignedAuditRecord;
    assert.equal(signingInput(withExtra), signingInput(example));
  });

  it('when any signed field of the example changes, then its signature no longer verifies', () => {
    const record: AuditRecord = { ...example, signature: keyRing.sign(example) };
    assert.equal(keyRing.check(record), 'valid');
    const changed: Partial<Record<(typeof SIGNED_FIELDS)[number], unknown>> = {
      event_id: '0b7e4f0e-6a53-4d4c-9c1e-2f6f0c5b8a12',
      event_type: 'file_delete',
      event_category: 'security',
      timestamp: '2026-11-28T09:15:30.124Z',
      user_id: 'u',
      service_account_id: null,
      ip_address: '203.0.113.8',
      user_agent: 'curl/8.5.1',
      resource_type: 'folder',
      resource_id: 'f-43',
      action: 'delete',
      status: 'failure',
      details: { ...example.details, size: 1048577 },
      source: 'query',
      request_id: null,
      chain_id: 1,
      sequence: 43,
      prev_signature: null,
      recorded_at: '2026-11-28T09:15:30.188Z',
    };
    for (const [field, value] of Object.entries(changed)) {
      assert.equal(keyRing.check({ ...record, [field]: value }), 'invalid', field);
    }
    assert.equal(keyRing.check({ ...record, key_id: 'other' }), 'unknown_key');
  });

  it('when the ring is rotated, then the first key signs and older keys still verify their records', () => {
    const old = createAuditKeyRing(parseAuditKeyRing(new Secret(`old:${'o'.repeat(40)}`)));
    const oldRecord = { ...example, key_id: 'old' };
    const signedByOld: AuditRecord = { ...oldRecord, signature: old.sign(oldRecord) };
    const rotated = createAuditKeyRing(parseAuditKeyRing(new Secret(`new:${'n'.repeat(40)},old:${'o'.repeat(40)}`)));
    assert.equal(rotated.signingKeyId, 'new');
    assert.equal(rotated.check(signedByOld), 'valid');
    assert.throws(() => rotated.sign(oldRecord), /names key old, but new signs/);
  });
});
