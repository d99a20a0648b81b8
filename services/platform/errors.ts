/**
 * The one error type the HTTP layer maps to `{"error":{"code","message"}}`.
 * `isOperational` errors are expected (bad input, missing auth) and their message is shown to the
 * client; anything else is a bug, logged in full and answered with a generic 500.
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly isOperational: boolean;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: string,
    message: string,
    options: { isOperational?: boolean; cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.isOperational = options.isOperational ?? status < 500;
    this.headers = options.headers ?? {};
  }
}

export const badRequest = (code: string, message: string) => new AppError(400, code, message);
export const notFound = (message = 'Not found') => new AppError(404, 'not_found', message);
