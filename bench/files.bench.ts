/**
 * File archive figures: upload and download of a 1 GiB file through the real modules (each its own
 * process: ingester → storage element on upload, storage element → query on download), in MiB/s
 * next to a plain stream copy of the same file measured in the same run; and the peak resident
 * memory (VmHWM from /proc) of each module after moving it, which must stay flat whatever the size.
 */
import { createWriteStream } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { requestForRelay } from '../services/file-archive/blob-relay.ts';
import { startChildService, type ChildService } from '../test/support/child-service.ts';
import { testEnv } from '../test/support/infra.ts';
import { adminToken } from '../test/support/tokens.ts';
import type { Benchmark, Figure } from './report.ts';
import { generateFile, median, MiB, plainCopy, removeFile, sha256Of, timed, uploadFile } from './support/file-transfer.ts';

const FILE_BYTES = 2 ** 30;
const ROUNDS = 3;
const WARM_UP_BYTES = 64 * 2 ** 20;
const RSS_LIMIT_MB = 200;

/**
 * The download client reads the way query reads from the storage element (`requestForRelay`: no
 * per-chunk copies), so the figure is the modules' throughput, not Node's HTTP client's.
 */
async function download(url: string, token: string, id: string, to: string): Promise<void> {
  const answer = await requestForRelay(new URL(`/api/v1/files/${id}/download`, url), { Authorization: `Bearer ${token}` });
  if (answer.status !== 200) {
    answer.discard();
    throw new Error(`download answered ${answer.status}`);
  }
  await answer.relayTo(createWriteStream(to, { flush: true, highWaterMark: MiB }));
}

/** Resets the kernel's record of a process's peak resident memory (VmHWM) to its current size. */
const resetPeak = (pid: number) => writeFile(`/proc/${pid}/clear_refs`, '5');

/** Peak and current resident memory of a process, in MB (VmHWM and VmRSS of /proc/<pid>/status). */
async function memoryOf(pid: number): Promise<{ peakMb: number; rssMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { peakMb: kb('VmHWM') / 1024, rssMb: kb('VmRSS') / 1024 };
}

const benchmark: Benchmark = {
  title: 'File archive: moving a 1 GiB file through the modules',
  async run(): Promise<Figure[]> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'artstore-files-bench-'));
    const started: ChildService[] = [];
    try {
      const source = path.join(dir, 'source.bin');
      const copy = path.join(dir, 'copy.bin');
      const received = path.join(dir, 'received.bin');
      const warmUp = path.join(dir, 'warm-up.bin');
      const sha256 = await generateFile(source, FILE_BYTES);
      await generateFile(warmUp, WARM_UP_BYTES);

      const env = testEnv({ LOG_LEVEL: 'info', UPLOAD_MAX_BYTES: String(2 * FILE_BYTES), STORAGE_ELEMENT_ID: 'bench', UPLOAD_STORAGE_ELEMENT: 'bench' });
      const own = (service: string) => ({ AUDIT_SPOOL_DIR: path.join(dir, 'spool', service) });
      const admin = await startChildService('services/admin/main.ts', { ...env, ...own('admin') }, { compiled: true });
      started.push(admin);
      const withAdmin = { ...env, ADMIN_URL: admin.url };
      const storage = await startChildService(
        'services/storage-element/main.ts',
        { ...withAdmin, ...own('storage'), STORAGE_ROOT: path.join(dir, 'storage') },
        { compiled: true },
      );
      started.push(storage);
      const [ingester, query] = await Promise.all([
        startChildService('services/ingester/main.ts', { ...withAdmin, ...own('ingester') }, { compiled: true }),
        startChildService('services/query/main.ts', { ...withAdmin, ...own('query') }, { compiled: true }),
      ]);
      started.push(ingester, query);
      const modules = { 'storage-element': storage, ingester, query };
      const token = await adminToken(admin.url);

      // Warm-up: every code path has run once (database client, token, connections) before memory is read.
      const warm = await uploadFile(ingester.url, token, warmUp, WARM_UP_BYTES);
      await download(query.url, token, warm.id, received);
      await removeFile(fetch, ingester.url, token, warm.id);
      await rm(received, { force: true });
      const idle = Object.fromEntries(await Promise.all(Object.entries(modules).map(async ([name, s]) => [name, await memoryOf(s.pid)] as const)));
      await Promise.all(Object.values(modules).map((s) => resetPeak(s.pid)));

      const seconds = { copy: [] as number[], copyFile: [] as number[], upload: [] as number[], download: [] as number[] };
      // Alternating rounds, so drift on a shared machine hits every side alike; medians are reported.
      for (let round = 0; round < ROUNDS; round++) {
        seconds.copy.push(await timed(() => plainCopy(source, copy)));
        await rm(copy, { force: true });
        seconds.copyFile.push(await timed(() => copyFile(source, copy)));
        await rm(copy, { force: true });
        let file: { id: string; sha256: string } | undefined;
        seconds.upload.push(await timed(async () => (file = await uploadFile(ingester.url, token, source, FILE_BYTES))));
        if (file!.sha256 !== sha256) throw new Error('the archive stored other content than was sent');
        seconds.download.push(await timed(() => download(query.url, token, file!.id, received)));
        if ((await stat(received)).size !== FILE_BYTES || (round === 0 && (await sha256Of(received)) !== sha256))
          throw new Error('the download differs from the upload');
        await rm(received, { force: true });
        await removeFile(fetch, ingester.url, token, file!.id);
      }
      const peaks = Object.fromEntries(await Promise.all(Object.entries(modules).map(async ([name, s]) => [name, await memoryOf(s.pid)] as const)));

      const rate = (values: number[]) => FILE_BYTES / MiB / median(values);
      const baseline = { name: 'plain stream copy + fsync, same file', value: rate(seconds.copy), unit: 'MiB/s' };
      const figures: Figure[] = [
        {
          name: 'upload 1 GiB (client → ingester → storage element: multipart, sha256, fsync)',
          value: rate(seconds.upload),
          unit: 'MiB/s',
          baseline,
          target: '≥ 0.6 of baseline',
          met: rate(seconds.upload) / baseline.value >= 0.6,
        },
        {
          name: 'download 1 GiB (storage element → query → client file + fsync)',
          value: rate(seconds.download),
          unit: 'MiB/s',
          baseline,
          target: '≥ 0.6 of baseline',
          met: rate(seconds.download) / baseline.value >= 0.6,
        },
        {
          name: 'fs.copyFile of the same file (kernel copy, no fsync; reference)',
          value: rate(seconds.copyFile),
          unit: 'MiB/s',
          target: 'reference only',
          met: true,
        },
      ];
      for (const [name, memory] of Object.entries(peaks)) {
        const before = idle[name]!.rssMb;
        figures.push({
          name: `peak RSS of ${name} while moving 1 GiB ×${ROUNDS} (VmHWM; ${before.toFixed(0)} MB when idle and warm, +${(memory.peakMb - before).toFixed(0)} MB)`,
          value: memory.peakMb,
          unit: 'MB',
          target: `≤ ${RSS_LIMIT_MB} MB`,
          met: memory.peakMb <= RSS_LIMIT_MB,
        });
      }
      return figures;
    } finally {
      await Promise.all(started.map((service) => service.stop()));
      await rm(dir, { recursive: true, force: true });
    }
  },
};
export default benchmark;
