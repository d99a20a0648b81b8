import {
  createRemoteJWKSet,
  customFetch,
  errors,
  jwksCache,
  jwtVerify,
  type JSONWebKeySet,
  type JWKSCacheInput,
  type JWTVerifyGetKey,
  type RemoteJWKSet,
} from 'jose';
import { JWT_ALGORITHMS, type JwtConfig } from '../config/index.ts';
import { AppError } from '../errors.ts';
import type { RevocationList } from './revocation-list.ts';
import { isRole, type Principal } from './roles.ts';

export type VerificationResult = 'valid' | 'expired' | 'invalid' | 'unknown_kid' | 'unavailable';

export interface TokenVerifier {
  /** Resolves the token's principal or throws an AppError (401 invalid, 503 JWKS unreachable). */
  verify(token: string): Promise<Principal>;
  /** Refetches the JWKS now, bypassing the cooldown: a key was created, rotated or revoked. */
  refresh(): Promise<void>;
}

function classify(err: unknown): Exclude<VerificationResult, 'valid'> {
  if (err instanceof errors.JWTExpired) return 'expired';
  if (err instanceof errors.JWKSNoMatchingKey) return 'unknown_kid';
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) return 'unavailable';
  if (err instanceof errors.JOSEError) return 'invalid';
  if (err instanceof TypeError || (err as { name?: string })?.name === 'AbortError') return 'unavailable';
  return 'invalid';
}

const MESSAGES: Record<Exclude<VerificationResult, 'valid'>, string> = {
  expired: 'Access token has expired',
  invalid: 'Access token is invalid',
  unknown_kid: 'Access token is signed by an unknown key',
  unavailable: 'Token keys are unavailable; try again shortly',
};

/**
 * Verifies bearer tokens locally against the admin module's JWKS: cached for
 * `jwksCacheMaxAgeSeconds`, refetched on an unknown kid at most once per `jwksCooldownSeconds`,
 * asymmetric algorithms only (so `none` and HS256-with-the-public-key never verify), iss, aud,
 * exp and nbf checked with a small clock tolerance.
 */
export function createTokenVerifier(
  jwt: JwtConfig,
  options: {
    jwksUrl: () => string;
    /** Keys held in-process (the admin module's own), used instead of the remote JWKS when present. */
    localKeys?: () => JWTVerifyGetKey | undefined;
    /** Per-account not-befores: a verified token of a suspended, deleted or revoked account is still refused. */
    revocations?: RevocationList;
    onResult?: (result: VerificationResult | 'revoked') => void;
    /** How the JWKS is fetched: over mutual TLS when TLS is on. @defaultValue the global fetch */
    fetch?: typeof fetch;
  },
): TokenVerifier {
  const longestLifetime = jwt.accessTokenTtlSeconds + jwt.clockToleranceSeconds;
  const revoked = (principal: Principal): Principal => {
    try {
      options.revocations?.check(principal);
    } catch (err) {
      options.onResult?.('revoked');
      throw err;
    }
    return principal;
  };
  let jwks: RemoteJWKSet | undefined;
  // jose writes every fetched key set and its time here, so cached verdicts can be re-checked cheaply.
  const fetched: { uat?: number; jwks?: JSONWebKeySet } = {};
  const keySet = () =>
    (jwks ??= createRemoteJWKSet(new URL(options.jwksUrl()), {
      cacheMaxAge: jwt.jwksCacheMaxAgeSeconds * 1000,
      cooldownDuration: jwt.jwksCooldownSeconds * 1000,
      timeoutDuration: 5000,
      [jwksCache]: fetched as JWKSCacheInput,
      ...(options.fetch ? { [customFetch]: options.fetch } : {}),
    }));
  const verdicts = createVerdictCache(fetched, () => jwks?.fresh === true);
  return {
    async refresh() {
      await jwks?.reload().catch(() => {});
    },
    async verify(token) {
      const local = options.localKeys?.();
      const cached = local ? undefined : verdicts.get(token);
      if (cached) {
        revoked(cached);
        options.onResult?.('valid');
        return cached;
      }
      try {
        const { payload, protectedHeader } = await jwtVerify(token, local ?? keySet(), {
          issuer: jwt.issuer,
          audience: jwt.audience,
          algorithms: [...JWT_ALGORITHMS],
          clockTolerance: jwt.clockToleranceSeconds,
          requiredClaims: ['sub', 'exp', 'iat', 'nbf', 'jti'],
        });
        if (!isRole(payload.role) || typeof payload.jti !== 'string' || typeof protectedHeader.kid !== 'string') {
          throw new errors.JWTClaimValidationFailed('missing or unknown role claim', payload, 'role', 'check_failed');
        }
        // An iat in the future beyond the tolerance means a forged or broken clock: refuse it.
        if (payload.iat! > Date.now() / 1000 + jwt.clockToleranceSeconds) {
          throw new errors.JWTClaimValidationFailed('"iat" claim is in the future', payload, 'iat', 'check_failed');
        }
        // A token the issuer never makes: a live key that signed a ten-year token must not buy ten years.
        if (payload.exp! - payload.iat! > longestLifetime) {
          throw new errors.JWTClaimValidationFailed('token lifetime exceeds the configured maximum', payload, 'exp', 'check_failed');
        }
        const principal: Principal = {
          serviceAccountId: payload.sub!,
          clientId: typeof payload.client_id === 'string' ? payload.client_id : undefined,
          role: payload.role,
          tokenId: payload.jti,
          keyId: protectedHeader.kid,
          issuedAt: payload.iat!,
        };
        if (!local) verdicts.set(token, principal, payload.exp!);
        revoked(principal);
        options.onResult?.('valid');
        return principal;
      } catch (err) {
        if (err instanceof AppError) throw err;
        const result = classify(err);
        options.onResult?.(result);
        if (result === 'unavailable') throw new AppError(503, 'auth_unavailable', MESSAGES.unavailable, { cause: err });
        throw new AppError(401, 'invalid_token', MESSAGES[result], {
          cause: err,
          headers: { 'WWW-Authenticate': `Bearer realm="artstore", error="invalid_token"` },
        });
      }
    },
  };
}

const VERDICT_CACHE_SIZE = 10_000;

/**
 * Verdicts for tokens already verified, keyed by the whole token string (signature included, so
 * only the very same bytes hit). A client presents one token for its whole lifetime, and this
 * spares the signature check on every request. A verdict is used only while the JWKS is fresh,
 * the token unexpired and its kid still published in the latest fetched key set — so a retired or
 * revoked key stops its tokens within the same JWKS cache age as without this cache.
 */
function createVerdictCache(fetched: { uat?: number; jwks?: JSONWebKeySet }, jwksFresh: () => boolean) {
  const entries = new Map<string, { principal: Principal; exp: number; checkedAt: number | undefined }>();
  return {
    get(token: string): Principal | undefined {
      const entry = entries.get(token);
      if (!entry) return undefined;
      if (!jwksFresh() || Date.now() / 1000 >= entry.exp) {
        entries.delete(token);
        return undefined;
      }
      if (entry.checkedAt !== fetched.uat) {
        if (!fetched.jwks?.keys.some((key) => key.kid === entry.principal.keyId)) {
          entries.delete(token);
          return undefined;
        }
        entry.checkedAt = fetched.uat;
      }
      return entry.principal;
    },
    set(token: string, principal: Principal, exp: number) {
      if (entries.size >= VERDICT_CACHE_SIZE) entries.delete(entries.keys().next().value!);
      entries.set(token, { principal, exp, checkedAt: fetched.uat });
    },
  };
}
