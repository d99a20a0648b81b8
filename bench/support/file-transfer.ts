/**
 * Moving big files through the modules for the benches: a random file, the plain copy every
 * transfer is compared with, and the upload and delete a client makes, over HTTP or HTTPS.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream/promises';
import { writeFileRange } from '../../services/file-archive/file-range-writer.ts';

export const MiB = 2 ** 20;
const BLOCK_BYTES = 8 * MiB;

/** A file of `bytes` fresh random bytes (nothing compresses or deduplicates along the way); its sha256, hex. */
export async function generateFile(file: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  const out = createWriteStream(file);
  for (let written = 0; written < bytes; written += BLOCK_BYTES) {
    const block = randomBytes(BLOCK_BYTES);
    hash.update(block);
    if (!out.write(block)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return hash.digest('hex');
}

export async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return (performance.now() - started) / 1000;
}

export const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** What the archive does to the bytes, without the archive: read the file, write a copy, fsync it. */
export const plainCopy = (from: string, to: string) => pipeline(createReadStream(from, { highWaterMark: MiB }), createWriteStream(to, { flush: true }));

/** Uploads `file` as multipart to the ingester at `url` (https with `ca`, the bundle to trust). */
export function uploadFile(url: string, token: string, file: string, bytes: number, ca?: string): Promise<{ id: string; sha256: string }> {
  const boundary = `----bench${randomBytes(8).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="bench-1GiB.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  return new Promise((resolve, reject) => {
    const options = {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${token}`,
        'Content-Type': `multipart/form-data; boundary=${boundary}`,
        'Content-Length': head.length + bytes + tail.length,
      },
    };
    const target = `${url}/api/v1/files/upload`;
    const req = ca ? https.request(target, { ...options, ca }) : http.request(target, options);
    req.on('error', reject);
    req.on('response', async (res) => {
      let text = '';
      for await (const chunk of res) text += chunk;
      if (res.statusCode !== 201) reject(new Error(`upload answered ${res.statusCode}: ${text}`));
      else resolve(JSON.parse(text) as { id: string; sha256: string });
    });
    req.write(head);
    // From reused buffers, as the storage element serves files: the client allocates nothing per
    // chunk (as curl would not), so the figure measures the modules, not the load generator.
    void open(file, 'r').then(async (handle) => {
      try {
        await writeFileRange(handle, req, 0, bytes);
        req.end(tail);
      } catch (err) {
        reject(err);
      } finally {
        await handle.close();
      }
    }, reject);
  });
}

export async function removeFile(fetchWith: (url: string, init: RequestInit) => Promise<Response>, url: string, token: string, id: string) {
  const res = await fetchWith(`${url}/api/v1/files/${id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
  if (res.status !== 204) throw new Error(`delete answered ${res.status}`);
}

export async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: MiB })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
