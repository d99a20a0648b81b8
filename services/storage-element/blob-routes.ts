import { requirePeer } from '../platform/tls/peer-identity.ts';
import type { Express, Request, RequestHandler, Response } from 'express';
import { Counter } from 'prom-client';
import { auditedAction, reasonOf, recordOutcome, statusOf } from '../audit-log/audited-action.ts';
import type { AuditEventInput } from '../audit-log/publisher.ts';
import { requestAuditContext } from '../audit-log/request-events.ts';
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

/** A read or delete of content, naming the calling account: a storage token is as audited as a file download. */
function blobEvent(
  req: Request,
  type: 'blob_read' | 'blob_delete',
  status: AuditEventInput['status'],
  elementId: string,
  details: Record<string, string | number | null>,
): AuditEventInput {
  return {
    event_type: type,
    action: type === 'blob_read' ? 'read' : 'delete',
    status,
    resource_type: 'blob',
    resource_id: String(req.params.sha256).slice(0, 200),
    ...requestAuditContext(req),
    details: { storage_element_id: elementId, ...details },
  };
}

/**
 * The storage element's API, for module-to-module calls (role `storage`) and admins:
 * POST /api/v1/blobs (content in, its sha256 out), PUT /api/v1/blobs/:sha256 (content that must
 * match), GET/HEAD with Range, DELETE. Every GET and DELETE is an audit event; content a live file
 * points at cannot be deleted here (409): only the ingester's delete path, which removes the file
 * first, frees it.
 */
export function mountBlobRoutes(app: Express, deps: ServiceDeps, blobs: BlobStore, references: (sha256: string) => Promise<number>) {
  const { elementId } = deps.config.storage;
  // Blobs are for the modules that hold files: with TLS on, only ingester and query, by their certificates, on top of the token.
  const peer = requirePeer(deps.config.tls.mode === 'on', 'ingester', 'query');
  const storageToken = deps.auth.require('storage');
  const storageOnly: RequestHandler = (req, res, next) => peer(req, res, (err?: unknown) => (err ? next(err) : storageToken(req, res, next)));
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

  app.post(
    '/api/v1/blobs',
    storageOnly,
    store(() => undefined),
  );
  app.put('/api/v1/blobs/:sha256', storageOnly, store(shaParam));

  const serve: RequestHandler = async (req, res: Response) => {
    const audited = req.method === 'GET';
    const read = (status: AuditEventInput['status'], details: Record<string, string | number | null>) =>
      audited ? recordOutcome(deps.audit, blobEvent(req, 'blob_read', status, elementId, details), res) : Promise.resolve();
    const lookUp = async () => {
      const sha256 = shaParam(req);
      const size = await blobs.sizeOf(sha256);
      if (size === undefined) throw notHere();
      return { sha256, size };
    };
    const { sha256, size } = audited
      ? await auditedAction(deps.audit, lookUp, { failed: (err) => blobEvent(req, 'blob_read', statusOf(err), elementId, { reason: reasonOf(err) }) }, res)
      : await lookUp();
    res.set({ 'Accept-Ranges': 'bytes', ETag: `"${sha256}"`, 'Content-Type': 'application/octet-stream' });
    const answer = parseByteRange(req.get('range'), size);
    if (answer.kind === 'unsatisfiable') {
      await read('failure', { reason: 'range_not_satisfiable', size });
      throw new AppError(416, 'range_not_satisfiable', `The content is ${size} bytes long`, { headers: { 'Content-Range': `bytes */${size}` } });
    }
    const range = answer.kind === 'partial' ? answer.range : undefined;
    if (range) res.status(206).set('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    const length = range ? range.end - range.start + 1 : size;
    res.set('Content-Length', String(length));
    const rangeText = range ? `${range.start}-${range.end}` : null;
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      await read('success', { size, range: rangeText, bytes_sent: 0 });
      return;
    }
    const file = await blobs.open(sha256);
    if (!file) {
      await read('failure', { reason: 'blob_not_found' });
      throw notHere();
    }
    try {
      await writeFileRange(file, res, range?.start ?? 0, length);
      res.end();
      bytes.inc({ direction: 'out' }, length);
      await read('success', { size, range: rangeText, bytes_sent: length });
    } catch (err) {
      // A client that goes away mid-stream is not an error of ours; either way the answer is cut off.
      if (!(err instanceof DestinationClosedError)) req.log.warn({ err: (err as Error).message, sha256 }, 'content stream failed');
      res.destroy();
      await read('failure', { size, range: rangeText, reason: 'transfer_interrupted' });
    } finally {
      await file.close();
    }
  };
  app.get('/api/v1/blobs/:sha256', storageOnly, serve);
  app.head('/api/v1/blobs/:sha256', storageOnly, serve);

  app.delete('/api/v1/blobs/:sha256', storageOnly, async (req, res) => {
    await auditedAction(
      deps.audit,
      async () => {
        const sha256 = shaParam(req);
        const files = await references(sha256);
        if (files > 0) throw new AppError(409, 'content_in_use', `${files} file(s) still point at this content; delete them through the ingester`);
        if (!(await blobs.remove(sha256))) throw notHere();
      },
      {
        success: () => blobEvent(req, 'blob_delete', 'success', elementId, {}),
        failed: (err) => blobEvent(req, 'blob_delete', statusOf(err), elementId, { reason: reasonOf(err) }),
      },
      res,
    );
    res.status(204).end();
  });
}
