/**
 * @peculiar/x509 on Node's WebCrypto, loaded once. Its dependency injection (tsyringe) needs the
 * Reflect metadata polyfill before the library's first import, so every import of the library in
 * this repository goes through this file.
 */
import 'reflect-metadata';
import { createHash, createPrivateKey, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

export { x509 };

/** ECDSA P-256 with SHA-256 for every key of the CA and every workload: small, fast handshakes, in every TLS 1.3 stack. */
export const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** The SPIFFE trust domain every identity here lives in. */
export const TRUST_DOMAIN = 'artstore';
export const spiffeIdOf = (service: string) => `spiffe://${TRUST_DOMAIN}/${service}`;

/** A new key pair that can be exported (the CA stores its private keys encrypted; a workload hands its own to TLS). */
export function generateKeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

/** PKCS#8 PEM of a private key, as node:tls takes it. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string;
}

/** A PKCS#8 PEM private key back as a WebCrypto signing key. */
export function importSigningKey(pem: string): Promise<CryptoKey> {
  const der = createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' });
  return webcrypto.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']) as Promise<CryptoKey>;
}

/** SHA-256 of a certificate's DER, hex: how events, logs and metrics name a certificate. */
export const fingerprintOf = (certificate: x509.X509Certificate) => createHash('sha256').update(Buffer.from(certificate.rawData)).digest('hex');

/** Every certificate in a PEM text (a chain, a trust bundle with its comment lines), in order. */
export function certificatesInPem(text: string): x509.X509Certificate[] {
  return (text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((block) => new x509.X509Certificate(block));
}

/** A 128-bit random positive serial number, hex (RFC 5280 §4.1.2.2 allows up to 20 octets). */
export function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return Buffer.from(bytes).toString('hex');
}
