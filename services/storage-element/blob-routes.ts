import type { Express, Request, RequestHandler, Response } from 'express';
import { Counter } from 'prom-client';
import { AppError } from '../platform/errors.ts';
import { DestinationClosedError, writeFileRange } from '../file-archive/file-range-writer.ts';
import { parseByteRange } from '../platform/http/byte-range.ts';
import type { ServiceDeps } from '../platform/runtime.ts';
import { SHA256_HEX, type BlobStore } from './blob-store.ts';

function shaParam(req: Request): string {
  const sha256 = String(req.params.sha256);
  if (!SHA256_HEX.test(sha256)) throw new AppError(400, 'invalid_sha256', 'The content id must be 64 lowercase hex digits (sha256)');
  return sha256;
}

const notHere = () => new AppError(404, 'blob_not_found', 'No content with that sha256 on this storage element');

/**
 * The storage element's API, for module-to-module calls (role `storage`) and admins:
 * POST /api/v1/blobs (content in, its sha256 out), PUT /api/v1/blobs/:sha256 (content that must
 * match), GET/HEAD with Range, DELETE.
 */
export function mountBlobRoutes(app: Express, deps: ServiceDeps, blobs: BlobStore) {
  const storageOnly = deps.auth.require('storage');
  const bytes = new Counter({
    name: 'storage_element_bytes_total',
    help: 'Content bytes stored and served by this storage element, by direction (in, out)',
    labelNames: ['direction'],
    registers: [deps.metrics.registry],
  });

  const store =
    (expected: (req: Request) => string | undefined): RequestHandler =>
    async (req, res) => {
      const expectedSha256 = expected(req);
      if (!req.is('application/octet-stream')) {
        throw new AppError(415, 'unsupported_media_type', 'Content must be sent as application/octet-stream');
      }
      const stored = await blobs.write(req, expectedSha256);
      bytes.inc({ direction: 'in' }, stored.size);
      res.status(stored.created ? 201 : 200).json({ sha256: stored.sha256, size: stored.size, element_id: deps.config.storage.elementId });
    };

  app.post('/api/v1/blobs', storageOnly, store(() => undefined));
  app.put('/api/v1/blobs/:sha256', storageOnly, store(shaParam));

  const serve: RequestHandler = async (req, res: Response) => {
    const sha256 = shaParam(req);
    const size = await blobs.sizeOf(sha256);
    if (size === undefined) throw notHere();
    res.set({ 'Accept-Ranges': 'bytes', ETag: `"${sha256}"`, 'Content-Type': 'application/octet-stream' });
    const answer = parseByteRange(req.get('range'), size);
    if (answer.kind === 'unsatisfiable') {
      throw new AppError(416, 'range_not_satisfiable', `The content is ${size} bytes long`, { headers: { 'Content-Range': `bytes */${size}` } });
    }
    const range = answer.kind === 'partial' ? answer.range : undefined;
    if (range) res.status(206).set('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    const length = range ? range.end - range.start + 1 : size;
    res.set('Content-Length', String(length));
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return;
    }
    const file = await blobs.open(sha256);
    if (!file) throw notHere();
    try {
      await writeFileRange(file, res, range?.start ?? 0, length);
      res.end();
      bytes.inc({ direction: 'out' }, length);
    } catch (err) {
      // A client that goes away mid-stream is not an error of ours; either way the answer is cut off.
      if (!(err instanceof DestinationClosedError)) req.log.warn({ err: (err as Error).message, sha256 }, 'content stream failed');
      res.destroy();
    } finally {
      await file.close();
    }
  };
  app.get('/api/v1/blobs/:sha256', storageOnly, serve);
  app.head('/api/v1/blobs/:sha256', storageOnly, serve);

  app.delete('/api/v1/blobs/:sha256', storageOnly, async (req, res) => {
    if (!(await blobs.remove(shaParam(req)))) throw notHere();
    res.status(204).end();
  });
}
