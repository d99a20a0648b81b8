import http from 'node:http';
import https from 'node:https';
import { isDeepStrictEqual } from 'node:util';
import type { HostileRequest } from './attacks.ts';

export interface HostileAnswer {
  status: number;
  contentType: string;
  body: string;
  /** The Retry-After header, when there is one. */
  retryAfter?: string;
}

/** With TLS on: the bundle to trust, and the certificate to present (a module's, to reach module-to-module routes). */
export interface SenderTls {
  ca: string;
  identity?: { cert: string; key: string };
}

export interface HostileSender {
  /** Sends one request exactly as generated (no client-side normalisation of the path). */
  send(baseUrl: string, req: HostileRequest): Promise<HostileAnswer>;
  close(): void;
}

/** A client over keep-alive connections: plain HTTP, or with `tls` HTTPS trusting its bundle. */
export function hostileSender(tls?: SenderTls): HostileSender {
  const tlsOptions = tls ? { ca: tls.ca, ...tls.identity } : {};
  const agent = tls ? new https.Agent({ keepAlive: true, maxSockets: 64, ...tlsOptions }) : new http.Agent({ keepAlive: true, maxSockets: 64 });
  const send = (baseUrl: string, req: HostileRequest): Promise<HostileAnswer> => {
    const url = new URL(baseUrl);
    return new Promise((resolve, reject) => {
      const headers = req.requestId ? { 'X-Request-Id': req.requestId, ...req.headers } : req.headers;
      // A connection from another loopback address cannot be pooled with the others.
      const route = req.localAddress ? { agent: false as const, localAddress: req.localAddress, ...tlsOptions } : { agent };
      const options = { ...route, host: url.hostname, port: url.port, method: req.method, path: req.path, headers };
      const onResponse = (res: http.IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            body: Buffer.concat(chunks).toString('utf8'),
            retryAfter: res.headers['retry-after'],
          }),
        );
        res.on('error', reject);
      };
      const outgoing = tls ? https.request(options, onResponse) : http.request(options, onResponse);
      // A server may answer (413, 431) and close before reading a huge request; that answer still counts.
      outgoing.on('error', reject);
      outgoing.end(req.body);
    });
  };
  return { send, close: () => agent.destroy() };
}

/**
 * What is wrong with an answer to a rejected request, or undefined when it is a proper JSON 4xx, the
 * request's inert answer, or (where client credentials are checked) the brute-force limits' 429.
 */
export function answerProblem(req: HostileRequest, answer: HostileAnswer): string | undefined {
  if (answer.status >= 500) return `server error ${answer.status}`;
  if (answer.status === 429 && req.endpoint.clientAuthentication) return throttledAnswerProblem(answer);
  if (!req.expected.includes(answer.status)) return `status ${answer.status}, expected ${req.expected.join(' or ')}`;
  if (req.inert && answer.status === req.inert.status) return inertAnswerProblem(req.inert.body, answer);
  if (!/^application\/json/i.test(answer.contentType)) return `content-type "${answer.contentType}"`;
  let body: unknown;
  try {
    body = JSON.parse(answer.body);
  } catch {
    return 'body is not JSON';
  }
  const shaped = body as { error?: unknown; error_description?: unknown };
  if (req.endpoint.oauthErrors && typeof shaped.error === 'string') {
    return typeof shaped.error_description === 'string' && shaped.error_description.length > 0 ? undefined : 'OAuth error without a description';
  }
  const error = shaped.error as { code?: unknown; message?: unknown } | undefined;
  if (typeof error?.code !== 'string' || typeof error.message !== 'string' || error.message.length === 0) return 'no {error:{code,message}}';
  if (/\bat .+\.(ts|js):\d+/.test(error.message)) return 'stack trace in the message';
  return undefined;
}

/** A throttled credential check: 429 `temporarily_unavailable` in the OAuth2 shape, saying when to retry. */
function throttledAnswerProblem(answer: HostileAnswer): string | undefined {
  if (!/^[1-9]\d*$/.test(answer.retryAfter ?? '')) return `429 without a Retry-After in seconds (${answer.retryAfter})`;
  let body: { error?: unknown; error_description?: unknown };
  try {
    body = JSON.parse(answer.body);
  } catch {
    return '429 body is not JSON';
  }
  if (body.error !== 'temporarily_unavailable' || typeof body.error_description !== 'string' || body.error_description.length === 0) {
    return '429 is not an OAuth temporarily_unavailable error';
  }
  return undefined;
}

function inertAnswerProblem(expected: unknown, answer: HostileAnswer): string | undefined {
  if (expected === '') return answer.body === '' ? undefined : 'a body where none was expected';
  try {
    return isDeepStrictEqual(JSON.parse(answer.body), expected) ? undefined : `body other than ${JSON.stringify(expected)}`;
  } catch {
    return 'body is not JSON';
  }
}
