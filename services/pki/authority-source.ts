import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ServiceName } from '../platform/config/index.ts';
import type { CertificateSource } from '../platform/tls/certificate-source.ts';
import type { CertificateAuthority } from './certificate-authority.ts';

/** Admin and maintenance hold the CA: their own certificate and bundle come from it directly, never over the network. */
export function certificatesFromAuthority(ca: CertificateAuthority, service: ServiceName): CertificateSource {
  return {
    async obtain(csrPem) {
      const leaf = await ca.issue({ csrPem, service });
      return { chain: leaf.chain, notAfter: leaf.notAfter };
    },
    trustBundle: () => ca.trustBundle(),
  };
}

/**
 * Writes the trust bundle where the other processes start from (PKI_BUNDLE_FILE: a shared volume in
 * compose, the data directory under `npm start`), atomically, so a reader never sees half a file.
 */
export async function writeTrustBundle(file: string, bundle: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.tmp`;
  await writeFile(partial, bundle, { mode: 0o644 });
  await rename(partial, file);
}
