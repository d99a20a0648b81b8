import { isIP } from 'node:net';
import type { PkiConfig } from '../platform/config/index.ts';
import { createLeafRequest } from '../platform/tls/certificate-request.ts';
import { certificatesInPem, generateKeyPair, privateKeyPem, spiffeIdOf, x509 } from '../platform/tls/x509.ts';
import type { CertificateAuthority, IssuedLeaf } from './certificate-authority.ts';
import type { InfrastructureIdentity } from './identities.ts';

/** A server certificate for Redis or PostgreSQL: the chain it presents, its new key, the bundle its clients trust. */
export interface InfrastructureCertificate {
  leaf: IssuedLeaf;
  /** PKCS#8 PEM; made here, never sent anywhere. */
  privateKey: string;
  /** Every root and intermediate in use, PEM: what clients verify this server against. */
  trustBundle: string;
}

export interface InfrastructureRequest {
  identity: InfrastructureIdentity;
  /** DNS names and IP addresses clients reach the server by (`redis`, `127.0.0.1`). */
  names: readonly string[];
  ttlSeconds: number;
}

/**
 * The longest life such a certificate can have: it must fit in the overlap of two intermediates
 * (the CA never lets a leaf outlive its issuer), as a workload's does.
 */
export const maxInfrastructureTtlSeconds = (pki: PkiConfig) => pki.intermediateTtlSeconds - pki.intermediateRotateSeconds;

/** Makes a P-256 key, asks the CA through the same CSR checks a module's request passes, and returns the result. */
export async function issueInfrastructureCertificate(ca: CertificateAuthority, request: InfrastructureRequest): Promise<InfrastructureCertificate> {
  await ca.ensure();
  const keys = await generateKeyPair();
  const csrPem = await createLeafRequest(request.identity, keys, request.names);
  const leaf = await ca.issue({ csrPem, service: request.identity }, request.ttlSeconds);
  return { leaf, privateKey: await privateKeyPem(keys.privateKey), trustBundle: await ca.trustBundle() };
}

/**
 * Why the certificate chain in `chainPem` should be replaced, or undefined when it can stay: it is
 * for another identity or other names, a third or less of its life is left (the renewal point of
 * every certificate here), or its issuer has left the trust bundle.
 */
export function renewalReason(chainPem: string | undefined, request: InfrastructureRequest, trustBundle: string, now = new Date()): string | undefined {
  if (!chainPem) return 'no certificate yet';
  let chain: x509.X509Certificate[];
  try {
    chain = certificatesInPem(chainPem);
  } catch {
    return 'the present certificate cannot be read';
  }
  const [leaf, issuer] = chain;
  if (!leaf || !issuer) return 'the present file holds no certificate chain';
  const san = leaf.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san?.names.toJSON() ?? [];
  if (!names.some((name) => name.type === 'url' && name.value === spiffeIdOf(request.identity))) return `it is not for ${spiffeIdOf(request.identity)}`;
  const held = names.filter((name) => name.type !== 'url').map((name) => name.value.toLowerCase());
  const wanted = request.names.map((name) => (isIP(name) ? name : name.toLowerCase()));
  if (held.length !== wanted.length || wanted.some((name) => !held.includes(name))) return 'its names differ from the ones asked for';
  const life = leaf.notAfter.getTime() - leaf.notBefore.getTime();
  if (leaf.notAfter.getTime() - now.getTime() <= life / 3) return 'a third or less of its life is left';
  const bundled = certificatesInPem(trustBundle).map((certificate) => certificate.toString('base64'));
  if (!bundled.includes(issuer.toString('base64'))) return 'its issuer is no longer in the trust bundle';
  return undefined;
}
