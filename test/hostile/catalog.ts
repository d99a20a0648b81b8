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
  body?: 'json' | 'form';
  validBody?: () => Record<string, unknown>;
  params?: string[];
  /** Errors use the OAuth2 shape `{error, error_description}` (the token endpoint). */
  oauthErrors?: boolean;
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
];
