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
  body?: 'json' | 'form' | 'multipart';
  validBody?: () => Record<string, unknown>;
  params?: string[];
  /** Errors use the OAuth2 shape `{error, error_description}` (the token endpoint). */
  oauthErrors?: boolean;
  /** Takes query parameters, which the attacks then break. */
  query?: boolean;
  /** A valid call would change something and takes no input to break: only token attacks apply. */
  tokenAttacksOnly?: boolean;
}

const EVERY_MODULE: ModuleName[] = ['admin', 'storage-element', 'ingester', 'query'];

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
  },
  {
    module: 'admin',
    method: 'POST',
    path: '/api/v1/service-accounts',
    role: 'admin',
    body: 'json',
    validBody: () => ({ name: 'hostile', role: 'reader' }),
  },
  { module: 'admin', method: 'GET', path: '/api/v1/service-accounts', role: 'admin' },
  { module: 'admin', method: 'GET', path: '/api/v1/service-accounts/:id', role: 'admin', params: ['id'] },
  { module: 'admin', method: 'POST', path: '/api/v1/service-accounts/:id/suspend', role: 'admin', params: ['id'] },
  { module: 'admin', method: 'POST', path: '/api/v1/service-accounts/:id/activate', role: 'admin', params: ['id'] },
  { module: 'admin', method: 'POST', path: '/api/v1/service-accounts/:id/rotate-secret', role: 'admin', params: ['id'] },
  { module: 'admin', method: 'DELETE', path: '/api/v1/service-accounts/:id', role: 'admin', params: ['id'] },
  { module: 'admin', method: 'GET', path: '/api/v1/keys', role: 'admin' },
  { module: 'admin', method: 'POST', path: '/api/v1/keys/rotate', role: 'admin', tokenAttacksOnly: true },
  { module: 'admin', method: 'POST', path: '/api/v1/keys/:kid/revoke', role: 'admin', params: ['kid'] },
  { module: 'admin', method: 'GET', path: '/api/v1/audit/logs', role: 'admin', query: true },
  { module: 'admin', method: 'GET', path: '/api/v1/audit/export', role: 'admin', query: true },
  { module: 'admin', method: 'GET', path: '/api/v1/audit/verify', role: 'admin', query: true },
  { module: 'admin', method: 'GET', path: '/api/v1/storage-elements', role: 'admin' },
  { module: 'admin', method: 'GET', path: '/admin/queues', role: 'admin', tokenAttacksOnly: true },
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
  { module: 'storage-element', method: 'GET', path: '/api/v1/blobs/:sha256', role: 'storage', params: ['sha256'] },
  { module: 'storage-element', method: 'DELETE', path: '/api/v1/blobs/:sha256', role: 'storage', params: ['sha256'] },
];
