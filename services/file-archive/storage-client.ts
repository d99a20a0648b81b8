import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../platform/errors.ts';
import type { Logger } from '../platform/logger.ts';
import type { ServiceTokenSource } from './service-token.ts';
import type { StorageElementStore } from './storage-element-store.ts';
import { FILE_STREAM_BUFFER_BYTES } from './stream-buffer.ts';
import type { ByteRange } from '../platform/http/byte-range.ts';
import { requestForRelay, type RelayedAnswer } from './blob-relay.ts';

export interface StoredBlob {
  sha256: string;
  size: number;
}

/** Calls to storage elements, by element id, with the module's `storage` token. */
export interface StorageClient {
  /** Streams `body` in; with `expectedSha256` the element refuses (and discards) content that does not match. */
  put(elementId: string, body: Readable, options?: { expectedSha256?: string }): Promise<StoredBlob>;
  /** The element's 200 or 206 response, to be streamed on; any other answer throws. */
  read(elementId: string, sha256: string, range?: ByteRange): Promise<IncomingMessage>;
  /**
   * The same answer for relaying into a response (downloads): cheaper than `read` piped on, since
   * its chunks are never copied. The caller must `relayTo` or `discard` it.
   */
  openForRelay(elementId: string, sha256: string, range?: ByteRange): Promise<RelayedAnswer>;
  exists(elementId: string, sha256: string): Promise<boolean>;
  /** True when the element held the content. */
  remove(elementId: string, sha256: string): Promise<boolean>;
  /** Rejects with 404 storage_element_not_found when no element with that id is registered. */
  ensureKnown(elementId: string): Promise<void>;
}

const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
const ELEMENT_CACHE_MS = 5000;
/** Passed on to the socket (Node's types leave it out of RequestOptions): content moves in big steps. */
const socketBuffers = { highWaterMark: FILE_STREAM_BUFFER_BYTES };

const unavailable = (cause?: unknown) =>
  new AppError(503, 'storage_unavailable', 'Storage is unavailable right now; try again shortly', { cause, headers: { 'Retry-After': '5' } });

function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body?: Readable,
  tlsAgent?: https.Agent,
): Promise<{ res: IncomingMessage; req: ClientRequest }> {
  return new Promise((resolve, reject) => {
    const secure = url.protocol === 'https:';
    const req = (secure ? https : http).request(url, { method, headers, agent: secure ? (tlsAgent ?? agents.https) : agents.http, ...socketBuffers });
    req.once('response', (res) => resolve({ res, req }));
    req.once('error', reject);
    if (body) {
      pipeline(body, req).catch((err: unknown) => {
        req.destroy(err as Error);
        reject(err);
      });
    } else {
      req.end();
    }
  });
}

