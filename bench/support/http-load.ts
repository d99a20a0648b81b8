import { Agent, request, type OutgoingHttpHeaders } from 'node:http';

export interface LoadResult {
  requests: number;
  perSecond: number;
  /** Count of answers by HTTP status. */
  statuses: Record<number, number>;
}

export interface LoadRequest {
  method?: string;
  path: string;
  headers?: OutgoingHttpHeaders;
  body?: string;
}

/**
 * Closed-loop load: `concurrency` keep-alive connections each send the next request as soon as the
 * previous answer is read, for `durationMs` (or until `maxRequests`). Plain node:http so the
 * generator itself costs as little CPU as possible.
 */
export async function runLoad(
  baseUrl: string,
  next: () => LoadRequest,
  options: { concurrency: number; durationMs: number; maxRequests?: number },
): Promise<LoadResult> {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const statuses: Record<number, number> = {};
  let requests = 0;
  const started = performance.now();
  const deadline = started + options.durationMs;
  const maxRequests = options.maxRequests ?? Number.POSITIVE_INFINITY;
  let issued = 0;
  const one = (spec: LoadRequest) =>
    new Promise<void>((resolve, reject) => {
      const req = request({ agent, host: url.hostname, port: url.port, method: spec.method ?? 'GET', path: spec.path, headers: spec.headers }, (res) => {
        res.resume();
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
  return { requests, perSecond: requests / seconds, statuses };
}

/** "200×1234, 401×2" for messages. */
export function describeStatuses(statuses: Record<number, number>): string {
  return Object.entries(statuses)
    .map(([status, count]) => `${status}×${count}`)
    .join(', ');
}
