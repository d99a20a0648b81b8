/**
 * Whether a chain's retention anchor (audit_chain_heads.anchor_*) is the one a signed `anchor`
 * digest records. Retention moves the anchor only together with such a digest, so an anchor someone
 * wrote into the head row to hide deleted records has none: a verifier reports it instead of
 * starting the chain there. The digest's signature is checked with the published digest keys.
 */
import type { PrismaClient } from '../../platform/db/client.ts';
import { auditDigestSchema, type AnchorDigest } from './digest-format.ts';
import { publishedDigestKeys } from './digest-keys.ts';
import { verifyDigestChain } from './digest-verification.ts';

export type AnchorAttestation =
  | { status: 'no_anchor' }
  | { status: 'attested'; digest: AnchorDigest }
  /** An anchor without a validly signed anchor digest of the same record. */
  | { status: 'unattested'; anchorSequence: number };

export async function anchorAttestation(prisma: PrismaClient, chainId: number): Promise<AnchorAttestation> {
  const [head] = await prisma.$queryRaw<{ anchor_sequence: bigint; anchor_signature: string | null; anchor_recorded_at: Date | null }[]>`
    SELECT anchor_sequence, anchor_signature, anchor_recorded_at FROM audit_chain_heads WHERE chain_id = ${chainId}`;
  if (!head || head.anchor_sequence === 0n) return { status: 'no_anchor' };
  const rows = await prisma.$queryRaw<{ body: string }[]>`
    SELECT body FROM audit_digests WHERE chain_id = ${chainId} AND kind = 'anchor' ORDER BY seq DESC`;
  const { keys } = await publishedDigestKeys(prisma);
  for (const { body } of rows) {
    const parsed = auditDigestSchema.safeParse(JSON.parse(body));
    if (!parsed.success || parsed.data.kind !== 'anchor') continue;
    const digest = parsed.data;
    const same =
      digest.anchor_sequence === Number(head.anchor_sequence) &&
      digest.anchor_signature === head.anchor_signature &&
      digest.anchor_recorded_at === head.anchor_recorded_at?.toISOString();
    if (same && verifyDigestChain([digest], keys).ok) return { status: 'attested', digest };
  }
  return { status: 'unattested', anchorSequence: Number(head.anchor_sequence) };
}
