import { isIP } from 'node:net';
import { CLOCK_SKEW_MS } from './authority-certificates.ts';
import { KEY_ALGORITHM, randomSerial, spiffeIdOf, x509, type CryptoKey } from '../platform/tls/x509.ts';
import { isInfrastructureIdentity, isModuleIdentity } from './identities.ts';

const SAN_OID = '2.5.29.17';
const MAX_NAMES = 20;
/** A P-384 CSR with twenty names is under 3 KB of PEM: anything this long is not one of ours. */
export const MAX_CSR_PEM_LENGTH = 16_384;
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** A CSR the CA will not sign, with what is wrong in words the requester can act on. */
export class CertificateRequestError extends Error {
  override readonly name = 'CertificateRequestError';
}

export interface LeafRequest {
  /** PEM PKCS#10, signed by the key the certificate will name. */
  csrPem: string;
  /** The identity it is for (already allowed for the requester by the caller): a module's, or Redis's or PostgreSQL's. */
  service: string;
}

export interface CheckedRequest {
  publicKey: x509.PublicKey;
  dnsNames: string[];
  ipAddresses: string[];
}

/**
 * Parses and checks a CSR: a valid self-signature (the requester holds the key), an ECDSA P-256 or
 * P-384 key, and only DNS names and IP addresses besides the one SPIFFE ID of `service`, which the
 * certificate gets whatever the CSR says. Anything else is refused, never silently dropped.
 */
export async function checkLeafRequest(request: LeafRequest): Promise<CheckedRequest> {
  if (!isModuleIdentity(request.service) && !isInfrastructureIdentity(request.service)) {
    throw new CertificateRequestError(`"${request.service}" is not an identity of this deployment`);
  }
  if (request.csrPem.length > MAX_CSR_PEM_LENGTH) throw new CertificateRequestError(`csr must be at most ${MAX_CSR_PEM_LENGTH} characters of PEM`);
  // Everything below reads what the requester sent: a parser failing on it is a bad request, never a 500.
  try {
    return await readLeafRequest(request);
  } catch (err) {
    if (err instanceof CertificateRequestError) throw err;
    throw new CertificateRequestError(`the CSR could not be read: ${(err as Error).message}`);
  }
}

async function readLeafRequest(request: LeafRequest): Promise<CheckedRequest> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(request.csrPem);
  } catch {
    throw new CertificateRequestError('csr is not a PEM PKCS#10 certificate request');
  }
  const algorithm = csr.publicKey.algorithm as { name: string; namedCurve?: string };
  if (algorithm.name !== 'ECDSA' || !['P-256', 'P-384'].includes(algorithm.namedCurve ?? '')) {
    throw new CertificateRequestError('the key must be ECDSA on P-256 or P-384');
  }
  if (!(await csr.verify().catch(() => false))) throw new CertificateRequestError('the CSR signature does not verify: it was not signed by the key it names');
  // Only the first of two SAN extensions would be read: the second would be dropped unseen (RFC 5280 allows one of each).
  const types = csr.extensions.map((extension) => extension.type);
  const repeated = types.find((type, index) => types.indexOf(type) !== index);
  if (repeated) throw new CertificateRequestError(`extension ${repeated} appears more than once`);
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  const san = csr.getExtension(SAN_OID);
  const names = san ? new x509.SubjectAlternativeNameExtension(san.rawData).names.toJSON() : [];
  if (names.length > MAX_NAMES) throw new CertificateRequestError(`at most ${MAX_NAMES} subject alternative names`);
  for (const { type, value } of names) {
    if (type === 'dns' && DNS_NAME.test(value)) dnsNames.push(value.toLowerCase());
    else if (type === 'ip' && isIP(value)) ipAddresses.push(value);
    else if (type === 'url' && value === spiffeIdOf(request.service)) continue;
    else
      throw new CertificateRequestError(
        `subject alternative name ${type}:${JSON.stringify(value)} is not allowed (DNS names, IP addresses, and ${spiffeIdOf(request.service)} only)`,
      );
  }
  return { publicKey: csr.publicKey, dnsNames, ipAddresses };
}

export interface Issuer {
  certificate: x509.X509Certificate;
  signingKey: CryptoKey;
}

/**
 * A leaf naming `service` by its SPIFFE ID, never outliving its issuer: for both ends of TLS
 * (serverAuth and clientAuth) for a module, for the server end only for Redis or PostgreSQL, whose
 * key must not pass for a client of the modules.
 */
export async function signLeaf(issuer: Issuer, service: string, request: CheckedRequest, now: Date, ttlSeconds: number): Promise<x509.X509Certificate> {
  const usages = isInfrastructureIdentity(service) ? [x509.ExtendedKeyUsage.serverAuth] : [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth];
  const notAfter = Math.min(now.getTime() + ttlSeconds * 1000, issuer.certificate.notAfter.getTime());
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${service}, O=ArtStore`,
    issuer: issuer.certificate.subject,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(notAfter),
    publicKey: request.publicKey,
    signingKey: issuer.signingKey,
    signingAlgorithm: KEY_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(usages),
      new x509.SubjectAlternativeNameExtension(
        [
          { type: 'url', value: spiffeIdOf(service) },
          ...request.dnsNames.map((value) => ({ type: 'dns' as const, value })),
          ...request.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
        ],
        false,
      ),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.certificate),
      await x509.SubjectKeyIdentifierExtension.create(request.publicKey),
    ],
  });
}
