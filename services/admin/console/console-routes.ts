import type { ErrorRequestHandler, Express, Request, RequestHandler, Response } from 'express';
import { parse as parseCookies, serialize as serializeCookie } from 'cookie';
import { createHash } from 'node:crypto';
import { revocationStore } from '../../platform/auth/revocation-store.ts';
import { AppError } from '../../platform/errors.ts';
import type { ServiceDeps } from '../../platform/runtime.ts';
import { recordOutcome } from '../../audit-log/audited-action.ts';
import { requestAuditContext } from '../../audit-log/request-events.ts';
import { authenticateClient, type ClientAuthenticationDeps, clientAuthEvent, OAuthError } from '../identity/client-authentication.ts';
import type { ServiceAccountStore } from '../identity/service-account-store.ts';
import { createAdminSessions, type AdminSession } from './admin-sessions.ts';
import { forbiddenPage, loggedOutPage, loginPage, logoutPage, refusedPage, setConsoleHeaders } from './console-pages.ts';

export const CONSOLE_HOME = '/admin/queues';
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Over TLS the cookie is `__Host-` (Secure, whole origin, no Domain); over plain HTTP it is kept to /admin. */
const cookieOf = (req: Request) => (req.secure ? { name: '__Host-artstore_admin', path: '/' } : { name: 'artstore_admin', path: '/admin' });

/** Where a login sends the browser: a console path of this origin, never another site (`//evil`, `/\evil`) nor out of /admin (`..`). */
function safeNext(value: unknown): string {
  const plain = typeof value === 'string' && /^\/admin\/[A-Za-z0-9/_.~%?=&-]*$/.test(value) && !/\.\.|%2e|%2f|%5c/i.test(value);
  return plain && !value.startsWith('/admin/login') ? value : CONSOLE_HOME;
}

/** Whether the browser says the request comes from a page of this very origin. */
function sameOrigin(req: Request): boolean {
  const origin = req.get('origin');
  const site = req.get('sec-fetch-site');
  if (site !== undefined && site !== 'same-origin') return false;
  return origin === `${req.protocol}://${req.get('host')}`;
}

/** A browser asking for a page (Accept prefers HTML) rather than a script or the board's UI asking for JSON. */
const wantsHtml = (req: Request) => req.accepts(['json', 'html']) === 'html';

/** What audit events and logs name a session by: a digest, never the cookie's value. */
const sessionReference = (id: string) => createHash('sha256').update(id).digest('hex').slice(0, 32);

interface ConsoleDeps {
  clientAuth: ClientAuthenticationDeps;
  store: ServiceAccountStore;
}

/**
 * The admin console's browser side: /admin/login (a form taking an admin account's client id and
 * secret, behind the token endpoint's brute-force limits), /admin/logout, and the guard of the
 * pages behind them. A session lives in Redis (admin-sessions.ts); the cookie is HttpOnly,
 * SameSite=Strict and only names it. Scripts keep using bearer tokens.
 */
