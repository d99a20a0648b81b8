import { randomBytes } from 'node:crypto';
import type { PacedRequest } from './request-load.ts';
import { uploadOver } from './tls-modules.ts';
import type { UrlFetch } from './tokens.ts';

/**
 * Small files uploaded through the ingester and read back through query, each request a user's: an
 * upload is a new file of random text, a download asks for any file uploaded so far and checks it is
 * that file's content. Both reach the storage element, over mutual TLS when TLS is on. A request
 * rejects with what went wrong (unreachable, the status and body, other content).
 */
export function fileTraffic(client: { fetch: UrlFetch }, urls: { ingester: string; query: string }, token: string) {
  const files: { id: string; content: string }[] = [];
  const upload = async () => {
    const content = randomBytes(96).toString('base64url');
    const answer = await uploadOver(client, urls.ingester, token, content, 'traffic.txt').catch((err: Error) => {
      throw new Error('upload: the ingester could not be reached', { cause: err });
    });
    const text = await answer.text();
    if (answer.status !== 201) throw new Error(`upload answered ${answer.status}: ${text.slice(0, 200)}`);
    files.push({ id: (JSON.parse(text) as { id: string }).id, content });
  };
  const download = async () => {
    const file = files[Math.floor(Math.random() * files.length)];
    if (!file) throw new Error('download: no file has been uploaded yet');
    const answer = await client
      .fetch(`${urls.query}/api/v1/files/${file.id}/download`, { headers: { Authorization: `Bearer ${token}` } })
      .catch((err: Error) => {
        throw new Error('download: the query module could not be reached', { cause: err });
      });
    const text = await answer.text();
    if (answer.status !== 200) throw new Error(`download answered ${answer.status}: ${text.slice(0, 200)}`);
    if (text !== file.content) throw new Error(`download of ${file.id} returned other content`);
  };
  /** One request in `uploadEvery` an upload (request 0 among them), the others downloads. */
  const mix =
    (uploadEvery: number): PacedRequest =>
    (n) =>
      n % uploadEvery === 0 ? upload() : download();
  return { upload, download, mix };
}
