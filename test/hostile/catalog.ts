import type { AuditEventType } from '../../services/audit-log/events.ts';
import type { Role } from '../../services/platform/auth/roles.ts';
import type { ModuleName } from '../support/modules.ts';

/**
 * Every API endpoint the hostile-input suite attacks. `role` is who may call it (null: public);
 * `body` is what it reads; `validBody` is a body it would accept, which the attacks then break;
 * `params` names the path parameters that take user input.
 */
export interface EndpointSpec {
  module: ModuleName;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  role: Role | null;
  body?: 'json' | 'multipart';
  validBody?: () => Record<string, unknown>;
  params?: string[];
  /** Errors of its input use the OAuth2 shape `{error, error_description}` (token, revocation, introspection). */
  oauthErrors?: boolean;
  /**
   * Authenticates an OAuth2 client (JSON or form body, or HTTP Basic) behind the brute-force limits:
   * a 429 `temporarily_unavailable` with Retry-After is a right answer. `validForm` is a form body it
   * would take from a known client, which the attacks then break.
   */
  clientAuthentication?: { validForm: () => Record<string, string> };
  /** Takes the access token to act on in its `token` field (revocation, introspection), and answers `inert` for one that is not live. */
  namesToken?: { inert: InertAnswer };
  /** Takes query parameters, which the attacks then break. */
  query?: boolean;
  /** Queries of this endpoint's own parameters that it must refuse (400), percent-encoded as sent. */
  hostileQueries?: string[];
  /** A valid call would change something and takes no input to break: only token attacks apply. */
  tokenAttacksOnly?: boolean;
  /** An account may not do this to itself (403): the caller's own id is an attack too. */
  notOnOwnAccount?: boolean;
  /** The handler records each attempt it refuses with one of these error codes as one `event` (failure or denied). */
  audited?: { event: AuditEventType; refusals: string[] };
  /** Mounted only with TLS on: the CA's routes on admin. */
  tlsOnly?: boolean;
}

/** An answer that shows a request changed nothing: this status with exactly this body. */
export interface InertAnswer {
  status: number;
  /** The JSON body, or '' for an empty one. */
  body: unknown;
}

const EVERY_MODULE: ModuleName[] = ['admin', 'storage-element', 'ingester', 'query'];

const base64url = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
const SOME_TIME = '2026-01-01T00:00:00.000Z';
const SOME_UUID = '00000000-0000-4000-8000-000000000000';

/**
 * Filter values PostgreSQL cannot compare (NUL) and cursors that are not the API's. A query string
 * cannot carry a lone surrogate (its percent-encoded UTF-8 decodes to U+FFFD), so those reach the
 * handlers only through JSON bodies (attacks.ts WRONG_VALUES) and path parameters.
 */
const AUDIT_FILTER_QUERIES = [
  'resource_id=a%00b',
  'resource_id=%00',
  'service_account_id=%00',
  'request_id=x%00',
  'source=%00admin',
  'resource_type=api%00',
  'event_type=auth_failure%00',
  'event_category=%00',
  'status=%00',
  'from=%00',
  'to=2026-13-45T25%3A61%3A00Z',
  `resource_id=${'r'.repeat(201)}`,
  `cursor=${base64url(`desc|${SOME_TIME}|not-a-uuid`)}`,
  `cursor=${base64url(`desc|${SOME_TIME}|${SOME_UUID}\u0000`)}`,
  `cursor=${base64url(`asc|${SOME_TIME}|${SOME_UUID}`)}`,
  `cursor=${base64url(`desc|not-a-time|${SOME_UUID}`)}`,
];

const ACCOUNT_REFUSALS = ['service_account_not_found', 'self_change_forbidden'];

const SERVICE_ACCOUNT_CURSORS = [
  `cursor=${base64url(`${SOME_TIME}|not-a-uuid`)}`,
  `cursor=${base64url(`${SOME_TIME}|${SOME_UUID}\u0000`)}`,
  `cursor=${base64url(`${SOME_TIME}|'; DROP TABLE service_accounts; --`)}`,
  `cursor=${base64url(`not-a-time|${SOME_UUID}`)}`,
  `cursor=${base64url(SOME_UUID)}`,
];

