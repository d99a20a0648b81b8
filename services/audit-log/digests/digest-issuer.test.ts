import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { digestTestContext, publicKeyFor } from '../../../test/support/audit-digests.ts';
import type { AuditRecord } from '../audit-signature.ts';
import { createFrontier } from '../merkle/frontier.ts';
import { createAuditProofs } from '../proofs.ts';
import { recordLeafHash } from '../record-leaf.ts';
import { canonicalJson } from '../canonical-json.ts';
import { digestSigningInput, signDigest, type AuditDigest } from './digest-format.ts';
import { DigestRefusedError, issueTreeDigest } from './digest-issuer.ts';
import { publishedDigestKeys } from './digest-keys.ts';
import { verifyDigestChain } from './digest-verification.ts';

const policy = { everyMs: 1000, maxSilenceMs: 60_000 };

describe('signed audit digests', () => {
  let ctx: Awaited<ReturnType<typeof digestTestContext>>;
  before(async () => {
    ctx = await digestTestContext();
  });
  after(() => ctx.close());

  const issue = (chainId: number, now?: Date) => issueTreeDigest(ctx.prisma, ctx.kek, chainId, policy, now);

  it('when a chain grows, then each digest verifies with the published key, names the one before and holds the tree head at its size', async () => {
    const chain = await ctx.chain();
    const written = [...(await chain.write(5))];
    const first = await issue(chain.chainId);
    written.push(...(await chain.write(3)), ...(await chain.write(4)));
    const second = await issue(chain.chainId);
    assert.ok(first && second);

    const jwks = await publishedDigestKeys(ctx.prisma);
    const proofs = createAuditProofs(ctx.prisma);
    for (const digest of [first, second]) {
      const publicKey = publicKeyFor(jwks, digest.key_id);
      assert.ok(publicKey, `key ${digest.key_id} is published`);
      const { signature, ...signed } = digest;
      assert.ok(verify(null, Buffer.from(canonicalJson(signed), 'utf8'), publicKey, Buffer.from(signature, 'base64url')), 'Ed25519 over the canonical JSON');
      const head = await proofs.treeHead(chain.chainId, digest.tree_size);
      assert.equal(digest.root_hash, head.root_hash);
      assert.equal(digest.last_signature, written[digest.last_sequence - 1]!.signature);
    }
    assert.deepEqual([first.kind, first.tree_size, first.first_sequence, first.last_sequence, first.previous_signature], ['tree', 5, 1, 5, null]);
    assert.deepEqual([second.tree_size, second.first_sequence, second.last_sequence, second.previous_signature], [12, 6, 12, first.signature]);
    assert.deepEqual(await ctx.digests(chain.chainId), [first, second]);
    assert.deepEqual(verifyDigestChain([first, second], jwks.keys, { fromFirst: true }), { ok: true, checked: 2, problems: [] });
  });

  it('when nothing was written since the last digest, then a run adds nothing until the chain is about to fall silent too long', async () => {
    const chain = await ctx.chain();
    assert.equal(await issue(chain.chainId), undefined, 'an empty chain has nothing to attest');
    await chain.write(2);
    const first = (await issue(chain.chainId))!;
    assert.equal(await issue(chain.chainId), undefined, 'a duplicate job adds nothing');
    const issuedAt = Date.parse(first.issued_at);
    assert.equal(await issue(chain.chainId, new Date(issuedAt + policy.maxSilenceMs - policy.everyMs - 10)), undefined);
    const idle = await issue(chain.chainId, new Date(issuedAt + policy.maxSilenceMs - policy.everyMs + 10));
    assert.ok(idle, 'a digest before the silence would exceed AUDIT_DIGEST_MAX_SILENCE_MS');
    assert.deepEqual(
      [idle.tree_size, idle.root_hash, idle.first_sequence, idle.last_sequence, idle.previous_signature],
      [2, first.root_hash, 3, 2, first.signature],
    );
    assert.equal(verifyDigestChain(await ctx.digests(chain.chainId), (await publishedDigestKeys(ctx.prisma)).keys, { fromFirst: true }).ok, true);
  });

  it('when an inclusion proof is asked, then it is against the latest signed digest that covers the record, or says none does', async () => {
    const chain = await ctx.chain();
    const proofs = createAuditProofs(ctx.prisma);
    const early = await chain.write(3);
    assert.deepEqual([(await proofs.inclusion(early[0]!.event_id)).signed_tree_head, (await proofs.inclusion(early[0]!.event_id)).tree_size], [null, 3]);
    const digest = (await issue(chain.chainId))!;
    const late = await chain.write(4);
    const covered = await proofs.inclusion(early[1]!.event_id);
    assert.deepEqual([covered.signed_tree_head, covered.tree_size, covered.root_hash], [digest, 3, digest.root_hash]);
    const uncovered = await proofs.inclusion(late[0]!.event_id);
    assert.deepEqual([uncovered.signed_tree_head, uncovered.tree_size], [null, 7]);
    assert.equal((await proofs.inclusion(early[1]!.event_id, 7)).signed_tree_head, null, 'no digest was signed at size 7');
    assert.deepEqual((await proofs.inclusion(early[1]!.event_id, 3)).signed_tree_head, digest);
  });

  it('when issuers race on one chain, then one digest follows the last and the digests never fork', async () => {
    const chain = await ctx.chain();
    await chain.write(3);
    const results = await Promise.all(Array.from({ length: 6 }, () => issue(chain.chainId)));
    assert.equal(results.filter(Boolean).length, 1);
    await chain.write(1);
    await Promise.all(Array.from({ length: 6 }, () => issue(chain.chainId)));
    const digests = await ctx.digests(chain.chainId);
    assert.deepEqual(
      digests.map((d) => d.tree_size),
      [3, 4],
    );
    // The keys refuse a second successor of the same digest even past the lock.
    const forked = { ...digests[1]!, tree_size: 5 };
    await assert.rejects(
      ctx.prisma.$executeRaw`INSERT INTO audit_digests (chain_id, seq, kind, tree_size, last_sequence, issued_at, key_id, signature, previous_signature, body)
        VALUES (${chain.chainId}, 3, 'tree', 5, 5, now(), ${forked.key_id}, ${'x'.repeat(86)}, ${digests[0]!.signature}, '{}')`,
      /audit_digests_one_successor|unique/i,
    );
  });

  it('when a digest is altered or signed by a key that is not published, then verification names it', async () => {
    const chain = await ctx.chain();
    await chain.write(4);
    const first = (await issue(chain.chainId))!;
    await chain.write(2);
    const second = (await issue(chain.chainId))!;
    await chain.write(1);
    const third = (await issue(chain.chainId))!;
    const { keys } = await publishedDigestKeys(ctx.prisma);
    const kinds = (digests: unknown[]) => verifyDigestChain(digests, keys, { fromFirst: true }).problems.map((p) => `${p.index}:${p.kind}`);

    assert.deepEqual(kinds([first, { ...second, tree_size: 7 }, third]), ['1:bad_signature', '2:broken_link']);
    assert.deepEqual(kinds([first, { ...second, root_hash: first.root_hash }, third]), ['1:bad_signature', '2:broken_link']);
    assert.deepEqual(kinds([first, { ...second, note: 'extra' }, third]), ['1:malformed', '2:broken_link']);
    assert.deepEqual(kinds([first, third]), ['1:broken_link'], 'a digest left out');
    assert.deepEqual(kinds([second, first, third]), ['0:broken_link', '1:broken_link', '1:tree_rewritten', '2:broken_link']);

    // An attacker's own Ed25519 key, claiming a published kid or its own.
    const { privateKey } = generateKeyPairSync('ed25519');
    const { signature: _s, key_id: _k, ...content } = second;
    const forgedUnderPublishedKid = signDigest({ ...content, tree_size: 6 }, { kid: second.key_id, privateKey });
    const forgedUnderOwnKid = signDigest(content, { kid: 'attacker-key', privateKey });
    assert.deepEqual(kinds([first, forgedUnderPublishedKid]), ['1:bad_signature']);
    assert.deepEqual(kinds([first, forgedUnderOwnKid]), ['1:unknown_key']);
    // The same signature bytes verify only over the same canonical input.
    assert.notDeepEqual(digestSigningInput(second), digestSigningInput({ ...second, issued_at: first.issued_at } as AuditDigest));
  });

  it('when the head is moved back, or the tree changed under a signed size, then no digest is signed over it', async () => {
    const chain = await ctx.chain();
    const records = await chain.write(6);
    await issue(chain.chainId);
    const refusal = async () => {
      const err = await issue(chain.chainId).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof DigestRefusedError, String(err));
      return err.reason;
    };
    const setHead = (records: AuditRecord[], leaves: Buffer[]) => {
      const frontier = createFrontier();
      frontier.appendAll(leaves);
      return ctx.prisma.$executeRaw`UPDATE audit_chain_heads SET sequence = ${records.length}, signature = ${records.at(-1)!.signature},
        tree_frontier = ${frontier.serialize()} WHERE chain_id = ${chain.chainId}`;
    };
    const leaves = records.map(recordLeafHash);

    // Truncation with a consistent head and frontier: four records, below the six already signed.
    await setHead(records.slice(0, 4), leaves.slice(0, 4));
    assert.equal(await refusal(), 'tree_shrank');
    // A rewritten record at the signed size: same size, another root.
    await setHead(records, [...leaves.slice(0, 5), randomBytes(32)]);
    assert.equal(await refusal(), 'root_changed');
    // A frontier that does not match the record count.
    await setHead(records.slice(0, 5), leaves);
    assert.equal(await refusal(), 'tree_behind_chain');
    // The head restored, the tree grows, but a stored node was rewritten.
    await setHead(records, leaves);
    await chain.write(2);
    await ctx.prisma.$executeRaw`UPDATE audit_tree_nodes SET hash = sha256('forged'::bytea) WHERE chain_id = ${chain.chainId} AND level = 3 AND idx = 0`;
    assert.equal(await refusal(), 'nodes_disagree');
    assert.equal((await ctx.digests(chain.chainId)).length, 1, 'nothing was signed after the first digest');
  });
});
