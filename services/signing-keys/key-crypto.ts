import { createCipheriv, createDecipheriv, createPrivateKey, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { exportJWK, exportPKCS8, generateKeyPair, type JWK } from 'jose';
import type { JwtAlgorithm } from '../platform/config/index.ts';

const FORMAT_VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A private key that cannot be decrypted: wrong key-encryption key, or the stored value was altered or moved. */
export class KeyDecryptionError extends Error {
  readonly code = 'ERR_JWT_KEY_DECRYPTION';
  readonly kid: string;

  constructor(kid: string, reason: string) {
    super(`cannot decrypt the private key of kid ${kid}: ${reason}`);
    this.name = 'KeyDecryptionError';
    this.kid = kid;
  }
}

/**
 * `v1.<iv>.<tag>.<ciphertext>` in base64url. The kid is the additional authenticated data, so a
 * ciphertext copied into another row does not decrypt there.
 */
export function encryptPrivateKey(pkcs8Pem: string, kid: string, kek: KeyObject): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', kek, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(kid, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(pkcs8Pem, 'utf8'), cipher.final()]);
  return [FORMAT_VERSION, iv, cipher.getAuthTag(), ciphertext].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
}

/** `kekName` names the key-encryption key in the error, for the operator who must fix it. */
export function decryptPrivateKey(stored: string, kid: string, kek: KeyObject, kekName = 'JWT_KEY_ENCRYPTION_KEY'): string {
  const [version, iv, tag, ciphertext, ...rest] = stored.split('.');
  if (version !== FORMAT_VERSION || !iv || !tag || !ciphertext || rest.length > 0) {
    throw new KeyDecryptionError(kid, `stored value is not in the ${FORMAT_VERSION} encrypted format`);
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(iv, 'base64url'), { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(kid, 'utf8'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw new KeyDecryptionError(kid, `${kekName} is not the key it was encrypted with, or the stored value was altered`);
  }
}

/** The usable private key of a stored row. */
export function privateKeyFrom(stored: string, kid: string, kek: KeyObject, kekName?: string): KeyObject {
  return createPrivateKey({ key: decryptPrivateKey(stored, kid, kek, kekName), format: 'pem' });
}

export interface NewKeyMaterial {
  kid: string;
  algorithm: JwtAlgorithm;
  /** Public JWK carrying kid, alg and use. */
  publicJwk: JWK;
  encryptedPrivateKey: string;
}

/** A fresh key pair whose private half exists only encrypted (RSA generation takes ~0.1–1 s). */
export async function generateKeyMaterial(algorithm: JwtAlgorithm, kek: KeyObject): Promise<NewKeyMaterial> {
  const kid = randomUUID();
  const { publicKey, privateKey } = await generateKeyPair(algorithm, {
    extractable: true,
    ...(algorithm === 'RS256' ? { modulusLength: 2048 } : {}),
    ...(algorithm === 'EdDSA' ? { crv: 'Ed25519' } : {}),
  });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: algorithm, use: 'sig' };
  const encryptedPrivateKey = encryptPrivateKey(await exportPKCS8(privateKey), kid, kek);
  return { kid, algorithm, publicJwk, encryptedPrivateKey };
}
