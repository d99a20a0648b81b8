import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, type ErrorCode } from '../errors.ts';

/** body-parser's error types → our stable codes. */
const BODY_ERRORS: Record<string, { code: ErrorCode; message: string }> = {
  'entity.parse.failed': { code: 'invalid_json', message: 'Request body is not valid JSON' },
  'entity.too.large': { code: 'payload_too_large', message: 'Request body exceeds the size limit' },
  'encoding.unsupported': { code: 'unsupported_encoding', message: 'Content-Encoding is not supported' },
  'charset.unsupported': { code: 'unsupported_charset', message: 'Charset is not supported' },
  'request.aborted': { code: 'request_aborted', message: 'Request was aborted by the client' },
  'request.size.invalid': { code: 'invalid_content_length', message: 'Request body length does not match Content-Length' },
  'parameters.too.many': { code: 'too_many_parameters', message: 'Too many form parameters' },
};

function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const candidate = err as { type?: unknown; status?: unknown; statusCode?: unknown };
  const status = Number(candidate?.status ?? candidate?.statusCode);
  if (typeof candidate?.type === 'string' && status >= 400 && status < 500) {
    const known = BODY_ERRORS[candidate.type] ?? { code: 'bad_request' as const, message: 'Request could not be read' };
    return new AppError(status, known.code, known.message, { cause: err });
  }
  if (status >= 400 && status < 500) return new AppError(status, 'bad_request', 'Request could not be processed', { cause: err });
  return new AppError(500, 'internal_error', 'Internal server error', { isOperational: false, cause: err });
}

/**
 * Headers that describe the content a handler meant to send. A download sets them before it knows
 * whether the range is satisfiable or the storage element answers; kept on an error they would label
 * the JSON error as an octet-stream attachment (curl -OJ saves it as the file) with the file's ETag.
 */
const CONTENT_HEADERS = ['Content-Type', 'Content-Disposition', 'Content-Length', 'Content-Range', 'Content-Encoding', 'ETag', 'Last-Modified'];

export const notFoundHandler: RequestHandler = (req, _res, next) => {
  next(new AppError(404, 'not_found', `No route for ${req.method} ${req.path}`));
};

/** Every failure answers {"error":{"code","message"}}; unknown errors are logged and answered generically. */
export const errorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const error = toAppError(err);
  if (!error.isOperational) req.log.error({ err: error.cause ?? err }, 'unhandled error');
  else if (error.status >= 500) req.log.warn({ code: error.code }, error.message);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.locals.errorCode = error.code;
  for (const name of CONTENT_HEADERS) res.removeHeader(name);
  res.set(error.headers);
  res.status(error.status).json({ error: { code: error.code, message: error.message } });
};
