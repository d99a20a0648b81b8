import type { Express, RequestHandler } from 'express';
import { auditedAction } from '../../audit-log/audited-action.ts';
import { badRequest } from '../../platform/errors.ts';
import { requestAuditContext } from '../../audit-log/request-events.ts';
import type { ServiceDeps } from '../../platform/runtime.ts';
import { keyRevocationEvents, keyRotationEvents } from '../../signing-keys/key-audit.ts';
import { revocationAnswer, rotationAnswer } from '../../signing-keys/key-answers.ts';
import type { KeyService } from '../../signing-keys/key-service.ts';

const KID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_HTTP_CACHE_SECONDS = 60;

const requireUuidKid: RequestHandler = (req, _res, next) => {
  next(KID.test(String(req.params.kid)) ? undefined : badRequest('invalid_kid', 'kid must be a UUID'));
};

/**
 * The JWKS (public) and the admin API for signing keys. The JWKS's HTTP max-age is a small part of
 * the verifiers' own cache age, so a cache in between adds little to how long a revoked key verifies.
 */
export function mountKeyRoutes(app: Express, deps: ServiceDeps, keys: KeyService): void {
  const adminOnly = deps.auth.require('admin');
  const jwksMaxAge = Math.min(MAX_HTTP_CACHE_SECONDS, Math.floor(deps.config.jwt.jwksCacheMaxAgeSeconds / 5));

  app.get('/.well-known/jwks.json', async (_req, res) => {
    res.set('Cache-Control', `public, max-age=${jwksMaxAge}`).json(await keys.jwks());
  });
  app.get('/api/v1/keys', adminOnly, async (_req, res) => {
    res.json({ keys: await keys.list() });
  });
  app.post('/api/v1/keys/rotate', adminOnly, async (req, res) => {
    const result = await auditedAction(deps.audit, () => keys.rotate({ force: true }), keyRotationEvents(requestAuditContext(req), 'api'), res);
    req.log.info({ activeKid: result.activeKid, nextKid: result.nextKid, by: req.principal?.clientId }, 'signing keys rotated by request');
    res.json(rotationAnswer(result));
  });
  app.post('/api/v1/keys/:kid/revoke', adminOnly, requireUuidKid, async (req, res) => {
    const kid = String(req.params.kid).toLowerCase();
    const result = await auditedAction(deps.audit, () => keys.revoke(kid), keyRevocationEvents(requestAuditContext(req), kid), res);
    req.log.warn({ revokedKid: result.revokedKid, activeKid: result.activeKid, by: req.principal?.clientId }, 'signing key revoked');
    res.json(revocationAnswer(result));
  });
}