async function readJson(res: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  res.setEncoding('utf8');
  for await (const chunk of res) {
    text += chunk as string;
    if (text.length > 65_536) break;
  }
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/**
 * `tlsAgent`: with TLS on, the agent presenting this module's workload certificate (a new one after
 * each renewal), so storage elements see who calls them.
 */
export function createStorageClient(
  elements: StorageElementStore,
  tokens: ServiceTokenSource,
  logger: Logger,
  tlsAgent?: () => https.Agent | undefined,
): StorageClient {
  const known = new Map<string, { baseUrl: string; until: number }>();

  async function lookUp(elementId: string): Promise<string> {
    const element = await elements.find(elementId);
    if (!element) {
      known.delete(elementId);
      throw new AppError(404, 'storage_element_not_found', `No storage element "${elementId}" is registered`);
    }
    known.set(elementId, { baseUrl: element.baseUrl, until: Date.now() + ELEMENT_CACHE_MS });
    return element.baseUrl;
  }

  /**
   * An element's URL, read from the database at most every ELEMENT_CACHE_MS. Once an element is
   * known, asking never waits for the database: an expired entry answers at once and is read again
   * behind it. The ingester asks while its content lock's transaction holds a pooled connection;
   * waiting there for a second one let a busy pool deadlock until every transaction timed out.
   */
  async function baseUrl(elementId: string): Promise<string> {
    const cached = known.get(elementId);
    if (!cached) return lookUp(elementId);
    if (cached.until <= Date.now()) {
      cached.until = Date.now() + ELEMENT_CACHE_MS;
      lookUp(elementId).catch((err: unknown) => logger.warn({ err: (err as Error).message, elementId }, 'storage element lookup failed'));
    }
    return cached.baseUrl;
  }

  /**
   * One call through `send`; a refused token is dropped and, when the call can be repeated (it has
   * no body), tried once more with a new one.
   */
  async function withToken<A extends { status: number; discard(): void }>(
    elementId: string,
    repeatable: boolean,
    send: (token: string) => Promise<A>,
    sending?: Readable,
  ): Promise<A> {
    for (let attempt = 1; ; attempt++) {
      const token = await tokens.token();
      let answer: A;
      try {
        answer = await send(token);
      } catch (err) {
        if (err instanceof AppError) throw err;
        if (sending?.errored) throw sending.errored;
        logger.warn({ err: (err as Error).message, elementId }, 'storage element unreachable');
        throw unavailable(err);
      }
      if (answer.status === 401 || answer.status === 403) {
        answer.discard();
        tokens.invalidate(token);
        if (repeatable && attempt === 1) continue;
        logger.error({ status: answer.status, elementId }, 'storage element refused the storage token');
        throw unavailable();
      }
      return answer;
    }
  }

  async function call(elementId: string, method: string, path: string, headers: Record<string, string> = {}, body?: Readable) {
    const url = new URL(path, await baseUrl(elementId));
    return withToken(
      elementId,
      !body,
      async (token) => {
        const sent = await send(url, method, { ...headers, Authorization: `Bearer ${token}` }, body, tlsAgent?.());
        return {
          ...sent,
          status: sent.res.statusCode ?? 0,
          discard: () => {
            sent.res.resume();
            sent.req.destroy();
          },
        };
      },
      body,
    );
  }

  function fail(elementId: string, status: number, what: string): never {
    if (status === 507) throw new AppError(507, 'insufficient_storage', `Storage element "${elementId}" is out of space`);
    logger.error({ status, elementId, what }, 'storage element answered with an error');
    throw new AppError(502, 'storage_error', `Storage element "${elementId}" failed to ${what}`);
  }

  function contentMissing(elementId: string, sha256: string): never {
    logger.error({ elementId, sha256 }, 'file content missing from its storage element');
    throw new AppError(502, 'content_missing', 'The file content is missing from its storage element');
  }

  const rangeHeader = (range?: ByteRange): Record<string, string> => (range ? { Range: `bytes=${range.start}-${range.end}` } : {});

  const client: StorageClient = {
    async put(elementId, body, options = {}) {
      const sha = options.expectedSha256;
      const path = sha ? `/api/v1/blobs/${sha}` : '/api/v1/blobs';
      const { res, req } = await call(elementId, sha ? 'PUT' : 'POST', path, { 'Content-Type': 'application/octet-stream' }, body);
      if (res.statusCode === 200 || res.statusCode === 201) {
        const answer = await readJson(res);
        if (typeof answer.sha256 !== 'string' || typeof answer.size !== 'number')
          throw new AppError(502, 'storage_error', 'Storage element gave no content hash');
        return { sha256: answer.sha256, size: answer.size };
      }
      // An early refusal: stop sending the rest of the body.
      req.destroy();
      if (res.statusCode === 422) {
        res.resume();
        throw new AppError(502, 'content_mismatch', `Content stored on "${elementId}" did not match its sha256`);
      }
      res.resume();
      return fail(elementId, res.statusCode ?? 0, 'store content');
    },

    async read(elementId, sha256, range) {
      const { res } = await call(elementId, 'GET', `/api/v1/blobs/${sha256}`, rangeHeader(range));
      if (res.statusCode === 200 || res.statusCode === 206) return res;
      res.resume();
      if (res.statusCode === 404) contentMissing(elementId, sha256);
      return fail(elementId, res.statusCode ?? 0, 'read content');
    },

    async openForRelay(elementId, sha256, range) {
      const url = new URL(`/api/v1/blobs/${sha256}`, await baseUrl(elementId));
      if (url.protocol !== 'http:') {
        // TLS cannot be relayed without copies (blob-relay.ts says why): the same answer through https.request.
        const res = await client.read(elementId, sha256, range);
        return { status: res.statusCode ?? 0, length: Number(res.headers['content-length']), relayTo: (to) => pipeline(res, to), discard: () => res.destroy() };
      }
      const answer = await withToken(elementId, true, (token) => requestForRelay(url, { ...rangeHeader(range), Authorization: `Bearer ${token}` }));
      if (answer.status === 200 || answer.status === 206) return answer;
      answer.discard();
      if (answer.status === 404) contentMissing(elementId, sha256);
      return fail(elementId, answer.status, 'read content');
    },

    async exists(elementId, sha256) {
      const { res } = await call(elementId, 'HEAD', `/api/v1/blobs/${sha256}`);
      res.resume();
      if (res.statusCode === 200) return true;
      if (res.statusCode === 404) return false;
      return fail(elementId, res.statusCode ?? 0, 'look up content');
    },

    async remove(elementId, sha256) {
      const { res } = await call(elementId, 'DELETE', `/api/v1/blobs/${sha256}`);
      res.resume();
      if (res.statusCode === 204) return true;
      if (res.statusCode === 404) return false;
      return fail(elementId, res.statusCode ?? 0, 'delete content');
    },

    async ensureKnown(elementId) {
      await baseUrl(elementId);
    },
  };
  return client;
}
