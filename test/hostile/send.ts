import { Agent, request } from 'node:http';
import type { HostileRequest } from './attacks.ts';

export interface HostileAnswer {
  status: number;
  contentType: string;
  body: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** Sends one request exactly as generated (no client-side normalisation of the path). */
export function send(baseUrl: string, req: HostileRequest): Promise<HostileAnswer> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const outgoing = request({ agent, host: url.hostname, port: url.port, method: req.method, path: req.path, headers: req.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    // A server may answer (413, 431) and close before reading a huge request; that answer still counts.
    outgoing.on('error', reject);
    outgoing.end(req.body);
  });
}

export function closeConnections(): void {
  agent.destroy();
}

/** What is wrong with an answer to a rejected request, or undefined when it is a proper JSON 4xx. */
export function answerProblem(req: HostileRequest, answer: HostileAnswer): string | undefined {
  if (answer.status >= 500) return `server error ${answer.status}`;
  if (!req.expected.includes(answer.status)) return `status ${answer.status}, expected ${req.expected.join(' or ')}`;
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
