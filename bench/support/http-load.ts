import http, { type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface LoadResult {
  requests: number;
  perSecond: number;
  /** Count of answers by HTTP status. */
  statuses: Record<number, number>;
  /** Answers that came over a TLS session resumed from an earlier connection (none with `newConnectionEach`). */
  resumedSessions: number;
}

export interface LoadRequest {
  method?: string;
  path: string;
  headers?: OutgoingHttpHeaders;
  body?: string;
}

export interface LoadOptions {
  concurrency: number;
  durationMs: number;
  maxRequests?: number;
  /** For an https: URL, the trust bundle to verify the server with. */
  ca?: string;
  /**
   * A new connection for every request, and with TLS a full handshake each time (no session is
   * kept to resume): what connection set-up costs. @defaultValue false (keep-alive)
   */
  newConnectionEach?: boolean;
}

/**
 * Closed-loop load: `concurrency` keep-alive connections each send the next request as soon as the
 * previous answer is read, for `durationMs` (or until `maxRequests`). Plain node:http (node:https
 * for an https: URL) so the generator itself costs as little CPU as possible.
 */
export async function runLoad(baseUrl: string, next: () => LoadRequest, options: LoadOptions): Promise<LoadResult> {
  const url = new URL(baseUrl);
  const secure = url.protocol === 'https:';
  const keepAlive = !options.newConnectionEach;
  const agent = secure
    ? new https.Agent({ keepAlive, maxSockets: options.concurrency, ca: options.ca, maxCachedSessions: keepAlive ? 100 : 0 })
    : new http.Agent({ keepAlive, maxSockets: options.concurrency });
  const request = secure ? https.request : http.request;
  const statuses: Record<number, number> = {};
  let requests = 0;
  let resumedSessions = 0;
  const started = performance.now();
  const deadline = started + options.durationMs;
  const maxRequests = options.maxRequests ?? Number.POSITIVE_INFINITY;
  let issued = 0;
  const one = (spec: LoadRequest) =>
    new Promise<void>((resolve, reject) => {
      const req = request({ agent, host: url.hostname, port: url.port, method: spec.method ?? 'GET', path: spec.path, headers: spec.headers }, (res) => {
        res.resume();
        if (secure && (res.socket as TLSSocket).isSessionReused()) resumedSessions++;
        res.on('end', () => {
          statuses[res.statusCode ?? 0] = (statuses[res.statusCode ?? 0] ?? 0) + 1;
          requests++;
          resolve();
        });
      });
      req.on('error', reject);
      req.end(spec.body);
    });
  const loop = async () => {
    while (performance.now() < deadline && issued < maxRequests) {
      issued++;
      await one(next());
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, loop));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return { requests, perSecond: requests / seconds, statuses, resumedSessions };
}

/** "200×1234, 401×2" for messages. */
export function describeStatuses(statuses: Record<number, number>): string {
  return Object.entries(statuses)
    .map(([status, count]) => `${status}×${count}`)
    .join(', ');
}
