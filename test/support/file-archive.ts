import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Env } from '../../services/platform/config/index.ts';
import type { RunningService } from '../../services/platform/runtime.ts';
import { start as startAuditWriter } from '../../workers/audit-writer/worker.ts';
import { isolatedPrefix, testConfig } from './infra.ts';
import { MODULES } from './modules.ts';
import { accountWithToken, adminToken } from './tokens.ts';
import { waitFor } from './wait-for.ts';

/**
 * The file archive running in-process: admin, two storage elements (ids unique to this start, roots
 * in a temporary directory), ingester, query and an audit writer, on one BullMQ prefix of their own.
 */
export async function startFileArchive(overrides: Env = {}) {
  const prefix = isolatedPrefix('files');
  const suffix = randomBytes(3).toString('hex');
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'artstore-files-'));
  const elements = { hot: `hot-${suffix}`, archive: `archive-${suffix}` };
  const roots = { hot: path.join(dataDir, 'hot'), archive: path.join(dataDir, 'archive') };
  const started: RunningService[] = [];
  const run = async (service: Parameters<typeof testConfig>[0], start: (config: ReturnType<typeof testConfig>) => Promise<RunningService>, env: Env = {}) => {
    const running = await start(testConfig(service, { BULLMQ_PREFIX: prefix, UPLOAD_STORAGE_ELEMENT: elements.hot, ...overrides, ...env }));
    started.push(running);
    return running;
  };
  try {
    const admin = await run('admin', MODULES.admin);
    // Its tokens are audited: wait until its Redis is ready (a Redis Cluster can take longer than a start waits).
    await waitFor(() => fetch(`${admin.url}/ready`).then((res) => res.ok), { timeoutMs: 30_000, message: 'admin to be ready' });
    const withAdmin = { ADMIN_URL: admin.url };
    const [hot, archive, ingester, query, writer] = await Promise.all([
      run('storage-element', MODULES['storage-element'], { ...withAdmin, STORAGE_ELEMENT_ID: elements.hot, STORAGE_ROOT: roots.hot }),
      run('storage-element', MODULES['storage-element'], { ...withAdmin, STORAGE_ELEMENT_ID: elements.archive, STORAGE_ROOT: roots.archive }),
      run('ingester', MODULES.ingester, withAdmin),
      run('query', MODULES.query, withAdmin),
      run('audit-writer', startAuditWriter),
    ]);
    const adminBearer = await adminToken(admin.url);
    const [uploader, reader] = await Promise.all([accountWithToken(admin.url, adminBearer, 'ingester'), accountWithToken(admin.url, adminBearer, 'reader')]);
    return {
      admin,
      hot,
      archive,
      ingester,
      query,
      writer,
      prefix,
      elements,
      roots,
      tokens: { admin: adminBearer, ingester: uploader.token, reader: reader.token },
      accounts: { ingester: uploader.service_account.id, reader: reader.service_account.id },
      /** Every file under a storage root (content and temporary), relative to it. */
      async filesUnder(root: string): Promise<string[]> {
        const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
        return entries
          .filter((e) => e.isFile())
          .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
          .sort();
      },
      async stop() {
        await Promise.all(started.map((s) => s.stop()));
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(started.map((s) => s.stop()));
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}

export type FileArchive = Awaited<ReturnType<typeof startFileArchive>>;

/** multipart/form-data with one file part, built by hand so hostile names reach the server unchanged. */
export function multipartBody(fileName: string, content: Buffer, options: { field?: string; contentType?: string; rawDisposition?: string } = {}) {
  const boundary = `----artstore${randomBytes(8).toString('hex')}`;
  const disposition = options.rawDisposition ?? `form-data; name="${options.field ?? 'file'}"; filename="${fileName}"`;
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\nContent-Type: ${options.contentType ?? 'text/plain'}\r\n\r\n`, 'utf8');
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return { body: Buffer.concat([head, content, tail]), contentType: `multipart/form-data; boundary=${boundary}` };
}
