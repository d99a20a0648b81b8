/**
 * Every `error.code` a client can be answered with, by who raises it. Clients switch on these, so
 * a code is added or kept, never renamed (like jose's `ERR_JWT_EXPIRED`); a code not listed here
 * does not compile.
 */
export const ERROR_CODES = {
  /** The request as sent: HTTP framing, body, parameters, route. */
  request: [
    'bad_request',
    'malformed_request',
    'unencoded_url',
    'headers_too_large',
    'request_timeout',
    'request_aborted',
    'invalid_json',
    'invalid_content_length',
    'payload_too_large',
    'too_many_parameters',
    'unsupported_encoding',
    'unsupported_charset',
    'unsupported_media_type',
    'invalid_request',
    'invalid_cursor',
    'range_not_satisfiable',
    'not_found',
    'cors_origin_denied',
  ],
  /** The process itself: a bug, or a dependency /ready found unreachable. */
  process: ['internal_error', 'not_ready'],
  /** Bearer tokens and roles (platform/http/auth.ts, platform/auth/token-verifier.ts). */
  auth: ['missing_token', 'invalid_token', 'token_revoked', 'forbidden', 'auth_unavailable', 'too_many_requests'],
  /** Browser sessions of the admin console: none or ended, and a change that did not come from its own pages. */
  console: ['session_required', 'cross_site_request'],
  /** Mutual TLS between modules (platform/tls) and the CA's certificate requests (admin). */
  tls: ['client_certificate_required', 'peer_not_allowed', 'invalid_csr', 'identity_not_allowed', 'pki_unavailable'],
  /** The audit log could not record what a request did. */
  audit: ['audit_unavailable', 'audit_not_recorded'],
  /** Service accounts (admin identity). */
  serviceAccounts: ['service_account_not_found', 'client_id_taken', 'last_admin', 'self_change_forbidden'],
  /** JWT signing keys. */
  signingKeys: ['invalid_kid', 'key_not_found', 'key_not_live', 'signing_key_unavailable'],
  /** Files: uploads, changes, transfers between storage elements. */
  files: [
    'file_not_found',
    'not_owner',
    'file_too_large',
    'file_missing',
    'unexpected_file',
    'invalid_file_name',
    'invalid_multipart',
    'upload_interrupted',
    'already_there',
    'unknown_storage_element',
    'transfer_interrupted',
    'file_changed',
  ],
  /** Storage elements and the content they hold. */
  storage: [
    'storage_unavailable',
    'storage_credentials_missing',
    'storage_element_not_found',
    'storage_error',
    'insufficient_storage',
    'invalid_sha256',
    'blob_not_found',
    'sha256_mismatch',
    'content_missing',
    'content_mismatch',
    'content_in_use',
  ],
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES][number];

/**
 * The one error type the HTTP layer maps to `{"error":{"code","message"}}`.
 * `isOperational` errors are expected (bad input, missing auth) and their message is shown to the
 * client; anything else is a bug, logged in full and answered with a generic 500.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly isOperational: boolean;
  readonly headers: Record<string, string>;

  constructor(status: number, code: ErrorCode, message: string, options: { isOperational?: boolean; cause?: unknown; headers?: Record<string, string> } = {}) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.isOperational = options.isOperational ?? status < 500;
    this.headers = options.headers ?? {};
  }
}

export const badRequest = (code: ErrorCode, message: string) => new AppError(400, code, message);
export const notFound = (message = 'Not found') => new AppError(404, 'not_found', message);
