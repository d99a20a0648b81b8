import { decodeJwt, decodeProtectedHeader } from 'jose';
import { TEST_SECRETS } from './infra.ts';

export interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
}

export async function requestToken(adminUrl: string, init: RequestInit): Promise<TokenAnswer> {
  const res = await fetch(`${adminUrl}/api/v1/auth/token`, { method: 'POST', ...init });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A token for the given credentials as a JSON body; throws unless issued. */
export async function tokenFor(adminUrl: string, clientId: string, clientSecret: string): Promise<string> {
  const answer = await requestToken(adminUrl, {
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ client_id: clientId, client_secret: clientSecret }),
  });
  if (answer.status !== 200) throw new Error(`token request failed: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body.access_token as string;
}

export const adminToken = (adminUrl: string) => tokenFor(adminUrl, TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID, TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET);

/** Creates a service account through the admin API and returns a token for it. */
export async function accountWithToken(adminUrl: string, admin: string, role: string) {
  const res = await fetch(`${adminUrl}/api/v1/service-accounts`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: `${role} for tests`, role }),
  });
  if (res.status !== 201) throw new Error(`create account failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { service_account: { id: string; client_id: string }; client_secret: string };
  return { ...body, token: await tokenFor(adminUrl, body.service_account.client_id, body.client_secret) };
}

export const kidOf = (token: string) => decodeProtectedHeader(token).kid as string;
export const claimsOf = (token: string) => decodeJwt(token);

export function bearer(token: string): RequestInit {
  return { headers: { Authorization: `Bearer ${token}` } };
}
