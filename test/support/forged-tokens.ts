import { createPublicKey, randomUUID, type KeyObject } from 'node:crypto';
import { decodeJwt, SignJWT, type JWK } from 'jose';

export interface ForgeryMaterial {
  /** A genuine token issued by the admin module. */
  genuine: string;
  /** The admin module's active signing key (read in-process), to sign tokens with bad claims. */
  signingKey: { kid: string; alg: string; privateKey: KeyObject };
  /** That key's public JWK as published. */
  publicJwk: JWK;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Every kind of forged or broken bearer token a verifier must refuse with 401, by name. */
export function forgedTokens(material: () => ForgeryMaterial): Record<string, () => Promise<string>> {
  const now = () => Math.floor(Date.now() / 1000);
  const claims = (overrides: Record<string, unknown> = {}) => ({
    iss: 'artstore-admin',
    aud: 'artstore',
    sub: randomUUID(),
    role: 'admin',
    jti: randomUUID(),
    iat: now(),
    nbf: now(),
    exp: now() + 600,
    ...overrides,
  });
  const signed = (payload: Record<string, unknown>, kid = material().signingKey.kid) =>
    new SignJWT(payload).setProtectedHeader({ alg: material().signingKey.alg, kid }).sign(material().signingKey.privateKey);
  return {
    'a tampered signature': async () => {
      const [h, p, s] = material().genuine.split('.');
      const flipped = s!.slice(0, 10) + (s![10] === 'A' ? 'B' : 'A') + s!.slice(11);
      return `${h}.${p}.${flipped}`;
    },
    'a tampered payload': async () => {
      const { genuine } = material();
      const [h, , s] = genuine.split('.');
      return `${h}.${b64({ ...decodeJwt(genuine), role: 'admin', sub: randomUUID() })}.${s}`;
    },
    'alg none': async () => `${b64({ alg: 'none', kid: material().signingKey.kid, typ: 'JWT' })}.${b64(claims())}.`,
    'HS256 keyed with the public key': async () => {
      const { signingKey, publicJwk } = material();
      const pem = createPublicKey({ key: publicJwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }) as string;
      return new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: signingKey.kid }).sign(new TextEncoder().encode(pem));
    },
    'an expired token': () => signed(claims({ iat: now() - 3600, nbf: now() - 3600, exp: now() - 120 })),
    'a not-yet-valid token': () => signed(claims({ nbf: now() + 600 })),
    'a far-future iat': () => signed(claims({ iat: now() + 86_400, exp: now() + 90_000 })),
    'a wrong audience': () => signed(claims({ aud: 'someone-else' })),
    'a wrong issuer': () => signed(claims({ iss: 'https://evil.example.com' })),
    'an unknown kid': () => signed(claims(), randomUUID()),
    'an unknown role': () => signed(claims({ role: 'superuser' })),
  };
}
