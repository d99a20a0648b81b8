import type { Request } from 'express';
import busboy, { type Busboy } from 'busboy';
import type { Readable } from 'node:stream';
import { AppError } from '../platform/errors.ts';
import { FILE_STREAM_BUFFER_BYTES } from '../file-archive/stream-buffer.ts';
import { acceptContentType, acceptFileName, MAX_FILE_NAME_LENGTH, type FileNameProblem } from '../file-archive/file-names.ts';

/** The one file part of an upload, as it streams in. */
export interface IncomingFile {
  name: string;
  contentType: string;
  content: Readable;
}

export const FILE_FIELD = 'file';
/** Room for the multipart framing around the file when Content-Length is checked up front. */
const MULTIPART_OVERHEAD_BYTES = 1 << 20;

const NAME_PROBLEMS: Record<FileNameProblem, string> = {
  missing: 'The file part has no usable file name',
  control_characters: 'The file name contains control or bidirectional-override characters',
  too_long: `The file name is longer than ${MAX_FILE_NAME_LENGTH} characters`,
};

export const tooLarge = (maxBytes: number) =>
  new AppError(413, 'file_too_large', `The file exceeds the upload limit of ${maxBytes} bytes`, { headers: { Connection: 'close' } });

/** Refuses before reading a byte what cannot be a valid upload. */
export function checkUploadHeaders(req: Request, maxBytes: number) {
  if (!req.is('multipart/form-data')) {
    throw new AppError(415, 'unsupported_media_type', `Send the file as multipart/form-data in a field named "${FILE_FIELD}"`, {
      headers: { Connection: 'close' },
    });
  }
  const declared = Number(req.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes + MULTIPART_OVERHEAD_BYTES) throw tooLarge(maxBytes);
}

/**
 * Reads a multipart/form-data upload of exactly one file (field `file`, other fields ignored) and
 * hands its content, while it streams, to `store`. Resolves with what `store` returned once the
 * whole request has been read. On any failure — malformed multipart, a bad file name, more than
 * `maxBytes`, the client going away, `store` failing — the content stream is destroyed (so nothing
 * partial is kept), content `store` already kept is given to `discard`, and it rejects with a 4xx.
 */
export function receiveUpload<T>(
  req: Request,
  maxBytes: number,
  handlers: { store(file: IncomingFile): Promise<T>; discard(stored: T): Promise<void> },
): Promise<{ file: Omit<IncomingFile, 'content'>; stored: T }> {
  return new Promise((resolve, reject) => {
    let parser: Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        preservePath: true,
        defParamCharset: 'utf8',
        // Large buffers: a gigabyte moves in fewer, bigger chunks (memory stays a few MiB per upload).
        highWaterMark: FILE_STREAM_BUFFER_BYTES,
        fileHwm: FILE_STREAM_BUFFER_BYTES,
        // One byte past the limit tells "exactly maxBytes" from "more".
        limits: { files: 1, fileSize: maxBytes + 1, fields: 20, fieldSize: 64 * 1024, parts: 30, headerPairs: 30 },
      });
    } catch (err) {
      reject(new AppError(400, 'invalid_multipart', `The request is not valid multipart/form-data (${(err as Error).message})`));
      return;
    }
    let incoming: IncomingFile | undefined;
    let storing: Promise<T> | undefined;
    let failure: AppError | undefined;
    let parsed = false;

    const settle = async () => {
      if (failure) {
        req.unpipe(parser);
        // The rest of the body is read and dropped, so the client gets the answer rather than a reset.
        req.resume();
        // A stream still flowing to storage is cut (the element then discards it).
        incoming?.content.destroy(failure);
        const stored = await storing?.then(
          (value) => value,
          () => undefined,
        );
        if (stored !== undefined) await handlers.discard(stored);
        reject(failure);
        return;
      }
      if (!parsed) return;
      if (!incoming || !storing) {
        reject(new AppError(400, 'file_missing', `The upload has no file part named "${FILE_FIELD}"`));
        return;
      }
      const { content: _content, ...file } = incoming;
      storing.then(
        (stored) => resolve({ file, stored }),
        () => undefined,
      );
    };
    const fail = (error: AppError) => {
      if (failure) return;
      failure = error;
      void settle();
    };

    parser.on('file', (field, content, info) => {
      if (field !== FILE_FIELD || incoming) {
        content.resume();
        fail(new AppError(400, 'unexpected_file', `Send exactly one file, in the field "${FILE_FIELD}"`));
        return;
      }
      const accepted = acceptFileName(info.filename);
      if ('problem' in accepted) {
        content.resume();
        fail(new AppError(400, 'invalid_file_name', NAME_PROBLEMS[accepted.problem]));
        return;
      }
      // Destroyed with the failure when the upload fails, possibly before storing has begun to read it.
      content.on('error', () => undefined);
      incoming = { name: accepted.name, contentType: acceptContentType(info.mimeType), content };
      content.once('limit', () => fail(tooLarge(maxBytes)));
      storing = handlers.store(incoming);
      storing.catch((err: unknown) =>
        fail(err instanceof AppError ? err : new AppError(500, 'internal_error', 'Storing the upload failed', { isOperational: false, cause: err })),
      );
    });
    parser.on('filesLimit', () => fail(new AppError(400, 'unexpected_file', `Send exactly one file, in the field "${FILE_FIELD}"`)));
    parser.on('error', (err: Error) => fail(new AppError(400, 'invalid_multipart', `The request is not valid multipart/form-data (${err.message})`)));
    parser.on('close', () => {
      parsed = true;
      void settle();
    });
    req.on('aborted', () => fail(new AppError(400, 'request_aborted', 'The client went away before the upload completed')));
    req.on('error', () => fail(new AppError(400, 'request_aborted', 'The client went away before the upload completed')));
    req.pipe(parser);
  });
}
