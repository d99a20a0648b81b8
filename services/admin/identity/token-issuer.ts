import { randomUUID, sign, type KeyObject, type SignKeyObjectInput } from 'node:crypto';
import type { JwtAlgorithm, JwtConfig } from '../../platform/config/index.ts';
import type { ServiceAccount } from './service-account-store.ts';

export interface SigningKey {
  kid: string;
  alg: JwtAlgorithm;
  privateKey: KeyObject;
}

export interface AccessToken {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

/** The digest and key options node:crypto signs a JWS with, per algorithm (RFC 7518 §3). */
function signingInput(key: SigningKey): { digest: string | null; key: KeyObject | SignKeyObjectInput } {
  switch (key.alg) {
    case 'RS256':
      return { digest: 'sha256', key: key.privateKey };
    // JWS carries the raw r‖s pair, not the DER sequence OpenSSL gives by default.
    case 'ES256':
      return { digest: 'sha256', key: { key: key.privateKey, dsaEncoding: 'ieee-p1363' } };
    case 'EdDSA':
      return { digest: null, key: key.privateKey };
  }
}

/**
 * A JWS compact serialization signed by node:crypto on libuv's thread pool. Not jose's SignJWT: it
 * signs through WebCrypto, whose per-call work on the event loop (algorithm normalization, CryptoKey
 * checks, promise plumbing) is a tenth of a token's cost there; the signature itself is the same
 * OpenSSL call either way. Verifiers still use jose.
 */
function signJws(header: object, payload: object, key: SigningKey): Promise<string> {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const { digest, key: signingKey } = signingInput(key);
  return new Promise((resolve, reject) => {
    sign(digest, Buffer.from(input), signingKey, (err, signature) => (err ? reject(err) : resolve(`${input}.${signature.toString('base64url')}`)));
  });
}

/** A short-lived access token: iss, sub, aud, iat, nbf, exp, jti, role and client_id; header kid. */
export async function issueAccessToken(
  account: Pick<ServiceAccount, 'id' | 'clientId' | 'role'>,
  key: SigningKey,
  jwt: JwtConfig,
  now = new Date(),
  notBefore?: number,
): Promise<{ token: AccessToken; jti: string }> {
  // Verifiers refuse an iat before the account's not-before (epoch ms), and iat has whole seconds:
  // a token issued in the very second of a revocation is stamped with the next second instead.
  const iat = Math.max(Math.floor(now.getTime() / 1000), notBefore === undefined ? 0 : Math.ceil(notBefore / 1000));
  const jti = randomUUID();
  const claims = {
    role: account.role,
    client_id: account.clientId,
    iss: jwt.issuer,
    sub: account.id,
    aud: jwt.audience,
    iat,
    nbf: iat,
    exp: iat + jwt.accessTokenTtlSeconds,
    jti,
  };
  const accessToken = await signJws({ alg: key.alg, kid: key.kid, typ: 'JWT' }, claims, key);
  return { token: { access_token: accessToken, token_type: 'Bearer', expires_in: jwt.accessTokenTtlSeconds }, jti };
}