export const ENDPOINTS: EndpointSpec[] = [
  ...EVERY_MODULE.map((module): EndpointSpec => ({ module, method: 'GET', path: '/api/v1/auth/whoami', role: 'reader' })),
  {
    module: 'admin',
    method: 'POST',
    path: '/api/v1/auth/token',
    role: null,
    body: 'json',
    oauthErrors: true,
    validBody: () => ({ client_id: 'hostile-nobody', client_secret: 'not-a-secret' }),
    clientAuthentication: { validForm: () => ({ grant_type: 'client_credentials', client_id: 'hostile-nobody', client_secret: 'not-a-secret' }) },
  },
  {
    module: 'admin',
    method: 'POST',
    path: '/api/v1/auth/revoke',
    role: null,
    body: 'json',
    oauthErrors: true,
    namesToken: { inert: { status: 200, body: '' } },
    validBody: () => ({ client_id: 'hostile-nobody', client_secret: 'not-a-secret', token: 'not.a.token' }),
    clientAuthentication: { validForm: () => ({ client_id: 'hostile-nobody', client_secret: 'not-a-secret', token: 'not.a.token' }) },
  },
  {
    module: 'admin',
    method: 'POST',
    path: '/api/v1/auth/introspect',
    role: 'storage',
    body: 'json',
    oauthErrors: true,
    namesToken: { inert: { status: 200, body: { active: false } } },
    validBody: () => ({ token: 'not.a.token' }),
  },
  {
    module: 'admin',
    method: 'POST',
    path: '/api/v1/service-accounts',
    role: 'admin',
    body: 'json',
    validBody: () => ({ name: 'hostile', role: 'reader' }),
  },
  { module: 'admin', method: 'GET', path: '/api/v1/service-accounts', role: 'admin', query: true, hostileQueries: SERVICE_ACCOUNT_CURSORS },
  { module: 'admin', method: 'GET', path: '/api/v1/service-accounts/:id', role: 'admin', params: ['id'] },
  ...(['suspend', 'activate'] as const).map(
    (action): EndpointSpec => ({
      module: 'admin',
      method: 'POST',
      path: `/api/v1/service-accounts/:id/${action}`,
      role: 'admin',
      params: ['id'],
      notOnOwnAccount: true,
      audited: { event: 'service_account_updated', refusals: ACCOUNT_REFUSALS },
    }),
  ),
  {
    module: 'admin',
    method: 'POST',
    path: '/api/v1/service-accounts/:id/rotate-secret',
    role: 'admin',
    params: ['id'],
    body: 'json',
    validBody: () => ({ revoke_previous: false }),
    audited: { event: 'secret_rotated', refusals: ['service_account_not_found'] },
  },
  {
    module: 'admin',
    method: 'POST',
    path: '/api/v1/service-accounts/:id/revoke-tokens',
    role: 'admin',
    params: ['id'],
    audited: { event: 'tokens_revoked', refusals: ['service_account_not_found'] },
  },
  {
    module: 'admin',
    method: 'DELETE',
    path: '/api/v1/service-accounts/:id',
    role: 'admin',
    params: ['id'],
    notOnOwnAccount: true,
    audited: { event: 'service_account_deleted', refusals: ACCOUNT_REFUSALS },
  },
  { module: 'admin', method: 'GET', path: '/api/v1/keys', role: 'admin' },
  { module: 'admin', method: 'POST', path: '/api/v1/keys/rotate', role: 'admin', tokenAttacksOnly: true },
  { module: 'admin', method: 'POST', path: '/api/v1/keys/:kid/revoke', role: 'admin', params: ['kid'] },
  { module: 'admin', method: 'GET', path: '/api/v1/audit/logs', role: 'admin', query: true, hostileQueries: AUDIT_FILTER_QUERIES },
  { module: 'admin', method: 'GET', path: '/api/v1/audit/export', role: 'admin', query: true, hostileQueries: AUDIT_FILTER_QUERIES },
  {
    module: 'admin',
    method: 'GET',
    path: '/api/v1/audit/verify',
    role: 'admin',
    query: true,
    hostileQueries: ['from=%00', 'to=a%00b', 'from=2026-13-45T00%3A00%3A00Z'],
  },
  { module: 'admin', method: 'GET', path: '/api/v1/storage-elements', role: 'admin' },
  { module: 'admin', method: 'GET', path: '/admin/queues', role: 'admin', tokenAttacksOnly: true },
  { module: 'admin', method: 'PUT', path: '/admin/queues/api/queues/maintenance/pause', role: 'admin', tokenAttacksOnly: true },
  { module: 'admin', method: 'PUT', path: '/admin/queues/api/queues/pause', role: 'admin', tokenAttacksOnly: true },
  { module: 'admin', method: 'PUT', path: '/admin/queues/api/queues/maintenance/clean/failed', role: 'admin', tokenAttacksOnly: true },
  { module: 'ingester', method: 'POST', path: '/api/v1/files/upload', role: 'ingester', body: 'multipart' },
  { module: 'ingester', method: 'DELETE', path: '/api/v1/files/:id', role: 'ingester', params: ['id'] },
  {
    module: 'ingester',
    method: 'POST',
    path: '/api/v1/files/:id/transfer',
    role: 'ingester',
    params: ['id'],
    body: 'json',
    validBody: () => ({ target_storage_element: 'archive' }),
  },
  { module: 'query', method: 'GET', path: '/api/v1/files', role: 'reader', query: true },
  { module: 'query', method: 'GET', path: '/api/v1/files/:id', role: 'reader', params: ['id'] },
  { module: 'query', method: 'GET', path: '/api/v1/files/:id/download', role: 'reader', params: ['id'] },
  { module: 'storage-element', method: 'POST', path: '/api/v1/blobs', role: 'storage', tokenAttacksOnly: true },
  { module: 'storage-element', method: 'PUT', path: '/api/v1/blobs/:sha256', role: 'storage', params: ['sha256'] },
  {
    module: 'storage-element',
    method: 'GET',
    path: '/api/v1/blobs/:sha256',
    role: 'storage',
    params: ['sha256'],
    audited: { event: 'blob_read', refusals: ['invalid_sha256', 'blob_not_found'] },
  },
  {
    module: 'storage-element',
    method: 'DELETE',
    path: '/api/v1/blobs/:sha256',
    role: 'storage',
    params: ['sha256'],
    audited: { event: 'blob_delete', refusals: ['invalid_sha256', 'blob_not_found', 'content_in_use'] },
  },
  { module: 'admin', method: 'GET', path: '/.well-known/artstore-ca.pem', role: null, tlsOnly: true },
  {
    module: 'admin',
    method: 'POST',
    path: '/api/v1/pki/certificates',
    role: 'storage',
    body: 'json',
    validBody: () => ({ csr: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', service: 'query' }),
    tlsOnly: true,
  },
];

/** The endpoints a deployment serves: the CA's only with TLS on. */
export const endpointsServed = (tlsOn: boolean) => ENDPOINTS.filter((endpoint) => tlsOn || !endpoint.tlsOnly);
