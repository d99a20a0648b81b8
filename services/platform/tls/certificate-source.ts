import { readFileSync } from 'node:fs';
import type { Config } from '../config/index.ts';
import type { IssuedCertificate } from './workload-tls.ts';

/** Where a process gets its certificate and trust bundle: from the CA in-process, or from admin over HTTPS. */
export interface CertificateSource {
  obtain(csrPem: string, fetchWith: typeof fetch): Promise<IssuedCertificate>;
  trustBundle(fetchWith: typeof fetch): Promise<string>;
  /** The bundle to start from, when the CA is not at hand. */
  initialBundle?: string;
  /** Whether a failure to obtain may pass by itself (admin away or busy), so start-up waits for it. @defaultValue none may */
  transient?(err: unknown): boolean;
}

export const TRUST_BUNDLE_PATH = '/.well-known/artstore-ca.pem';
export const CERTIFICATES_PATH = '/api/v1/pki/certificates';

/**
 * Admin refused a request of this process: for a moment (5xx, 408: it cannot record the issuance
 * now) or for good (400, 401, 403, and 429: the token endpoint's lock on failed attempts, which
 * retrying would only prolong and which most likely means a wrong secret).
 */
export class CertificateRequestError extends Error {
  readonly transient: boolean;
  constructor(
    what: string,
    readonly status: number,
    body: string,
  ) {
    const hint = status === 429 ? ' (failed attempts locked this client: is STORAGE_CLIENT_SECRET right?)' : '';
    super(`${what}: HTTP ${status} ${body.slice(0, 300)}${hint}`);
    this.transient = status >= 500 || status === 408;
  }
}

/** Connection failures that pass once admin is up and reachable (in compose its name resolves only once it runs). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/**
 * Whether a failure to reach admin may pass by itself: admin away, busy or unable to record the
 * issuance. Anything else is for good and ends start-up at once: admin's refusal (wrong secret), a
 * server that fails verification against the bundle (wrong TLS_CA_FILE or ADMIN_URL), an answer
 * that is not what admin gives.
 */
export function transientAdminFailure(err: unknown): boolean {
  if (err instanceof CertificateRequestError) return err.transient;
  for (let e = err as { name?: string; code?: string; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (e.name === 'TimeoutError' || (e.code !== undefined && NETWORK_CODES.has(e.code))) return true;
  }
  return false;
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
    transient: transientAdminFailure,
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
