/** Roles of service accounts; `storage` is for module-to-module calls. Admin passes every role check. */
export const ROLES = ['admin', 'ingester', 'reader', 'storage'] as const;
export type Role = (typeof ROLES)[number];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

/** Who made a request, from a verified access token. */
export interface Principal {
  /** Service account id (`sub`). */
  serviceAccountId: string;
  clientId?: string;
  role: Role;
  /** `jti` of the token. */
  tokenId: string;
  /** `kid` of the key that signed it. */
  keyId: string;
  /** `iat` of the token (epoch seconds): compared with the account's revocation not-before. */
  issuedAt: number;
}
