import assert from 'node:assert/strict';
import { createSecretKey, randomBytes } from 'node:crypto';
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import type { JwtAlgorithm } from '../../platform/config/index.ts';
import { generateKeyMaterial, privateKeyFrom } from '../../signing-keys/key-crypto.ts';
import { testConfig } from '../../../test/support/infra.ts';
import { issueAccessToken } from './token-issuer.ts';

const account = { id: '0b7f3a52-8f0e-4a57-9d8e-0c6d1d7f9a11', clientId: 'issuer-test', role: 'ingester' as const };

describe('access tokens as issued', () => {
  for (const algorithm of ['RS256', 'ES256', 'EdDSA'] as const satisfies readonly JwtAlgorithm[]) {
    it(`when a token is signed with an ${algorithm} key, then jose verifies it with the published key and reads every claim`, async () => {
      const kek = createSecretKey(randomBytes(32));
      const material = await generateKeyMaterial(algorithm, kek);
      const jwt = testConfig('admin').jwt;
      const now = new Date('2026-11-30T12:00:00.400Z');
      const { token, jti } = await issueAccessToken(
        account,
        { kid: material.kid, alg: algorithm, privateKey: privateKeyFrom(material.encryptedPrivateKey, material.kid, kek) },
        jwt,
        now,
      );
      assert.deepEqual(decodeProtectedHeader(token.access_token), { alg: algorithm, kid: material.kid, typ: 'JWT' });
      const { payload } = await jwtVerify(token.access_token, await importJWK(material.publicJwk, algorithm), {
        issuer: jwt.issuer,
        audience: jwt.audience,
        algorithms: [algorithm],
        currentDate: now,
      });
      const iat = Math.floor(now.getTime() / 1000);
      assert.deepEqual(payload, {
        role: 'ingester',
        client_id: 'issuer-test',
        iss: jwt.issuer,
        sub: account.id,
        aud: jwt.audience,
        iat,
        nbf: iat,
        exp: iat + jwt.accessTokenTtlSeconds,
        jti,
      });
      assert.deepEqual({ token_type: token.token_type, expires_in: token.expires_in }, { token_type: 'Bearer', expires_in: jwt.accessTokenTtlSeconds });
    });
  }

  it("when the account's not-before is later in the same second, then iat and nbf are the next whole second", async () => {
    const kek = createSecretKey(randomBytes(32));
    const material = await generateKeyMaterial('ES256', kek);
    const now = new Date('2026-11-30T12:00:00.400Z');
    const { token } = await issueAccessToken(
      account,
      { kid: material.kid, alg: 'ES256', privateKey: privateKeyFrom(material.encryptedPrivateKey, material.kid, kek) },
      testConfig('admin').jwt,
      now,
      now.getTime() + 200,
    );
    const { payload } = await jwtVerify(token.access_token, await importJWK(material.publicJwk, 'ES256'), { currentDate: new Date(now.getTime() + 1000) });
    assert.equal(payload.iat, Math.floor(now.getTime() / 1000) + 1);
    assert.equal(payload.nbf, payload.iat);
  });
});