export function mountAdminConsole(app: Express, deps: ServiceDeps, { clientAuth, store }: ConsoleDeps) {
  const sessions = createAdminSessions(deps.redis, deps.config.bullmqPrefix, deps.config.identity.adminSession);
  const bearerAdmin = deps.auth.require('admin');

  const setSessionCookie = (req: Request, res: Response, id: string) => {
    const { name, path } = cookieOf(req);
    const maxAge = deps.config.identity.adminSession.maxSeconds;
    res.append('Set-Cookie', serializeCookie(name, id, { httpOnly: true, sameSite: 'strict', secure: req.secure, path, maxAge }));
  };
  const clearSessionCookie = (req: Request, res: Response) => {
    const { name, path } = cookieOf(req);
    res.append('Set-Cookie', serializeCookie(name, '', { httpOnly: true, sameSite: 'strict', secure: req.secure, path, maxAge: 0 }));
  };
  const sessionIdOf = (req: Request) => parseCookies(req.get('cookie') ?? '')[cookieOf(req).name];

  /**
   * The session's account as it is now: a suspended, deleted or revoked account's sessions end. The
   * revocation is read from the database: the in-memory list forgets it once no token can be older,
   * and a session may be hours older than that.
   */
  async function stillValid(session: AdminSession): Promise<boolean> {
    const [account, revokedSince] = await Promise.all([
      store.findById(session.serviceAccountId),
      revocationStore.notBeforeOf(deps.prisma, session.serviceAccountId),
    ]);
    // A revocation in the very millisecond the session began ends it: the doubt goes against the session.
    return account?.status === 'active' && account.role === 'admin' && (revokedSince === undefined || revokedSince.getTime() < session.createdAt);
  }

  const sessionRequired = () => new AppError(401, 'session_required', 'Log in at /admin/login, or send a bearer access token');

  /**
   * Guard of every console page and of Bull Board's API: an admin bearer token (scripts), or an
   * admin session whose changes (POST, PUT, DELETE…) come from a page of this origin.
   */
  const requireAdmin: RequestHandler = async (req, res, next) => {
    if (req.get('authorization')) return bearerAdmin(req, res, next);
    try {
      const id = sessionIdOf(req);
      const session = id ? await sessions.resume(id) : undefined;
      if (!id || !session) {
        if (id) clearSessionCookie(req, res);
        return next(sessionRequired());
      }
      if (!(await stillValid(session))) {
        await sessions.end(id);
        clearSessionCookie(req, res);
        return next(new AppError(401, 'session_required', 'The session ended: its account was suspended, deleted or had its tokens revoked'));
      }
      req.principal = {
        serviceAccountId: session.serviceAccountId,
        clientId: session.clientId,
        role: 'admin',
        tokenId: `session:${sessionReference(id)}`,
        keyId: 'session',
        issuedAt: Math.floor(session.createdAt / 1000),
      };
      if (UNSAFE_METHODS.has(req.method) && !sameOrigin(req)) {
        return next(new AppError(403, 'cross_site_request', 'A change through an admin session must come from the console itself (same Origin)'));
      }
      next();
    } catch (err) {
      next(err);
    }
  };

  /** 401 and 403 of a console page as a browser expects them: to the login form, or a readable page. */
  const consoleErrors: ErrorRequestHandler = (err, req, res, next) => {
    if (!(err instanceof AppError) || (err.status !== 401 && err.status !== 403) || !wantsHtml(req)) return next(err);
    res.locals.errorCode = err.code;
    setConsoleHeaders(res);
    if (err.status === 401 && (req.method === 'GET' || req.method === 'HEAD')) {
      res.redirect(303, `/admin/login?next=${encodeURIComponent(req.originalUrl)}`);
      return;
    }
    const html =
      err.status === 401
        ? loginPage({ next: CONSOLE_HOME, problem: err.message })
        : err.code === 'cross_site_request'
          ? refusedPage(err.message)
          : forbiddenPage(err.message);
    res.status(err.status).type('html').send(html);
  };

  app.use('/admin', (_req, res, next) => {
    setConsoleHeaders(res);
    res.set('Cache-Control', 'no-store');
    next();
  });
  app.get('/admin', (_req, res) => res.redirect(303, CONSOLE_HOME));
  app.get('/admin/login', (req, res) => {
    res.type('html').send(loginPage({ next: safeNext(req.query.next) }));
  });

  app.post('/admin/login', async (req, res, next) => {
    const next_ = safeNext((req.body as Record<string, unknown> | undefined)?.next);
    // Login CSRF (a site logging the victim into an account of its choosing): a browser always sends Origin on a form post.
    if (req.get('origin') !== undefined && !sameOrigin(req)) {
      return next(new AppError(403, 'cross_site_request', 'The login form must be sent from this site'));
    }
    try {
      // The session dates from the secret's check: a revocation that lands before the session is
      // made (a secret rotated with revoke_previous) is after its start, and ends it.
      const authenticatedAt = Date.now();
      const { account } = await authenticateClient(req, res, clientAuth, 'admin_login');
      if (account.role !== 'admin') {
        await deps.audit.publish({
          ...clientAuthEvent(req, 'auth_failure', 'admin_login', { client_id: account.clientId, role: account.role, reason: 'not_admin' }),
          event_type: 'authorization_denied',
          status: 'denied',
          resource_type: 'admin_session',
          service_account_id: account.id,
        });
        res.locals.auditRecorded = true;
        res
          .status(403)
          .type('html')
          .send(forbiddenPage(`The account "${account.clientId}" has the role "${account.role}".`));
        return;
      }
      const id = await sessions.create(account, authenticatedAt);
      // Recorded before the cookie leaves: a session nobody can account for is never handed out.
      try {
        await deps.audit.publish({
          ...clientAuthEvent(req, 'auth_success', 'admin_login', { client_id: account.clientId, role: account.role, method: 'console_form' }),
          resource_type: 'admin_session',
          resource_id: sessionReference(id),
          service_account_id: account.id,
        });
      } catch (err) {
        await sessions.end(id);
        throw err;
      }
      setSessionCookie(req, res, id);
      res.redirect(303, next_);
    } catch (err) {
      if (!(err instanceof OAuthError)) return next(err);
      res.set(err.headers);
      const clientId = (req.body as Record<string, unknown> | undefined)?.client_id;
      const problem = err.status === 429 ? err.description : err.status === 401 ? 'Unknown client id or wrong secret.' : err.description;
      res
        .status(err.status)
        .type('html')
        .send(loginPage({ next: next_, problem, clientId: typeof clientId === 'string' ? clientId.slice(0, 128) : undefined }));
    }
  });

  app.get('/admin/logout', (_req, res) => {
    res.type('html').send(logoutPage());
  });
  app.post('/admin/logout', requireAdmin, async (req, res) => {
    const id = sessionIdOf(req);
    // Ended first, whatever the audit log's state: a logout is never refused, and the cookie goes
    // even if its event then cannot be recorded (an outcome, spooled when Redis is away).
    clearSessionCookie(req, res);
    if (id) {
      await sessions.end(id);
      await recordOutcome(
        deps.audit,
        {
          event_type: 'session_ended',
          status: 'success',
          action: 'admin_logout',
          resource_type: 'admin_session',
          resource_id: sessionReference(id),
          ...requestAuditContext(req),
          details: { client_id: req.principal?.clientId ?? null },
        },
        res,
      );
    }
    res.type('html').send(loggedOutPage());
  });

  return { requireAdmin, consoleErrors };
}
