import { readFileSync } from 'node:fs';
import type { Config } from '../config/index.ts';
import type { IssuedCertificate } from './workload-tls.ts';

/** Where a process gets its certificate and trust bundle: from the CA in-process, or from admin over HTTPS. */
export interface CertificateSource {
  obtain(csrPem: string, fetchWith: typeof fetch): Promise<IssuedCertificate>;
  trustBundle(fetchWith: typeof fetch): Promise<string>;
  /** The bundle to start from, when the CA is not at hand. */
  initialBundle?: string;
  /** When a failure to obtain may be tried again at start-up: in how many ms at the least, or undefined for good. @defaultValue never */
  retryIn?(err: unknown): number | undefined;
}

export const TRUST_BUNDLE_PATH = '/.well-known/artstore-ca.pem';
export const CERTIFICATES_PATH = '/api/v1/pki/certificates';

/**
 * Admin refused a request of this process: for a moment (5xx, 408: it cannot record the issuance
 * now; 429: failed attempts from this address locked the client, until its Retry-After) or for good
 * (400, 401, 403).
 */
export class CertificateRequestError extends Error {
  readonly transient: boolean;
  /** Admin's Retry-After, when it gave one. */
  readonly retryAfterMs: number | undefined;
  constructor(
    what: string,
    readonly status: number,
    body: string,
    retryAfter?: string | null,
  ) {
    const hint =
      status === 429
        ? " (failed attempts from this address locked the client: a wrong STORAGE_CLIENT_SECRET here, or another client's failures from the same address)"
        : '';
    super(`${what}: HTTP ${status} ${body.slice(0, 300)}${hint}`);
    this.transient = status >= 500 || status === 408 || status === 429;
    const seconds = Number(retryAfter);
    this.retryAfterMs = retryAfter && Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
  }
}

async function answer(response: Response, what: string): Promise<unknown> {
  const text = await response.text();
  if (!response.ok) throw new CertificateRequestError(what, response.status, text, response.headers.get('retry-after'));
  return text;
}

/** Connection failures that pass once admin is up and reachable (in compose its name resolves only once it runs). */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_FAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

type ErrorTree = { name?: string; code?: string; cause?: unknown; errors?: unknown[] } | undefined;

/** Whether a network failure is somewhere in an error, its causes, or the attempts of a dual-stack connect (AggregateError). */
function networkFailure(err: ErrorTree, depth = 0): boolean {
  if (!err || depth > 4) return false;
  if (err.name === 'TimeoutError' || (err.code !== undefined && NETWORK_CODES.has(err.code))) return true;
  return networkFailure(err.cause as ErrorTree, depth + 1) || (Array.isArray(err.errors) && err.errors.some((e) => networkFailure(e as ErrorTree, depth + 1)));
}

/**
 * When a failure to get a certificate from admin may be tried again: in how many ms at the least
 * (0: whenever backoff says), or undefined if it is for good. Admin away or busy, unable to record
 * the issuance, or a lock (after its Retry-After) may pass. Admin's refusal (wrong secret), a server
 * that fails verification against the bundle (wrong TLS_CA_FILE or ADMIN_URL) and an answer that is
 * not what admin gives end start-up at once.
 */
export function retryAdminRequestIn(err: unknown): number | undefined {
  if (err instanceof CertificateRequestError) return err.transient ? (err.retryAfterMs ?? 0) : undefined;
  return networkFailure(err as ErrorTree) ? 0 : undefined;
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
    retryIn: retryAdminRequestIn,
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
