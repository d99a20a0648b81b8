import type { Express } from 'express';
import { z } from 'zod';
import type { FileRecord } from '../platform/db/client.ts';
import { AppError } from '../platform/errors.ts';
import { toFileView } from '../file-archive/file-view.ts';
import type { StorageClient } from '../file-archive/storage-client.ts';
import type { ServiceDeps } from '../platform/runtime.ts';
import { downloadHandler } from './download.ts';
import type { FileSearchStore } from './file-search-store.ts';
import { encodeCursor, parseSearch } from './search-params.ts';

/** GET /api/v1/files (search), /api/v1/files/:id (metadata), /api/v1/files/:id/download; roles reader or admin. */
export function mountQueryRoutes(app: Express, deps: ServiceDeps, files: FileSearchStore, storage: StorageClient) {
  const readerOnly = deps.auth.require('reader');

  async function findFile(id: string): Promise<FileRecord> {
    const file = z.uuid().safeParse(id).success ? await files.findById(id) : null;
    if (!file) throw new AppError(404, 'file_not_found', 'No file with that id');
    return file;
  }

  app.get('/api/v1/files', readerOnly, async (req, res) => {
    const search = parseSearch(req.query);
    const rows = await files.search(search.filter, search.limit + 1, search.after);
    const page = rows.slice(0, search.limit);
    const last = page.at(-1);
    res.json({ items: page.map(toFileView), next_cursor: rows.length > search.limit && last ? encodeCursor(last.createdAt, last.id) : null });
  });

  app.get('/api/v1/files/:id', readerOnly, async (req, res) => {
    res.json(toFileView(await findFile(String(req.params.id))));
  });

  const download = downloadHandler(deps, findFile, storage);
  app.get('/api/v1/files/:id/download', readerOnly, download);
  app.head('/api/v1/files/:id/download', readerOnly, download);
}
