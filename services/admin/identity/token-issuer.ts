import { randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
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

/** A short-lived access token: iss, sub, aud, iat, nbf, exp, jti, role and client_id; header kid. */
export async function issueAccessToken(account: ServiceAccount, key: SigningKey, jwt: JwtConfig, now = new Date(), notBefore?: number): Promise<AccessToken> {
  // Verifiers refuse an iat before the account's not-before (epoch ms), and iat has whole seconds:
  // a token issued in the very second of a revocation is stamped with the next second instead.
  const iat = Math.max(Math.floor(now.getTime() / 1000), notBefore === undefined ? 0 : Math.ceil(notBefore / 1000));
  const accessToken = await new SignJWT({ role: account.role, client_id: account.clientId })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .setIssuer(jwt.issuer)
    .setSubject(account.id)
    .setAudience(jwt.audience)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + jwt.accessTokenTtlSeconds)
    .setJti(randomUUID())
    .sign(key.privateKey);
  return { access_token: accessToken, token_type: 'Bearer', expires_in: jwt.accessTokenTtlSeconds };
}
