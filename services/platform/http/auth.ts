import type { RequestHandler } from 'express';
import type { Principal, Role } from '../auth/roles.ts';
import type { TokenVerifier } from '../auth/token-verifier.ts';
import { AppError } from '../errors.ts';

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by `auth.require(...)` once the bearer token verified. */
    principal?: Principal;
  }
}

export interface Auth {
  /**
   * Middleware: a valid bearer token whose role is one of `roles` (admin always passes).
   * Missing or invalid token → 401, wrong role → 403. Both are recorded as audit events by the
   * audit middleware, which sees every 401 and 403 response.
   */
  require(...roles: Role[]): RequestHandler;
  /** Middleware: any valid bearer token, whatever its role. */
  authenticated(): RequestHandler;
  /** Verifies a token given some other way than the Authorization header (introspection, revocation). */
  verify(token: string): Promise<Principal>;
}

const CHALLENGE = 'Bearer realm="artstore"';

export interface AuthOptions {
  onForbidden?: () => void;
  /**
   * Runs after a token verified, before its role is checked: the admin module confirms there that
   * the calling account exists and is active at this moment, closing the window before a
   * revocation notice arrives. Throws to refuse.
   */
  confirm?: (principal: Principal) => Promise<void>;
}

export function createAuth(verifier: TokenVerifier, options: AuthOptions = {}): Auth {
  const guard =
    (allowed: ReadonlySet<Role> | 'any'): RequestHandler =>
    async (req, _res, next) => {
      const header = req.get('authorization');
      const match = header ? /^Bearer[ ]+([A-Za-z0-9._~+/=-]+)$/i.exec(header.trim()) : null;
      if (!match?.[1]) {
        return next(new AppError(401, 'missing_token', 'A bearer access token is required', { headers: { 'WWW-Authenticate': CHALLENGE } }));
      }
      try {
        req.principal = await verifier.verify(match[1]);
        await options.confirm?.(req.principal);
      } catch (err) {
        return next(err);
      }
      if (allowed !== 'any' && !allowed.has(req.principal.role)) {
        options.onForbidden?.();
        return next(new AppError(403, 'forbidden', `Role "${req.principal.role}" may not do this`));
      }
      next();
    };
  return {
    require: (...roles) => guard(new Set<Role>(['admin', ...roles])),
    authenticated: () => guard('any'),
    verify: (token) => verifier.verify(token),
  };
}
