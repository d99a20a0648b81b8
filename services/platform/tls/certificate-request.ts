import { isIP } from 'node:net';
import { KEY_ALGORITHM, spiffeIdOf, x509, type CryptoKeyPair } from './x509.ts';

/** A CSR for `service` with its names, signed by `keys`. */
export async function createLeafRequest(service: string, keys: CryptoKeyPair, sans: readonly string[]): Promise<string> {
  const names = [
    { type: 'url' as const, value: spiffeIdOf(service) },
    ...sans.map((value) => (isIP(value) ? { type: 'ip' as const, value } : { type: 'dns' as const, value })),
  ];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${service}, O=ArtStore`,
    keys,
    signingAlgorithm: KEY_ALGORITHM,
    extensions: [new x509.SubjectAlternativeNameExtension(names)],
  });
  return csr.toString('pem');
}
