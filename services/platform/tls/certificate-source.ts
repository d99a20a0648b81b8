import { readFileSync } from 'node:fs';
import type { Config } from '../config/index.ts';
import type { IssuedCertificate } from './workload-tls.ts';

/** Where a process gets its certificate and trust bundle: from the CA in-process, or from admin over HTTPS. */
export interface CertificateSource {
  obtain(csrPem: string, fetchWith: typeof fetch): Promise<IssuedCertificate>;
  trustBundle(fetchWith: typeof fetch): Promise<string>;
  /** The bundle to start from, when the CA is not at hand. */
  initialBundle?: string;
}

export const TRUST_BUNDLE_PATH = '/.well-known/artstore-ca.pem';
export const CERTIFICATES_PATH = '/api/v1/pki/certificates';

/** Admin refused a request of this process: for a moment (5xx, 429, 408: it cannot record it now) or for good (401, 403, 400). */
export class CertificateRequestError extends Error {
  readonly transient: boolean;
  constructor(
    what: string,
    readonly status: number,
    body: string,
  ) {
    super(`${what}: HTTP ${status} ${body.slice(0, 300)}`);
    this.transient = status >= 500 || status === 429 || status === 408;
  }
}

async function answer(response: Response, what: string): Promise<unknown> {
  const text = await response.text();
  if (!response.ok) throw new CertificateRequestError(what, response.status, text);
  return text;
}

/**
 * A process other than admin and maintenance: it starts trusting TLS_CA_FILE, asks admin for its
 * certificate with the module-to-module account's token (the account's role decides which
 * identities it may have), and re-reads the bundle from admin over verified TLS.
 */
export function certificatesFromAdmin(config: Config): CertificateSource {
  const { adminUrl } = config.jwt;
  const { clientId, clientSecret } = config.storage.client;
  if (!config.tls.caFile) throw new Error('TLS_CA_FILE is required with TLS_MODE=on');
  if (!clientId || !clientSecret) throw new Error('STORAGE_CLIENT_ID and STORAGE_CLIENT_SECRET are required to ask admin for a certificate');
  return {
    initialBundle: readFileSync(config.tls.caFile, 'utf8'),
    async obtain(csrPem, fetchWith) {
      const tokenAnswer = await fetchWith(`${adminUrl}/api/v1/auth/token`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ client_id: clientId, client_secret: clientSecret.reveal() }),
        signal: AbortSignal.timeout(10_000),
      });
      const { access_token: token } = JSON.parse((await answer(tokenAnswer, 'token request')) as string) as { access_token: string };
      const issued = await fetchWith(`${adminUrl}${CERTIFICATES_PATH}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ csr: csrPem, service: config.service }),
        signal: AbortSignal.timeout(10_000),
      });
      const body = JSON.parse((await answer(issued, 'certificate request')) as string) as { chain: string; not_after: string };
      return { chain: body.chain, notAfter: new Date(body.not_after) };
    },
    async trustBundle(fetchWith) {
      const response = await fetchWith(`${adminUrl}${TRUST_BUNDLE_PATH}`, { signal: AbortSignal.timeout(10_000) });
      return (await answer(response, 'trust bundle')) as string;
    },
  };
}
