import { decodeJwt, decodeProtectedHeader } from 'jose';
import { TEST_SECRETS } from './infra.ts';

/** A fetch of a URL string: the global one, or a client trusting a deployment's bundle (bundleClient). */
export type UrlFetch = (url: string, init?: RequestInit) => Promise<Response>;

export interface TokenAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** `using`: the fetch to call admin with (one trusting the deployment's bundle when TLS is on). */
export async function requestToken(adminUrl: string, init: RequestInit, using: UrlFetch = fetch): Promise<TokenAnswer> {
  const res = await using(`${adminUrl}/api/v1/auth/token`, { method: 'POST', ...init });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A token for the given credentials as a JSON body; throws unless issued. */
export async function tokenFor(adminUrl: string, clientId: string, clientSecret: string, using: UrlFetch = fetch): Promise<string> {
  const answer = await requestToken(
    adminUrl,
    {
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ client_id: clientId, client_secret: clientSecret }),
    },
    using,
  );
  if (answer.status !== 200) throw new Error(`token request failed: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body.access_token as string;
}

export const adminToken = (adminUrl: string, using: UrlFetch = fetch) =>
  tokenFor(adminUrl, TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_ID, TEST_SECRETS.ADMIN_BOOTSTRAP_CLIENT_SECRET, using);

/** Creates a service account through the admin API and returns a token for it. */
export async function accountWithToken(adminUrl: string, admin: string, role: string, using: UrlFetch = fetch) {
  const res = await using(`${adminUrl}/api/v1/service-accounts`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: `${role} for tests`, role }),
  });
  if (res.status !== 201) throw new Error(`create account failed: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { service_account: { id: string; client_id: string }; client_secret: string };
  return { ...body, token: await tokenFor(adminUrl, body.service_account.client_id, body.client_secret, using) };
}

export const kidOf = (token: string) => decodeProtectedHeader(token).kid as string;
export const claimsOf = (token: string) => decodeJwt(token);

export function bearer(token: string): RequestInit {
  return { headers: { Authorization: `Bearer ${token}` } };
}
