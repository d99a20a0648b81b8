import type { Request, RequestHandler, Response } from 'express';
import type { FileRecord } from '../platform/db/client.ts';
import { AppError } from '../platform/errors.ts';
import { auditedAction, reasonOf, recordOutcome, statusOf } from '../audit-log/audited-action.ts';
import { fileEvent } from '../file-archive/file-events.ts';
import type { StorageClient } from '../file-archive/storage-client.ts';
import { parseByteRange } from '../platform/http/byte-range.ts';
import type { ServiceDeps } from '../platform/runtime.ts';
import { attachmentDisposition } from './content-disposition.ts';

/** Whether an If-None-Match / If-Range value names this ETag (weak comparison for If-None-Match). */
const namesEtag = (header: string | undefined, etag: string) => header?.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag || tag.trim() === '*');

/**
 * GET /api/v1/files/:id/download: the content streamed from its storage element with
 * Content-Length, ETag (the sha256), Range (206/416) and a safe Content-Disposition. One
 * file_download event per answer that sends content or fails, published once the transfer ended.
 */
export function downloadHandler(deps: ServiceDeps, findFile: (id: string) => Promise<FileRecord>, storage: StorageClient): RequestHandler {
  const publish = (req: Request, res: Response, status: 'success' | 'failure' | 'denied', id: string, details: Record<string, string | number | null>) =>
    recordOutcome(deps.audit, fileEvent(req, 'file_download', 'download', status, id, details), res);

  return async (req, res) => {
    const id = String(req.params.id);
    const file = await auditedAction(
      deps.audit,
      () => findFile(id),
      { failed: (err) => fileEvent(req, 'file_download', 'download', statusOf(err), id, { reason: reasonOf(err) }) },
      res,
    );
    const size = Number(file.size);
    const etag = `"${file.sha256}"`;
    const about = { file_name: file.originalName, file_size: size, storage_element_id: file.storageElementId };
    // setHeader, not res.set: Express would append a charset the stored content may not have.
    res.setHeader('Content-Type', file.contentType);
    res.set({
      ETag: etag,
      'Accept-Ranges': 'bytes',
      'Content-Disposition': attachmentDisposition(file.originalName),
      'X-Content-Type-Options': 'nosniff',
      // Content served here must never run as a page of this origin.
      'Content-Security-Policy': "sandbox; default-src 'none'",
      'Cache-Control': 'private, no-cache',
    });
    if (namesEtag(req.get('if-none-match'), etag)) {
      res.status(304).end();
      return;
    }
    const ifRange = req.get('if-range');
    const answer = ifRange !== undefined && ifRange.trim() !== etag ? ({ kind: 'full' } as const) : parseByteRange(req.get('range'), size);
    if (answer.kind === 'unsatisfiable') {
      await publish(req, res, 'failure', file.id, { ...about, reason: 'range_not_satisfiable', range: req.get('range')?.slice(0, 100) ?? null });
      throw new AppError(416, 'range_not_satisfiable', `The file is ${size} bytes long`, { headers: { 'Content-Range': `bytes */${size}` } });
    }
    const range = answer.kind === 'partial' ? answer.range : undefined;
    const length = range ? range.end - range.start + 1 : size;
    if (req.method === 'HEAD') {
      res.status(range ? 206 : 200).set('Content-Length', String(length));
      if (range) res.set('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
      res.end();
      return;
    }
    const rangeText = range ? `${range.start}-${range.end}` : null;
    let upstream: Awaited<ReturnType<StorageClient['openForRelay']>> | undefined;
    try {
      upstream = size === 0 ? undefined : await storage.openForRelay(file.storageElementId, file.sha256, range);
      if (upstream && upstream.length !== length) {
        upstream.discard();
        throw new AppError(502, 'content_mismatch', 'The stored content does not have the length of the file');
      }
    } catch (err) {
      await publish(req, res, 'failure', file.id, { ...about, range: rangeText, reason: reasonOf(err) });
      throw err;
    }
    res.status(range ? 206 : 200).set('Content-Length', String(length));
    if (range) res.set('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
    if (!upstream) {
      res.end();
      await publish(req, res, 'success', file.id, { ...about, range: rangeText, bytes_sent: 0 });
      return;
    }
    try {
      await upstream.relayTo(res);
      await publish(req, res, 'success', file.id, { ...about, range: rangeText, bytes_sent: length });
    } catch (err) {
      req.log.warn({ err: (err as Error).message, fileId: file.id }, 'download ended early');
      await publish(req, res, 'failure', file.id, { ...about, range: rangeText, reason: 'transfer_interrupted' });
    }
  };
}
