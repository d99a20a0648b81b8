import type { Express } from 'express';
import { z } from 'zod';
import { auditedAction, reasonOf, statusOf } from '../audit-log/audited-action.ts';
import { fileEvent } from '../file-archive/file-events.ts';
import { toFileView } from '../file-archive/file-view.ts';
import { parseInput } from '../platform/http/validation.ts';
import { STORAGE_ELEMENT_ID_PATTERN } from '../platform/identifiers.ts';
import type { ServiceDeps } from '../platform/runtime.ts';
import type { FileOperations } from './file-operations.ts';
import { checkUploadHeaders, receiveUpload } from './multipart-upload.ts';

const transferBody = z.strictObject({
  target_storage_element: z.string().regex(STORAGE_ELEMENT_ID_PATTERN, 'must be a storage element id'),
});

/**
 * POST /api/v1/files/upload, DELETE /api/v1/files/:id, POST /api/v1/files/:id/transfer; roles
 * ingester or admin. Each outcome, success or not, is one audit event.
 */
export function mountFileRoutes(app: Express, deps: ServiceDeps, operations: FileOperations) {
  const ingesterOnly = deps.auth.require('ingester');
  const maxBytes = deps.config.storage.uploadMaxBytes;

  app.post('/api/v1/files/upload', ingesterOnly, async (req, res) => {
    let name: string | null = null;
    const file = await auditedAction(
      deps.audit,
      async () => {
        checkUploadHeaders(req, maxBytes);
        const upload = await receiveUpload(req, maxBytes, {
          store: (incoming) => {
            name = incoming.name;
            return operations.storeContent(incoming.content);
          },
          discard: (blob) => operations.discardContent(blob),
        });
        try {
          return await operations.recordUpload({ ...upload.file, owner: req.principal!, blob: upload.stored });
        } catch (err) {
          await operations.discardContent(upload.stored);
          throw err;
        }
      },
      {
        success: (stored) =>
          fileEvent(req, 'file_upload', 'upload', 'success', stored.id, {
            file_name: stored.originalName,
            file_size: Number(stored.size),
            sha256: stored.sha256,
            content_type: stored.contentType,
            storage_element_id: stored.storageElementId,
          }),
        failed: (err) => fileEvent(req, 'file_upload', 'upload', statusOf(err), null, { file_name: name, reason: reasonOf(err) }),
      },
      res,
    );
    res.status(201).json(toFileView(file));
  });

  app.delete('/api/v1/files/:id', ingesterOnly, async (req, res) => {
    const id = String(req.params.id);
    await auditedAction(
      deps.audit,
      () => operations.remove(id, req.principal!),
      {
        success: (file) =>
          fileEvent(req, 'file_delete', 'delete', 'success', file.id, {
            file_name: file.originalName,
            file_size: Number(file.size),
            storage_element_id: file.storageElementId,
          }),
        failed: (err) => fileEvent(req, 'file_delete', 'delete', statusOf(err), id, { reason: reasonOf(err) }),
      },
      res,
    );
    res.status(204).end();
  });

  app.post('/api/v1/files/:id/transfer', ingesterOnly, async (req, res) => {
    const id = String(req.params.id);
    let target: string | null = null;
    const { file } = await auditedAction(
      deps.audit,
      () => {
        target = parseInput(transferBody, req.body).target_storage_element;
        return operations.transfer(id, target, req.principal!);
      },
      {
        success: (moved) =>
          fileEvent(req, 'file_transfer', 'transfer', 'success', moved.file.id, {
            file_name: moved.file.originalName,
            file_size: Number(moved.file.size),
            from_storage_element: moved.from,
            to_storage_element: moved.file.storageElementId,
          }),
        failed: (err) => fileEvent(req, 'file_transfer', 'transfer', statusOf(err), id, { target_storage_element: target, reason: reasonOf(err) }),
      },
      res,
    );
    res.json(toFileView(file));
  });
}
