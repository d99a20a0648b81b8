import assert from 'node:assert/strict';
import { createSecretKey, randomBytes } from 'node:crypto';
import { importJWK, jwtVerify, SignJWT } from 'jose';
import type { JwtAlgorithm } from '../platform/config/index.ts';
import { emptyKeyTable, keyTestContext, restoreDefaultKeys } from '../../test/support/signing-keys.ts';
import { decryptPrivateKey, generateKeyMaterial, KeyDecryptionError, privateKeyFrom } from './key-crypto.ts';
import { ensureSigningKeys } from './key-lifecycle.ts';

const otherKek = () => createSecretKey(randomBytes(32));

describe('signing keys at rest', () => {
  let ctx: ReturnType<typeof keyTestContext>;
  before(() => {
    ctx = keyTestContext();
  });
  after(async () => {
    await ctx.close();
    await restoreDefaultKeys();
  });

  it('when keys are stored, then the private_key column holds v1 AES-GCM ciphertext, never a PEM or a JWK', async () => {
    await emptyKeyTable(ctx.prisma);
    await ensureSigningKeys({ ...ctx, policy: { ...ctx.policy, algorithm: 'RS256' } });
    const rows = await ctx.prisma.jwtKey.findMany();
    assert.equal(rows.length, 2);
    for (const row of rows) {
      assert.match(row.privateKey, /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
      assert.doesNotMatch(row.privateKey, /BEGIN|PRIVATE|"d"/);
      assert.doesNotMatch(row.publicKey, /"(d|p|q|dp|dq|qi)"/, 'the public JWK carries no private parameters');
      assert.ok(privateKeyFrom(row.privateKey, row.version, ctx.kek).asymmetricKeyType, 'the right KEK opens it');
    }
  });

  it('when the key encryption key is wrong, then decryption fails with a clear error naming the kid', async () => {
    const material = await generateKeyMaterial('ES256', ctx.kek);
    assert.throws(
      () => decryptPrivateKey(material.encryptedPrivateKey, material.kid, otherKek()),
      (err: unknown) =>
        err instanceof KeyDecryptionError &&
        err.code === 'ERR_JWT_KEY_DECRYPTION' &&
        err.message.includes(material.kid) &&
        /JWT_KEY_ENCRYPTION_KEY/.test(err.message),
    );
  });

  it('when a ciphertext is moved to another key row, then it does not decrypt there', async () => {
    const [a, b] = await Promise.all([generateKeyMaterial('ES256', ctx.kek), generateKeyMaterial('ES256', ctx.kek)]);
    assert.throws(() => decryptPrivateKey(a.encryptedPrivateKey, b.kid, ctx.kek), KeyDecryptionError);
    const parts = a.encryptedPrivateKey.split('.');
    const body = parts[3]!;
    parts[3] = `${body.slice(0, 10)}${body[10] === 'A' ? 'B' : 'A'}${body.slice(11)}`;
    const tampered = parts.join('.');
    assert.throws(() => decryptPrivateKey(tampered, a.kid, ctx.kek), KeyDecryptionError);
  });

  for (const algorithm of ['RS256', 'ES256', 'EdDSA'] as JwtAlgorithm[]) {
    it(`when an ${algorithm} key is generated, then its decrypted private key signs a token its published JWK verifies`, async () => {
      const material = await generateKeyMaterial(algorithm, ctx.kek);
      assert.equal(material.publicJwk.kid, material.kid);
      assert.equal(material.publicJwk.alg, algorithm);
      const token = await new SignJWT({ sub: 'x' })
        .setProtectedHeader({ alg: algorithm, kid: material.kid })
        .sign(privateKeyFrom(material.encryptedPrivateKey, material.kid, ctx.kek));
      const { protectedHeader } = await jwtVerify(token, await importJWK(material.publicJwk, algorithm));
      assert.equal(protectedHeader.kid, material.kid);
    });
  }
});
