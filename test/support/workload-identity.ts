import type { ServiceName } from '../../services/platform/config/index.ts';
import { CERTIFICATES_PATH } from '../../services/platform/tls/certificate-source.ts';
import { createLeafRequest } from '../../services/platform/tls/certificate-request.ts';
import { generateKeyPair, privateKeyPem } from '../../services/platform/tls/x509.ts';
import type { UrlFetch } from './tokens.ts';

/**
 * A module's certificate asked of a running admin as the module itself asks (a key made here, a CSR,
 * POST /api/v1/pki/certificates with a token of role storage or admin): what a test presents to
 * reach module-to-module routes, e.g. the storage element's blobs as the ingester.
 */
export async function identityFromAdmin(
  using: UrlFetch,
  adminUrl: string,
  token: string,
  service: ServiceName,
): Promise<{ cert: string; key: string; notAfter: Date }> {
  const keys = await generateKeyPair();
  const answer = await using(`${adminUrl}${CERTIFICATES_PATH}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ csr: await createLeafRequest(service, keys, ['127.0.0.1']), service }),
  });
  const text = await answer.text();
  if (answer.status !== 201) throw new Error(`certificate for ${service}: HTTP ${answer.status} ${text.slice(0, 300)}`);
  const body = JSON.parse(text) as { chain: string; not_after: string };
  return { cert: body.chain, key: await privateKeyPem(keys.privateKey), notAfter: new Date(body.not_after) };
}
