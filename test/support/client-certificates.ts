import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLeafRequest } from '../../services/platform/tls/certificate-request.ts';
import { generateKeyPair, KEY_ALGORITHM, privateKeyPem, randomSerial, spiffeIdOf, x509, type CryptoKey } from '../../services/platform/tls/x509.ts';
import type { CertificateAuthority } from '../../services/pki/certificate-authority.ts';

/** What a TLS client presents: its certificate chain and key, PEM (node:tls `cert` and `key`). */
export interface ClientIdentity {
  cert: string;
  key: string;
}

interface Signer {
  certificate: x509.X509Certificate;
  signingKey: CryptoKey;
}

const DAY_MS = 86_400_000;

/**
 * A CA of someone else's: a root and an issuing CA, by default with the very names this system's CA
 * uses, so only signatures (never names) can tell the chains apart.
 */
export async function foreignAuthority(names = { root: 'CN=ArtStore root CA, O=ArtStore', issuer: 'CN=ArtStore issuing CA, O=ArtStore' }) {
  const now = Date.now();
  const rootKeys = await generateKeyPair();
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: names.root,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 365 * DAY_MS),
    keys: rootKeys,
    signingAlgorithm: KEY_ALGORITHM,
    extensions: [new x509.BasicConstraintsExtension(true, 1, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  const issuerKeys = await generateKeyPair();
  const issuer = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: names.issuer,
    issuer: root.subject,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 365 * DAY_MS),
    publicKey: issuerKeys.publicKey,
    signingKey: rootKeys.privateKey,
    signingAlgorithm: KEY_ALGORITHM,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  return {
    rootPem: root.toString('pem'),
    /** A workload certificate for `service` under this foreign CA, shaped like the real ones (SPIFFE ID, clientAuth). */
    identity: (service: string) => signedIdentity({ certificate: issuer, signingKey: issuerKeys.privateKey }, service, [issuer]),
  };
}

/**
 * A certificate for `service` signed by `signer` (any key: a CA's, or a mere leaf's when forging),
 * presented with `chain` after it.
 */
export async function signedIdentity(signer: Signer, service: string, chain: x509.X509Certificate[] = []): Promise<ClientIdentity> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${service}, O=ArtStore`,
    issuer: signer.certificate.subject,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + DAY_MS),
    publicKey: keys.publicKey,
    signingKey: signer.signingKey,
    signingAlgorithm: KEY_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeIdOf(service) }]),
    ],
  });
  return { cert: [certificate, ...chain].map((c) => c.toString('pem')).join('\n'), key: await privateKeyPem(keys.privateKey) };
}

/** A certificate from this system's own CA, as admin would issue it (`now` and `ttlSeconds` make expired ones). */
export async function issuedIdentity(ca: CertificateAuthority, service: string, options: { now?: Date; ttlSeconds?: number } = {}) {
  const keys = await generateKeyPair();
  const leaf = await ca.issue({ csrPem: await createLeafRequest(service, keys, []), service }, options.ttlSeconds, options.now);
  return { cert: leaf.chain, key: await privateKeyPem(keys.privateKey), keys, leaf };
}

/** TLS_CERT_FILE and TLS_KEY_FILE of a self-signed certificate for `dnsName`, as an operator would give for external clients. */
export async function publicCertificateFiles(dnsName: string): Promise<{ certFile: string; keyFile: string; certPem: string }> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${dnsName}`,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + DAY_MS),
    keys,
    signingAlgorithm: KEY_ALGORITHM,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: dnsName }])],
  });
  const dir = await mkdtemp(path.join(tmpdir(), 'artstore-public-cert-'));
  const files = { certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem'), certPem: certificate.toString('pem') };
  await writeFile(files.certFile, files.certPem);
  await writeFile(files.keyFile, await privateKeyPem(keys.privateKey), { mode: 0o600 });
  return files;
}
