import { generateKeyPair, KEY_ALGORITHM, randomSerial, x509, type CryptoKey, type CryptoKeyPair } from '../platform/tls/x509.ts';

/** Certificates may be used this long before their issuer's clock says they start: clocks of the fleet differ a little. */
export const CLOCK_SKEW_MS = 60_000;

const CA_USAGES = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;

export interface NewAuthority {
  certificate: x509.X509Certificate;
  keys: CryptoKeyPair;
}

/** A self-signed root that may sign intermediates only (path length 1). */
export async function createRootCertificate(now: Date, ttlSeconds: number): Promise<NewAuthority> {
  const keys = await generateKeyPair();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=ArtStore root CA ${now.toISOString().slice(0, 19)}Z, O=ArtStore`,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(now.getTime() + ttlSeconds * 1000),
    keys,
    signingAlgorithm: KEY_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(CA_USAGES, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificate, keys };
}

/** An intermediate signed by `root`, that may sign leaves only (path length 0), never outliving its root. */
export async function createIntermediateCertificate(
  root: { certificate: x509.X509Certificate; signingKey: CryptoKey },
  now: Date,
  ttlSeconds: number,
): Promise<NewAuthority> {
  const keys = await generateKeyPair();
  const notAfter = Math.min(now.getTime() + ttlSeconds * 1000, root.certificate.notAfter.getTime());
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=ArtStore issuing CA ${now.toISOString().slice(0, 19)}Z, O=ArtStore`,
    issuer: root.certificate.subject,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey: root.signingKey,
    signingAlgorithm: KEY_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(CA_USAGES, true),
      await x509.AuthorityKeyIdentifierExtension.create(root.certificate),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificate, keys };
}
